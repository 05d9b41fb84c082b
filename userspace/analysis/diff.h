// `tokentap diff A B`: two analysed runs of the same task side by side (two
// harnesses, or one before and after a change): cost, context, cache, waste.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "analysis/analysis.h"

namespace tt::analysis {

// An aligned table: a row per measure with A, B and the change; then each
// side's verdict.
std::string render_diff(const Analysis& a, const Analysis& b);
// {"a": {...}, "b": {...}, "rows": [{"measure", "a", "b", "change"}]}: the same
// measures for scripts.
nlohmann::ordered_json diff_json(const Analysis& a, const Analysis& b);

}  // namespace tt::analysis
