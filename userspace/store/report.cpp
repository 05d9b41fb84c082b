#include "store/report.h"

#include <time.h>

#include <cstdio>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "sink/report.h"
#include "sink/sink.h"

namespace tt::store {

namespace {

constexpr uint64_t kSecond = 1000000000;

// Reads a fixed-width date-time from left to right.
struct Cursor {
  const std::string& s;
  size_t i = 0;
  bool number(size_t n, int& out) {
    if (i + n > s.size()) return false;
    out = 0;
    for (size_t k = 0; k < n; ++k) {
      char c = s[i + k];
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    i += n;
    return true;
  }
  bool lit(char c) { return i < s.size() && s[i] == c ? (++i, true) : false; }
  bool any_of(const char* set) {
    for (; *set; ++set)
      if (lit(*set)) return true;
    return false;
  }
  bool end() const { return i == s.size(); }
};

// ".25" -> 250000000 ns (up to nine digits).
bool fraction(Cursor& c, uint64_t& ns) {
  size_t start = c.i;
  ns = 0;
  for (int d; c.i - start < 9 && c.number(1, d);) ns = ns * 10 + d;
  if (c.i == start) return false;
  for (size_t k = c.i - start; k < 9; ++k) ns *= 10;
  return true;
}

// "Z", "+02:00", "-0530" or nothing (UTC): seconds east of UTC.
bool zone(Cursor& c, int64_t& offset_s) {
  offset_s = 0;
  if (c.end() || c.any_of("Zz")) return true;
  bool west = c.lit('-');
  if (!west && !c.lit('+')) return false;
  int h = 0, m = 0;
  if (!c.number(2, h)) return false;
  c.lit(':');  // "+0200" too
  if (!c.number(2, m) || h > 23 || m > 59) return false;
  offset_s = (west ? -1 : 1) * (h * 3600 + m * 60);
  return true;
}

// "HH:MM[:SS[.frac]]" after the date's 'T' or ' '.
bool clock(Cursor& c, struct tm& tm, uint64_t& ns) {
  if (!c.number(2, tm.tm_hour) || !c.lit(':') || !c.number(2, tm.tm_min)) return false;
  if (c.lit(':') && (!c.number(2, tm.tm_sec) || (c.lit('.') && !fraction(c, ns)))) return false;
  return tm.tm_hour < 24 && tm.tm_min < 60 && tm.tm_sec < 61;
}

Result<uint64_t> parse_absolute(const std::string& s) {
  Cursor c{s};
  struct tm tm {};
  uint64_t ns = 0;
  int64_t offset = 0;
  bool ok = c.number(4, tm.tm_year) && c.lit('-') && c.number(2, tm.tm_mon) && c.lit('-') && c.number(2, tm.tm_mday);
  if (ok && !c.end()) ok = c.any_of("Tt ") && clock(c, tm, ns) && zone(c, offset) && c.end();
  int day = tm.tm_mday;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = ok ? timegm(&tm) : -1;
  // timegm normalises 2026-02-30 to March: a day that changed did not exist.
  if (t == -1 || tm.tm_mday != day || t - offset < 0) return make_error("");
  return static_cast<uint64_t>(t - offset) * kSecond + ns;
}

// "24h" -> now - 24 h.
Result<uint64_t> parse_relative(const std::string& s, uint64_t now) {
  static const std::map<char, uint64_t> units = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
  auto unit = units.find(s.empty() ? 0 : s.back());
  size_t digits = s.size() - 1;
  if (unit == units.end() || digits == 0 || digits > 9 ||
      !std::all_of(s.begin(), s.end() - 1, [](char c) { return c >= '0' && c <= '9'; }))
    return make_error("");
  uint64_t back = std::stoull(s.substr(0, digits)) * unit->second * kSecond;
  if (back > now) return make_error("");
  return now - back;
}

void add(ReportRow& sum, const ReportRow& r) {
  for (const RowSum& s : kRowSums) sum.*s.member += r.*s.member;
  if (!sum.first_unix_ns || r.first_unix_ns < sum.first_unix_ns) sum.first_unix_ns = r.first_unix_ns;
  sum.last_unix_ns = std::max(sum.last_unix_ns, r.last_unix_ns);
}

using Table = std::vector<std::vector<std::string>>;

std::string usd(uint64_t nano) { return sink::usd(nano / 1e9); }

std::vector<std::string> cells(const std::string& label, const ReportRow& r) {
  using sink::thousands;
  return {label,
          thousands(r.requests),
          thousands(r.input_tokens),
          thousands(r.cache_read_tokens),
          thousands(r.cache_write_tokens),
          thousands(r.output_tokens),
          thousands(r.reasoning_tokens),
          thousands(r.estimated_requests),
          thousands(r.incomplete_requests),
          usd(r.cost_nano_usd),
          thousands(r.unpriced_requests)};
}

// The first column left-aligned, the numbers right-aligned, two spaces apart.
std::string aligned(const Table& t) {
  std::vector<size_t> width(t[0].size(), 0);
  for (const auto& row : t)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  std::string out;
  for (const auto& row : t) {
    std::string line = row[0] + std::string(width[0] - row[0].size(), ' ');
    for (size_t i = 1; i < row.size(); ++i) line += "  " + std::string(width[i] - row[i].size(), ' ') + row[i];
    out += line + '\n';
  }
  return out;
}

// One record file into the batch, records without seq numbered per run.
Result<uint64_t> read_file(const std::string& path, std::map<std::string, uint64_t>& next_seq,
                           std::vector<v1::Record>& batch, const std::function<void()>& flush_full) {
  return sink::for_each_record(path, [&](const v1::Record& rec) {
    batch.push_back(rec);
    if (!rec.seq()) batch.back().set_seq(++next_seq[record_run_id(rec)]);
    flush_full();
  });
}

}  // namespace

uint64_t now_unix_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kSecond + static_cast<uint64_t>(ts.tv_nsec);
}

Result<uint64_t> parse_time(const std::string& s, uint64_t now) {
  auto t = s.size() >= 10 ? parse_absolute(s) : parse_relative(s, now);
  if (!t)
    return make_error("bad time '" + s +
                      "' (a date or RFC 3339 time: 2026-11-30, 2026-11-30T10:00:00Z; or a time before now: "
                      "90s, 30m, 24h, 7d, 2w)");
  return t;
}

std::string format_time(uint64_t unix_ns) {
  time_t t = static_cast<time_t>(unix_ns / kSecond);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Loaded load_record_files(Store& store, const std::vector<std::string>& files) {
  constexpr size_t kBatch = 1000;  // records per transaction
  Loaded out;
  std::vector<v1::Record> batch;
  std::map<std::string, uint64_t> next_seq;
  auto flush = [&] {
    auto c = store.put("", batch);
    batch.clear();
    if (!c) {
      out.errors.push_back(c.error());
      return;
    }
    out.counts.stored += c->stored;
    out.counts.duplicates += c->duplicates;
    out.counts.rejected += c->rejected;
  };
  for (const std::string& f : files) {
    auto n = read_file(f, next_seq, batch, [&] {
      if (batch.size() >= kBatch) flush();
    });
    if (!n) out.errors.push_back(n.error());
  }
  if (!batch.empty()) flush();
  return out;
}

std::string render_table(const std::vector<ReportRow>& rows, GroupBy by) {
  Table t = {{by == GroupBy::none ? "" : group_by_name(by), "requests", "input", "cache read", "cache write", "output",
              "reasoning", "estimated", "incomplete", "cost", "unpriced"}};
  ReportRow total;
  for (const ReportRow& r : rows) {
    if (by != GroupBy::none) t.push_back(cells(r.key.empty() ? "-" : r.key, r));
    add(total, r);
  }
  t.push_back(cells("total", total));
  std::string out = aligned(t);
  if (!total.requests) return out + "no requests\n";
  out += sink::thousands(total.requests) + " request(s), " + format_time(total.first_unix_ns) + " to " +
         format_time(total.last_unix_ns) + "\n";
  if (total.unpriced_requests)
    out += sink::thousands(total.unpriced_requests) +
           " request(s) of unknown price are not in the cost (`tokentap prices` lists the models priced)\n";
  return out;
}

std::string row_to_json(const ReportRow& r, GroupBy by) {
  nlohmann::ordered_json j = {{"by", group_by_name(by)}, {"key", r.key}};
  for (const RowSum& s : kRowSums) j[s.name] = r.*s.member;
  j["cost_usd"] = r.cost_nano_usd / 1e9;
  j["first_unix_ns"] = r.first_unix_ns;
  j["last_unix_ns"] = r.last_unix_ns;
  // Keys are whatever the traffic said: invalid UTF-8 is replaced, not thrown on.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tt::store
