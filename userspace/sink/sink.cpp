#include "sink/sink.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/util/delimited_message_util.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace tt::sink {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

static Result<FILE*> open_file(const std::string& path) {
  FILE* f = fopen(path.c_str(), "wb");
  if (!f) return make_error("cannot write " + path + ": " + strerror(errno));
  return f;
}

static Result<void> close_file(FILE*& f, bool ok, const std::string& path) {
  if (!f) return {};
  bool closed = fclose(f) == 0;
  f = nullptr;
  if (!ok || !closed) return make_error("error writing " + path);
  return {};
}

Result<std::unique_ptr<DelimitedProtoSink>> DelimitedProtoSink::open(const std::string& path) {
  auto f = open_file(path);
  if (!f) return Error{f.error()};
  return std::unique_ptr<DelimitedProtoSink>(new DelimitedProtoSink(*f, path));
}
DelimitedProtoSink::~DelimitedProtoSink() { (void)close(); }
void DelimitedProtoSink::write(const v1::Record& rec) {
  std::string body;
  rec.SerializeToString(&body);
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.WriteVarint32(static_cast<uint32_t>(body.size()));
  }
  out += body;
  if (fwrite(out.data(), 1, out.size(), f_) != out.size()) ok_ = false;
  fflush(f_);
}
Result<void> DelimitedProtoSink::close() { return close_file(f_, ok_, path_); }

Result<std::unique_ptr<JsonLinesSink>> JsonLinesSink::open(const std::string& path) {
  auto f = open_file(path);
  if (!f) return Error{f.error()};
  return std::unique_ptr<JsonLinesSink>(new JsonLinesSink(*f, path));
}
JsonLinesSink::~JsonLinesSink() { (void)close(); }
void JsonLinesSink::write(const v1::Record& rec) {
  std::string line = record_to_json(rec);
  line += '\n';
  if (fwrite(line.data(), 1, line.size(), f_) != line.size()) ok_ = false;
  fflush(f_);
}
Result<void> JsonLinesSink::close() { return close_file(f_, ok_, path_); }

static nlohmann::json message_to_json(const Message& m);

static nlohmann::json scalar_to_json(const Message& m, const Reflection* r, const FieldDescriptor* f, int i) {
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64: return rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32: return rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64: return rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f);
    case FieldDescriptor::CPPTYPE_DOUBLE: return rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f);
    case FieldDescriptor::CPPTYPE_FLOAT: return rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f);
    case FieldDescriptor::CPPTYPE_BOOL: return rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return rep ? r->GetRepeatedEnum(m, f, i)->name() : r->GetEnum(m, f)->name();
    case FieldDescriptor::CPPTYPE_STRING: {
      // Invalid UTF-8 (a process name, a header) is replaced when the line is dumped.
      return rep ? r->GetRepeatedString(m, f, i) : r->GetString(m, f);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return message_to_json(rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f));
  }
  return nullptr;
}

static nlohmann::json message_to_json(const Message& m) {
  nlohmann::json j = nlohmann::json::object();
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (int k = 0; k < d->field_count(); ++k) {
    const FieldDescriptor* f = d->field(k);
    if (f->is_repeated()) {
      nlohmann::json arr = nlohmann::json::array();
      for (int i = 0; i < r->FieldSize(m, f); ++i) arr.push_back(scalar_to_json(m, r, f, i));
      j[f->name()] = std::move(arr);
    } else {
      j[f->name()] = scalar_to_json(m, r, f, 0);
    }
  }
  return j;
}

std::string record_to_json(const v1::Record& rec) {
  nlohmann::json j;
  const char* type = "unknown";
  switch (rec.kind_case()) {
    case v1::Record::kRequest: type = "request"; j = message_to_json(rec.request()); break;
    case v1::Record::kProcess: type = "process"; j = message_to_json(rec.process()); break;
    case v1::Record::kRun: type = "run"; j = message_to_json(rec.run()); break;
    case v1::Record::kSession: type = "session"; j = message_to_json(rec.session()); break;
    default: break;
  }
  nlohmann::json out = nlohmann::json::object();
  out["type"] = type;
  out.update(j);
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::vector<v1::Record>> read_delimited_records(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return make_error("cannot open " + path + ": " + strerror(errno));
  google::protobuf::io::FileInputStream in(fd);
  in.SetCloseOnDelete(true);
  std::vector<v1::Record> out;
  for (;;) {
    v1::Record rec;
    bool clean_eof = false;
    if (!google::protobuf::util::ParseDelimitedFromZeroCopyStream(&rec, &in, &clean_eof)) {
      if (clean_eof) break;
      return make_error(path + ": corrupt record " + std::to_string(out.size()));
    }
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace tt::sink
