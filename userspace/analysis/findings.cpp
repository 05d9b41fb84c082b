// The findings of docs/analysis.md ("The rules"), one function each, over one
// session's requests and conversations.
#include <algorithm>
#include <set>

#include "analysis/internal.h"

namespace tt::analysis::detail {
namespace {

constexpr uint64_t kMinResent = 1024;      // tokens re-sent before a miss counts
constexpr uint64_t kMinCompacted = 2048;   // a prompt this large shrinking by half is a compaction
constexpr uint64_t kLowValuePrompt = 8192;
constexpr uint64_t kLowValueOutput = 10;
constexpr uint64_t kHugeResult = 8192;
constexpr size_t kHugeCarried = 3;

using Convs = std::map<uint64_t, std::vector<int>>;

// One session's findings, summed per (kind, reason).
class Acc {
 public:
  Acc(Analysis& a, int session) : a_(a), session_(session) {}
  Finding& add(const std::string& kind, const std::string& reason, Request& q, uint64_t tokens, double waste) {
    Finding& f = by_[{kind, reason}];
    f.kind = kind;
    f.reason = reason;
    f.session = session_;
    if (f.requests.empty() || f.requests.back() != q.n) f.requests.push_back(q.n);
    f.tokens += tokens;
    f.waste_usd += waste;
    q.waste_usd += waste;
    if (std::find(q.findings.begin(), q.findings.end(), kind) == q.findings.end()) q.findings.push_back(kind);
    return f;
  }
  ~Acc() {
    for (auto& [k, f] : by_) a_.findings.push_back(std::move(f));
  }

 private:
  Analysis& a_;
  int session_;
  std::map<std::pair<std::string, std::string>, Finding> by_;
};

double saving_per_token(const Request& q) {
  return q.rates ? std::max(0.0, q.rates->input - q.rates->cache_read) : 0;
}

uint64_t gap_ns(const v1::ApiRequest& prev, const v1::ApiRequest& cur) {
  uint64_t end = end_ns(prev);
  return cur.start_unix_ns() > end ? cur.start_unix_ns() - end : 0;
}

bool explicit_caching(const v1::ApiRequest& r) {
  return r.wire_format() == "anthropic_messages" || r.wire_format() == "bedrock_invoke";
}

void cache_misses(Acc& acc, Analysis& a, const Convs& convs, const Options& o) {
  for (const auto& [conv, idx] : convs)
    for (size_t k = 1; k < idx.size(); ++k) {
      Request& q = a.requests[idx[k]];
      const Request& p = a.requests[idx[k - 1]];
      uint64_t cached = q.record->cache_read_tokens();
      double save = saving_per_token(q);
      if (q.unchanged_prefix_tokens >= kMinResent && cached * 2 < q.unchanged_prefix_tokens) {
        uint64_t missed = q.unchanged_prefix_tokens - cached;
        const char* why = gap_ns(*p.record, *q.record) > ttl_ns(*p.record, o) ? "expired"
                          : explicit_caching(*q.record) && !q.record->anatomy().cache_breakpoints() ? "no_breakpoints"
                                                                                                     : "not_served";
        acc.add("cache_miss", why, q, missed, usd(missed, save));
      } else if (p.prompt_tokens >= kMinResent && q.prompt_tokens >= p.prompt_tokens &&
                 q.unchanged_prefix_tokens * 2 < p.prompt_tokens && cached * 2 < p.prompt_tokens) {
        uint64_t missed = p.prompt_tokens - std::max(cached, q.unchanged_prefix_tokens);
        acc.add("cache_miss", "prefix_changed", q, missed, usd(missed, save));
      }
    }
}

// The write premium over plain input, per cache lifetime.
double write_premium(const Request& q) {
  if (!q.rates) return 0;
  auto [w5, w1] = writes_of(*q.record);
  return usd(w5, std::max(0.0, q.rates->cache_write_5m - q.rates->input)) +
         usd(w1, std::max(0.0, q.rates->cache_write_1h - q.rates->input));
}

void unread_writes(Acc& acc, Analysis& a, const Convs& convs, const Options& o) {
  for (const auto& [conv, idx] : convs)
    for (size_t k = 0; k < idx.size(); ++k) {
      Request& q = a.requests[idx[k]];
      // Without its anatomy (an older record, TLS seen at the socket) its conversation is unknown.
      if (!q.record->cache_write_tokens() || !q.record->anatomy().prefix_hashes_size()) continue;
      uint64_t end = end_ns(*q.record);
      bool read = false;
      for (size_t j = k + 1; j < idx.size() && !read; ++j) {
        const v1::ApiRequest& later = *a.requests[idx[j]].record;
        read = later.cache_read_tokens() > 0 && later.start_unix_ns() <= end + ttl_ns(*q.record, o);
      }
      if (!read) acc.add("cache_write_unread", "", q, q.record->cache_write_tokens(), write_premium(q));
    }
}

void resets_and_compactions(Acc& acc, Analysis& a, const Convs& convs) {
  for (const auto& [conv, idx] : convs)
    for (size_t k = 1; k < idx.size(); ++k) {
      const Request& p = a.requests[idx[k - 1]];
      Request& q = a.requests[idx[k]];
      // Only a prompt the provider counted: a refused call reports none.
      if (p.prompt_tokens >= kMinCompacted && q.prompt_tokens && q.record->billable() &&
          q.prompt_tokens * 2 < p.prompt_tokens)
        acc.add("compaction", "", q, p.prompt_tokens - q.prompt_tokens, 0);
    }
  // A conversation that starts once an earlier one (of 3 or more requests) is over.
  for (const auto& [conv, idx] : convs) {
    if (idx.size() < 2) continue;
    Request& first = a.requests[idx.front()];
    for (const auto& [other, oidx] : convs) {
      if (other == conv || oidx.size() < 3 || oidx.back() > idx.front()) continue;
      acc.add("context_reset", "", first, a.requests[oidx.back()].prompt_tokens, 0);
      break;
    }
  }
}

void retries(Acc& acc, Analysis& a, const Convs& convs) {
  for (const auto& [conv, idx] : convs)
    for (size_t k = 1; k < idx.size(); ++k) {
      Request& p = a.requests[idx[k - 1]];
      Request& q = a.requests[idx[k]];
      const auto &pa = p.record->anatomy(), &qa = q.record->anatomy();
      if (!pa.prefix_hashes_size() || pa.prefix_hashes_size() != qa.prefix_hashes_size()) continue;
      if (pa.prefix_hashes(pa.prefix_hashes_size() - 1) != qa.prefix_hashes(qa.prefix_hashes_size() - 1) ||
          pa.new_content_hash() != qa.new_content_hash())
        continue;
      acc.add("retry", "", q, p.prompt_tokens, p.record->cost_usd());
      q.waste_usd -= p.record->cost_usd();  // what was spent twice is the attempt before
      p.waste_usd += p.record->cost_usd();
    }
}

void low_value(Acc& acc, Analysis& a, const std::vector<int>& members) {
  for (int i : members) {
    Request& q = a.requests[i];
    const v1::ApiRequest& r = *q.record;
    if (q.prompt_tokens < kLowValuePrompt || r.output_tokens() > kLowValueOutput || r.status() != 200 ||
        !r.billable() || !r.complete())
      continue;
    acc.add("low_value", "", q, q.prompt_tokens, q.prompt_rate * q.prompt_tokens);
  }
}

// The prompt's text bytes (its parts'), the unit tool definitions and tool
// results are measured in.
uint64_t text_bytes(const v1::ContextAnatomy& an) {
  return an.system().bytes() + an.tools().bytes() + an.history().bytes() + an.tool_results().bytes() +
         an.new_content().bytes();
}

void unused_tools(Acc& acc, Analysis& a, const std::vector<int>& members) {
  if (members.size() < 3) return;
  std::set<std::string> called, unused;
  for (int i : members)
    for (const std::string& t : a.requests[i].record->tools_called()) called.insert(t);
  for (int i : members)
    for (const std::string& t : a.requests[i].record->anatomy().tool_names())
      if (!called.count(t)) unused.insert(t);
  if (unused.empty()) return;
  for (int i : members) {
    Request& q = a.requests[i];
    const auto& an = q.record->anatomy();
    uint64_t bytes = 0;
    for (int k = 0; k < an.tool_names_size() && k < an.tool_bytes_size(); ++k)
      if (unused.count(an.tool_names(k))) bytes += an.tool_bytes(k);
    uint64_t tokens = scaled(bytes, text_bytes(an), q.prompt_tokens);
    if (tokens) acc.add("unused_tools", "", q, tokens, tokens * q.prompt_rate).names.assign(unused.begin(), unused.end());
  }
}

void huge_tool_results(Acc& acc, Analysis& a, const Convs& convs) {
  for (const auto& [conv, idx] : convs) {
    std::set<uint64_t> seen;
    for (size_t k = 0; k < idx.size(); ++k) {
      const auto& an = a.requests[idx[k]].record->anatomy();
      uint64_t h = an.largest_tool_result_hash(), bytes = an.largest_tool_result_bytes();
      uint64_t tokens = scaled(bytes, text_bytes(an), a.requests[idx[k]].prompt_tokens);
      if (!h || seen.count(h) || tokens < kHugeResult || bytes * 4 < text_bytes(an)) continue;
      seen.insert(h);
      std::vector<int> later;
      for (size_t j = k + 1; j < idx.size(); ++j)
        if (a.requests[idx[j]].record->anatomy().largest_tool_result_hash() == h) later.push_back(idx[j]);
      if (later.size() < kHugeCarried) continue;
      for (int j : later) {
        Request& q = a.requests[j];
        const auto& qa = q.record->anatomy();
        uint64_t t = scaled(qa.largest_tool_result_bytes(), text_bytes(qa), q.prompt_tokens);
        acc.add("huge_tool_result", "", q, t, t * q.prompt_rate);
      }
    }
  }
}

}  // namespace

void find_all(Analysis& a, int session, const std::vector<int>& members, const Convs& convs,
              const Options& opts) {
  Acc acc(a, session);
  cache_misses(acc, a, convs, opts);
  unread_writes(acc, a, convs, opts);
  resets_and_compactions(acc, a, convs);
  retries(acc, a, convs);
  low_value(acc, a, members);
  unused_tools(acc, a, members);
  huge_tool_results(acc, a, convs);
}

}  // namespace tt::analysis::detail
