#include "sink/sink.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>

#include "sink/utf8.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/util/delimited_message_util.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace tt::sink {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

Result<FILE*> FileSink::open_file(const std::string& path) {
  FILE* f = fopen(path.c_str(), "wb");
  if (!f) return make_error("cannot write " + path + ": " + strerror(errno));
  return f;
}

FileSink::~FileSink() { (void)close(); }

Result<void> FileSink::close() {
  if (!f_) return {};
  bool closed = fclose(f_) == 0;
  f_ = nullptr;
  if (!ok_ || !closed) return make_error("error writing " + path_);
  return {};
}

void FileSink::put(const std::string& bytes) {
  if (fwrite(bytes.data(), 1, bytes.size(), f_) != bytes.size()) ok_ = false;
  fflush(f_);
}

Result<void> FileSink::switch_to(int new_fd) {
  Result<void> r;
  if (!f_ || fflush(f_) != 0 || dup3(new_fd, fileno(f_), O_CLOEXEC) < 0)
    r = make_error("cannot switch " + path_ + " to its new file: " + strerror(errno));
  ::close(new_fd);
  return r;
}

Result<std::unique_ptr<DelimitedProtoSink>> DelimitedProtoSink::open(const std::string& path) {
  auto f = open_file(path);
  if (!f) return Error{f.error()};
  return std::unique_ptr<DelimitedProtoSink>(new DelimitedProtoSink(*f, path));
}

std::string delimited_bytes(const v1::Record& rec) {
  std::string body;
  if (needs_utf8_repair(rec)) {  // else the reader refuses the record, and the stream after it
    v1::Record fixed = rec;
    repair_utf8(fixed);
    fixed.SerializeToString(&body);
  } else {
    rec.SerializeToString(&body);
  }
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.WriteVarint32(static_cast<uint32_t>(body.size()));
  }
  out += body;
  return out;
}
Result<std::unique_ptr<JsonLinesSink>> JsonLinesSink::open(const std::string& path) {
  auto f = open_file(path);
  if (!f) return Error{f.error()};
  return std::unique_ptr<JsonLinesSink>(new JsonLinesSink(*f, path));
}

// JSON lines are written straight from reflection, in the form nlohmann's dump
// of a DOM gave before (keys in name order, its number and string formatting):
// building the DOM per record cost 17 us. nlohmann still formats what is rare
// and subtle: doubles, and strings that need escaping or may not be UTF-8.
namespace {

using google::protobuf::Descriptor;

// A message type's fields in name order (as nlohmann's std::map kept them).
const std::vector<const FieldDescriptor*>& fields_by_name(const Descriptor* d) {
  thread_local std::unordered_map<const Descriptor*, std::vector<const FieldDescriptor*>> cache;
  auto [it, added] = cache.try_emplace(d);
  if (added) {
    for (int k = 0; k < d->field_count(); ++k) it->second.push_back(d->field(k));
    std::sort(it->second.begin(), it->second.end(),
              [](const FieldDescriptor* a, const FieldDescriptor* b) { return a->name() < b->name(); });
  }
  return it->second;
}

void put_string(std::string& out, const std::string& s) {
  bool plain = std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
  if (!plain) {
    // Invalid UTF-8 (a process name, a header) is replaced here.
    out += nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

template <class T>
void put_int(std::string& out, T v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof(buf), v).ptr);
}

void put_message(std::string& out, const Message& m, const char* type = nullptr);

void put_value(std::string& out, const Message& m, const Reflection* r, const FieldDescriptor* f, int i) {
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return put_int(out, rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64: return put_int(out, rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32: return put_int(out, rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64: return put_int(out, rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      out += nlohmann::json(rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f)).dump();
      return;
    case FieldDescriptor::CPPTYPE_FLOAT:
      out += nlohmann::json(rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f)).dump();
      return;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f)) ? "true" : "false";
      return;
    case FieldDescriptor::CPPTYPE_ENUM:
      return put_string(out, rep ? r->GetRepeatedEnum(m, f, i)->name() : r->GetEnum(m, f)->name());
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      return put_string(out, rep ? r->GetRepeatedStringReference(m, f, i, &scratch) : r->GetStringReference(m, f, &scratch));
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return put_message(out, rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f));
  }
  out += "null";
}

// Every field, zeros included; `type`, if given, is one more member in name order.
void put_message(std::string& out, const Message& m, const char* type) {
  const Reflection* r = m.GetReflection();
  const auto& fields = fields_by_name(m.GetDescriptor());
  bool own_type = std::any_of(fields.begin(), fields.end(), [](auto* f) { return f->name() == "type"; });
  if (own_type) type = nullptr;  // the message's own field wins, as nlohmann's update() did
  char sep = '{';
  auto put_key = [&](const std::string& name) {
    out += sep;
    out += '"';
    out += name;
    out += "\":";
    sep = ',';
  };
  auto put_type = [&] {
    put_key("type");
    put_string(out, type);
    type = nullptr;
  };
  for (const FieldDescriptor* f : fields) {
    if (type && f->name() > "type") put_type();
    put_key(f->name());
    if (!f->is_repeated()) {
      put_value(out, m, r, f, 0);
      continue;
    }
    out += '[';
    for (int i = 0, n = r->FieldSize(m, f); i < n; ++i) {
      if (i) out += ',';
      put_value(out, m, r, f, i);
    }
    out += ']';
  }
  if (type) put_type();
  if (sep == '{') out += '{';  // no members
  out += '}';
}

}  // namespace

std::string record_to_json(const v1::Record& rec) {
  std::string out;
  switch (rec.kind_case()) {
    case v1::Record::kRequest: put_message(out, rec.request(), "request"); break;
    case v1::Record::kProcess: put_message(out, rec.process(), "process"); break;
    case v1::Record::kRun: put_message(out, rec.run(), "run"); break;
    case v1::Record::kSession: put_message(out, rec.session(), "session"); break;
    default: out = R"({"type":"unknown"})"; break;
  }
  if (rec.seq()) {  // the spool's record number (its identity with run_id); only spooled records have one
    out.pop_back();
    out += ",\"record_seq\":";
    put_int(out, rec.seq());
    out += '}';
  }
  return out;
}

Result<uint64_t> for_each_delimited_record(const std::string& path, const std::function<void(const v1::Record&)>& fn) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return make_error("cannot open " + path + ": " + strerror(errno));
  google::protobuf::io::FileInputStream in(fd);
  in.SetCloseOnDelete(true);
  uint64_t n = 0;
  for (;; ++n) {
    v1::Record rec;
    bool clean_eof = false;
    if (!google::protobuf::util::ParseDelimitedFromZeroCopyStream(&rec, &in, &clean_eof)) {
      if (clean_eof) break;
      return make_error(path + ": corrupt record " + std::to_string(n));
    }
    fn(rec);
  }
  return n;
}

Result<std::vector<v1::Record>> read_delimited_records(const std::string& path) {
  std::vector<v1::Record> out;
  auto n = for_each_delimited_record(path, [&out](const v1::Record& r) { out.push_back(r); });
  if (!n) return Error{n.error()};
  return out;
}

}  // namespace tt::sink

namespace tt::sink {

bool record_from_json(const std::string& line, v1::Record& rec) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return false;
  std::string type = j["type"];
  uint64_t seq = j.contains("record_seq") && j["record_seq"].is_number_unsigned() ? j["record_seq"].get<uint64_t>() : 0;
  google::protobuf::Message* m = type == "request" ? static_cast<google::protobuf::Message*>(rec.mutable_request())
                                 : type == "process" ? static_cast<google::protobuf::Message*>(rec.mutable_process())
                                 : type == "session" ? static_cast<google::protobuf::Message*>(rec.mutable_session())
                                 : type == "run"     ? static_cast<google::protobuf::Message*>(rec.mutable_run())
                                                     : nullptr;
  if (!m) return false;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;  // "type", "record_seq"
  if (!google::protobuf::util::JsonStringToMessage(line, m, opts).ok()) return false;
  rec.set_seq(seq);
  return true;
}

Result<uint64_t> for_each_record(const std::string& path, const std::function<void(const v1::Record&)>& fn) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot open " + path + ": " + strerror(errno));
  if (in.peek() != '{') return for_each_delimited_record(path, fn);
  uint64_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    v1::Record rec;
    if (!record_from_json(line, rec))
      return make_error(path + ": line " + std::to_string(n + 1) + " is not a record --json wrote");
    fn(rec);
    ++n;
  }
  return n;
}

}  // namespace tt::sink
