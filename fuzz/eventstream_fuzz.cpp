// The AWS event stream framing (Bedrock's streams): any bytes, never a read
// outside the body; every message kept lies inside it, in order.
#include "fuzz_input.h"
#include "protocol/eventstream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  tt::protocol::EventStream es = tt::protocol::parse_eventstream(body);
  const char* end = body.data();
  for (const auto& m : es.messages) {
    for (std::string_view v : {m.payload, m.event_type, m.message_type, m.exception_type, m.error_message}) {
      if (v.empty()) continue;
      if (v.data() < body.data() || v.data() + v.size() > body.data() + body.size()) __builtin_trap();
    }
    if (m.payload.data() < end) __builtin_trap();
    end = m.payload.data() + m.payload.size();
  }
  if (es.trailing_bytes > size) __builtin_trap();
  return 0;
}
