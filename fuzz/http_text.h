// A readable text form of an HTTP message head for structured fuzz inputs:
// the first line is "METHOD TARGET" (request) or "STATUS" (response), then one
// "Name: value" per line. Seeds stay editable and crash files readable.
#pragma once
#include <string>
#include <string_view>

#include "protocol/http_message.h"

namespace tt::fuzz {

inline protocol::HttpMessage parse_head(std::string_view text, bool request) {
  protocol::HttpMessage m;
  m.is_request = request;
  m.complete = true;
  bool first = true;
  while (!text.empty()) {
    size_t nl = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(std::min(nl + 1, text.size()));
    size_t cut = line.find(first ? ' ' : ':');
    std::string_view a = line.substr(0, cut), b = cut == line.npos ? "" : line.substr(cut + 1);
    if (!first) {
      if (b.starts_with(' ')) b.remove_prefix(1);
      m.headers.push_back({std::string(a), std::string(b)});
    } else if (request) {
      m.method = a;
      m.target = b;
    } else {
      for (char c : a.substr(0, 4)) m.status = c >= '0' && c <= '9' ? m.status * 10 + (c - '0') : m.status;
    }
    first = false;
  }
  return m;
}

}  // namespace tt::fuzz
