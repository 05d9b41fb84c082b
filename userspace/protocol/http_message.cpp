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

}  // namespace tt::protocol
