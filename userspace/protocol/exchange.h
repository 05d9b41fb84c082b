// HTTP/1.x over one connection: picks the client/server roles from the first
// bytes, runs a request parser on one direction and a response parser on the
// other, and pairs them into exchanges (protocol/pairing.h). A connection that
// opens with the HTTP/2 preface is handed to an Http2Session (protocol/http2.h).
// One whose first bytes start no message (joined mid-stream, or its first bytes
// lost) is picked up at the next message start found at the start of a call.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/http1_parser.h"
#include "protocol/pairing.h"
#include "stream/connection_table.h"

namespace tt::protocol {

class Http2Session;
class WebSocketSession;

struct Exchange {
  HttpMessage request;
  std::optional<HttpMessage> response;  // empty: the connection ended first
  uint32_t sequence = 0;                // 1 for the first request on the connection
  bool server_side = false;             // seen from a traced server (requests read, responses written)
};

struct SessionStats {
  uint64_t bytes_unparsed = 0;  // skipped while resynchronising, or not HTTP/1.x at all
  uint64_t parse_errors = 0;
  uint64_t gap_resyncs = 0;  // capture gaps decoding resumed after
  bool non_http = false;     // plaintext was neither HTTP/1.x nor HTTP/2
  uint64_t hpack_limit_hits = 0;  // HTTP/2 header tables asked to grow past the bound
  uint64_t header_limit_hits = 0;  // header blocks decoded past the kept bound
  uint64_t decode_limit_hits = 0;  // WebSocket messages not inflated: the decompression budget was spent
  bool http2 = false;        // HTTP/2 connection preface seen (decoded by Http2Session)
  // Its start was not seen, and no capture gap explains it: joined mid-stream.
  bool midstream = false;
  // Its start was not seen (joined or lost) and nothing could be decoded.
  enum class Undecodable { No, Http2, WebSocket, Unknown } undecodable = Undecodable::No;
};

class Http1Session : public stream::StreamConsumer {
 public:
  using ExchangeFn = std::function<void(Exchange&&, const stream::ConnInfo&)>;
  using CloseFn = std::function<void(const stream::ConnInfo&, const SessionStats&)>;
  // A request message has ended (its response may take minutes): the hook may
  // digest its body and release it (HttpMessage::digest).
  using RequestFn = std::function<void(HttpMessage&, const stream::ConnInfo&)>;

  Http1Session(const stream::ConnInfo& info, size_t max_body, ExchangeFn on_exchange, CloseFn on_close,
               RequestFn on_request = {});
  ~Http1Session() override;

  void on_call_start(int dir) override;
  void on_bytes(int dir, std::string_view data, uint64_t ts_ns) override;
  void on_gap(int dir, uint64_t bytes, uint64_t ts_ns) override;
  void on_close(uint64_t ts_ns) override;

 private:
  enum class Role { Unknown, Client, Server, NotHttp, Http2, Undecodable };
  // One direction while the roles are unknown.
  struct Probe {
    std::string bytes;  // since the call start that may begin a message
    std::vector<std::pair<size_t, uint64_t>> pieces;  // (length, ts) of what bytes holds
    bool at_call = false;    // bytes begin at the start of a call
    uint64_t lead_gap = 0;   // lost before anything was kept
    bool dropped = false;    // bytes skipped: only call starts are looked at now
  };
  void probe(int dir, std::string_view data, uint64_t ts_ns, bool call_start);
  void decide_role(bool closing);
  void skip_probe(int dir);
  void give_up();
  void stop_probing(Role r);
  void start_parsers();
  void replay_probe(int dir, stream::StreamConsumer& to);
  void feed(int dir, std::string_view data, uint64_t ts_ns);
  void drain_requests(std::vector<HttpMessage>& msgs);
  void drain_responses(std::vector<HttpMessage>& msgs);
  void hand_on(Exchange&& ex);
  void settle_switch();
  void switch_to_websocket(const HttpMessage& request, const HttpMessage& response);
  void finish_http1(uint64_t ts_ns);
  int request_dir() const;

  stream::ConnInfo info_;
  size_t max_body_;
  ExchangeFn on_exchange_;
  CloseFn on_close_;
  RequestFn on_request_;
  Role role_ = Role::Unknown;
  Probe probe_[2];
  bool call_start_[2] = {false, false};
  uint64_t scanned_ = 0;  // bytes skipped looking for a message start
  std::unique_ptr<Http2Session> h2_;  // Role::Http2: everything goes there
  std::unique_ptr<WebSocketSession> ws_;  // after a 101 to Upgrade: websocket
  std::optional<Http1Parser> req_parser_, resp_parser_;
  Http1Pairing pairing_;
  SessionStats stats_;
  bool closed_ = false;
};

}  // namespace tt::protocol
