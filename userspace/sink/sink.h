// Sinks: where records go. One interface so profile, replay and the daemon can
// send the same records to files, a collector or exporters.
#pragma once
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "tokentap/v1/records.pb.h"

namespace tt::sink {

namespace v1 = ::tokentap::v1;

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void write(const v1::Record& rec) = 0;
  virtual Result<void> close() { return {}; }
};

// One record as the --out format stores it: its size (a varint), then its bytes.
std::string delimited_bytes(const v1::Record& rec);
// One record as a JSON object on one line (JsonLinesSink), without the newline.
std::string record_to_json(const v1::Record& rec);

// A file records are appended to, one whole record per write, flushed at once.
class FileSink : public RecordSink {
 public:
  ~FileSink() override;
  Result<void> close() override;
  int fd() const { return f_ ? fileno(f_) : -1; }
  // Rotation (sink/rotate.h): later records go to new_fd's file, which takes
  // this file's descriptor number (so a seccomp rule on it still holds);
  // new_fd itself is closed.
  Result<void> switch_to(int new_fd);

 protected:
  FileSink(FILE* f, std::string path) : f_(f), path_(std::move(path)) {}
  static Result<FILE*> open_file(const std::string& path);
  void put(const std::string& bytes);

 private:
  FILE* f_;
  std::string path_;
  bool ok_ = true;
};

// Length-delimited protobuf records (see schemas/tokentap/v1/records.proto).
class DelimitedProtoSink : public FileSink {
 public:
  static Result<std::unique_ptr<DelimitedProtoSink>> open(const std::string& path);
  void write(const v1::Record& rec) override { put(delimited_bytes(rec)); }

 private:
  using FileSink::FileSink;
};

// JSON lines: one object per record, "type" = request | process | session | run, then the
// message's fields by their proto (snake_case) names. Every scalar field is
// written, zeros included, and 64-bit integers are JSON numbers.
class JsonLinesSink : public FileSink {
 public:
  static Result<std::unique_ptr<JsonLinesSink>> open(const std::string& path);
  void write(const v1::Record& rec) override { put(record_to_json(rec) + '\n'); }

 private:
  using FileSink::FileSink;
};

// Reads a delimited record file back (used by tests and future tools).
Result<std::vector<v1::Record>> read_delimited_records(const std::string& path);
// The same, one record at a time (a day of daemon records need not fit in
// memory); stops at the first record that does not parse. Returns how many
// were read, or an error naming the file and the record's index.
Result<uint64_t> for_each_delimited_record(const std::string& path, const std::function<void(const v1::Record&)>& fn);
// Either kind of record file: delimited protobuf (--out, spool segments) or the
// JSON lines --json writes (told apart by a first '{'); the same contract.
Result<uint64_t> for_each_record(const std::string& path, const std::function<void(const v1::Record&)>& fn);
// One JSON line as --json writes it back into a record ("type" says which kind,
// "record_seq" its spool number); false if it is not one.
bool record_from_json(const std::string& line, v1::Record& rec);

class MultiSink : public RecordSink {
 public:
  void add(RecordSink* s) { sinks_.push_back(s); }
  void write(const v1::Record& rec) override {
    for (auto* s : sinks_) s->write(rec);
  }

 private:
  std::vector<RecordSink*> sinks_;
};

}  // namespace tt::sink
