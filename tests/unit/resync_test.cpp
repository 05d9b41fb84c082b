// Capture gaps and connections joined mid-stream, through the whole pipeline.
// Records are built as tlstap.bpf.c sends them (a call cut into 16 KiB chunks,
// one timestamp per call), and chunks are dropped the way a full ring buffer
// drops them: the loss is carried as lost_before by the next chunk of the same
// connection and direction that gets through. Ground truth is what was built.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "aggregate/aggregator.h"
#include "capture/events.h"
#include "pipeline/pipeline.h"
#include "protocol/midstream.h"
#include "sink/report.h"

namespace {

using tt::aggregate::Aggregator;
using tt::pipeline::Pipeline;
using tt::pipeline::PipelineOptions;
using Request = tokentap::v1::ApiRequest;

constexpr int W = TT_DIR_WRITE, R = TT_DIR_READ;

std::set<size_t> chunks(size_t from, size_t to) {
  std::set<size_t> s;
  for (size_t k = from; k < to; ++k) s.insert(k);
  return s;
}
const std::set<size_t> kAll = chunks(0, 1 << 12);

// Plays BPF for any number of connections, then delivers every record in
// timestamp order (the ring buffer interleaves connections, never reorders one).
class Bpf {
 public:
  // One call; chunks in drop are lost; those before from_chunk happened before
  // capture started (neither sent nor lost). flags go on the first record sent.
  void call(uint32_t pid, uint64_t conn, int dir, std::string_view bytes, uint64_t ts,
            const std::set<size_t>& drop = {}, size_t from_chunk = 0, uint32_t flags = 0) {
    uint64_t& lost = lost_[{pid, conn, dir}];
    for (size_t k = from_chunk; k * TT_CHUNK_MAX < bytes.size(); ++k) {
      std::string_view chunk = bytes.substr(k * TT_CHUNK_MAX, TT_CHUNK_MAX);
      if (drop.count(k)) {
        lost += chunk.size();
        continue;
      }
      tt_data_event_small h{};
      h.hdr.kind = TT_EV_DATA;
      h.hdr.pid = h.hdr.tid = pid;
      h.hdr.ts_ns = ts;
      h.hdr.flags = std::exchange(flags, 0);
      h.conn = conn;
      h.call_len = bytes.size();
      h.offset = k * TT_CHUNK_MAX;
      h.len = chunk.size();
      h.lost_before = std::exchange(lost, 0);
      h.dir = dir;
      h.lib = TT_LIB_OPENSSL;
      recs_.emplace_back(ts, std::string(reinterpret_cast<const char*>(&h), TT_DATA_EVENT_HDR_SIZE) + std::string(chunk));
    }
  }
  void close(uint32_t pid, uint64_t conn, uint64_t ts) {
    tt_close_event c{};
    c.hdr.kind = TT_EV_CLOSE;
    c.hdr.pid = pid;
    c.hdr.ts_ns = ts;
    c.conn = conn;
    recs_.emplace_back(ts, std::string(reinterpret_cast<const char*>(&c), sizeof(c)));
  }
  void deliver(Pipeline& p) {
    std::stable_sort(recs_.begin(), recs_.end(), [](auto& a, auto& b) { return a.first < b.first; });
    for (auto& [ts, r] : recs_) p.on_raw(r.data(), r.size());
    recs_.clear();
  }

 private:
  std::map<std::tuple<uint32_t, uint64_t, int>, uint64_t> lost_;
  std::vector<std::pair<uint64_t, std::string>> recs_;
};

// An OpenAI chat request whose JSON body is `size` bytes.
std::string chat_body(size_t size, char fill = 'a') {
  std::string head = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":")", tail = R"("}]})";
  return head + std::string(size - head.size() - tail.size(), fill) + tail;
}
std::string chat_head(size_t body_bytes) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\n"
         "User-Agent: tokentap-test/1.0\r\nContent-Length: " + std::to_string(body_bytes) + "\r\n\r\n";
}
// Its answer, `pad` bytes of reply text, usage last.
std::string chat_answer_body(int prompt, int completion, size_t pad = 10) {
  return R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,)"
         R"("message":{"role":"assistant","content":")" + std::string(pad, 'z') +
         R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":)" + std::to_string(prompt) +
         R"(,"completion_tokens":)" + std::to_string(completion) + R"(,"total_tokens":)" +
         std::to_string(prompt + completion) + "}}";
}
std::string chat_answer(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// One request (head and body in one call) on connection conn of pid 9, and its
// answer 100 ns later, with the chunks of each that are lost.
void exchange(Bpf& bpf, uint64_t conn, const std::string& body, const std::string& answer_body, uint64_t ts,
              const std::set<size_t>& req_drop = {}, const std::set<size_t>& resp_drop = {}) {
  bpf.call(9, conn, W, chat_head(body.size()) + body, ts, req_drop);
  bpf.call(9, conn, R, chat_answer(answer_body), ts + 100, resp_drop);
}

struct Replay {
  Aggregator agg{"run-r", nullptr};
  Pipeline pipe;
  explicit Replay(PipelineOptions o = {}) : pipe(o, agg) {}
  const tokentap::v1::CaptureStats& finish(Bpf& bpf) {
    bpf.deliver(pipe);
    pipe.finish(~0ull >> 1);
    agg.finish({"t"}, 0, 0, 0);
    return agg.run_summary().capture();
  }
  const std::vector<Request>& requests() const { return agg.requests(); }
};

void expect_exact(const Request& r, size_t body_bytes, const std::string& answer, int prompt, int completion) {
  EXPECT_TRUE(r.complete()) << r.error();
  EXPECT_EQ(r.error(), "");
  EXPECT_EQ(r.usage_source(), "exact");
  EXPECT_EQ(r.request_bytes(), body_bytes);
  EXPECT_EQ(r.response_bytes(), answer.size());
  EXPECT_EQ(r.input_tokens(), uint64_t(prompt));
  EXPECT_EQ(r.output_tokens(), uint64_t(completion));
  EXPECT_EQ(r.model(), "gpt-4o-mini-2024-07-18");
}

// ---- joining a connection already open ----------------------------------------

// A keep-alive connection joined in the middle of a request body: the rest of
// that request and its answer are skipped (counted), the later requests are
// exact. With the engine's TT_F_MIDSTREAM on the first record (joined mid-call)
// and without it (the bytes alone say it: they start no message).
TEST(Midstream, KeepAliveJoinedMidBodyGivesTheLaterRequestsExactly) {
  for (bool flagged : {true, false}) {
    SCOPED_TRACE(flagged ? "flagged" : "from the bytes alone");
    Bpf bpf;
    Replay run;
    std::string a = chat_body(50000), b = chat_body(3000, 'b'), c = chat_body(20000, 'c');
    std::string ra = chat_answer(chat_answer_body(1, 1)), rb_body = chat_answer_body(700, 30),
                rc_body = chat_answer_body(5000, 40, 30000);
    size_t from = flagged ? 1 : 0;  // joined mid-call, or at the body's own call
    bpf.call(7, 1, W, a, 100, {}, from, flagged ? TT_F_MIDSTREAM : 0);
    bpf.call(7, 1, R, ra, 200);
    bpf.call(7, 1, W, chat_head(b.size()) + b, 300);  // head and body in one call (Node)
    bpf.call(7, 1, R, chat_answer(rb_body), 400);
    bpf.call(7, 1, W, chat_head(c.size()), 500);  // in two (Python)
    bpf.call(7, 1, W, c, 501);
    bpf.call(7, 1, R, chat_answer(rc_body), 600);
    bpf.close(7, 1, 700);
    const auto& cs = run.finish(bpf);
    ASSERT_EQ(run.requests().size(), 2u);
    expect_exact(run.requests()[0], b.size(), rb_body, 700, 30);
    expect_exact(run.requests()[1], c.size(), rc_body, 5000, 40);
    EXPECT_EQ(run.requests()[0].sequence_on_connection(), 1u);
    EXPECT_EQ(cs.midstream_connections(), 1u);
    EXPECT_EQ(cs.bytes_unparsed(), a.size() - from * TT_CHUNK_MAX + ra.size());
    EXPECT_EQ(cs.non_http_connections(), 0u);
    EXPECT_EQ(cs.parse_errors(), 0u);
    EXPECT_EQ(cs.gap_resyncs(), 0u);
    EXPECT_EQ(run.agg.run_summary().other_http_requests(), 0u);
  }
}

// Flagged but idle between requests when capture began: nothing to skip.
TEST(Midstream, FlaggedConnectionThatStartsCleanlyIsDecodedWhole) {
  Bpf bpf;
  Replay run;
  std::string b = chat_body(3000);
  std::string rb = chat_answer_body(10, 2);
  bpf.call(7, 1, W, chat_head(b.size()) + b, 100, {}, 0, TT_F_MIDSTREAM);
  bpf.call(7, 1, R, chat_answer(rb), 200);
  const auto& cs = run.finish(bpf);
  ASSERT_EQ(run.requests().size(), 1u);
  expect_exact(run.requests()[0], b.size(), rb, 10, 2);
  EXPECT_EQ(cs.midstream_connections(), 0u);
  EXPECT_EQ(cs.bytes_unparsed(), 0u);
}

// Joined while an answer was on its way: its status line is a clean start, but
// it answers a request never seen: skipped and counted, never paired.
TEST(Midstream, TheAnswerInFlightIsSkipped) {
  Bpf bpf;
  Replay run;
  std::string ra = chat_answer(chat_answer_body(1, 1, 40000)), b = chat_body(1000);
  std::string rb = chat_answer_body(9, 3);
  bpf.call(7, 1, R, ra, 100, {}, 0, TT_F_MIDSTREAM);
  bpf.call(7, 1, W, chat_head(b.size()) + b, 200);
  bpf.call(7, 1, R, chat_answer(rb), 300);
  const auto& cs = run.finish(bpf);
  ASSERT_EQ(run.requests().size(), 1u);
  expect_exact(run.requests()[0], b.size(), rb, 9, 3);
  EXPECT_EQ(cs.midstream_connections(), 1u);
  EXPECT_EQ(cs.bytes_unparsed(), ra.size());
}

std::string h2_frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  for (int shift : {16, 8, 0}) f += static_cast<char>(payload.size() >> shift);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  for (int shift : {24, 16, 8, 0}) f += static_cast<char>(stream >> shift);
  return f + std::string(payload);
}

std::string ws_frame(uint8_t opcode, std::string_view payload, bool masked) {
  std::string f(1, static_cast<char>(0x80 | opcode));
  uint8_t mask_bit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    f += static_cast<char>(mask_bit | payload.size());
  } else {
    f += static_cast<char>(mask_bit | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size());
  }
  if (!masked) return f + std::string(payload);
  const char key[4] = {0x11, 0x22, 0x33, 0x44};
  f.append(key, 4);
  for (size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ key[i & 3]);
  return f;
}

// HTTP/2 without its preface: frames can be found, but header blocks refer to an
// HPACK table never seen. Counted as such, never guessed; all bytes unparsed.
// WebSocket without its upgrade likewise.
TEST(Midstream, Http2AndWebSocketJoinedMidStreamAreCountedUndecodable) {
  Bpf bpf;
  Replay run;
  std::string h2_out = h2_frame(1, 0x4, 5, "\xbe\xbf") + h2_frame(0, 0x1, 5, chat_body(500));
  std::string h2_in = h2_frame(1, 0x4, 5, "\x88\xbe") + h2_frame(0, 0, 5, "data: {}\n\n") + h2_frame(6, 0, 0, "12345678");
  bpf.call(8, 1, W, h2_out, 100, {}, 0, TT_F_MIDSTREAM);
  bpf.call(8, 1, R, h2_in, 200);
  // Unflagged: the engine could not know; the framing says it.
  std::string ws_out = ws_frame(1, R"({"type":"response.create","model":"gpt-5"})", true);
  std::string ws_in = ws_frame(1, std::string(300, 'e'), false) + ws_frame(9, "", false);
  bpf.call(8, 2, W, ws_out, 100);
  bpf.call(8, 2, R, ws_in, 200);
  // Neither: a connection of something else that never starts a message.
  bpf.call(8, 3, W, std::string(64, '\x17'), 100);
  bpf.call(8, 3, R, std::string(64, '\x01'), 200);
  const auto& cs = run.finish(bpf);
  EXPECT_TRUE(run.requests().empty());
  EXPECT_EQ(cs.midstream_undecodable_connections(), 2u);
  EXPECT_EQ(cs.midstream_http2_connections(), 1u);
  EXPECT_EQ(cs.midstream_websocket_connections(), 1u);
  EXPECT_EQ(cs.midstream_connections(), 0u);  // none decoded from a later start
  EXPECT_EQ(cs.non_http_connections(), 1u);
  EXPECT_EQ(cs.bytes_unparsed(), h2_out.size() + h2_in.size() + ws_out.size() + ws_in.size() + 128);
  EXPECT_EQ(cs.parse_errors(), 0u);
}

TEST(Midstream, FrameRecognisersTakeFramesAndNeverText) {
  using tt::protocol::looks_like_h2_frames;
  using tt::protocol::looks_like_ws_frames;
  std::string body = chat_body(100);
  EXPECT_TRUE(looks_like_h2_frames(h2_frame(4, 0, 0, std::string(12, '\0')) + h2_frame(8, 0, 0, "abcd")));
  EXPECT_TRUE(looks_like_h2_frames(h2_frame(0, 0, 1, std::string(16384, 'x')).substr(0, 5000)));  // runs past
  EXPECT_FALSE(looks_like_h2_frames(h2_frame(4, 0, 1, "")));           // SETTINGS on a stream
  EXPECT_FALSE(looks_like_h2_frames(h2_frame(6, 0, 0, "short")));      // PING is 8 bytes
  EXPECT_FALSE(looks_like_h2_frames(h2_frame(0, 0x2, 1, "x")));        // undefined flag
  EXPECT_TRUE(looks_like_ws_frames(ws_frame(1, body, true) + ws_frame(10, "", true), true));
  EXPECT_FALSE(looks_like_ws_frames(ws_frame(1, body, true), false));  // a client's frames are masked
  EXPECT_FALSE(looks_like_ws_frames(std::string(1, '\x01') + "\x01x" + "\x01\x01y", false));  // new message in a fragmented one
  for (const std::string& text : {chat_head(10) + body, body, std::string("HTTP/1.1 200 OK\r\n\r\n"),
                                  std::string("event: x\ndata: {}\n\n")}) {
    EXPECT_FALSE(looks_like_h2_frames(text)) << text;
    EXPECT_FALSE(looks_like_ws_frames(text, true)) << text;
    EXPECT_FALSE(looks_like_ws_frames(text, false)) << text;
  }
}

// ---- resuming after a gap -------------------------------------------------------

// Chunk 2 of the request's call lost (BPF reports it on chunk 3): the body has a
// hole, its framing holds; the answer still carries exact usage.
TEST(GapResync, GapInsideARequestBodyKeepsTheAnswerExact) {
  Bpf bpf;
  Replay run;
  std::string a = chat_body(100000), b = chat_body(5000, 'b');
  std::string ra = chat_answer_body(25000, 12), rb = chat_answer_body(1250, 7);
  exchange(bpf, 1, a, ra, 100, {2});
  exchange(bpf, 1, b, rb, 300);
  const auto& cs = run.finish(bpf);
  ASSERT_EQ(run.requests().size(), 2u);
  const Request& r = run.requests()[0];
  EXPECT_FALSE(r.complete());
  EXPECT_TRUE(r.request_truncated());
  EXPECT_EQ(r.usage_source(), "exact");
  EXPECT_EQ(r.input_tokens(), 25000u);
  EXPECT_EQ(r.output_tokens(), 12u);
  EXPECT_EQ(r.request_bytes(), a.size());
  EXPECT_EQ(r.response_bytes(), ra.size());
  EXPECT_NE(r.error().find("capture gap of 16384 bytes in the body"), std::string::npos) << r.error();
  expect_exact(run.requests()[1], b.size(), rb, 1250, 7);
  EXPECT_EQ(cs.gap_resyncs(), 1u);
  EXPECT_EQ(cs.bytes_unparsed(), 0u);
  EXPECT_EQ(cs.parse_errors(), 0u);
}

// The tail of the request's call lost: BPF can only say so with the client's
// next write, after the answer was read. The answer waits for its request.
TEST(GapResync, TailOfARequestBodyReportedAfterItsAnswer) {
  Bpf bpf;
  Replay run;
  std::string a = chat_body(200000), b = chat_body(5000, 'b');
  std::string ra = chat_answer_body(50000, 12), rb = chat_answer_body(1250, 7);
  bpf.call(9, 1, W, chat_head(a.size()), 100);
  bpf.call(9, 1, W, a, 101, chunks(4, 100));
  bpf.call(9, 1, R, chat_answer(ra), 200);
  bpf.call(9, 1, W, chat_head(b.size()), 300);
  bpf.call(9, 1, W, b, 301);
  bpf.call(9, 1, R, chat_answer(rb), 400);
  const auto& cs = run.finish(bpf);
  ASSERT_EQ(run.requests().size(), 2u);
  const Request& r = run.requests()[0];
  EXPECT_FALSE(r.complete());
  EXPECT_EQ(r.usage_source(), "exact");
  EXPECT_EQ(r.input_tokens(), 50000u);
  EXPECT_EQ(r.request_bytes(), a.size());
  expect_exact(run.requests()[1], b.size(), rb, 1250, 7);
  EXPECT_EQ(cs.gap_resyncs(), 1u);
  EXPECT_EQ(cs.bytes_unparsed(), 0u);
  EXPECT_EQ(run.agg.run_summary().other_http_requests(), 0u);
}

// A hole in the answer: usage after it is not read (estimated, as for any cut
// answer), its size is still exact, and the next exchange is exact.
TEST(GapResync, GapInsideAContentLengthAnswer) {
  Bpf bpf;
  Replay run;
  std::string a = chat_body(2000), b = chat_body(3000, 'b');
  std::string ra = chat_answer_body(400, 900, 60000), rb = chat_answer_body(750, 5);
  exchange(bpf, 1, a, ra, 100, {}, {1});
  exchange(bpf, 1, b, rb, 300);
  const auto& cs = run.finish(bpf);
  ASSERT_EQ(run.requests().size(), 2u);
  const Request& r = run.requests()[0];
  EXPECT_FALSE(r.complete());
  EXPECT_TRUE(r.response_truncated());
  EXPECT_EQ(r.usage_source(), "estimated");
  EXPECT_EQ(r.response_bytes(), ra.size());
  EXPECT_EQ(r.status(), 200u);
  expect_exact(run.requests()[1], b.size(), rb, 750, 5);
  EXPECT_EQ(cs.gap_resyncs(), 1u);
  EXPECT_EQ(cs.bytes_unparsed(), 0u);
}

std::string sse_chunk(std::string_view event) {
  char hex[16];
  snprintf(hex, sizeof(hex), "%zx\r\n", event.size());
  return hex + std::string(event) + "\r\n";
}

// A streamed (chunked) answer: a gap inside a chunk's data is skipped; one that
// runs into the next chunk-size line loses the framing: resync at the next answer.
TEST(GapResync, GapsInAChunkedStreamedAnswer) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string big = "data: {\"choices\":[{\"delta\":{\"content\":\"" + std::string(40000, 'w') + "\"}}]}\n\n";
  std::string usage =
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":300,\"completion_tokens\":10000,\"total_tokens\":10300}}\n\n";
  std::string answer = head + sse_chunk(big) + sse_chunk(usage) + sse_chunk("data: [DONE]\n\n") + "0\r\n\r\n";
  for (size_t lost : {1u, 2u}) {  // chunk 1: inside the big event; 2: into the size lines after it
    SCOPED_TRACE(lost);
    Bpf bpf;
    Replay run;
    std::string a = chat_body(2000), b = chat_body(3000, 'b');
    std::string rb = chat_answer_body(750, 5);
    bpf.call(9, 1, W, chat_head(a.size()) + a, 100);
    bpf.call(9, 1, R, answer, 200, lost == 1 ? std::set<size_t>{1} : std::set<size_t>{2});
    bpf.call(9, 1, W, chat_head(b.size()) + b, 300);
    bpf.call(9, 1, R, chat_answer(rb), 400);
    const auto& cs = run.finish(bpf);
    ASSERT_EQ(run.requests().size(), 2u);
    EXPECT_FALSE(run.requests()[0].complete());
    EXPECT_EQ(run.requests()[0].usage_source(), "estimated");
    if (lost == 1) EXPECT_EQ(run.requests()[0].response_bytes(), big.size() + usage.size() + 14);
    EXPECT_EQ(cs.bytes_unparsed(), 0u);  // the rest of the answer was in the gap
    expect_exact(run.requests()[1], b.size(), rb, 750, 5);
    EXPECT_EQ(cs.gap_resyncs(), 1u);
    EXPECT_EQ(cs.parse_errors(), 0u);
  }
}

// A whole answer lost: the next answer goes with the latest request sent before
// it, once the request side shows nothing was lost there; the request whose
// answer was lost is reported without one.
TEST(GapResync, AWholeAnswerLost) {
  Bpf bpf;
  Replay run;
  std::string a = chat_body(2000), b = chat_body(3000, 'b'), c = chat_body(4000, 'c');
  std::string ra = chat_answer_body(1, 1), rb = chat_answer_body(750, 5), rc = chat_answer_body(1000, 6);
  exchange(bpf, 1, a, ra, 100, {}, kAll);
  exchange(bpf, 1, b, rb, 300);
  exchange(bpf, 1, c, rc, 500);
  const auto& cs = run.finish(bpf);
  ASSERT_EQ(run.requests().size(), 3u);
  const Request& r = run.requests()[0];
  EXPECT_EQ(r.request_bytes(), a.size());
  EXPECT_FALSE(r.complete());
  EXPECT_EQ(r.status(), 0u);
  EXPECT_EQ(r.usage_source(), "estimated");
  expect_exact(run.requests()[1], b.size(), rb, 750, 5);
  expect_exact(run.requests()[2], c.size(), rc, 1000, 6);
  EXPECT_EQ(cs.gap_resyncs(), 1u);  // B's answer, right after the gap
}

// A whole answer and, in the same window, the whole next request lost: the
// answer that comes cannot be told apart (it answers the lost request): both are
// reported apart, incomplete, never paired on a guess.
TEST(GapResync, AnAnswerAndARequestLostTogetherAreNotPairedOnAGuess) {
  Bpf bpf;
  Replay run;
  std::string a = chat_body(2000), b = chat_body(3000, 'b'), c = chat_body(4000, 'c');
  std::string ra = chat_answer_body(1, 1), rb = chat_answer_body(750, 5), rc = chat_answer_body(1000, 6);
  exchange(bpf, 1, a, ra, 100, {}, kAll);
  exchange(bpf, 1, b, rb, 300, kAll);
  exchange(bpf, 1, c, rc, 500);
  const auto& cs = run.finish(bpf);
  ASSERT_EQ(run.requests().size(), 2u);
  EXPECT_EQ(run.requests()[0].request_bytes(), a.size());
  EXPECT_FALSE(run.requests()[0].complete());
  EXPECT_EQ(run.requests()[0].status(), 0u);
  expect_exact(run.requests()[1], c.size(), rc, 1000, 6);
  EXPECT_EQ(run.agg.run_summary().other_http_requests(), 1u);  // B's answer, alone
  EXPECT_EQ(cs.gap_resyncs(), 2u);  // at B's answer and at C
}

// ---- the client's side only ----------------------------------------------------

// A traced TLS server reads requests and writes answers: counted, not reported
// (the client's side reports them), unless asked for.
TEST(ServerSide, ExchangesAreCountedNotReported) {
  for (bool report : {false, true}) {
    Bpf bpf;
    PipelineOptions o;
    o.report_server_side = report;
    Replay run(o);
    std::string a = chat_body(2000);
    std::string ra = chat_answer_body(42, 4);
    bpf.call(11, 1, R, chat_head(a.size()) + a, 100);
    bpf.call(11, 1, W, chat_answer(ra), 200);
    const auto& cs = run.finish(bpf);
    if (report) {
      ASSERT_EQ(run.requests().size(), 1u);
      expect_exact(run.requests()[0], a.size(), ra, 42, 4);
      EXPECT_EQ(cs.server_side_exchanges(), 0u);
    } else {
      EXPECT_TRUE(run.requests().empty());
      EXPECT_EQ(cs.server_side_exchanges(), 1u);
      EXPECT_EQ(run.agg.run_summary().other_http_requests(), 0u);
      std::string report_text = tt::sink::render_report(run.agg);
      EXPECT_NE(report_text.find("1 exchange(s) seen from a traced TLS server's side"), std::string::npos)
          << report_text;
    }
  }
}

// ---- the ring buffer overflowing ---------------------------------------------------

// 8 connections at once, 5 requests each with 2 MB bodies, and a ring buffer
// dropping chunks at set places: inside request bodies (mid-call, and the tail,
// reported only with the next request), inside answers, whole answers, a body
// tail and the next answer together. Every request gives one record; those no
// gap touched are exact and complete; every one a gap touched is incomplete.
TEST(GapResync, RingBufferOverflowWithEightConnections) {
  Bpf bpf;
  Replay run;
  const size_t kBody = 2'000'000;
  const size_t body_chunks = (kBody + TT_CHUNK_MAX - 1) / TT_CHUNK_MAX;
  struct Truth {
    uint64_t conn;
    int i, pattern, prompt, completion;
    size_t answer_bytes;
  };
  std::vector<Truth> truth;
  for (uint64_t conn = 1; conn <= 8; ++conn) {
    for (int i = 0; i < 5; ++i) {
      int pattern = (conn * 5 + i) % 6;
      int prompt = 100000 * conn + 1000 * i, completion = 10 * conn + i;
      std::string body = chat_body(kBody, 'a' + i), answer_body = chat_answer_body(prompt, completion, 20000);
      uint64_t t = 1'000'000'000 + i * 100'000'000 + conn * 1'000'000;
      std::set<size_t> req_drop, resp_drop;
      if (pattern == 1) req_drop = chunks(10, 20);                   // mid-call
      if (pattern == 2 || pattern == 5) req_drop = chunks(60, body_chunks);  // the tail
      if (pattern == 3) resp_drop = {1};                             // inside the answer
      if (pattern == 4 || pattern == 5) resp_drop = kAll;            // the whole answer
      if (i % 2) {  // Node writes head and body at once, Python apart
        bpf.call(100 + conn, conn, W, chat_head(kBody) + body, t, req_drop);
      } else {
        bpf.call(100 + conn, conn, W, chat_head(kBody), t);
        bpf.call(100 + conn, conn, W, body, t + 1, req_drop);
      }
      bpf.call(100 + conn, conn, R, chat_answer(answer_body), t + 50'000'000, resp_drop);
      truth.push_back({conn, i, pattern, prompt, completion, answer_body.size()});
    }
    bpf.close(100 + conn, conn, 2'000'000'000 + conn);
  }
  const auto& cs = run.finish(bpf);
  ASSERT_EQ(run.requests().size(), truth.size());
  std::map<std::pair<uint64_t, int>, const Request*> by_prompt;  // requests answered with usage
  size_t complete = 0, without_answer = 0;
  for (const Request& r : run.requests()) {
    EXPECT_EQ(r.request_bytes(), kBody);
    complete += r.complete();
    if (r.status() == 0) ++without_answer;
    if (r.usage_source() == "exact") by_prompt[{r.connection_id(), int(r.input_tokens())}] = &r;
  }
  size_t want_complete = 0, want_unanswered = 0;
  for (const Truth& t : truth) {
    SCOPED_TRACE("conn " + std::to_string(t.conn) + " request " + std::to_string(t.i));
    want_complete += t.pattern == 0;
    want_unanswered += t.pattern >= 4;
    if (t.pattern >= 3) continue;  // no usage to read: answer cut or lost
    auto it = by_prompt.find({t.conn, t.prompt});
    ASSERT_NE(it, by_prompt.end());
    const Request& r = *it->second;
    EXPECT_EQ(r.complete(), t.pattern == 0) << r.error();
    EXPECT_EQ(r.output_tokens(), uint64_t(t.completion));
    EXPECT_EQ(r.response_bytes(), t.answer_bytes);
  }
  EXPECT_EQ(complete, want_complete);
  EXPECT_EQ(without_answer, want_unanswered);
  EXPECT_EQ(cs.non_http_connections(), 0u);
  EXPECT_EQ(cs.parse_errors(), 0u);
  EXPECT_EQ(run.agg.run_summary().other_http_requests(), 0u);
}

// The new lines of the report appear only when something happened.
TEST(Report, ResyncLinesOnlyWhenNonZero) {
  Aggregator agg("r", nullptr);
  agg.finish({"t"}, 0, 0, 0);
  std::string quiet = tt::sink::render_report(agg);
  for (const char* s : {"mid-stream", "resumed after", "server's side"}) EXPECT_EQ(quiet.find(s), std::string::npos);
  Aggregator agg2("r", nullptr);
  auto& cs = agg2.capture_stats();
  cs.set_midstream_connections(3);
  cs.set_midstream_undecodable_connections(2);
  cs.set_midstream_http2_connections(1);
  cs.set_midstream_websocket_connections(1);
  cs.set_gap_resyncs(12);
  agg2.finish({"t"}, 0, 0, 0);
  std::string loud = tt::sink::render_report(agg2);
  EXPECT_NE(loud.find("3 connection(s) joined mid-stream"), std::string::npos) << loud;
  EXPECT_NE(loud.find("2 connection(s) seen from mid-stream, not decodable (1 HTTP/2 without its preface, 1 "
                      "WebSocket without its upgrade)"),
            std::string::npos)
      << loud;
  EXPECT_NE(loud.find("decoding resumed after 12 capture gap(s)"), std::string::npos) << loud;
}

}  // namespace
