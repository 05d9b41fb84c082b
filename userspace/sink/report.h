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
// "$1.23" from a dollar up, "$0.0123" below, "$0.000012" below a hundredth of a
// cent: money is never shown rounded to nothing.
std::string usd(double v);

std::string render_report(const aggregate::Aggregator& agg, const ReportOptions& opts = {});

}  // namespace tt::sink
