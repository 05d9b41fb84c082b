#include "protocol/exchange.h"

#include "protocol/http2.h"
#include "protocol/ws_responses.h"
#include "tlstap.h"

namespace tt::protocol {

static constexpr size_t kRoleProbeBytes = 16;
static constexpr std::string_view kH2Preface = kHttp2Preface.substr(0, kRoleProbeBytes);

Http1Session::Http1Session(const stream::ConnInfo& info, size_t max_body, ExchangeFn on_exchange,
                           CloseFn on_close)
    : info_(info), max_body_(max_body), on_exchange_(std::move(on_exchange)), on_close_(std::move(on_close)) {}

Http1Session::~Http1Session() {
  if (!closed_) on_close(info_.last_ts_ns);
}

int Http1Session::request_dir() const { return role_ == Role::Server ? TT_DIR_READ : TT_DIR_WRITE; }

void Http1Session::decide_role() {
  for (int dir : {TT_DIR_WRITE, TT_DIR_READ}) {
    const std::string& p = pending_[dir];
    if (p.empty()) continue;
    std::string_view head(p.data(), std::min(p.size(), kH2Preface.size()));
    if (kH2Preface.substr(0, head.size()) == head) {
      if (head.size() == kH2Preface.size()) role_ = Role::Http2;
      return;  // else wait for the rest of the preface
    }
    if (looks_like_http1_start(p, Http1Parser::Kind::Request)) {
      role_ = dir == TT_DIR_WRITE ? Role::Client : Role::Server;
      return;
    }
    // Enough bytes and still not a request line: not HTTP/1.x from this side.
    // The other side might be a server answering first (unusual), so only
    // give up once both sides spoke or one side said a lot.
    if (p.size() >= kRoleProbeBytes && !pending_[dir ^ 1].empty()) {
      role_ = Role::NotHttp;
      return;
    }
    if (p.size() >= 4096) {
      role_ = Role::NotHttp;
      return;
    }
  }
}

void Http1Session::start_parsers() {
  if (role_ == Role::Http2) {
    h2_ = std::make_unique<Http2Session>(info_, max_body_, on_exchange_, on_close_);
    replay_pending(TT_DIR_WRITE, *h2_);
    return;
  }
  req_parser_.emplace(Http1Parser::Kind::Request, max_body_);
  resp_parser_.emplace(Http1Parser::Kind::Response, max_body_);
  // Requests first so the response parser knows the methods.
  replay_pending(request_dir(), *this);
}

// The bytes held while the role was unknown, each piece with its timestamp.
void Http1Session::replay_pending(int first_dir, stream::StreamConsumer& to) {
  for (int d : {first_dir, first_dir ^ 1}) {
    if (pending_gap_[d]) to.on_gap(d, pending_gap_[d], 0);
    std::string buf = std::move(pending_[d]);
    pending_[d].clear();
    size_t off = 0;
    for (auto [len, ts] : pending_pieces_[d]) {
      to.on_bytes(d, std::string_view(buf).substr(off, len), ts);
      off += len;
    }
    pending_pieces_[d].clear();
  }
}

void Http1Session::on_bytes(int dir, std::string_view data, uint64_t ts_ns) {
  if (role_ == Role::Unknown) {
    pending_[dir].append(data);
    pending_pieces_[dir].emplace_back(data.size(), ts_ns);
    decide_role();
    if (role_ == Role::Unknown) return;
    if (role_ == Role::NotHttp) {
      stats_.non_http = true;
      stats_.bytes_unparsed += pending_[0].size() + pending_[1].size();
      pending_[0].clear();
      pending_[1].clear();
      return;
    }
    start_parsers();
    return;
  }
  if (role_ == Role::NotHttp) {
    stats_.bytes_unparsed += data.size();
    return;
  }
  if (h2_) return h2_->on_bytes(dir, data, ts_ns);
  if (ws_) return ws_->on_bytes(dir, data, ts_ns);
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
    waiting_.push_back(std::move(m));
  }
}

void Http1Session::drain_responses(std::vector<HttpMessage>& msgs) {
  for (auto& m : msgs) {
    Exchange ex;
    ex.sequence = next_seq_++;
    if (!waiting_.empty()) {
      ex.request = std::move(waiting_.front());
      waiting_.pop_front();
    } else {
      // A response with no request seen (its request was lost in a gap).
      ex.request.complete = false;
      ex.request.error = "request not captured";
    }
    ex.response = std::move(m);
    // The upgrade request and its 101 are an exchange of their own; then the rest of
    // the connection, both ways, is WebSocket.
    bool websocket = resp_parser_->holding() && ex.response->status == 101 && is_websocket_upgrade(ex.request);
    std::optional<Exchange> upgrade;
    if (websocket) upgrade = ex;
    on_exchange_(std::move(ex), info_);
    if (websocket) return switch_to_websocket(upgrade->request, *upgrade->response);
    settle_switch();
  }
}

// After the answer to an upgrade request or a CONNECT, what the parsers hold is HTTP
// again if the server did not switch, and skipped if it switched to something we
// do not decode.
void Http1Session::settle_switch() {
  if (resp_parser_->holding()) {
    resp_parser_->discard_held();
    req_parser_->discard_held();
  } else if (req_parser_->holding() && waiting_.empty()) {
    std::vector<HttpMessage> msgs;
    req_parser_->resume(msgs);
    drain_requests(msgs);
  }
}

void Http1Session::switch_to_websocket(const HttpMessage& request, const HttpMessage& response) {
  int rd = request_dir();
  ws_ = start_websocket(request, response, rd, max_body_, [this](Exchange&& ex) {
    ex.sequence = next_seq_++;
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

void Http1Session::on_gap(int dir, uint64_t bytes, uint64_t ts_ns) {
  if (role_ == Role::Unknown) {
    pending_gap_[dir] += bytes;
    return;
  }
  if (role_ == Role::NotHttp) return;
  if (h2_) return h2_->on_gap(dir, bytes, ts_ns);
  if (ws_) return ws_->on_gap(dir, bytes, ts_ns);
  std::vector<HttpMessage> msgs;
  if (dir == request_dir()) {
    req_parser_->gap(bytes, msgs);
    drain_requests(msgs);
  } else {
    resp_parser_->gap(bytes, msgs);
    drain_responses(msgs);
  }
}

void Http1Session::on_close(uint64_t ts_ns) {
  if (closed_) return;
  closed_ = true;
  if (h2_) return h2_->on_close(ts_ns);  // it reports the connection's stats
  if (role_ == Role::Unknown && (!pending_[TT_DIR_WRITE].empty() || !pending_[TT_DIR_READ].empty())) {
    // Too little was said to be sure; a short request is still worth a try.
    role_ = looks_like_http1_start(pending_[TT_DIR_WRITE], Http1Parser::Kind::Request)  ? Role::Client
            : looks_like_http1_start(pending_[TT_DIR_READ], Http1Parser::Kind::Request) ? Role::Server
                                                                                          : Role::NotHttp;
    if (role_ == Role::NotHttp) {
      stats_.non_http = true;
      stats_.bytes_unparsed += pending_[0].size() + pending_[1].size();
    } else {
      start_parsers();
    }
  }
  if (ws_) {
    ws_->on_close(ts_ns);
    stats_.bytes_unparsed += ws_->bytes_unparsed();
    stats_.parse_errors += ws_->parse_errors();
  }
  if (req_parser_) {
    std::vector<HttpMessage> msgs;
    req_parser_->finish(ts_ns, msgs);
    drain_requests(msgs);
    msgs.clear();
    resp_parser_->finish(ts_ns, msgs);
    drain_responses(msgs);
    stats_.bytes_unparsed += req_parser_->bytes_skipped() + resp_parser_->bytes_skipped();
    stats_.parse_errors += req_parser_->parse_errors() + resp_parser_->parse_errors();
  }
  // Requests that never got a response: still reported, as incomplete.
  while (!waiting_.empty()) {
    Exchange ex;
    ex.sequence = next_seq_++;
    ex.request = std::move(waiting_.front());
    waiting_.pop_front();
    on_exchange_(std::move(ex), info_);
  }
  on_close_(info_, stats_);
}

}  // namespace tt::protocol
