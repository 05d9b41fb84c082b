// WebSocket: a 101's Sec-WebSocket-Extensions value, then both directions'
// frames (permessage-deflate as negotiated) through the session start_websocket
// makes (with the OpenAI Responses mapping for a /responses target), split and cut by capture gaps anywhere.
// Input: a flags byte, the extensions value up to the first newline, then
// steps (fuzz_input.h).
#include "fuzz_input.h"
#include "protocol/websocket.h"
#include "protocol/ws_responses.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tt::fuzz::Reader in(data, size);
  uint8_t flags = in.u8();
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size ? size - 1 : 0);
  size_t nl = rest.find('\n');
  std::string_view ext = nl == std::string_view::npos ? rest : rest.substr(0, nl);
  in.take(ext.size() + 1);

  // The upgrade as Http1Session saw it; a /responses target maps messages to exchanges.
  tt::protocol::HttpMessage req, resp;
  req.method = "GET";
  req.target = flags & 4 ? "/v1/responses" : "/socket";
  req.headers = {{"Host", "api.openai.com"}, {"Upgrade", "websocket"}, {"Connection", "Upgrade"}};
  resp.is_request = false;
  resp.status = 101;
  resp.headers = {{"Upgrade", "websocket"}, {"Sec-WebSocket-Extensions", std::string(ext)}};
  size_t max_body = flags & 1 ? 128 : 1u << 20;
  int client_dir = (flags >> 1) & 1;
  auto session = tt::protocol::start_websocket(req, resp, client_dir, max_body, [](tt::protocol::Exchange&& ex) {
    tt::fuzz::touch(ex.request.body);
    if (ex.response) tt::fuzz::touch(ex.response->body);
  });
  uint64_t ts = 1;
  while (auto s = tt::fuzz::next_step(in)) {
    ++ts;
    if (s->gap)
      session->on_gap(s->dir, s->gap, ts);
    else if (!s->bytes.empty())
      session->on_bytes(s->dir, s->bytes, ts);
  }
  session->on_close(ts + 1);
  return 0;
}
