// `tokentap prices`: which entries, and how they are shown.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <tuple>
#include <nlohmann/json.hpp>

#include "pricing/pricing.h"

namespace tt::pricing {

namespace {

bool contains_ci(std::string_view hay, std::string_view needle) {
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) ==
                                                    std::tolower(static_cast<unsigned char>(b)); });
  return it != hay.end();
}

bool equals_ci(std::string_view a, std::string_view b) { return a.size() == b.size() && contains_ci(a, b); }

// A price as written: no trailing zeros, no exponent ("3", "0.0028", "22.5").
std::string num(double v) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.6f", v);
  std::string s = buf;
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s;
}

std::string rates_text(const Rates& r) {
  return num(r.input) + "/" + num(r.output) + "/" + num(r.cache_read) + "/" + num(r.cache_write_5m) + "/" +
         num(r.cache_write_1h);
}

std::string hhmm(uint16_t m) {
  char buf[8];
  snprintf(buf, sizeof buf, "%02u:%02u", m / 60u, m % 60u);
  return buf;
}

std::string windows_text(const Entry& e) {
  std::string s;
  for (const PeakWindow& w : e.peak_hours_utc) s += (s.empty() ? "" : ",") + hhmm(w.begin_min) + "-" + hhmm(w.end_min);
  return s;
}

// Tiers and the off-peak rule, in a few words.
std::string notes(const Entry& e) {
  std::string s;
  for (const Tier& t : e.tiers)
    s += (s.empty() ? "" : "; ") + std::string(">") + std::to_string(t.above_input_tokens) + ": " + rates_text(t.rates);
  if (!e.peak_hours_utc.empty())
    s += (s.empty() ? "" : "; ") + std::string("x") + num(e.off_peak_factor) + " off-peak (peak " + windows_text(e) +
         " UTC" + (e.peak_weekdays_only ? " weekdays" : "") + ")";
  return s.empty() ? "-" : s;
}

std::string effective(const Entry& e) {
  if (e.effective_from.empty() && e.effective_until.empty()) return "-";
  return (e.effective_from.empty() ? "" : e.effective_from) + ".." + e.effective_until;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ",") + x;
  return s.empty() ? "-" : s;
}

}  // namespace

std::vector<const Entry*> select(const PriceTable& t, std::string_view provider, std::string_view model) {
  std::vector<std::string> keys = model.empty() ? std::vector<std::string>{} : model_keys(model);
  auto id_matches = [&](const std::string& id) {
    std::vector<std::string> own = model_keys(id);
    return contains_ci(id, model) || (!own.empty() && std::find(keys.begin(), keys.end(), own.front()) != keys.end());
  };
  auto matches_model = [&](const Entry& e) {
    return model.empty() || id_matches(e.model) || std::any_of(e.aliases.begin(), e.aliases.end(), id_matches);
  };
  std::vector<const Entry*> out;
  for (const Entry& e : t.entries())
    if ((provider.empty() || equals_ci(e.provider, provider)) && matches_model(e)) out.push_back(&e);
  std::stable_sort(out.begin(), out.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->provider, a->model, a->effective_from) < std::tie(b->provider, b->model, b->effective_from);
  });
  return out;
}

std::string format_table(const std::vector<const Entry*>& entries) {
  std::vector<std::vector<std::string>> rows = {{"PROVIDER", "MODEL", "INPUT", "OUTPUT", "CACHE_READ", "WRITE_5M",
                                                 "WRITE_1H", "TIERS (in/out/read/5m/1h) / OFF-PEAK", "EFFECTIVE",
                                                 "ORIGIN", "SOURCE", "READ", "ALIASES"}};
  for (const Entry* e : entries)
    rows.push_back({e->provider, e->model, num(e->rates.input), num(e->rates.output), num(e->rates.cache_read),
                    num(e->rates.cache_write_5m), num(e->rates.cache_write_1h), notes(*e), effective(*e), e->origin,
                    e->source.empty() ? "-" : e->source, e->source_date.empty() ? "-" : e->source_date,
                    joined(e->aliases)});
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + '\n';
  }
  return out;
}

std::string format_json(const std::vector<const Entry*>& entries) {
  auto rates_json = [](const Rates& r) {
    return nlohmann::json{{"input", r.input},
                          {"output", r.output},
                          {"cache_read", r.cache_read},
                          {"cache_write_5m", r.cache_write_5m},
                          {"cache_write_1h", r.cache_write_1h}};
  };
  std::string out;
  for (const Entry* e : entries) {
    nlohmann::json j = {{"provider", e->provider},
                        {"model", e->model},
                        {"aliases", e->aliases},
                        {"effective_from", e->effective_from},
                        {"effective_until", e->effective_until},
                        {"rates", rates_json(e->rates)},
                        {"tiers", nlohmann::json::array()},
                        {"origin", e->origin},
                        {"source", e->source},
                        {"source_date", e->source_date}};
    for (const Tier& t : e->tiers)
      j["tiers"].push_back({{"above_input_tokens", t.above_input_tokens}, {"rates", rates_json(t.rates)}});
    if (!e->peak_hours_utc.empty()) {
      j["off_peak_factor"] = e->off_peak_factor;
      j["peak_hours_utc"] = nlohmann::json::array();
      for (const PeakWindow& w : e->peak_hours_utc) j["peak_hours_utc"].push_back(hhmm(w.begin_min) + "-" + hhmm(w.end_min));
      j["peak_weekdays_only"] = e->peak_weekdays_only;
    }
    out += j.dump() + '\n';
  }
  return out;
}

}  // namespace tt::pricing
