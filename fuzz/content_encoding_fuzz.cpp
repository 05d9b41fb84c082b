// Content-Encoding decoding: every encoding, chains, the output cap and
// partial (cut) streams. Input: a selector byte (encoding, cap), then the body.
#include <iterator>

#include "fuzz_input.h"
#include "protocol/content_encoding.h"

namespace {

// What servers send, plus chains (decoded last-applied first) and oddities the
// header parser must take apart.
constexpr std::string_view kEncodings[] = {
    "gzip", "x-gzip", "deflate", "br", "zstd", "identity", "gzip, br", "br, gzip", "deflate, zstd",
    "gzip, gzip", "zstd, identity", " GZIP ,  Br ", "gzip,,br", "compress", "",
};
constexpr size_t kCaps[] = {64, 4096, 1u << 20, 8u << 20};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tt::fuzz::Reader in(data, size);
  uint8_t sel = in.u8();
  std::string_view enc = kEncodings[sel % std::size(kEncodings)];
  size_t cap = kCaps[(sel >> 4) & 3];
  std::string_view body = in.rest();

  bool over = false;
  auto strict = tt::protocol::decode_content(body, enc, cap, false, &over);
  auto partial = tt::protocol::decode_content(body, enc, cap, true);
  if (strict) {
    if (strict->size() > cap) __builtin_trap();
    // A stream decoded whole decodes the same when cut streams are allowed.
    if (!partial || *partial != *strict) __builtin_trap();
  }
  if (partial && partial->size() > cap) __builtin_trap();
  return 0;
}
