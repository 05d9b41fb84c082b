// SSE: a body fed in pieces must give the same events as the whole body at
// once (the parser is incremental; a split CRLF is the classic bug).
// Input: a byte of split step, then the body.
#include "fuzz_input.h"
#include "protocol/sse.h"

namespace {

bool same(const std::vector<tt::protocol::SseEvent>& a, const std::vector<tt::protocol::SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].event != b[i].event || a[i].data != b[i].data || a[i].id != b[i].id) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tt::fuzz::Reader in(data, size);
  uint8_t ctl = in.u8();
  size_t step = ctl % 17 + 1;
  bool partial = ctl & 0x80;
  std::string_view body = in.rest();

  tt::protocol::SseParser whole;
  std::vector<tt::protocol::SseEvent> a;
  whole.feed(body, a);
  whole.finish(a, partial);

  tt::protocol::SseParser pieces;
  std::vector<tt::protocol::SseEvent> b;
  for (size_t at = 0; at < body.size(); at += step) pieces.feed(body.substr(at, step), b);
  pieces.finish(b, partial);
  if (!same(a, b)) __builtin_trap();
  if (!partial && !same(a, tt::protocol::parse_sse(body))) __builtin_trap();
  return 0;
}
