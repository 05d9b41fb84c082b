// HTTP/2 decoding (protocol/http2.h) fed frames built here, header blocks
// compressed with nghttp2's HPACK deflater as a real peer would.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "aggregate/aggregator.h"
#include "pipeline/pipeline.h"
#include "protocol/exchange.h"
#include "protocol/http2.h"
#include "records.h"
#include "tlstap.h"

namespace {

using tt::protocol::Exchange;
using tt::protocol::Http1Session;
using tt::protocol::Http2Session;
using tt::protocol::HttpMessage;
using tt::protocol::kHttp2Preface;
using tt::protocol::SessionStats;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr int C = TT_DIR_WRITE;  // the traced process is the client
constexpr int S = TT_DIR_READ;

enum : uint8_t { DATA = 0, HEADERS = 1, PRIORITY = 2, RST_STREAM = 3, SETTINGS = 4, PUSH_PROMISE = 5, PING = 6,
                 GOAWAY = 7, WINDOW_UPDATE = 8, CONTINUATION = 9 };
enum : uint8_t { END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4, PADDED = 0x8, PRIORITY_FLAG = 0x20 };

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f = be32(static_cast<uint32_t>(payload.size()) << 8).substr(0, 3);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += be32(stream);
  f += payload;
  return f;
}

std::string settings(const std::vector<std::pair<uint16_t, uint32_t>>& values = {}) {
  std::string p;
  for (auto [id, v] : values) {
    p += static_cast<char>(id >> 8);
    p += static_cast<char>(id);
    p += be32(v);
  }
  return frame(SETTINGS, 0, 0, p);
}

// One direction's HPACK encoder (it keeps its dynamic table across blocks).
class Hpack {
 public:
  explicit Hpack(size_t table = 4096) { nghttp2_hd_deflate_new(&d_, table); }
  ~Hpack() { nghttp2_hd_deflate_del(d_); }
  void resize(size_t table) { nghttp2_hd_deflate_change_table_size(d_, table); }
  std::string encode(const Headers& hs) {
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : hs)
      nv.push_back({(uint8_t*)n.data(), (uint8_t*)v.data(), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    std::string out(nghttp2_hd_deflate_bound(d_, nv.data(), nv.size()), '\0');
    ssize_t n = nghttp2_hd_deflate_hd(d_, (uint8_t*)out.data(), out.size(), nv.data(), nv.size());
    EXPECT_GE(n, 0);
    out.resize(n);
    return out;
  }

 private:
  nghttp2_hd_deflater* d_ = nullptr;
};

Headers request_headers(const std::string& path, const std::string& extra_value = "x") {
  return {{":method", "POST"},
          {":scheme", "https"},
          {":path", path},
          {":authority", "api.anthropic.com"},
          {"content-type", "application/json"},
          {"x-api-key", "sk-test"},
          {"user-agent", "claude-cli/2.0.0"},
          {"x-extra", extra_value}};
}

std::string client_start() { return std::string(kHttp2Preface) + settings({{4, 65535}}); }
std::string server_start() { return settings({{3, 100}}) + frame(SETTINGS, ACK, 0, ""); }

// Collects what a session reports.
struct Sink {
  std::vector<Exchange> ex;
  SessionStats stats;
  int closes = 0;
  Http2Session::ExchangeFn on_ex() {
    return [this](Exchange&& e, const tt::stream::ConnInfo&) { ex.push_back(std::move(e)); };
  }
  Http2Session::CloseFn on_close() {
    return [this](const tt::stream::ConnInfo&, const SessionStats& s) {
      stats = s;
      ++closes;
    };
  }
  const Exchange* by_path(std::string_view path) const {
    for (auto& e : ex)
      if (e.request.target == path) return &e;
    return nullptr;
  }
};

// A session under test, with each side's HPACK encoder.
struct H2 {
  Sink sink;
  Http2Session s;
  Hpack ch, sh;
  explicit H2(size_t max_body = 1 << 20, size_t client_table = 4096)
      : s({}, max_body, sink.on_ex(), sink.on_close()), ch(client_table) {}
  void client(std::string_view bytes, uint64_t ts) { s.on_bytes(C, bytes, ts); }
  void server(std::string_view bytes, uint64_t ts) { s.on_bytes(S, bytes, ts); }
  void start() {
    client(client_start(), 1);
    server(server_start(), 1);
  }
  // A request's HEADERS frame (by default the whole request: no body).
  std::string req(uint32_t sid, const std::string& path, uint8_t flags = END_HEADERS | END_STREAM) {
    return frame(HEADERS, flags, sid, ch.encode(request_headers(path)));
  }
  // A response's HEADERS frame.
  std::string resp(uint32_t sid, uint8_t flags = END_HEADERS, const Headers& hs = {{":status", "200"}}) {
    return frame(HEADERS, flags, sid, sh.encode(hs));
  }
};

// Two streams on one connection, their frames interleaved; every frame kind a
// request or response may use (padding, priority, CONTINUATION, trailers,
// interim response, control frames).
struct Conversation {
  std::string client, server;
  std::string body1 = R"({"model":"claude-sonnet-4-5","stream":true,"messages":[]})";
  std::string body3 = R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})";
  std::string sse1 = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
  std::string sse2 = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  std::string json3 = R"({"usageMetadata":{"promptTokenCount":3}})";

  Conversation() {
    Hpack ch, sh;
    client = client_start();
    // Stream 1: HEADERS with priority and padding, then a CONTINUATION.
    std::string b1 = ch.encode(request_headers("/v1/messages?beta=true"));
    std::string p1 = std::string(1, '\x03') + be32(0) + "\x10" + b1.substr(0, 10) + std::string(3, '\0');
    client += frame(HEADERS, PADDED | PRIORITY_FLAG, 1, p1);
    client += frame(CONTINUATION, END_HEADERS, 1, b1.substr(10));
    // Stream 3: plain HEADERS.
    client += frame(HEADERS, END_HEADERS, 3, ch.encode(request_headers("/v1beta/models/g:generateContent")));
    client += frame(DATA, PADDED, 3, std::string(1, '\x05') + body3.substr(0, 7) + std::string(5, '\0'));
    client += frame(WINDOW_UPDATE, 0, 0, be32(1 << 20));
    client += frame(DATA, 0, 1, body1.substr(0, 20));
    client += frame(PING, 0, 0, std::string(8, 'p'));
    client += frame(DATA, END_STREAM, 3, body3.substr(7));
    client += frame(0x20, 0, 0, "an extension frame");  // unknown type: skipped
    client += frame(DATA, END_STREAM, 1, body1.substr(20));

    server = server_start();
    server += frame(HEADERS, END_HEADERS, 3, sh.encode({{":status", "100"}}));
    std::string r1 = sh.encode({{":status", "200"}, {"content-type", "text/event-stream"}, {"request-id", "req_1"}});
    server += frame(HEADERS, 0, 1, r1.substr(0, 4));
    server += frame(CONTINUATION, 0, 1, r1.substr(4, 3));
    server += frame(CONTINUATION, END_HEADERS, 1, r1.substr(7));
    server += frame(DATA, 0, 1, sse1);
    server += frame(HEADERS, END_HEADERS, 3, sh.encode({{":status", "200"}, {"content-type", "application/json"}}));
    server += frame(PRIORITY, 0, 3, be32(0) + "\x01");
    server += frame(DATA, PADDED, 3, std::string(1, '\x02') + json3 + std::string(2, '\0'));
    server += frame(DATA, 0, 1, sse2);
    server += frame(HEADERS, END_STREAM | END_HEADERS, 3, sh.encode({{"grpc-status", "0"}}));  // trailers
    server += frame(DATA, END_STREAM, 1, "");
    server += frame(GOAWAY, 0, 0, be32(3) + be32(0));
  }

  void check(const Sink& sink) const {
    ASSERT_EQ(sink.ex.size(), 2u);
    const Exchange* e1 = sink.by_path("/v1/messages?beta=true");
    const Exchange* e3 = sink.by_path("/v1beta/models/g:generateContent");
    ASSERT_TRUE(e1 && e3);
    EXPECT_EQ(e1->sequence, 1u);
    EXPECT_EQ(e3->sequence, 2u);
    EXPECT_EQ(e1->request.body, body1);
    EXPECT_EQ(e3->request.body, body3);
    EXPECT_EQ(e1->request.method, "POST");
    ASSERT_TRUE(e1->response && e3->response);
    EXPECT_EQ(e1->response->status, 200);
    EXPECT_EQ(e3->response->status, 200);
    EXPECT_EQ(e1->response->body, sse1 + sse2);
    EXPECT_EQ(e3->response->body, json3);
    EXPECT_EQ(*e1->response->header("Request-Id"), "req_1");
    EXPECT_EQ(e3->response->header("grpc-status"), nullptr);  // a trailer, not a header
    for (const Exchange* e : {e1, e3}) {
      EXPECT_TRUE(e->request.complete);
      EXPECT_TRUE(e->response->complete);
      EXPECT_EQ(e->request.error, "");
      EXPECT_EQ(e->response->error, "");
      EXPECT_EQ(*e->request.header("Host"), "api.anthropic.com");
      EXPECT_EQ(*e->request.header("x-api-key"), "sk-test");
      EXPECT_EQ(*e->request.header("x-extra"), "x");
      EXPECT_EQ(e->request.headers.size(), 5u);  // host + 4 regular; no pseudo-headers
      EXPECT_EQ(e->request.http_major, 2);
      EXPECT_EQ(e->response->http_major, 2);
    }
    EXPECT_EQ(sink.stats.parse_errors, 0u);
    EXPECT_EQ(sink.stats.bytes_unparsed, 0u);
  }
};

TEST(Http2, RequestAndStreamedResponse) {
  H2 h;
  std::string body = R"({"model":"claude-sonnet-4-5","stream":true})";
  h.start();
  std::string block = h.ch.encode(request_headers("/v1/messages"));
  h.client(frame(HEADERS, END_HEADERS, 1, block) + frame(DATA, END_STREAM, 1, body), 12);
  std::string rblock = h.sh.encode({{":status", "200"}, {"content-type", "text/event-stream"}});
  h.server(frame(HEADERS, END_HEADERS, 1, rblock), 20);
  h.server(frame(DATA, 0, 1, "data: 1\n\n"), 30);
  EXPECT_TRUE(h.sink.ex.empty());
  h.server(frame(DATA, END_STREAM, 1, "data: 2\n\n"), 40);
  ASSERT_EQ(h.sink.ex.size(), 1u);
  const Exchange& e = h.sink.ex[0];
  EXPECT_EQ(e.sequence, 1u);
  EXPECT_EQ(e.request.method, "POST");
  EXPECT_EQ(e.request.target, "/v1/messages");
  EXPECT_EQ(e.request.headers[0].name, "host");
  EXPECT_EQ(e.request.body, body);
  EXPECT_EQ(e.request.body_wire_bytes, body.size());
  EXPECT_EQ(e.request.header_bytes, block.size());
  EXPECT_EQ(e.request.framing_bytes, 18u);  // two frame headers
  EXPECT_EQ((e.request.first_ts_ns), 12u);
  EXPECT_EQ((e.request.last_ts_ns), 12u);
  ASSERT_TRUE(e.response);
  EXPECT_EQ(e.response->status, 200);
  EXPECT_EQ(e.response->body, "data: 1\n\ndata: 2\n\n");
  EXPECT_EQ(*e.response->header("Content-Type"), "text/event-stream");
  EXPECT_EQ(e.response->header_bytes, rblock.size());
  EXPECT_EQ(e.response->first_ts_ns, 20u);
  EXPECT_EQ(e.response->last_ts_ns, 40u);
  EXPECT_TRUE(e.request.complete && e.response->complete);
  h.s.on_close(50);
  EXPECT_EQ(h.sink.closes, 1);
  EXPECT_TRUE(h.sink.stats.http2);
  EXPECT_FALSE(h.sink.stats.non_http);
  EXPECT_EQ(h.sink.stats.parse_errors, 0u);
  EXPECT_EQ(h.sink.stats.bytes_unparsed, 0u);
}

TEST(Http2, ConcurrentStreamsContinuationPaddingTrailers) {
  Conversation c;
  H2 h;
  h.client(c.client, 1);
  h.server(c.server, 2);
  h.s.on_close(3);
  c.check(h.sink);
  // Stream 3 ended first: it is handed on first.
  EXPECT_EQ(h.sink.ex[0].request.target, "/v1beta/models/g:generateContent");
  // Padding, priority fields and frame headers are framing; the interim 100 is not the response.
  const Exchange* e1 = h.sink.by_path("/v1/messages?beta=true");
  EXPECT_EQ(e1->request.framing_bytes, 9u + 1 + 5 + 3 + 9 + 9 + 9);
}

TEST(Http2, FrameSplitAtEveryPosition) {
  Conversation c;
  for (size_t k = 0; k <= std::max(c.client.size(), c.server.size()); ++k) {
    H2 h;
    size_t kc = std::min(k, c.client.size()), ks = std::min(k, c.server.size());
    h.client(c.client.substr(0, kc), 1);
    h.client(c.client.substr(kc), 2);
    h.server(c.server.substr(0, ks), 3);
    h.server(c.server.substr(ks), 4);
    h.s.on_close(5);
    SCOPED_TRACE("split at " + std::to_string(k));
    c.check(h.sink);
  }
  // And one byte at a time.
  H2 h;
  for (char b : c.client) h.client(std::string(1, b), 1);
  for (char b : c.server) h.server(std::string(1, b), 2);
  h.s.on_close(3);
  c.check(h.sink);
}

TEST(Http2, TimestampsSpanFramesSplitAcrossChunks) {
  H2 h;
  h.start();
  std::string req = h.req(1, "/v1/messages");
  h.client(req.substr(0, 4), 100);  // the frame's first byte
  h.client(req.substr(4), 110);
  std::string resp = h.resp(1) + frame(DATA, END_STREAM, 1, std::string(5000, 'x'));
  h.server(resp.substr(0, 20), 200);
  h.server(resp.substr(20, 3000), 210);
  h.server(resp.substr(3020), 220);
  ASSERT_EQ(h.sink.ex.size(), 1u);
  EXPECT_EQ(h.sink.ex[0].request.first_ts_ns, 100u);
  EXPECT_EQ(h.sink.ex[0].request.last_ts_ns, 110u);
  EXPECT_EQ(h.sink.ex[0].response->first_ts_ns, 200u);
  EXPECT_EQ(h.sink.ex[0].response->last_ts_ns, 220u);
  EXPECT_EQ(h.sink.ex[0].response->body.size(), 5000u);
}

// A peer may announce any header table size; the decoder's table is kept to
// 1 MiB and that is counted. Headers that fit still decode.
TEST(Http2, HpackTableIsBoundedAndTheBoundCounted) {
  H2 h;
  h.client(client_start(), 1);
  h.server(settings({{1, 0xffffffffu}}), 2);
  h.client(h.req(1, "/v1/messages"), 3);
  h.server(h.resp(1, END_HEADERS | END_STREAM, {{":status", "204"}}), 4);
  h.s.on_close(5);
  ASSERT_EQ(h.sink.ex.size(), 1u);
  EXPECT_EQ(h.sink.ex[0].request.target, "/v1/messages");
  EXPECT_EQ(h.sink.stats.hpack_limit_hits, 1u);
}

// An HPACK bomb: one byte per header naming a 60 KB table entry (nghttp2
// refuses fields over 64 KB), a thousand times. The block is inflated whole (the table stays in step: the next request
// decodes), what is kept stops at 256 KiB, and that is counted.
TEST(Http2, HeaderListIsBoundedAndTheBoundCounted) {
  H2 h(1 << 20, 1 << 20);
  h.client(client_start(), 1);
  h.server(settings({{1, 1u << 20}, {5, 1u << 20}}), 2);  // a 1 MiB table, 1 MiB frames
  h.ch.resize(1u << 20);
  std::string big(60000, 'b');
  Headers first = request_headers("/v1/messages");
  first.emplace_back("x-big", big);
  h.client(frame(HEADERS, END_HEADERS | END_STREAM, 1, h.ch.encode(first)), 3);
  Headers bomb = request_headers("/v1/complete");
  for (int i = 0; i < 1000; ++i) bomb.emplace_back("x-big", big);
  std::string block = h.ch.encode(bomb);
  ASSERT_LT(block.size(), 4000u);  // 60 MB of headers in a few KB
  h.client(frame(HEADERS, END_HEADERS | END_STREAM, 3, block), 4);
  h.client(h.req(5, "/v1/after"), 5);
  for (uint32_t sid : {1u, 3u, 5u}) h.server(h.resp(sid, END_HEADERS | END_STREAM, {{":status", "204"}}), 6);
  h.s.on_close(7);
  ASSERT_EQ(h.sink.ex.size(), 3u) << h.sink.stats.parse_errors << " parse errors";
  const Exchange* e = h.sink.by_path("/v1/complete");
  ASSERT_NE(e, nullptr);
  EXPECT_LE(e->request.headers.size(), 1024u);
  size_t kept = 0;
  for (const auto& hd : e->request.headers) kept += hd.name.size() + hd.value.size() + 32;
  EXPECT_LE(kept, 256u << 10);
  EXPECT_NE(h.sink.by_path("/v1/after"), nullptr);
  EXPECT_EQ(h.sink.stats.header_limit_hits, 1u);
  EXPECT_EQ(h.sink.stats.parse_errors, 0u);
}

TEST(Http2, HpackDynamicTableAcrossRequests) {
  H2 h(1 << 20, 65536);
  h.client(client_start(), 1);
  // The server allows a 64 KiB table: the client's encoder grows to it
  // (a dynamic table size update opens its next block).
  h.server(settings({{1, 65536}}), 2);
  h.ch.resize(65536);
  std::string long_value(5000, 'v');  // fits only in the larger table
  std::vector<size_t> sizes;
  for (uint32_t sid = 1; sid <= 7; sid += 2) {
    std::string block = h.ch.encode(request_headers("/v1/messages", long_value + std::to_string(sid / 4)));
    sizes.push_back(block.size());
    h.client(frame(HEADERS, END_HEADERS | END_STREAM, sid, block), 10 + sid);
    h.server(h.resp(sid, END_HEADERS | END_STREAM, {{":status", "204"}, {"x-r", "1"}}), 20 + sid);
  }
  ASSERT_EQ(h.sink.ex.size(), 4u);
  EXPECT_LT(sizes[1], 40u);  // the long header came from the dynamic table
  EXPECT_GT(sizes[0], 1000u);
  for (auto& e : h.sink.ex) {
    EXPECT_EQ(e.request.header("x-extra")->size(), long_value.size() + 1);
    EXPECT_EQ(e.request.target, "/v1/messages");
    EXPECT_EQ(e.response->status, 204);
    EXPECT_EQ(*e.response->header("x-r"), "1");
  }
  EXPECT_EQ(*h.sink.ex[2].request.header("x-extra"), long_value + "1");
  h.s.on_close(100);
  EXPECT_EQ(h.sink.stats.parse_errors, 0u);
}

TEST(Http2, PushPromiseHeaderBlocksKeepHpackState) {
  H2 h;
  h.start();
  h.client(h.req(1, "/page"), 2);
  // The promise indexes "x-pushed"; the response then refers to that entry.
  std::string promise = h.sh.encode({{":method", "GET"}, {":path", "/style.css"}, {"x-pushed", "a-long-value-0123"}});
  h.server(frame(PUSH_PROMISE, PADDED, 1, std::string(1, '\x02') + be32(2) + promise.substr(0, 5) + std::string(2, '\0')), 4);
  h.server(frame(CONTINUATION, END_HEADERS, 1, promise.substr(5)), 4);
  std::string resp = h.sh.encode({{":status", "200"}, {"x-pushed", "a-long-value-0123"}});
  EXPECT_LT(resp.size(), 4u);
  h.server(frame(HEADERS, END_HEADERS, 1, resp), 5);
  // The pushed stream's own response: not an exchange of this client.
  h.server(h.resp(2), 6);
  h.server(frame(DATA, END_STREAM, 2, "body{}"), 6);
  h.server(frame(DATA, END_STREAM, 1, "<html>"), 7);
  h.s.on_close(8);
  ASSERT_EQ(h.sink.ex.size(), 1u);
  EXPECT_EQ(*h.sink.ex[0].response->header("x-pushed"), "a-long-value-0123");
  EXPECT_EQ(h.sink.ex[0].response->body, "<html>");
  EXPECT_EQ(h.sink.stats.parse_errors, 0u);
}

TEST(Http2, RstStreamEndsOnlyThatStream) {
  H2 h;
  h.start();
  for (uint32_t sid : {1, 3, 5}) h.client(h.req(sid, "/s" + std::to_string(sid)), 2);
  h.server(h.resp(3) + frame(DATA, 0, 3, "data: 1\n\n"), 3);
  h.client(frame(RST_STREAM, 0, 3, be32(8)), 4);  // the client gives up on stream 3
  h.server(frame(RST_STREAM, 0, 5, be32(7)), 5);  // the server refuses stream 5
  h.server(frame(DATA, END_STREAM, 3, "late"), 6);  // after the reset: ignored
  h.server(h.resp(1, END_HEADERS | END_STREAM), 7);
  h.s.on_close(8);
  ASSERT_EQ(h.sink.ex.size(), 3u);
  const Exchange* e3 = h.sink.by_path("/s3");
  ASSERT_TRUE(e3->response);
  EXPECT_FALSE(e3->response->complete);
  EXPECT_EQ(e3->response->error, "stream reset by client (CANCEL)");
  EXPECT_EQ(e3->response->body, "data: 1\n\n");
  EXPECT_TRUE(e3->request.complete);
  const Exchange* e5 = h.sink.by_path("/s5");
  EXPECT_FALSE(e5->response);
  EXPECT_EQ(e5->request.error, "stream reset by server (REFUSED_STREAM)");
  const Exchange* e1 = h.sink.by_path("/s1");
  EXPECT_TRUE(e1->response && e1->response->complete);
  EXPECT_EQ(h.sink.stats.parse_errors, 0u);
}

TEST(Http2, TruncatedConnectionReportsOpenStreamsIncomplete) {
  H2 h;
  h.start();
  h.client(h.req(1, "/a"), 2);
  h.client(h.req(3, "/b", END_HEADERS) + frame(DATA, 0, 3, "{\"a\""), 2);
  h.server(h.resp(1) + frame(DATA, 0, 1, "event: x\n"), 3);
  h.server(frame(DATA, 0, 1, "cut").substr(0, 5), 4);  // a frame cut off by the close
  h.s.on_close(9);
  ASSERT_EQ(h.sink.ex.size(), 2u);
  const Exchange* a = h.sink.by_path("/a");
  ASSERT_TRUE(a->response);
  EXPECT_FALSE(a->response->complete);
  EXPECT_EQ(a->response->error, "connection closed");
  EXPECT_EQ(a->response->body, "event: x\n");
  const Exchange* b = h.sink.by_path("/b");
  EXPECT_FALSE(b->response);
  EXPECT_FALSE(b->request.complete);
  EXPECT_EQ(b->request.body, "{\"a\"");
  EXPECT_EQ(b->request.error, "connection closed");
  EXPECT_EQ(h.sink.stats.bytes_unparsed, 5u);
  EXPECT_EQ(h.sink.stats.parse_errors, 0u);
}

TEST(Http2, GarbageAfterThePreface) {
  H2 h;
  std::string junk = "this is not an HTTP/2 frame at all, just text\r\n";
  h.client(std::string(kHttp2Preface) + junk, 1);
  h.server(server_start(), 2);
  h.s.on_close(3);
  EXPECT_TRUE(h.sink.ex.empty());
  EXPECT_EQ(h.sink.stats.parse_errors, 1u);
  EXPECT_EQ(h.sink.stats.bytes_unparsed, junk.size() + server_start().size());
  EXPECT_EQ(h.sink.closes, 1);
}

TEST(Http2, GarbageMidConnectionEndsDecoding) {
  H2 h;
  h.start();
  h.client(h.req(1, "/a"), 2);
  h.client(h.req(3, "/b"), 2);
  h.server(h.resp(1, END_HEADERS | END_STREAM), 3);
  // A DATA frame on stream 0 is a protocol error.
  std::string bad = frame(DATA, 0, 0, "zz");
  h.server(bad + "more", 4);
  h.server("and more", 5);
  h.s.on_close(6);
  ASSERT_EQ(h.sink.ex.size(), 2u);
  EXPECT_TRUE(h.sink.by_path("/a")->response->complete);
  const Exchange* b = h.sink.by_path("/b");
  EXPECT_FALSE(b->response);
  EXPECT_NE(b->request.error.find("HTTP/2 parse error"), std::string::npos) << b->request.error;
  EXPECT_EQ(h.sink.stats.parse_errors, 1u);
  EXPECT_EQ(h.sink.stats.bytes_unparsed, bad.size() + 4 + 8);
}

TEST(Http2, BadHpackEndsDecoding) {
  H2 h;
  h.client(client_start(), 1);
  // Index 200 is in neither table.
  h.client(frame(HEADERS, END_HEADERS, 1, "\xff\x49"), 2);
  h.s.on_close(3);
  EXPECT_TRUE(h.sink.ex.empty());
  EXPECT_EQ(h.sink.stats.parse_errors, 1u);
}

TEST(Http2, CaptureGapEndsDecodingAndIsCounted) {
  H2 h;
  h.start();
  h.client(h.req(1, "/a"), 2);
  h.server(h.resp(1) + frame(DATA, 0, 1, "abc"), 3);
  std::string partial = frame(DATA, 0, 1, "0123456789").substr(0, 12);
  h.server(partial, 4);
  h.s.on_gap(S, 100, 5);
  ASSERT_EQ(h.sink.ex.size(), 1u);
  EXPECT_FALSE(h.sink.ex[0].response->complete);
  EXPECT_EQ(h.sink.ex[0].response->error, "capture gap of 100 bytes");
  EXPECT_EQ(h.sink.ex[0].response->body, "abc");
  h.server("after the gap", 6);
  h.client(h.req(3, "/b"), 7);
  h.s.on_gap(C, 10, 8);
  h.s.on_close(9);
  EXPECT_EQ(h.sink.ex.size(), 1u);
  EXPECT_EQ(h.sink.stats.parse_errors, 0u);
  EXPECT_GE(h.sink.stats.bytes_unparsed, partial.size() + 13);
}

// A gap inside a DATA frame's payload keeps the framing: that stream's body has
// a hole (counted, incomplete), the other stream is exact, and later frames of
// both are decoded. Padding is accounted for as far as its length byte arrived.
TEST(Http2, GapInsideADataFrameKeepsTheOtherStreams) {
  H2 h;
  h.start();
  h.client(h.req(1, "/a"), 2);  // one block at a time: HPACK order is encoding order
  h.client(h.req(3, "/b"), 2);
  h.server(h.resp(1), 3);
  h.server(h.resp(3) + frame(DATA, 0, 3, "first "), 3);
  std::string big = frame(DATA, PADDED, 1, std::string(1, '\x04') + std::string(1000, 'x') + std::string(4, '\0'));
  h.server(big.substr(0, 100), 4);
  h.s.on_gap(S, 500, 5);  // inside the payload: 414 bytes remain after it
  h.server(big.substr(600) + frame(DATA, END_STREAM, 3, "second"), 6);
  h.server(frame(PING, 0, 0, std::string(8, 'p')) + frame(DATA, END_STREAM, 1, "tail"), 7);
  h.s.on_close(8);
  ASSERT_EQ(h.sink.ex.size(), 2u);
  const Exchange* a = h.sink.by_path("/a");
  const Exchange* b = h.sink.by_path("/b");
  ASSERT_TRUE(a && b && a->response && b->response);
  EXPECT_TRUE(b->response->complete);
  EXPECT_EQ(b->response->body, "first second");
  EXPECT_FALSE(a->response->complete);
  EXPECT_EQ(a->response->error, "capture gap of 500 bytes in a DATA frame");
  EXPECT_EQ(a->response->body_wire_bytes, 1000u + 4u);
  EXPECT_EQ(a->response->body_lost, 500u);
  EXPECT_EQ(a->response->body, std::string(90, 'x'));  // what came before the hole
  EXPECT_EQ(a->response->last_ts_ns, 7u);
  EXPECT_TRUE(a->request.complete);
  EXPECT_EQ(h.sink.stats.gap_resyncs, 1u);
  EXPECT_EQ(h.sink.stats.parse_errors, 0u);
  EXPECT_EQ(h.sink.stats.bytes_unparsed, 0u);
}

// A gap that ends a frame exactly, in a control frame: nothing of any stream lost.
TEST(Http2, GapEndingAControlFrameLosesNothing) {
  H2 h;
  h.start();
  h.client(h.req(1, "/a"), 2);
  std::string ping = frame(PING, 0, 0, std::string(8, 'p'));
  h.server(h.resp(1) + ping.substr(0, 12), 3);
  h.s.on_gap(S, 5, 4);
  h.server(frame(DATA, END_STREAM, 1, "ok"), 5);
  ASSERT_EQ(h.sink.ex.size(), 1u);
  EXPECT_TRUE(h.sink.ex[0].response->complete);
  EXPECT_EQ(h.sink.ex[0].response->body, "ok");
}

// In a header block the HPACK state is lost with the bytes: decoding stops.
TEST(Http2, GapInsideAHeaderBlockEndsDecoding) {
  H2 h;
  h.start();
  std::string req = h.req(1, "/a");
  h.client(req.substr(0, 12), 2);
  h.s.on_gap(C, 3, 3);
  std::string more = req.substr(15) + h.req(3, "/b");
  h.client(more, 4);
  h.s.on_close(5);
  EXPECT_TRUE(h.sink.ex.empty());
  EXPECT_EQ(h.sink.stats.gap_resyncs, 0u);
  EXPECT_EQ(h.sink.stats.bytes_unparsed, 12u + more.size());
}

TEST(Http2, BodiesAreCappedAtMaxBody) {
  H2 h(10);
  h.start();
  h.client(h.req(1, "/a", END_HEADERS), 2);
  h.client(frame(DATA, 0, 1, "0123456") + frame(DATA, END_STREAM, 1, "789abcdefghijklmnopq"), 2);
  h.server(h.resp(1), 3);
  h.server(frame(DATA, END_STREAM, 1, std::string(25, 'r')), 3);
  ASSERT_EQ(h.sink.ex.size(), 1u);
  const Exchange& e = h.sink.ex[0];
  EXPECT_EQ(e.request.body, "0123456789");
  EXPECT_EQ(e.request.body_wire_bytes, 27u);
  EXPECT_TRUE(e.request.body_truncated);
  EXPECT_EQ(e.response->body.size(), 10u);
  EXPECT_EQ(e.response->body_wire_bytes, 25u);
  EXPECT_TRUE(e.response->body_truncated);
  EXPECT_TRUE(e.response->complete);
}

TEST(Http2, TracingTheServerSide) {
  // The preface arrives on the read side; the server's SETTINGS went out first.
  Conversation c;
  H2 h;
  h.client(c.server.substr(0, 20), 1);
  h.server(c.client, 2);
  h.client(c.server.substr(20), 3);
  h.s.on_close(4);
  c.check(h.sink);
}

TEST(Http2, NoPrefaceIsNotHttp2) {
  H2 h;
  h.client("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  h.server("HTTP/1.1 200 OK\r\n", 2);
  h.s.on_close(3);
  EXPECT_TRUE(h.sink.ex.empty());
  EXPECT_TRUE(h.sink.stats.non_http);
  EXPECT_EQ(h.sink.stats.parse_errors, 0u);
  EXPECT_EQ(h.sink.stats.bytes_unparsed, 27u + 17u);
}

// Through the entry point the pipeline uses: Http1Session sees the preface and
// hands the connection over, whatever way the preface was cut into chunks.
TEST(Http2, Http1SessionHandsOverAtThePreface) {
  Conversation c;
  for (size_t k = 0; k <= kHttp2Preface.size() + 2; ++k) {
    Sink sink;
    {
      Http1Session s({}, 1 << 20, sink.on_ex(), sink.on_close());
      s.on_bytes(S, c.server.substr(0, 30), 1);  // the server may be heard first
      s.on_bytes(C, c.client.substr(0, k), 2);
      s.on_bytes(C, c.client.substr(k), 3);
      s.on_bytes(S, c.server.substr(30), 4);
    }  // destroyed: closes
    SCOPED_TRACE("preface cut at " + std::to_string(k));
    EXPECT_EQ(sink.closes, 1);
    EXPECT_TRUE(sink.stats.http2);
    EXPECT_FALSE(sink.stats.non_http);
    c.check(sink);
  }
}

// A capture cut short anywhere, or with bytes flipped: never a crash, never
// more exchanges than streams.
TEST(Http2, TruncatedOrCorruptedInputIsSafe) {
  Conversation c;
  for (size_t cut = 0; cut <= c.client.size() + c.server.size(); ++cut) {
    H2 h;
    h.client(c.client.substr(0, cut), 1);
    if (cut > c.client.size()) h.server(c.server.substr(0, cut - c.client.size()), 2);
    h.s.on_close(3);
    EXPECT_LE(h.sink.ex.size(), 2u);
    EXPECT_EQ(h.sink.closes, 1);
  }
  std::mt19937 rng(42);
  for (int round = 0; round < 2000; ++round) {
    std::string cl = c.client, sv = c.server;
    for (int k = 0; k < 3; ++k) {
      std::string& t = rng() % 2 ? cl : sv;
      t[rng() % t.size()] = static_cast<char>(rng());
    }
    H2 h;
    h.client(cl, 1);
    h.server(sv, 2);
    h.s.on_close(3);
    EXPECT_LE(h.sink.ex.size(), 2u);
  }
}

}  // namespace

// What a request hook keeps of a body it released.
struct SizeDigest : tt::protocol::BodyDigest {
  explicit SizeDigest(size_t n) : size(n) {}
  size_t size;
};

// Digests and releases each request body as it ends, noting how many exchanges
// had been handed on by then.
struct Releaser {
  std::vector<std::pair<std::string, size_t>> seen;  // (body, exchanges before)
  const Sink* sink = nullptr;
  Http1Session::RequestFn fn() {
    return [this](tt::protocol::HttpMessage& m, const tt::stream::ConnInfo&) {
      seen.emplace_back(m.body, sink->ex.size());
      m.digest = std::make_shared<SizeDigest>(m.body.size());
      std::string().swap(m.body);
    };
  }
};

void expect_released(const Exchange& e, const std::string& body) {
  EXPECT_EQ(e.request.body, "");
  EXPECT_EQ(e.request.body_wire_bytes, body.size());
  const auto* d = dynamic_cast<const SizeDigest*>(e.request.digest.get());
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->size, body.size());
}

// HTTP/2: the hook runs when a request's stream ends on the client side, before
// any response, and the exchange carries what it kept instead of the body.
TEST(Http2, RequestHookRunsWhenTheRequestEndsAndMayReleaseItsBody) {
  Conversation c;
  Sink sink;
  Releaser rel;
  rel.sink = &sink;
  {
    Http2Session s({}, 1 << 20, sink.on_ex(), sink.on_close(), rel.fn());
    s.on_bytes(C, c.client, 1);
    ASSERT_EQ(rel.seen.size(), 2u);
    EXPECT_EQ(rel.seen[0], std::make_pair(c.body3, size_t{0}));  // stream 3 ends first
    EXPECT_EQ(rel.seen[1], std::make_pair(c.body1, size_t{0}));
    s.on_bytes(S, c.server, 2);
  }
  ASSERT_EQ(sink.ex.size(), 2u);
  expect_released(*sink.by_path("/v1/messages?beta=true"), c.body1);
  expect_released(*sink.by_path("/v1beta/models/g:generateContent"), c.body3);
  EXPECT_EQ(sink.by_path("/v1/messages?beta=true")->response->body, c.sse1 + c.sse2);
}

// HTTP/1.1 keep-alive: the hook runs for each request as its body ends, the
// second one while the first one's response is still to come.
TEST(Http1Session, RequestHookRunsWhenTheRequestEndsAndMayReleaseItsBody) {
  std::string b1 = R"({"model":"a","messages":[]})", b2 = R"({"model":"bb","messages":[1]})";
  auto req = [](const std::string& b) {
    return "POST /v1/messages HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
  };
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
  Sink sink;
  Releaser rel;
  rel.sink = &sink;
  {
    Http1Session s({}, 1 << 20, sink.on_ex(), sink.on_close(), rel.fn());
    std::string r1 = req(b1);
    s.on_call_start(C);
    s.on_bytes(C, r1.substr(0, r1.size() - 3), 1);
    EXPECT_TRUE(rel.seen.empty());  // body not over yet
    s.on_bytes(C, r1.substr(r1.size() - 3), 2);
    ASSERT_EQ(rel.seen.size(), 1u);
    s.on_call_start(C);
    s.on_bytes(C, req(b2), 3);  // pipelined: sent before the first response
    ASSERT_EQ(rel.seen.size(), 2u);
    EXPECT_EQ(rel.seen[1], std::make_pair(b2, size_t{0}));
    s.on_call_start(S);
    s.on_bytes(S, resp + resp, 4);
  }
  ASSERT_EQ(sink.ex.size(), 2u);
  expect_released(sink.ex[0], b1);
  expect_released(sink.ex[1], b2);
}

// Through the pipeline: Codex over HTTP/2 resets its stream (CANCEL) as soon as
// response.completed has come, often before the server's END_STREAM. It had the
// whole answer: the record is complete, with no error. A reset before the final
// usage leaves it incomplete, and says why.
class CancelledStream : public ::testing::TestWithParam<bool> {};

TEST_P(CancelledStream, IsCompleteOnlyOnceTheFinalUsageCame) {
  bool after_usage = GetParam();
  Hpack ch, sh;
  std::string body = R"({"model":"gpt-5-codex","stream":true,"input":[]})";
  Headers req = {{":method", "POST"}, {":scheme", "https"}, {":path", "/v1/responses"}, {":authority", "api.openai.com"},
                 {"content-type", "application/json"}};
  std::string client = client_start() + frame(HEADERS, END_HEADERS, 1, ch.encode(req)) + frame(DATA, END_STREAM, 1, body);
  std::string created = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\"}}\n\n";
  std::string completed =
      "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"model\":"
      "\"gpt-5-codex\",\"usage\":{\"input_tokens\":100,\"input_tokens_details\":{\"cached_tokens\":60},"
      "\"output_tokens\":7}}}\n\n";
  std::string server = server_start() +
                       frame(HEADERS, END_HEADERS, 1, sh.encode({{":status", "200"}, {"content-type", "text/event-stream"}})) +
                       frame(DATA, 0, 1, created) + (after_usage ? frame(DATA, 0, 1, completed) : "");
  tt::testing::CollectSink sink;
  tt::aggregate::Aggregator agg("run", &sink);
  tt::pipeline::Pipeline pipe({}, agg);
  auto feed = [&](int dir, const std::string& bytes, uint64_t ts) {
    for (auto& r : tt::testing::data_records(5, 9, dir, bytes, ts)) pipe.on_raw(r.data(), r.size());
  };
  feed(C, client, 10);
  feed(S, server, 20);
  feed(C, frame(RST_STREAM, 0, 1, be32(0x8 /* CANCEL */)), 30);
  std::vector<tokentap::v1::ApiRequest> reqs;
  for (auto& r : sink.recs)
    if (r.has_request()) reqs.push_back(r.request());
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].complete(), after_usage);
  if (after_usage) {
    EXPECT_EQ(reqs[0].error(), "");
    EXPECT_EQ(reqs[0].usage_source(), "exact");
    EXPECT_EQ(reqs[0].input_tokens(), 40u);
    EXPECT_EQ(reqs[0].cache_read_tokens(), 60u);
    EXPECT_EQ(reqs[0].output_tokens(), 7u);
  } else {
    EXPECT_NE(reqs[0].error().find("stream reset by client (CANCEL)"), std::string::npos) << reqs[0].error();
    EXPECT_EQ(reqs[0].usage_source(), "estimated");
  }
}

INSTANTIATE_TEST_SUITE_P(Http2, CancelledStream, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "AfterUsage" : "BeforeUsage"; });
