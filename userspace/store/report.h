// What `tokentap report` does over a Store: time arguments, record files loaded
// into a store, and the groups as a table for people or JSON for scripts.
#pragma once
#include <string>
#include <vector>

#include "store/store.h"

namespace tt::store {

// An absolute time, "2026-11-30" (UTC midnight), "2026-11-30T10:00:00Z",
// "2026-11-30T10:00:00.25+02:00" (RFC 3339; no offset: UTC), or one before now:
// "90s", "30m", "24h", "7d", "2w". Unix ns.
Result<uint64_t> parse_time(const std::string& s, uint64_t now_unix_ns);
uint64_t now_unix_ns();
// "2026-11-30T10:00:00Z"
std::string format_time(uint64_t unix_ns);

// Loads record files (--out or spool segments) into store, in batches. A record
// without seq (written by --out, not the spool) gets one: its number among its
// run's unsequenced records in the files, in order. A damaged file's records
// before the damage are loaded and its error is in `errors`.
struct Loaded {
  StoreCounts counts;
  std::vector<std::string> errors;
};
Loaded load_record_files(Store& store, const std::vector<std::string>& files);

// The groups as an aligned table with a totals row (by none: the totals only).
std::string render_table(const std::vector<ReportRow>& rows, GroupBy by);
// One group as a JSON object on one line.
std::string row_to_json(const ReportRow& row, GroupBy by);

}  // namespace tt::store
