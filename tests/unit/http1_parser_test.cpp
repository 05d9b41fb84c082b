#include "protocol/http1_parser.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>

#include "protocol/sse.h"

using tt::protocol::Http1Parser;
using tt::protocol::HttpMessage;
using tt::protocol::looks_like_http1_start;
using tt::protocol::parse_sse;
using Kind = Http1Parser::Kind;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream f(std::string(TT_TEST_DATA_DIR) + "/http/" + name, std::ios::binary);
  EXPECT_TRUE(f.good()) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Everything but the timestamps, for comparing runs.
std::string dump(const HttpMessage& m) {
  std::ostringstream o;
  o << (m.is_request ? "req " : "resp ") << m.method << ' ' << m.target << ' ' << m.status << ' '
    << m.reason << " HTTP/" << m.http_major << '.' << m.http_minor << '\n';
  for (const auto& h : m.headers) o << h.name << ": " << h.value << '\n';
  o << "header_bytes=" << m.header_bytes << " body_wire_bytes=" << m.body_wire_bytes
    << " framing_bytes=" << m.framing_bytes << " truncated=" << m.body_truncated
    << " complete=" << m.complete << " error=" << m.error << '\n'
    << m.body;
  return o.str();
}

struct Parsed {
  std::vector<HttpMessage> msgs;
  uint64_t skipped = 0;
  uint64_t errors = 0;
};

constexpr uint64_t kTs0 = 1000;  // piece timestamps are kTs0 + the offset of the piece

// Feeds data cut at the given (sorted) offsets, then finish().
Parsed parse_all(Kind kind, std::string_view data, const std::vector<size_t>& cuts = {}, size_t max_body = 1 << 20,
        const std::vector<std::string>& methods = {}) {
  Http1Parser p(kind, max_body);
  for (const auto& m : methods) p.push_request_method(m);
  Parsed r;
  size_t prev = 0;
  for (size_t c : cuts) {
    p.feed(data.substr(prev, c - prev), kTs0 + prev, r.msgs);
    prev = c;
  }
  p.feed(data.substr(prev), kTs0 + prev, r.msgs);
  p.finish(kTs0 + data.size(), r.msgs);
  r.skipped = p.bytes_skipped();
  r.errors = p.parse_errors();
  return r;
}

std::vector<size_t> every_byte(size_t n) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < n; ++i) cuts.push_back(i);
  return cuts;
}

// The timestamp a message byte at `offset` gets when the data is cut at `cuts`.
uint64_t ts_of(size_t offset, const std::vector<size_t>& cuts) {
  size_t start = 0;
  for (size_t c : cuts)
    if (c <= offset) start = c;
  return kTs0 + start;
}

std::string head(std::string_view start, std::initializer_list<std::string_view> headers) {
  std::string s(start);
  s += "\r\n";
  for (auto h : headers) (s += h) += "\r\n";
  return s + "\r\n";
}

}  // namespace

// ---- whole captures ------------------------------------------------------------------

TEST(Http1Parser, AnthropicStreamChunked) {
  std::string data = fixture("anthropic_sse_response.http");
  Parsed r = parse_all(Kind::Response, data);
  ASSERT_EQ(r.msgs.size(), 1u);
  const HttpMessage& m = r.msgs[0];
  EXPECT_FALSE(m.is_request);
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.reason, "OK");
  EXPECT_EQ(m.http_major, 1);
  EXPECT_EQ(m.http_minor, 1);
  ASSERT_EQ(m.headers.size(), 13u);
  EXPECT_EQ(m.headers[0].name, "Date");
  EXPECT_EQ(m.headers[12].name, "CF-RAY");
  EXPECT_EQ(m.headers[12].value, "94a1b2c3d4e5f607-FRA");
  ASSERT_NE(m.header("content-type"), nullptr);
  EXPECT_EQ(*m.header("content-type"), "text/event-stream; charset=utf-8");
  EXPECT_EQ(m.header_bytes, 469u);
  EXPECT_EQ(m.body_wire_bytes, 1239u);
  EXPECT_EQ(m.framing_bytes, 66u);
  EXPECT_EQ(m.header_bytes + m.body_wire_bytes + m.framing_bytes, data.size());
  EXPECT_EQ(m.body.size(), 1239u);
  EXPECT_FALSE(m.body_truncated);
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.error, "");
  EXPECT_EQ(m.first_ts_ns, kTs0);
  EXPECT_EQ(m.last_ts_ns, kTs0);
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_EQ(r.errors, 0u);

  auto events = parse_sse(m.body);
  std::vector<std::string> names;
  for (const auto& e : events) names.push_back(e.event);
  EXPECT_EQ(names, (std::vector<std::string>{"message_start", "content_block_start", "ping", "content_block_delta",
                                             "content_block_delta", "content_block_delta", "content_block_delta",
                                             "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(events[2].data, R"({"type": "ping"})");
  EXPECT_EQ(events[9].data, R"({"type":"message_stop"})");
}

TEST(Http1Parser, OpenAiStreamWithEventsSplitAcrossChunks) {
  std::string data = fixture("openai_sse_response.http");
  Parsed r = parse_all(Kind::Response, data);
  ASSERT_EQ(r.msgs.size(), 1u);
  const HttpMessage& m = r.msgs[0];
  EXPECT_EQ(m.header_bytes, 435u);
  EXPECT_EQ(m.body_wire_bytes, 1743u);
  EXPECT_EQ(m.framing_bytes, 38u);  // 5 chunk-size lines and CRLFs, "0\r\n\r\n"
  EXPECT_TRUE(m.complete);
  auto events = parse_sse(m.body);
  ASSERT_EQ(events.size(), 7u);
  for (const auto& e : events) EXPECT_EQ(e.event, "");
  EXPECT_EQ(events[6].data, "[DONE]");
  EXPECT_NE(events[5].data.find(R"("usage":{"prompt_tokens":19,"completion_tokens":3,"total_tokens":22})"),
            std::string::npos);
}

TEST(Http1Parser, KeepAliveThreeRequests) {
  std::string data = fixture("keepalive_requests.http");
  // Pieces start at 0, 300 and 700; the messages span 0-347, 348-539 and 540-901.
  Parsed r = parse_all(Kind::Request, data, {300, 700});
  ASSERT_EQ(r.msgs.size(), 3u);
  const auto& a = r.msgs[0];
  const auto& b = r.msgs[1];
  const auto& c = r.msgs[2];

  EXPECT_TRUE(a.is_request);
  EXPECT_EQ(a.method, "POST");
  EXPECT_EQ(a.target, "/v1/messages");
  EXPECT_EQ(a.status, 0);
  EXPECT_EQ(*a.header("host"), "api.anthropic.com");
  EXPECT_EQ(*a.header("content-length"), "109");
  EXPECT_EQ(a.header_bytes, 239u);
  EXPECT_EQ(a.body_wire_bytes, 109u);
  EXPECT_EQ(a.framing_bytes, 0u);
  EXPECT_EQ(a.body,
            R"({"model":"claude-sonnet-4-20250514","max_tokens":1024,"messages":[{"role":"user","content":"Hello, Claude"}]})");
  EXPECT_TRUE(a.complete);
  EXPECT_EQ(a.first_ts_ns, kTs0);
  EXPECT_EQ(a.last_ts_ns, kTs0 + 300);

  EXPECT_EQ(b.method, "GET");
  EXPECT_EQ(b.target, "/v1/models?limit=20");
  EXPECT_EQ(b.headers.size(), 5u);
  EXPECT_EQ(b.header_bytes, 192u);
  EXPECT_EQ(b.body_wire_bytes, 0u);
  EXPECT_EQ(b.body, "");
  EXPECT_TRUE(b.complete);
  EXPECT_EQ(b.first_ts_ns, kTs0 + 300);
  EXPECT_EQ(b.last_ts_ns, kTs0 + 300);

  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.target, "/v1/messages/count_tokens");
  EXPECT_EQ(c.header_bytes, 259u);
  EXPECT_EQ(c.body_wire_bytes, 86u);
  EXPECT_EQ(c.framing_bytes, 17u);  // "28\r\n" "\r\n" "2e\r\n" "\r\n" "0\r\n\r\n"
  EXPECT_EQ(c.body, R"({"messages":[{"role":"user","content":"count me"}],"model":"claude-sonnet-4-20250514"})");
  EXPECT_TRUE(c.complete);
  EXPECT_EQ(c.first_ts_ns, kTs0 + 300);
  EXPECT_EQ(c.last_ts_ns, kTs0 + 700);
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_EQ(r.errors, 0u);
}

TEST(Http1Parser, KeepAliveThreeResponses) {
  std::string data = fixture("keepalive_responses.http");
  Parsed r = parse_all(Kind::Response, data, {}, 1 << 20, {"POST", "GET", "POST"});
  ASSERT_EQ(r.msgs.size(), 3u);
  EXPECT_EQ(r.msgs[0].header_bytes, 133u);
  EXPECT_EQ(r.msgs[0].body_wire_bytes, 252u);
  EXPECT_EQ(r.msgs[0].body, fixture("reply.json"));
  EXPECT_EQ(r.msgs[1].header_bytes, 132u);
  EXPECT_EQ(r.msgs[1].body, R"({"data":[{"type":"model","id":"claude-sonnet-4-20250514"}],"has_more":false})");
  EXPECT_EQ(r.msgs[2].header_bytes, 140u);
  EXPECT_EQ(r.msgs[2].body, R"({"input_tokens":14})");
  EXPECT_EQ(r.msgs[2].framing_bytes, 11u);
  for (const auto& m : r.msgs) {
    EXPECT_TRUE(m.complete);
    EXPECT_EQ(m.status, 200);
  }
}

TEST(Http1Parser, GzipResponseKeepsEncodedBody) {
  Parsed r = parse_all(Kind::Response, fixture("gzip_response.http"));
  ASSERT_EQ(r.msgs.size(), 1u);
  EXPECT_EQ(*r.msgs[0].header("Content-Encoding"), "gzip");
  EXPECT_EQ(r.msgs[0].header_bytes, 96u);
  EXPECT_EQ(r.msgs[0].body_wire_bytes, 201u);
  EXPECT_EQ(r.msgs[0].body.substr(0, 2), "\x1f\x8b");
}

// ---- framing ---------------------------------------------------------------------------

TEST(Http1Parser, ChunkExtensionsAndTrailers) {
  std::string h = head("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked", "Trailer: X-Checksum"});
  std::string body = "5;name=value\r\nhello\r\n6;a=b;c=\"d\"\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n";
  Parsed r = parse_all(Kind::Response, h + body);
  ASSERT_EQ(r.msgs.size(), 1u);
  const auto& m = r.msgs[0];
  EXPECT_EQ(m.body, "hello world");
  EXPECT_EQ(m.header_bytes, h.size());
  EXPECT_EQ(m.body_wire_bytes, 11u);
  EXPECT_EQ(m.framing_bytes, body.size() - 11);
  ASSERT_EQ(m.headers.size(), 2u);  // the trailer is framing, not a header
  EXPECT_EQ(m.header("X-Checksum"), nullptr);
  EXPECT_TRUE(m.complete);
}

TEST(Http1Parser, HundredContinueIsSwallowed) {
  std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  std::string early = head("HTTP/1.1 103 Early Hints", {"Link: </style.css>; rel=preload"});
  std::string resp = head("HTTP/1.1 200 OK", {"Content-Length: 2"}) + "ok";
  std::string next = head("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked"}) + "3\r\nabc\r\n0\r\n\r\n";
  std::string data = interim + early + resp + next;
  size_t resp_at = interim.size() + early.size();
  Parsed r = parse_all(Kind::Response, data, {interim.size(), resp_at}, 1 << 20, {"POST", "POST"});
  ASSERT_EQ(r.msgs.size(), 2u);
  EXPECT_EQ(r.msgs[0].status, 200);
  EXPECT_EQ(r.msgs[0].header_bytes, 38u);
  EXPECT_EQ(r.msgs[0].body, "ok");
  EXPECT_EQ(r.msgs[0].first_ts_ns, kTs0 + resp_at);
  EXPECT_EQ(r.msgs[1].body, "abc");
  EXPECT_TRUE(r.msgs[1].complete);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(r.skipped, 0u);
}

TEST(Http1Parser, HeadResponseHasNoBody) {
  std::string first = head("HTTP/1.1 200 OK", {"Content-Length: 1234", "Content-Type: application/json"});
  std::string data = first + head("HTTP/1.1 200 OK", {"Content-Length: 3"}) + "abc";
  Parsed r = parse_all(Kind::Response, data, {}, 1 << 20, {"HEAD", "GET"});
  ASSERT_EQ(r.msgs.size(), 2u);
  EXPECT_EQ(r.msgs[0].body_wire_bytes, 0u);
  EXPECT_EQ(r.msgs[0].header_bytes, first.size());
  EXPECT_TRUE(r.msgs[0].complete);
  EXPECT_EQ(r.msgs[1].body, "abc");
  EXPECT_TRUE(r.msgs[1].complete);

  // Without the method the first response swallows the second as its body.
  Parsed blind = parse_all(Kind::Response, data);
  ASSERT_EQ(blind.msgs.size(), 1u);
  EXPECT_FALSE(blind.msgs[0].complete);
  EXPECT_EQ(blind.msgs[0].error, "connection closed");
  EXPECT_EQ(blind.msgs[0].body_wire_bytes, data.size() - first.size());
}

TEST(Http1Parser, NoBodyFor204And304) {
  std::string data = head("HTTP/1.1 204 No Content", {"Date: x"}) +
                     head("HTTP/1.1 304 Not Modified", {"Content-Length: 50", "ETag: \"a\""}) +
                     head("HTTP/1.1 200 OK", {"Content-Length: 2"}) + "hi";
  Parsed r = parse_all(Kind::Response, data);
  ASSERT_EQ(r.msgs.size(), 3u);
  EXPECT_EQ(r.msgs[0].status, 204);
  EXPECT_EQ(r.msgs[0].reason, "No Content");
  EXPECT_EQ(r.msgs[1].status, 304);
  EXPECT_EQ(r.msgs[1].body_wire_bytes, 0u);
  EXPECT_EQ(r.msgs[2].body, "hi");
  for (const auto& m : r.msgs) EXPECT_TRUE(m.complete);
}

TEST(Http1Parser, CloseDelimitedBodyCompletesOnFinish) {
  std::string h = head("HTTP/1.1 200 OK", {"Content-Type: text/event-stream", "Connection: close"});
  Http1Parser p(Kind::Response, 1 << 20);
  std::vector<HttpMessage> out;
  p.feed(h + "data: a\n\n", 10, out);
  p.feed("data: b\n\n", 20, out);
  EXPECT_TRUE(out.empty());
  p.finish(30, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].complete);
  EXPECT_EQ(out[0].error, "");
  EXPECT_EQ(out[0].header_bytes, h.size());
  EXPECT_EQ(out[0].body, "data: a\n\ndata: b\n\n");
  EXPECT_EQ(out[0].body_wire_bytes, 18u);
  EXPECT_EQ(out[0].framing_bytes, 0u);
  EXPECT_EQ(out[0].first_ts_ns, 10u);
  EXPECT_EQ(out[0].last_ts_ns, 20u);  // the last byte, not the close
}

TEST(Http1Parser, Http10ResponseWithoutLengthIsCloseDelimited) {
  Parsed r = parse_all(Kind::Response, "HTTP/1.0 200 OK\r\n\r\nplain");
  ASSERT_EQ(r.msgs.size(), 1u);
  EXPECT_EQ(r.msgs[0].http_minor, 0);
  EXPECT_EQ(r.msgs[0].body, "plain");
  EXPECT_TRUE(r.msgs[0].complete);
}

TEST(Http1Parser, MaxBodyCapCountsEverything) {
  std::string data = fixture("anthropic_sse_response.http");
  Parsed r = parse_all(Kind::Response, data, {}, 10);
  ASSERT_EQ(r.msgs.size(), 1u);
  const auto& m = r.msgs[0];
  EXPECT_EQ(m.body, "event: mes");
  EXPECT_TRUE(m.body_truncated);
  EXPECT_EQ(m.body_wire_bytes, 1239u);
  EXPECT_EQ(m.header_bytes, 469u);
  EXPECT_EQ(m.framing_bytes, 66u);
  EXPECT_TRUE(m.complete);

  Parsed zero = parse_all(Kind::Response, data, {}, 0);
  EXPECT_EQ(zero.msgs[0].body, "");
  EXPECT_TRUE(zero.msgs[0].body_truncated);

  Parsed exact = parse_all(Kind::Response, data, {}, 1239);
  EXPECT_EQ(exact.msgs[0].body.size(), 1239u);
  EXPECT_FALSE(exact.msgs[0].body_truncated);
}

TEST(Http1Parser, ContentLengthAndChunkedTogetherMeansChunked) {
  Parsed r = parse_all(Kind::Response,
              head("HTTP/1.1 200 OK", {"Content-Length: 100", "Transfer-Encoding: chunked"}) + "2\r\nhi\r\n0\r\n\r\n");
  ASSERT_EQ(r.msgs.size(), 1u);
  EXPECT_EQ(r.msgs[0].body, "hi");
  EXPECT_TRUE(r.msgs[0].complete);
}

TEST(Http1Parser, HeaderBytesAreWhatWasOnTheWire) {
  // Bare LF line ends and padding around values count as they were sent.
  std::string data = "HTTP/1.1 200 OK\nX-A:   spaced value \t\nContent-Length: 2\n\nhi";
  Parsed r = parse_all(Kind::Response, data);
  ASSERT_EQ(r.msgs.size(), 1u);
  EXPECT_EQ(r.msgs[0].header_bytes, data.size() - 2);
  EXPECT_EQ(*r.msgs[0].header("x-a"), "spaced value");
  EXPECT_EQ(r.msgs[0].body, "hi");
}

// ---- damage ----------------------------------------------------------------------------

TEST(Http1Parser, TruncatedStreamEmittedOnFinish) {
  std::string data = fixture("truncated_response.http");  // cut 23 bytes into the 4th chunk
  Http1Parser p(Kind::Response, 1 << 20);
  std::vector<HttpMessage> out;
  p.feed(data, 5, out);
  EXPECT_TRUE(out.empty());
  p.finish(9, out);
  ASSERT_EQ(out.size(), 1u);
  const auto& m = out[0];
  EXPECT_FALSE(m.complete);
  EXPECT_EQ(m.error, "connection closed");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.header_bytes, 469u);
  EXPECT_EQ(m.body_wire_bytes, 508u);
  EXPECT_EQ(m.framing_bytes, 23u);
  EXPECT_EQ(m.last_ts_ns, 5u);
  auto events = parse_sse(m.body);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].event, "ping");
  EXPECT_EQ(p.parse_errors(), 0u);
}

TEST(Http1Parser, TruncatedInHeadersOrStartLine) {
  Parsed r = parse_all(Kind::Response, "HTTP/1.1 200 OK\r\nContent-Ty");
  ASSERT_EQ(r.msgs.size(), 1u);
  EXPECT_EQ(r.msgs[0].status, 200);
  EXPECT_EQ(r.msgs[0].header_bytes, 27u);  // the part of the head that arrived
  EXPECT_EQ(r.msgs[0].error, "connection closed");

  Parsed s = parse_all(Kind::Request, "POST /v1/mess");
  ASSERT_EQ(s.msgs.size(), 1u);
  EXPECT_EQ(s.msgs[0].method, "POST");
  EXPECT_EQ(s.msgs[0].target, "/v1/mess");
  EXPECT_EQ(s.msgs[0].header_bytes, 13u);
  EXPECT_FALSE(s.msgs[0].complete);
  EXPECT_EQ(s.skipped, 0u);
}

TEST(Http1Parser, MalformedChunkSizeThenNextResponse) {
  std::string data = fixture("malformed_chunk_response.http");
  Parsed r = parse_all(Kind::Response, data);
  ASSERT_EQ(r.msgs.size(), 2u);
  const auto& bad = r.msgs[0];
  EXPECT_FALSE(bad.complete);
  EXPECT_EQ(bad.error, "parse error: invalid character in chunk size header");
  EXPECT_EQ(bad.header_bytes, 47u);
  EXPECT_EQ(bad.body, "hello");
  EXPECT_EQ(bad.body_wire_bytes, 5u);
  EXPECT_EQ(bad.framing_bytes, 5u);  // "5\r\n" and the CRLF after the data
  EXPECT_EQ(r.msgs[1].status, 204);
  EXPECT_TRUE(r.msgs[1].complete);
  EXPECT_EQ(r.errors, 1u);
  EXPECT_EQ(r.skipped, 16u);  // "zz\r\nworld\r\n0\r\n\r\n"
}

TEST(Http1Parser, GarbageThenValidMessage) {
  std::string garbage = "\x16\x03\x01\x02\x00 not http\r\n"s;
  std::string req = head("GET / HTTP/1.1", {"Host: x"});
  Parsed r = parse_all(Kind::Request, garbage + req);
  ASSERT_EQ(r.msgs.size(), 1u);
  EXPECT_EQ(r.msgs[0].method, "GET");
  EXPECT_EQ(r.msgs[0].header_bytes, req.size());
  EXPECT_EQ(r.msgs[0].first_ts_ns, kTs0);
  EXPECT_EQ(r.errors, 1u);
  EXPECT_EQ(r.skipped, garbage.size());

  // Starts like GET but is no method.
  Parsed s = parse_all(Kind::Request, "GARBAGE / HTTP/1.1\r\n" + req);
  ASSERT_EQ(s.msgs.size(), 1u);
  EXPECT_EQ(s.msgs[0].target, "/");
  EXPECT_EQ(s.skipped, 20u);
  EXPECT_EQ(s.errors, 1u);
}

TEST(Http1Parser, BlankLinesBetweenMessagesAreTolerated) {
  Parsed r = parse_all(Kind::Request, "\r\n" + head("GET /a HTTP/1.1", {}) + "\r\n" + head("GET /b HTTP/1.1", {}));
  ASSERT_EQ(r.msgs.size(), 2u);
  EXPECT_EQ(r.msgs[1].target, "/b");
  EXPECT_EQ(r.msgs[1].header_bytes, 19u);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(r.skipped, 0u);
}

TEST(Http1Parser, BadHeaderEmitsIncompleteAndResyncs) {
  std::string data = "GET / HTTP/1.1\r\nX-Bad\x01: 1\r\n\r\n" + head("GET /next HTTP/1.1", {"Host: x"});
  Parsed r = parse_all(Kind::Request, data);
  ASSERT_EQ(r.msgs.size(), 2u);
  EXPECT_FALSE(r.msgs[0].complete);
  EXPECT_EQ(r.msgs[0].error, "parse error: invalid character in header");
  EXPECT_EQ(r.msgs[0].method, "GET");
  EXPECT_EQ(r.msgs[0].header_bytes, 21u);  // up to the bad byte
  EXPECT_EQ(r.msgs[1].target, "/next");
  EXPECT_TRUE(r.msgs[1].complete);
  EXPECT_EQ(r.errors, 1u);
  EXPECT_EQ(r.skipped, 8u);  // "\x01: 1\r\n\r\n"
}

// A gap inside a Content-Length body leaves the framing intact: the bytes are
// skipped (counted in the body, not kept), the message ends where its length says
// and the next ones are parsed as if nothing happened.
TEST(Http1Parser, GapInsideAContentLengthBodyKeepsTheFraming) {
  std::string data = fixture("keepalive_requests.http");
  Http1Parser p(Kind::Request, 1 << 20);
  std::vector<HttpMessage> out;
  p.feed(std::string_view(data).substr(0, 300), 1, out);
  EXPECT_TRUE(p.gap(20, out));
  EXPECT_TRUE(out.empty());
  p.feed(std::string_view(data).substr(320), 2, out);  // the last 28 bytes of the body, then 2 messages
  p.finish(3, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FALSE(out[0].complete);
  EXPECT_EQ(out[0].error, "capture gap of 20 bytes in the body");
  EXPECT_EQ(out[0].header_bytes, 239u);
  EXPECT_EQ(out[0].body_wire_bytes, 109u);  // Content-Length, all of it
  EXPECT_EQ(out[0].body_lost, 20u);
  EXPECT_EQ(out[0].body, data.substr(239, 61));  // nothing kept after the hole
  EXPECT_TRUE(out[0].body_truncated);
  EXPECT_EQ(out[0].framing_bytes, 0u);
  EXPECT_EQ(out[0].last_ts_ns, 2u);
  EXPECT_EQ(out[1].target, "/v1/models?limit=20");
  EXPECT_EQ(out[1].first_ts_ns, 2u);
  EXPECT_TRUE(out[1].complete);
  EXPECT_TRUE(out[2].complete);
  EXPECT_EQ(p.bytes_skipped(), 0u);
  EXPECT_EQ(p.parse_errors(), 0u);
  EXPECT_EQ(p.resumes(), 1u);
}

// The lost tail of a body is reported with the next call: the gap ends the body
// exactly and the next request follows at once.
TEST(Http1Parser, GapEndingABodyExactly) {
  std::string data = fixture("keepalive_requests.http");
  Http1Parser p(Kind::Request, 1 << 20);
  std::vector<HttpMessage> out;
  p.feed(std::string_view(data).substr(0, 300), 1, out);
  EXPECT_TRUE(p.gap(48, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].body_wire_bytes, 109u);
  EXPECT_EQ(out[0].error, "capture gap of 48 bytes in the body");
  p.feed(std::string_view(data).substr(348), 2, out);
  p.finish(3, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[1].complete);
  EXPECT_TRUE(out[2].complete);
  EXPECT_EQ(p.bytes_skipped(), 0u);
}

// A gap running past the end of a Content-Length body: the body still ends with
// its hole, then whole messages may have been lost, so the parser resyncs.
TEST(Http1Parser, GapRunningPastTheBodyEndsItThenResyncs) {
  std::string data = fixture("keepalive_requests.http");
  std::string third = data.substr(data.find("POST /v1/messages/count_tokens"));
  Http1Parser p(Kind::Request, 1 << 20);
  std::vector<HttpMessage> out;
  p.feed(std::string_view(data).substr(0, 300), 1, out);
  EXPECT_FALSE(p.gap(48 + 50, out));  // the tail, then 50 bytes of the GET
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].body_wire_bytes, 109u);
  EXPECT_EQ(out[0].body_lost, 48u);
  std::string_view rest = std::string_view(data).substr(398);
  p.feed(rest, 2, out);
  p.finish(3, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].target, "/v1/messages/count_tokens");
  EXPECT_TRUE(out[1].complete);
  EXPECT_EQ(p.bytes_skipped(), rest.size() - third.size());
  EXPECT_EQ(p.parse_errors(), 0u);
  EXPECT_EQ(p.resumes(), 1u);
}

// Inside a chunk's data the gap is skipped; past it the next size line is lost
// with it and the message ends incomplete.
TEST(Http1Parser, GapsInAChunkedBody) {
  std::string h = head("HTTP/1.1 200 OK", {"Transfer-Encoding: chunked"});
  std::string body = "a\r\n0123456789\r\n5\r\nabcde\r\n0\r\n\r\n";
  std::string next = head("HTTP/1.1 204 No Content", {});
  Http1Parser p(Kind::Response, 1 << 20);
  std::vector<HttpMessage> out;
  p.feed(h + "a\r\n012", 1, out);
  EXPECT_TRUE(p.gap(4, out));  // "3456"
  p.feed("789\r\n5\r\nabcde\r\n0\r\n\r\n" + next, 2, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].complete);
  EXPECT_EQ(out[0].error, "capture gap of 4 bytes in the body");
  EXPECT_EQ(out[0].body_wire_bytes, 15u);
  EXPECT_EQ(out[0].body, "012");
  EXPECT_EQ(out[0].framing_bytes, body.size() - 15);
  EXPECT_EQ(out[1].status, 204);
  EXPECT_TRUE(out[1].complete);
  // A gap from inside the first chunk's data into the next size line.
  out.clear();
  p.feed(h + "a\r\n012", 3, out);
  EXPECT_FALSE(p.gap(10, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].error, "capture gap of 10 bytes");
  p.feed("cde\r\n0\r\n\r\n" + next, 4, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].status, 204);
  EXPECT_EQ(p.bytes_skipped(), 10u);
  EXPECT_EQ(p.parse_errors(), 0u);
  EXPECT_EQ(p.resumes(), 2u);
}

// A body that runs to the close takes any gap.
TEST(Http1Parser, GapInACloseDelimitedBody) {
  Http1Parser p(Kind::Response, 1 << 20);
  std::vector<HttpMessage> out;
  p.feed(head("HTTP/1.1 200 OK", {"Connection: close"}) + "hello", 1, out);
  EXPECT_TRUE(p.gap(1000000, out));
  p.feed("world", 2, out);
  p.finish(3, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].body_wire_bytes, 1000010u);
  EXPECT_EQ(out[0].body, "hello");
  EXPECT_FALSE(out[0].complete);
}

// A gap in the head (or a chunk-size line) loses the framing: the message in
// progress is emitted incomplete and the parser resyncs at the next message start,
// ignoring request-like text in what is left of a body.
TEST(Http1Parser, ResyncIgnoresRequestLikeTextInBody) {
  std::string tail = R"(run `curl -X POST /v1/messages -d @req.json` and GET /health"}]})";
  std::string next = head("GET /v1/models HTTP/1.1", {"Host: api.anthropic.com"});
  Http1Parser p(Kind::Request, 1 << 20);
  std::vector<HttpMessage> out;
  p.feed(head("POST /v1/messages HTTP/1.1", {"Transfer-Encoding: chunked"}) + "1000\r\n{\"messages\":", 1, out);
  EXPECT_FALSE(p.gap(5000, out));
  p.feed(tail + next, 2, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].error, "capture gap of 5000 bytes");
  EXPECT_EQ(out[1].method, "GET");
  EXPECT_EQ(out[1].target, "/v1/models");
  EXPECT_TRUE(out[1].complete);
  EXPECT_EQ(p.bytes_skipped(), tail.size());
  EXPECT_EQ(p.parse_errors(), 0u);
  EXPECT_EQ(p.resumes(), 1u);
}

TEST(Http1Parser, GapBetweenMessagesAndInStartLine) {
  Http1Parser p(Kind::Response, 1 << 20);
  std::vector<HttpMessage> out;
  p.feed("HTTP/1.1 20", 1, out);
  p.gap(7, out);  // the held start line becomes an incomplete message
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header_bytes, 11u);
  EXPECT_EQ(out[0].error, "capture gap of 7 bytes");
  p.gap(3, out);  // nothing in progress
  p.feed(head("HTTP/1.1 200 OK", {"Content-Length: 0"}), 2, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[1].complete);
  EXPECT_EQ(p.bytes_skipped(), 0u);
  EXPECT_EQ(p.parse_errors(), 0u);
}

TEST(Http1Parser, SwitchingProtocolsEndsHttp) {
  std::string resp = head("HTTP/1.1 101 Switching Protocols", {"Upgrade: websocket", "Connection: Upgrade"});
  std::string frames = "\x81\x05hello\x81\x02hi";
  Parsed r = parse_all(Kind::Response, resp + frames + "HTTP/1.1 200 OK\r\n\r\n", {}, 1 << 20, {"GET"});
  ASSERT_EQ(r.msgs.size(), 1u);  // the 101 answers the request; everything after is websocket
  EXPECT_EQ(r.msgs[0].status, 101);
  EXPECT_TRUE(r.msgs[0].complete);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(r.skipped, frames.size() + 19);  // and the status line that follows

  std::string req = head("GET /v1/realtime HTTP/1.1", {"Upgrade: websocket", "Connection: Upgrade"});
  Parsed q = parse_all(Kind::Request, req + "\x81\x85" + "abcdefghi");
  ASSERT_EQ(q.msgs.size(), 1u);
  EXPECT_TRUE(q.msgs[0].complete);
  EXPECT_EQ(q.errors, 0u);  // frames after an upgrade request are expected, not errors
  EXPECT_EQ(q.skipped, 11u);
}

TEST(Http1Parser, LargeBodyIsLinear) {
  const size_t n = 16 << 20;
  std::string body(n, 'x');
  std::string data = head("POST /v1/messages HTTP/1.1", {"Content-Length: " + std::to_string(n)}) + body;
  auto t0 = std::chrono::steady_clock::now();
  Http1Parser p(Kind::Request, n);
  std::vector<HttpMessage> out;
  for (size_t off = 0; off < data.size(); off += 16384)
    p.feed(std::string_view(data).substr(off, 16384), off, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].body.size(), n);
  // Generous: re-copying the body per piece would take minutes.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

// ---- any split gives the same messages -------------------------------------------------

struct SplitCase {
  const char* name;
  Kind kind;
  std::string data;
  std::vector<std::string> methods;
};

std::vector<SplitCase> split_cases() {
  std::string interim = "HTTP/1.1 100 Continue\r\n\r\n" + head("HTTP/1.1 200 OK", {"Content-Length: 2"}) + "ok" +
                        head("HTTP/1.1 200 OK", {"Content-Length: 9"}) + "close me!";
  return {
      {"anthropic", Kind::Response, fixture("anthropic_sse_response.http"), {}},
      {"openai", Kind::Response, fixture("openai_sse_response.http"), {}},
      {"requests", Kind::Request, fixture("keepalive_requests.http"), {}},
      {"responses", Kind::Response, fixture("keepalive_responses.http"), {}},
      {"malformed", Kind::Response, fixture("malformed_chunk_response.http"), {}},
      {"truncated", Kind::Response, fixture("truncated_response.http"), {}},
      {"interim_head", Kind::Response, interim + head("HTTP/1.1 200 OK", {"Content-Length: 99"}), {"POST", "GET", "HEAD"}},
      {"garbage", Kind::Request, "xx GET /\r\nPOST /v1 HTTP/1.0\r\n\r\nGE" + head("GET / HTTP/1.1", {"A: b"}), {}},
      {"close_delimited", Kind::Response, "HTTP/1.0 200 OK\r\n\r\nuntil the end", {}},
  };
}

void expect_same(const Parsed& got, const Parsed& want, const std::vector<size_t>& cuts, const Parsed& bytewise,
                 const std::string& what) {
  ASSERT_EQ(got.msgs.size(), want.msgs.size()) << what;
  for (size_t i = 0; i < want.msgs.size(); ++i) {
    EXPECT_EQ(dump(got.msgs[i]), dump(want.msgs[i])) << what << " message " << i;
    // Byte by byte, a message's timestamps are the offsets of its first and last byte.
    size_t first = bytewise.msgs[i].first_ts_ns - kTs0, last = bytewise.msgs[i].last_ts_ns - kTs0;
    EXPECT_EQ(got.msgs[i].first_ts_ns, ts_of(first, cuts)) << what << " message " << i;
    EXPECT_EQ(got.msgs[i].last_ts_ns, ts_of(last, cuts)) << what << " message " << i;
  }
  EXPECT_EQ(got.skipped, want.skipped) << what;
  EXPECT_EQ(got.errors, want.errors) << what;
}

TEST(Http1Splits, ByteByByteOffsetsAreExact) {
  std::string data = fixture("keepalive_requests.http");
  Parsed r = parse_all(Kind::Request, data, every_byte(data.size()));
  ASSERT_EQ(r.msgs.size(), 3u);
  std::vector<std::pair<uint64_t, uint64_t>> want = {{0, 347}, {348, 539}, {540, 901}};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.msgs[i].first_ts_ns, kTs0 + want[i].first);
    EXPECT_EQ(r.msgs[i].last_ts_ns, kTs0 + want[i].second);
  }
}

TEST(Http1Splits, EverySplitPositionGivesTheSameResult) {
  for (const auto& c : split_cases()) {
    Parsed whole = parse_all(c.kind, c.data, {}, 1 << 20, c.methods);
    Parsed bytewise = parse_all(c.kind, c.data, every_byte(c.data.size()), 1 << 20, c.methods);
    expect_same(bytewise, whole, every_byte(c.data.size()), bytewise, std::string(c.name) + " byte by byte");
    for (size_t k = 1; k < c.data.size(); ++k)
      expect_same(parse_all(c.kind, c.data, {k}, 1 << 20, c.methods), whole, {k}, bytewise,
                  std::string(c.name) + " split at " + std::to_string(k));
  }
}

TEST(Http1Splits, RandomSplitsGiveTheSameResult) {
  std::mt19937 rng(20250603);
  for (const auto& c : split_cases()) {
    Parsed whole = parse_all(c.kind, c.data, {}, 64, c.methods);  // a small cap too
    Parsed bytewise = parse_all(c.kind, c.data, every_byte(c.data.size()), 64, c.methods);
    for (int iter = 0; iter < 100; ++iter) {
      std::vector<size_t> cuts;
      int n = std::uniform_int_distribution<int>(1, 12)(rng);
      for (int i = 0; i < n; ++i) cuts.push_back(std::uniform_int_distribution<size_t>(1, c.data.size() - 1)(rng));
      std::sort(cuts.begin(), cuts.end());
      cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
      expect_same(parse_all(c.kind, c.data, cuts, 64, c.methods), whole, cuts, bytewise,
                  std::string(c.name) + " iteration " + std::to_string(iter));
    }
  }
}

// ---- role detection --------------------------------------------------------------------

TEST(Http1LooksLike, RequestLines) {
  EXPECT_TRUE(looks_like_http1_start("POST /v1/messages HTTP/1.1\r\n", Kind::Request));
  EXPECT_TRUE(looks_like_http1_start("GET /", Kind::Request));
  EXPECT_TRUE(looks_like_http1_start("OPTIONS * HTTP/1.1", Kind::Request));
  EXPECT_TRUE(looks_like_http1_start("CONNECT api.openai.com:443 HTTP/1.1", Kind::Request));
  EXPECT_TRUE(looks_like_http1_start("M-SEARCH * HTTP/1.1", Kind::Request));
  EXPECT_FALSE(looks_like_http1_start("POST /v1/messages HTTP/1.1\r\n", Kind::Response));
  EXPECT_FALSE(looks_like_http1_start("GETX / HTTP/1.1", Kind::Request));
  EXPECT_FALSE(looks_like_http1_start("get / HTTP/1.1", Kind::Request));
  EXPECT_FALSE(looks_like_http1_start("GET  / HTTP/1.1", Kind::Request));
  EXPECT_FALSE(looks_like_http1_start("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Kind::Request));
  EXPECT_FALSE(looks_like_http1_start("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"sv, Kind::Request));
  EXPECT_FALSE(looks_like_http1_start("", Kind::Request));
}

TEST(Http1LooksLike, StatusLines) {
  EXPECT_TRUE(looks_like_http1_start("HTTP/1.1 200 OK\r\n", Kind::Response));
  EXPECT_TRUE(looks_like_http1_start("HTTP/1.0 404 Not Found\r\n", Kind::Response));
  EXPECT_FALSE(looks_like_http1_start("HTTP/2 200\r\n", Kind::Response));
  EXPECT_FALSE(looks_like_http1_start("HTTP/1.1 200 OK\r\n", Kind::Request));
  EXPECT_FALSE(looks_like_http1_start("", Kind::Response));
}

TEST(Http1LooksLike, ShortDataThatCouldStillBeAStartCounts) {
  for (const char* s : {"P", "POS", "POST", "POST ", "G", "DELE"}) EXPECT_TRUE(looks_like_http1_start(s, Kind::Request)) << s;
  for (const char* s : {"H", "HTTP/", "HTTP/1."}) EXPECT_TRUE(looks_like_http1_start(s, Kind::Response)) << s;
  EXPECT_FALSE(looks_like_http1_start("POX", Kind::Request));
  EXPECT_FALSE(looks_like_http1_start("HTTP/2", Kind::Response));
}
