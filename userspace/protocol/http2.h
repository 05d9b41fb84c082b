// HTTP/2 over one connection (RFC 9113): frames parsed here, header blocks
// decompressed by nghttp2's HPACK inflater (one per direction), each
// client-initiated stream turned into one Exchange, exactly the shape
// Http1Session produces, so the provider layer cannot tell the two apart.
#pragma once
#include <memory>
#include <string_view>

#include "protocol/exchange.h"
#include "stream/connection_table.h"

namespace tt::protocol {

// The client connection preface; the direction it appears on is the client's.
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class Http2Session : public stream::StreamConsumer {
 public:
  using ExchangeFn = Http1Session::ExchangeFn;
  using CloseFn = Http1Session::CloseFn;
  using RequestFn = Http1Session::RequestFn;

  // max_body: body bytes kept per message (the rest is counted in body_wire_bytes).
  Http2Session(const stream::ConnInfo& info, size_t max_body, ExchangeFn on_exchange, CloseFn on_close,
               RequestFn on_request = {});
  ~Http2Session() override;
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  // Either direction may carry the client preface (tracing a client or a
  // server); bytes of the other side wait until it is seen.
  void on_bytes(int dir, std::string_view data, uint64_t ts_ns) override;
  // Lost bytes inside a frame's payload (not a header block's): the framing
  // holds, a DATA frame's stream is incomplete and the others go on. Anywhere
  // else frame boundaries or HPACK state are gone, so the connection cannot be
  // decoded further; open streams are reported incomplete.
  void on_gap(int dir, uint64_t bytes, uint64_t ts_ns) override;
  // Open streams are reported incomplete ("connection closed").
  void on_close(uint64_t ts_ns) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tt::protocol
