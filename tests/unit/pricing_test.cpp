// The price table (pricing/pricing.h): known answers worked out by hand from a
// test-local table (the shipped figures change), model id matching, effective
// dates, overrides, errors; the shipped prices.toml; `tokentap prices` itself.
#include "pricing/pricing.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "pg_server.h"  // tt::testing::run_as

namespace {

using tt::pricing::Billing;
using tt::pricing::Cost;
using tt::pricing::Entry;
using tt::pricing::PriceTable;
using tt::pricing::Request;
using tt::pricing::Tokens;

// Prices per 1M tokens, round enough to check by hand.
constexpr const char* kTable = R"(
[[provider]]
name = "anthropic"
source = "https://example.test/anthropic"
source_date = "2026-01-02"

[[model]]
providers = ["anthropic", "aws.bedrock", "gcp.vertex_ai"]
model = "claude-test-4-5"
input = 3
output = 15
cache_read = 0.3
cache_write_5m = 3.75
cache_write_1h = 6
[[model.tier]]
above_input_tokens = 200000
input = 6
output = 22.5
cache_read = 0.6
cache_write_5m = 7.5
cache_write_1h = 12

[[model]]
provider = "openai"
model = "gpt-4o"
input = 2.5
output = 10
cache_read = 1.25
source = "https://example.test/openai"
source_date = "2026-01-03"

[[model]]
provider = "openai"
model = "gpt-4o-2024-05-13"
input = 5
output = 15

[[model]]
provider = "gcp.gemini"
model = "gemini-test-pro"
input = 1.25
output = 10

[[model]]
provider = "openai"
model = "o-test"
effective_until = "2025-06-10"
input = 10
output = 40

[[model]]
provider = "openai"
model = "o-test"
effective_from = "2025-06-10"
input = 2
output = 8

[[model]]
provider = "deepseek"
model = "ds-test"
input = 0.4
output = 1.2
cache_read = 0.02
off_peak_factor = 0.5
peak_hours_utc = ["01:00-04:00", "06:00-10:00"]
peak_weekdays_only = true
)";

// Unix ns of "YYYY-MM-DD" plus hours and minutes, UTC.
uint64_t at(const char* date, int hour = 12, int minute = 0) {
  std::tm tm{};
  std::istringstream(date) >> std::get_time(&tm, "%Y-%m-%d");
  tm.tm_hour = hour;
  tm.tm_min = minute;
  return static_cast<uint64_t>(timegm(&tm)) * 1'000'000'000ull;
}

PriceTable table() {
  auto t = PriceTable::parse(kTable, "test.toml");
  EXPECT_TRUE(t.ok()) << t.error();
  return t.ok() ? *t : PriceTable{};
}

Cost cost(const PriceTable& t, const std::string& provider, const std::string& model, Tokens k,
          Billing billing = Billing::Metered, uint64_t when = at("2026-06-01")) {
  Request r;
  r.provider = provider;
  r.model = model;
  r.tokens = k;
  r.billing = billing;
  r.start_unix_ns = when;
  return tt::pricing::price(t, r);
}

std::string model_at(const PriceTable& t, const std::string& provider, const std::string& model,
                     uint64_t when = at("2026-06-01")) {
  const Entry* e = t.find(provider, model, when);
  return e ? e->provider + "/" + e->model : "none";
}

TEST(PricingTest, FiveMinuteAndOneHourCacheWrites) {
  PriceTable t = table();
  // 1,000 input x $3 + 10,000 written for 5 minutes x $3.75 + 500 output x $15
  // = 3,000 + 37,500 + 7,500 = 48,000 $/1M = $0.048
  Cost c5 = cost(t, "anthropic", "claude-test-4-5", {.input = 1000, .cache_write_5m = 10000, .output = 500});
  EXPECT_TRUE(c5.known);
  EXPECT_EQ(c5.source, "price_table");
  EXPECT_NEAR(c5.usd, 0.048, 1e-12);
  // The same 10,000 written for 1 hour at $6: 3,000 + 60,000 + 7,500 = 70,500 -> $0.0705
  Cost c1 = cost(t, "anthropic", "claude-test-4-5", {.input = 1000, .cache_write_1h = 10000, .output = 500});
  EXPECT_NEAR(c1.usd, 0.0705, 1e-12);
  // Cache reads: 1,000 x $3 + 100,000 read x $0.30 = 3,000 + 30,000 = 33,000 -> $0.033
  EXPECT_NEAR(cost(t, "anthropic", "claude-test-4-5", {.input = 1000, .cache_read = 100000}).usd, 0.033, 1e-12);
  EXPECT_FALSE(c5.api_equivalent);
  EXPECT_EQ(c5.tier, nullptr);
  ASSERT_NE(c5.entry, nullptr);
  EXPECT_EQ(c5.entry->source, "https://example.test/anthropic");
  EXPECT_EQ(c5.entry->source_date, "2026-01-02");
  EXPECT_EQ(c5.entry->origin, "test.toml");
}

TEST(PricingTest, LongContextTierAppliesToTheWholeRequestAboveTheThreshold) {
  PriceTable t = table();
  // Total input 150,000 + 50,000 read = 200,000: not above 200,000, base rates.
  // 150,000 x $3 + 50,000 x $0.30 + 1,000 output x $15 = 450,000 + 15,000 + 15,000 = 480,000 -> $0.48
  Cost below = cost(t, "anthropic", "claude-test-4-5", {.input = 150000, .cache_read = 50000, .output = 1000});
  EXPECT_NEAR(below.usd, 0.48, 1e-12);
  EXPECT_EQ(below.tier, nullptr);
  // One more token read: 200,001 > 200,000, every token at the tier's rates:
  // 150,000 x $6 + 50,001 x $0.60 + 1,000 x $22.50 = 900,000 + 30,000.6 + 22,500 = 952,500.6 -> $0.9525006
  Cost above = cost(t, "anthropic", "claude-test-4-5", {.input = 150000, .cache_read = 50001, .output = 1000});
  EXPECT_NEAR(above.usd, 0.9525006, 1e-12);
  ASSERT_NE(above.tier, nullptr);
  EXPECT_EQ(above.tier->above_input_tokens, 200000u);
  // Cache writes count toward the threshold too: 100,000 input + 100,001 written (5m)
  // -> 100,000 x $6 + 100,001 x $7.50 = 600,000 + 750,007.5 = 1,350,007.5 -> $1.3500075
  EXPECT_NEAR(cost(t, "anthropic", "claude-test-4-5", {.input = 100000, .cache_write_5m = 100001}).usd, 1.3500075,
              1e-12);
}

TEST(PricingTest, DatedAliasesAndCloudIdsFindTheEntry) {
  PriceTable t = table();
  for (const char* id : {"claude-test-4-5-20250929", "Claude-Test-4-5", "claude-test-4.5", "claude-test-4-5-latest",
                         "claude-test-4-5-20250929[1m]"})
    EXPECT_EQ(model_at(t, "anthropic", id), "anthropic/claude-test-4-5") << id;
  for (const char* id : {"us.anthropic.claude-test-4-5-20250929-v1:0", "anthropic.claude-test-4-5-20250929-v1:0",
                         "global.anthropic.claude-test-4-5-20250929-v1:0", "eu.anthropic.claude-test-4-5-v2",
                         "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-test-4-5-20250929-v1:0"})
    EXPECT_EQ(model_at(t, "aws.bedrock", id), "aws.bedrock/claude-test-4-5") << id;
  EXPECT_EQ(model_at(t, "gcp.vertex_ai", "claude-test-4-5@20250929"), "gcp.vertex_ai/claude-test-4-5");
  EXPECT_EQ(model_at(t, "GCP.Vertex_AI", "claude-test-4-5"), "gcp.vertex_ai/claude-test-4-5");
  EXPECT_EQ(model_at(t, "gcp.gemini", "models/gemini-test-pro"), "gcp.gemini/gemini-test-pro");
  // OpenRouter, with no entry of its own: the vendor's price.
  EXPECT_EQ(model_at(t, "openrouter", "anthropic/claude-test-4.5"), "anthropic/claude-test-4-5");
  EXPECT_EQ(model_at(t, "openrouter", "openai/gpt-4o-2024-08-06"), "openai/gpt-4o");
  EXPECT_EQ(model_at(t, "openrouter", "mystery/claude-test-4.5"), "none");
  // A dated OpenAI id is the undated model, unless that snapshot has its own price.
  EXPECT_EQ(model_at(t, "openai", "gpt-4o-2024-08-06"), "openai/gpt-4o");
  EXPECT_EQ(model_at(t, "openai", "gpt-4o-2024-05-13"), "openai/gpt-4o-2024-05-13");
  // 2,000 x $5 + 1,000 x $15 = 25,000 -> $0.025 (not gpt-4o's $2.50 / $10)
  EXPECT_NEAR(cost(t, "openai", "gpt-4o-2024-05-13", {.input = 2000, .output = 1000}).usd, 0.025, 1e-12);
  // The provider is part of the key: the same model elsewhere is unknown.
  EXPECT_EQ(model_at(t, "azure.ai.openai", "gpt-4o"), "none");
  EXPECT_EQ(model_at(t, "anthropic", "claude-test-4"), "none");

  EXPECT_EQ(tt::pricing::model_keys("us.anthropic.claude-test-4-5-20250929-v1:0"),
            (std::vector<std::string>{"us-anthropic-claude-test-4-5-20250929-v1:0", "claude-test-4-5-20250929",
                                      "claude-test-4-5"}));
}

TEST(PricingTest, UnknownModelIsFlaggedNotPricedAtZero) {
  PriceTable t = table();
  Cost c = cost(t, "anthropic", "claude-nonexistent-9", {.input = 1000000, .output = 1000000});
  EXPECT_FALSE(c.known);
  EXPECT_EQ(c.source, "unknown_model");
  EXPECT_EQ(c.usd, 0);
  EXPECT_EQ(c.entry, nullptr);
  // An unknown provider too, and a subscription's unknown model.
  EXPECT_FALSE(cost(t, "acme", "gpt-4o", {.input = 10}).known);
  Cost s = cost(t, "anthropic", "claude-nonexistent-9", {.input = 10}, Billing::Subscription);
  EXPECT_FALSE(s.known);
  EXPECT_EQ(s.source, "unknown_model");
}

TEST(PricingTest, ProviderReportedCostWins) {
  PriceTable t = table();
  Request r;
  r.provider = "openrouter";
  r.model = "anthropic/claude-test-4.5";
  r.tokens = {.input = 1000, .output = 1000};  // $0.018 by the table: not used
  r.reported_usd = 0.0123;
  Cost c = tt::pricing::price(t, r);
  EXPECT_TRUE(c.known);
  EXPECT_EQ(c.source, "provider");
  EXPECT_DOUBLE_EQ(c.usd, 0.0123);
  // Even for a model the table does not know, and a reported zero is a known zero.
  r.model = "someone/unknown-model";
  r.reported_usd = 0;
  c = tt::pricing::price(t, r);
  EXPECT_TRUE(c.known);
  EXPECT_EQ(c.source, "provider");
  EXPECT_EQ(c.usd, 0);
  // Without a report: the vendor's list price. 1,000 x $3 + 1,000 x $15 = 18,000 -> $0.018
  r.model = "anthropic/claude-test-4.5";
  r.reported_usd.reset();
  c = tt::pricing::price(t, r);
  EXPECT_EQ(c.source, "price_table");
  EXPECT_NEAR(c.usd, 0.018, 1e-12);
}

TEST(PricingTest, SubscriptionIsPricedAsTheApiEquivalent) {
  PriceTable t = table();
  // Claude Code signed in with a plan: what the API would have charged.
  // 2,000 x $3 + 50,000 read x $0.30 + 3,000 written (1h) x $6 + 800 output x $15
  // = 6,000 + 15,000 + 18,000 + 12,000 = 51,000 -> $0.051
  Tokens k{.input = 2000, .cache_read = 50000, .cache_write_1h = 3000, .output = 800};
  Cost c = cost(t, "anthropic", "claude-test-4-5-20250929", k, Billing::Subscription);
  EXPECT_TRUE(c.known);
  EXPECT_TRUE(c.api_equivalent);
  EXPECT_EQ(c.source, "price_table");
  EXPECT_NEAR(c.usd, 0.051, 1e-12);
  Cost metered = cost(t, "anthropic", "claude-test-4-5-20250929", k, Billing::Metered);
  EXPECT_FALSE(metered.api_equivalent);
  EXPECT_DOUBLE_EQ(metered.usd, c.usd);
}

TEST(PricingTest, LocalAndNotBillableCostNothingAndSaySo) {
  PriceTable t = table();
  for (const char* p : {"ollama", "local", "Ollama"}) {
    Cost c = cost(t, p, "llama3.1:8b", {.input = 1000, .output = 1000});
    EXPECT_TRUE(c.known) << p;
    EXPECT_EQ(c.source, "local") << p;
    EXPECT_EQ(c.usd, 0) << p;
  }
  Cost vllm = cost(t, "openai", "gpt-4o", {.input = 1000}, Billing::Local);  // a self-hosted OpenAI-compatible server
  EXPECT_EQ(vllm.source, "local");
  EXPECT_EQ(vllm.usd, 0);

  Request r;
  r.provider = "anthropic";
  r.model = "claude-test-4-5";
  r.tokens = {.input = 1000, .output = 1000};
  r.billable = false;
  Cost nb = tt::pricing::price(t, r);
  EXPECT_TRUE(nb.known);
  EXPECT_EQ(nb.source, "not_billable");
  EXPECT_EQ(nb.usd, 0);
}

TEST(PricingTest, EffectiveDatesPickTheEntryValidAtTheStart) {
  PriceTable t = table();
  // o-test: $10 / $40 until 2025-06-10 (excluded), $2 / $8 from then.
  // 1,000 x $10 + 1,000 x $40 = 50,000 -> $0.05 ; 1,000 x $2 + 1,000 x $8 = 10,000 -> $0.01
  Tokens k{.input = 1000, .output = 1000};
  EXPECT_NEAR(cost(t, "openai", "o-test", k, Billing::Metered, at("2025-06-09", 23, 59)).usd, 0.05, 1e-12);
  EXPECT_NEAR(cost(t, "openai", "o-test", k, Billing::Metered, at("2025-06-10", 0, 0)).usd, 0.01, 1e-12);
  EXPECT_NEAR(cost(t, "openai", "o-test-2025-04-16", k, Billing::Metered, at("2024-01-01")).usd, 0.05, 1e-12);
  // A change at a time of day, and an open-ended later entry beating an open one.
  auto timed = PriceTable::parse(R"(
[[model]]
provider = "deepseek"
model = "m"
input = 1
output = 1
[[model]]
provider = "deepseek"
model = "m"
effective_from = "2026-04-26T12:15Z"
input = 2
output = 2
)",
                                 "timed.toml");
  ASSERT_TRUE(timed.ok()) << timed.error();
  EXPECT_EQ(timed->find("deepseek", "m", at("2026-04-26", 12, 14))->rates.input, 1);
  EXPECT_EQ(timed->find("deepseek", "m", at("2026-04-26", 12, 15))->rates.input, 2);
  EXPECT_EQ(timed->find("deepseek", "m", at("2030-01-01"))->rates.input, 2);
}

TEST(PricingTest, OffPeakHours) {
  PriceTable t = table();
  // 2026-11-30 is a Monday. 10,000 x $0.40 + 10,000 read x $0.02 + 1,000 x $1.20
  // = 4,000 + 200 + 1,200 = 5,400 -> $0.0054 at peak, half off-peak: $0.0027
  Tokens k{.input = 10000, .cache_read = 10000, .output = 1000};
  Cost peak = cost(t, "deepseek", "ds-test", k, Billing::Metered, at("2026-11-30", 2, 30));
  EXPECT_NEAR(peak.usd, 0.0054, 1e-12);
  EXPECT_FALSE(peak.off_peak);
  EXPECT_NEAR(cost(t, "deepseek", "ds-test", k, Billing::Metered, at("2026-11-30", 9, 59)).usd, 0.0054, 1e-12);
  Cost off = cost(t, "deepseek", "ds-test", k, Billing::Metered, at("2026-11-30", 4, 0));
  EXPECT_NEAR(off.usd, 0.0027, 1e-12);
  EXPECT_TRUE(off.off_peak);
  EXPECT_NEAR(cost(t, "deepseek", "ds-test", k, Billing::Metered, at("2026-11-30", 10, 0)).usd, 0.0027, 1e-12);
  // Saturday 2026-11-28 02:30: off-peak all day.
  EXPECT_NEAR(cost(t, "deepseek", "ds-test", k, Billing::Metered, at("2026-11-28", 2, 30)).usd, 0.0027, 1e-12);
}

class PricingFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tt-pricing-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(PricingFilesTest, OverrideFilesReplaceAndAddEntries) {
  std::string base = write("base.toml", kTable);
  // prices.d in name order: 10 replaces the entry, 20 replaces 10's, and adds a new price from 2027.
  write("prices.d/20-later.toml", R"(
[[model]]
provider = "anthropic"
model = "claude-test-4-5"
input = 2
output = 10
source = "https://example.test/negotiated"
source_date = "2026-11-01"

[[model]]
provider = "anthropic"
model = "claude-test-4-5"
effective_from = "2027-01-01"
input = 1
output = 5
)");
  write("prices.d/10-first.toml", "[[model]]\nmodel = \"claude-test-4-5\"\nprovider = \"anthropic\"\ninput = 100\noutput = 100\n");
  write("prices.d/notes.txt", "not a price file");
  auto t = PriceTable::load({base, dir_ + "/prices.d"}, false);
  ASSERT_TRUE(t.ok()) << t.error();
  // 1,000 x $2 + 1,000 x $10 = 12,000 -> $0.012, from the override (its tier gone with it)
  Cost c = cost(*t, "anthropic", "claude-test-4-5", {.input = 1000, .output = 1000});
  EXPECT_NEAR(c.usd, 0.012, 1e-12);
  ASSERT_NE(c.entry, nullptr);
  EXPECT_EQ(c.entry->origin, dir_ + "/prices.d/20-later.toml");
  EXPECT_EQ(c.entry->source, "https://example.test/negotiated");
  EXPECT_TRUE(c.entry->tiers.empty());
  // From 2027 the later entry wins: 1,000 x $1 + 1,000 x $5 = 6,000 -> $0.006
  EXPECT_NEAR(cost(*t, "anthropic", "claude-test-4-5", {.input = 1000, .output = 1000}, Billing::Metered,
                   at("2027-03-01"))
                  .usd,
              0.006, 1e-12);
  // The other providers' copies of the entry are untouched.
  EXPECT_EQ(t->find("aws.bedrock", "claude-test-4-5", at("2026-06-01"))->origin, base);
  // The entry stays where it was: one entry replaced, one added.
  auto only = PriceTable::parse(kTable, "x");
  EXPECT_EQ(t->entries().size(), only->entries().size() + 1);
}

TEST_F(PricingFilesTest, LoadWithBuiltinAndMissingPaths) {
  auto t = PriceTable::load({}, true);
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_FALSE(t->entries().empty());
  EXPECT_EQ(t->entries().front().origin, "built-in");
  auto missing = PriceTable::load({dir_ + "/nope.toml"}, true);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("nope.toml"), std::string::npos);
}

TEST_F(PricingFilesTest, InstalledCopyReplacesTheBuiltinAndOverridesFollow) {
  // No installed copy, no override directory: the built-in table.
  auto builtin = PriceTable::load_layered(dir_ + "/none.toml", dir_ + "/none.d", {});
  ASSERT_TRUE(builtin.ok()) << builtin.error();
  EXPECT_EQ(builtin->entries().size(), PriceTable::parse(PriceTable::builtin_text(), "b")->entries().size());
  // An installed copy replaces it whole; the directory's files and then --file go on top.
  std::string installed = write("share/prices.toml", kTable);
  write("prices.d/50.toml", "[[model]]\nprovider = \"openai\"\nmodel = \"gpt-4o\"\ninput = 1\noutput = 1\n");
  std::string extra = write("try.toml", "[[model]]\nprovider = \"openai\"\nmodel = \"gpt-4o\"\ninput = 7\noutput = 7\n");
  auto t = PriceTable::load_layered(installed, dir_ + "/prices.d", {});
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_EQ(t->entries().size(), PriceTable::parse(kTable, "x")->entries().size());
  EXPECT_EQ(t->find("openai", "gpt-4o", 0)->origin, dir_ + "/prices.d/50.toml");
  EXPECT_EQ(t->find("anthropic", "claude-test-4-5", 0)->origin, installed);
  auto tried = PriceTable::load_layered(installed, dir_ + "/prices.d", {extra});
  ASSERT_TRUE(tried.ok()) << tried.error();
  EXPECT_EQ(tried->find("openai", "gpt-4o", 0)->rates.input, 7);
  // A bad override file stops the load, naming it.
  std::string bad = write("prices.d/60.toml", "[[model]]\nprovider = \"openai\"\n");
  auto refused = PriceTable::load_layered(installed, dir_ + "/prices.d", {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().rfind(bad + ":1:1: missing 'model'", 0), 0u) << refused.error();
}

// Each bad text's error names the file, line and column and the reason.
TEST(PricingTest, BadFilesAreRefusedWithTheirLine) {
  struct Bad {
    const char* text;
    const char* want;
  };
  const Bad bads[] = {
      {"[[model]]\nprovider = \"openai\"\nmodel = \"x\"\ninput = [1\n", "bad.toml:4:"},  // TOML syntax
      {"[[model]]\nprovider = \"openai\"\nmodel = \"x\"\ninput = 1\n", "bad.toml:1:1: missing 'output'"},
      {"[[model]]\nprovider = \"openai\"\nmodel = \"x\"\ninput = -1\noutput = 1\n",
       "bad.toml:4:9: 'input' must be a price in USD per 1M tokens, a number >= 0"},
      {"[[model]]\nprovider = \"openai\"\nmodel = \"x\"\ninput = 1\noutput = \"2\"\n", "bad.toml:5:10: 'output'"},
      {"[[model]]\nprovider = \"openai\"\nmodel = \"x\"\ninput = 1\noutput = 2\nouptut = 3\n",
       "bad.toml:6:1: unknown key 'ouptut' in [[model]]"},
      {"[[model]]\nmodel = \"x\"\ninput = 1\noutput = 2\n", "bad.toml:1:1: give the model's 'provider'"},
      {"[[model]]\nprovider = \"openai\"\ninput = 1\noutput = 2\n", "bad.toml:1:1: missing 'model'"},
      {"[[model]]\nprovider = \"openai\"\nmodel = \"x\"\ninput = 1\noutput = 2\neffective_from = \"2025-13-01\"\n",
       "bad.toml:6:18: 'effective_from' must be a date"},
      {"[[model]]\nprovider = \"openai\"\nmodel = \"x\"\ninput = 1\noutput = 2\neffective_from = \"2025-06-01\"\n"
       "effective_until = \"2025-06-01\"\n",
       "bad.toml:7:19: 'effective_until' must come after 'effective_from'"},
      {"[[model]]\nprovider = \"openai\"\nmodel = \"x\"\ninput = 1\noutput = 2\n[[model.tier]]\ninput = 2\noutput = 3\n",
       "bad.toml:6:1: missing 'above_input_tokens'"},
      {"[[model]]\nprovider = \"OpenAI\"\nmodel = \"x\"\ninput = 1\noutput = 2\n", "provider name 'OpenAI'"},
      {"[[model]]\nprovider = \"openai\"\nmodel = \"x\"\ninput = 1\noutput = 2\n"
       "[[model]]\nprovider = \"openai\"\nmodel = \"X\"\ninput = 1\noutput = 2\n",
       "bad.toml:6:1: 'openai' 'X' effective from '' is in this file twice"},
      {"[[model]]\nprovider = \"d\"\nmodel = \"x\"\ninput = 1\noutput = 2\noff_peak_factor = 0.5\n"
       "peak_hours_utc = [\"10:00-09:00\"]\n",
       "bad.toml:7:19: a peak window is"},
      {"price = 3\n", "bad.toml:1:1: unknown key 'price' in the file"},
  };
  for (const Bad& b : bads) {
    auto t = PriceTable::parse(b.text, "bad.toml");
    ASSERT_FALSE(t.ok()) << b.text;
    EXPECT_NE(t.error().find(b.want), std::string::npos) << t.error() << "\n  wanted: " << b.want;
  }
}

TEST(PricingTest, ShippedTableParsesAndEveryEntryHasItsSource) {
  auto t = PriceTable::parse(PriceTable::builtin_text(), "built-in");
  ASSERT_TRUE(t.ok()) << t.error();
  std::set<std::string> providers;
  for (const Entry& e : t->entries()) {
    providers.insert(e.provider);
    EXPECT_EQ(e.source.rfind("https://", 0), 0u) << e.provider << " " << e.model;
    EXPECT_EQ(e.source_date.size(), 10u) << e.provider << " " << e.model;
    EXPECT_GT(e.rates.output, 0) << e.provider << " " << e.model;
    EXPECT_LE(e.rates.cache_read, e.rates.input) << e.provider << " " << e.model;
    for (const auto& tier : e.tiers) EXPECT_GE(tier.rates.input, e.rates.input) << e.provider << " " << e.model;
  }
  for (const char* p : {"anthropic", "openai", "gcp.gemini", "gcp.vertex_ai", "aws.bedrock", "azure.ai.openai",
                        "deepseek", "moonshot", "zai", "minimax", "x_ai"})
    EXPECT_TRUE(providers.count(p)) << p;
  // The models the issue names, as requests name them, on the day of this data.
  uint64_t day = at("2026-11-30");
  struct Want {
    const char* provider;
    const char* model;
  };
  for (Want w : std::initializer_list<Want>{{"anthropic", "claude-sonnet-4-5-20250929"},
                                            {"anthropic", "claude-opus-4-1-20250805"},
                                            {"anthropic", "claude-haiku-4-5-20251001"},
                                            {"anthropic", "claude-3-5-haiku-latest"},
                                            {"aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
                                            {"gcp.vertex_ai", "claude-sonnet-4-5@20250929"},
                                            {"openai", "gpt-5.4"},
                                            {"openai", "gpt-5-2025-08-07"},
                                            {"openai", "gpt-5-mini"},
                                            {"openai", "gpt-4.1"},
                                            {"openai", "gpt-4o-2024-08-06"},
                                            {"openai", "gpt-4o-mini"},
                                            {"openai", "o3"},
                                            {"openai", "o4-mini"},
                                            {"azure.ai.openai", "gpt-5"},
                                            {"gcp.gemini", "models/gemini-2.5-pro"},
                                            {"gcp.vertex_ai", "gemini-2.5-flash"},
                                            {"gcp.gemini", "gemini-3-pro-preview"},
                                            {"deepseek", "deepseek-flash"},
                                            {"moonshot", "kimi-k2.6"},
                                            {"zai", "glm-4.6"},
                                            {"minimax", "MiniMax-M2"},
                                            {"x_ai", "grok-4-0709"},
                                            {"x_ai", "grok-code-fast-1"},
                                            {"openrouter", "anthropic/claude-sonnet-4.5"}})
    EXPECT_NE(t->find(w.provider, w.model, day), nullptr) << w.provider << " " << w.model;
  // DeepSeek's older names at their time.
  EXPECT_NE(t->find("deepseek", "deepseek-chat", at("2025-10-15")), nullptr);
  EXPECT_NE(t->find("deepseek", "deepseek-reasoner", at("2026-05-01")), nullptr);
  // Long-context tiers where the issue asks for them.
  EXPECT_FALSE(t->find("anthropic", "claude-sonnet-4-5", day)->tiers.empty());
  EXPECT_FALSE(t->find("gcp.gemini", "gemini-2.5-pro", day)->tiers.empty());
  EXPECT_FALSE(t->find("gcp.vertex_ai", "gemini-2.5-pro", day)->tiers.empty());
}

TEST(PricingTest, FormatsTheTable) {
  PriceTable t = table();
  auto rows = tt::pricing::select(t, "anthropic", "claude-test-4-5-20250929");
  ASSERT_EQ(rows.size(), 1u);
  std::string text = tt::pricing::format_table(rows);
  EXPECT_EQ(text.rfind("PROVIDER", 0), 0u);
  EXPECT_NE(text.find("anthropic  claude-test-4-5  3"), std::string::npos) << text;
  EXPECT_NE(text.find(">200000: 6/22.5/0.6/7.5/12"), std::string::npos) << text;
  EXPECT_NE(text.find("https://example.test/anthropic  2026-01-02"), std::string::npos) << text;
  EXPECT_NE(text.find("test.toml"), std::string::npos) << text;

  auto ds = tt::pricing::select(t, "", "ds-test");
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_NE(tt::pricing::format_table(ds).find("x0.5 off-peak (peak 01:00-04:00,06:00-10:00 UTC weekdays)"),
            std::string::npos);
  // Substrings select too; the provider filter is exact.
  EXPECT_EQ(tt::pricing::select(t, "", "gpt-4o").size(), 2u);
  EXPECT_EQ(tt::pricing::select(t, "openai", "").size(), 4u);
  EXPECT_EQ(tt::pricing::select(t, "open", "").size(), 0u);

  auto j = nlohmann::json::parse(tt::pricing::format_json(rows));
  EXPECT_EQ(j["provider"], "anthropic");
  EXPECT_EQ(j["model"], "claude-test-4-5");
  EXPECT_EQ(j["rates"]["cache_write_1h"], 6);
  EXPECT_EQ(j["tiers"][0]["above_input_tokens"], 200000);
  EXPECT_EQ(j["tiers"][0]["rates"]["output"], 22.5);
  EXPECT_EQ(j["origin"], "test.toml");
}

// `tokentap prices`, the built binary.
TEST_F(PricingFilesTest, PricesCommand) {
  auto run = [&](std::vector<std::string> args, std::string& out, std::string& err) {
    args.insert(args.begin(), {TT_TOKENTAP_BIN, "prices"});
    std::filesystem::remove(dir_ + "/out");
    std::filesystem::remove(dir_ + "/err");
    int rc = tt::testing::run_as(args, getuid(), getgid(), dir_ + "/out", dir_ + "/err");
    std::stringstream o, e;
    o << std::ifstream(dir_ + "/out").rdbuf();
    e << std::ifstream(dir_ + "/err").rdbuf();
    out = o.str();
    err = e.str();
    return rc;
  };
  std::string out, err;
  ASSERT_EQ(run({"--provider", "anthropic", "--model", "claude-sonnet-4-5-20250929", "--json"}, out, err), 0) << err;
  std::istringstream lines(out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["provider"], "anthropic");
    EXPECT_EQ(j["model"], "claude-sonnet-4-5");
    ++n;
  }
  EXPECT_EQ(n, 1) << out;

  // An override tried with --file: shown with its path.
  std::string over = write("mine.toml", "[[model]]\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n"
                                        "input = 1\noutput = 2\n");
  ASSERT_EQ(run({"--provider", "anthropic", "--model", "claude-sonnet-4-5", "--file", over}, out, err), 0) << err;
  EXPECT_NE(out.find("PROVIDER"), std::string::npos);
  EXPECT_NE(out.find(over), std::string::npos) << out;

  // A bad one: its file and line, what to do, exit 2.
  std::string bad = write("bad.toml", "[[model]]\nprovider = \"anthropic\"\nmodel = \"m\"\ninput = -3\noutput = 1\n");
  EXPECT_EQ(run({"--file", bad}, out, err), 2);
  EXPECT_NE(err.find(bad + ":4:9: 'input' must be a price"), std::string::npos) << err;
  EXPECT_NE(err.find("fix"), std::string::npos) << err;
  EXPECT_TRUE(out.empty()) << out;
}

}  // namespace
