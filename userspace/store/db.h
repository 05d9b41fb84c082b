// The little a Store needs of a SQL engine: statements with $1..$N parameters,
// rows read by column, transactions. One implementation per engine (sqlite_db.cpp,
// pg_db.cpp); the schema and queries above it (sql_store.cpp) are shared.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace tt::store {

// A bound value: an integer, text, or bytes (BYTEA / BLOB).
struct Param {
  enum Kind { kInt, kText, kBlob } kind;
  int64_t i = 0;
  std::string s;
  static Param integer(int64_t v) { return {kInt, v, {}}; }
  static Param text(std::string v) { return {kText, 0, std::move(v)}; }
  static Param blob(std::string v) { return {kBlob, 0, std::move(v)}; }
};

struct Statement {
  const char* sql;
  std::vector<Param> params;
};

class Row {
 public:
  virtual ~Row() = default;
  virtual int64_t integer(int col) const = 0;  // NULL reads as 0
  virtual std::string text(int col) const = 0;
  virtual std::string blob(int col) const = 0;
};

class Db {
 public:
  virtual ~Db() = default;
  // Runs one statement; returns the rows it changed (0 for a conflict skipped).
  virtual Result<uint64_t> run(const std::string& sql, const std::vector<Param>& params = {}) = 0;
  // Runs each statement in turn; the rows each changed. Stops at the first that
  // fails. PostgreSQL sends them pipelined: no round trip per statement.
  virtual Result<std::vector<uint64_t>> run_batch(const std::vector<Statement>& statements);
  // Calls fn for each row, streamed (not all held at once); returns how many.
  virtual Result<uint64_t> query(const std::string& sql, const std::vector<Param>& params,
                                 const std::function<void(const Row&)>& fn) = 0;
  // Starts a write transaction that holds off other writers and schema creators.
  virtual Result<void> begin() = 0;
  // Inside a transaction: waits for any other process creating or migrating the schema.
  virtual Result<void> lock_schema() { return {}; }  // SQLite: BEGIN IMMEDIATE already excludes them
};

// run()'s result without its row count.
inline Result<void> as_void(const Result<uint64_t>& r) { return r ? Result<void>() : Error{r.error()}; }

// A transaction rolled back unless commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Db& db) : db_(db) {}
  ~Transaction();
  Result<void> begin();
  Result<void> commit();

 private:
  Db& db_;
  bool open_ = false;
};

Result<std::unique_ptr<Db>> open_sqlite(const std::string& path, bool create = true);
Result<std::unique_ptr<Db>> open_postgres(const std::string& url);
// Either, by the URL's scheme (as open_store takes it).
Result<std::unique_ptr<Db>> open_db(const std::string& url, bool create = true);

}  // namespace tt::store
