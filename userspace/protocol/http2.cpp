// HTTP/2 framing (RFC 9113 section 4 and 6) parsed here; HPACK (RFC 7541) by
// nghttp2's inflater, because a header block can only be decoded with the
// dynamic table every earlier block of that direction built.
//
// Each direction is a frame reader: the 9-byte header, then the payload. A
// frame inside one capture chunk is handled in place; one split across chunks
// is put back together first. Header blocks (HEADERS or PUSH_PROMISE plus
// CONTINUATIONs) are collected whole and inflated at END_HEADERS, so the
// inflater is never mid-block when a SETTINGS frame changes its table limit.
//
// Streams the client opens become exchanges: the request's first byte is its
// HEADERS frame's first byte, its last byte the end of the frame that carried
// END_STREAM; likewise for the response, whose 1xx interim HEADERS are skipped
// as HTTP/1's 100 Continue is. Trailers count as framing. An exchange is handed
// on once both sides ended, or when the stream is reset or the connection ends
// (incomplete, with the reason).
//
// A capture gap inside a frame's payload keeps the framing (the header said how
// long the payload is): a DATA frame's stream goes on with a hole in its body
// (incomplete), other streams are untouched. Anything that breaks the framing
// or HPACK state (any other gap, a gap in a header block, a protocol error, an
// undecodable header block) ends decoding of the whole connection: open streams
// are reported incomplete and later bytes counted as unparsed.
#include "protocol/http2.h"

#include "tlstap.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tt::protocol {
namespace {

enum FrameType : uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kPriority = 0x2,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPushPromise = 0x5,
  kPing = 0x6,
  kGoaway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
};
constexpr uint8_t kFlagEndStream = 0x1, kFlagAck = 0x1, kFlagEndHeaders = 0x4, kFlagPadded = 0x8,
                  kFlagPriority = 0x20;
constexpr uint16_t kSettingsHeaderTableSize = 0x1, kSettingsMaxFrameSize = 0x5;

constexpr size_t kFrameHeaderBytes = 9;
constexpr uint32_t kDefaultMaxFrame = 16384;      // SETTINGS_MAX_FRAME_SIZE until raised
constexpr uint32_t kLargestMaxFrame = 0xffffff;   // what SETTINGS may raise it to
constexpr size_t kDefaultHeaderTable = 4096;      // SETTINGS_HEADER_TABLE_SIZE until raised
constexpr size_t kMaxHeaderBlock = 4u << 20;      // a longer header block is not believed
constexpr size_t kMaxHeaderTable = 1u << 20;      // HPACK dynamic table: more is kept to this (counted)
// A block's decoded headers: one byte can name a table entry of up to 1 MiB, so
// a 4 MiB block could decode to terabytes. Past this, headers are not kept.
constexpr size_t kMaxHeaderList = 256u << 10;
constexpr size_t kMaxHeaders = 1024;
constexpr size_t kMaxHeldBytes = 1u << 20;        // server bytes held while no preface is seen

uint32_t be16(const char* p) {
  auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 8) | u[1];
}
uint32_t be24(const char* p) {
  auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 16) | (uint32_t{u[1]} << 8) | u[2];
}
uint32_t be32(const char* p) { return (be16(p) << 16) | be16(p + 2); }

std::string error_code_name(uint32_t code) {
  static constexpr const char* kNames[] = {
      "NO_ERROR",       "PROTOCOL_ERROR",    "INTERNAL_ERROR",    "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
      "STREAM_CLOSED",  "FRAME_SIZE_ERROR",  "REFUSED_STREAM",    "CANCEL",             "COMPRESSION_ERROR",
      "CONNECT_ERROR",  "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
  if (code < std::size(kNames)) return kNames[code];
  return "error " + std::to_string(code);
}

struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string_view payload;  // what arrived of it
  uint64_t first_ts = 0, last_ts = 0;
  uint64_t lost = 0;    // payload bytes lost by the capture, at hole_at in payload
  size_t hole_at = 0;
  size_t wire_bytes() const { return kFrameHeaderBytes + payload.size() + lost; }
};

// The part of a frame's payload after its padding and `prefix` fixed bytes
// (priority fields, promised stream id); the rest counts as overhead.
bool strip(const Frame& f, size_t prefix, std::string_view& out, uint64_t& overhead) {
  std::string_view p = f.payload;
  size_t pad = 0;
  if (f.flags & kFlagPadded) {
    if (p.empty()) return false;
    pad = static_cast<unsigned char>(p[0]);
    p.remove_prefix(1);
  }
  if (p.size() < prefix + pad) return false;
  out = p.substr(prefix, p.size() - prefix - pad);
  overhead = f.wire_bytes() - out.size();
  return true;
}

// A header block as decoded, with where it came from.
struct Block {
  uint32_t stream = 0;
  bool end_stream = false;
  std::vector<Header> headers;
  uint64_t wire = 0;      // HPACK-encoded bytes
  uint64_t overhead = 0;  // frame headers, padding, priority fields of its frames
  uint64_t first_ts = 0, last_ts = 0;
};

}  // namespace

struct Http2Session::Impl {
  struct Side {
    nghttp2_hd_inflater* hd = nullptr;
    size_t table_limit = kDefaultHeaderTable;  // the receiver's SETTINGS_HEADER_TABLE_SIZE
    size_t preface_left = 0;                   // client side: preface bytes still to come
    bool settings_seen = false;                // the first frame must be SETTINGS

    // The frame being read.
    char hdr[kFrameHeaderBytes];
    size_t hdr_have = 0;
    uint32_t len = 0;
    std::string payload;  // only for a frame split across chunks
    uint64_t first_ts = 0;
    uint64_t lost = 0;     // payload bytes lost in capture gaps
    size_t hole_at = 0;    // where the first of them was

    // The header block being collected.
    bool in_block = false;
    uint8_t block_type = 0;
    std::string block;
    Block meta;

    // Bytes that came before the roles were known, with their timestamps.
    std::vector<std::pair<std::string, uint64_t>> held;
    size_t held_bytes = 0;

    size_t partial_bytes() const { return hdr_have + (hdr_have == kFrameHeaderBytes ? payload.size() : 0); }
  };

  struct Stream {
    uint32_t seq = 0;
    HttpMessage req, resp;
    bool req_ended = false, resp_started = false, resp_ended = false;
  };

  stream::ConnInfo info;
  size_t max_body;
  ExchangeFn on_exchange;
  CloseFn on_close;
  RequestFn on_request;
  Side side[2];
  int client = -1;  // direction of the client's bytes, once the preface showed it
  bool dead = false;
  bool closed = false;
  uint32_t max_frame = kDefaultMaxFrame;
  std::map<uint32_t, Stream> streams;
  uint32_t last_client_stream = 0;
  uint32_t next_seq = 1;
  SessionStats stats;

  Impl(const stream::ConnInfo& i, size_t mb, ExchangeFn ex, CloseFn cl)
      : info(i), max_body(mb), on_exchange(std::move(ex)), on_close(std::move(cl)) {
    stats.http2 = true;
    for (Side& s : side) nghttp2_hd_inflate_new(&s.hd);
  }
  ~Impl() {
    for (Side& s : side) nghttp2_hd_inflate_del(s.hd);
  }

  // ---- bytes in -------------------------------------------------------------

  void bytes(int d, std::string_view data, uint64_t ts) {
    if (dead) {
      stats.bytes_unparsed += data.size();
    } else if (client < 0) {
      hold(d, data, ts);
    } else {
      read_frames(d, data, ts);
    }
  }

  // Before the preface: 1 if the held bytes of direction d start with it, 0 if
  // they cannot, -1 while too few to tell.
  int opens_with_preface(int d) const {
    std::string head;
    for (const auto& [b, ts] : side[d].held) {
      head += b;
      if (head.size() >= kHttp2Preface.size()) break;
    }
    size_t n = std::min(head.size(), kHttp2Preface.size());
    if (head.compare(0, n, kHttp2Preface.substr(0, n)) != 0) return 0;
    return n == kHttp2Preface.size() ? 1 : -1;
  }

  void hold(int d, std::string_view data, uint64_t ts) {
    side[d].held.emplace_back(std::string(data), ts);
    side[d].held_bytes += data.size();
    int m[2] = {opens_with_preface(0), opens_with_preface(1)};
    for (int k : {0, 1}) {
      if (m[k] != 1) continue;
      client = k;
      side[k].preface_left = kHttp2Preface.size();
      // The client's bytes first: its streams exist before the server answers them.
      for (int dir : {k, k ^ 1}) {
        auto pieces = std::move(side[dir].held);
        side[dir].held.clear();
        side[dir].held_bytes = 0;
        for (auto& [b, t] : pieces) bytes(dir, b, t);
      }
      return;
    }
    if ((m[0] == 0 && m[1] == 0) || side[0].held_bytes + side[1].held_bytes > kMaxHeldBytes) {
      stats.non_http = true;  // as Http1Session counts a connection it cannot place
      stop("no HTTP/2 connection preface");
    }
  }

  void read_frames(int d, std::string_view data, uint64_t ts) {
    Side& s = side[d];
    while (!data.empty()) {
      if (dead) {
        stats.bytes_unparsed += data.size();
        return;
      }
      if (s.preface_left) {
        size_t at = kHttp2Preface.size() - s.preface_left;
        size_t n = std::min(s.preface_left, data.size());
        if (data.substr(0, n) != kHttp2Preface.substr(at, n)) {
          fail("bad connection preface", at);
          continue;
        }
        s.preface_left -= n;
        data.remove_prefix(n);
        continue;
      }
      if (s.hdr_have < kFrameHeaderBytes) {
        if (s.hdr_have == 0) s.first_ts = ts;
        size_t n = std::min(kFrameHeaderBytes - s.hdr_have, data.size());
        memcpy(s.hdr + s.hdr_have, data.data(), n);
        s.hdr_have += n;
        data.remove_prefix(n);
        if (s.hdr_have < kFrameHeaderBytes) return;
        s.len = be24(s.hdr);
        s.payload.clear();
        if (s.len > max_frame) {
          fail("frame of " + std::to_string(s.len) + " bytes is over the maximum frame size", 0);
          continue;
        }
      }
      std::string_view payload;
      size_t need = s.len - s.payload.size() - s.lost;
      if (s.payload.empty() && !s.lost && data.size() >= need) {
        payload = data.substr(0, need);
        data.remove_prefix(need);
      } else {
        size_t n = std::min(need, data.size());
        s.payload.append(data.data(), n);
        data.remove_prefix(n);
        if (s.payload.size() + s.lost < s.len) return;
        payload = s.payload;
      }
      deliver(d, payload, ts);
    }
  }

  void deliver(int d, std::string_view payload, uint64_t ts) {
    Side& s = side[d];
    Frame f;
    f.type = static_cast<uint8_t>(s.hdr[3]);
    f.flags = static_cast<uint8_t>(s.hdr[4]);
    f.stream = be32(s.hdr + 5) & 0x7fffffff;
    f.payload = payload;
    f.first_ts = s.first_ts;
    f.last_ts = ts;
    f.lost = std::exchange(s.lost, 0);
    f.hole_at = std::exchange(s.hole_at, 0);
    s.hdr_have = 0;
    frame(d, f);
  }

  // Bytes lost by the capture. Inside a frame's payload the next frame still
  // starts where the header said, unless the frame is part of a header block
  // (HPACK state lost with it); anywhere else the framing is lost.
  void gap(int d, uint64_t n, uint64_t ts) {
    if (dead || !n) return;
    Side& s = side[d];
    bool in_payload = client >= 0 && !s.preface_left && s.hdr_have == kFrameHeaderBytes;
    uint64_t left = in_payload ? s.len - s.payload.size() - s.lost : 0;
    uint8_t type = static_cast<uint8_t>(s.hdr[3]);
    bool header_block = type == kHeaders || type == kPushPromise || type == kContinuation;
    if (n > left || header_block) return stop("capture gap of " + std::to_string(n) + " bytes");
    if (!s.lost) s.hole_at = s.payload.size();
    s.lost += n;
    ++stats.gap_resyncs;
    if (n == left) deliver(d, s.payload, ts);
  }

  // ---- frames ----------------------------------------------------------------

  void frame(int d, const Frame& f) {
    Side& s = side[d];
    if (!s.settings_seen) {
      if (f.type != kSettings || (f.flags & kFlagAck)) return fail("first frame is not SETTINGS", f.wire_bytes());
      s.settings_seen = true;
    }
    if (s.in_block && f.type != kContinuation)
      return fail("header block interrupted by a frame of type " + std::to_string(f.type), f.wire_bytes());
    bool needs_stream = f.type == kData || f.type == kHeaders || f.type == kPriority || f.type == kRstStream ||
                        f.type == kPushPromise || f.type == kContinuation;
    bool needs_no_stream = f.type == kSettings || f.type == kPing || f.type == kGoaway;
    if ((needs_stream && f.stream == 0) || (needs_no_stream && f.stream != 0))
      return fail("frame of type " + std::to_string(f.type) + " on the wrong stream", f.wire_bytes());
    if (f.lost) return damaged_frame(d, f);
    size_t n = f.payload.size();
    switch (f.type) {
      case kData:
        return data_frame(d, f);
      case kHeaders:
      case kPushPromise: {
        std::string_view fragment;
        uint64_t overhead = 0;
        size_t prefix = f.type == kPushPromise ? 4 : (f.flags & kFlagPriority) ? 5 : 0;
        if (!strip(f, prefix, fragment, overhead)) return fail("bad padding", f.wire_bytes());
        s.in_block = true;
        s.block_type = f.type;
        s.block.assign(fragment);
        s.meta = Block{};
        s.meta.stream = f.stream;
        s.meta.end_stream = f.type == kHeaders && (f.flags & kFlagEndStream);
        s.meta.overhead = overhead;
        s.meta.first_ts = f.first_ts;
        break;
      }
      case kContinuation:
        if (!s.in_block || f.stream != s.meta.stream) return fail("CONTINUATION out of place", f.wire_bytes());
        if (s.block.size() + n > kMaxHeaderBlock) return fail("header block too large", f.wire_bytes());
        s.block.append(f.payload);
        s.meta.overhead += kFrameHeaderBytes;
        break;
      case kSettings:
        if ((f.flags & kFlagAck) ? n != 0 : n % 6 != 0) return fail("bad SETTINGS frame", f.wire_bytes());
        for (size_t i = 0; i + 6 <= n; i += 6) settings(d, be16(f.payload.data() + i), be32(f.payload.data() + i + 2));
        return;
      case kRstStream:
        if (n != 4) return fail("bad RST_STREAM frame", f.wire_bytes());
        if (auto it = streams.find(f.stream); it != streams.end()) {
          if (d == client) it->second.resp.cancelled_by_client = it->second.resp_started;
          end_stream(it, std::string("stream reset by ") + (d == client ? "client" : "server") + " (" +
                             error_code_name(be32(f.payload.data())) + ")");
        }
        return;
      case kPing:
      case kPriority:
      case kWindowUpdate:
      case kGoaway:
        if ((f.type == kPing && n != 8) || (f.type == kPriority && n != 5) || (f.type == kWindowUpdate && n != 4) ||
            (f.type == kGoaway && n < 8))
          return fail("bad frame of type " + std::to_string(f.type), f.wire_bytes());
        return;
      default:
        return;  // extension frames: skipped
    }
    // HEADERS, PUSH_PROMISE and CONTINUATION go on here.
    s.meta.last_ts = f.last_ts;
    if (f.flags & kFlagEndHeaders) end_block(d);
  }

  void settings(int d, uint32_t id, uint32_t value) {
    if (id == kSettingsHeaderTableSize) {
      // The sender's decoder allows this much: the peer's encoder may use it.
      Side& peer = side[d ^ 1];
      if (value > kMaxHeaderTable) {
        ++stats.hpack_limit_hits;  // its blocks may no longer decode: counted as undecodable then
        value = kMaxHeaderTable;
      }
      if (value > peer.table_limit) {
        peer.table_limit = value;
        nghttp2_hd_inflate_change_table_size(peer.hd, value);
      }
    } else if (id == kSettingsMaxFrameSize && value > max_frame && value <= kLargestMaxFrame) {
      // Either side's limit, whichever is larger: capture order across the two
      // directions is not always the order the peers saw.
      max_frame = value;
    }
  }

  void end_block(int d) {
    Side& s = side[d];
    s.in_block = false;
    Block b = std::move(s.meta);
    b.wire = s.block.size();
    if (!inflate(s, b.headers)) return fail("HPACK decoding failed", 0);
    s.block.clear();
    if (s.block_type == kPushPromise) return;  // decoded only to keep the dynamic table right
    if (d == client)
      request_headers(b);
    else
      response_headers(b);
  }

  // The whole block is always inflated (the dynamic table must stay in step);
  // what is kept of it is bounded (kMaxHeaderList, kMaxHeaders; counted).
  bool inflate(Side& s, std::vector<Header>& out) {
    auto* in = reinterpret_cast<const uint8_t*>(s.block.data());
    size_t left = s.block.size(), kept = 0;
    bool over = false;
    for (;;) {
      nghttp2_nv nv;
      int flags = 0;
      ssize_t rv = nghttp2_hd_inflate_hd2(s.hd, &nv, &flags, in, left, 1);
      if (rv < 0) return false;
      in += rv;
      left -= static_cast<size_t>(rv);
      if (flags & NGHTTP2_HD_INFLATE_EMIT) {
        kept += nv.namelen + nv.valuelen + 32;  // RFC 9113's header list size
        if (kept <= kMaxHeaderList && out.size() < kMaxHeaders)
          out.push_back({std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                         std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen)});
        else
          over = true;
      }
      if (flags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(s.hd);
        if (over) ++stats.header_limit_hits;
        return true;
      }
      if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && rv == 0) return false;
    }
  }

  // Regular headers into m; returns the pseudo-header `name` values via `pseudo`.
  static void take_headers(Block& b, HttpMessage& m, std::map<std::string, std::string>& pseudo) {
    for (Header& h : b.headers) {
      if (!h.name.empty() && h.name[0] == ':')
        pseudo[h.name] = std::move(h.value);
      else
        m.headers.push_back(std::move(h));
    }
    m.http_major = 2;
    m.http_minor = 0;
    m.header_bytes = b.wire;
    m.framing_bytes = b.overhead;
    m.first_ts_ns = b.first_ts;
  }

  void request_headers(Block& b) {
    auto it = streams.find(b.stream);
    if (it == streams.end()) {
      if (b.stream <= last_client_stream) return;  // a closed stream: nothing to add to
      last_client_stream = b.stream;
      it = streams.emplace(b.stream, Stream{}).first;
      Stream& st = it->second;
      st.seq = next_seq++;
      std::map<std::string, std::string> pseudo;
      take_headers(b, st.req, pseudo);
      st.req.is_request = true;
      st.req.method = pseudo[":method"];
      st.req.target = pseudo[":path"];
      // :authority stands in for Host, which h2 requests usually leave out.
      if (!pseudo[":authority"].empty() && !st.req.header("host"))
        st.req.headers.insert(st.req.headers.begin(), Header{"host", pseudo[":authority"]});
    } else if (!it->second.req_ended) {
      it->second.req.framing_bytes += b.wire + b.overhead;  // trailers
    } else {
      return;
    }
    Stream& st = it->second;
    st.req.last_ts_ns = b.last_ts;
    if (b.end_stream) {
      st.req_ended = st.req.complete = true;
      if (on_request) on_request(st.req, info);
      finish_if_done(it);
    }
  }

  void response_headers(Block& b) {
    auto it = streams.find(b.stream);
    if (it == streams.end()) return;  // a pushed stream, or one already over
    Stream& st = it->second;
    if (st.resp_ended) return;
    if (!st.resp_started) {
      HttpMessage m;
      std::map<std::string, std::string> pseudo;
      take_headers(b, m, pseudo);
      const std::string& status = pseudo[":status"];
      bool digits = status.size() == 3 && std::all_of(status.begin(), status.end(), [](char c) { return c >= '0' && c <= '9'; });
      m.status = digits ? std::stoi(status) : 0;
      if (m.status / 100 == 1) return;  // interim (100 Continue, 103 Early Hints): not the response
      m.is_request = false;
      st.resp = std::move(m);
      st.resp_started = true;
    } else {
      st.resp.framing_bytes += b.wire + b.overhead;  // trailers
    }
    st.resp.last_ts_ns = b.last_ts;
    if (b.end_stream) {
      st.resp_ended = st.resp.complete = true;
      finish_if_done(it);
    }
  }

  void data_frame(int d, const Frame& f) {
    std::string_view data;
    uint64_t overhead = 0;
    if (!strip(f, 0, data, overhead)) return fail("bad padding", f.wire_bytes());
    auto it = streams.find(f.stream);
    if (it == streams.end()) return;
    Stream& st = it->second;
    bool from_client = d == client;
    if (from_client ? st.req_ended : (!st.resp_started || st.resp_ended)) return;
    HttpMessage& m = from_client ? st.req : st.resp;
    m.append_body(data, max_body);
    m.framing_bytes += overhead;
    end_data(it, from_client, f);
  }

  void end_data(std::map<uint32_t, Stream>::iterator it, bool from_client, const Frame& f) {
    Stream& st = it->second;
    HttpMessage& m = from_client ? st.req : st.resp;
    m.last_ts_ns = f.last_ts;
    if (f.flags & kFlagEndStream) {
      (from_client ? st.req_ended : st.resp_ended) = true;
      m.complete = m.body_lost == 0;
      if (from_client && on_request) on_request(m, info);
      finish_if_done(it);
    }
  }

  // A frame with a hole (its header is whole). Only a DATA frame's contents and
  // a RST_STREAM's meaning matter to what follows; the others are skipped.
  void damaged_frame(int d, const Frame& f) {
    std::string why = "capture gap of " + std::to_string(f.lost) + " bytes in a frame";
    auto it = streams.find(f.stream);
    if (it == streams.end() || f.stream == 0) return;
    if (f.type == kRstStream) return end_stream(it, "stream reset (" + why + ")");
    if (f.type != kData) return;
    Stream& st = it->second;
    bool from_client = d == client;
    if (from_client ? st.req_ended : (!st.resp_started || st.resp_ended)) return;
    HttpMessage& m = from_client ? st.req : st.resp;
    std::string_view before = f.payload.substr(0, f.hole_at), after = f.payload.substr(f.hole_at);
    uint64_t lost = f.lost, pad = 0, overhead = kFrameHeaderBytes;
    if (f.flags & kFlagPadded) {  // the pad length is the first byte, if it arrived
      ++overhead;
      if (!before.empty()) {
        pad = static_cast<unsigned char>(before[0]);
        before.remove_prefix(1);
      } else {
        --lost;
      }
      size_t tail = std::min<uint64_t>(pad, after.size());
      after.remove_suffix(tail);
      lost -= std::min(lost, pad - tail);
      overhead += pad;
    }
    m.append_body(before, max_body);
    m.lose_body(lost);
    m.append_body(after, max_body);
    m.framing_bytes += overhead;
    if (m.error.empty()) m.error = "capture gap of " + std::to_string(f.lost) + " bytes in a DATA frame";
    end_data(it, from_client, f);
  }

  // ---- exchanges ---------------------------------------------------------------

  void finish_if_done(std::map<uint32_t, Stream>::iterator it) {
    if (it->second.req_ended && it->second.resp_ended) emit(it);
  }

  // The stream is over before both sides ended: what did not end says why.
  void end_stream(std::map<uint32_t, Stream>::iterator it, const std::string& why) {
    Stream& st = it->second;
    if (!st.req_ended || !st.resp_started) st.req.error = why;
    if (st.resp_started && !st.resp_ended) st.resp.error = why;
    emit(it);
  }

  void emit(std::map<uint32_t, Stream>::iterator it) {
    Exchange ex;
    ex.sequence = it->second.seq;
    ex.server_side = client == TT_DIR_READ;  // a traced server reads the preface
    ex.request = std::move(it->second.req);
    if (it->second.resp_started) ex.response = std::move(it->second.resp);
    streams.erase(it);
    on_exchange(std::move(ex), info);
  }

  void end_all_streams(const std::string& why) {
    while (!streams.empty()) end_stream(streams.begin(), why);
  }

  // ---- decoding ends -------------------------------------------------------------

  // A protocol error: `extra` bytes already taken from the input were not decoded.
  void fail(const std::string& why, uint64_t extra) {
    ++stats.parse_errors;
    stats.bytes_unparsed += extra;
    stop("HTTP/2 parse error: " + why);
  }

  // Nothing more of this connection can be decoded.
  void stop(const std::string& why) {
    if (dead) return;
    dead = true;
    for (Side& s : side) {
      stats.bytes_unparsed += s.partial_bytes() + s.held_bytes;
      s.hdr_have = 0;
      s.payload.clear();
      s.held.clear();
      s.held_bytes = 0;
    }
    end_all_streams(why);
  }

  void close() {
    if (closed) return;
    closed = true;
    if (!dead) {
      if (client < 0 && side[0].held_bytes + side[1].held_bytes) stats.non_http = true;
      for (Side& s : side) stats.bytes_unparsed += s.partial_bytes() + s.held_bytes;
      end_all_streams("connection closed");
    }
    on_close(info, stats);
  }
};

Http2Session::Http2Session(const stream::ConnInfo& info, size_t max_body, ExchangeFn on_exchange, CloseFn on_close,
                           RequestFn on_request)
    : impl_(std::make_unique<Impl>(info, max_body, std::move(on_exchange), std::move(on_close))) {
  impl_->on_request = std::move(on_request);
}

Http2Session::~Http2Session() { impl_->close(); }

void Http2Session::on_bytes(int dir, std::string_view data, uint64_t ts_ns) { impl_->bytes(dir, data, ts_ns); }

void Http2Session::on_gap(int dir, uint64_t bytes, uint64_t ts_ns) { impl_->gap(dir & 1, bytes, ts_ns); }

void Http2Session::on_close(uint64_t ts_ns) { impl_->close(); }

}  // namespace tt::protocol
