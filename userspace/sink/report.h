// The human-readable run report `profile` and `replay` print.
#pragma once
#include <string>

#include "aggregate/aggregator.h"

namespace tt::sink {

struct ReportOptions {
  size_t max_request_rows = 40;  // the rest is summarised (full list: --json)
};

// 1234567 -> "1,234,567"
std::string thousands(uint64_t v);

std::string render_report(const aggregate::Aggregator& agg, const ReportOptions& opts = {});

}  // namespace tt::sink
