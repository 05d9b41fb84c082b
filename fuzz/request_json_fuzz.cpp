// The request body reader (simdjson On-Demand): RequestJson over the paths
// decoding and the harness rules read, with and without counting text,
// json_string_bytes, and the anatomy (provider/anatomy.h) in each wire format.
// The body sits at the end of an exact-size buffer and the readable size is
// declared truthfully, so ASan sees a read past either.
// Input: a flags byte, then the body.
#include <cstring>
#include <memory>

#include "fuzz_input.h"
#include "provider/anatomy.h"
#include "provider/provider.h"
#include "provider/request_json.h"

namespace {

constexpr std::string_view kPaths[] = {
    "model", "stream", "max_tokens", "metadata.user_id", "prompt_cache_key", "a.b.c.d", "", "messages",
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tt::fuzz::Reader in(data, size);
  uint8_t flags = in.u8();
  std::string_view src = in.rest();
  // With room for simdjson's padding (64 bytes) the body is read in place.
  size_t readable = flags & 1 ? src.size() + 64 : src.size();
  auto buf = std::make_unique<char[]>(readable);
  memcpy(buf.get(), src.data(), src.size());
  memset(buf.get() + src.size(), ' ', readable - src.size());
  std::string_view body(buf.get(), src.size());

  std::span<const std::string_view> paths(kPaths);
  bool count = flags & 2;
  tt::provider::RequestJson rj(body, paths, readable, count);
  for (auto p : kPaths) tt::fuzz::touch(rj.at(p).text);
  auto bytes = tt::provider::json_string_bytes(body, readable);
  // One walk counting text must agree with the dedicated pass.
  if (count && rj.text_bytes() && bytes && *rj.text_bytes() != *bytes) __builtin_trap();
  // The anatomy in each wire format: the same read in place as from a copy.
  using W = tt::provider::WireFormat;
  for (W w : {W::AnthropicMessages, W::OpenAIChat, W::OpenAIResponses, W::Gemini, W::BedrockConverse}) {
    tt::provider::Anatomy a = tt::provider::read_anatomy(w, body, readable), b = tt::provider::read_anatomy(w, body);
    bool same = a.prefix_hashes == b.prefix_hashes && a.prefix_bytes == b.prefix_bytes && a.tool_names == b.tool_names &&
                a.conversation_hash == b.conversation_hash && a.largest_tool_result_hash == b.largest_tool_result_hash;
    for (size_t i = 0; i < tt::provider::kPartCount; ++i) same &= a.parts[i].bytes == b.parts[i].bytes;
    if (!same) __builtin_trap();
  }
  return 0;
}
