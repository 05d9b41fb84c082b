// `tokentap report` itself (the built binary) over a database filled through the
// Store, for each engine, and over record files: the exact text and JSON, and the
// errors that exit 2.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "sink/sink.h"
#include "store_fixture.h"

namespace {

using tt::testing::run_a;
using tt::testing::run_b;
namespace v1 = tokentap::v1;

struct Ran {
  int rc;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs the binary's report with args, its output and errors kept in dir.
Ran run_report(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {TT_TOKENTAP_BIN, "report"});
  std::string out = dir + "/out", err = dir + "/err";
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  int rc = tt::testing::run_as(args, getuid(), getgid(), out, err);
  return {rc, slurp(out), slurp(err)};
}

// Records as `profile --json` writes them (no spool number).
std::string json_lines(const std::vector<v1::Record>& recs) {
  std::string out;
  for (v1::Record r : recs) {
    r.clear_seq();
    out += tt::sink::record_to_json(r) + '\n';
  }
  return out;
}

// The report of args exits 0 and prints exactly want.
void expect_report(const std::string& dir, const std::vector<std::string>& args, const std::string& want) {
  Ran r = run_report(dir, args);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, want);
}

class ReportCliTest : public tt::testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (HasFatalFailure()) return;
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->put("alpha", run_a()));
    ASSERT_TRUE(s->put("beta", run_b()));
  }

  Ran report(const std::vector<std::string>& args) { return run_report(dir_, args); }
};

TEST_P(ReportCliTest, TableByModel) {
  expect_report(dir_, {"--db", url_, "--by", "model"},
                "model    requests  input  cache read  cache write  output  reasoning  estimated  incomplete     cost  unpriced\n"
                "m-large         3    800       4,000          450      80          7          0           0  $0.0080         0\n"
                "m-small         2    700           0            0      70          5          1           1    $0.00         2\n"
                "total           5  1,500       4,000          450     150         12          1           1  $0.0080         2\n"
                "5 request(s), 2026-11-29T23:00:00Z to 2026-11-30T13:00:01Z\n"
                "2 request(s) of unknown price are not in the cost (`tokentap prices` lists the models priced)\n");
}

TEST_P(ReportCliTest, JsonGroupsInARange) {
  expect_report(
      dir_, {"--db", url_, "--json", "--by", "user", "--since", "2026-11-30", "--until", "2026-11-30T13:00:00Z"},
      R"({"by":"user","key":"bob","requests":2,"input_tokens":700,"cache_read_tokens":3000,)"
      R"("cache_write_tokens":400,"output_tokens":70,"reasoning_tokens":7,"estimated_requests":0,)"
      R"("incomplete_requests":0,"request_bytes":2700,"response_bytes":4070,"cost_nano_usd":7000000,)"
      R"("unpriced_requests":0,"cost_usd":0.007,"first_unix_ns":1795996800000000000,)"
      R"("last_unix_ns":1796040001000000000})"
      "\n");
}

TEST_P(ReportCliTest, JsonRequestRecordsToAFile) {
  std::string file = dir_ + "/requests.jsonl";
  expect_report(dir_, {"--db", url_, "--json", "--since", "2026-11-30", "-o", file}, "");
  auto a = run_a(), b = run_b();
  EXPECT_EQ(slurp(file), json_lines({a[2], b[0], b[1]}));
}

TEST_P(ReportCliTest, ClearErrorsExitTwo) {
  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--db", url_, "--by", "week"}, "unknown --by 'week'"},
           {{"--db", url_, "--since", "yesterday"}, "bad time 'yesterday'"},
           {{"--db", "postgresql:///x?host=/nonexistent&port=1"}, "cannot connect to PostgreSQL: "},
           {{"--db", "sqlite:" + dir_ + "/missing.db"}, "cannot open SQLite database " + dir_ + "/missing.db"},
           {{"--by", "model"}, "give record files or --db DATABASE"}}) {
    Ran r = report(args);
    EXPECT_EQ(r.rc, 2) << message;
    EXPECT_EQ(r.err.rfind("tokentap report: " + message, 0), 0u) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, ReportCliTest, ::testing::Values("sqlite", "postgresql"), tt::testing::engine_name);

// Record files as --out writes them (no spool numbers): grouped through an
// in-memory store, or with --json alone every record back as it was.
class ReportFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path.empty());
    dir_ = tmp_.path;
    write(dir_ + "/a.pb", run_a());
    write(dir_ + "/b.pb", run_b());
  }

  // spooled: with their record numbers, as spool segments hold them.
  void write(const std::string& path, std::vector<v1::Record> recs, bool spooled = false) {
    auto sink = tt::sink::DelimitedProtoSink::open(path);
    ASSERT_TRUE(sink) << sink.error();
    for (v1::Record& r : recs) {
      if (!spooled) r.clear_seq();
      (*sink)->write(r);
    }
    ASSERT_TRUE((*sink)->close());
  }

  Ran report(const std::vector<std::string>& args) { return run_report(dir_, args); }

  tt::testing::TempDir tmp_;
  std::string dir_;
};

TEST_F(ReportFilesTest, GroupedByDay) {
  expect_report(dir_, {dir_ + "/a.pb", dir_ + "/b.pb", "--by", "day"},
                "day         requests  input  cache read  cache write  output  reasoning  estimated  incomplete     cost  unpriced\n"
                "2026-11-29         2    300       1,000           50      30          5          1           1  $0.0010         1\n"
                "2026-11-30         3  1,200       3,000          400     120          7          0           0  $0.0070         1\n"
                "total              5  1,500       4,000          450     150         12          1           1  $0.0080         2\n"
                "5 request(s), 2026-11-29T23:00:00Z to 2026-11-30T13:00:01Z\n"
                "2 request(s) of unknown price are not in the cost (`tokentap prices` lists the models priced)\n");
}

// Spool segments carry record numbers: a segment given twice counts once.
TEST_F(ReportFilesTest, SpooledRecordsCountOnce) {
  write(dir_ + "/spool.pb", run_a(), true);
  expect_report(dir_, {dir_ + "/spool.pb", dir_ + "/spool.pb", "--by", "host"},
                "host   requests  input  cache read  cache write  output  reasoning  estimated  incomplete     cost  unpriced\n"
                "-             3    600       4,000           50      60         12          1           1  $0.0040         1\n"
                "total         3    600       4,000           50      60         12          1           1  $0.0040         1\n"
                "3 request(s), 2026-11-29T23:00:00Z to 2026-11-30T00:00:01Z\n"
                "1 request(s) of unknown price are not in the cost (`tokentap prices` lists the models priced)\n");
}

TEST_F(ReportFilesTest, JsonAloneIsEveryRecord) {
  Ran r = report({"--json", dir_ + "/a.pb", dir_ + "/b.pb"});
  EXPECT_EQ(r.rc, 0) << r.err;
  auto a = run_a(), b = run_b();
  a.insert(a.end(), b.begin(), b.end());
  EXPECT_EQ(r.out, json_lines(a));
}

TEST_F(ReportFilesTest, DamagedFileCountsWhatPrecedesTheDamage) {
  std::ofstream(dir_ + "/b.pb", std::ios::app) << "\x05"
                                               << "abc";
  Ran r = report({dir_ + "/a.pb", dir_ + "/b.pb"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "tokentap: " + dir_ + "/b.pb: corrupt record 2\n");
  EXPECT_NE(r.out.find("total         5  1,500"), std::string::npos) << r.out;
}

}  // namespace
