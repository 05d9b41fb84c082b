#include "protocol/midstream.h"

#include <cstdint>
#include <iterator>

namespace tt::protocol {
namespace {

uint8_t byte(std::string_view d, size_t i) { return static_cast<uint8_t>(d[i]); }

// One HTTP/2 frame header (9 bytes at d[0]) as RFC 9113 section 6 allows it.
bool good_h2_header(std::string_view d, uint32_t& len) {
  len = (uint32_t{byte(d, 0)} << 16) | (uint32_t{byte(d, 1)} << 8) | byte(d, 2);
  uint8_t type = byte(d, 3), flags = byte(d, 4);
  if (len > 16384 || (byte(d, 5) & 0x80)) return false;
  bool stream0 = !byte(d, 5) && !byte(d, 6) && !byte(d, 7) && !byte(d, 8);
  struct Rule {
    uint8_t flags;  // the flags defined for the type
    int8_t stream;  // 1: needs a stream, 0: must be stream 0, -1: either
    int32_t len;    // fixed payload length, or -1
  };
  static constexpr Rule kRules[] = {
      {0x09, 1, -1},  {0x2d, 1, -1}, {0x00, 1, 5},  {0x00, 1, 4},  {0x01, 0, -1},
      {0x0c, 1, -1},  {0x01, 0, 8},  {0x00, 0, -1}, {0x00, -1, 4}, {0x04, 1, -1},
  };
  if (type >= std::size(kRules)) return false;
  const Rule& r = kRules[type];
  if ((flags & ~r.flags) || (r.len >= 0 && len != static_cast<uint32_t>(r.len))) return false;
  if ((r.stream == 1 && stream0) || (r.stream == 0 && !stream0)) return false;
  if (type == 4) return (flags & 1) ? len == 0 : len % 6 == 0;  // SETTINGS
  if (type == 7) return len >= 8;                                // GOAWAY
  return true;
}

enum class Ws { Bad, Good, Cut };

// One WebSocket frame header at d[0]; hdr: its size, len: the payload's. Cut:
// valid as far as d goes. in_msg: a fragmented data message is open (updated).
Ws ws_header(std::string_view d, bool masked, bool first, bool& in_msg, size_t& hdr, uint64_t& len) {
  uint8_t b0 = byte(d, 0), b1 = byte(d, 1), op = b0 & 0x0f;
  bool fin = b0 & 0x80, rsv1 = b0 & 0x40;
  if ((b0 & 0x30) || bool(b1 & 0x80) != masked) return Ws::Bad;
  if (op >= 8) {  // control: close, ping, pong
    if (op > 10 || !fin || rsv1 || (b1 & 0x7f) > 125) return Ws::Bad;
  } else if (op > 2 || (op == 0 && rsv1) || (op == 0 && !in_msg && !first) || (op != 0 && in_msg)) {
    return Ws::Bad;
  } else {
    in_msg = !fin;
  }
  uint8_t len7 = b1 & 0x7f;
  size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  hdr = 2 + ext + (masked ? 4 : 0);
  if (d.size() < 2 + ext) return Ws::Cut;
  len = len7;
  for (size_t i = 0; i < ext; ++i) len = (len << 8) | byte(d, 2 + i);
  bool minimal = ext == 0 || (ext == 2 ? len >= 126 : len > 0xffff && !(len >> 63));
  return minimal ? Ws::Good : Ws::Bad;
}

}  // namespace

bool looks_like_h2_frames(std::string_view d) {
  size_t i = 0;
  int frames = 0;
  uint32_t len = 0;
  while (i + 9 <= d.size()) {
    if (!good_h2_header(d.substr(i), len)) return false;
    i += 9 + len;
    ++frames;
  }
  return frames > 0;  // what is left is payload, or a header cut by the end of data
}

bool looks_like_ws_frames(std::string_view d, bool masked) {
  size_t i = 0, hdr = 0;
  uint64_t len = 0;
  bool in_msg = false;
  int frames = 0;
  while (i + 2 <= d.size()) {
    Ws w = ws_header(d.substr(i), masked, frames == 0, in_msg, hdr, len);
    if (w == Ws::Bad) return false;
    if (w == Ws::Cut || hdr + len >= d.size() - i) return true;  // runs past the end of data
    i += hdr + len;
    ++frames;
  }
  return frames > 0;
}

}  // namespace tt::protocol
