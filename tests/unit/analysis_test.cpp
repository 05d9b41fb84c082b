// The analysis (docs/analysis.md) on two hand-built sessions whose every
// finding, turn and waste figure is worked out below.
#include <gtest/gtest.h>

#include "analysis/analysis.h"

namespace {

namespace v1 = tokentap::v1;
using tt::analysis::Analysis;
using tt::analysis::Finding;

// $3 in, $15 out, $0.30 cache read, $3.75 / $6 cache writes per million tokens.
const tt::pricing::PriceTable& prices() {
  static const tt::pricing::PriceTable t = *tt::pricing::PriceTable::parse(R"(
[[model]]
provider = "anthropic"
model = "m"
input = 3.0
output = 15.0
cache_read = 0.3
cache_write_5m = 3.75
cache_write_1h = 6.0
source = "test"
source_date = "2026-11-30"
)", "test");
  return t;
}

constexpr uint64_t kS = 1'000'000'000;
constexpr uint64_t kT0 = 1'796'000'000 * kS;

struct Spec {
  std::string session;
  uint64_t conv;
  double t;  // seconds after kT0; each request lasts 1 s
  std::vector<uint64_t> hashes, bytes;  // the prefix chain
  uint64_t input, cache_read, cache_write, output;
  uint64_t new_content = 0;  // hash; a new user turn when set
  uint32_t breakpoints = 2;
  uint32_t status = 200;
};

v1::ApiRequest make(const Spec& s) {
  v1::ApiRequest r;
  r.set_provider("anthropic");
  r.set_model("m");
  r.set_wire_format("anthropic_messages");
  r.set_harness("h");
  r.set_session_id(s.session);
  r.set_start_unix_ns(kT0 + static_cast<uint64_t>(s.t * kS));
  r.set_end_unix_ns(r.start_unix_ns() + kS);
  r.set_status(s.status);
  r.set_billable(true);
  r.set_input_tokens(s.input);
  r.set_cache_read_tokens(s.cache_read);
  r.set_cache_write_tokens(s.cache_write);
  r.set_cache_write_5m_tokens(s.cache_write);
  r.set_output_tokens(s.output);
  r.set_cost_usd((s.input * 3 + s.cache_read * 0.3 + s.cache_write * 3.75 + s.output * 15) / 1e6);
  r.set_cost_source("price_table");
  r.set_complete(true);
  auto* a = r.mutable_anatomy();
  a->set_conversation_hash(s.conv);
  for (uint64_t h : s.hashes) a->add_prefix_hashes(h);
  for (uint64_t b : s.bytes) a->add_prefix_bytes(b);
  // The parts' text bytes: all of it, here, as the history (only their sum is read).
  if (!s.bytes.empty()) a->mutable_history()->set_bytes(s.bytes.back());
  a->set_new_user_turn(s.new_content != 0);
  a->set_new_content_hash(s.new_content);
  a->set_cache_breakpoints(s.breakpoints);
  a->set_cache_ttl_seconds(s.breakpoints ? 300 : 0);
  return r;
}

// Session s1 (one conversation, 100, plus a side call): tools "read" and "write"
// defined in every main request (2,000 bytes each), only "read" ever called.
std::vector<v1::ApiRequest> session_one() {
  std::vector<v1::ApiRequest> out;
  auto main = [&](double t, int blocks, uint64_t in, uint64_t cr, uint64_t cw, uint64_t out_tok, uint64_t nc) {
    std::vector<uint64_t> h, b;
    for (int i = 0; i < blocks; ++i) h.push_back(11 + i), b.push_back(10000 + 2000 * i);
    v1::ApiRequest r = make({"s1", 100, t, h, b, in, cr, cw, out_tok, nc});
    r.mutable_anatomy()->add_tool_names("read");
    r.mutable_anatomy()->add_tool_bytes(2000);
    r.mutable_anatomy()->add_tool_names("write");
    r.mutable_anatomy()->add_tool_bytes(2000);
    out.push_back(r);
    return &out.back();
  };
  main(0, 1, 500, 0, 2000, 100, 1)->add_tools_called("read");  // R1: 10,000 B, 2,500 tokens, writes the cache
  main(10, 2, 0, 2500, 500, 100, 0);      // R2: tool round, 12,000 B, reads R1's write, writes 500 never read
  v1::ApiRequest* r3 = main(400, 3, 3500, 0, 0, 0, 0);  // R3: 389 s idle: the cache expired; an aborted attempt
  r3->set_complete(false);
  main(410, 3, 0, 0, 3500, 100, 0);       // R4: the same prompt again (a retry), written to cache, not read
  main(420, 4, 500, 3500, 0, 5, 2);       // R5: the user's next turn, reads R4's write
  out.push_back(make({"s1", 200, 425, {91}, {36000}, 9000, 0, 0, 3, 5}));  // R6: side call, 9,000 in, 3 out
  return out;
}

// Session s2: conversation 300 (4 requests, no cache_control) then conversation
// 400 (4 requests) that carries one 40,000-byte tool result.
std::vector<v1::ApiRequest> session_two() {
  std::vector<v1::ApiRequest> out;
  out.push_back(make({"s2", 300, 0, {31}, {8000}, 2000, 0, 0, 100, 10, 0}));                 // Q1
  out.push_back(make({"s2", 300, 5, {31, 32}, {8000, 16000}, 4000, 0, 0, 100, 0, 0}));         // Q2
  out.push_back(make({"s2", 300, 10, {35, 32, 33}, {8000, 16000, 24000}, 6000, 0, 0, 100, 0, 0}));  // Q3
  out.push_back(make({"s2", 300, 15, {36}, {4000}, 1000, 0, 0, 100, 0, 0}));                   // Q4: compacted
  uint64_t cr[] = {0, 12500, 13000, 13500};
  for (int i = 0; i < 4; ++i) {
    std::vector<uint64_t> h, b;
    for (int k = 0; k <= i; ++k) h.push_back(41 + k), b.push_back(50000 + 2000 * k);
    uint64_t in = i ? 500 : 12500, new_content = i ? 0 : 20;
    v1::ApiRequest r = make({"s2", 400, 20.0 + 5 * i, h, b, in, cr[i], 0, 100, new_content});
    r.mutable_anatomy()->set_largest_tool_result_hash(77);
    r.mutable_anatomy()->set_largest_tool_result_bytes(40000);
    out.push_back(r);  // B1..B4
  }
  return out;
}

const Finding* find(const Analysis& a, const std::string& kind, const std::string& reason = "") {
  for (const Finding& f : a.findings)
    if (f.kind == kind && f.reason == reason) return &f;
  return nullptr;
}

Analysis analyse() {
  std::vector<v1::ApiRequest> all = session_two();
  for (auto& r : session_one()) all.push_back(r);
  return tt::analysis::analyze(all, prices(), {});
}

TEST(Analysis, SessionsTurnsAndRoles) {
  Analysis a = analyse();
  ASSERT_EQ(a.sessions.size(), 2u);
  // Both sessions start at kT0: s2's requests were given first.
  const auto& s2 = a.sessions[0];
  const auto& s1 = a.sessions[1];
  EXPECT_EQ(s1.session_id, "s1");
  ASSERT_EQ(s1.turns.size(), 2u);  // R1 (user), R5 (user again); R2-R4 tool rounds and a retry
  EXPECT_EQ(s1.turns[0].main, 4);
  EXPECT_EQ(s1.turns[1].main, 1);
  EXPECT_EQ(s1.turns[1].side, 1);  // R6 joins the turn in progress
  EXPECT_EQ(s1.turns[0].prompt_tokens, 2500u + 3000 + 3500 + 3500);
  // s2: conversation 400 has the most prompt tokens: main; 300 is a subagent.
  ASSERT_EQ(s2.turns.size(), 1u);
  EXPECT_EQ(s2.turns[0].main, 4);
  EXPECT_EQ(s2.turns[0].subagent, 4);
  int side = 0;
  for (const auto& q : a.requests) side += q.role == "side";
  EXPECT_EQ(side, 1);
}

TEST(Analysis, UnchangedPrefixes) {
  Analysis a = analyse();
  std::map<std::pair<std::string, double>, uint64_t> prefix;
  for (const auto& q : a.requests)
    prefix[{q.record->session_id(), (q.record->start_unix_ns() - kT0) / 1e9}] = q.unchanged_prefix_tokens;
  EXPECT_EQ((prefix[{"s1", 10}]), 2500u);   // 10,000 of 12,000 bytes of 3,000 tokens
  EXPECT_EQ((prefix[{"s1", 400}]), 3000u);  // 12,000 of 14,000 of 3,500
  EXPECT_EQ((prefix[{"s1", 410}]), 3500u);  // all of it
  EXPECT_EQ((prefix[{"s2", 10}]), 0u);      // its first block changed
  EXPECT_EQ((prefix[{"s2", 25}]), 12500u);
}

TEST(Analysis, EveryFindingWithItsWaste) {
  Analysis a = analyse();
  struct Want {
    const char* kind;
    const char* reason;
    size_t requests;
    uint64_t tokens;
    double waste;
  };
  const Want wants[] = {
      {"cache_miss", "expired", 1, 3000, 3000 * 2.7e-6},            // R3
      {"cache_miss", "not_served", 1, 3500, 3500 * 2.7e-6},         // R4: its predecessor wrote nothing
      {"cache_miss", "no_breakpoints", 1, 2000, 2000 * 2.7e-6},     // Q2
      {"cache_miss", "prefix_changed", 1, 4000, 4000 * 2.7e-6},     // Q3
      {"cache_write_unread", "", 1, 500, 500 * 0.75e-6},            // R2's write: R3 came after the TTL
      {"retry", "", 1, 3500, 3500 * 3e-6},                          // R4 after the aborted R3
      {"low_value", "", 1, 9000, 9000 * 3e-6},                      // R6: 9,000 in, 3 out
      // "write" (2,000 of each prompt's bytes): 500 tokens in each of R1..R5, at each one's prompt rate.
      {"unused_tools", "", 5, 2500, 500 * (3.6e-6 + 0.875e-6 + 3e-6 + 3.75e-6 + 0.6375e-6)},
      // 40,000 of 52,000 / 54,000 / 56,000 bytes: 10,000 tokens in each of B2..B4.
      {"huge_tool_result", "", 3, 30000, 10000 * (5250.0 / 13000 + 5400.0 / 13500 + 5550.0 / 14000) * 1e-6},
      {"compaction", "", 1, 5000, 0},     // Q4: 6,000 -> 1,000
      {"context_reset", "", 1, 1000, 0},  // B1, after conversation 300 ended
  };
  double total = 0;
  for (const Want& w : wants) {
    SCOPED_TRACE(std::string(w.kind) + " " + w.reason);
    const Finding* f = find(a, w.kind, w.reason);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->requests.size(), w.requests);
    EXPECT_EQ(f->tokens, w.tokens);
    EXPECT_NEAR(f->waste_usd, w.waste, 1e-12);
    EXPECT_FALSE(f->text.empty());
    total += w.waste;
  }
  EXPECT_EQ(a.findings.size(), std::size(wants));
  // The total charges no request more than it cost: R3 (the aborted attempt, $0.0105)
  // is charged its expiry ($0.0081), its unused tools ($0.0015) and the retry's
  // repeat of it ($0.0105): $0.0201, capped at $0.0105.
  EXPECT_NEAR(a.totals.waste_usd, total - (0.0201 - 0.0105), 1e-12);
  EXPECT_EQ(find(a, "unused_tools")->names, std::vector<std::string>{"write"});
  // Sorted costliest first; the verdict names the three costliest.
  EXPECT_EQ(a.findings[0].kind, "low_value");
  ASSERT_GE(a.verdict.size(), 5u);
  EXPECT_EQ(a.verdict[2], a.findings[0].text);
  EXPECT_NE(a.verdict[1].find("Avoidable: "), std::string::npos);
}

TEST(Analysis, TotalsAndJson) {
  Analysis a = analyse();
  EXPECT_EQ(a.totals.requests, 14);
  double cost = 0;
  for (const auto& q : a.requests) cost += q.record->cost_usd();
  EXPECT_NEAR(a.totals.cost_usd, cost, 1e-12);
  nlohmann::ordered_json j = tt::analysis::to_json(a);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["requests"].size(), 14u);
  EXPECT_EQ(j["requests"][0]["n"], 1);
  EXPECT_NEAR(j["waste_by_category"]["low_value"].get<double>(), 0.027, 1e-12);
  EXPECT_EQ(j["sessions"][1]["turns"].size(), 2u);
  std::string summary = tt::analysis::render_summary(a);
  EXPECT_NE(summary.find("Where the tokens went"), std::string::npos);
  EXPECT_NE(summary.find("low_value $0.0270"), std::string::npos) << summary;
  // A share of side calls under half a percent is "<1%", not "0%".
  auto& turn = a.sessions[0].turns[0];
  ASSERT_GT(turn.cost_usd, 0);
  turn.subagent_cost_usd = 0;
  turn.side_cost_usd = turn.cost_usd * 0.004;
  summary = tt::analysis::render_summary(a);
  EXPECT_NE(summary.find(" (<1% subagents and side calls)\n"), std::string::npos) << summary;
  turn.side_cost_usd = turn.cost_usd * 0.42;
  EXPECT_NE(tt::analysis::render_summary(a).find(" (42% subagents and side calls)\n"), std::string::npos);
}

TEST(Analysis, EmptyAndUnpriced) {
  Analysis a = tt::analysis::analyze({}, prices(), {});
  EXPECT_EQ(a.totals.requests, 0);
  EXPECT_EQ(a.verdict.back(), "Nothing wasteful found.");
  // A model without a price: findings still found, their waste 0.
  auto recs = session_one();
  for (auto& r : recs) r.set_model("unpriced-model");
  a = tt::analysis::analyze(recs, prices(), {});
  ASSERT_NE(find(a, "cache_miss", "expired"), nullptr);
  EXPECT_EQ(find(a, "cache_miss", "expired")->waste_usd, 0);
}

}  // namespace
