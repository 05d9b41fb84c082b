// The OpenAI Responses API over WebSocket (Codex's default transport), turned into
// the exchanges the HTTP pipeline already understands.
//
// The client opens GET .../responses with Upgrade: websocket, then sends text
// messages {"type":"response.create", ...request fields...}; the server answers each
// with the Responses streaming events (response.created ... response.completed) as
// text messages. Each response.create becomes one Exchange:
//   request:  POST <upgrade target>, the upgrade request's headers (user agent,
//             session ids...), body = the message JSON (uncompressed);
//   response: 200 text/event-stream (or the status of an "error" event), body =
//             "data: <event json>\n\n" per server message up to and including the
//             first response.completed / .failed / .incomplete / error.
// body_wire_bytes (what request_bytes / response_bytes report) is the sum of the
// uncompressed JSON message sizes: no HTTP framing exists, and the compressed size
// of one message depends on every message before it (context takeover).
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/exchange.h"
#include "protocol/websocket.h"

namespace tt::protocol {

using WsExchangeFn = std::function<void(Exchange&&)>;

// A request that asks to switch to WebSocket (Upgrade: websocket).
bool is_websocket_upgrade(const HttpMessage& request);

// The WebSocket session for a connection whose upgrade got 101: permessage-deflate
// as the response's Sec-WebSocket-Extensions agreed, and for a target ending in
// /responses the OpenAI Responses mapping, which hands its exchanges to emit
// (sequence 0: the caller numbers them). Other WebSocket traffic is parsed and
// counted only.
std::unique_ptr<WebSocketSession> start_websocket(const HttpMessage& upgrade_request,
                                                  const HttpMessage& upgrade_response, int client_dir,
                                                  size_t max_body, WsExchangeFn emit);

// The top-level "type" member of a JSON object message, read only as far as needed
// (the message may be cut short or huge); "" if there is none.
std::string ws_message_type(std::string_view json_text);

class ResponsesWsMapper : public WsMessageHandler {
 public:
  ResponsesWsMapper(const HttpMessage& upgrade_request, const HttpMessage& upgrade_response, size_t max_body,
                    WsExchangeFn emit);
  void on_message(WsMessage&& m) override;
  void on_end(uint64_t ts_ns) override;

 private:
  struct Pending {
    HttpMessage request;
    std::optional<HttpMessage> response;
  };
  void client_message(WsMessage&& m);
  void server_message(WsMessage&& m);
  void emit_front();

  HttpMessage request_template_;
  HttpMessage response_template_;
  size_t max_body_;
  WsExchangeFn emit_;
  std::deque<Pending> pending_;  // response.create messages awaiting their terminal event
};

}  // namespace tt::protocol
