// The engine without the kernel: a capture file as the source, the whole-host
// session rule, interim and final summaries with pruning, muting of non-LLM
// connections, and the daemon's memory (no request history).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "capture/events.h"
#include "capture/file/capture_file.h"
#include "engine/engine.h"

namespace {

namespace v1 = ::tokentap::v1;
using tt::engine::Engine;
using tt::engine::EngineOptions;

struct CollectSink : tt::sink::RecordSink {
  std::vector<v1::Record> recs;
  void write(const v1::Record& r) override { recs.push_back(r); }
  template <class F>
  int count(F pred) const {
    int n = 0;
    for (auto& r : recs) n += pred(r) ? 1 : 0;
    return n;
  }
};

// One DATA record holding a whole call (bodies here are small).
std::string data(uint32_t pid, uint64_t conn, uint8_t dir, const std::string& bytes, uint64_t ts) {
  tt_data_event_small h{};
  h.hdr.kind = TT_EV_DATA;
  h.hdr.pid = h.hdr.tid = pid;
  h.hdr.ts_ns = ts;
  h.conn = conn;
  h.call_len = h.len = bytes.size();
  h.dir = dir;
  h.lib = TT_LIB_OPENSSL;
  return std::string(reinterpret_cast<const char*>(&h), TT_DATA_EVENT_HDR_SIZE) + bytes;
}

std::string exit_rec(uint32_t pid, uint64_t ts) {
  tt_proc_event e{};
  e.hdr.kind = TT_EV_EXIT;
  e.hdr.pid = pid;
  e.hdr.ts_ns = ts;
  return std::string(reinterpret_cast<const char*>(&e), sizeof(e));
}

std::string info(uint32_t kind, uint32_t pid, uint64_t ts, const nlohmann::json& j) {
  return tt::capture::make_info_record(kind, pid, ts, j.dump());
}

std::string request(const std::string& host, const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string json_response(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

const std::string kMessages = R"({"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]})";
const std::string kUsage =
    R"({"id":"msg_1","type":"message","model":"claude-sonnet-4-5","content":[],"stop_reason":"end_turn",)"
    R"("usage":{"input_tokens":7,"cache_read_input_tokens":100,"output_tokens":3}})";

class EngineTest : public ::testing::Test {
 protected:
  CollectSink sink;
  std::unique_ptr<Engine> make(EngineOptions o = {}) {
    auto e = Engine::create(o, &sink, "run-e");
    EXPECT_TRUE(e.ok());
    return std::move(*e);
  }
  static void feed(Engine& e, const std::string& rec) { e.on_record(rec.data(), rec.size()); }
  // One Anthropic call on (pid, conn) at t.
  static void call(Engine& e, uint32_t pid, uint64_t conn, uint64_t t, const std::string& host = "api.anthropic.com") {
    feed(e, data(pid, conn, TT_DIR_WRITE, request(host, "/v1/messages", kMessages), t));
    feed(e, data(pid, conn, TT_DIR_READ, json_response(kUsage), t + 1000));
  }
  static nlohmann::json host_run_info() {
    return {{"run_id", "run-e"}, {"scope", "host"}, {"command", {"tokentap", "daemon"}}, {"mono_to_unix_ns", 0}};
  }
};

TEST_F(EngineTest, ReplayFromAFileSourceEqualsTheLiveRecords) {
  std::string path = testing::TempDir() + "/engine_src.ttcap";
  std::string copy = testing::TempDir() + "/engine_copy.ttcap";
  {
    auto* w = *tt::capture::CaptureWriter::open(path);
    for (const std::string& r : {info(tt::capture::TT_EV_RUN_INFO, 1, 10, {{"run_id", "run-f"}, {"command", {"x"}}}),
                                 data(42, 7, TT_DIR_WRITE, request("api.anthropic.com", "/v1/messages", kMessages), 100),
                                 data(42, 7, TT_DIR_READ, json_response(kUsage), 200)})
      w->write(r.data(), r.size());
    delete w;
  }
  EngineOptions o;
  o.capture_path = copy;  // the engine writes what it is fed
  auto e = make(o);
  tt::engine::FileSource src(path, [&](const void* d, size_t n) { e->on_record(d, n); });
  EXPECT_EQ(src.transfer(0), 3);
  EXPECT_EQ(src.transfer(0), -1);  // ended
  EXPECT_TRUE(src.error().empty());
  e->finish(src.last_ts_ns(), 0);
  ASSERT_EQ(sink.count([](auto& r) { return r.has_request(); }), 1);
  const auto& req = sink.recs.front().request();
  EXPECT_EQ(req.run_id(), "run-f");
  EXPECT_EQ(req.input_tokens(), 7u);
  EXPECT_EQ(req.cache_read_tokens(), 100u);
  EXPECT_EQ(req.output_tokens(), 3u);
  ASSERT_TRUE(sink.recs.back().has_run());
  EXPECT_EQ(sink.recs.back().run().scope(), "process_tree");
  EXPECT_TRUE(sink.recs.back().run().final());
  // The capture the engine wrote replays to the same request.
  int n = 0;
  ASSERT_TRUE(tt::capture::read_capture(copy, [&](const void*, size_t) { ++n; }).ok());
  EXPECT_EQ(n, 3);
}

TEST_F(EngineTest, WholeHostSessionsStopAtTheProcessGroup) {
  auto e = make();
  using tt::capture::TT_EV_PROC_INFO;
  feed(*e, info(tt::capture::TT_EV_RUN_INFO, 1, 1, host_run_info()));
  // bash (group 5) started a harness (group 10) that runs a helper in its group.
  feed(*e, info(TT_EV_PROC_INFO, 5, 2, {{"comm", "bash"}, {"ppid", 1}, {"pgid", 5}, {"start_unix_ns", 500}}));
  feed(*e, info(TT_EV_PROC_INFO, 10, 3, {{"comm", "agent"}, {"ppid", 5}, {"pgid", 10}, {"start_unix_ns", 1000}}));
  feed(*e, info(TT_EV_PROC_INFO, 11, 4, {{"comm", "helper"}, {"ppid", 10}, {"pgid", 10}, {"start_unix_ns", 2000}}));
  call(*e, 11, 1, 100);
  call(*e, 10, 2, 200);
  e->finish(1000, 0);
  for (auto& r : sink.recs)
    if (r.has_request()) EXPECT_EQ(r.request().session_id(), "process:10:1000");
  ASSERT_TRUE(sink.recs.back().has_run());
  EXPECT_EQ(sink.recs.back().run().scope(), "host");
  // Only processes that made requests are summarised in the whole host.
  EXPECT_EQ(sink.count([](auto& r) { return r.has_process(); }), 2);
}

TEST_F(EngineTest, InterimSummariesThenFinalOnesWhenProcessesExit) {
  EngineOptions o;
  o.keep_requests = false;
  o.summary_interval_ns = 1'000'000'000;
  auto e = make(o);
  feed(*e, info(tt::capture::TT_EV_RUN_INFO, 1, 1, host_run_info()));
  feed(*e, info(tt::capture::TT_EV_PROC_INFO, 20, 2, {{"comm", "a"}, {"ppid", 1}, {"pgid", 20}}));
  call(*e, 20, 1, 100);
  call(*e, 20, 1, 200);
  e->tick(2'000'000'000);
  auto interim = [](auto& r) { return r.has_session() && !r.session().final(); };
  auto final_session = [](auto& r) { return r.has_session() && r.session().final(); };
  ASSERT_EQ(sink.count(interim), 1);
  for (auto& r : sink.recs)
    if (interim(r)) EXPECT_EQ(r.session().api_requests(), 2u);
  e->tick(2'500'000'000);  // within the interval: nothing
  e->tick(3'500'000'000);  // nothing changed: nothing
  EXPECT_EQ(sink.count(interim), 1);
  feed(*e, exit_rec(20, 3'600'000'000));
  e->tick(5'000'000'000);
  EXPECT_EQ(sink.count(final_session), 1);
  EXPECT_EQ(sink.count([](auto& r) { return r.has_process() && r.process().final(); }), 1);
  // Ended and pruned: the end of the run repeats neither.
  e->finish(6'000'000'000, 0);
  EXPECT_EQ(sink.count(final_session), 1);
  EXPECT_EQ(sink.count([](auto& r) { return r.has_process(); }), 2);  // the interim one, the final one
  // No request history kept, yet the run totals count every request.
  EXPECT_TRUE(e->aggregator().requests().empty());
  ASSERT_TRUE(sink.recs.back().has_run());
  EXPECT_EQ(sink.recs.back().run().api_requests(), 2u);
  EXPECT_EQ(sink.recs.back().run().totals().cache_read_tokens(), 200u);
}

TEST_F(EngineTest, IdleSessionsEnd) {
  EngineOptions o;
  o.summary_interval_ns = 1'000'000'000;
  o.session_idle_ns = 10'000'000'000;
  auto e = make(o);
  feed(*e, info(tt::capture::TT_EV_RUN_INFO, 1, 1, host_run_info()));
  call(*e, 30, 1, 1'000'000'000);
  e->tick(5'000'000'000);
  EXPECT_EQ(sink.count([](auto& r) { return r.has_session() && r.session().final(); }), 0);
  e->tick(20'000'000'000);
  EXPECT_EQ(sink.count([](auto& r) { return r.has_session() && r.session().final(); }), 1);
}

TEST_F(EngineTest, OnlyNamedNonApiHostsAreMuted) {
  std::vector<std::pair<uint32_t, uint64_t>> muted;
  EngineOptions o;
  o.pipeline.mute_connection = [&](uint32_t pid, uint64_t conn) { muted.push_back({pid, conn}); };
  auto e = make(o);
  auto get = [&](uint32_t pid, uint64_t conn, const std::string& host, const std::string& path, uint64_t t) {
    feed(*e, data(pid, conn, TT_DIR_WRITE, "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n", t));
    feed(*e, data(pid, conn, TT_DIR_READ, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", t + 10));
  };
  get(50, 1, "registry.npmjs.org", "/left-pad", 100);     // muted
  get(50, 1, "registry.npmjs.org", "/right-pad", 200);    // already: not again
  get(50, 2, "127.0.0.1:8443", "/healthz", 300);          // an address: a gateway may follow
  get(50, 3, "localhost:8443", "/healthz", 400);
  get(50, 4, "api.anthropic.com", "/api/hello", 500);     // an LLM API host
  call(*e, 50, 5, 600, "llm-gateway.example");            // an API call: not muted
  e->finish(1000, 0);
  ASSERT_EQ(muted.size(), 1u);
  EXPECT_EQ(muted[0], std::make_pair(50u, uint64_t{1}));
  ASSERT_TRUE(sink.recs.back().has_run());
  EXPECT_EQ(sink.recs.back().run().capture().muted_connections(), 1u);
  EXPECT_EQ(sink.count([](auto& r) { return r.has_request(); }), 1);
}

TEST_F(EngineTest, ALocalServersSideIsCountedThenMuted) {
  std::vector<std::pair<uint32_t, uint64_t>> muted;
  EngineOptions o;
  o.pipeline.mute_connection = [&](uint32_t pid, uint64_t conn) { muted.push_back({pid, conn}); };
  auto e = make(o);
  // The server reads the request and writes the answer.
  feed(*e, data(60, 9, TT_DIR_READ, request("127.0.0.1:8443", "/v1/messages", kMessages), 100));
  feed(*e, data(60, 9, TT_DIR_WRITE, json_response(kUsage), 200));
  e->finish(300, 0);
  EXPECT_EQ(sink.count([](auto& r) { return r.has_request(); }), 0);
  ASSERT_EQ(muted.size(), 1u);
  EXPECT_EQ(muted[0], std::make_pair(60u, uint64_t{9}));
  EXPECT_EQ(sink.recs.back().run().capture().server_side_exchanges(), 1u);
}

TEST_F(EngineTest, InfoNumbersFromOutsideNeverCrash) {
  auto e = make();
  feed(*e, info(tt::capture::TT_EV_RUN_INFO, 1, 1, nlohmann::json::parse(R"({"mono_to_unix_ns": 1e300, "scope": 7})")));
  feed(*e, info(tt::capture::TT_EV_PROC_INFO, 9, 2, nlohmann::json::parse(R"({"ppid": -1.5, "pgid": "x", "start_unix_ns": 1e30})")));
  feed(*e, info(tt::capture::TT_EV_STATS, 1, 3, nlohmann::json::parse(R"({"events": 1e300, "exit_code": 3.5})")));
  call(*e, 9, 1, 100);
  e->finish(200, 0);
  EXPECT_EQ(sink.count([](auto& r) { return r.has_request(); }), 1);
}

}  // namespace
