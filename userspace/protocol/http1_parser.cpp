// HTTP/1.x on top of nodejs http-parser.
//
// Every message start passes our own start-line check (match_start_line) before
// http-parser sees it. That one path handles the first message, the bytes between
// keep-alive messages and recovery after errors and gaps, and because it wants the
// whole line (through " HTTP/1.x"), text inside a body such as "... POST /v1 ..."
// is not taken for a message when resynchronising after a gap.
//
// http-parser gets a fresh state per message: it cannot continue after an error, and
// after a "Connection: close" message it refuses further input. Callbacks pause the
// parser at the end of the headers (to learn header_bytes exactly) and at the end of
// the message (to hand the rest of the input back to the start-line check).
#include "protocol/http1_parser.h"

#include <http_parser.h>

#include <algorithm>
#include <deque>
#include <string>
#include <utility>

namespace tt::protocol {
namespace {

enum class Match { No, Maybe, Yes };

constexpr std::string_view kMethods[] = {
#define XX(num, name, string) #string,
    HTTP_METHOD_MAP(XX)
#undef XX
};

constexpr std::string_view kVersionPrefix = "HTTP/1.";

// A start line longer than this (line end included) is not believed.
constexpr size_t kMaxStartLine = 16 * 1024;

// Bytes held after a protocol switch until the caller takes them (see holding()).
constexpr size_t kMaxHeld = 1 << 20;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_target_char(char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; }
bool is_reason_char(char c) { return c == '\t' || is_target_char(c) || c == ' '; }

// "METHOD SP" (end = its length) or "HTTP/1." (end = 7). Maybe when d is a proper
// prefix of one.
Match match_token(std::string_view d, Http1Parser::Kind kind, size_t& end) {
  if (kind == Http1Parser::Kind::Response) {
    size_t n = std::min(d.size(), kVersionPrefix.size());
    if (d.substr(0, n) != kVersionPrefix.substr(0, n)) return Match::No;
    end = kVersionPrefix.size();
    return n == kVersionPrefix.size() ? Match::Yes : Match::Maybe;
  }
  if (d.empty() || d[0] < 'A' || d[0] > 'Z') return Match::No;
  bool maybe = false;
  for (std::string_view m : kMethods) {
    if (m[0] != d[0]) continue;
    if (d.size() > m.size()) {
      if (d.substr(0, m.size()) == m && d[m.size()] == ' ') {
        end = m.size() + 1;
        return Match::Yes;
      }
    } else if (m.substr(0, d.size()) == d) {
      maybe = true;
    }
  }
  return maybe ? Match::Maybe : Match::No;
}

// The whole start line: "METHOD SP target SP HTTP/1.d" or "HTTP/1.d SP ddd [SP reason]",
// ended by CRLF or LF.
Match match_start_line(std::string_view d, Http1Parser::Kind kind) {
  size_t i = 0;
  if (Match m = match_token(d, kind, i); m != Match::Yes) return m;
  if (d.size() > kMaxStartLine) d = d.substr(0, kMaxStartLine);
  // Maybe while the data runs out before the limit; past the limit the line is refused.
  const Match out_of_data = d.size() == kMaxStartLine ? Match::No : Match::Maybe;
  auto digit = [&]() -> Match {
    if (i == d.size()) return out_of_data;
    return is_digit(d[i]) ? (++i, Match::Yes) : Match::No;
  };
  auto literal = [&](std::string_view s) -> Match {
    size_t n = std::min(s.size(), d.size() - i);
    if (d.substr(i, n) != s.substr(0, n)) return Match::No;
    if (n < s.size()) return out_of_data;
    i += n;
    return Match::Yes;
  };
  auto line_end = [&]() -> Match {
    if (i == d.size()) return out_of_data;
    if (d[i] == '\n') return Match::Yes;
    if (d[i] != '\r') return Match::No;
    if (i + 1 == d.size()) return out_of_data;
    return d[i + 1] == '\n' ? Match::Yes : Match::No;
  };
  Match m;
  if (kind == Http1Parser::Kind::Request) {
    size_t target = i;
    while (i < d.size() && is_target_char(d[i])) ++i;
    if (i == d.size()) return out_of_data;
    if (i == target) return Match::No;
    if ((m = literal(" HTTP/1.")) != Match::Yes) return m;
    if ((m = digit()) != Match::Yes) return m;
    return line_end();
  }
  if ((m = digit()) != Match::Yes) return m;
  if ((m = literal(" ")) != Match::Yes) return m;
  for (int k = 0; k < 3; ++k)
    if ((m = digit()) != Match::Yes) return m;
  if (i < d.size() && d[i] == ' ') {
    while (i < d.size() && is_reason_char(d[i])) ++i;
  }
  return line_end();
}

}  // namespace

bool looks_like_http1_start(std::string_view data, Http1Parser::Kind kind) {
  if (data.empty()) return false;
  size_t end = 0;
  Match m = match_token(data, kind, end);
  if (m != Match::Yes || kind == Http1Parser::Kind::Response) return m != Match::No;
  // A request also needs the first character of its target, when there is one.
  return end == data.size() || is_target_char(data[end]);
}

struct Http1Parser::Impl {
  // Boundary: a message start is expected; anything else is a parse error.
  // Resync: looking for a message start after an error or a gap; skipped bytes are
  //         not errors.
  // Parse: http-parser is inside a message.
  // Held: after an upgrade request, 101 Switching Protocols or a CONNECT: bytes are
  //       kept for the caller (holding()), who decides what they are.
  // Tunnel: the caller took or discarded them: nothing is HTTP/1.x any more.
  enum class State { Boundary, Resync, Parse, Held, Tunnel };

  Kind kind;
  size_t max_body;
  State state = State::Boundary;
  http_parser hp{};
  http_parser_settings settings{};

  // A start line not yet complete enough to judge, and the timestamps of the feeds
  // it came in: (offset into hold, ts) per piece.
  std::string hold;
  std::vector<std::pair<size_t, uint64_t>> hold_ts;

  HttpMessage cur;
  uint64_t msg_bytes = 0;  // bytes of cur consumed by http-parser
  bool headers_done = false;
  bool in_field = false;       // last header callback was a field name
  bool headers_paused = false; // the pause came from on_headers_complete
  bool complete = false;
  bool interim = false;        // 1xx other than 101: consumed, never emitted
  bool tunnel_after = false;

  std::deque<std::string> methods;  // requests awaiting their responses
  std::vector<Http1Parser::Held> held;
  size_t held_bytes = 0;
  uint64_t held_over = 0;  // held beyond kMaxHeld: dropped
  uint64_t skipped = 0;
  uint64_t errors = 0;
  uint64_t resumed = 0;
  bool after_gap = false;  // resyncing after a gap: the next message start resumes decoding
  bool filling = false;    // stand-in bytes for a hole in the body are being fed

  Impl(Kind k, size_t max) : kind(k), max_body(max) {
    http_parser_settings_init(&settings);
    settings.on_url = on_url;
    settings.on_status = on_status;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
  }

  static Impl& self(http_parser* p) { return *static_cast<Impl*>(p->data); }

  static int on_url(http_parser* p, const char* at, size_t len) {
    Impl& s = self(p);
    if (s.cur.method.empty()) s.cur.method = http_method_str(static_cast<http_method>(p->method));
    s.cur.target.append(at, len);
    return 0;
  }
  static int on_status(http_parser* p, const char* at, size_t len) {
    self(p).cur.reason.append(at, len);
    return 0;
  }
  static int on_header_field(http_parser* p, const char* at, size_t len) {
    Impl& s = self(p);
    if (s.headers_done) return 0;  // trailer: counted as framing, not kept
    if (!s.in_field) {
      s.trim_last_value();
      s.cur.headers.emplace_back();
      s.in_field = true;
    }
    s.cur.headers.back().name.append(at, len);
    return 0;
  }
  static int on_header_value(http_parser* p, const char* at, size_t len) {
    Impl& s = self(p);
    if (s.headers_done || s.cur.headers.empty()) return 0;
    s.in_field = false;
    s.cur.headers.back().value.append(at, len);
    return 0;
  }
  static int on_headers_complete(http_parser* p) {
    Impl& s = self(p);
    s.trim_last_value();
    s.headers_done = true;
    int skip_body = 0;
    if (s.kind == Kind::Response) {
      unsigned st = p->status_code;
      if (st / 100 == 1 && st != 101) {
        s.interim = true;
        skip_body = 1;
      } else {
        std::string method;
        if (!s.methods.empty()) {
          method = std::move(s.methods.front());
          s.methods.pop_front();
        }
        s.tunnel_after = st == 101 || (method == "CONNECT" && st / 100 == 2);
        if (s.tunnel_after || method == "HEAD" || st == 204 || st == 304) skip_body = 1;
      }
    }
    s.headers_paused = true;
    http_parser_pause(p, 1);
    return skip_body;
  }
  static int on_body(http_parser* p, const char* at, size_t len) {
    Impl& s = self(p);
    if (s.filling)
      s.cur.lose_body(len);
    else
      s.cur.append_body(std::string_view(at, len), s.max_body);
    return 0;
  }
  static int on_message_complete(http_parser* p) {
    self(p).complete = true;
    http_parser_pause(p, 1);
    return 0;
  }

  // http-parser keeps trailing whitespace of a value; RFC 9110 excludes it.
  void trim_last_value() {
    if (cur.headers.empty()) return;
    std::string& v = cur.headers.back().value;
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
  }

  void begin_message(uint64_t first_ts) {
    if (std::exchange(after_gap, false)) ++resumed;
    http_parser_init(&hp, kind == Kind::Request ? HTTP_REQUEST : HTTP_RESPONSE);
    hp.data = this;
    hp.allow_chunked_length = 1;  // chunked wins over Content-Length (RFC 9112 6.3)
    cur = HttpMessage{};
    cur.is_request = kind == Kind::Request;
    cur.first_ts_ns = cur.last_ts_ns = first_ts;
    msg_bytes = 0;
    headers_done = in_field = headers_paused = complete = interim = tunnel_after = false;
    state = State::Parse;
  }

  void fill_start_line() {
    if (hp.http_major || hp.http_minor) {
      cur.http_major = hp.http_major;
      cur.http_minor = hp.http_minor;
    }
    if (kind == Kind::Response) cur.status = static_cast<int>(hp.status_code);
  }

  void end_message(std::vector<HttpMessage>& out) {
    // After an upgrade request the server may or may not switch: the caller says.
    state = tunnel_after || (kind == Kind::Request && hp.upgrade != 0) ? State::Held : State::Boundary;
    if (interim) return;
    fill_start_line();
    cur.complete = cur.body_lost == 0;  // framing ended it, but a hole is a hole
    cur.framing_bytes = msg_bytes - cur.header_bytes - cur.body_wire_bytes;
    out.push_back(std::move(cur));
  }

  // Emits the message in progress, if it got any bytes, as incomplete.
  void abort_message(std::string error, std::vector<HttpMessage>& out) {
    state = State::Resync;
    if (msg_bytes == 0) return;
    fill_start_line();
    if (headers_done)
      cur.framing_bytes = msg_bytes - cur.header_bytes - cur.body_wire_bytes;
    else
      cur.header_bytes = msg_bytes;  // the part of the head that arrived
    cur.error = std::move(error);
    out.push_back(std::move(cur));
  }

  size_t parse(std::string_view d, uint64_t ts, std::vector<HttpMessage>& out) {
    size_t n = http_parser_execute(&hp, &settings, d.data(), d.size());
    http_errno err = HTTP_PARSER_ERRNO(&hp);
    if (err == HPE_PAUSED) {
      http_parser_pause(&hp, 0);
      msg_bytes += n;
      cur.last_ts_ns = ts;
      if (headers_paused) {
        // Paused on the final LF of the head, which the next execute re-reads.
        headers_paused = false;
        cur.header_bytes = msg_bytes + 1;
        return n;
      }
      end_message(out);
      return n;
    }
    msg_bytes += n;
    if (n > 0) cur.last_ts_ns = ts;
    if (err == HPE_OK && n == d.size()) return n;
    ++errors;
    bool consumed_nothing = msg_bytes == 0;
    // HPE_OK with input left over would be an early stop (upgrade); we pause before those.
    abort_message(std::string("parse error: ") + (err == HPE_OK ? "parser stopped" : http_errno_description(err)), out);
    if (consumed_nothing) {  // make progress: the byte is not a message start after all
      ++skipped;
      return 1;
    }
    return n;
  }

  void hold_bytes(std::string_view d, uint64_t ts) {
    size_t keep = std::min(d.size(), kMaxHeld - held_bytes);
    if (keep) held.push_back({0, std::string(d.substr(0, keep)), ts});
    held_bytes += keep;
    if (keep < d.size()) {
      held.push_back({d.size() - keep, {}, ts});
      held_over += d.size() - keep;
    }
  }

  std::vector<Http1Parser::Held> release_held(State next) {
    state = next;
    skipped += held_over;
    held_bytes = 0;
    held_over = 0;
    return std::exchange(held, {});
  }

  bool skip_blank(char c) const { return state == State::Boundary && (c == '\r' || c == '\n'); }

  void reject_byte() {
    if (state == State::Boundary) {
      ++errors;
      state = State::Resync;
    }
    ++skipped;
  }

  uint64_t hold_ts_at(size_t i) const {
    uint64_t ts = 0;
    for (auto [off, t] : hold_ts) {
      if (off > i) break;
      ts = t;
    }
    return ts;
  }

  void clear_hold() {
    hold.clear();
    hold_ts.clear();
  }

  void drop_hold_front(size_t i) {
    std::vector<std::pair<size_t, uint64_t>> pieces{{0, hold_ts_at(i)}};
    for (auto [off, t] : hold_ts)
      if (off > i) pieces.emplace_back(off - i, t);
    hold.erase(0, i);
    hold_ts = std::move(pieces);
  }

  // Feeds the held bytes from i on, each piece with its own timestamp.
  void replay_hold(size_t i, std::vector<HttpMessage>& out) {
    std::string h = std::move(hold);
    auto pieces = std::move(hold_ts);
    clear_hold();
    for (size_t k = 0; k < pieces.size(); ++k) {
      size_t b = std::max(pieces[k].first, i);
      size_t e = k + 1 < pieces.size() ? pieces[k + 1].first : h.size();
      if (b < e) process(std::string_view(h).substr(b, e - b), pieces[k].second, out);
    }
  }

  // Looks for a message start; returns the bytes of d used (skipped or held).
  size_t seek(std::string_view d, uint64_t ts, std::vector<HttpMessage>& out) {
    if (!hold.empty()) {
      std::string win = hold;
      win.append(d.substr(0, kMaxStartLine));
      for (size_t i = 0; i < hold.size(); ++i) {
        if (skip_blank(win[i])) continue;
        Match m = match_start_line(std::string_view(win).substr(i), kind);
        if (m == Match::Yes) {
          begin_message(hold_ts_at(i));
          replay_hold(i, out);
          return 0;
        }
        if (m == Match::Maybe) {
          drop_hold_front(i);
          hold_ts.emplace_back(hold.size(), ts);
          hold.append(d);
          return d.size();
        }
        reject_byte();
      }
      clear_hold();
    }
    for (size_t i = 0; i < d.size(); ++i) {
      if (skip_blank(d[i])) continue;
      Match m = match_start_line(d.substr(i), kind);
      if (m == Match::Yes) {
        begin_message(ts);
        return i;
      }
      if (m == Match::Maybe) {
        hold.assign(d.substr(i));
        hold_ts.assign({{0, ts}});
        return d.size();
      }
      reject_byte();
    }
    return d.size();
  }

  void process(std::string_view d, uint64_t ts, std::vector<HttpMessage>& out) {
    while (!d.empty()) {
      size_t n;
      switch (state) {
        case State::Parse:
          n = parse(d, ts, out);
          break;
        case State::Held:
          hold_bytes(d, ts);
          n = d.size();
          break;
        case State::Tunnel:
          skipped += d.size();
          n = d.size();
          break;
        default:
          n = seek(d, ts, out);
          break;
      }
      d.remove_prefix(n);
    }
  }

  // If the next byte would be body data (a Content-Length body, a chunk's data, a
  // body that runs to the close), how many more the body or chunk takes
  // (ULLONG_MAX: until the close); else 0. Asked of a copy of the parser state.
  uint64_t body_room() const {
    if (state != State::Parse || !headers_done) return 0;
    http_parser probe = hp;
    bool body = false;
    probe.data = &body;
    http_parser_settings only_body;
    http_parser_settings_init(&only_body);
    only_body.on_body = [](http_parser* p, const char*, size_t) {
      *static_cast<bool*>(p->data) = true;
      return 0;
    };
    char c = 0;
    http_parser_execute(&probe, &only_body, &c, 1);
    return body ? hp.content_length : 0;
  }

  // A gap of n bytes inside the body: stand-in bytes go through http-parser so
  // its framing state moves on exactly (counted as lost, never kept). Returns
  // the bytes of the gap beyond the end of the body, or n if it is not in one.
  uint64_t skip_in_body(uint64_t n, std::vector<HttpMessage>& out) {
    static const char kStandIn[64 << 10] = {};
    uint64_t room = body_room();
    // Past a chunk's data the next size line is lost with it: no framing left.
    if (room == 0 || (n > room && (hp.flags & F_CHUNKED))) return n;
    uint64_t left = std::min(n, room);
    if (cur.error.empty()) cur.error = "capture gap of " + std::to_string(left) + " bytes in the body";
    filling = true;
    while (left && state == State::Parse) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(left, sizeof(kStandIn)));
      size_t used = parse(std::string_view(kStandIn, k), cur.last_ts_ns, out);
      if (used == 0) break;
      left -= used;
    }
    filling = false;
    if (n <= room) ++resumed;  // else the resync after the body counts it
    return n - std::min(n, room);
  }

  // A start line cut short by a gap or the end of the connection is still a message.
  void start_held_message(std::vector<HttpMessage>& out) {
    if (state != State::Boundary || hold.empty()) return;
    begin_message(hold_ts.front().second);
    replay_hold(0, out);
  }
};

Http1Parser::Http1Parser(Kind kind, size_t max_body) : impl_(std::make_unique<Impl>(kind, max_body)) {}
Http1Parser::~Http1Parser() = default;

void Http1Parser::feed(std::string_view data, uint64_t ts_ns, std::vector<HttpMessage>& out) {
  impl_->process(data, ts_ns, out);
}

bool Http1Parser::gap(uint64_t n, std::vector<HttpMessage>& out) {
  Impl& s = *impl_;
  if (n == 0) return true;
  if (s.state == Impl::State::Held) {
    s.held.push_back({n, {}, 0});
    return true;
  }
  if (s.state == Impl::State::Tunnel) return true;
  s.start_held_message(out);
  uint64_t left = s.skip_in_body(n, out);
  if (left == 0) return true;
  if (s.state == Impl::State::Parse)
    s.abort_message("capture gap of " + std::to_string(n) + " bytes", out);
  else if (s.state == Impl::State::Boundary)
    s.state = Impl::State::Resync;  // what follows may be the middle of a message
  s.after_gap = true;
  // Held bytes cannot be joined with what comes after the gap.
  s.skipped += s.hold.size();
  s.clear_hold();
  return false;
}

void Http1Parser::resync() {
  if (impl_->state == Impl::State::Boundary && impl_->hold.empty()) impl_->state = Impl::State::Resync;
}

std::optional<uint64_t> Http1Parser::open_message_since() const {
  if (impl_->state == Impl::State::Parse) return impl_->cur.first_ts_ns;
  if (!impl_->hold.empty()) return impl_->hold_ts.front().second;
  return std::nullopt;
}

void Http1Parser::finish(uint64_t ts_ns, std::vector<HttpMessage>& out) {
  Impl& s = *impl_;
  s.start_held_message(out);
  if (s.state == Impl::State::Parse) {
    // Zero bytes tell http-parser the input ended: a close-delimited body completes.
    http_parser_execute(&s.hp, &s.settings, nullptr, 0);
    if (s.complete) {
      s.end_message(out);
    } else {
      s.cur.closed_in_body = s.headers_done;
      s.abort_message("connection closed", out);
    }
  }
  s.skipped += s.hold.size();
  s.clear_hold();
  for (const auto& h : s.release_held(Impl::State::Boundary)) s.skipped += h.data.size();
  s.methods.clear();
  s.state = Impl::State::Boundary;
}

bool Http1Parser::holding() const { return impl_->state == Impl::State::Held; }

std::vector<Http1Parser::Held> Http1Parser::take_held() {
  if (!holding()) return {};
  return impl_->release_held(Impl::State::Tunnel);
}

void Http1Parser::resume(std::vector<HttpMessage>& out) {
  if (!holding()) return;
  for (auto& h : impl_->release_held(Impl::State::Boundary)) {
    if (h.lost_before) gap(h.lost_before, out);
    if (!h.data.empty()) feed(h.data, h.ts_ns, out);
  }
}

void Http1Parser::discard_held() {
  if (!holding()) return;
  for (const auto& h : impl_->release_held(Impl::State::Tunnel)) impl_->skipped += h.data.size();
}

void Http1Parser::push_request_method(std::string_view method) {
  if (impl_->kind == Kind::Response) impl_->methods.emplace_back(method);
}

uint64_t Http1Parser::bytes_skipped() const { return impl_->skipped; }
uint64_t Http1Parser::parse_errors() const { return impl_->errors; }
uint64_t Http1Parser::resumes() const { return impl_->resumed; }

}  // namespace tt::protocol
