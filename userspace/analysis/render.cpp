// The analysis in words (findings, verdicts, the terminal summary) and as JSON.
#include <algorithm>
#include <cstdarg>
#include <cstdio>

#include "analysis/internal.h"
#include "sink/report.h"

namespace tt::analysis {
namespace {

using sink::thousands;
using sink::usd;

// The kinds that can cost something, in the order reports list them.
constexpr const char* kWasteKinds[] = {"cache_miss", "cache_write_unread", "retry", "low_value", "unused_tools",
                                       "huge_tool_result"};

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof(buf), f, ap);
  va_end(ap);
  return buf;
}

std::string plural(size_t n, const char* one, const char* many) { return thousands(n) + " " + (n == 1 ? one : many); }

std::string names(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < 5; ++i) out += (i ? ", " : "") + v[i];
  return v.size() > 5 ? out + fmt(" and %zu more", v.size() - 5) : out;
}

std::string cache_miss_text(const Finding& f) {
  std::string n = plural(f.requests.size(), "request", "requests"), t = thousands(f.tokens);
  if (f.reason == "expired")
    return n + " re-sent " + t + " tokens after the cache had expired (idle longer than its lifetime): " +
           usd(f.waste_usd) + " more than reading them from cache.";
  if (f.reason == "no_breakpoints")
    return n + " re-sent " + t + " unchanged tokens with no cache breakpoint (cache_control) to read them from: " +
           usd(f.waste_usd) + ".";
  if (f.reason == "prefix_changed")
    return n + " re-sent " + t + " tokens of context whose beginning had changed, so the cache could not match it: " +
           usd(f.waste_usd) + ".";
  return n + " re-sent " + t + " unchanged tokens the provider did not serve from cache: " + usd(f.waste_usd) + ".";
}

std::string text_of(const Finding& f) {
  size_t n = f.requests.size();
  if (f.kind == "cache_miss") return cache_miss_text(f);
  if (f.kind == "cache_write_unread")
    return plural(n, "cache write", "cache writes") + " of " + thousands(f.tokens) +
           " tokens were never read back: " + usd(f.waste_usd) + " of write premium.";
  if (f.kind == "context_reset")
    return "The context was reset " + plural(n, "time", "times") + ": the next conversation built its cache again.";
  if (f.kind == "compaction")
    return "The context was compacted " + plural(n, "time", "times") + " (the prompt shrank by more than half, " +
           thousands(f.tokens) + " tokens dropped).";
  if (f.kind == "retry")
    return plural(n, "request was a retry", "requests were retries") + " of the same prompt: " + usd(f.waste_usd) +
           " spent on the attempts before.";
  if (f.kind == "low_value")
    return plural(n, "request", "requests") + " sent " + thousands(f.tokens) +
           " tokens of context for 10 output tokens or fewer: " + usd(f.waste_usd) + ".";
  if (f.kind == "unused_tools")
    return plural(f.names.size(), "tool definition was", "tool definitions were") + " sent and never called (" +
           names(f.names) + "): " + thousands(f.tokens) + " tokens over " + plural(n, "request", "requests") + ", " +
           usd(f.waste_usd) + ".";
  if (f.kind == "huge_tool_result")
    return "A large tool result was carried by " + plural(n, "later request", "later requests") + ": " +
           thousands(f.tokens) + " tokens, " + usd(f.waste_usd) + ".";
  return f.kind;
}

bool costlier(const Finding& x, const Finding& y) {
  if (x.waste_usd != y.waste_usd) return x.waste_usd > y.waste_usd;
  return x.tokens > y.tokens;
}

// The cost, the avoidable share, and the three costliest findings.
std::vector<std::string> verdict_of(double cost, int unpriced, double waste, const std::vector<const Finding*>& fs,
                                    uint64_t prompt, uint64_t cached, int requests) {
  std::vector<std::string> out;
  std::string head = "Cost " + usd(cost) + " for " + plural(requests, "request", "requests") + ", " +
                     thousands(prompt) + " prompt tokens";
  if (prompt) head += fmt(", %.0f%% of them served from cache", 100.0 * cached / prompt);
  if (unpriced) head += " (" + plural(unpriced, "request", "requests") + " of unknown price not included)";
  out.push_back(head + ".");
  if (waste > 0)
    out.push_back(fmt("Avoidable: %s (%.0f%% of the cost).", usd(waste).c_str(), cost > 0 ? 100.0 * waste / cost : 0));
  for (size_t i = 0; i < fs.size() && i < 3; ++i) out.push_back(fs[i]->text);
  if (fs.empty()) out.push_back("Nothing wasteful found.");
  return out;
}

}  // namespace

namespace detail {

void summarise(Analysis& a) {
  for (const char* k : kWasteKinds) a.waste_by_category[k] = 0;
  for (Finding& f : a.findings) {
    f.text = text_of(f);
    a.waste_by_category[f.kind] += f.waste_usd;
  }
  // The kinds overlap (a huge tool result that also missed the cache counts in
  // both): the totals charge no request more than it cost.
  for (const Request& q : a.requests) {
    double w = std::min(std::max(0.0, q.waste_usd), q.record->cost_usd());
    a.totals.waste_usd += w;
    a.sessions[q.session].waste_usd += w;
  }
  std::stable_sort(a.findings.begin(), a.findings.end(), costlier);
  std::vector<const Finding*> all;
  for (const Finding& f : a.findings) all.push_back(&f);
  a.verdict = verdict_of(a.totals.cost_usd, a.totals.unpriced_requests, a.totals.waste_usd, all, a.totals.prompt_tokens,
                         a.totals.cache_read_tokens, a.totals.requests);
  // Each session's findings and prompt figures, in one pass over each list.
  struct Sums {
    std::vector<const Finding*> findings;
    uint64_t prompt = 0, cached = 0;
    int unpriced = 0;
  };
  std::vector<Sums> per(a.sessions.size());
  for (const Finding& f : a.findings)
    if (f.session >= 0) per[f.session].findings.push_back(&f);
  for (const Request& q : a.requests) {
    Sums& m = per[q.session];
    m.prompt += q.prompt_tokens;
    m.cached += q.record->cache_read_tokens();
    m.unpriced += q.record->cost_source() == "unknown_model";
  }
  for (size_t s = 0; s < a.sessions.size(); ++s) {
    Session& ss = a.sessions[s];
    ss.verdict = verdict_of(ss.cost_usd, per[s].unpriced, ss.waste_usd, per[s].findings, per[s].prompt, per[s].cached,
                            ss.requests);
  }
}

}  // namespace detail

nlohmann::ordered_json to_json(const Analysis& a) {
  using J = nlohmann::ordered_json;
  J j;
  j["version"] = 1;
  j["scope"] = {{"kind", a.scope.kind}, {"run_id", a.scope.run_id}, {"since_unix_ns", a.scope.since_unix_ns},
                {"until_unix_ns", a.scope.until_unix_ns}, {"label", a.scope.label}};
  const Totals& t = a.totals;
  j["totals"] = {{"requests", t.requests}, {"cost_usd", t.cost_usd}, {"unpriced_requests", t.unpriced_requests},
                 {"input_tokens", t.input_tokens}, {"cache_read_tokens", t.cache_read_tokens},
                 {"cache_write_tokens", t.cache_write_tokens}, {"output_tokens", t.output_tokens},
                 {"prompt_tokens", t.prompt_tokens}, {"waste_usd", t.waste_usd}};
  j["waste_by_category"] = J::object();
  for (const char* k : kWasteKinds) j["waste_by_category"][k] = a.waste_by_category.count(k) ? a.waste_by_category.at(k) : 0.0;
  j["verdict"] = a.verdict;
  j["findings"] = J::array();
  for (const Finding& f : a.findings)
    j["findings"].push_back({{"kind", f.kind}, {"reason", f.reason}, {"session", f.session}, {"requests", f.requests},
                             {"tokens", f.tokens}, {"waste_usd", f.waste_usd}, {"names", f.names}, {"text", f.text}});
  j["by_model"] = J::array();
  for (const ModelCost& m : a.by_model)
    j["by_model"].push_back({{"provider", m.provider}, {"model", m.model}, {"requests", m.requests},
                             {"cost_usd", m.cost_usd}, {"tokens", m.tokens}});
  j["sessions"] = J::array();
  for (const Session& s : a.sessions) {
    J turns = J::array();
    for (const Turn& u : s.turns)
      turns.push_back({{"turn", u.turn}, {"requests", u.requests}, {"main", u.main}, {"subagent", u.subagent},
                       {"side", u.side}, {"prompt_tokens", u.prompt_tokens}, {"output_tokens", u.output_tokens},
                       {"cost_usd", u.cost_usd}, {"subagent_cost_usd", u.subagent_cost_usd},
                       {"side_cost_usd", u.side_cost_usd}});
    j["sessions"].push_back({{"harness", s.harness}, {"session_id", s.session_id}, {"requests", s.requests},
                             {"cost_usd", s.cost_usd}, {"waste_usd", s.waste_usd}, {"verdict", s.verdict},
                             {"turns", turns}});
  }
  j["requests"] = J::array();
  for (const Request& q : a.requests) {
    const v1::ApiRequest& r = *q.record;
    j["requests"].push_back(
        {{"n", q.n}, {"session", q.session}, {"turn", q.turn}, {"role", q.role}, {"start_unix_ns", r.start_unix_ns()},
         {"provider", r.provider()}, {"model", r.model()}, {"status", r.status()}, {"input_tokens", r.input_tokens()},
         {"cache_read_tokens", r.cache_read_tokens()}, {"cache_write_tokens", r.cache_write_tokens()},
         {"output_tokens", r.output_tokens()}, {"prompt_tokens", q.prompt_tokens}, {"cost_usd", r.cost_usd()},
         {"anatomy",
          {{"system", q.anatomy.system}, {"tools", q.anatomy.tools}, {"history", q.anatomy.history},
           {"tool_results", q.anatomy.tool_results}, {"new_content", q.anatomy.new_content}}},
         {"unchanged_prefix_tokens", q.unchanged_prefix_tokens}, {"waste_usd", q.waste_usd},
         {"findings", q.findings}});
  }
  return j;
}

std::string render_summary(const Analysis& a) {
  std::string out = "\nWhere the tokens went (docs/analysis.md):\n";
  for (const std::string& v : a.verdict) out += "  " + v + "\n";
  if (a.totals.waste_usd > 0) {
    out += "  Avoidable by kind:";
    for (const char* k : kWasteKinds)
      if (a.waste_by_category.count(k) && a.waste_by_category.at(k) > 0)
        out += fmt(" %s %s;", k, usd(a.waste_by_category.at(k)).c_str());
    out.back() = '\n';
  }
  for (const Session& s : a.sessions) {
    out += fmt("  %s %s: %d requests in %zu turn(s), %s\n", s.harness.empty() ? "unknown" : s.harness.c_str(),
               s.session_id.c_str(), s.requests, s.turns.size(), usd(s.cost_usd).c_str());
    for (size_t i = 0; i < s.turns.size() && i < 10; ++i) {
      const Turn& u = s.turns[i];
      out += fmt("    turn %d: %zu calls (%d main, %d subagent, %d side), %s prompt tokens, %s", u.turn,
                 u.requests.size(), u.main, u.subagent, u.side, thousands(u.prompt_tokens).c_str(),
                 usd(u.cost_usd).c_str());
      if (u.subagent_cost_usd + u.side_cost_usd > 0 && u.cost_usd > 0) {
        double pct = 100.0 * (u.subagent_cost_usd + u.side_cost_usd) / u.cost_usd;
        out += pct < 0.5 ? std::string(" (<1% subagents and side calls)") : fmt(" (%.0f%% subagents and side calls)", pct);
      }
      out += "\n";
    }
    if (s.turns.size() > 10) out += fmt("    ... %zu more turns (tokentap report --html)\n", s.turns.size() - 10);
  }
  return out;
}

}  // namespace tt::analysis
