// Request records from a file for the analysis: protobuf records (profile or
// daemon --out, spool segments) or JSON lines (--json), told apart by their first byte.
#pragma once
#include <string>
#include <vector>

#include "common/result.h"
#include "tokentap/v1/records.pb.h"

namespace tt::analysis {

Result<std::vector<tokentap::v1::ApiRequest>> read_requests(const std::string& path);

}  // namespace tt::analysis
