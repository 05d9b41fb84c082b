// RFC 6455 framing and RFC 7692 permessage-deflate, incrementally, per direction.
//
// A frame is a 2..14 byte header (FIN, RSV1-3, opcode; MASK, 7-bit length, then a
// 16- or 64-bit length, then the 4-byte mask key) and its payload. The header is
// collected byte by byte, so a feed may end anywhere; payload bytes are unmasked and
// consumed as they come (inflated on the fly when compressed), never buffered whole.
// A message that is compressed is one raw DEFLATE stream, flushed, with its final
// 00 00 ff ff removed: the receiver appends those four bytes at the end of the
// message. With context takeover the inflater (and its window) carries over to the
// sender's next message.
#include "protocol/websocket.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace tt::protocol {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

int window_bits_value(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 2) return 15;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return 15;
    n = n * 10 + (c - '0');
  }
  return n >= 8 && n <= 15 ? n : 15;
}

bool is_control(uint8_t opcode) { return opcode & 0x8; }
bool known_opcode(uint8_t op) { return op <= kWsBinary || (op >= kWsClose && op <= kWsPong); }

constexpr uint8_t kDeflateTail[4] = {0x00, 0x00, 0xff, 0xff};

}  // namespace

WsDeflate parse_ws_extensions(std::string_view value) {
  WsDeflate d;
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view ext = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    size_t semi = ext.find(';');
    if (!iequals(trim(ext.substr(0, semi)), "permessage-deflate")) continue;
    d.enabled = true;
    while (semi != std::string_view::npos) {
      ext = ext.substr(semi + 1);
      semi = ext.find(';');
      std::string_view param = ext.substr(0, semi);
      size_t eq = param.find('=');
      std::string_view name = trim(param.substr(0, eq));
      std::string_view arg = eq == std::string_view::npos ? std::string_view() : trim(param.substr(eq + 1));
      if (iequals(name, "server_no_context_takeover"))
        d.server_no_context_takeover = true;
      else if (iequals(name, "client_no_context_takeover"))
        d.client_no_context_takeover = true;
      else if (iequals(name, "server_max_window_bits"))
        d.server_max_window_bits = window_bits_value(arg);
      else if (iequals(name, "client_max_window_bits"))
        d.client_max_window_bits = window_bits_value(arg);
    }
    break;  // the first permessage-deflate is the one in use
  }
  return d;
}

struct WsFrameParser::Impl {
  enum class State { Header, Payload, Lost };

  Options o;
  State state = State::Header;

  // Frame header being collected.
  uint8_t hdr[14] = {};
  size_t hdr_len = 0;
  size_t hdr_need = 2;
  uint64_t hdr_ts = 0;

  // Frame being read.
  bool fin = false, rsv1 = false, masked = false;
  uint8_t opcode = 0;
  uint8_t mask[4] = {};
  uint64_t remaining = 0;
  uint64_t pos = 0;  // payload offset, for the mask

  bool in_msg = false;
  WsMessage msg;            // data message being assembled
  WsMessage ctrl;           // control frame being read
  bool msg_undecodable = false;  // this message cannot be inflated any further

  z_stream zs{};
  bool z_ready = false;
  bool z_context_lost = false;  // context takeover and the window is gone: later messages fail too
  bool z_stream_end = false;    // the sender closed the DEFLATE stream (BFINAL) in this message
  std::string scratch;

  uint64_t skipped = 0, errors = 0, dropped = 0, resumed = 0;
  // Inflating is bounded per direction, as content decoding is per connection
  // (docs/security.md): 128 x the compressed bytes + 64 MiB in all.
  uint64_t compressed_in = 0, inflated_out = 0, limit_hits = 0;

  explicit Impl(Options opts) : o(opts) {}
  ~Impl() {
    if (z_ready) inflateEnd(&zs);
  }

  // ---- payload ----------------------------------------------------------------

  void append_out(WsMessage& m, const char* p, size_t n) {
    m.size += n;
    size_t keep = m.payload.size() < o.max_message ? std::min(n, o.max_message - m.payload.size()) : 0;
    m.payload.append(p, keep);
    if (keep < n) {
      m.truncated = true;
      dropped += n - keep;
    }
  }

  void undecodable(std::string why) {
    msg_undecodable = true;
    if (msg.error.empty()) msg.error = std::move(why);
    // With context takeover the sender's next messages refer to this one's window.
    if (!o.no_context_takeover) z_context_lost = true;
  }

  void inflate_bytes(const uint8_t* p, size_t n) {
    if (msg_undecodable || z_stream_end) return;
    if (z_context_lost) {
      undecodable("deflate context lost earlier on this connection");
      return;
    }
    if (!z_ready) {
      // zlib's deflate never uses a window below 9 bits (it turns 8 into 9), so an
      // 8-bit agreement is inflated with 9.
      if (inflateInit2(&zs, -std::clamp(o.window_bits, 9, 15)) != Z_OK) {
        ++errors;
        undecodable("inflate: init failed");
        return;
      }
      z_ready = true;
    }
    zs.next_in = const_cast<Bytef*>(p);
    zs.avail_in = static_cast<uInt>(n);
    compressed_in += n;
    char buf[16384];
    for (;;) {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof(buf);
      int ret = inflate(&zs, Z_SYNC_FLUSH);
      append_out(msg, buf, sizeof(buf) - zs.avail_out);
      inflated_out += sizeof(buf) - zs.avail_out;
      if (inflated_out > (64u << 20) + 128 * compressed_in) {
        ++limit_hits;
        undecodable("inflate: over the decompression budget");
        return;
      }
      if (ret == Z_STREAM_END) {
        z_stream_end = true;  // what follows in this message is padding
        return;
      }
      if (ret == Z_BUF_ERROR) return;  // no progress possible: the input is used up
      if (ret != Z_OK) {
        ++errors;
        undecodable(std::string("inflate: ") + (zs.msg ? zs.msg : "data error"));
        return;
      }
      if (zs.avail_in == 0 && zs.avail_out != 0) return;
    }
  }

  // Between messages: a sender without context takeover starts afresh; one that
  // ended its DEFLATE stream (BFINAL) starts a new stream over the same window.
  void reset_inflater() {
    if (!z_ready) return;
    if (o.no_context_takeover) {
      inflateReset(&zs);
    } else if (z_stream_end && !z_context_lost) {
      std::string window(32768, '\0');
      uInt len = 0;
      inflateGetDictionary(&zs, reinterpret_cast<Bytef*>(window.data()), &len);
      inflateReset(&zs);
      inflateSetDictionary(&zs, reinterpret_cast<const Bytef*>(window.data()), len);
    }
    z_stream_end = false;
  }

  void payload_bytes(const char* p, size_t n) {
    const char* data = p;
    if (masked) {
      scratch.resize(n);
      for (size_t i = 0; i < n; ++i) scratch[i] = static_cast<char>(p[i] ^ mask[(pos + i) & 3]);
      data = scratch.data();
    }
    pos += n;
    remaining -= n;
    if (is_control(opcode)) {
      ctrl.payload.append(data, n);  // at most 125 bytes
      ctrl.size += n;
      return;
    }
    msg.wire_bytes += n;
    if (msg.compressed)
      inflate_bytes(reinterpret_cast<const uint8_t*>(data), n);
    else
      append_out(msg, data, n);
  }

  // ---- frames and messages --------------------------------------------------------

  void end_message(uint64_t ts, std::vector<WsMessage>& out) {
    if (msg.compressed) {
      inflate_bytes(kDeflateTail, sizeof(kDeflateTail));
      reset_inflater();
    }
    msg.last_ts_ns = ts;
    msg.complete = msg.error.empty();
    out.push_back(std::move(msg));
    msg = WsMessage{};
    in_msg = false;
    msg_undecodable = false;
  }

  // Emits the message in progress, if any, as incomplete.
  void abort_message(const std::string& why, std::vector<WsMessage>& out) {
    if (!in_msg) return;
    if (msg.compressed && !msg_undecodable) undecodable(why);
    if (msg.error.empty()) msg.error = why;
    msg.complete = false;
    if (msg.compressed) reset_inflater();
    out.push_back(std::move(msg));
    msg = WsMessage{};
    in_msg = false;
    msg_undecodable = false;
  }

  void end_frame(uint64_t ts, std::vector<WsMessage>& out) {
    state = State::Header;
    hdr_len = 0;
    hdr_need = 2;
    if (is_control(opcode)) {
      ctrl.last_ts_ns = ts;
      ctrl.complete = ctrl.error.empty();
      out.push_back(std::move(ctrl));
      ctrl = WsMessage{};
      return;
    }
    msg.last_ts_ns = ts;
    if (fin) end_message(ts, out);
  }

  // The direction is lost: nothing after this point can be framed.
  void lose(const std::string& why, std::vector<WsMessage>& out) {
    abort_message(why, out);
    skipped += hdr_len;
    hdr_len = 0;
    state = State::Lost;
  }

  void fail(const std::string& why, std::vector<WsMessage>& out) {
    ++errors;
    lose("websocket: " + why, out);
  }

  // Checks the first two header bytes; returns "" or the violation.
  std::string check_start() const {
    uint8_t b0 = hdr[0], b1 = hdr[1];
    uint8_t op = b0 & 0x0f;
    bool f = b0 & 0x80, r1 = b0 & 0x40;
    if (b0 & 0x30) return "reserved bits RSV2/RSV3 set";
    if (!known_opcode(op)) return "reserved opcode " + std::to_string(op);
    if (is_control(op)) {
      if (!f) return "fragmented control frame";
      if ((b1 & 0x7f) > 125) return "control frame longer than 125 bytes";
      if (r1) return "compressed control frame";
      return "";
    }
    if (op == kWsContinuation && !in_msg) return "continuation frame without a message";
    if (op != kWsContinuation && in_msg) return "new message inside a fragmented one";
    if (r1 && !o.deflate) return "RSV1 set without permessage-deflate";
    if (r1 && op == kWsContinuation) return "RSV1 set on a continuation frame";
    return "";
  }

  void start_frame(uint64_t ts, std::vector<WsMessage>& out) {
    uint8_t len7 = hdr[1] & 0x7f;
    uint64_t len = len7;
    if (len7 == 126) {
      len = (uint64_t{hdr[2]} << 8) | hdr[3];
    } else if (len7 == 127) {
      len = 0;
      for (int i = 2; i < 10; ++i) len = (len << 8) | hdr[i];
      if (len >> 63) return fail("64-bit length with the top bit set", out);
    }
    if (masked) std::memcpy(mask, hdr + hdr_len - 4, 4);
    remaining = len;
    pos = 0;
    state = State::Payload;
    if (is_control(opcode)) {
      ctrl = WsMessage{};
      ctrl.opcode = opcode;
      ctrl.first_ts_ns = hdr_ts;
      ctrl.frames = 1;
      ctrl.frame_header_bytes = hdr_len;
      ctrl.wire_bytes = len;
    } else {
      if (opcode != kWsContinuation) {
        in_msg = true;
        msg = WsMessage{};
        msg.opcode = opcode;
        msg.compressed = rsv1;
        msg.first_ts_ns = hdr_ts;
      }
      ++msg.frames;
      msg.frame_header_bytes += hdr_len;
    }
    hdr_len = 0;  // the header is accounted for in the frame
    if (remaining == 0) end_frame(ts, out);
  }

  // Takes header bytes from d; returns how many it used.
  size_t header_bytes(std::string_view d, uint64_t ts, std::vector<WsMessage>& out) {
    if (hdr_len == 0) hdr_ts = ts;
    size_t used = 0;
    while (used < d.size() && hdr_len < hdr_need) {
      hdr[hdr_len++] = static_cast<uint8_t>(d[used++]);
      if (hdr_len == 2) {
        if (std::string bad = check_start(); !bad.empty()) {
          fail(bad, out);
          return used;
        }
        fin = hdr[0] & 0x80;
        rsv1 = hdr[0] & 0x40;
        opcode = hdr[0] & 0x0f;
        masked = hdr[1] & 0x80;
        uint8_t len7 = hdr[1] & 0x7f;
        hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
      }
    }
    if (hdr_len == hdr_need) start_frame(ts, out);
    return used;
  }

  void feed(std::string_view d, uint64_t ts, std::vector<WsMessage>& out) {
    while (!d.empty()) {
      switch (state) {
        case State::Lost:
          skipped += d.size();
          return;
        case State::Header:
          d.remove_prefix(header_bytes(d, ts, out));
          break;
        case State::Payload: {
          size_t n = static_cast<size_t>(std::min<uint64_t>(remaining, d.size()));
          payload_bytes(d.data(), n);
          d.remove_prefix(n);
          if (is_control(opcode))
            ctrl.last_ts_ns = ts;
          else
            msg.last_ts_ns = ts;
          if (remaining == 0) end_frame(ts, out);
          break;
        }
      }
    }
  }

  void gap(uint64_t n, std::vector<WsMessage>& out) {
    if (n == 0) return;
    if (state == State::Lost) return;  // lost bytes are counted by the capture, not here
    std::string why = "capture gap of " + std::to_string(n) + " bytes";
    if (state != State::Payload || n > remaining) {
      lose(why, out);
      return;
    }
    // Inside a payload: the frame still ends where its header said.
    ++resumed;
    remaining -= n;
    pos += n;
    if (is_control(opcode)) {
      if (ctrl.error.empty()) ctrl.error = why;
    } else {
      msg.wire_bytes += n;
      if (msg.compressed)
        undecodable(why);
      else if (msg.error.empty())
        msg.error = why;
    }
    if (remaining == 0) end_frame(is_control(opcode) ? ctrl.last_ts_ns : msg.last_ts_ns, out);
  }

  void finish(uint64_t ts, std::vector<WsMessage>& out) {
    if (state == State::Lost) return;
    abort_message("connection closed", out);
    skipped += hdr_len;  // a header cut short (a cut control frame is dropped)
    hdr_len = 0;
    hdr_need = 2;
    state = State::Header;
  }
};

WsFrameParser::WsFrameParser(Options opts) : impl_(std::make_unique<Impl>(opts)) {}
WsFrameParser::~WsFrameParser() = default;
void WsFrameParser::feed(std::string_view data, uint64_t ts_ns, std::vector<WsMessage>& out) {
  impl_->feed(data, ts_ns, out);
}
void WsFrameParser::gap(uint64_t n, std::vector<WsMessage>& out) { impl_->gap(n, out); }
void WsFrameParser::finish(uint64_t ts_ns, std::vector<WsMessage>& out) { impl_->finish(ts_ns, out); }
uint64_t WsFrameParser::bytes_skipped() const { return impl_->skipped; }
uint64_t WsFrameParser::errors() const { return impl_->errors; }
uint64_t WsFrameParser::bytes_dropped() const { return impl_->dropped; }
uint64_t WsFrameParser::resumes() const { return impl_->resumed; }
uint64_t WsFrameParser::decode_limit_hits() const { return impl_->limit_hits; }
bool WsFrameParser::lost() const { return impl_->state == Impl::State::Lost; }
bool WsFrameParser::in_message() const { return impl_->in_msg && impl_->state != Impl::State::Lost; }

// ---- session -------------------------------------------------------------------------

WebSocketSession::WebSocketSession(const WsDeflate& deflate, int client_dir, size_t max_message,
                                   std::unique_ptr<WsMessageHandler> handler)
    : client_dir_(client_dir & 1), handler_(std::move(handler)) {
  WsFrameParser::Options client{deflate.enabled, deflate.client_no_context_takeover,
                                deflate.client_max_window_bits, max_message};
  WsFrameParser::Options server{deflate.enabled, deflate.server_no_context_takeover,
                                deflate.server_max_window_bits, max_message};
  parser_[client_dir_] = std::make_unique<WsFrameParser>(client);
  parser_[client_dir_ ^ 1] = std::make_unique<WsFrameParser>(server);
}

WebSocketSession::~WebSocketSession() = default;

void WebSocketSession::deliver(int dir, std::vector<WsMessage>& msgs) {
  bool client_open = parser_[client_dir_]->in_message();
  for (auto& m : msgs) {
    m.from_client = dir == client_dir_;
    if (!m.from_client && client_open)
      waiting_.push_back(std::move(m));
    else
      hand(std::move(m));
  }
  msgs.clear();
  if (client_open || waiting_.empty()) return;
  std::vector<WsMessage> ready = std::move(waiting_);
  waiting_.clear();
  for (auto& m : ready) hand(std::move(m));
}

void WebSocketSession::hand(WsMessage&& m) {
  ++messages_;
  if (handler_) handler_->on_message(std::move(m));
}

void WebSocketSession::on_bytes(int dir, std::string_view data, uint64_t ts_ns) {
  if (closed_) return;
  std::vector<WsMessage> msgs;
  parser_[dir & 1]->feed(data, ts_ns, msgs);
  deliver(dir & 1, msgs);
}

void WebSocketSession::on_gap(int dir, uint64_t bytes, uint64_t ts_ns) {
  if (closed_) return;
  std::vector<WsMessage> msgs;
  parser_[dir & 1]->gap(bytes, msgs);
  deliver(dir & 1, msgs);
}

void WebSocketSession::on_close(uint64_t ts_ns) {
  if (closed_) return;
  closed_ = true;
  for (int dir : {client_dir_, client_dir_ ^ 1}) {
    std::vector<WsMessage> msgs;
    parser_[dir]->finish(ts_ns, msgs);
    deliver(dir, msgs);
  }
  if (handler_) handler_->on_end(ts_ns);
}

uint64_t WebSocketSession::bytes_unparsed() const {
  return parser_[0]->bytes_skipped() + parser_[1]->bytes_skipped();
}

uint64_t WebSocketSession::parse_errors() const { return parser_[0]->errors() + parser_[1]->errors(); }

uint64_t WebSocketSession::gap_resyncs() const { return parser_[0]->resumes() + parser_[1]->resumes(); }

uint64_t WebSocketSession::decode_limit_hits() const {
  return parser_[0]->decode_limit_hits() + parser_[1]->decode_limit_hits();
}

}  // namespace tt::protocol
