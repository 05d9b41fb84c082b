#include "top/render.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace tt::top {

namespace {

using nlohmann::json;

constexpr size_t kNumbers = 46;  // " REQ/MIN    TOK/MIN CACHE%    REQS      TOKENS"

std::string printable(const std::string& s) {
  std::string out = s;
  for (char& ch : out)
    if (ch < 0x20 || ch > 0x7e) ch = '?';
  return out;
}

// tail: a path, whose end tells projects apart ("~" + its last w-1 characters).
std::string cell(const std::string& s, size_t w, bool tail = false) {
  std::string p = printable(s);
  p = p.size() <= w ? p : tail && w > 1 ? "~" + p.substr(p.size() - (w - 1)) : p.substr(0, w);
  return p + std::string(w - p.size(), ' ');
}

std::string right(const std::string& s, size_t w) { return std::string(w > s.size() ? w - s.size() : 0, ' ') + s; }

uint64_t u(const json& j, const char* k) { return j.is_object() ? j.value(k, uint64_t{0}) : 0; }

std::string pct(const json& c) {
  uint64_t in = u(c, "input") + u(c, "cache_read") + u(c, "cache_write");
  if (!in) return "-";
  char b[16];
  snprintf(b, sizeof(b), "%.0f%%", 100.0 * double(u(c, "cache_read")) / double(in));
  return b;
}

std::string numbers(const json& minute, const json& total) {
  return right(fit_number(u(minute, "requests"), 7), 8) + right(fit_number(u(minute, "tokens"), 10), 11) +
         right(pct(minute), 7) + right(fit_number(u(total, "requests"), 7), 8) +
         right(fit_number(u(total, "tokens"), 11), 12);
}

struct Columns {
  size_t name, detail;
};

Columns columns(size_t width) {
  size_t room = width > kNumbers + 2 ? width - kNumbers - 1 : 20;
  size_t detail = std::min<size_t>(16, room / 3);
  return {std::min<size_t>(48, room - detail - 1), detail};
}

void table(std::vector<std::string>& out, const json& rows, const char* name, const char* detail, size_t width,
           size_t max_rows) {
  Columns c = columns(width);
  out.push_back(cell(name, c.name) + " " + cell(detail, c.detail) + " REQ/MIN    TOK/MIN CACHE%    REQS      TOKENS");
  size_t n = 0;
  for (const auto& r : rows.is_array() ? rows : json::array()) {
    if (max_rows && n++ >= max_rows) break;
    out.push_back(cell(r.value("name", ""), c.name, name == std::string("PROJECT")) + " " + cell(r.value("detail", ""), c.detail) +
                  numbers(r.value("minute", json()), r.value("total", json())));
  }
  if (rows.empty()) out.push_back("  (none yet)");
}

std::string clock_text(uint64_t unix_s) {
  time_t t = time_t(unix_s);
  tm tmv{};
  localtime_r(&t, &tmv);
  char b[16];
  strftime(b, sizeof(b), "%H:%M:%S", &tmv);
  return b;
}

void header(std::vector<std::string>& out, const json& s) {
  const json& t = s.value("total", json());
  out.push_back("tokentap top  " + clock_text(u(s, "unix_s")) + "  per minute: last " +
                std::to_string(u(s, "window_s")) + " s  (q quits)");
  out.push_back("all: " + std::to_string(u(t, "requests")) + " requests, " + std::to_string(u(t, "tokens")) +
                " tokens, cache hit " + pct(t));
  const json& l = s.value("losses", json());
  out.push_back("losses: events " + fit_number(u(l, "events_lost"), 6) + "  bytes " +
                fit_number(u(l, "bytes_lost"), 6) + "  unparsed " + fit_number(u(l, "bytes_unparsed"), 6) +
                "  parse " + fit_number(u(l, "parse_errors"), 5) + "  decode " + fit_number(u(l, "decode_errors"), 5) +
                "  incomplete " + fit_number(u(l, "incomplete_requests"), 5));
}

}  // namespace

// The first unit, then the most decimals (2 at most), that fit.
std::string fit_number(uint64_t n, size_t width) {
  std::string s = std::to_string(n);
  double v = double(n);
  for (const char* unit = "kMGTPE"; s.size() > width && *unit; ++unit) {
    v /= 1000;
    for (int decimals = 2; decimals >= 0; --decimals) {
      char b[32];
      snprintf(b, sizeof(b), "%.*f%c", decimals, v, *unit);
      s = b;
      if (s.size() <= width) break;
    }
  }
  return s;
}

std::string render(const json& s, size_t width, size_t height) {
  std::vector<std::string> lines;
  header(lines, s);
  // Three tables share what is left: a blank line and a heading each.
  size_t per = height ? (height > 3 + 3 * 2 + 3 ? (height - 3 - 3 * 2) / 3 : 1) : 0;
  const char* names[3][3] = {{"processes", "PROCESS", "USER"}, {"sessions", "SESSION", "HARNESS"},
                             {"projects", "PROJECT", ""}};
  for (const auto& t : names) {
    lines.push_back("");
    table(lines, s.value(t[0], json::array()), t[1], t[2], width, per);
  }
  std::string out;
  for (size_t i = 0; i < lines.size() && (!height || i < height); ++i) out += lines[i].substr(0, width) + "\n";
  return out;
}

}  // namespace tt::top
