#include "analysis/diff.h"

#include <cstdio>

#include "sink/report.h"

namespace tt::analysis {
namespace {

struct Measure {
  std::string name;
  double a, b;
  enum Kind { Count, Money, Percent } kind;
};

int turns_of(const Analysis& x) {
  int n = 0;
  for (const Session& s : x.sessions) n += static_cast<int>(s.turns.size());
  return n;
}

double cached_share(const Analysis& x) {
  return x.totals.prompt_tokens ? 100.0 * x.totals.cache_read_tokens / x.totals.prompt_tokens : 0;
}

std::vector<Measure> measures(const Analysis& a, const Analysis& b) {
  using M = Measure;
  std::vector<M> out = {
      {"requests", double(a.totals.requests), double(b.totals.requests), M::Count},
      {"sessions", double(a.sessions.size()), double(b.sessions.size()), M::Count},
      {"turns", double(turns_of(a)), double(turns_of(b)), M::Count},
      {"prompt tokens", double(a.totals.prompt_tokens), double(b.totals.prompt_tokens), M::Count},
      {"  served from cache", cached_share(a), cached_share(b), M::Percent},
      {"  uncached input", double(a.totals.input_tokens), double(b.totals.input_tokens), M::Count},
      {"  cache writes", double(a.totals.cache_write_tokens), double(b.totals.cache_write_tokens), M::Count},
      {"output tokens", double(a.totals.output_tokens), double(b.totals.output_tokens), M::Count},
      {"cost", a.totals.cost_usd, b.totals.cost_usd, M::Money},
      {"unpriced requests", double(a.totals.unpriced_requests), double(b.totals.unpriced_requests), M::Count},
      {"avoidable waste", a.totals.waste_usd, b.totals.waste_usd, M::Money},
  };
  for (const auto& [kind, usd] : a.waste_by_category) {
    double other = b.waste_by_category.count(kind) ? b.waste_by_category.at(kind) : 0;
    if (usd > 0 || other > 0) out.push_back({"  " + kind, usd, other, M::Money});
  }
  return out;
}

std::string cell(double v, Measure::Kind k) {
  if (k == Measure::Money) return sink::usd(v);
  if (k == Measure::Percent) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%.1f%%", v);
    return buf;
  }
  return sink::thousands(static_cast<uint64_t>(v < 0 ? 0 : v));
}

std::string change(const Measure& m) {
  double d = m.b - m.a;
  char buf[64];
  if (m.kind == Measure::Percent) {
    snprintf(buf, sizeof(buf), "%+.1f pts", d);
    return buf;
  }
  std::string abs = (d < 0 ? "-" : "+") + cell(d < 0 ? -d : d, m.kind);
  if (m.a == 0) return d == 0 ? "=" : abs;
  snprintf(buf, sizeof(buf), " (%+.0f%%)", 100.0 * d / m.a);
  return d == 0 ? "=" : abs + buf;
}

std::string label(const Analysis& x, const char* side) {
  return std::string(side) + ": " + (x.scope.label.empty() ? x.scope.run_id : x.scope.label);
}

}  // namespace

std::string render_diff(const Analysis& a, const Analysis& b) {
  std::vector<Measure> ms = measures(a, b);
  std::string out = label(a, "A") + "\n" + label(b, "B") + "\n\n";
  char line[256];
  snprintf(line, sizeof(line), "  %-22s %16s %16s  %s\n", "", "A", "B", "B - A");
  out += line;
  for (const Measure& m : ms) {
    snprintf(line, sizeof(line), "  %-22s %16s %16s  %s\n", m.name.c_str(), cell(m.a, m.kind).c_str(),
             cell(m.b, m.kind).c_str(), change(m).c_str());
    out += line;
  }
  for (auto [x, side] : {std::pair{&a, "A"}, std::pair{&b, "B"}}) {
    out += std::string("\n") + side + ":\n";
    for (const std::string& v : x->verdict) out += "  " + v + "\n";
  }
  return out;
}

nlohmann::ordered_json diff_json(const Analysis& a, const Analysis& b) {
  nlohmann::ordered_json j;
  j["a"] = {{"label", a.scope.label}, {"run_id", a.scope.run_id}, {"verdict", a.verdict}};
  j["b"] = {{"label", b.scope.label}, {"run_id", b.scope.run_id}, {"verdict", b.verdict}};
  j["rows"] = nlohmann::ordered_json::array();
  for (const Measure& m : measures(a, b)) {
    std::string name = m.name;
    name.erase(0, name.find_first_not_of(' '));
    j["rows"].push_back({{"measure", name}, {"a", m.a}, {"b", m.b}, {"change", m.b - m.a}});
  }
  return j;
}

}  // namespace tt::analysis
