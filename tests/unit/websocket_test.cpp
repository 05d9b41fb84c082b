// WebSocket framing and permessage-deflate (protocol/websocket.h), the OpenAI
// Responses mapping (protocol/ws_responses.h) and the HTTP/1.1 upgrade hand-over
// (Http1Parser holding, Http1Session), with frames built here.
#include "protocol/websocket.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <sstream>

#include "protocol/exchange.h"
#include "protocol/http1_parser.h"
#include "protocol/ws_responses.h"
#include "provider/provider.h"
#include "tlstap.h"

namespace {

using namespace tt::protocol;
using Options = WsFrameParser::Options;

constexpr uint8_t kMask[4] = {0x37, 0xfa, 0x21, 0x3d};

// One frame as RFC 6455 lays it out: minimal length encoding, masked if mask is set.
std::string frame(uint8_t opcode, std::string_view payload, bool fin = true, bool rsv1 = false,
                  const uint8_t* mask = nullptr) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode));
  uint8_t m = mask ? 0x80 : 0;
  uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(m | n));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(m | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
  } else {
    f.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(n >> (8 * i)));
  }
  if (mask) f.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<char>(payload[i] ^ (mask ? mask[i & 3] : 0)));
  return f;
}

std::string client_frame(uint8_t opcode, std::string_view payload, bool fin = true, bool rsv1 = false) {
  return frame(opcode, payload, fin, rsv1, kMask);
}

// A permessage-deflate sender: raw DEFLATE, flushed per message, 00 00 ff ff removed.
struct Deflater {
  z_stream z{};
  bool takeover;
  explicit Deflater(int window_bits = 15, bool context_takeover = true) : takeover(context_takeover) {
    deflateInit2(&z, 6, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY);
  }
  ~Deflater() { deflateEnd(&z); }
  // strip=false: a flush in the middle of a message, which keeps its empty stored block.
  std::string compress(std::string_view text, bool strip = true) {
    if (!takeover) deflateReset(&z);
    std::string out(text.size() + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    size_t have = 0;
    do {
      if (out.size() - have < 64) out.resize(out.size() * 2);
      z.next_out = reinterpret_cast<Bytef*>(out.data() + have);
      z.avail_out = static_cast<uInt>(out.size() - have);
      deflate(&z, Z_SYNC_FLUSH);
      have = out.size() - z.avail_out;
    } while (z.avail_out == 0);
    out.resize(have);
    EXPECT_EQ(out.substr(out.size() - 4), std::string("\0\0\xff\xff", 4));
    if (strip) out.resize(out.size() - 4);
    return out;
  }
};

struct Parsed {
  std::vector<WsMessage> msgs;
  uint64_t skipped = 0, errors = 0, dropped = 0, limit_hits = 0;
  bool lost = false;
};

// Feeds data cut at the given (sorted) offsets; piece k gets timestamp 1000 + its offset.
Parsed parse(std::string_view data, Options o = {}, const std::vector<size_t>& cuts = {}, bool finish = true) {
  WsFrameParser p(o);
  Parsed r;
  size_t prev = 0;
  for (size_t c : cuts) {
    p.feed(data.substr(prev, c - prev), 1000 + prev, r.msgs);
    prev = c;
  }
  p.feed(data.substr(prev), 1000 + prev, r.msgs);
  if (finish) p.finish(5000, r.msgs);
  r.skipped = p.bytes_skipped();
  r.errors = p.errors();
  r.dropped = p.bytes_dropped();
  r.limit_hits = p.decode_limit_hits();
  r.lost = p.lost();
  return r;
}

std::string dump(const Parsed& r) {
  std::ostringstream o;
  for (const auto& m : r.msgs)
    o << int(m.opcode) << " size=" << m.size << " wire=" << m.wire_bytes << " hdr=" << m.frame_header_bytes
      << " frames=" << m.frames << " z=" << m.compressed << " trunc=" << m.truncated << " complete=" << m.complete
      << " error=" << m.error << " [" << m.payload << "]\n";
  o << "skipped=" << r.skipped << " errors=" << r.errors << " dropped=" << r.dropped << " lost=" << r.lost;
  return o.str();
}

Options deflate(bool no_context_takeover = false, int window_bits = 15, size_t max = 64u << 20) {
  return Options{true, no_context_takeover, window_bits, max};
}

std::string json_event(int i) {
  return R"({"type":"response.output_text.delta","sequence_number":)" + std::to_string(i) +
         R"(,"item_id":"msg_1","output_index":0,"content_index":0,"delta":" and here is a short answer"})";
}

}  // namespace

// ---- handshake ----------------------------------------------------------------------

TEST(WsExtensions, PermessageDeflateParameters) {
  WsDeflate d = parse_ws_extensions("permessage-deflate");
  EXPECT_TRUE(d.enabled);
  EXPECT_FALSE(d.server_no_context_takeover);
  EXPECT_EQ(d.client_max_window_bits, 15);

  d = parse_ws_extensions(
      "x-webkit-deflate-frame, Permessage-Deflate; server_no_context_takeover ; client_max_window_bits=\"10\"; "
      "server_max_window_bits=12; client_no_context_takeover, permessage-deflate; server_max_window_bits=9");
  EXPECT_TRUE(d.enabled);
  EXPECT_TRUE(d.server_no_context_takeover);
  EXPECT_TRUE(d.client_no_context_takeover);
  EXPECT_EQ(d.client_max_window_bits, 10);
  EXPECT_EQ(d.server_max_window_bits, 12);  // the first offer counts

  EXPECT_FALSE(parse_ws_extensions("").enabled);
  EXPECT_FALSE(parse_ws_extensions("x-custom; permessage-deflate").enabled);
  d = parse_ws_extensions("permessage-deflate; client_max_window_bits; server_max_window_bits=99");
  EXPECT_EQ(d.client_max_window_bits, 15);
  EXPECT_EQ(d.server_max_window_bits, 15);
}

// ---- framing --------------------------------------------------------------------------

TEST(WsFrames, UnmaskedAndMaskedTextFrames) {
  Parsed r = parse(frame(kWsText, "hello") + client_frame(kWsText, "masked hi") + frame(kWsBinary, ""));
  ASSERT_EQ(r.msgs.size(), 3u) << dump(r);
  EXPECT_EQ(r.msgs[0].payload, "hello");
  EXPECT_EQ(r.msgs[0].frame_header_bytes, 2u);
  EXPECT_TRUE(r.msgs[0].complete);
  EXPECT_EQ(r.msgs[1].payload, "masked hi");
  EXPECT_EQ(r.msgs[1].frame_header_bytes, 6u);
  EXPECT_EQ(r.msgs[1].opcode, kWsText);
  EXPECT_EQ(r.msgs[2].opcode, kWsBinary);
  EXPECT_EQ(r.msgs[2].size, 0u);
  EXPECT_TRUE(r.msgs[2].complete);
  EXPECT_EQ(r.skipped + r.errors, 0u);
  EXPECT_EQ(r.msgs[1].first_ts_ns, 1000u);
}

TEST(WsFrames, SevenSixteenAndSixtyFourBitLengths) {
  for (size_t n : {size_t(125), size_t(126), size_t(65535), size_t(65536), size_t(200000)}) {
    std::string payload(n, 'a');
    for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>('a' + i % 26);
    size_t hdr = n < 126 ? 2 : n < 65536 ? 4 : 10;
    for (bool masked : {false, true}) {
      Parsed r = parse(masked ? client_frame(kWsText, payload) : frame(kWsText, payload));
      ASSERT_EQ(r.msgs.size(), 1u) << n;
      EXPECT_EQ(r.msgs[0].payload, payload) << n;
      EXPECT_EQ(r.msgs[0].wire_bytes, n);
      EXPECT_EQ(r.msgs[0].frame_header_bytes, hdr + (masked ? 4 : 0)) << n;
    }
  }
}

TEST(WsFrames, FragmentedMessageWithInterleavedControlFrames) {
  std::string data = client_frame(kWsText, "{\"type\":", false) + client_frame(kWsPing, "p1") +
                     client_frame(kWsContinuation, "\"response.", false) + client_frame(kWsPong, "") +
                     client_frame(kWsContinuation, "create\"}", true) + client_frame(kWsClose, "\x03\xe8");
  Parsed r = parse(data);
  ASSERT_EQ(r.msgs.size(), 4u) << dump(r);
  EXPECT_EQ(r.msgs[0].opcode, kWsPing);
  EXPECT_EQ(r.msgs[0].payload, "p1");
  EXPECT_EQ(r.msgs[1].opcode, kWsPong);
  EXPECT_EQ(r.msgs[2].opcode, kWsText);
  EXPECT_EQ(r.msgs[2].payload, "{\"type\":\"response.create\"}");
  EXPECT_EQ(r.msgs[2].frames, 3u);
  EXPECT_EQ(r.msgs[2].frame_header_bytes, 18u);
  EXPECT_EQ(r.msgs[3].opcode, kWsClose);
  EXPECT_EQ(r.msgs[3].payload, "\x03\xe8");
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(ws_message_type(r.msgs[2].payload), "response.create");
}

// ---- permessage-deflate -----------------------------------------------------------------

TEST(WsDeflate, ContextTakeoverAcrossMessages) {
  Deflater z;
  std::string data;
  std::vector<std::string> texts;
  for (int i = 0; i < 4; ++i) {
    texts.push_back(json_event(i));
    data += frame(kWsText, z.compress(texts.back()), true, true);
  }
  Parsed r = parse(data, deflate());
  ASSERT_EQ(r.msgs.size(), 4u) << dump(r);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r.msgs[i].payload, texts[i]);
    EXPECT_TRUE(r.msgs[i].compressed);
    EXPECT_TRUE(r.msgs[i].complete);
    EXPECT_EQ(r.msgs[i].size, texts[i].size());
  }
  // Later messages refer back to earlier ones: they are much smaller on the wire.
  EXPECT_LT(r.msgs[3].wire_bytes * 2, r.msgs[0].wire_bytes);

  // A receiver that resets its inflater per message cannot read them.
  Parsed bad = parse(data, deflate(/*no_context_takeover=*/true));
  ASSERT_EQ(bad.msgs.size(), 4u);
  EXPECT_TRUE(bad.msgs[0].complete);
  EXPECT_FALSE(bad.msgs[1].complete);
  EXPECT_NE(bad.msgs[1].error.find("inflate"), std::string::npos) << bad.msgs[1].error;
  EXPECT_GE(bad.errors, 1u);
}

TEST(WsDeflate, NoContextTakeover) {
  Deflater z(15, /*context_takeover=*/false);
  std::string data;
  for (int i = 0; i < 3; ++i) data += frame(kWsText, z.compress(json_event(i)), true, true);
  Parsed r = parse(data, deflate(true));
  ASSERT_EQ(r.msgs.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r.msgs[i].payload, json_event(i)) << dump(r);
  EXPECT_EQ(r.errors, 0u);
}

TEST(WsDeflate, MessageCompressedIntoSeveralFramesAndUncompressedOnesBetween) {
  Deflater z;
  std::string big;
  for (int i = 0; i < 200; ++i) big += json_event(i);
  std::string c = z.compress(big);
  ASSERT_GT(c.size(), 30u);
  size_t a = c.size() / 3, b = 2 * c.size() / 3;
  std::string data = frame(kWsText, "plain, not compressed") +  // RSV1 clear: taken as is
                     client_frame(kWsText, c.substr(0, a), false, true) + client_frame(kWsPing, "") +
                     client_frame(kWsContinuation, c.substr(a, b - a), false) +
                     client_frame(kWsContinuation, c.substr(b), true);
  data += frame(kWsText, z.compress("second"), true, true);
  Parsed r = parse(data, deflate());
  ASSERT_EQ(r.msgs.size(), 4u) << dump(r);
  EXPECT_EQ(r.msgs[0].payload, "plain, not compressed");
  EXPECT_FALSE(r.msgs[0].compressed);
  EXPECT_EQ(r.msgs[2].payload, big);
  EXPECT_EQ(r.msgs[2].frames, 3u);
  EXPECT_EQ(r.msgs[2].wire_bytes, c.size());
  EXPECT_EQ(r.msgs[3].payload, "second");
}

TEST(WsDeflate, NegotiatedWindowBits) {
  // A 10-bit window: distances up to 1 KiB only; the receiver is told so.
  Deflater z(10);
  std::string text;
  for (int i = 0; i < 50; ++i) text += json_event(i % 7);
  std::string data = frame(kWsText, z.compress(text), true, true);
  data += frame(kWsText, z.compress(text), true, true);
  Parsed r = parse(data, deflate(false, 10));
  ASSERT_EQ(r.msgs.size(), 2u);
  EXPECT_EQ(r.msgs[0].payload, text);
  EXPECT_EQ(r.msgs[1].payload, text);
  // zlib never deflates with 8 bits (it uses 9); an 8-bit agreement still inflates.
  Deflater z9(9);
  Parsed r8 = parse(frame(kWsText, z9.compress(text), true, true), deflate(false, 8));
  ASSERT_EQ(r8.msgs.size(), 1u);
  EXPECT_EQ(r8.msgs[0].payload, text) << dump(r8);
}

TEST(WsDeflate, SizeCapCountsWhatIsDroppedAndKeepsTheContext) {
  Deflater z;
  std::string big(5000, 'x');
  for (size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
  std::string data = frame(kWsText, z.compress(big), true, true);  // (one compress per statement: in order)
  data += frame(kWsText, z.compress(big), true, true);
  data += frame(kWsText, std::string(300, 'p'));
  Parsed r = parse(data, deflate(false, 15, 1000));
  ASSERT_EQ(r.msgs.size(), 3u) << dump(r);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.msgs[i].payload.size(), 1000u - (i == 2 ? 700 : 0));
    EXPECT_TRUE(r.msgs[i].complete);
  }
  EXPECT_TRUE(r.msgs[0].truncated);
  EXPECT_EQ(r.msgs[0].size, 5000u);
  EXPECT_EQ(r.msgs[1].payload, big.substr(0, 1000));  // inflated whole, so the window was right
  EXPECT_FALSE(r.msgs[2].truncated);
  EXPECT_EQ(r.dropped, 8000u);
}

// A deflate bomb: messages of 40 MiB of zeros, ~40 KB compressed each. The
// direction's budget (64 MiB + 128 x the compressed bytes) lets the first one
// inflate; the second stops at the budget, and with context takeover the rest
// cannot be inflated at all. Counted, and quick.
TEST(WsDeflate, InflatingIsBoundedByTheDecompressionBudget) {
  Deflater z;
  std::string zeros(40u << 20, '\0');
  std::string data;
  for (int i = 0; i < 4; ++i) data += frame(kWsBinary, z.compress(zeros), true, true);
  ASSERT_LT(data.size(), 200000u);
  Parsed r = parse(data, deflate(false, 15, 1u << 20));
  ASSERT_EQ(r.msgs.size(), 4u) << dump(r);
  EXPECT_EQ(r.msgs[0].size, 40u << 20);
  EXPECT_TRUE(r.msgs[0].error.empty()) << r.msgs[0].error;
  EXPECT_NE(r.msgs[1].error.find("decompression budget"), std::string::npos) << r.msgs[1].error;
  EXPECT_LE(r.msgs[1].size, (64u << 20) - (40u << 20) + 128 * data.size() + 16384);
  EXPECT_NE(r.msgs[3].error, "");
  EXPECT_EQ(r.limit_hits, 1u);
}

// ---- any split, gaps, garbage ---------------------------------------------------------------

TEST(WsSplits, EverySplitPositionGivesTheSameMessages) {
  Deflater z;
  // One message compressed in two flushes, sent as two frames; then more messages.
  std::string data = client_frame(kWsText, z.compress(json_event(1), false), false, true) + client_frame(kWsPing, "x");
  data += client_frame(kWsContinuation, z.compress(json_event(2)), true);
  data += client_frame(kWsText, z.compress(std::string(300, 'q')), true, true);
  data += client_frame(kWsBinary, std::string(70000, 'b')) + client_frame(kWsText, "tail");
  Parsed whole = parse(data, deflate());
  ASSERT_EQ(whole.msgs.size(), 5u) << dump(whole);
  EXPECT_EQ(whole.msgs[1].payload, json_event(1) + json_event(2));
  std::string want = dump(whole);
  for (size_t cut = 1; cut < data.size(); cut += cut < 400 ? 1 : 997) {
    Parsed r = parse(data, deflate(), {cut});
    ASSERT_EQ(dump(r), want) << "cut at " << cut;
  }
  std::vector<size_t> bytes;
  for (size_t i = 1; i < 2000; ++i) bytes.push_back(i);
  EXPECT_EQ(dump(parse(data.substr(0, 2000), deflate(), bytes)), dump(parse(data.substr(0, 2000), deflate())));
}

TEST(WsGaps, GapInsideAPayloadKeepsTheFraming) {
  std::string a = frame(kWsText, std::string(100, 'a')), b = frame(kWsText, "next");
  WsFrameParser p({});
  std::vector<WsMessage> out;
  p.feed(std::string_view(a).substr(0, 40), 1, out);
  p.gap(30, out);
  p.feed(std::string_view(a).substr(70) , 2, out);
  p.feed(b, 3, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].complete);
  EXPECT_EQ(out[0].error, "capture gap of 30 bytes");
  EXPECT_EQ(out[0].wire_bytes, 100u);
  EXPECT_EQ(out[1].payload, "next");
  EXPECT_TRUE(out[1].complete);
  EXPECT_FALSE(p.lost());
  EXPECT_EQ(p.resumes(), 1u);
}

TEST(WsGaps, GapInCompressedPayloadLosesTheContextOnlyWithTakeover) {
  for (bool takeover : {true, false}) {
    Deflater z(15, takeover);
    std::string m1 = frame(kWsText, z.compress(std::string(400, 'k') + json_event(0)), true, true);
    std::string m2 = frame(kWsText, z.compress(json_event(1)), true, true);  // after m1: in order
    WsFrameParser p(deflate(!takeover));
    std::vector<WsMessage> out;
    p.feed(std::string_view(m1).substr(0, 6), 1, out);
    p.gap(3, out);
    p.feed(std::string_view(m1).substr(9), 2, out);
    p.feed(m2, 3, out);
    p.feed(frame(kWsText, "plain"), 4, out);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_FALSE(out[0].complete);
    EXPECT_EQ(out[1].complete, !takeover) << out[1].error;
    if (!takeover) {
      EXPECT_EQ(out[1].payload, json_event(1));
    }
    EXPECT_EQ(out[2].payload, "plain");  // uncompressed messages never depend on the window
  }
}

TEST(WsGaps, GapOutsideAPayloadLosesTheDirection) {
  std::string data = frame(kWsText, "one", false);
  WsFrameParser p({});
  std::vector<WsMessage> out;
  p.feed(data, 1, out);
  p.gap(10, out);
  ASSERT_EQ(out.size(), 1u);  // the fragment that had begun
  EXPECT_FALSE(out[0].complete);
  EXPECT_TRUE(p.lost());
  p.feed(frame(kWsText, "two"), 2, out);
  p.finish(3, out);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(p.bytes_skipped(), 5u);
  EXPECT_EQ(p.errors(), 0u);  // a gap is a capture loss, not a protocol error
  EXPECT_EQ(p.resumes(), 0u);
}

TEST(WsErrors, ProtocolViolationsAreCountedAndStopTheDirection) {
  struct Case {
    std::string bytes;
    const char* error;
  };
  std::string long_ping = frame(kWsPing, "");
  long_ping[1] = 126;
  std::string huge = frame(kWsText, "");
  huge[1] = 127;
  huge += std::string("\x80\0\0\0\0\0\0\0", 8);
  std::vector<Case> cases = {
      {"\x83\x00", "reserved opcode 3"},
      {"\xa1\x00", "reserved bits RSV2/RSV3 set"},
      {"\x09\x00", "fragmented control frame"},
      {long_ping, "control frame longer than 125 bytes"},
      {"\xc9\x00", "compressed control frame"},
      {"\x80\x00", "continuation frame without a message"},
      {frame(kWsText, "a", false) + frame(kWsText, "b"), "new message inside a fragmented one"},
      {frame(kWsText, "zz", true, true), "RSV1 set without permessage-deflate"},
      {huge, "64-bit length with the top bit set"},
  };
  for (const auto& c : cases) {
    Parsed r = parse(c.bytes + frame(kWsText, "after"));
    EXPECT_EQ(r.errors, 1u) << c.error;
    EXPECT_TRUE(r.lost) << c.error;
    for (const auto& m : r.msgs) EXPECT_NE(m.payload, "after");
    EXPECT_GT(r.skipped, 0u);
  }
  Parsed cont = parse(frame(kWsText, "a", false, false) + frame(kWsContinuation, "b", true, true), deflate());
  EXPECT_EQ(cont.errors, 1u);
  ASSERT_EQ(cont.msgs.size(), 1u);
  EXPECT_EQ(cont.msgs[0].error, "websocket: RSV1 set on a continuation frame");
}

TEST(WsErrors, GarbageNeverCrashes) {
  std::mt19937 rng(42);
  Deflater z;
  std::string good = frame(kWsText, z.compress(json_event(0)), true, true) + frame(kWsPing, "p");
  for (int round = 0; round < 3000; ++round) {
    std::string data = round % 2 ? good : std::string();
    size_t n = rng() % 300;
    for (size_t i = 0; i < n; ++i) data.push_back(static_cast<char>(rng()));
    if (round % 3 == 0 && !data.empty()) data[rng() % data.size()] ^= static_cast<char>(1 << (rng() % 8));
    std::vector<size_t> cuts;
    for (size_t i = 1; i < data.size(); i += 1 + rng() % 40) cuts.push_back(i);
    Parsed r = parse(data, deflate(round % 4 == 0, 9 + round % 7, 64), cuts);
    uint64_t framed = 0;
    for (const auto& m : r.msgs) {
      EXPECT_LE(m.payload.size(), m.opcode & 8 ? 125u : 64u);
      EXPECT_EQ(m.truncated, m.size > m.payload.size());
      framed += m.wire_bytes + m.frame_header_bytes;
    }
    EXPECT_LE(framed + r.skipped, data.size());  // no byte counted twice
  }
}

TEST(WsFrames, ConnectionEndingMidMessage) {
  std::string data = frame(kWsText, "complete") + frame(kWsText, "partial", false) + frame(kWsContinuation, "more");
  Parsed r = parse(data.substr(0, data.size() - 2));
  ASSERT_EQ(r.msgs.size(), 2u);
  EXPECT_TRUE(r.msgs[0].complete);
  EXPECT_FALSE(r.msgs[1].complete);
  EXPECT_EQ(r.msgs[1].error, "connection closed");
  EXPECT_EQ(r.msgs[1].payload, "partialmo");
}

// ---- OpenAI Responses over WebSocket --------------------------------------------------------

namespace {

const char* kCreate = R"({"type":"response.create","model":"gpt-5-codex","instructions":"be brief",)"
                      R"("input":[{"role":"user","content":"hi"}],"stream":true})";

std::string created_event() {
  return R"({"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response",)"
         R"("status":"in_progress","model":"gpt-5-codex-2026","usage":null}})";
}

std::string completed_event(int input, int cached, int output, int reasoning) {
  return R"({"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","object":"response",)"
         R"("status":"completed","model":"gpt-5-codex-2026","usage":{"input_tokens":)" +
         std::to_string(input) + R"(,"input_tokens_details":{"cached_tokens":)" + std::to_string(cached) +
         R"(},"output_tokens":)" + std::to_string(output) + R"(,"output_tokens_details":{"reasoning_tokens":)" +
         std::to_string(reasoning) + R"(},"total_tokens":)" + std::to_string(input + output) + "}}}";
}

HttpMessage upgrade_request(std::string target = "/v1/responses") {
  HttpMessage m;
  m.method = "GET";
  m.target = std::move(target);
  m.headers = {{"Host", "api.openai.com"},
               {"Upgrade", "websocket"},
               {"Connection", "Upgrade"},
               {"User-Agent", "codex_exec/0.99.0 (Debian 12; x86_64)"},
               {"originator", "codex_exec"},
               {"session_id", "0199aaaa-bbbb"},
               {"Authorization", "Bearer sk-secret"}};
  m.complete = true;
  return m;
}

HttpMessage switching_protocols() {
  HttpMessage m;
  m.is_request = false;
  m.status = 101;
  m.headers = {{"Upgrade", "websocket"}, {"Sec-WebSocket-Extensions", "permessage-deflate"},
               {"x-request-id", "req_ws_1"}};
  m.complete = true;
  return m;
}

WsMessage text(bool from_client, std::string payload, uint64_t ts) {
  WsMessage m;
  m.from_client = from_client;
  m.opcode = kWsText;
  m.size = payload.size();
  m.payload = std::move(payload);
  m.complete = true;
  m.first_ts_ns = m.last_ts_ns = ts;
  return m;
}

tt::provider::ApiCall decode(const Exchange& ex) {
  tt::provider::Exchange pex;
  pex.request = &ex.request;
  pex.response = ex.response ? &*ex.response : nullptr;
  pex.request_body = ex.request.body;
  pex.response_body = ex.response ? std::string_view(ex.response->body) : std::string_view();
  pex.response_complete = ex.response && ex.response->complete && !ex.response->body_truncated;
  return tt::provider::decode(pex);
}

}  // namespace

TEST(WsResponses, EachCreateIsARequestAndItsEventsTheResponse) {
  std::vector<Exchange> got;
  ResponsesWsMapper m(upgrade_request(), switching_protocols(), 1 << 20, [&](Exchange&& e) { got.push_back(e); });
  m.on_message(text(true, R"({"type":"response.processed","response_id":"resp_0"})", 1));  // an ack
  m.on_message(text(false, R"({"type":"codex.rate_limits"})", 2));  // not a response: ignored
  m.on_message(text(true, kCreate, 10));
  WsMessage ping;
  ping.opcode = kWsPing;
  m.on_message(std::move(ping));
  m.on_message(text(false, created_event(), 20));
  m.on_message(text(false, json_event(1), 21));
  m.on_message(text(false, completed_event(1200, 1000, 40, 12), 30));
  ASSERT_EQ(got.size(), 1u);
  const Exchange& ex = got[0];
  EXPECT_EQ(ex.request.method, "POST");
  EXPECT_EQ(ex.request.target, "/v1/responses");
  EXPECT_EQ(ex.request.body, kCreate);
  EXPECT_EQ(ex.request.body_wire_bytes, std::string(kCreate).size());
  EXPECT_EQ(ex.request.first_ts_ns, 10u);
  ASSERT_TRUE(ex.response);
  EXPECT_EQ(ex.response->status, 200);
  EXPECT_TRUE(ex.response->complete);
  EXPECT_EQ(ex.response->first_ts_ns, 20u);
  EXPECT_EQ(ex.response->last_ts_ns, 30u);
  EXPECT_EQ(ex.response->body_wire_bytes,
            created_event().size() + json_event(1).size() + completed_event(1200, 1000, 40, 12).size());
  EXPECT_EQ(ex.response->body.substr(0, 6), "data: ");

  auto call = decode(ex);
  EXPECT_TRUE(call.is_llm);
  EXPECT_EQ(call.api, "responses");
  EXPECT_EQ(call.provider, "openai");
  EXPECT_EQ(call.model, "gpt-5-codex-2026");
  EXPECT_EQ(call.usage_source, tt::provider::UsageSource::Exact);
  EXPECT_EQ(call.usage.input_tokens, 200u);
  EXPECT_EQ(call.usage.cache_read_tokens, 1000u);
  EXPECT_EQ(call.usage.output_tokens, 40u);
  EXPECT_EQ(call.usage.reasoning_tokens, 12u);
  EXPECT_EQ(call.request_id, "req_ws_1");
  EXPECT_EQ(call.harness, "codex");
  EXPECT_EQ(call.session_id, "0199aaaa-bbbb");
  m.on_end(40);
  EXPECT_EQ(got.size(), 1u);
}

TEST(WsResponses, ErrorEventsAndConnectionsClosedMidResponse) {
  std::vector<Exchange> got;
  ResponsesWsMapper m(upgrade_request("/backend-api/codex/responses?x=1"), switching_protocols(), 1 << 20,
                      [&](Exchange&& e) { got.push_back(e); });
  m.on_message(text(true, kCreate, 1));
  m.on_message(text(false, R"({"type":"error","status":429,"error":{"type":"usage_limit_reached","message":"slow down"}})", 2));
  m.on_message(text(true, kCreate, 3));
  m.on_message(text(false, created_event(), 4));
  m.on_message(text(false, json_event(1), 5));
  m.on_message(text(true, kCreate, 6));  // never answered
  m.on_end(7);
  ASSERT_EQ(got.size(), 3u);

  EXPECT_EQ(got[0].response->status, 429);
  auto rejected = decode(got[0]);
  EXPECT_FALSE(rejected.billable);  // a complete error response was not charged
  EXPECT_NE(rejected.error.find("usage_limit_reached"), std::string::npos) << rejected.error;

  EXPECT_FALSE(got[1].response->complete);
  EXPECT_EQ(got[1].response->error, "connection closed");
  auto cut = decode(got[1]);
  EXPECT_EQ(cut.usage_source, tt::provider::UsageSource::Estimated);
  EXPECT_EQ(cut.error, "stream ended before usage");
  EXPECT_GT(cut.usage.input_tokens, 0u);

  EXPECT_FALSE(got[2].response);
  EXPECT_EQ(decode(got[2]).error, "no response");
}

TEST(WsResponses, AResponseWhoseCreateWasLostIsStillCounted) {
  std::vector<Exchange> got;
  ResponsesWsMapper m(upgrade_request(), switching_protocols(), 1 << 20, [&](Exchange&& e) { got.push_back(e); });
  m.on_message(text(false, created_event(), 1));
  m.on_message(text(false, completed_event(300, 0, 9, 0), 2));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].request.complete);
  EXPECT_EQ(got[0].request.error, "request not captured");
  auto call = decode(got[0]);
  EXPECT_EQ(call.usage_source, tt::provider::UsageSource::Exact);
  EXPECT_EQ(call.usage.input_tokens, 300u);
}

TEST(WsResponses, OnlyResponsesPathsAreMapped) {
  int n = 0;
  auto s = start_websocket(upgrade_request("/v1/realtime"), switching_protocols(), TT_DIR_WRITE, 1 << 20,
                           [&](Exchange&&) { ++n; });
  s->on_bytes(TT_DIR_WRITE, client_frame(kWsText, kCreate), 1);
  s->on_bytes(TT_DIR_READ, frame(kWsText, completed_event(1, 0, 1, 0)), 2);
  s->on_close(3);
  EXPECT_EQ(n, 0);
  EXPECT_EQ(s->messages(), 2u);
  EXPECT_EQ(ws_message_type("{\"a\":{\"type\":\"x\"},\"type\":\"y\"}"), "y");
  EXPECT_EQ(ws_message_type("[{\"type\":\"x\"}]"), "");
  EXPECT_EQ(ws_message_type("{\"type\":\"response.create\",\"input\":\"cut sho"), "response.create");
  EXPECT_EQ(ws_message_type("garbage"), "");
}

// ---- the HTTP/1.1 upgrade ---------------------------------------------------------------------

TEST(Http1Upgrade, ParsersHoldWhatFollowsUntilTold) {
  using Kind = Http1Parser::Kind;
  std::string req = "GET /v1/responses HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  Http1Parser q(Kind::Request, 1 << 20);
  std::vector<HttpMessage> out;
  q.feed(req + "\x81\x83", 1, out);
  q.gap(5, out);
  q.feed("abc", 2, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(q.holding());
  auto held = q.take_held();
  ASSERT_EQ(held.size(), 3u);
  EXPECT_EQ(held[0].data, "\x81\x83");
  EXPECT_EQ(held[0].ts_ns, 1u);
  EXPECT_EQ(held[1].lost_before, 5u);
  EXPECT_EQ(held[2].data, "abc");
  EXPECT_FALSE(q.holding());
  q.feed("more", 3, out);  // after the hand-over the parser is out of it
  EXPECT_EQ(q.bytes_skipped(), 4u);

  // Declined: the bytes after the upgrade request are HTTP again.
  Http1Parser d(Kind::Request, 1 << 20);
  out.clear();
  d.feed(req + "POST /v1/responses HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 1, out);
  ASSERT_EQ(out.size(), 1u);
  d.resume(out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].method, "POST");
  EXPECT_EQ(out[1].body, "{}");
  EXPECT_EQ(d.parse_errors(), 0u);

  // Discarded (switched to something else): skipped.
  Http1Parser h(Kind::Response, 1 << 20);
  out.clear();
  h.push_request_method("GET");
  h.feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\nPRI *", 1, out);
  EXPECT_TRUE(h.holding());
  h.discard_held();
  h.feed("1234", 2, out);
  EXPECT_EQ(h.bytes_skipped(), 9u);
}

namespace {

struct SessionRun {
  std::vector<Exchange> exchanges;
  SessionStats stats;
  bool closed = false;
  std::unique_ptr<Http1Session> s;
  SessionRun() {
    tt::stream::ConnInfo info;
    info.id = 1;
    info.pid = 42;
    s = std::make_unique<Http1Session>(
        info, 1 << 20, [this](Exchange&& e, const tt::stream::ConnInfo&) { exchanges.push_back(std::move(e)); },
        [this](const tt::stream::ConnInfo&, const SessionStats& st) {
          stats = st;
          closed = true;
        });
  }
};

const std::string kUpgrade =
    "GET /v1/responses HTTP/1.1\r\nHost: api.openai.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "User-Agent: codex_exec/0.99.0\r\nAuthorization: Bearer sk-secret\r\n\r\n";
const std::string k101 =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n\r\n";

}  // namespace

TEST(Http1Upgrade, SessionHandsTheConnectionToWebSocket) {
  Deflater cz, sz;  // each side's compressor, with context takeover
  std::string create2 = std::string(kCreate).replace(std::string(kCreate).find("hi"), 2, "and again");
  std::string c1 = client_frame(kWsText, cz.compress(kCreate), true, true);
  std::string c2 = client_frame(kWsPong, "") + client_frame(kWsText, cz.compress(create2), true, true);
  std::vector<std::string> events1 = {created_event(), json_event(1), completed_event(500, 100, 20, 0)};
  std::vector<std::string> events2 = {created_event(), json_event(2), completed_event(600, 500, 30, 5)};
  std::string server1, server2;
  for (auto& e : events1) server1 += frame(kWsText, sz.compress(e), true, true);
  server1 += frame(kWsPing, "");
  for (auto& e : events2) server2 += frame(kWsText, sz.compress(e), true, true);

  SessionRun run;
  run.s->on_bytes(TT_DIR_WRITE, kUpgrade, 100);
  run.s->on_bytes(TT_DIR_READ, k101, 200);
  run.s->on_bytes(TT_DIR_WRITE, c1, 300);
  run.s->on_bytes(TT_DIR_READ, server1.substr(0, 7), 400);
  run.s->on_bytes(TT_DIR_READ, server1.substr(7), 410);
  run.s->on_bytes(TT_DIR_WRITE, c2, 500);
  run.s->on_bytes(TT_DIR_READ, server2, 600);
  run.s->on_close(700);
  ASSERT_TRUE(run.closed);
  EXPECT_EQ(run.stats.bytes_unparsed, 0u);
  EXPECT_EQ(run.stats.parse_errors, 0u);
  ASSERT_EQ(run.exchanges.size(), 3u);
  EXPECT_EQ(run.exchanges[0].request.method, "GET");  // the upgrade itself: not an API call
  EXPECT_EQ(run.exchanges[0].response->status, 101);
  EXPECT_FALSE(decode(run.exchanges[0]).is_llm);
  uint64_t want_in[2] = {400, 100}, want_cache[2] = {100, 500};
  for (int i = 1; i <= 2; ++i) {
    const Exchange& ex = run.exchanges[i];
    EXPECT_EQ(ex.sequence, uint32_t(i + 1));
    EXPECT_EQ(ex.request.body, i == 1 ? std::string(kCreate) : create2);
    EXPECT_EQ(ex.request.first_ts_ns, i == 1 ? 300u : 500u);
    EXPECT_EQ(ex.response->first_ts_ns, i == 1 ? 400u : 600u);
    uint64_t resp_bytes = 0;
    for (auto& e : i == 1 ? events1 : events2) resp_bytes += e.size();
    EXPECT_EQ(ex.response->body_wire_bytes, resp_bytes);
    auto call = decode(ex);
    EXPECT_EQ(call.usage_source, tt::provider::UsageSource::Exact) << call.error;
    EXPECT_EQ(call.usage.input_tokens, want_in[i - 1]);
    EXPECT_EQ(call.usage.cache_read_tokens, want_cache[i - 1]);
    EXPECT_EQ(call.user_agent, "codex_exec/0.99.0");
  }
}

// The tail of a response.create lost: the gap is only reported with the client's
// next write, after the whole answer was read. The answer waits for the message
// it answers instead of being taken for one whose request was not captured.
TEST(Http1Upgrade, AnswerWaitsForTheClientMessageWhoseTailWasLost) {
  std::string big = std::string(kCreate).replace(std::string(kCreate).find("hi"), 2, std::string(3000, 'q'));
  std::string c1 = client_frame(kWsText, big);
  std::string server;
  for (auto& e : {created_event(), completed_event(900, 0, 7, 0)}) server += frame(kWsText, e);
  SessionRun run;
  run.s->on_bytes(TT_DIR_WRITE, kUpgrade, 100);
  run.s->on_bytes(TT_DIR_READ, k101, 200);
  run.s->on_bytes(TT_DIR_WRITE, c1.substr(0, 1000), 300);
  run.s->on_bytes(TT_DIR_READ, server, 400);
  EXPECT_EQ(run.exchanges.size(), 1u);  // the upgrade; the answer waits
  run.s->on_gap(TT_DIR_WRITE, c1.size() - 1000, 500);
  run.s->on_bytes(TT_DIR_WRITE, client_frame(kWsClose, ""), 500);
  run.s->on_close(600);
  ASSERT_EQ(run.exchanges.size(), 2u);
  const Exchange& ex = run.exchanges[1];
  EXPECT_EQ(ex.request.error, "capture gap of " + std::to_string(c1.size() - 1000) + " bytes");
  EXPECT_EQ(ex.request.body_wire_bytes, 1000u - 8u);  // what arrived of the payload (header: 8 bytes)
  ASSERT_TRUE(ex.response);
  EXPECT_TRUE(ex.response->complete);
  EXPECT_EQ(decode(ex).usage.input_tokens, 900u);
  EXPECT_EQ(run.stats.gap_resyncs, 1u);
}

TEST(Http1Upgrade, FramesInTheSameReadAsThe101) {
  SessionRun run;
  run.s->on_bytes(TT_DIR_WRITE, kUpgrade + client_frame(kWsText, kCreate), 1);  // sent before the 101 came
  run.s->on_bytes(TT_DIR_READ,
                  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n" +
                      frame(kWsText, created_event()) + frame(kWsText, completed_event(10, 0, 2, 0)),
                  2);
  run.s->on_close(3);
  ASSERT_EQ(run.exchanges.size(), 2u);
  EXPECT_EQ(decode(run.exchanges[1]).usage.output_tokens, 2u);
  EXPECT_EQ(run.stats.bytes_unparsed, 0u);
}

TEST(Http1Upgrade, DeclinedUpgradeStaysHttp) {
  SessionRun run;
  std::string post = "POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
  run.s->on_bytes(TT_DIR_WRITE, kUpgrade, 1);
  run.s->on_bytes(TT_DIR_READ, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n", 2);
  run.s->on_bytes(TT_DIR_WRITE, post, 3);
  run.s->on_bytes(TT_DIR_READ, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 4);
  run.s->on_close(5);
  ASSERT_EQ(run.exchanges.size(), 2u);
  EXPECT_EQ(run.exchanges[1].request.method, "POST");
  EXPECT_TRUE(run.exchanges[1].response->complete);
  EXPECT_EQ(run.stats.bytes_unparsed, 0u);
  EXPECT_EQ(run.stats.parse_errors, 0u);
}

TEST(Http1Upgrade, GarbageAfterTheUpgradeIsCountedNotFatal) {
  SessionRun run;
  run.s->on_bytes(TT_DIR_WRITE, kUpgrade, 1);
  run.s->on_bytes(TT_DIR_READ, k101, 2);
  run.s->on_bytes(TT_DIR_WRITE, client_frame(kWsText, kCreate), 3);
  run.s->on_bytes(TT_DIR_READ, std::string("\x8f\x01zgarbage"), 4);
  run.s->on_close(5);
  ASSERT_EQ(run.exchanges.size(), 2u);
  EXPECT_FALSE(run.exchanges[1].response);
  EXPECT_EQ(run.stats.parse_errors, 1u);
  EXPECT_EQ(run.stats.bytes_unparsed, 10u);  // all of it: the header was bad
}
