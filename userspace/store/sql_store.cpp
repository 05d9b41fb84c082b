// The Store over either engine: one schema, one set of statements. The DDL uses
// types both engines read the same way (BIGINT, INTEGER, TEXT; BYTEA is a BLOB to
// SQLite), and statements use $N parameters, which both accept.
#include <time.h>

#include <algorithm>
#include <climits>
#include <cmath>

#include "store/db.h"
#include "store/report.h"
#include "store/store.h"

namespace tt::store {

Store::~Store() = default;

Result<std::vector<uint64_t>> Db::run_batch(const std::vector<Statement>& statements) {
  std::vector<uint64_t> changed;
  for (const Statement& st : statements) {
    auto n = run(st.sql, st.params);
    if (!n) return Error{n.error()};
    changed.push_back(*n);
  }
  return changed;
}

Transaction::~Transaction() {
  if (open_) (void)db_.run("ROLLBACK");
}

Result<void> Transaction::begin() {
  auto r = db_.begin();
  open_ = r.ok();
  return r;
}

Result<void> Transaction::commit() {
  auto r = db_.run("COMMIT");
  if (r) open_ = false;
  return as_void(r);
}

namespace {

// kMigrations[N] takes the schema from version N to N+1 (0: an empty database).
// "user" is a reserved word in PostgreSQL: the column is user_name.
const std::vector<std::vector<std::string>> kMigrations = {
    {
        "CREATE TABLE records (run_id TEXT NOT NULL, seq BIGINT NOT NULL, host TEXT NOT NULL, kind TEXT NOT NULL,"
        " received_unix_ns BIGINT NOT NULL, record BYTEA NOT NULL, PRIMARY KEY (run_id, seq))",
        "CREATE TABLE requests (run_id TEXT NOT NULL, seq BIGINT NOT NULL, host TEXT NOT NULL,"
        " start_unix_ns BIGINT NOT NULL, end_unix_ns BIGINT NOT NULL, day TEXT NOT NULL,"
        " user_name TEXT NOT NULL, uid BIGINT NOT NULL, harness TEXT NOT NULL, harness_version TEXT NOT NULL,"
        " session_id TEXT NOT NULL, project TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,"
        " api TEXT NOT NULL, input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,"
        " cache_read_tokens BIGINT NOT NULL, cache_write_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL,"
        " request_bytes BIGINT NOT NULL, response_bytes BIGINT NOT NULL, complete INTEGER NOT NULL,"
        " usage_source TEXT NOT NULL, status INTEGER NOT NULL, PRIMARY KEY (run_id, seq))",
        // The time range is in every query; each grouping column leads an index
        // with the start time after it, so a group over a range reads one index.
        "CREATE INDEX requests_start ON requests (start_unix_ns)",
        "CREATE INDEX requests_day ON requests (day, start_unix_ns)",
        "CREATE INDEX requests_user ON requests (user_name, start_unix_ns)",
        "CREATE INDEX requests_host ON requests (host, start_unix_ns)",
        "CREATE INDEX requests_harness ON requests (harness, start_unix_ns)",
        "CREATE INDEX requests_session ON requests (harness, session_id, start_unix_ns)",
        "CREATE INDEX requests_project ON requests (project, start_unix_ns)",
        "CREATE INDEX requests_model ON requests (model, start_unix_ns)",
        "CREATE INDEX records_kind ON records (kind, received_unix_ns)",
    },
    {
        // 2: money and who billed it (#12). Older rows: cost 0, never priced.
        "ALTER TABLE requests ADD COLUMN cost_nano_usd BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE requests ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE requests ADD COLUMN wire_format TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE requests ADD COLUMN billing TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX requests_provider ON requests (provider, start_unix_ns)",
    },
};

// The schema's version; 0 before there is one (no meta table: the query fails).
int schema_version(Db& db) {
  int v = 0;
  (void)db.query("SELECT value FROM meta WHERE key = $1", {Param::text("schema_version")},
                 [&v](const Row& row) { v = std::atoi(row.text(0).c_str()); });
  return v;
}

Result<void> not_newer(int v) {
  if (v <= kSchemaVersion) return {};
  return make_error("the database's schema is version " + std::to_string(v) + ", newer than this tokentap's (" +
                    std::to_string(kSchemaVersion) + "): use a newer tokentap");
}

Result<void> run_all(Db& db, const std::vector<std::string>& statements) {
  for (const std::string& sql : statements)
    if (auto r = db.run(sql); !r) return Error{r.error()};
  return {};
}

// Creates the schema or brings it to kSchemaVersion, in one transaction. A
// current schema is only read: a report needs no write access to the database.
Result<void> migrate(Db& db) {
  if (int v = schema_version(db); v >= kSchemaVersion) return not_newer(v);
  Transaction tx(db);
  if (auto r = tx.begin(); !r) return r;
  if (auto r = db.lock_schema(); !r) return r;
  if (auto r = db.run("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"); !r)
    return Error{r.error()};
  int v = schema_version(db);  // again, under the lock: another process may have migrated meanwhile
  if (v >= kSchemaVersion) return not_newer(v);
  for (int from = v; from < kSchemaVersion; ++from)
    if (auto r = run_all(db, kMigrations[from]); !r) return r;
  auto r =
      db.run("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
             {Param::text("schema_version"), Param::text(std::to_string(kSchemaVersion))});
  if (!r) return Error{r.error()};
  return tx.commit();
}

const char* kind_name(const v1::Record& rec) {
  switch (rec.kind_case()) {
    case v1::Record::kRequest: return "request";
    case v1::Record::kProcess: return "process";
    case v1::Record::kRun: return "run";
    case v1::Record::kSession: return "session";
    default: return nullptr;
  }
}

// Counters summed per group stay below 2^48 each, so no SUM overflows (SQLite
// fails the whole query on overflow) before 32,768 absurd requests; 2^48 tokens
// or bytes in one request is no real request.
bool in_range(const v1::ApiRequest& r) {
  constexpr uint64_t kMax = uint64_t{1} << 48;
  for (uint64_t v : {r.input_tokens(), r.output_tokens(), r.cache_read_tokens(), r.cache_write_tokens(),
                     r.reasoning_tokens(), r.request_bytes(), r.response_bytes()})
    if (v >= kMax) return false;
  return r.start_unix_ns() <= INT64_MAX && r.end_unix_ns() <= INT64_MAX;
}

bool acceptable(const v1::Record& rec) {
  if (!kind_name(rec) || record_run_id(rec).empty() || rec.seq() == 0 || rec.seq() > INT64_MAX) return false;
  return !rec.has_request() || in_range(rec.request());
}

// "YYYY-MM-DD" of a request's start, in UTC (one day for every host's report).
std::string utc_day(uint64_t unix_ns) {
  time_t t = static_cast<time_t>(unix_ns / 1000000000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[16];
  strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
  return buf;
}

int64_t i64(uint64_t v) { return static_cast<int64_t>(v); }

const char* const kInsertRecord =
    "INSERT INTO records (run_id, seq, host, kind, received_unix_ns, record) VALUES ($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT DO NOTHING";

const char* const kInsertRequest =
    "INSERT INTO requests (run_id, seq, host, start_unix_ns, end_unix_ns, day, user_name, uid, harness,"
    " harness_version, session_id, project, model, provider, api, input_tokens, output_tokens,"
    " cache_read_tokens, cache_write_tokens, reasoning_tokens, request_bytes, response_bytes, complete,"
    " usage_source, status, cost_nano_usd, unpriced, wire_format, billing) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
    " $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)"
    " ON CONFLICT DO NOTHING";

// Billionths of a dollar, within the bound every summed counter keeps (acceptable()).
int64_t nano_usd(double usd) {
  double n = std::round(usd * 1e9);
  return n > 0 && n < 281474976710655.0 ? static_cast<int64_t>(n) : 0;
}

std::vector<Param> request_params(const std::string& host, uint64_t seq, const v1::ApiRequest& r) {
  using P = Param;
  return {P::text(r.run_id()),
          P::integer(i64(seq)),
          P::text(host),
          P::integer(i64(r.start_unix_ns())),
          P::integer(i64(r.end_unix_ns())),
          P::text(utc_day(r.start_unix_ns())),
          P::text(r.user()),
          P::integer(r.uid()),
          P::text(r.harness()),
          P::text(r.harness_version()),
          P::text(r.session_id()),
          P::text(r.project()),
          P::text(r.model()),
          P::text(r.provider()),
          P::text(r.api()),
          P::integer(i64(r.input_tokens())),
          P::integer(i64(r.output_tokens())),
          P::integer(i64(r.cache_read_tokens())),
          P::integer(i64(r.cache_write_tokens())),
          P::integer(i64(r.reasoning_tokens())),
          P::integer(i64(r.request_bytes())),
          P::integer(i64(r.response_bytes())),
          P::integer(r.complete() ? 1 : 0),
          P::text(r.usage_source()),
          P::integer(r.status()),
          P::integer(nano_usd(r.cost_usd())),
          P::integer(r.cost_source() == "unknown_model" ? 1 : 0),
          P::text(r.wire_format()),
          P::text(r.billing())};
}

// Each grouping: its --by name and the SQL expression its key is (only these
// fixed texts are ever put in SQL; values are parameters).
struct Grouping {
  GroupBy by;
  const char* name;
  const char* sql;
};
constexpr Grouping kGroupings[] = {
    {GroupBy::none, "none", "CAST('' AS TEXT)"},
    {GroupBy::user, "user", "user_name"},
    {GroupBy::host, "host", "host"},
    {GroupBy::harness, "harness", "harness"},
    {GroupBy::session, "session", "COALESCE(NULLIF(harness, ''), 'unknown') || ' ' || session_id"},
    {GroupBy::project, "project", "project"},
    {GroupBy::provider, "provider", "provider"},
    {GroupBy::model, "model", "model"},
    {GroupBy::day, "day", "day"},
};

const Grouping& grouping(GroupBy by) {
  for (const Grouping& g : kGroupings)
    if (g.by == by) return g;
  return kGroupings[0];
}

// The time range as parameters $1 and $2 (until 0: no end).
std::vector<Param> range_params(const ReportQuery& q) {
  auto clamp = [](uint64_t v) { return static_cast<int64_t>(std::min<uint64_t>(v, INT64_MAX)); };
  return {Param::integer(clamp(q.since_unix_ns)), Param::integer(q.until_unix_ns ? clamp(q.until_unix_ns) : INT64_MAX)};
}

// A group's row: its key, kRowSums in order, then the first start and last end.
ReportRow read_row(const Row& row) {
  auto u = [&row](int col) { return static_cast<uint64_t>(row.integer(col)); };
  ReportRow r;
  r.key = row.text(0);
  int col = 1;
  for (const RowSum& s : kRowSums) r.*s.member = u(col++);
  r.first_unix_ns = u(col++);
  r.last_unix_ns = u(col);
  return r;
}

class SqlStore : public Store {
 public:
  explicit SqlStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  Result<StoreCounts> put(const std::string& host, const std::vector<v1::Record>& recs,
                          std::vector<bool>* fresh) override {
    Transaction tx(*db_);
    if (auto r = tx.begin(); !r) return Error{r.error()};
    StoreCounts c;
    std::vector<Statement> inserts;
    std::vector<std::pair<size_t, size_t>> record_inserts;  // (record, its insert into records)
    uint64_t now = now_unix_ns();
    for (size_t k = 0; k < recs.size(); ++k) {
      if (!acceptable(recs[k])) {
        c.rejected++;
        continue;
      }
      record_inserts.emplace_back(k, inserts.size());
      add_inserts(host, recs[k], now, inserts);
    }
    auto changed = db_->run_batch(inserts);
    if (!changed) return Error{changed.error()};
    if (fresh) fresh->assign(recs.size(), false);
    for (auto [k, i] : record_inserts) {
      ((*changed)[i] ? c.stored : c.duplicates)++;
      if (fresh) (*fresh)[k] = (*changed)[i];
    }
    if (auto r = tx.commit(); !r) return Error{r.error()};
    return c;
  }

  Result<std::vector<ReportRow>> group(const ReportQuery& q) override {
    std::string sql = std::string("SELECT ") + grouping(q.by).sql +
                      ", COUNT(*), SUM(input_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),"
                      " SUM(output_tokens), SUM(reasoning_tokens),"
                      " SUM(CASE WHEN usage_source = 'estimated' THEN 1 ELSE 0 END), SUM(1 - complete),"
                      " SUM(request_bytes), SUM(response_bytes), SUM(cost_nano_usd), SUM(unpriced),"
                      " MIN(start_unix_ns), MAX(end_unix_ns)"
                      " FROM requests WHERE start_unix_ns >= $1 AND start_unix_ns < $2 GROUP BY 1";
    std::vector<ReportRow> rows;
    auto n = db_->query(sql, range_params(q), [&rows](const Row& row) { rows.push_back(read_row(row)); });
    if (!n) return Error{n.error()};
    // Sorted here: the engines' collations differ (PostgreSQL's follows the locale).
    std::sort(rows.begin(), rows.end(), [](const ReportRow& a, const ReportRow& b) { return a.key < b.key; });
    return rows;
  }

  Result<uint64_t> for_each_request(const ReportQuery& q,
                                    const std::function<void(const v1::ApiRequest&, const std::string&)>& fn) override {
    uint64_t bad = 0;
    auto n = db_->query(
        "SELECT r.record, q.host FROM requests q JOIN records r ON r.run_id = q.run_id AND r.seq = q.seq"
        " WHERE q.start_unix_ns >= $1 AND q.start_unix_ns < $2 ORDER BY q.start_unix_ns, q.run_id, q.seq",
        range_params(q), [&](const Row& row) {
          v1::Record rec;
          if (rec.ParseFromString(row.blob(0)) && rec.has_request())
            fn(rec.request(), row.text(1));
          else
            ++bad;
        });
    if (!n) return Error{n.error()};
    if (bad) return make_error(std::to_string(bad) + " stored request record(s) do not parse");
    return *n;
  }

 private:
  // A record's row, and a request's requests row. Both skip what is held: the
  // two tables gain a record's rows in one transaction, so the requests row
  // exists exactly when the records row does, and the records insert alone
  // tells a duplicate (no insert waits on another's result: PostgreSQL pipelines them).
  static void add_inserts(const std::string& host, const v1::Record& rec, uint64_t now, std::vector<Statement>& out) {
    out.push_back({kInsertRecord,
                   {Param::text(record_run_id(rec)), Param::integer(i64(rec.seq())), Param::text(host),
                    Param::text(kind_name(rec)), Param::integer(i64(now)), Param::blob(rec.SerializeAsString())}});
    if (rec.has_request()) out.push_back({kInsertRequest, request_params(host, rec.seq(), rec.request())});
  }

  std::unique_ptr<Db> db_;
};

}  // namespace

const std::string& record_run_id(const v1::Record& rec) {
  switch (rec.kind_case()) {
    case v1::Record::kRequest: return rec.request().run_id();
    case v1::Record::kProcess: return rec.process().run_id();
    case v1::Record::kRun: return rec.run().run_id();
    default: return rec.session().run_id();  // the default instance's "" when no kind
  }
}

Result<GroupBy> parse_group_by(const std::string& s) {
  if (s.empty()) return GroupBy::none;
  for (const Grouping& g : kGroupings)
    if (s == g.name) return g.by;
  return make_error("unknown --by '" + s + "' (one of user, host, harness, session, project, provider, model, day)");
}

const char* group_by_name(GroupBy by) { return grouping(by).name; }

Result<std::unique_ptr<Db>> open_db(const std::string& url, bool create) {
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) return open_postgres(url);
  if (url.rfind("sqlite:", 0) == 0) {
    std::string path = url.substr(7);
    if (path.rfind("//", 0) == 0) path = path.substr(2);  // sqlite:///abs/path
    if (path.empty()) return make_error("sqlite: needs a path (sqlite:PATH or sqlite::memory:)");
    return open_sqlite(path, create);
  }
  // Only the scheme is repeated: the rest may hold a password.
  return make_error("unknown database '" + url.substr(0, url.find(':')) +
                    ":...' (sqlite:PATH, sqlite::memory:, postgresql://...)");
}

Result<std::unique_ptr<Store>> open_store(const std::string& url, bool create) {
  auto db = open_db(url, create);
  if (!db) return Error{db.error()};
  if (auto m = migrate(**db); !m) return Error{m.error()};
  return std::unique_ptr<Store>(std::make_unique<SqlStore>(std::move(*db)));
}

}  // namespace tt::store
