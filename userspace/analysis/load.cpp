#include "analysis/load.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>

#include "sink/sink.h"

namespace tt::analysis {
namespace {

Result<std::vector<tokentap::v1::ApiRequest>> read_json_lines(const std::string& path, std::ifstream& in) {
  std::vector<tokentap::v1::ApiRequest> out;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;  // "type", "record_seq"
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find("\"type\":\"request\"") == std::string::npos) continue;
    tokentap::v1::ApiRequest r;
    auto st = google::protobuf::util::JsonStringToMessage(line, &r, opts);
    if (!st.ok()) return make_error(path + ":" + std::to_string(n) + ": not a request record: " + st.ToString());
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

Result<std::vector<tokentap::v1::ApiRequest>> read_requests(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot open " + path);
  if (in.peek() == '{') return read_json_lines(path, in);
  std::vector<tokentap::v1::ApiRequest> out;
  auto n = sink::for_each_delimited_record(path, [&out](const sink::v1::Record& rec) {
    if (rec.has_request()) out.push_back(rec.request());
  });
  if (!n) return Error{n.error()};
  return out;
}

}  // namespace tt::analysis
