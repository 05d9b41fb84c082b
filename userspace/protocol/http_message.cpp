#include "protocol/http_message.h"

#include <strings.h>

namespace tt::protocol {

const std::string* HttpMessage::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0)
      return &h.value;
  }
  return nullptr;
}

void HttpMessage::append_body(std::string_view data, size_t max_body) {
  body_wire_bytes += data.size();
  if (body_lost) max_body = 0;
  if (body.size() < max_body) body.append(data.substr(0, max_body - body.size()));
  body_truncated = body_wire_bytes > body.size();
}

void HttpMessage::lose_body(uint64_t n) {
  body_wire_bytes += n;
  body_lost += n;
  body_truncated = true;
}

}  // namespace tt::protocol
