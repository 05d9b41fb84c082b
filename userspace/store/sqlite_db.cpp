// SQLite through its C API: WAL and synchronous=FULL, so a committed transaction
// has reached the disk (its WAL frames fsync'd) when COMMIT returns.
#include <sqlite3.h>

#include <unordered_map>

#include "store/db.h"

namespace tt::store {

namespace {

struct SqliteClose {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* st) const { sqlite3_finalize(st); }
};
using SqlitePtr = std::unique_ptr<sqlite3, SqliteClose>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

class SqliteRow : public Row {
 public:
  explicit SqliteRow(sqlite3_stmt* st) : st_(st) {}
  int64_t integer(int col) const override { return sqlite3_column_int64(st_, col); }
  std::string text(int col) const override {
    const unsigned char* p = sqlite3_column_text(st_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(st_, col)) : std::string();
  }
  std::string blob(int col) const override {
    const void* p = sqlite3_column_blob(st_, col);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(st_, col)) : std::string();
  }

 private:
  sqlite3_stmt* st_;
};

class SqliteDb : public Db {
 public:
  explicit SqliteDb(SqlitePtr db) : db_(std::move(db)) {}

  Result<uint64_t> run(const std::string& sql, const std::vector<Param>& params) override {
    auto n = query(sql, params, [](const Row&) {});
    if (!n) return Error{n.error()};
    return static_cast<uint64_t>(sqlite3_changes64(db_.get()));
  }

  Result<uint64_t> query(const std::string& sql, const std::vector<Param>& params,
                         const std::function<void(const Row&)>& fn) override {
    auto st = prepared(sql, params);
    if (!st) return Error{st.error()};
    SqliteRow row(*st);
    uint64_t n = 0;
    int rc;
    while ((rc = sqlite3_step(*st)) == SQLITE_ROW) {
      fn(row);
      ++n;
    }
    sqlite3_reset(*st);  // releases its read snapshot, so the WAL can be checkpointed
    if (rc != SQLITE_DONE) return failure();
    return n;
  }

  // IMMEDIATE: takes the write lock at once, so two writers wait (busy_timeout)
  // instead of one failing when it upgrades a read lock.
  Result<void> begin() override { return as_void(run("BEGIN IMMEDIATE", {})); }

 private:
  Error failure() const { return make_error(std::string("sqlite: ") + sqlite3_errmsg(db_.get())); }

  // Statements are prepared once per connection and reused: put() runs two per record.
  Result<sqlite3_stmt*> prepared(const std::string& sql, const std::vector<Param>& params) {
    StmtPtr& st = cache_[sql];
    if (!st) {
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v3(db_.get(), sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK)
        return failure();
      st.reset(raw);
    }
    sqlite3_clear_bindings(st.get());
    for (size_t i = 0; i < params.size(); ++i)
      if (bind(st.get(), i + 1, params[i]) != SQLITE_OK) return failure();
    return st.get();
  }

  // $N by name: SQLite numbers named parameters by first appearance, not by N.
  static int bind(sqlite3_stmt* st, size_t n, const Param& p) {
    int idx = sqlite3_bind_parameter_index(st, ("$" + std::to_string(n)).c_str());
    if (idx == 0) return SQLITE_RANGE;
    switch (p.kind) {
      case Param::kInt: return sqlite3_bind_int64(st, idx, p.i);
      case Param::kText: return sqlite3_bind_text(st, idx, p.s.data(), static_cast<int>(p.s.size()), SQLITE_TRANSIENT);
      case Param::kBlob: return sqlite3_bind_blob(st, idx, p.s.data(), static_cast<int>(p.s.size()), SQLITE_TRANSIENT);
    }
    return SQLITE_MISUSE;
  }

  std::unordered_map<std::string, StmtPtr> cache_;
  SqlitePtr db_;  // after cache_: destroyed last, once every statement is finalized
};

Result<void> configure(Db& db, bool in_memory) {
  // 10 s of waiting for another writer (a second collector, a report) before failing.
  for (const char* pragma : {"PRAGMA busy_timeout = 10000", "PRAGMA synchronous = FULL"})
    if (auto r = db.run(pragma); !r) return Error{r.error()};
  std::string mode;
  auto r = db.query("PRAGMA journal_mode = WAL", {}, [&mode](const Row& row) { mode = row.text(0); });
  if (!r) return Error{r.error()};
  if (!in_memory && mode != "wal") return make_error("sqlite: cannot switch to WAL mode (journal mode " + mode + ")");
  return {};
}

}  // namespace

Result<std::unique_ptr<Db>> open_sqlite(const std::string& path, bool create) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  SqlitePtr conn(raw);
  if (rc != SQLITE_OK)
    return make_error("cannot open SQLite database " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  auto db = std::make_unique<SqliteDb>(std::move(conn));
  if (auto c = configure(*db, path == ":memory:"); !c) return Error{path + ": " + c.error()};
  return std::unique_ptr<Db>(std::move(db));
}

}  // namespace tt::store
