// tokentap report: sums per group from record files or a database, as a table
// or JSON lines. Record files go through an in-memory SQLite store, so files and
// databases are reported by the same queries.
#include "store/report.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "analysis/analysis.h"
#include "cli/commands.h"
#include "pricing/pricing.h"
#include "sink/sink.h"

namespace tt::cli {

namespace {

int usage_error(const std::string& msg) {
  fprintf(stderr, "tokentap report: %s\n", msg.c_str());
  return 2;
}

bool put_text(FILE* out, const std::string& s) { return fwrite(s.data(), 1, s.size(), out) == s.size(); }

Result<store::ReportQuery> query_of(const ReportOptions& o) {
  store::ReportQuery q;
  auto by = store::parse_group_by(o.by);
  if (!by) return Error{by.error()};
  q.by = *by;
  uint64_t now = store::now_unix_ns();
  for (auto [arg, ns] : {std::pair{&o.since, &q.since_unix_ns}, std::pair{&o.until, &q.until_unix_ns}}) {
    if (arg->empty()) continue;
    auto t = store::parse_time(*arg, now);
    if (!t) return Error{t.error()};
    *ns = *t;
  }
  return q;
}

// Files, --json, nothing to group or filter: every record as written, in order
// (what report printed before it grouped); a damaged file's good records first.
int dump_records(const std::vector<std::string>& files, FILE* out) {
  int rc = 0;
  for (const std::string& f : files) {
    auto n = sink::for_each_record(
        f, [out](const sink::v1::Record& rec) { put_text(out, sink::record_to_json(rec) + '\n'); });
    if (!n) {
      fprintf(stderr, "tokentap: %s\n", n.error().c_str());
      rc = 1;
    }
  }
  return rc;
}

// The record files in an in-memory store; rc 1 if any was damaged (its good records are in).
Result<std::unique_ptr<store::Store>> load_files(const std::vector<std::string>& files, int& rc) {
  auto s = store::open_store("sqlite::memory:");
  if (!s) return s;
  store::Loaded l = store::load_record_files(**s, files);
  for (const std::string& e : l.errors) fprintf(stderr, "tokentap: %s\n", e.c_str());
  if (l.counts.rejected)
    fprintf(stderr, "tokentap: %llu record(s) without a run id or kind not counted\n",
            static_cast<unsigned long long>(l.counts.rejected));
  if (!l.errors.empty()) rc = 1;
  return s;
}

// Groups (or, --json without --by, request records) from the store.
int print_report(store::Store& s, const store::ReportQuery& q, bool json, FILE* out) {
  if (json && q.by == store::GroupBy::none) {
    auto n = s.for_each_request(q, [out](const sink::v1::ApiRequest& r, const std::string&) {
      sink::v1::Record rec;
      *rec.mutable_request() = r;
      put_text(out, sink::record_to_json(rec) + '\n');
    });
    if (!n) fprintf(stderr, "tokentap: %s\n", n.error().c_str());
    return n ? 0 : 1;
  }
  auto rows = s.group(q);
  if (!rows) {
    fprintf(stderr, "tokentap: %s\n", rows.error().c_str());
    return 1;
  }
  if (!json) return put_text(out, store::render_table(*rows, q.by)) ? 0 : 1;
  for (const store::ReportRow& r : *rows) put_text(out, store::row_to_json(r, q.by) + '\n');
  return 0;
}

analysis::Scope scope_of(const ReportOptions& o, const store::ReportQuery& q) {
  analysis::Scope s;
  s.kind = !o.session.empty() ? "session" : !o.run.empty() ? "run" : q.since_unix_ns || q.until_unix_ns ? "range" : "all";
  s.run_id = o.run;
  s.since_unix_ns = q.since_unix_ns;
  s.until_unix_ns = q.until_unix_ns;
  for (const std::string& f : o.files) s.label += (s.label.empty() ? "" : " ") + f;
  if (!o.db.empty()) s.label = "database";  // not its URL: it may hold a password
  if (!o.session.empty()) s.label += ", session " + o.session;
  if (!o.run.empty()) s.label += ", run " + o.run;
  return s;
}

// The requests in the range (and session or run), analysed: the summary, its
// JSON, and/or the HTML page.
int analysis_report(const ReportOptions& o, store::Store& s, const store::ReportQuery& q, FILE* out) {
  std::vector<sink::v1::ApiRequest> recs;
  auto n = s.for_each_request(q, [&](const sink::v1::ApiRequest& r, const std::string&) {
    if ((o.session.empty() || r.session_id() == o.session) && (o.run.empty() || r.run_id() == o.run)) recs.push_back(r);
  });
  if (!n) {
    fprintf(stderr, "tokentap: %s\n", n.error().c_str());
    return 1;
  }
  auto prices = pricing::PriceTable::load_default();
  if (!prices) return usage_error("price table: " + prices.error());
  analysis::Options opts;
  opts.default_cache_ttl_s = o.cache_ttl_s;
  analysis::Analysis a = analysis::analyze(std::move(recs), *prices, scope_of(o, q), opts);
  int rc = 0;
  if (!o.html.empty()) rc = write_html_report(analysis::to_json(a), o.html);
  if (o.analysis && !put_text(out, o.json ? analysis::to_json(a).dump() + "\n" : analysis::render_summary(a))) rc = 1;
  return rc;
}

int report_to(const ReportOptions& o, const store::ReportQuery& q, FILE* out) {
  bool analysed = o.analysis || !o.html.empty();
  bool everything = o.json && q.by == store::GroupBy::none && !q.since_unix_ns && !q.until_unix_ns && !analysed;
  if (!o.files.empty() && everything) return dump_records(o.files, out);
  int rc = 0;
  auto s = o.files.empty() ? store::open_store(o.db, false) : load_files(o.files, rc);
  if (!s) return usage_error(s.error());
  if (analysed) return std::max(rc, analysis_report(o, **s, q, out));
  return std::max(rc, print_report(**s, q, o.json, out));
}

}  // namespace

int run_report(const ReportOptions& o) {
  if (o.files.empty() == o.db.empty()) return usage_error("give record files or --db DATABASE (one of them)");
  if ((o.analysis || !o.html.empty()) && !o.by.empty()) return usage_error("--by groups sums; --analysis and --html analyse requests: use one or the other");
  auto q = query_of(o);
  if (!q) return usage_error(q.error());
  bool to_stdout = o.out.empty() || o.out == "-";
  FILE* out = to_stdout ? stdout : fopen(o.out.c_str(), "w");
  if (!out) return usage_error("cannot write " + o.out + ": " + strerror(errno));
  int rc = report_to(o, *q, out);
  if (fflush(out) != 0 || (!to_stdout && fclose(out) != 0)) {
    fprintf(stderr, "tokentap: cannot write %s: %m\n", to_stdout ? "stdout" : o.out.c_str());
    return 1;
  }
  return rc;
}

}  // namespace tt::cli
