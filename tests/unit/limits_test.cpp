// The parsers' bounds (docs/security.md): what a peer's traffic can make them do
// is bounded, and every bound that is hit is counted.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "aggregate/aggregator.h"
#include "pipeline/pipeline.h"
#include "records.h"
#include "stream/connection_table.h"

namespace {

using tt::aggregate::Aggregator;
using tt::testing::data_records;

std::string gzip(std::string_view in) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// Ten "gzip, gzip" responses of 2 MiB of zeros each, a hundred-odd bytes on the
// wire, on one connection with a 4 MiB decoding allowance: two are decoded, the
// other eight hit the connection's budget, and every request is still reported.
TEST(Limits, DecompressionBombsSpendTheConnectionsBudget) {
  tt::testing::CollectSink sink;
  Aggregator agg("run", &sink);
  tt::pipeline::PipelineOptions o;
  o.decode_allowance = 4u << 20;
  tt::pipeline::Pipeline pipe(o, agg);
  std::string bomb = gzip(gzip(std::string(2u << 20, '\0')));
  ASSERT_LT(bomb.size(), 400u);
  std::string body = R"({"model":"claude-sonnet-4-5","messages":[]})";
  std::string req = "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip, gzip\r\n"
                     "Content-Length: " + std::to_string(bomb.size()) + "\r\n\r\n" + bomb;
  for (int i = 0; i < 10; ++i) {
    for (auto& r : data_records(3, 1, TT_DIR_WRITE, req, 10 + 2 * i)) pipe.on_raw(r.data(), r.size());
    for (auto& r : data_records(3, 1, TT_DIR_READ, resp, 11 + 2 * i)) pipe.on_raw(r.data(), r.size());
  }
  EXPECT_EQ(agg.requests().size(), 10u);
  EXPECT_EQ(agg.capture_stats().decode_limit_hits(), 8u);
  EXPECT_EQ(agg.capture_stats().decode_errors(), 8u);
  EXPECT_NE(agg.requests().back().error().find("exceeds"), std::string::npos) << agg.requests().back().error();
}

// A process opening connections without end: past the bound, records of new
// connections are dropped and counted; closing one makes room again.
TEST(Limits, ConnectionsPerProcessAreBounded) {
  struct Null : tt::stream::StreamConsumer {
    void on_bytes(int, std::string_view, uint64_t) override {}
    void on_gap(int, uint64_t, uint64_t) override {}
    void on_close(uint64_t) override {}
  };
  tt::stream::ConnectionTable t([](const tt::stream::ConnInfo&) { return std::make_unique<Null>(); });
  t.set_max_per_process(2);
  auto send = [&](uint32_t pid, uint64_t conn) {
    for (auto& r : data_records(pid, conn, TT_DIR_WRITE, "x", 1)) {
      auto ev = tt::capture::parse_event(r.data(), r.size());
      t.on_data(ev.data);
    }
  };
  send(1, 10);
  send(1, 11);
  send(1, 12);  // refused
  send(1, 12);  // refused again
  send(2, 10);  // another process: its own bound
  EXPECT_EQ(t.open_connections(), 3u);
  EXPECT_EQ(t.refused_records(), 2u);
  t.on_close(1, 10, 2);
  send(1, 12);
  EXPECT_EQ(t.open_connections(), 3u);
  EXPECT_EQ(t.refused_records(), 2u);
}

// Session ids come from the traffic: past the bound a new id is not kept.
TEST(Limits, SessionsAreBounded) {
  Aggregator agg("run-s", nullptr);
  agg.set_max_sessions(2);
  for (const char* id : {"a", "b", "c", "a"}) {
    tokentap::v1::ApiRequest r;
    r.set_pid(7);
    r.set_session_id(id);
    r.set_session_source("header:x-session-id");
    agg.add_request(r);
  }
  const auto& reqs = agg.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[1].session_id(), "b");
  EXPECT_EQ(reqs[2].session_id(), "process:7:run:run-s");  // a third session: not kept
  EXPECT_EQ(reqs[2].session_source(), "process");
  EXPECT_EQ(reqs[3].session_id(), "a");  // one already open still counts
  EXPECT_EQ(agg.capture_stats().session_limit_hits(), 1u);
}

}  // namespace
