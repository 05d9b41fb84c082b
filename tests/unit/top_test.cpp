// tokentap top: the daemon's snapshot (records in, rows, rates and cache hits
// out, exact) and the screen (never wider than the terminal).
#include <gtest/gtest.h>

#include "top/client.h"
#include "top/render.h"
#include "top/snapshot.h"

namespace tt::top {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

v1::ApiRequest request(uint32_t pid, const std::string& session, const std::string& project, uint64_t input,
                       uint64_t cache_read, uint64_t cache_write, uint64_t output) {
  v1::ApiRequest rec;
  auto* r = &rec;
  r->set_pid(pid);
  r->set_comm("claude");
  r->set_user("alice");
  r->set_session_id(session);
  r->set_harness("claude-code");
  r->set_project(project);
  r->set_input_tokens(input);
  r->set_cache_read_tokens(cache_read);
  r->set_cache_write_tokens(cache_write);
  r->set_output_tokens(output);
  return rec;
}

TEST(TopSnapshot, RowsRatesAndCacheHitsExact) {
  Tracker t;
  t.add(request(10, "s1", "/src/a", 100, 300, 100, 50), 1000);  // outside the window at 1100
  t.add(request(10, "s1", "/src/a", 10, 80, 10, 5), 1090);
  t.add(request(10, "s1", "/src/a", 20, 60, 20, 7), 1100);
  t.add(request(20, "s2", "/src/b", 1, 0, 0, 1), 1099);
  auto s = t.snapshot(1100 * kSec + 1);
  ASSERT_EQ(s["processes"].size(), 2u);
  const auto& p = s["processes"][0];  // the busiest first
  EXPECT_EQ(p["name"], "claude 10");
  EXPECT_EQ(p["detail"], "alice");
  EXPECT_EQ(p["minute"]["requests"], 2);
  EXPECT_EQ(p["minute"]["tokens"], 10 + 80 + 10 + 5 + 20 + 60 + 20 + 7);
  EXPECT_EQ(p["total"]["requests"], 3);
  EXPECT_EQ(p["total"]["tokens"], 550 + 105 + 107);
  EXPECT_DOUBLE_EQ(cache_hit_pct({2, 30, 140, 30, 12}), 70.0);
  EXPECT_EQ(s["sessions"][0]["name"], "s1");
  EXPECT_EQ(s["sessions"][0]["detail"], "claude-code");
  EXPECT_EQ(s["projects"][1]["name"], "/src/b");
  EXPECT_EQ(s["projects"][1]["minute"]["requests"], 1);
  EXPECT_EQ(s["total"]["requests"], 4);
  // A minute later only the totals remain.
  auto later = t.snapshot(1160 * kSec);
  EXPECT_EQ(later["processes"][0]["minute"]["requests"], 0);
  EXPECT_EQ(later["processes"][0]["total"]["requests"], 3);
}

TEST(TopSnapshot, NoCacheInputReadsAsNone) { EXPECT_LT(cache_hit_pct({1, 0, 0, 0, 9}), 0); }

TEST(TopSnapshot, KeysAndRowsAreBounded) {
  Tracker t;
  for (uint32_t i = 0; i < kMaxKeys + 50; ++i)
    t.add(request(i + 1, std::string(200, 'x') + std::to_string(i), "", 1, 0, 0, 1), 1000 + i);
  auto s = t.snapshot(1000 * kSec + (kMaxKeys + 50) * kSec);
  EXPECT_EQ(s["processes"].size(), kMaxRows);
  EXPECT_EQ(s["projects"][0]["name"], "(none)");
  for (const auto& r : s["sessions"]) EXPECT_LE(r["name"].get<std::string>().size(), kMaxLabelBytes);
  EXPECT_LT(s.dump().size(), 64u << 10);
}

TEST(TopSnapshot, RecordsCountWhenTheyArrive) {
  Tracker t;
  v1::Record rec;
  rec.mutable_request()->set_input_tokens(5);
  rec.mutable_request()->set_end_unix_ns(1);  // a clock far off does not matter
  t.write(rec);
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  auto s = t.snapshot(uint64_t(ts.tv_sec) * kSec);
  EXPECT_EQ(s["processes"][0]["minute"]["tokens"], 5);
}

TEST(TopSnapshot, LossesFromCaptureStats) {
  Tracker t;
  v1::CaptureStats cs;
  cs.set_events_lost(3);
  cs.set_incomplete_requests(2);
  t.set_capture_stats(cs);
  auto s = t.snapshot(0);
  EXPECT_EQ(s["losses"]["events_lost"], 3);
  EXPECT_EQ(s["losses"]["incomplete_requests"], 2);
}

TEST(TopRender, NoLineWiderThanTheTerminal) {
  Tracker t;
  for (uint32_t i = 0; i < 30; ++i)
    t.add(request(4000000 + i, "session-" + std::string(100, 's'), "/home/someone/a/very/long/project/path/x",
                  123456789012ull, 999999999999ull, 1, 7777777),
          1000);
  auto s = t.snapshot(1000 * kSec);
  for (size_t width : {80, 100, 132, 200}) {
    std::string out = render(s, width, 24);
    size_t lines = 0;
    for (size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1, ++lines)
      EXPECT_LE(nl - at, width) << out.substr(at, nl - at);
    EXPECT_LE(lines, 24u);
  }
}

TEST(TopRender, FiguresShownExactlyWhenTheyFit) {
  Tracker t;
  t.add(request(77, "sess", "/home/someone/" + std::string(60, 'x') + "/repo-42", 100, 300, 100, 25), 1000);
  std::string out = render(t.snapshot(1000 * kSec), 80, 0);
  EXPECT_NE(out.find("claude 77"), std::string::npos) << out;
  EXPECT_NE(out.find("~xxxxxxxxxxxx/repo-42 "), std::string::npos) << out;  // a path's end
  EXPECT_NE(out.find(" 525    60%"), std::string::npos) << out;  // tokens/min, cache hit
  EXPECT_EQ(fit_number(1234567, 5), "1235k");
  EXPECT_EQ(fit_number(1234567, 4), "1.2M");
  EXPECT_EQ(fit_number(1234567, 7), "1234567");
}

TEST(TopRender, TrafficTextCannotReachTheTerminalAsEscapes) {
  Tracker t;
  t.add(request(1, "\x1b]0;pwned\x07", "/p", 1, 0, 0, 1), 1000);
  std::string out = render(t.snapshot(1000 * kSec), 80, 0);
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_EQ(out.find('\x07'), std::string::npos);
}

TEST(TopClient, ErrorsSayWhatToDo) {
  EXPECT_NE(connect_error("/run/x.sock", ENOENT).find("tokentap daemon --top-socket /run/x.sock"), std::string::npos);
  EXPECT_NE(connect_error("/run/x.sock", EACCES).find("run tokentap top as root, or join"), std::string::npos);
}

}  // namespace
}  // namespace tt::top
