#include "protocol/eventstream.h"

#include <zlib.h>

namespace tt::protocol {
namespace {

constexpr size_t kPrelude = 12;             // two lengths and the prelude's CRC
constexpr size_t kMinMessage = kPrelude + 4;  // + the message CRC
constexpr uint32_t kMaxMessage = 16u << 20;   // AWS's limit on one message

uint32_t be32(std::string_view s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

uint32_t crc(std::string_view s) {
  return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
}

// Size of a header value of `type` at the start of `v`, or -1 if it does not fit.
int64_t value_size(uint8_t type, std::string_view v) {
  static constexpr int64_t kFixed[] = {0, 0, 1, 2, 4, 8, -1, -1, 8, 16};  // by type 0..9
  if (type > 9) return -1;
  if (type == 6 || type == 7) {  // bytes, string: u16 length first
    if (v.size() < 2) return -1;
    int64_t n = 2 + (static_cast<unsigned char>(v[0]) << 8 | static_cast<unsigned char>(v[1]));
    return n <= static_cast<int64_t>(v.size()) ? n : -1;
  }
  return kFixed[type] <= static_cast<int64_t>(v.size()) ? kFixed[type] : -1;
}

bool read_headers(std::string_view h, EventStreamMessage& m) {
  while (!h.empty()) {
    size_t name_len = static_cast<unsigned char>(h[0]);
    if (h.size() < 1 + name_len + 1) return false;
    std::string_view name = h.substr(1, name_len);
    uint8_t type = static_cast<uint8_t>(h[1 + name_len]);
    h.remove_prefix(2 + name_len);
    int64_t size = value_size(type, h);
    if (size < 0) return false;
    if (type == 7) {
      std::string_view value = h.substr(2, size - 2);
      if (name == ":message-type") m.message_type = value;
      else if (name == ":event-type") m.event_type = value;
      else if (name == ":exception-type" || name == ":error-code") m.exception_type = value;
      else if (name == ":error-message") m.error_message = value;
    }
    h.remove_prefix(size);
  }
  return true;
}

}  // namespace

EventStream parse_eventstream(std::string_view body) {
  EventStream out;
  while (!body.empty()) {
    if (body.size() < kPrelude) {
      out.trailing_bytes = body.size();
      break;
    }
    uint32_t total = be32(body, 0), headers = be32(body, 4);
    if (crc(body.substr(0, 8)) != be32(body, 8)) {
      out.error = "event stream: prelude checksum mismatch";
      break;
    }
    if (total < kMinMessage || total > kMaxMessage || headers > total - kMinMessage) {
      out.error = "event stream: bad message length " + std::to_string(total);
      break;
    }
    if (body.size() < total) {
      out.trailing_bytes = body.size();
      break;
    }
    if (crc(body.substr(0, total - 4)) != be32(body, total - 4)) {
      out.error = "event stream: message checksum mismatch";
      break;
    }
    EventStreamMessage m;
    if (!read_headers(body.substr(kPrelude, headers), m)) {
      out.error = "event stream: malformed headers";
      break;
    }
    m.payload = body.substr(kPrelude + headers, total - kMinMessage - headers);
    out.messages.push_back(m);
    body.remove_prefix(total);
  }
  return out;
}

}  // namespace tt::protocol
