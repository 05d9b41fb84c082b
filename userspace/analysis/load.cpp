#include "analysis/load.h"

#include "sink/sink.h"

namespace tt::analysis {

Result<std::vector<tokentap::v1::ApiRequest>> read_requests(const std::string& path) {
  std::vector<tokentap::v1::ApiRequest> out;
  auto n = sink::for_each_record(path, [&out](const sink::v1::Record& rec) {
    if (rec.has_request()) out.push_back(rec.request());
  });
  if (!n) return Error{n.error()};
  return out;
}

}  // namespace tt::analysis
