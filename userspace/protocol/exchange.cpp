#include "protocol/exchange.h"

#include <utility>

#include "protocol/http2.h"
#include "protocol/midstream.h"
#include "protocol/ws_responses.h"
#include "tlstap.h"

namespace tt::protocol {

namespace {

constexpr size_t kRoleProbeBytes = 16;
constexpr std::string_view kH2Preface = kHttp2Preface.substr(0, kRoleProbeBytes);
// First bytes that start no message are kept this long while the other side
// is silent (a traced server's SETTINGS before the client's preface it answers).
constexpr size_t kProbeHold = 4096;
// How far into a connection a message start is looked for (at call starts
// only: a few byte compares per call, nothing buffered). Past it, give up.
constexpr uint64_t kScanLimit = 16u << 20;

enum class Start { Wait, No, Http2, Request, Response };

// What the bytes a direction sent from some point on begin with.
Start classify(std::string_view p) {
  if (p.empty()) return Start::Wait;
  std::string_view head = p.substr(0, std::min(p.size(), kH2Preface.size()));
  if (kH2Preface.substr(0, head.size()) == head) return head.size() == kH2Preface.size() ? Start::Http2 : Start::Wait;
  if (looks_like_http1_start(p, Http1Parser::Kind::Request)) return Start::Request;
  if (looks_like_http1_start(p, Http1Parser::Kind::Response)) return Start::Response;
  return Start::No;
}

// What a call that starts no HTTP/1.x message may be, from its framing alone.
SessionStats::Undecodable recognise(std::string_view call) {
  if (looks_like_h2_frames(call)) return SessionStats::Undecodable::Http2;
  if (looks_like_ws_frames(call, true) || looks_like_ws_frames(call, false)) return SessionStats::Undecodable::WebSocket;
  return SessionStats::Undecodable::No;
}

}  // namespace

Http1Session::Http1Session(const stream::ConnInfo& info, size_t max_body, ExchangeFn on_exchange,
                           CloseFn on_close, RequestFn on_request)
    : info_(info),
      max_body_(max_body),
      on_exchange_(std::move(on_exchange)),
      on_close_(std::move(on_close)),
      on_request_(std::move(on_request)),
      pairing_([this](Exchange&& ex) { hand_on(std::move(ex)); }) {}

Http1Session::~Http1Session() {
  if (!closed_) on_close(info_.last_ts_ns);
}

int Http1Session::request_dir() const { return role_ == Role::Server ? TT_DIR_READ : TT_DIR_WRITE; }

void Http1Session::on_call_start(int dir) { call_start_[dir & 1] = true; }

// ---- roles ---------------------------------------------------------------------

// Bytes while the roles are unknown. A direction whose bytes start no message
// is mid-stream: skipped, and looked at again at its next call start.
void Http1Session::probe(int dir, std::string_view data, uint64_t ts_ns, bool call_start) {
  Probe& p = probe_[dir];
  if (p.bytes.empty()) {
    if (p.dropped && !call_start) {
      stats_.bytes_unparsed += data.size();
      scanned_ += data.size();
      if (scanned_ > kScanLimit) give_up();
      return;
    }
    p.at_call = call_start;
  }
  p.bytes.append(data);
  p.pieces.emplace_back(data.size(), ts_ns);
  decide_role(false);
  if (role_ != Role::Unknown && role_ != Role::NotHttp && role_ != Role::Undecodable) start_parsers();
}

void Http1Session::decide_role(bool closing) {
  Start st[2] = {classify(probe_[0].bytes), classify(probe_[1].bytes)};
  auto on = [&](Start s, int dir) { return st[dir] == s; };
  if (on(Start::Http2, TT_DIR_WRITE) || on(Start::Http2, TT_DIR_READ))
    role_ = Role::Http2;
  else if (on(Start::Request, TT_DIR_WRITE) || on(Start::Response, TT_DIR_READ))
    role_ = Role::Client;
  else if (on(Start::Request, TT_DIR_READ) || on(Start::Response, TT_DIR_WRITE))
    role_ = Role::Server;
  if (role_ != Role::Unknown) return;
  for (int d : {TT_DIR_WRITE, TT_DIR_READ}) {
    // The other side said something that is no connection preface either.
    bool other_spoke = probe_[d ^ 1].dropped || st[d ^ 1] == Start::No;
    if (st[d] == Start::No && (closing || probe_[d].dropped || other_spoke || probe_[d].bytes.size() > kProbeHold))
      skip_probe(d);
    if (role_ != Role::Unknown) return;
  }
  if (closing) give_up();
}

// The bytes held for direction d start no message: recognised as HTTP/2 or
// WebSocket frames (not decodable from here), or skipped.
void Http1Session::skip_probe(int d) {
  Probe& p = probe_[d];
  if (p.at_call) stats_.undecodable = recognise(p.bytes);
  stats_.bytes_unparsed += p.bytes.size();
  scanned_ += p.bytes.size();
  p.bytes.clear();
  p.pieces.clear();
  p.dropped = true;
  if (stats_.undecodable != SessionStats::Undecodable::No)
    stop_probing(Role::Undecodable);
  else if (scanned_ > kScanLimit)
    give_up();
}

// No message start was found: not HTTP, unless the connection was known (or
// lost bytes) from before its first byte: then it is undecodable, not "not HTTP".
void Http1Session::give_up() {
  bool start_unseen = info_.midstream || probe_[0].lead_gap || probe_[1].lead_gap;
  if (start_unseen) stats_.undecodable = SessionStats::Undecodable::Unknown;
  stats_.non_http = !start_unseen;
  stop_probing(start_unseen ? Role::Undecodable : Role::NotHttp);
}

// Nothing of the connection will be decoded: what is held is unparsed.
void Http1Session::stop_probing(Role r) {
  role_ = r;
  for (Probe& p : probe_) {
    stats_.bytes_unparsed += p.bytes.size();
    p.bytes.clear();
    p.pieces.clear();
  }
}

void Http1Session::start_parsers() {
  if (role_ == Role::Http2) {
    h2_ = std::make_unique<Http2Session>(info_, max_body_, on_exchange_, on_close_, on_request_);
    replay_probe(TT_DIR_WRITE, *h2_);
    replay_probe(TT_DIR_READ, *h2_);
    return;
  }
  req_parser_.emplace(Http1Parser::Kind::Request, max_body_);
  resp_parser_.emplace(Http1Parser::Kind::Response, max_body_);
  // A side whose first bytes start no message, with no gap to explain it, joined
  // mid-stream: its parser looks for the next message start.
  bool mid[2];
  for (int d : {0, 1}) {
    const Probe& p = probe_[d];
    mid[d] = !p.lead_gap && (p.dropped || classify(p.bytes) == Start::No);
  }
  stats_.midstream = mid[0] || mid[1];
  // The answer in flight when capture began has no request to go with.
  if (stats_.midstream || info_.midstream) pairing_.skip_responses_before_first_request();
  // Requests first so the response parser knows the methods.
  for (int d : {request_dir(), request_dir() ^ 1}) {
    if (mid[d]) (d == request_dir() ? req_parser_ : resp_parser_)->resync();
    replay_probe(d, *this);
  }
}

// What direction d held while the roles were unknown: its lead gap, then each
// piece with its timestamp.
void Http1Session::replay_probe(int d, stream::StreamConsumer& to) {
  Probe p = std::move(probe_[d]);
  probe_[d] = Probe{};
  if (p.lead_gap) to.on_gap(d, p.lead_gap, 0);
  size_t off = 0;
  for (auto [len, ts] : p.pieces) {
    to.on_bytes(d, std::string_view(p.bytes).substr(off, len), ts);
    off += len;
  }
}

// ---- bytes ---------------------------------------------------------------------

void Http1Session::on_bytes(int dir, std::string_view data, uint64_t ts_ns) {
  bool call_start = std::exchange(call_start_[dir & 1], false);
  switch (role_) {
    case Role::Unknown:
      return probe(dir, data, ts_ns, call_start);
    case Role::NotHttp:
    case Role::Undecodable:
      stats_.bytes_unparsed += data.size();
      return;
    case Role::Http2:
      return h2_->on_bytes(dir, data, ts_ns);
    default:
      break;
  }
  if (ws_) return ws_->on_bytes(dir, data, ts_ns);
  // The request side went on with nothing lost: a pairing waiting on that stands.
  if (dir == request_dir()) pairing_.on_request_side(false, false);
  feed(dir, data, ts_ns);
}

void Http1Session::feed(int dir, std::string_view data, uint64_t ts_ns) {
  std::vector<HttpMessage> msgs;
  if (dir == request_dir()) {
    req_parser_->feed(data, ts_ns, msgs);
    drain_requests(msgs);
  } else {
    resp_parser_->feed(data, ts_ns, msgs);
    drain_responses(msgs);
  }
}

void Http1Session::drain_requests(std::vector<HttpMessage>& msgs) {
  for (auto& m : msgs) {
    resp_parser_->push_request_method(m.method);
    if (on_request_) on_request_(m, info_);
    pairing_.on_request(std::move(m));
    if (ws_) return;
  }
}

void Http1Session::drain_responses(std::vector<HttpMessage>& msgs) {
  for (auto& m : msgs) {
    pairing_.on_response(std::move(m), req_parser_->open_message_since());
    if (ws_) return;
    settle_switch();
  }
}

// Every exchange goes on from here. The upgrade request and its 101 are an
// exchange of their own; then the rest of the connection, both ways, is WebSocket.
void Http1Session::hand_on(Exchange&& ex) {
  ex.server_side = role_ == Role::Server;
  bool websocket = ex.response && ex.response->status == 101 && resp_parser_ && resp_parser_->holding() &&
                   is_websocket_upgrade(ex.request);
  if (!websocket) return on_exchange_(std::move(ex), info_);
  Exchange upgrade = ex;
  on_exchange_(std::move(ex), info_);
  switch_to_websocket(upgrade.request, *upgrade.response);
}

// After the answer to an upgrade request or a CONNECT, what the parsers hold is HTTP
// again if the server did not switch, and skipped if it switched to something we
// do not decode.
void Http1Session::settle_switch() {
  if (resp_parser_->holding()) {
    resp_parser_->discard_held();
    req_parser_->discard_held();
  } else if (req_parser_->holding() && pairing_.waiting_requests() == 0) {
    std::vector<HttpMessage> msgs;
    req_parser_->resume(msgs);
    drain_requests(msgs);
  }
}

void Http1Session::switch_to_websocket(const HttpMessage& request, const HttpMessage& response) {
  int rd = request_dir();
  bool server_side = role_ == Role::Server;
  ws_ = start_websocket(request, response, rd, max_body_, [this, server_side](Exchange&& ex) {
    ex.sequence = pairing_.next_sequence();
    ex.server_side = server_side;
    on_exchange_(std::move(ex), info_);
  });
  // What followed the upgrade in the same reads and writes; the client's first, as
  // its messages come before the answers to them.
  for (int dir : {rd, rd ^ 1}) {
    for (auto& h : (dir == rd ? req_parser_ : resp_parser_)->take_held()) {
      if (h.lost_before) ws_->on_gap(dir, h.lost_before, h.ts_ns);
      if (!h.data.empty()) ws_->on_bytes(dir, h.data, h.ts_ns);
    }
  }
}

// ---- gaps and the end ------------------------------------------------------------

void Http1Session::on_gap(int dir, uint64_t bytes, uint64_t ts_ns) {
  switch (role_) {
    case Role::Unknown: {
      // Bytes held before a gap cannot be joined with those after it.
      if (!probe_[dir].bytes.empty()) skip_probe(dir);
      probe_[dir].lead_gap += bytes;
      return;
    }
    case Role::NotHttp:
    case Role::Undecodable:
      return;
    case Role::Http2:
      return h2_->on_gap(dir, bytes, ts_ns);
    default:
      break;
  }
  if (ws_) return ws_->on_gap(dir, bytes, ts_ns);
  std::vector<HttpMessage> msgs;
  if (dir == request_dir()) {
    bool framed = req_parser_->gap(bytes, msgs);
    drain_requests(msgs);
    pairing_.on_request_side(true, !framed);
  } else {
    bool framed = resp_parser_->gap(bytes, msgs);
    drain_responses(msgs);
    pairing_.on_response_gap(!framed);
  }
}

void Http1Session::on_close(uint64_t ts_ns) {
  if (closed_) return;
  closed_ = true;
  if (role_ == Role::Unknown) {
    decide_role(true);  // too little was said to be sure; a short request is still worth a try
    if (role_ != Role::NotHttp && role_ != Role::Undecodable) start_parsers();
  }
  if (h2_) return h2_->on_close(ts_ns);  // it reports the connection's stats
  if (ws_) {
    ws_->on_close(ts_ns);
    stats_.bytes_unparsed += ws_->bytes_unparsed();
    stats_.parse_errors += ws_->parse_errors();
    stats_.gap_resyncs += ws_->gap_resyncs();
    stats_.decode_limit_hits += ws_->decode_limit_hits();
  }
  if (req_parser_) finish_http1(ts_ns);
  on_close_(info_, stats_);
}

void Http1Session::finish_http1(uint64_t ts_ns) {
  std::vector<HttpMessage> msgs;
  req_parser_->finish(ts_ns, msgs);
  drain_requests(msgs);
  msgs.clear();
  resp_parser_->finish(ts_ns, msgs);
  drain_responses(msgs);
  pairing_.finish();  // requests that never got a response are still reported, incomplete
  stats_.bytes_unparsed += req_parser_->bytes_skipped() + resp_parser_->bytes_skipped() + pairing_.skipped_bytes();
  stats_.parse_errors += req_parser_->parse_errors() + resp_parser_->parse_errors();
  stats_.gap_resyncs += req_parser_->resumes() + resp_parser_->resumes();
  if (pairing_.skipped_responses()) stats_.midstream = true;
}

}  // namespace tt::protocol
