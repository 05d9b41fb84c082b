// One connection's two byte streams through the protocol layer: Http1Session
// picks the roles, parses HTTP/1.x, and hands HTTP/2 and WebSocket on by itself.
// Input: a flags byte, then steps (fuzz_input.h): bytes, call starts and capture
// gaps of either direction, in capture order.
#include "fuzz_input.h"
#include "protocol/exchange.h"

namespace {

using tt::protocol::HttpMessage;

void touch_message(const HttpMessage& m) {
  tt::fuzz::touch(m.method);
  tt::fuzz::touch(m.target);
  tt::fuzz::touch(m.body);
  for (const auto& h : m.headers) tt::fuzz::touch(h.value);
}

// What the pipeline does with a request that ended: may release its body.
struct Digest : tt::protocol::BodyDigest {};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tt::fuzz::Reader in(data, size);
  uint8_t flags = in.u8();
  tt::stream::ConnInfo info;
  info.id = 1;
  info.pid = 1;
  info.midstream = flags & 1;
  // A small body cap reaches truncation in every protocol.
  size_t max_body = flags & 2 ? 256 : 1u << 20;
  bool digest = flags & 4;
  tt::protocol::Http1Session session(
      info, max_body,
      [](tt::protocol::Exchange&& ex, const tt::stream::ConnInfo&) {
        touch_message(ex.request);
        if (ex.response) touch_message(*ex.response);
      },
      [](const tt::stream::ConnInfo&, const tt::protocol::SessionStats&) {},
      [digest](HttpMessage& m, const tt::stream::ConnInfo&) {
        if (!digest) return;
        m.digest = std::make_shared<Digest>();
        m.body.clear();
      });
  uint64_t ts = 1;
  while (auto s = tt::fuzz::next_step(in)) {
    ++ts;
    if (s->gap) {
      session.on_gap(s->dir, s->gap, ts);
      continue;
    }
    if (s->bytes.empty()) continue;  // the stream layer never sends empty data
    if (s->call_start) session.on_call_start(s->dir);
    session.on_bytes(s->dir, s->bytes, ts);
  }
  session.on_close(ts + 1);
  return 0;
}
