// The userspace pipeline fed synthetic capture records (as BPF would produce
// them): stream reassembly, gaps, HTTP pairing, provider decoding, aggregation,
// sinks and capture files, all without the kernel.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aggregate/aggregator.h"
#include "capture/events.h"
#include "capture/file/capture_file.h"
#include "pipeline/pipeline.h"
#include "records.h"
#include "sink/report.h"
#include "sink/sink.h"

namespace {

using tt::aggregate::Aggregator;
using tt::pipeline::Pipeline;
using tt::pipeline::PipelineOptions;
using tt::testing::CollectSink;
using tt::testing::data_records;

std::string close_record(uint32_t pid, uint64_t conn, uint64_t ts) {
  tt_close_event c{};
  c.hdr.kind = TT_EV_CLOSE;
  c.hdr.pid = pid;
  c.hdr.ts_ns = ts;
  c.conn = conn;
  return std::string(reinterpret_cast<const char*>(&c), sizeof(c));
}

// What tlstap.bpf.c says once an AEAD context (rustls) is paired with a socket;
// sock 0: the context got a new key.
std::string alias_record(uint32_t pid, uint64_t ctx, uint64_t sock, uint8_t dir, uint64_t ts) {
  tt_alias_event a{};
  a.hdr.kind = TT_EV_ALIAS;
  a.hdr.pid = pid;
  a.hdr.ts_ns = ts;
  a.conn = ctx;
  a.sock = sock;
  a.dir = dir;
  return std::string(reinterpret_cast<const char*>(&a), sizeof(a));
}

const char* kAnthropicRequestBody =
    R"({"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]})";

std::string anthropic_request(std::string_view id_headers = "x-claude-code-session-id: sess-42\r\n"
                                                            "User-Agent: claude-cli/2.0.0\r\n",
                              std::string body = kAnthropicRequestBody) {
  return "POST /v1/messages?beta=true HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: sk-secret\r\n" +
         std::string(id_headers) + "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string chunk(std::string_view s) {
  char hex[16];
  snprintf(hex, sizeof(hex), "%zx", s.size());
  return std::string(hex) + "\r\n" + std::string(s) + "\r\n";
}

std::vector<std::string> anthropic_sse_events() {
  return {
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
      "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{"
      "\"input_tokens\":12,\"cache_creation_input_tokens\":300,\"cache_read_input_tokens\":4000,"
      "\"cache_creation\":{\"ephemeral_5m_input_tokens\":200,\"ephemeral_1h_input_tokens\":100},"
      "\"output_tokens\":1}}}\n\n",
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
      "\"text_delta\",\"text\":\"Hello\"}}\n\n",
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
      "\"usage\":{\"output_tokens\":25}}\n\n",
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
  };
}

std::string anthropic_response_head() {
  return "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nrequest-id: req_abc\r\n"
         "transfer-encoding: chunked\r\n\r\n";
}

// Every pipeline test runs twice: with request bodies kept whole until their
// responses end, and with each one read as it ends and released (the daemon's
// way past its memory budget). The records must be the same.
PipelineOptions with_held_bytes(size_t held) {
  PipelineOptions o;
  o.held_request_bytes = held;
  return o;
}

class PipelineTest : public ::testing::TestWithParam<size_t> {
 protected:
  CollectSink sink;
  Aggregator agg{"run-1", &sink};
  Pipeline pipe{with_held_bytes(GetParam()), agg};

  void feed(const std::vector<std::string>& recs) {
    for (auto& r : recs) pipe.on_raw(r.data(), r.size());
  }
  void one_exchange(uint32_t pid, uint64_t conn, uint64_t t0, const std::string& request = anthropic_request()) {
    feed(data_records(pid, conn, TT_DIR_WRITE, request, t0));
    feed(data_records(pid, conn, TT_DIR_READ, anthropic_response_head(), t0 + 1'000'000));
    uint64_t t = t0 + 2'000'000;
    for (auto& e : anthropic_sse_events()) feed(data_records(pid, conn, TT_DIR_READ, chunk(e), t += 1'000'000));
    feed(data_records(pid, conn, TT_DIR_READ, "0\r\n\r\n", t + 1'000'000));
  }
  std::vector<tokentap::v1::ApiRequest> requests() {
    std::vector<tokentap::v1::ApiRequest> out;
    for (auto& r : sink.recs)
      if (r.has_request()) out.push_back(r.request());
    return out;
  }
};

TEST_P(PipelineTest, StreamingAnthropicExchangeBecomesOneExactRecord) {
  one_exchange(100, 0xabc, 1'000'000'000);
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& r = reqs[0];
  EXPECT_EQ(r.provider(), "anthropic");
  EXPECT_EQ(r.api(), "messages");
  EXPECT_EQ(r.path(), "/v1/messages");
  EXPECT_EQ(r.model(), "claude-sonnet-4-5");
  EXPECT_TRUE(r.stream());
  EXPECT_EQ(r.input_tokens(), 12u);
  EXPECT_EQ(r.cache_read_tokens(), 4000u);
  EXPECT_EQ(r.cache_write_tokens(), 300u);
  EXPECT_EQ(r.cache_write_5m_tokens(), 200u);
  EXPECT_EQ(r.cache_write_1h_tokens(), 100u);
  EXPECT_EQ(r.output_tokens(), 25u);
  EXPECT_EQ(r.usage_source(), "exact");
  EXPECT_EQ(r.tls_library(), "openssl");
  EXPECT_EQ(r.stop_reason(), "end_turn");
  EXPECT_EQ(r.request_id(), "req_abc");
  EXPECT_EQ(r.session_id(), "sess-42");
  EXPECT_EQ(r.request_bytes(), strlen(kAnthropicRequestBody));
  size_t sse_bytes = 0;
  for (auto& e : anthropic_sse_events()) sse_bytes += e.size();
  EXPECT_EQ(r.response_bytes(), sse_bytes);
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.status(), 200u);
  EXPECT_DOUBLE_EQ(r.ttfb_ms(), 1.0);
  EXPECT_DOUBLE_EQ(r.latency_ms(), 7.0);
  EXPECT_EQ(r.connection_id(), 1u);
  EXPECT_EQ(r.sequence_on_connection(), 1u);
  EXPECT_EQ(r.run_id(), "run-1");
}

// The request's anatomy, its parts scaled to the prompt's 12 + 4000 + 300 tokens:
// the same whether the body was kept whole or read as it ended (the two params).
TEST_P(PipelineTest, AnatomyScaledToThePrompt) {
  std::string body = R"({"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"system":"Be brief.",)"
                     R"("tools":[{"name":"ls","description":"List files"}],"messages":[{"role":"user","content":"hi"}]})";
  one_exchange(100, 0xabc, 1'000'000'000, anthropic_request("User-Agent: claude-cli/2.0.0\r\n", body));
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& a = reqs[0].anatomy();
  // bytes: system 9 ("Be brief."), tools 12 ("ls", "List files"), new content 6 ("user", "hi");
  // tokens: 4312 x 9/27 = 1437.33, x 12/27 = 1916.44, x 6/27 = 958.22: the one left over
  // goes to the largest remainder (tools).
  EXPECT_EQ(a.system().bytes(), 9u);
  EXPECT_EQ(a.system().tokens(), 1437u);
  EXPECT_EQ(a.tools().bytes(), 12u);
  EXPECT_EQ(a.tools().tokens(), 1917u);
  EXPECT_EQ(a.tools().count(), 1u);
  EXPECT_EQ(a.new_content().bytes(), 6u);
  EXPECT_EQ(a.new_content().tokens(), 958u);
  EXPECT_EQ(a.history().tokens() + a.tool_results().tokens(), 0u);
  EXPECT_EQ(a.tool_names(0), "ls");
  EXPECT_EQ(a.prefix_hashes_size(), 3);  // the tool, the system, the message
  EXPECT_TRUE(a.new_user_turn());
  EXPECT_NE(a.conversation_hash(), 0u);
  EXPECT_EQ(a.messages(), 1u);
  EXPECT_EQ(reqs[0].tools_called_size(), 0);
  // --json writes it all.
  auto j = nlohmann::json::parse(tt::sink::record_to_json(sink.recs.at(0)));
  EXPECT_EQ(j["anatomy"]["tools"]["tokens"], 1917);
  EXPECT_EQ(j["anatomy"]["prefix_hashes"].size(), 3u);
  EXPECT_EQ(j["anatomy"]["prefix_hashes"][2].get<uint64_t>(), a.prefix_hashes(2));
  EXPECT_EQ(j["anatomy"]["tool_names"][0], "ls");
  EXPECT_TRUE(j["tools_called"].is_array());
}

// rustls: each direction has its own AEAD context. The request's records are
// sealed before the socket write that pairs their context, so they wait; both
// contexts end up on the socket's connection, in order.
TEST_P(PipelineTest, RustlsRecordsMeetOnTheirSocket) {
  const uint32_t pid = 300;
  const uint64_t seal_ctx = 0x7f0000001000, open_ctx = 0x7f0000002000, sk = 0xffff888012345600;
  std::string req = anthropic_request();
  uint64_t t = 1'000'000'000;
  feed(data_records(pid, seal_ctx, TT_DIR_WRITE, req.substr(0, 100), t, 0, TT_LIB_AWSLC));
  feed(data_records(pid, seal_ctx, TT_DIR_WRITE, req.substr(100), t + 1000, 0, TT_LIB_AWSLC));
  EXPECT_TRUE(requests().empty());
  feed({alias_record(pid, seal_ctx, sk, TT_DIR_WRITE, t + 2000)});
  feed({alias_record(pid, open_ctx, sk, TT_DIR_READ, t + 1'000'000)});
  feed(data_records(pid, open_ctx, TT_DIR_READ, anthropic_response_head(), t + 1'000'000, 0, TT_LIB_AWSLC));
  uint64_t tr = t + 2'000'000;
  for (auto& e : anthropic_sse_events())
    feed(data_records(pid, open_ctx, TT_DIR_READ, chunk(e), tr += 1'000'000, 0, TT_LIB_AWSLC));
  feed(data_records(pid, open_ctx, TT_DIR_READ, "0\r\n\r\n", tr + 1'000'000, 0, TT_LIB_AWSLC));
  // The socket closes; a later connection reusing the contexts' addresses is another one.
  feed({close_record(pid, sk, tr + 2'000'000)});
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].input_tokens(), 12u);
  EXPECT_EQ(reqs[0].cache_read_tokens(), 4000u);
  EXPECT_EQ(reqs[0].output_tokens(), 25u);
  EXPECT_EQ(reqs[0].request_bytes(), strlen(kAnthropicRequestBody));
  EXPECT_TRUE(reqs[0].complete());
  EXPECT_EQ(reqs[0].capture_method(), "plaintext");
  pipe.finish(tr + 3'000'000);
  EXPECT_EQ(agg.capture_stats().unpaired_record_bytes(), 0u);
  EXPECT_EQ(agg.capture_stats().socket_fallback_connections(), 0u);
}

// Records whose context is never paired (or gets a new key first) cannot be put
// on a connection: they are dropped and counted, never silently.
TEST_P(PipelineTest, RustlsRecordsNeverPairedAreCounted) {
  const uint32_t pid = 301;
  feed(data_records(pid, 0x1000, TT_DIR_WRITE, std::string(700, 'a'), 1000, 0, TT_LIB_AWSLC));
  feed({alias_record(pid, 0x1000, 0, TT_DIR_WRITE, 2000)});  // new key: the 700 bytes are orphans
  feed(data_records(pid, 0x2000, TT_DIR_WRITE, std::string(300, 'b'), 3000, 0, TT_LIB_AWSLC));
  // Once paired, a context's records go straight to the connection.
  feed({alias_record(pid, 0x3000, 0xffff0001, TT_DIR_WRITE, 3500)});
  feed(data_records(pid, 0x3000, TT_DIR_WRITE, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 4000, 0, TT_LIB_AWSLC));
  EXPECT_EQ(agg.capture_stats().unpaired_record_bytes(), 700u);
  pipe.finish(5000);  // 0x2000 never met its socket
  EXPECT_EQ(agg.capture_stats().unpaired_record_bytes(), 1000u);
  EXPECT_TRUE(requests().empty());
  agg.finish({}, 0, 0, 0);
  EXPECT_NE(tt::sink::render_report(agg).find("TLS records never matched to their socket: 1,000 B"),
            std::string::npos)
      << tt::sink::render_report(agg);
}

// A context that seals more than the 16 MiB userspace holds before it is
// paired: the excess is counted, and once paired the stream gets a gap there.
// Here the bytes that follow would splice into a well-formed request, which
// must still be reported incomplete, not decoded as if nothing were missing.
TEST_P(PipelineTest, RustlsRecordsBeyondTheHoldBoundLeaveAGap) {
  const uint32_t pid = 302;
  const uint64_t seal_ctx = 0x4000, open_ctx = 0x5000, sk = 0xffff0002;
  const size_t held_limit = 16u << 20;
  std::string body = std::string(kAnthropicRequestBody) + std::string((17u << 20), ' ');
  std::string req = "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nContent-Type: application/json\r\n"
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  // One seal per TLS record (16 KiB), as rustls does: a dropped record is a
  // whole call, which the stream layer cannot notice by itself.
  auto seal = [&](size_t from, size_t to, uint64_t ts) {
    for (size_t off = from; off < to; off += TT_CHUNK_MAX)
      feed(data_records(pid, seal_ctx, TT_DIR_WRITE, req.substr(off, std::min<size_t>(TT_CHUNK_MAX, to - off)), ts,
                        0, TT_LIB_AWSLC));
  };
  seal(0, held_limit + 4 * TT_CHUNK_MAX, 1000);
  EXPECT_EQ(agg.capture_stats().unpaired_record_bytes(), 4u * TT_CHUNK_MAX);
  feed({alias_record(pid, seal_ctx, sk, TT_DIR_WRITE, 2000)});
  seal(held_limit, req.size(), 3000);
  feed({alias_record(pid, open_ctx, sk, TT_DIR_READ, 4000)});
  std::string resp = anthropic_response_head();
  for (auto& e : anthropic_sse_events()) resp += chunk(e);
  feed(data_records(pid, open_ctx, TT_DIR_READ, resp + "0\r\n\r\n", 5000, 0, TT_LIB_AWSLC));
  pipe.finish(6000);
  agg.finish({}, 0, 0, 0);
  EXPECT_EQ(agg.capture_stats().unpaired_record_bytes(), 4u * TT_CHUNK_MAX);
  for (auto& r : requests()) EXPECT_FALSE(r.complete()) << r.DebugString().substr(0, 400);
  EXPECT_GT(agg.run_summary().capture().bytes_unparsed() + agg.run_summary().capture().parse_errors() +
                agg.run_summary().capture().incomplete_requests(),
            0u);
}

// A client that closes the connection once the stream's final usage came,
// before the chunked terminator (Copilot CLI after "data: [DONE]"), had its
// whole answer; one that closes before the usage did not.
TEST_P(PipelineTest, ClosedAfterTheFinalUsageIsComplete) {
  auto events = anthropic_sse_events();
  for (uint32_t pid : {100u, 200u}) {
    size_t keep = pid == 100 ? events.size() : 2;  // 200: closed before message_delta's usage
    feed(data_records(pid, 0xabc, TT_DIR_WRITE, anthropic_request(), 1'000'000));
    feed(data_records(pid, 0xabc, TT_DIR_READ, anthropic_response_head(), 2'000'000));
    uint64_t t = 3'000'000;
    for (size_t i = 0; i < keep; ++i) feed(data_records(pid, 0xabc, TT_DIR_READ, chunk(events[i]), t += 1'000'000));
    feed({close_record(pid, 0xabc, t + 1'000'000)});
  }
  pipe.finish(100'000'000);
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_TRUE(reqs[0].complete());
  EXPECT_EQ(reqs[0].error(), "");
  EXPECT_EQ(reqs[0].usage_source(), "exact");
  EXPECT_EQ(reqs[0].output_tokens(), 25u);
  EXPECT_FALSE(reqs[1].complete());
  EXPECT_EQ(reqs[1].error(), "response: connection closed; stream ended before usage");
  EXPECT_EQ(reqs[1].usage_source(), "estimated");
}

TEST_P(PipelineTest, SecretsNeverReachRecords) {
  one_exchange(100, 0xabc, 1'000'000'000);
  pipe.finish(2'000'000'000);
  agg.finish({"x"}, 0, 0, 0);
  for (auto& rec : sink.recs) EXPECT_EQ(tt::sink::record_to_json(rec).find("sk-secret"), std::string::npos);
}

TEST_P(PipelineTest, KeepAliveConnectionsAndProcessesAreKeptApart) {
  one_exchange(100, 0xabc, 1'000'000'000);
  one_exchange(100, 0xabc, 2'000'000'000);
  one_exchange(200, 0xabc, 3'000'000'000);  // same SSL* in another process
  feed({close_record(100, 0xabc, 4'000'000'000)});
  one_exchange(100, 0xabc, 5'000'000'000);  // SSL* reused after SSL_free: new connection
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].connection_id(), 1u);
  EXPECT_EQ(reqs[1].connection_id(), 1u);
  EXPECT_EQ(reqs[1].sequence_on_connection(), 2u);
  EXPECT_EQ(reqs[2].connection_id(), 2u);
  EXPECT_EQ(reqs[2].pid(), 200u);
  EXPECT_EQ(reqs[3].connection_id(), 3u);
  EXPECT_EQ(reqs[3].sequence_on_connection(), 1u);
}

TEST_P(PipelineTest, ProcessExitMidStreamGivesAnEstimatedIncompleteRecord) {
  uint32_t pid = 300;
  feed(data_records(pid, 1, TT_DIR_WRITE, anthropic_request(), 10));
  feed(data_records(pid, 1, TT_DIR_READ, anthropic_response_head(), 20));
  feed(data_records(pid, 1, TT_DIR_READ, chunk(anthropic_sse_events()[0]), 30));
  tt_proc_event ex{};
  ex.hdr.kind = TT_EV_EXIT;
  ex.hdr.pid = pid;
  ex.hdr.ts_ns = 40;
  ex.exit_code = 9;  // killed by SIGKILL
  pipe.on_raw(&ex, sizeof(ex));
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_FALSE(reqs[0].complete());
  EXPECT_EQ(reqs[0].usage_source(), "estimated");
  EXPECT_GT(reqs[0].input_tokens(), 0u);
  EXPECT_NE(reqs[0].error(), "");
  agg.finish({}, 0, 0, 0);
  EXPECT_EQ(agg.run_summary().capture().incomplete_requests(), 1u);
  ASSERT_EQ(agg.process_summaries().size(), 1u);
  EXPECT_EQ(agg.process_summaries()[0].exit_code(), 128 + 9);
}

TEST_P(PipelineTest, CaptureGapInARequestIsCountedNotSilent) {
  std::string req = anthropic_request();
  feed(data_records(7, 1, TT_DIR_WRITE, req.substr(0, 40), 10));
  // 20 bytes lost (ring buffer full), BPF reports them on the next chunk.
  feed(data_records(7, 1, TT_DIR_WRITE, req.substr(60), 11, /*lost_before=*/20));
  pipe.finish(100);
  agg.finish({}, 0, 0, 0);
  EXPECT_GT(agg.run_summary().capture().bytes_unparsed() + agg.run_summary().capture().parse_errors() +
                agg.run_summary().capture().incomplete_requests(),
            0u);
  for (auto& r : requests()) EXPECT_FALSE(r.complete());
}

TEST_P(PipelineTest, NonHttpPlaintextIsCountedAsSuch) {
  feed(data_records(8, 1, TT_DIR_WRITE, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(30, '\0'), 1));
  feed(data_records(8, 2, TT_DIR_WRITE, std::string(64, '\x17'), 1));
  feed(data_records(8, 2, TT_DIR_READ, std::string(64, '\x01'), 2));
  pipe.finish(10);
  agg.finish({}, 0, 0, 0);
  // The first is HTTP/2 (decoded: its first frame is not SETTINGS, a parse error).
  EXPECT_EQ(agg.run_summary().capture().non_http_connections(), 1u);
  EXPECT_EQ(agg.run_summary().capture().parse_errors(), 1u);
  EXPECT_EQ(agg.run_summary().capture().bytes_unparsed(), 30u + 128u);
  EXPECT_EQ(requests().size(), 0u);
}

TEST_P(PipelineTest, MalformedRecordsAreCounted) {
  std::string junk = "abc";
  pipe.on_raw(junk.data(), junk.size());
  tt_data_event_small bad{};
  bad.hdr.kind = TT_EV_DATA;
  bad.len = 5000;  // claims more payload than the record has
  pipe.on_raw(&bad, sizeof(bad));
  EXPECT_EQ(pipe.malformed_records(), 2u);
}

TEST_P(PipelineTest, SummariesCarryTokensOnlyInsideTotals) {
  one_exchange(100, 0xabc, 1'000'000'000);
  one_exchange(101, 0xdef, 1'000'000'000);
  pipe.finish(2'000'000'000);
  agg.finish({"agent", "--go"}, 1, 2, 0);
  int runs = 0, procs = 0, sessions = 0;
  for (auto& rec : sink.recs) {
    auto j = nlohmann::json::parse(tt::sink::record_to_json(rec));
    if (j["type"] == "request") {
      EXPECT_TRUE(j["input_tokens"].is_number_unsigned());
      continue;
    }
    EXPECT_FALSE(j.contains("input_tokens"));
    EXPECT_FALSE(j.contains("output_tokens"));
    // Both processes sent session header sess-42: one session holds both requests.
    EXPECT_EQ(j["totals"]["output_tokens"], j["type"] == "process" ? 25 : 50);
    runs += j["type"] == "run";
    procs += j["type"] == "process";
    sessions += j["type"] == "session";
  }
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(procs, 2);
  EXPECT_EQ(sessions, 1);
  EXPECT_EQ(agg.run_summary().totals().cache_read_tokens(), 8000u);
  EXPECT_EQ(agg.run_summary().api_requests(), 2u);
}

// A traced process created by fork (as tlstap.bpf.c reports it).
std::string fork_record(uint32_t child, uint32_t parent, uint64_t ts) {
  tt_proc_event e{};
  e.hdr.kind = TT_EV_FORK;
  e.hdr.pid = child;
  e.hdr.ts_ns = ts;
  e.ppid = parent;
  e.child_pid = child;
  return std::string(reinterpret_cast<const char*>(&e), sizeof(e));
}

// The command profile starts: its parent (tokentap) is not traced.
std::string root_record(uint32_t pid, uint32_t untraced_parent, uint64_t ts, nlohmann::json more = {}) {
  nlohmann::json j = {{"exe", "/usr/bin/node"}, {"comm", "node"}, {"ppid", untraced_parent}};
  if (more.is_object()) j.update(more);
  return tt::capture::make_info_record(tt::capture::TT_EV_PROC_INFO, pid, ts, j.dump());
}

std::string session_key(const nlohmann::json& j) {
  return j["harness"].get<std::string>() + "\n" + j["session_id"].get<std::string>();
}

TEST_P(PipelineTest, HarnessAndSessionFieldsInJson) {
  one_exchange(100, 1, 1'000'000'000);
  auto j = nlohmann::json::parse(tt::sink::record_to_json(sink.recs.at(0)));
  EXPECT_EQ(j["harness"], "claude-code");
  EXPECT_EQ(j["harness_version"], "2.0.0");
  EXPECT_EQ(j["session_id"], "sess-42");
  EXPECT_EQ(j["session_source"], "header:x-claude-code-session-id");
  EXPECT_EQ(j["user_agent"], "claude-cli/2.0.0");
}

// Without a session id from the harness, the process tree is the session: every
// process under one traced root shares it; another tree has its own.
TEST_P(PipelineTest, ProcessTreeIsTheSessionWhenTheHarnessSendsNone) {
  const std::string no_session = anthropic_request("User-Agent: claude-cli/2.0.0\r\n");
  feed({root_record(500, 1, 10), fork_record(501, 500, 20), fork_record(502, 501, 30)});
  feed({root_record(600, 1, 40)});  // a second tree (another command; the daemon sees many)
  one_exchange(501, 1, 1'000'000'000, no_session);
  one_exchange(502, 1, 2'000'000'000, no_session);
  one_exchange(600, 1, 3'000'000'000, no_session);
  one_exchange(502, 2, 4'000'000'000);  // this one carries its own session header
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].session_id(), "process:500:10");
  EXPECT_EQ(reqs[0].session_source(), "process");
  EXPECT_EQ(reqs[1].session_id(), reqs[0].session_id());
  EXPECT_EQ(reqs[2].session_id(), "process:600:40");
  EXPECT_EQ(reqs[2].session_source(), "process");
  EXPECT_EQ(reqs[3].session_id(), "sess-42");
  for (auto& r : reqs) EXPECT_EQ(r.harness(), "claude-code");

  pipe.finish(5'000'000'000);
  agg.finish({"x"}, 0, 0, 0);
  const auto& sessions = agg.session_summaries();
  ASSERT_EQ(sessions.size(), 3u);
  EXPECT_EQ(sessions[0].session_id(), "process:500:10");
  EXPECT_EQ(sessions[0].api_requests(), 2u);
  ASSERT_EQ(sessions[0].pids_size(), 2);
  EXPECT_EQ(sessions[0].pids(0), 501u);
  EXPECT_EQ(sessions[0].pids(1), 502u);
  EXPECT_EQ(sessions[0].harness(), "claude-code");
  EXPECT_EQ(sessions[0].harness_version(), "2.0.0");
  EXPECT_EQ(sessions[1].session_id(), "process:600:40");
  EXPECT_EQ(sessions[2].session_id(), "sess-42");
  EXPECT_EQ(sessions[2].session_source(), "header:x-claude-code-session-id");
  for (const auto& p : agg.process_summaries())
    if (p.api_requests()) {
      EXPECT_EQ(p.harness(), "claude-code");
    }
}

// pi sends Anthropic SDK defaults: the process tree names it (PROC_INFO cmdline
// and package, as probe_process records them), here from a forked child.
TEST_P(PipelineTest, HarnessFromTheProcessTreeWhenTheTrafficDoesNotSayIt) {
  feed({root_record(800, 1, 10,
                    {{"cmdline", {"/usr/bin/node", "/opt/pi/node_modules/@mariozechner/pi-coding-agent/dist/cli.js"}},
                     {"package", "@mariozechner/pi-coding-agent@0.73.1"}}),
        fork_record(801, 800, 20)});
  feed({root_record(900, 1, 30)});  // a plain node program
  const std::string sdk = anthropic_request("User-Agent: Anthropic/JS 0.91.1\r\n");
  one_exchange(801, 1, 1'000'000'000, sdk);
  one_exchange(900, 1, 2'000'000'000, sdk);
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].harness(), "pi");
  EXPECT_EQ(reqs[0].harness_version(), "0.73.1");
  EXPECT_EQ(reqs[0].session_id(), "process:800:10");
  EXPECT_EQ(reqs[1].harness(), "anthropic-sdk-js");
  EXPECT_EQ(reqs[1].harness_version(), "0.91.1");
}

// Attribution read from /proc (PROC_INFO) lands on the request, its process
// and its session; a process without it (an older capture) has empty fields.
TEST_P(PipelineTest, AttributionFromProcInfo) {
  feed({root_record(700, 1, 10,
                    {{"uid", 1001}, {"user", "alice"}, {"cgroup", "/user.slice/user-1001.slice/session-3.scope"},
                     {"container_id", ""}, {"systemd_unit", "session-3.scope"}, {"cwd", "/home/alice/proj/src"},
                     {"project", "/home/alice/proj"}})});
  feed({root_record(710, 1, 20)});
  one_exchange(700, 1, 1'000'000'000);
  one_exchange(710, 1, 2'000'000'000, anthropic_request("User-Agent: curl/8\r\n"));
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].uid(), 1001u);
  EXPECT_EQ(reqs[0].user(), "alice");
  EXPECT_EQ(reqs[0].cgroup(), "/user.slice/user-1001.slice/session-3.scope");
  EXPECT_EQ(reqs[0].systemd_unit(), "session-3.scope");
  EXPECT_EQ(reqs[0].cwd(), "/home/alice/proj/src");
  EXPECT_EQ(reqs[0].project(), "/home/alice/proj");
  EXPECT_EQ(reqs[1].user(), "");
  EXPECT_EQ(reqs[1].project(), "");
  auto j = nlohmann::json::parse(tt::sink::record_to_json(sink.recs.at(0)));
  EXPECT_EQ(j["user"], "alice");
  EXPECT_EQ(j["project"], "/home/alice/proj");
  pipe.finish(5'000'000'000);
  agg.finish({"x"}, 0, 0, 0);
  const auto& sessions = agg.session_summaries();
  ASSERT_FALSE(sessions.empty());
  EXPECT_EQ(sessions[0].user(), "alice");
  EXPECT_EQ(sessions[0].uid(), 1001u);
  EXPECT_EQ(sessions[0].project(), "/home/alice/proj");
  for (const auto& p : agg.process_summaries())
    if (p.pid() == 700) EXPECT_EQ(p.cgroup(), "/user.slice/user-1001.slice/session-3.scope");
}

// Claude Code run by an app on the Claude Agent SDK: its session names the app
// (its first request's), and the report says so under the session.
TEST_P(PipelineTest, SessionNamesTheAppThatEmbedsItsHarness) {
  feed({root_record(700, 1, 10, {{"cmdline", {"/usr/bin/node", "/srv/app/main.mjs"}}})});
  feed({fork_record(701, 700, 20)});
  feed({tt::capture::make_info_record(tt::capture::TT_EV_PROC_INFO, 701, 30,
                                      R"({"exe":"/opt/sdk/claude","comm":"claude","ppid":700})")});
  for (uint64_t conn : {1, 2})
    one_exchange(701, conn, conn * 1'000'000'000,
                 anthropic_request("x-claude-code-session-id: sess-7\r\nx-client-app: my-app/2.0\r\n"
                                   "User-Agent: claude-cli/2.1.332 (external, sdk-ts, agent-sdk/0.3.332, "
                                   "client-app/my-app/2.0)\r\n"));
  pipe.finish(5'000'000'000);
  agg.finish({"node", "/srv/app/main.mjs"}, 0, 0, 0);
  const auto& sessions = agg.session_summaries();
  ASSERT_EQ(sessions.size(), 1u);
  const auto& app = sessions[0].app();
  EXPECT_EQ(app.sdk(), "claude-agent-sdk");
  EXPECT_EQ(app.sdk_version(), "0.3.332");
  EXPECT_EQ(app.name(), "my-app/2.0");
  EXPECT_EQ(app.pid(), 700u);
  EXPECT_EQ(app.program(), "/srv/app/main.mjs");
  EXPECT_EQ(sessions[0].api_requests(), 2u);
  std::string report = tt::sink::render_report(agg);
  EXPECT_NE(report.find("\n    run by my-app/2.0 on claude-agent-sdk 0.3.332, pid 700 /srv/app/main.mjs\n"),
            std::string::npos)
      << report;
}

TEST(Aggregator, ProcessSessionFallsBackToTheRunIdWithoutAStartTime) {
  Aggregator agg("run-x", nullptr);
  tokentap::v1::ApiRequest r;
  r.set_pid(9);
  agg.add_request(r);
  EXPECT_EQ(agg.requests().at(0).session_id(), "process:9:run:run-x");
  // A parent loop (pid reuse in a long capture) cannot hang the walk.
  agg.process(20).ppid = 21;
  agg.process(21).ppid = 20;
  r.set_pid(20);
  agg.add_request(r);
  EXPECT_EQ(agg.requests().at(1).session_id().rfind("process:2", 0), 0u);
}

// Two harnesses under one root are two sessions even with the same derived id,
// and each session's totals are exactly the sum of its request records.
TEST_P(PipelineTest, SessionTotalsEqualTheSumOfTheirRequestRecords) {
  feed({root_record(700, 1, 10), fork_record(701, 700, 20)});
  one_exchange(700, 1, 1'000'000'000, anthropic_request("User-Agent: claude-cli/2.0.1 (external, cli)\r\n"));
  one_exchange(701, 1, 2'000'000'000, anthropic_request("User-Agent: curl/8.5.0\r\n"));
  one_exchange(701, 2, 3'000'000'000, anthropic_request("User-Agent: claude-cli/2.0.1 (external, cli)\r\n"));
  one_exchange(700, 2, 4'000'000'000);
  one_exchange(701, 3, 5'000'000'000);
  pipe.finish(6'000'000'000);
  agg.finish({"x"}, 0, 0, 0);

  std::map<std::string, std::map<std::string, uint64_t>> sums;
  std::map<std::string, nlohmann::json> sessions;
  const char* kTokens[] = {"input_tokens",          "cache_read_tokens",     "cache_write_tokens",
                           "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens",
                           "reasoning_tokens"};
  for (auto& rec : sink.recs) {
    auto j = nlohmann::json::parse(tt::sink::record_to_json(rec));
    if (j["type"] == "session") {
      EXPECT_FALSE(j.contains("input_tokens"));
      EXPECT_TRUE(sessions.emplace(session_key(j), j).second) << "session written twice";
      continue;
    }
    if (j["type"] != "request") continue;
    auto& s = sums[session_key(j)];
    for (const char* k : kTokens) s[k] += j[k].get<uint64_t>();
    s["api_requests"] += 1;
    s["request_bytes"] += j["request_bytes"].get<uint64_t>();
    s["response_bytes"] += j["response_bytes"].get<uint64_t>();
  }
  ASSERT_EQ(sessions.size(), 3u);  // claude-code and curl by process tree, claude-code sess-42
  ASSERT_EQ(sums.size(), sessions.size());
  for (auto& [key, s] : sessions) {
    SCOPED_TRACE(key);
    ASSERT_TRUE(sums.count(key));
    auto& want = sums[key];
    for (const char* k : kTokens) EXPECT_EQ(s["totals"][k].get<uint64_t>(), want[k]) << k;
    for (const char* k : {"api_requests", "request_bytes", "response_bytes"})
      EXPECT_EQ(s[k].get<uint64_t>(), want[k]) << k;
  }
  EXPECT_EQ(sessions["claude-code\nprocess:700:10"]["api_requests"], 2);
  EXPECT_EQ(sessions["claude-code\nprocess:700:10"]["harness_version"], "2.0.1");
  EXPECT_EQ(sessions["curl\nprocess:700:10"]["harness_version"], "8.5.0");
  EXPECT_EQ(sessions["claude-code\nsess-42"]["pids"], nlohmann::json::array({700, 701}));
  // The report names each session once.
  std::string report = tt::sink::render_report(agg);
  EXPECT_NE(report.find("claude-code 2.0.1"), std::string::npos) << report;
  EXPECT_NE(report.find("process:700:10"), std::string::npos) << report;
  EXPECT_NE(report.find("[header:x-claude-code-session-id]"), std::string::npos) << report;
}

TEST(CaptureFile, RoundTripAndReplayEqualsLive) {
  std::string path = ::testing::TempDir() + "/tt_capture_test.ttcap";
  std::vector<std::string> recs;
  auto add = [&](std::vector<std::string> v) { recs.insert(recs.end(), v.begin(), v.end()); };
  add(data_records(5, 9, TT_DIR_WRITE, anthropic_request(), 100));
  add(data_records(5, 9, TT_DIR_READ, anthropic_response_head(), 200));
  for (auto& e : anthropic_sse_events()) add(data_records(5, 9, TT_DIR_READ, chunk(e), 300));
  add(data_records(5, 9, TT_DIR_READ, "0\r\n\r\n", 400));
  {
    auto w = tt::capture::CaptureWriter::open(path);
    ASSERT_TRUE(w.ok()) << w.error();
    std::unique_ptr<tt::capture::CaptureWriter> owner(*w);
    for (auto& r : recs) owner->write(r.data(), r.size());
  }
  CollectSink sink;
  Aggregator agg("r", &sink);
  Pipeline pipe(PipelineOptions{}, agg);
  auto n = tt::capture::read_capture(path, [&](const void* d, size_t sz) { pipe.on_raw(d, sz); });
  ASSERT_TRUE(n.ok()) << n.error();
  EXPECT_EQ(*n, recs.size());
  ASSERT_EQ(agg.requests().size(), 1u);
  EXPECT_EQ(agg.requests()[0].output_tokens(), 25u);

  // A truncated file delivers what it has, then says so.
  truncate(path.c_str(), 16 + 4 + recs[0].size() + 10);
  uint64_t seen = 0;
  auto bad = tt::capture::read_capture(path, [&](const void*, size_t) { ++seen; });
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(seen, 1u);
  EXPECT_NE(bad.error().find("truncated"), std::string::npos);
  unlink(path.c_str());
}

TEST(CaptureFile, RejectsOtherFiles) {
  std::string path = ::testing::TempDir() + "/tt_not_capture";
  FILE* f = fopen(path.c_str(), "w");
  fputs("hello world, not a capture", f);
  fclose(f);
  auto r = tt::capture::read_capture(path, [](const void*, size_t) {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("not a tokentap capture"), std::string::npos);
  unlink(path.c_str());
}

// Writes records with the protobuf sink and reads them back.
static std::vector<tokentap::v1::Record> write_and_read(const std::string& name, const std::vector<tokentap::v1::Record>& in) {
  std::string path = ::testing::TempDir() + "/" + name;
  {
    auto s = tt::sink::DelimitedProtoSink::open(path);
    EXPECT_TRUE(s.ok());
    for (const auto& r : in) (*s)->write(r);
    EXPECT_TRUE((*s)->close().ok());
  }
  auto recs = tt::sink::read_delimited_records(path);
  unlink(path.c_str());
  EXPECT_TRUE(recs.ok()) << recs.error();
  return recs.ok() ? *recs : std::vector<tokentap::v1::Record>{};
}

TEST(ProtoSink, DelimitedRecordsReadBack) {
  tokentap::v1::Record a, b;
  a.mutable_request()->set_model("m1");
  a.mutable_request()->set_input_tokens(1ull << 40);
  b.mutable_run()->mutable_totals()->set_output_tokens(7);
  auto recs = write_and_read("tt_records.pb", {a, b});
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].request().input_tokens(), 1ull << 40);
  EXPECT_EQ(recs[1].run().totals().output_tokens(), 7u);
}

// Traffic puts any bytes in headers and process names: one 0xFF made the whole
// protobuf file unreadable. Records are repaired as they are written.
TEST(ProtoSink, InvalidUtf8IsRepairedAndTheStreamStaysReadable) {
  tokentap::v1::Record a, b;
  a.mutable_request()->set_user_agent(std::string("curl/8\xff", 7));
  a.mutable_request()->set_comm(std::string("ab\xc3\x28\xed\xa0\x80z", 8));  // bad continuation, a surrogate
  a.mutable_request()->set_model("caf\xc3\xa9");                              // valid: kept
  b.mutable_run()->add_command(std::string("\xf5\x80", 2));
  auto recs = write_and_read("tt_utf8.pb", {a, b});
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].request().user_agent(), "curl/8\xef\xbf\xbd");
  EXPECT_EQ(recs[0].request().comm(), "ab\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");
  EXPECT_EQ(recs[0].request().model(), "caf\xc3\xa9");
  EXPECT_EQ(recs[1].run().command(0), "\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(JsonSink, SixtyFourBitNumbersStayNumbersAndBadUtf8IsReplaced) {
  tokentap::v1::Record a;
  a.mutable_request()->set_input_tokens(1ull << 40);
  a.mutable_request()->set_comm(std::string("ab\xff\xfe", 4));
  auto j = nlohmann::json::parse(tt::sink::record_to_json(a));
  EXPECT_EQ(j["type"], "request");
  EXPECT_EQ(j["input_tokens"].get<uint64_t>(), 1ull << 40);
  EXPECT_EQ(j["output_tokens"].get<uint64_t>(), 0u);
  EXPECT_TRUE(j["comm"].is_string());
}

}  // namespace

namespace {
std::string gzip(std::string_view in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
// One non-streamed Messages call from Claude Code with a gzip request body
// (`wire`, as sent) and a JSON reply.
void gzip_exchange_into(Pipeline& pipe, std::string_view wire, std::string_view reply) {
  std::string request = "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nUser-Agent: claude-cli/2.0.0\r\n"
                        "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(wire.size()) + "\r\n\r\n" +
                        std::string(wire);
  std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(reply.size()) + "\r\n\r\n" + std::string(reply);
  for (auto& r : data_records(7, 1, TT_DIR_WRITE, request, 10)) pipe.on_raw(r.data(), r.size());
  for (auto& r : data_records(7, 1, TT_DIR_READ, response, 20)) pipe.on_raw(r.data(), r.size());
}
}  // namespace

// The request body is read when the request ends and released (the response may
// take minutes): what decoding needs still comes out exactly. Here a gzip request
// body, and a response with no usage, so input is estimated from the body's text.
TEST_P(PipelineTest, RequestReadAtItsEndStillGivesExactFieldsAndEstimate) {
  std::string text(4000, 'x');
  std::string body = R"({"model":"claude-opus-4-1","stream":false,"metadata":{"user_id":"user_ab_account__session_)"
                     R"(0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},"messages":[{"role":"user","content":")" + text + R"("}]})";
  std::string wire = gzip(body);
  gzip_exchange_into(pipe, wire, R"({"type":"message","content":[{"type":"text","text":"hello there"}]})");
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& r = reqs[0];
  EXPECT_EQ(r.model(), "claude-opus-4-1");
  EXPECT_FALSE(r.stream());
  EXPECT_EQ(r.harness(), "claude-code");
  EXPECT_EQ(r.session_id(), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  EXPECT_EQ(r.request_bytes(), wire.size());
  EXPECT_EQ(r.usage_source(), "estimated");
  // The text of its string values, 4 bytes to a token.
  uint64_t text_bytes = std::string("claude-opus-4-1").size() +
                        std::string("user_ab_account__session_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0").size() +
                        std::string("user").size() + text.size();
  EXPECT_EQ(r.input_tokens(), (text_bytes + 3) / 4);
  EXPECT_EQ(r.output_tokens(), 3u);  // "hello there": 11 bytes
  EXPECT_EQ(agg.capture_stats().decode_errors(), 0u);
}

// A request body that cannot be content-decoded is counted as such once, with
// the request still reported.
TEST_P(PipelineTest, UndecodableRequestBodyIsCountedOnce) {
  gzip_exchange_into(pipe, "this is not gzip at all", R"({"type":"message","usage":{"input_tokens":5,"output_tokens":6}})");
  auto reqs = requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].input_tokens(), 5u);
  EXPECT_EQ(reqs[0].usage_source(), "exact");
  EXPECT_NE(reqs[0].error().find("request body: "), std::string::npos) << reqs[0].error();
  EXPECT_EQ(agg.capture_stats().decode_errors(), 1u);
}

INSTANTIATE_TEST_SUITE_P(RequestBodies, PipelineTest, ::testing::Values(size_t{4} << 20, size_t{0}),
                         [](const ::testing::TestParamInfo<size_t>& p) { return p.param ? "KeptWhole" : "ReadAtTheirEnd"; });
