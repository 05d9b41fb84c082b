#include "protocol/sse.h"

#include <gtest/gtest.h>

using tt::protocol::parse_sse;
using tt::protocol::SseEvent;
using tt::protocol::SseParser;
using namespace std::string_literals;

namespace {

std::string dump(const std::vector<SseEvent>& events) {
  std::string s;
  for (const auto& e : events) s += "[" + e.event + "|" + e.data + "|" + e.id + "]";
  return s;
}

std::vector<SseEvent> byte_by_byte(std::string_view body, bool dispatch_partial = false) {
  SseParser p;
  std::vector<SseEvent> out;
  for (char c : body) p.feed(std::string_view(&c, 1), out);
  p.finish(out, dispatch_partial);
  return out;
}

}  // namespace

TEST(SseParser, EventsWithNamesDataAndIds) {
  auto ev = parse_sse(
      "event: message_start\ndata: {\"a\":1}\n\n"
      "data: plain\n\n"
      "id: 7\nevent: delta\ndata: x\n\n");
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].event, "message_start");
  EXPECT_EQ(ev[0].data, "{\"a\":1}");
  EXPECT_EQ(ev[0].id, "");
  EXPECT_EQ(ev[1].event, "");  // the default "message"
  EXPECT_EQ(ev[1].data, "plain");
  EXPECT_EQ(ev[2].event, "delta");
  EXPECT_EQ(ev[2].id, "7");
}

TEST(SseParser, LineEndingsCrLfCrAndLfAreEquivalent) {
  std::string lf = "event: a\ndata: 1\ndata: 2\n\n: note\ndata: 3\n\n";
  std::string crlf = "event: a\r\ndata: 1\r\ndata: 2\r\n\r\n: note\r\ndata: 3\r\n\r\n";
  std::string cr = "event: a\rdata: 1\rdata: 2\r\r: note\rdata: 3\r\r";
  std::string mixed = "event: a\r\ndata: 1\rdata: 2\n\r\n: note\rdata: 3\n\r";
  const std::string want = "[a|1\n2|][|3|]";
  for (const auto& body : {lf, crlf, cr, mixed}) {
    EXPECT_EQ(dump(parse_sse(body)), want) << body;
    EXPECT_EQ(dump(byte_by_byte(body)), want) << body;  // CRLF split across feeds is one line end
  }
}

TEST(SseParser, CrAtTheEndOfAFeedThenLf) {
  SseParser p;
  std::vector<SseEvent> out;
  p.feed("data: a\r", out);
  p.feed("\n\r", out);
  ASSERT_EQ(out.size(), 1u);
  p.feed("\ndata: b\r\n\r\n", out);  // the LF right after a CR-terminated blank line is part of it
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].data, "b");
}

TEST(SseParser, MultiLineDataAndFieldSpacing) {
  auto ev = parse_sse("data:first\ndata:  second\ndata\ndata: \ndata:last\n\n");
  ASSERT_EQ(ev.size(), 1u);
  // One space after the colon is dropped, a second is kept; "data" alone is an empty line.
  EXPECT_EQ(ev[0].data, "first\n second\n\n\nlast");
}

TEST(SseParser, CommentsAndUnknownFieldsAreIgnored) {
  auto ev = parse_sse(": keep-alive\n\n:ping\nretry: 3000\nfoo: bar\ndata: x\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "x");
  EXPECT_EQ(ev[0].event, "");
}

TEST(SseParser, EventWithoutDataIsNotDispatched) {
  auto ev = parse_sse("event: ping\n\ndata: after\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].event, "");  // the event name does not leak into the next event
  EXPECT_EQ(ev[0].data, "after");

  auto empty = parse_sse("data:\n\n");
  ASSERT_EQ(empty.size(), 1u);  // an empty data line still makes an event
  EXPECT_EQ(empty[0].data, "");
}

TEST(SseParser, LastEventIdCarriesOver) {
  auto ev = parse_sse("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: x\0y\ndata: d\n\n"s);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].id, "1");
  EXPECT_EQ(ev[1].id, "1");
  EXPECT_EQ(ev[2].id, "");  // "id" with no value resets it
  EXPECT_EQ(ev[3].id, "");  // an id containing NUL is ignored
}

TEST(SseParser, EventWithoutTrailingBlankLine) {
  std::string body = "event: a\ndata: 1\n\nevent: b\ndata: 2\n";
  EXPECT_EQ(dump(parse_sse(body)), "[a|1|]");  // the cut-off event is dropped by default
  EXPECT_EQ(dump(byte_by_byte(body)), "[a|1|]");
  EXPECT_EQ(dump(byte_by_byte(body, true)), "[a|1|][b|2|]");

  // Cut inside the last line: with dispatch_partial the line counts.
  SseParser p;
  std::vector<SseEvent> out;
  p.feed("data: 1\n\ndata: {\"partial\":", out);
  p.finish(out, true);
  EXPECT_EQ(dump(out), "[|1|][|{\"partial\":|]");

  // finish() resets: the parser starts over.
  p.feed("data: again\n\n", out);
  EXPECT_EQ(out.back().data, "again");
}

TEST(SseParser, ByteOrderMarkAtStartIsSkipped) {
  auto ev = parse_sse("\xEF\xBB\xBF" "data: x\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "x");
  EXPECT_EQ(dump(byte_by_byte("\xEF\xBB\xBF" "data: x\n\n")), "[|x|]");
}

TEST(SseParser, ManyFeedsMatchOneFeed) {
  std::string body;
  for (int i = 0; i < 50; ++i)
    body += "event: content_block_delta\r\ndata: {\"i\":" + std::to_string(i) + "}\r\n\r\n";
  auto whole = parse_sse(body);
  ASSERT_EQ(whole.size(), 50u);
  EXPECT_EQ(whole[49].data, "{\"i\":49}");
  EXPECT_EQ(dump(byte_by_byte(body)), dump(whole));
  for (size_t k = 1; k < 200; ++k) {
    SseParser p;
    std::vector<SseEvent> out;
    p.feed(std::string_view(body).substr(0, k), out);
    p.feed(std::string_view(body).substr(k), out);
    p.finish(out);
    EXPECT_EQ(dump(out), dump(whole)) << k;
  }
}
