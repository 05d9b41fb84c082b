#include "top/snapshot.h"

#include <time.h>

#include <algorithm>
#include <vector>

namespace tt::top {

namespace {

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// At most kMaxLabelBytes, never cutting a UTF-8 sequence. tail: keep the end
// (a path: its end tells projects apart).
std::string label(const std::string& s, bool tail = false) {
  if (s.size() <= kMaxLabelBytes) return s;
  size_t n = kMaxLabelBytes;
  if (tail) {
    size_t from = s.size() - n;
    while (from < s.size() && continuation(s[from])) ++from;
    return s.substr(from);
  }
  while (n > 0 && continuation(s[n])) --n;
  return s.substr(0, n);
}

Counts request_counts(const v1::ApiRequest& r) {
  return {1, r.input_tokens(), r.cache_read_tokens(), r.cache_write_tokens(), r.output_tokens()};
}

nlohmann::json counts_json(const Counts& c) {
  return {{"requests", c.requests}, {"input", c.input},   {"cache_read", c.cache_read},
          {"cache_write", c.cache_write}, {"output", c.output}, {"tokens", c.tokens()}};
}

nlohmann::json losses_json(const v1::CaptureStats& cs) {
  return {{"events_lost", cs.events_lost()},       {"bytes_lost", cs.bytes_lost()},
          {"bytes_unparsed", cs.bytes_unparsed()}, {"parse_errors", cs.parse_errors()},
          {"decode_errors", cs.decode_errors()},   {"incomplete_requests", cs.incomplete_requests()}};
}

}  // namespace

void Counts::add(const Counts& o) {
  requests += o.requests;
  input += o.input;
  cache_read += o.cache_read;
  cache_write += o.cache_write;
  output += o.output;
}

double cache_hit_pct(const Counts& c) {
  uint64_t in = c.input + c.cache_read + c.cache_write;
  return in ? 100.0 * double(c.cache_read) / double(in) : -1;
}

void Series::add(uint64_t second, const Counts& c) {
  Bucket& b = buckets_[second % kWindowSeconds];
  if (b.second != second) b = {second, {}};
  b.c.add(c);
  total_.add(c);
  last_ = std::max(last_, second);
}

Counts Series::window(uint64_t second) const {
  Counts sum;
  for (const auto& b : buckets_)
    if (b.second <= second && b.second + kWindowSeconds > second) sum.add(b.c);
  return sum;
}

std::string process_key(const v1::ApiRequest& r) { return (r.comm().empty() ? "?" : r.comm()) + " " + std::to_string(r.pid()); }

std::string project_key(const v1::ApiRequest& r) { return r.project().empty() ? "(none)" : r.project(); }

void Tracker::write(const v1::Record& rec) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (rec.has_request()) add(rec.request(), uint64_t(ts.tv_sec));
}

void Tracker::add(const v1::ApiRequest& r, uint64_t second) {
  Counts c = request_counts(r);
  all_.add(c);
  std::string user = r.user().empty() ? "?" : r.user();
  count(processes_, label(process_key(r)) + "\t" + label(user), second, c);
  if (!r.session_id().empty()) count(sessions_, label(r.session_id()) + "\t" + label(r.harness()), second, c);
  count(projects_, label(project_key(r), true), second, c);
}

// A new key past the cap takes the place of the one idle the longest.
void Tracker::count(Table& t, const std::string& key, uint64_t second, const Counts& c) {
  if (!t.count(key) && t.size() >= kMaxKeys) {
    auto idle = std::min_element(t.begin(), t.end(), [](const auto& a, const auto& b) {
      return a.second.last_second() < b.second.last_second();
    });
    t.erase(idle);
  }
  t[key].add(second, c);
}

nlohmann::json Tracker::rows(const Table& t, uint64_t second) const {
  struct Row {
    const std::string* key;
    Counts minute, total;
  };
  std::vector<Row> all;
  for (const auto& [k, s] : t) all.push_back({&k, s.window(second), s.total()});
  auto busier = [](const Row& a, const Row& b) {
    if (a.minute.tokens() != b.minute.tokens()) return a.minute.tokens() > b.minute.tokens();
    if (a.total.tokens() != b.total.tokens()) return a.total.tokens() > b.total.tokens();
    return *a.key < *b.key;
  };
  size_t n = std::min(all.size(), kMaxRows);
  std::partial_sort(all.begin(), all.begin() + n, all.end(), busier);
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < n; ++i) {
    std::string key = *all[i].key, detail;
    if (size_t tab = key.find('\t'); tab != std::string::npos) detail = key.substr(tab + 1), key.resize(tab);
    out.push_back({{"name", key}, {"detail", detail}, {"minute", counts_json(all[i].minute)},
                   {"total", counts_json(all[i].total)}});
  }
  return out;
}

nlohmann::json Tracker::snapshot(uint64_t now_ns) const {
  uint64_t second = now_ns / 1'000'000'000ull;
  return {{"version", 1},
          {"window_s", kWindowSeconds},
          {"total", counts_json(all_)},
          {"losses", losses_json(stats_)},
          {"processes", rows(processes_, second)},
          {"sessions", rows(sessions_, second)},
          {"projects", rows(projects_, second)}};
}

}  // namespace tt::top
