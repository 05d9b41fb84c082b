// The shipper's view of the daemon's spool (sink/spool.h): records read in
// order from where the last acknowledged batch ended, never past what the ack
// file says is on disk; segments deleted once everything in them is acked.
// Where shipping stands is kept in the file `shipped` ("SEGMENT OFFSET"), so
// a restart resends at most the batches that were in flight (the collector
// keeps each record once).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "tokentap/v1/records.pb.h"

namespace tt::ship {

struct Cursor {
  uint64_t segment = 0;  // 0: before the first segment
  uint64_t offset = 0;   // bytes of that segment already shipped
  bool operator==(const Cursor&) const = default;
};

struct Batch {
  std::vector<tokentap::v1::Record> records;
  Cursor end;             // where the next batch starts
  uint64_t bytes = 0;     // of the records as spooled
  uint64_t unreadable = 0;  // records that did not parse (skipped, counted)
};

class SpoolReader {
 public:
  // cursor: the file this consumer keeps its place in; others: the other
  // consumers' (a segment goes once every consumer has passed it).
  explicit SpoolReader(int dir_fd, std::string cursor = "shipped", std::vector<std::string> others = {})
      : dir_fd_(dir_fd), cursor_(std::move(cursor)), others_(std::move(others)) {}
  // The records after `from`, up to max_records or about max_bytes, and only
  // what is durable. An empty batch: nothing new yet.
  Result<Batch> next(Cursor from, size_t max_records, uint64_t max_bytes);
  // Everything before `upto` is acknowledged: remember it, delete the segments
  // it passed. Also when a batch came back empty past whole segments (all of
  // them acked already), so shipped segments do not linger.
  Result<void> acknowledged(Cursor upto);
  // Where the last run's shipping ended.
  Cursor load() const { return load(cursor_); }

 private:
  Result<void> read_segment(uint64_t seg, uint64_t from, uint64_t until, Batch& b, size_t max_records,
                            uint64_t max_bytes);
  uint64_t segment_size(uint64_t seg) const;
  Cursor load(const std::string& name) const;
  Result<void> save(Cursor c) const;
  int dir_fd_;
  std::string cursor_;
  std::vector<std::string> others_;
};

}  // namespace tt::ship
