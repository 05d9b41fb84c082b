// The record store: the same cases against SQLite (a file) and a real PostgreSQL
// server (pg_server.h, started for the suite): counts, exact sums per group, day
// buckets, time ranges, schema versions, a reopened store.
#include "store/store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <tuple>

#include "store/db.h"
#include "store/report.h"
#include "store_fixture.h"

namespace {

using tt::store::GroupBy;
using tt::store::ReportQuery;
using tt::store::ReportRow;
namespace v1 = tokentap::v1;

using tt::testing::k29th23h;
using tt::testing::k30th;
using tt::testing::kS;
using tt::testing::run_a;
using tt::testing::run_b;

v1::Record record(const tt::testing::Req& q) { return tt::testing::request_record(q); }

// key, requests, input, output, cache read, cache write, reasoning, estimated, incomplete
using Sums = std::tuple<std::string, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t>;
std::vector<Sums> sums(const std::vector<ReportRow>& rows) {
  std::vector<Sums> out;
  for (const auto& r : rows)
    out.emplace_back(r.key, r.requests, r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens,
                     r.reasoning_tokens, r.estimated_requests, r.incomplete_requests);
  return out;
}

class StoreTest : public tt::testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (!HasFatalFailure()) store_ = open();
  }
  void put_both() {
    ASSERT_TRUE(store_->put("alpha", run_a()));
    ASSERT_TRUE(store_->put("beta", run_b()));
  }

  std::vector<Sums> group(GroupBy by, uint64_t since = 0, uint64_t until = 0) {
    auto rows = store_->group(ReportQuery{by, since, until});
    EXPECT_TRUE(rows) << rows.error();
    return rows ? sums(*rows) : std::vector<Sums>{};
  }

  std::unique_ptr<tt::store::Store> store_;
};

TEST_P(StoreTest, CountsStoredDuplicatesAndRejected) {
  auto recs = run_a();
  v1::Record session;
  session.set_seq(4);
  session.mutable_session()->set_run_id("A");
  recs.push_back(session);
  recs.push_back(recs[0]);  // again in the same batch
  v1::Record no_seq = recs[1], no_run = recs[1], no_kind;
  no_seq.set_seq(0);
  no_run.mutable_request()->set_run_id("");
  no_kind.set_seq(9);
  v1::Record absurd = record({"A", 5, "u", "h", "s", "p", "m", k30th, uint64_t{1} << 60, 0, 0, 0, 0});
  recs.insert(recs.end(), {no_seq, no_run, no_kind, absurd});

  auto c = store_->put("alpha", recs);
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->stored, 4u);
  EXPECT_EQ(c->duplicates, 1u);
  EXPECT_EQ(c->rejected, 4u);

  c = store_->put("alpha", recs);  // a batch resent after a lost ack
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->stored, 0u);
  EXPECT_EQ(c->duplicates, 5u);
  EXPECT_EQ(c->rejected, 4u);
  EXPECT_EQ(group(GroupBy::none), (std::vector<Sums>{{"", 3, 600, 60, 4000, 50, 12, 1, 1}}));
}

TEST_P(StoreTest, SummariesAreKeptButNotSummed) {
  std::vector<v1::Record> recs(3);
  recs[0].mutable_process()->set_run_id("A");
  recs[1].mutable_session()->set_run_id("A");
  recs[2].mutable_run()->set_run_id("A");
  for (int i = 0; i < 3; ++i) recs[i].set_seq(10 + i);
  recs[0].mutable_process()->mutable_totals()->set_input_tokens(999);
  auto c = store_->put("alpha", recs);
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->stored, 3u);
  EXPECT_TRUE(group(GroupBy::none).empty());
  auto db = tt::store::open_db(url_);
  ASSERT_TRUE(db) << db.error();
  std::vector<std::string> kinds;
  ASSERT_TRUE((*db)->query("SELECT kind FROM records ORDER BY seq", {},
                           [&](const tt::store::Row& r) { kinds.push_back(r.text(0)); }));
  EXPECT_EQ(kinds, (std::vector<std::string>{"process", "session", "run"}));
}

TEST_P(StoreTest, ExactSumsPerGroup) {
  put_both();
  EXPECT_EQ(group(GroupBy::model),
            (std::vector<Sums>{{"m-large", 3, 800, 80, 4000, 450, 7, 0, 0}, {"m-small", 2, 700, 70, 0, 0, 5, 1, 1}}));
  EXPECT_EQ(group(GroupBy::user), (std::vector<Sums>{{"", 1, 500, 50, 0, 0, 0, 0, 0},
                                                     {"alice", 2, 300, 30, 1000, 50, 5, 1, 1},
                                                     {"bob", 2, 700, 70, 3000, 400, 7, 0, 0}}));
  EXPECT_EQ(group(GroupBy::host),
            (std::vector<Sums>{{"alpha", 3, 600, 60, 4000, 50, 12, 1, 1}, {"beta", 2, 900, 90, 0, 400, 0, 0, 0}}));
  EXPECT_EQ(group(GroupBy::harness), (std::vector<Sums>{{"", 1, 500, 50, 0, 0, 0, 0, 0},
                                                        {"claude-code", 2, 300, 30, 1000, 50, 5, 1, 1},
                                                        {"codex", 2, 700, 70, 3000, 400, 7, 0, 0}}));
  EXPECT_EQ(group(GroupBy::session), (std::vector<Sums>{{"claude-code s1", 2, 300, 30, 1000, 50, 5, 1, 1},
                                                        {"codex s2", 1, 300, 30, 3000, 0, 7, 0, 0},
                                                        {"codex s3", 1, 400, 40, 0, 400, 0, 0, 0},
                                                        {"unknown process:1:2", 1, 500, 50, 0, 0, 0, 0, 0}}));
  EXPECT_EQ(group(GroupBy::project), (std::vector<Sums>{{"", 1, 500, 50, 0, 0, 0, 0, 0},
                                                        {"/p/one", 2, 300, 30, 1000, 50, 5, 1, 1},
                                                        {"/p/two", 2, 700, 70, 3000, 400, 7, 0, 0}}));
  EXPECT_EQ(group(GroupBy::none), (std::vector<Sums>{{"", 5, 1500, 150, 4000, 450, 12, 1, 1}}));
}

TEST_P(StoreTest, BytesAndTimesPerGroup) {
  put_both();
  auto rows = store_->group(ReportQuery{GroupBy::host});
  ASSERT_TRUE(rows) << rows.error();
  ASSERT_EQ(rows->size(), 2u);
  const ReportRow& beta = (*rows)[1];
  EXPECT_EQ(beta.request_bytes, 2000u + 900);
  EXPECT_EQ(beta.response_bytes, 4000u + 90);
  EXPECT_EQ(beta.first_unix_ns, k30th + 12 * 3600 * kS);
  EXPECT_EQ(beta.last_unix_ns, k30th + 13 * 3600 * kS + kS);  // the last one's end
}

TEST_P(StoreTest, DaysAreUtcDates) {
  put_both();
  EXPECT_EQ(group(GroupBy::day), (std::vector<Sums>{{"2026-11-29", 2, 300, 30, 1000, 50, 5, 1, 1},
                                                    {"2026-11-30", 3, 1200, 120, 3000, 400, 7, 0, 0}}));
}

TEST_P(StoreTest, SinceIsInclusiveUntilExclusive) {
  put_both();
  EXPECT_EQ(group(GroupBy::none, k30th), (std::vector<Sums>{{"", 3, 1200, 120, 3000, 400, 7, 0, 0}}));
  EXPECT_EQ(group(GroupBy::none, 0, k30th), (std::vector<Sums>{{"", 2, 300, 30, 1000, 50, 5, 1, 1}}));
  EXPECT_EQ(group(GroupBy::model, k30th - 1, k30th + 1),
            (std::vector<Sums>{{"m-large", 1, 300, 30, 3000, 0, 7, 0, 0}, {"m-small", 1, 200, 20, 0, 0, 5, 1, 1}}));
  EXPECT_TRUE(group(GroupBy::model, k30th + 24 * 3600 * kS).empty());
}

TEST_P(StoreTest, RequestsComeBackWholeInTimeOrder) {
  put_both();
  std::vector<std::pair<std::string, std::string>> got;  // host, request bytes
  auto n = store_->for_each_request(
      ReportQuery{GroupBy::model, k30th, 0},
      [&](const v1::ApiRequest& r, const std::string& host) { got.emplace_back(host, r.SerializeAsString()); });
  ASSERT_TRUE(n) << n.error();
  EXPECT_EQ(*n, 3u);
  auto a = run_a(), b = run_b();
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{{"alpha", a[2].request().SerializeAsString()},
                                                                   {"beta", b[0].request().SerializeAsString()},
                                                                   {"beta", b[1].request().SerializeAsString()}}));
}

TEST_P(StoreTest, SurvivesReopen) {
  put_both();
  store_ = open();
  ASSERT_TRUE(store_);
  EXPECT_EQ(group(GroupBy::none), (std::vector<Sums>{{"", 5, 1500, 150, 4000, 450, 12, 1, 1}}));
  auto c = store_->put("alpha", run_a());
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->duplicates, 3u);
  EXPECT_EQ(c->stored, 0u);
}

// A batch that fails part-way fails (its transaction rolled back, as put's is), and
// the connection still works after it.
TEST_P(StoreTest, ABatchStopsAtItsFirstError) {
  auto db = tt::store::open_db(url_);
  ASSERT_TRUE(db) << db.error();
  using tt::store::Param;
  const char* insert = "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING";
  auto ok = (*db)->run_batch({{insert, {Param::text("a"), Param::text("1")}},
                              {insert, {Param::text("a"), Param::text("2")}},
                              {insert, {Param::text("b"), Param::text("3")}}});
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(*ok, (std::vector<uint64_t>{1, 0, 1}));
  {
    tt::store::Transaction tx(**db);
    ASSERT_TRUE(tx.begin());
    auto bad = (*db)->run_batch({{insert, {Param::text("c"), Param::text("4")}},
                                 {"INSERT INTO nowhere VALUES ($1)", {Param::integer(1)}},
                                 {insert, {Param::text("d"), Param::text("5")}}});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("nowhere"), std::string::npos) << bad.error();
  }
  uint64_t rows = 0;
  ASSERT_TRUE((*db)->query("SELECT key FROM meta", {}, [&](const tt::store::Row&) { ++rows; }));
  EXPECT_EQ(rows, 3u);  // schema_version, a, b
}

// Money per group, in billionths of a dollar (m-large: $10 per million input
// tokens; m-small unpriced), and by provider.
TEST_P(StoreTest, CostAndUnpricedPerGroup) {
  put_both();
  auto rows = store_->group(ReportQuery{GroupBy::model, 0, 0});
  ASSERT_TRUE(rows) << rows.error();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].key, "m-large");
  EXPECT_EQ((*rows)[0].cost_nano_usd, 8'000'000u);  // 100 + 300 + 400 input tokens
  EXPECT_EQ((*rows)[0].unpriced_requests, 0u);
  EXPECT_EQ((*rows)[1].cost_nano_usd, 0u);
  EXPECT_EQ((*rows)[1].unpriced_requests, 2u);
  EXPECT_EQ(group(GroupBy::provider), (std::vector<Sums>{{"", 5, 1500, 150, 4000, 450, 12, 1, 1}}));
}

// A schema 1 database (before money) is brought to 2: its rows kept, priced at
// nothing and not counted unpriced (they predate prices), new rows priced.
TEST_P(StoreTest, MigratesSchemaOne) {
  put_both();
  store_.reset();
  {
    auto db = tt::store::open_db(url_);
    ASSERT_TRUE(db) << db.error();
    for (const char* sql : {"DROP INDEX requests_provider", "ALTER TABLE requests DROP COLUMN cost_nano_usd",
                            "ALTER TABLE requests DROP COLUMN unpriced", "ALTER TABLE requests DROP COLUMN wire_format",
                            "ALTER TABLE requests DROP COLUMN billing", "UPDATE meta SET value = '1' WHERE key = 'schema_version'"})
      ASSERT_TRUE((*db)->run(sql)) << sql;
  }
  store_ = open();
  ASSERT_TRUE(store_);
  auto rows = store_->group(ReportQuery{GroupBy::none, 0, 0});
  ASSERT_TRUE(rows) << rows.error();
  EXPECT_EQ((*rows)[0].requests, 5u);
  EXPECT_EQ((*rows)[0].cost_nano_usd, 0u);
  EXPECT_EQ((*rows)[0].unpriced_requests, 0u);
  auto more = run_a();
  for (auto& r : more) r.mutable_request()->set_run_id("C");
  ASSERT_TRUE(store_->put("gamma", more));
  rows = store_->group(ReportQuery{GroupBy::none, 0, 0});
  ASSERT_TRUE(rows) << rows.error();
  EXPECT_EQ((*rows)[0].cost_nano_usd, 4'000'000u);  // run A again: 100 + 300 input tokens of m-large
  EXPECT_EQ((*rows)[0].unpriced_requests, 1u);
}

TEST_P(StoreTest, RefusesANewerSchema) {
  store_.reset();
  {
    auto db = tt::store::open_db(url_);
    ASSERT_TRUE(db) << db.error();
    ASSERT_TRUE((*db)->run("UPDATE meta SET value = $1 WHERE key = $2",
                           {tt::store::Param::text("3"), tt::store::Param::text("schema_version")}));
  }
  auto s = tt::store::open_store(url_);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), "the database's schema is version 3, newer than this tokentap's (2): use a newer tokentap");
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreTest, ::testing::Values("sqlite", "postgresql"), tt::testing::engine_name);

// Without the engines.

TEST(StoreUrlTest, UnknownSchemesAndMissingFiles) {
  auto s = tt::store::open_store("mysql://root:secret@db/x");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), "unknown database 'mysql:...' (sqlite:PATH, sqlite::memory:, postgresql://...)");
  s = tt::store::open_store("sqlite:/nonexistent-dir/x.db", false);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("cannot open SQLite database /nonexistent-dir/x.db"), std::string::npos) << s.error();
  s = tt::store::open_store("sqlite::memory:");
  EXPECT_TRUE(s) << s.error();
}

TEST(StoreSqliteTest, WalMode) {
  tt::testing::TempDir tmp;
  std::string path = tmp.path + "/r.db";
  ASSERT_TRUE(tt::store::open_store("sqlite:" + path));
  auto db = tt::store::open_sqlite(path);  // the mode is the file's: a new connection sees it
  ASSERT_TRUE(db) << db.error();
  std::string mode;
  ASSERT_TRUE((*db)->query("PRAGMA journal_mode", {}, [&](const tt::store::Row& r) { mode = r.text(0); }));
  EXPECT_EQ(mode, "wal");
}

TEST(StoreTimeTest, AbsoluteAndRelative) {
  using tt::store::parse_time;
  const uint64_t now = k30th + 3600 * kS;
  EXPECT_EQ(*parse_time("2026-11-30", now), k30th);
  EXPECT_EQ(*parse_time("2026-11-30T00:00:00Z", now), k30th);
  EXPECT_EQ(*parse_time("2026-11-30 01:30", now), k30th + 5400 * kS);
  EXPECT_EQ(*parse_time("2026-11-30T02:00:00.25+02:00", now), k30th + kS / 4);
  EXPECT_EQ(*parse_time("2026-11-29T23:00:00-0100", now), k30th);
  EXPECT_EQ(*parse_time("90s", now), now - 90 * kS);
  EXPECT_EQ(*parse_time("1h", now), k30th);
  EXPECT_EQ(*parse_time("7d", now), now - 7 * 86400 * kS);
  EXPECT_EQ(*parse_time("2w", now), now - 14 * 86400 * kS);
  for (const char* bad : {"", "h", "5y", "-5d", "2026-02-30", "2026-11-30T25:00Z", "2026-11-30T10:00:00X", "30/11/2026",
                          "2026-11-30T", "99999999999d"}) {
    auto t = parse_time(bad, now);
    EXPECT_FALSE(t) << bad;
    if (!t) {
      EXPECT_EQ(t.error().rfind("bad time '", 0), 0u) << t.error();
    }
  }
}

TEST(StoreGroupByTest, Names) {
  EXPECT_EQ(*tt::store::parse_group_by("session"), GroupBy::session);
  EXPECT_EQ(*tt::store::parse_group_by(""), GroupBy::none);
  auto bad = tt::store::parse_group_by("week");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), "unknown --by 'week' (one of user, host, harness, session, project, provider, model, day)");
  EXPECT_EQ(*tt::store::parse_group_by("provider"), GroupBy::provider);
}

TEST(StoreRenderTest, TableAndJson) {
  // Money in billionths of a dollar: $12.50 and $0.0042 (shown to a hundredth of a cent).
  ReportRow a{"m-large", 3, 800, 80, 4000, 450, 7, 0, 0, 100, 200, 12'500'000'000, 0, k29th23h, k30th};
  ReportRow b{"", 1234, 1234567, 0, 0, 0, 0, 1, 2, 0, 0, 4'200'000, 5, k30th, k30th + kS};
  EXPECT_EQ(tt::store::render_table({a, b}, GroupBy::model),
            "model    requests      input  cache read  cache write  output  reasoning  estimated  incomplete     cost  unpriced\n"
            "m-large         3        800       4,000          450      80          7          0           0   $12.50         0\n"
            "-           1,234  1,234,567           0            0       0          0          1           2  $0.0042         5\n"
            "total       1,237  1,235,367       4,000          450      80          7          1           2   $12.50         5\n"
            "1,237 request(s), 2026-11-29T23:00:00Z to 2026-11-30T00:00:01Z\n"
            "5 request(s) of unknown price are not in the cost (`tokentap prices` lists the models priced)\n");
  EXPECT_EQ(tt::store::render_table({}, GroupBy::none),
            "       requests  input  cache read  cache write  output  reasoning  estimated  incomplete   cost  unpriced\n"
            "total         0      0           0            0       0          0          0           0  $0.00         0\n"
            "no requests\n");
  EXPECT_EQ(tt::store::row_to_json(a, GroupBy::model),
            R"({"by":"model","key":"m-large","requests":3,"input_tokens":800,"cache_read_tokens":4000,)"
            R"("cache_write_tokens":450,"output_tokens":80,"reasoning_tokens":7,"estimated_requests":0,)"
            R"("incomplete_requests":0,"request_bytes":100,"response_bytes":200,"cost_nano_usd":12500000000,)"
            R"("unpriced_requests":0,"cost_usd":12.5,"first_unix_ns":1795993200000000000,)"
            R"("last_unix_ns":1795996800000000000})");
}

}  // namespace
