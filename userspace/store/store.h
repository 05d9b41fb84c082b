// The record store: every daemon's records in SQLite or PostgreSQL, de-duplicated by
// (run_id, seq), and the GROUP BY queries `tokentap report` runs over them.
//
// A Store is one connection: use it from one thread at a time (a collector
// thread per connection opens a Store of its own).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "tokentap/v1/records.pb.h"

namespace tt::store {

namespace v1 = ::tokentap::v1;

// The schema version this build writes; open_store migrates older databases to
// it and refuses newer ones.
inline constexpr int kSchemaVersion = 2;

struct StoreCounts {
  uint64_t stored = 0, duplicates = 0, rejected = 0;
};

// The inner message's run_id ("" for a record with no kind).
const std::string& record_run_id(const v1::Record& rec);

enum class GroupBy { none, user, host, harness, session, project, provider, model, day };

// "user", "host", ... or "" / "none"; anything else is an error naming the choices.
Result<GroupBy> parse_group_by(const std::string& s);
const char* group_by_name(GroupBy by);

struct ReportQuery {
  GroupBy by = GroupBy::none;
  uint64_t since_unix_ns = 0;  // requests that started at or after this (0: open)
  uint64_t until_unix_ns = 0;  // ... and before this (0: open)
};

// One group's sums. key: the group's value ("" when the requests did not say,
// e.g. no user known; "" for GroupBy::none); a session is "HARNESS SESSION_ID".
struct ReportRow {
  std::string key;
  uint64_t requests = 0;
  uint64_t input_tokens = 0, output_tokens = 0, cache_read_tokens = 0, cache_write_tokens = 0, reasoning_tokens = 0;
  uint64_t estimated_requests = 0;   // usage_source "estimated"
  uint64_t incomplete_requests = 0;  // complete false
  uint64_t request_bytes = 0, response_bytes = 0;
  // Money in billionths of a US dollar (exact sums), and requests whose price is
  // unknown (their model is not in the price table: they add nothing to it).
  uint64_t cost_nano_usd = 0, unpriced_requests = 0;
  uint64_t first_unix_ns = 0;  // earliest request start
  uint64_t last_unix_ns = 0;   // latest request end
};

// ReportRow's summed counters by their JSON names, in the order group() selects
// them: one list to read, add up and write rows by.
struct RowSum {
  const char* name;
  uint64_t ReportRow::*member;
};
inline constexpr RowSum kRowSums[] = {
    {"requests", &ReportRow::requests},
    {"input_tokens", &ReportRow::input_tokens},
    {"cache_read_tokens", &ReportRow::cache_read_tokens},
    {"cache_write_tokens", &ReportRow::cache_write_tokens},
    {"output_tokens", &ReportRow::output_tokens},
    {"reasoning_tokens", &ReportRow::reasoning_tokens},
    {"estimated_requests", &ReportRow::estimated_requests},
    {"incomplete_requests", &ReportRow::incomplete_requests},
    {"request_bytes", &ReportRow::request_bytes},
    {"response_bytes", &ReportRow::response_bytes},
    {"cost_nano_usd", &ReportRow::cost_nano_usd},
    {"unpriced_requests", &ReportRow::unpriced_requests},
};

class Store {
 public:
  virtual ~Store();
  // One transaction, durable when it returns ok (SQLite: WAL, synchronous=FULL;
  // PostgreSQL: commit). Records already held (same run_id and seq; run_id is the
  // inner message's) are skipped and counted as duplicates; a record without
  // seq, run_id or kind is rejected (counted), not stored. host: the machine
  // that sent them.
  // fresh (optional): for each record, whether this call stored it (the
  // collector's metrics and OTLP export count each record once).
  virtual Result<StoreCounts> put(const std::string& host, const std::vector<v1::Record>& recs,
                                  std::vector<bool>* fresh = nullptr) = 0;
  // Sums per group (GROUP BY in SQL), sorted by key (byte order).
  virtual Result<std::vector<ReportRow>> group(const ReportQuery& q) = 0;
  // Every request in q's time range (q.by is ignored), by start time; returns how many.
  virtual Result<uint64_t> for_each_request(
      const ReportQuery& q, const std::function<void(const v1::ApiRequest&, const std::string& host)>& fn) = 0;
};

// "sqlite:PATH", "sqlite::memory:", "postgresql://..." or "postgres://..."
// (libpq's URI). Creates the schema or migrates it to kSchemaVersion. create
// false: a SQLite file that does not exist is an error (a reader's typo makes no
// empty database).
Result<std::unique_ptr<Store>> open_store(const std::string& url, bool create = true);

}  // namespace tt::store
