// PostgreSQL through libpq: parameters sent apart from the SQL text (PQexecParams),
// rows streamed in single-row mode so a year of requests need not fit in memory.
#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>

#include "store/db.h"

namespace tt::store {

namespace {

std::string trimmed(const char* m) {
  std::string s = m;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

struct PgFinish {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgClear {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, PgFinish>;
using ResultPtr = std::unique_ptr<PGresult, PgClear>;

// Values as libpq takes them: text for integers and strings, binary for bytes.
struct Bound {
  explicit Bound(const std::vector<Param>& params) {
    for (const Param& p : params) text.push_back(p.kind == Param::kInt ? std::to_string(p.i) : p.s);
    for (size_t i = 0; i < params.size(); ++i) {
      values.push_back(text[i].c_str());
      lengths.push_back(static_cast<int>(text[i].size()));
      formats.push_back(params[i].kind == Param::kBlob ? 1 : 0);
    }
  }
  int count() const { return static_cast<int>(values.size()); }
  std::vector<std::string> text;
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
};

class PgRow : public Row {
 public:
  explicit PgRow(const PGresult* r) : r_(r) {}
  int64_t integer(int col) const override { return std::strtoll(PQgetvalue(r_, 0, col), nullptr, 10); }
  std::string text(int col) const override { return std::string(PQgetvalue(r_, 0, col), PQgetlength(r_, 0, col)); }
  // Results come as text: bytea in its hex form.
  std::string blob(int col) const override {
    size_t n = 0;
    unsigned char* bytes = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, 0, col)), &n);
    if (!bytes) return {};
    std::string out(reinterpret_cast<char*>(bytes), n);
    PQfreemem(bytes);
    return out;
  }

 private:
  const PGresult* r_;
};

class PgDb : public Db {
 public:
  explicit PgDb(ConnPtr c) : c_(std::move(c)) {}

  Result<uint64_t> run(const std::string& sql, const std::vector<Param>& params) override {
    Bound b(params);
    ResultPtr r(PQexecParams(c_.get(), sql.c_str(), b.count(), nullptr, b.values.data(), b.lengths.data(),
                             b.formats.data(), 0));
    ExecStatusType st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return failure();
    return std::strtoull(PQcmdTuples(r.get()), nullptr, 10);
  }

  Result<std::vector<uint64_t>> run_batch(const std::vector<Statement>& statements) override {
    std::vector<uint64_t> changed;
    for (size_t at = 0; at < statements.size(); at += kPipelineDepth) {
      size_t end = std::min(statements.size(), at + kPipelineDepth);
      if (auto r = pipeline(statements, at, end, changed); !r) return Error{r.error()};
    }
    return changed;
  }

  Result<uint64_t> query(const std::string& sql, const std::vector<Param>& params,
                         const std::function<void(const Row&)>& fn) override {
    Bound b(params);
    if (!PQsendQueryParams(c_.get(), sql.c_str(), b.count(), nullptr, b.values.data(), b.lengths.data(),
                           b.formats.data(), 0) ||
        !PQsetSingleRowMode(c_.get()))
      return failure();
    uint64_t n = 0;
    std::string err;
    // Every result is read, even after an error: the connection is busy until then.
    while (ResultPtr r{PQgetResult(c_.get())}) {
      ExecStatusType st = PQresultStatus(r.get());
      if (st == PGRES_SINGLE_TUPLE && err.empty()) {
        fn(PgRow(r.get()));
        ++n;
      } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && err.empty()) {
        err = message(PQresultErrorMessage(r.get()));
      }
    }
    if (!err.empty()) return make_error(err);
    return n;
  }

  Result<void> begin() override { return as_void(run("BEGIN", {})); }
  // Any constant key: tokentap's schema is the only user of advisory locks here.
  Result<void> lock_schema() override { return as_void(run("SELECT pg_advisory_xact_lock(7474011)", {})); }

 private:
  // Statements sent before their results are read: each result is a few dozen
  // bytes, so 256 of them fit the socket buffers and neither side blocks on the other.
  static constexpr size_t kPipelineDepth = 256;

  // Sends statements [at, end) at once, then reads their results in order.
  Result<void> pipeline(const std::vector<Statement>& statements, size_t at, size_t end,
                        std::vector<uint64_t>& changed) {
    PGconn* c = c_.get();
    if (!PQenterPipelineMode(c)) return failure();
    size_t sent = at;
    for (; sent < end; ++sent) {
      Bound b(statements[sent].params);
      if (!PQsendQueryParams(c, statements[sent].sql, b.count(), nullptr, b.values.data(), b.lengths.data(),
                             b.formats.data(), 0))
        break;
    }
    // The sync also flushes what was queued: without it no result would come.
    bool synced = PQpipelineSync(c);
    std::string err = sent < end || !synced ? message(PQerrorMessage(c)) : "";
    if (!synced) return make_error(err);  // the connection is gone
    for (size_t i = at; i < sent; ++i) read_changed(err, changed);
    ResultPtr sync{PQgetResult(c)};  // PGRES_PIPELINE_SYNC
    if (!PQexitPipelineMode(c) && err.empty()) err = message(PQerrorMessage(c));
    if (!err.empty()) return make_error(err);
    return {};
  }

  // One statement's results (after an error: PGRES_PIPELINE_ABORTED); the first error is kept.
  void read_changed(std::string& err, std::vector<uint64_t>& changed) {
    while (ResultPtr r{PQgetResult(c_.get())}) {
      if (PQresultStatus(r.get()) == PGRES_COMMAND_OK)
        changed.push_back(std::strtoull(PQcmdTuples(r.get()), nullptr, 10));
      else if (err.empty())
        err = message(PQresultErrorMessage(r.get()));
    }
  }

  static std::string message(const char* m) { return "postgresql: " + trimmed(m); }
  Error failure() const { return make_error(message(PQerrorMessage(c_.get()))); }

  ConnPtr c_;
};

void ignore_notice(void*, const char*) {}  // "relation already exists, skipping" is no news

}  // namespace

Result<std::unique_ptr<Db>> open_postgres(const std::string& url) {
  // The URL's own settings override these (expand_dbname: later keywords win).
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"10", "tokentap", url.c_str(), nullptr};
  ConnPtr c(PQconnectdbParams(keys, values, 1));
  if (!c) return make_error("cannot connect to PostgreSQL: out of memory");
  if (PQstatus(c.get()) != CONNECTION_OK)
    return make_error("cannot connect to PostgreSQL: " + trimmed(PQerrorMessage(c.get())));
  PQsetNoticeProcessor(c.get(), ignore_notice, nullptr);
  return std::unique_ptr<Db>(std::make_unique<PgDb>(std::move(c)));
}

}  // namespace tt::store
