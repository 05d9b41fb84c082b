// HTTP/1.x over one connection: picks the client/server roles from the first
// bytes, runs a request parser on one direction and a response parser on the
// other, and pairs them into exchanges in order. A connection that opens with
// the HTTP/2 preface is handed to an Http2Session (protocol/http2.h).
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/http1_parser.h"
#include "stream/connection_table.h"

namespace tt::protocol {

class Http2Session;
class WebSocketSession;

struct Exchange {
  HttpMessage request;
  std::optional<HttpMessage> response;  // empty: the connection ended first
  uint32_t sequence = 0;                // 1 for the first request on the connection
};

struct SessionStats {
  uint64_t bytes_unparsed = 0;  // skipped while resynchronising, or not HTTP/1.x at all
  uint64_t parse_errors = 0;
  bool non_http = false;   // plaintext was neither HTTP/1.x nor HTTP/2
  bool http2 = false;      // HTTP/2 connection preface seen (decoded by Http2Session)
};

class Http1Session : public stream::StreamConsumer {
 public:
  using ExchangeFn = std::function<void(Exchange&&, const stream::ConnInfo&)>;
  using CloseFn = std::function<void(const stream::ConnInfo&, const SessionStats&)>;

  Http1Session(const stream::ConnInfo& info, size_t max_body, ExchangeFn on_exchange, CloseFn on_close);
  ~Http1Session() override;

  void on_bytes(int dir, std::string_view data, uint64_t ts_ns) override;
  void on_gap(int dir, uint64_t bytes, uint64_t ts_ns) override;
  void on_close(uint64_t ts_ns) override;

 private:
  enum class Role { Unknown, Client, Server, NotHttp, Http2 };
  void decide_role();
  void feed(int dir, std::string_view data, uint64_t ts_ns);
  void drain_requests(std::vector<HttpMessage>& msgs);
  void drain_responses(std::vector<HttpMessage>& msgs);
  int request_dir() const;

  stream::ConnInfo info_;
  size_t max_body_;
  ExchangeFn on_exchange_;
  CloseFn on_close_;
  Role role_ = Role::Unknown;
  // Bytes held until the role is known: the concatenation for probing, and the
  // pieces with their timestamps for replaying into the parsers.
  std::string pending_[2];
  std::vector<std::pair<size_t, uint64_t>> pending_pieces_[2];  // (length, ts)
  uint64_t pending_gap_[2] = {0, 0};
  void start_parsers();
  void replay_pending(int first_dir, stream::StreamConsumer& to);
  std::unique_ptr<Http2Session> h2_;  // Role::Http2: everything goes there
  void settle_switch();
  void switch_to_websocket(const HttpMessage& request, const HttpMessage& response);
  std::unique_ptr<WebSocketSession> ws_;  // after a 101 to Upgrade: websocket
  std::optional<Http1Parser> req_parser_, resp_parser_;
  std::deque<HttpMessage> waiting_;  // requests awaiting their response
  uint32_t next_seq_ = 1;
  SessionStats stats_;
  bool closed_ = false;
};

}  // namespace tt::protocol
