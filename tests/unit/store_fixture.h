// Tests run once per engine: a fresh SQLite file, or a fresh database on a
// PostgreSQL server started for the test binary (pg_server.h) when the first
// PostgreSQL case needs it and stopped at the end.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "pg_server.h"
#include "store/store.h"

namespace tt::testing {

// A directory of its own under /tmp, removed with what it holds.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/tt-store-XXXXXX";
    if (mkdtemp(tmpl)) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

// Request records with the fields the store groups by, ending a second after they start.
struct Req {
  std::string run;
  uint64_t seq;
  std::string user, harness, session, project, model;
  uint64_t start;
  uint64_t in, out, cache_read, cache_write, reasoning;
  bool complete = true;
  std::string usage = "exact";
};

inline tokentap::v1::Record request_record(const Req& q) {
  tokentap::v1::Record rec;
  rec.set_seq(q.seq);
  auto* r = rec.mutable_request();
  r->set_run_id(q.run);
  r->set_user(q.user);
  r->set_harness(q.harness);
  r->set_session_id(q.session);
  r->set_project(q.project);
  r->set_model(q.model);
  r->set_start_unix_ns(q.start);
  r->set_end_unix_ns(q.start + 1000000000);
  r->set_input_tokens(q.in);
  r->set_output_tokens(q.out);
  r->set_cache_read_tokens(q.cache_read);
  r->set_cache_write_tokens(q.cache_write);
  r->set_reasoning_tokens(q.reasoning);
  r->set_complete(q.complete);
  r->set_usage_source(q.usage);
  r->set_request_bytes(1000 + q.in);
  r->set_response_bytes(2000 + q.out);
  // Money: m-large is priced at $10 per million input tokens; m-small has no price.
  r->set_cost_usd(q.model == "m-large" ? q.in * 1e-5 : 0);
  r->set_cost_source(q.model == "m-large" ? "price_table" : "unknown_model");
  return rec;
}

constexpr uint64_t kS = 1000000000;
constexpr uint64_t k29th23h = 1795993200 * kS;  // 2026-11-29T23:00:00Z
constexpr uint64_t k30th = 1795996800 * kS;     // 2026-11-30T00:00:00Z

// Host alpha's run A and host beta's run B. The last nanosecond of the 29th and the
// first of the 30th fall on different days.
inline std::vector<tokentap::v1::Record> run_a() {
  return {request_record({"A", 1, "alice", "claude-code", "s1", "/p/one", "m-large", k29th23h, 100, 10, 1000, 50, 0}),
          request_record({"A", 2, "alice", "claude-code", "s1", "/p/one", "m-small", k30th - 1, 200, 20, 0, 0, 5, false,
                          "estimated"}),
          request_record({"A", 3, "bob", "codex", "s2", "/p/two", "m-large", k30th, 300, 30, 3000, 0, 7})};
}
inline std::vector<tokentap::v1::Record> run_b() {
  return {
      request_record({"B", 1, "bob", "codex", "s3", "/p/two", "m-large", k30th + 12 * 3600 * kS, 400, 40, 0, 400, 0}),
      request_record({"B", 2, "", "", "process:1:2", "", "m-small", k30th + 13 * 3600 * kS, 500, 50, 0, 0, 0})};
}

// GetParam(): "sqlite" or "postgresql". url_: a database of its own for this test.
class EngineTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { server().reset(); }

  void SetUp() override {
    ASSERT_FALSE(tmp_.path.empty());
    dir_ = tmp_.path;
    if (GetParam() == "sqlite") {
      url_ = "sqlite:" + dir_ + "/records.db";
      return;
    }
    if (!server()) {
      auto s = PgServer::start();
      ASSERT_TRUE(s) << s.error();
      server() = std::move(*s);
    }
    auto u = server()->create_database();
    ASSERT_TRUE(u) << u.error();
    url_ = *u;
  }
  std::unique_ptr<store::Store> open() {
    auto s = store::open_store(url_);
    EXPECT_TRUE(s) << s.error();
    return s ? std::move(*s) : nullptr;
  }

  static std::unique_ptr<PgServer>& server() {
    static std::unique_ptr<PgServer> s;
    return s;
  }

  TempDir tmp_;
  std::string dir_, url_;
};

inline auto engine_name = [](const auto& info) { return info.param; };

}  // namespace tt::testing
