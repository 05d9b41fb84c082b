#include "protocol/sse.h"

#include <algorithm>

namespace tt::protocol {

// The first CR or LF at or after `from`. find_first_of("\r\n") calls memchr on
// the two-byte set once per input byte; two memchr over the line are ~10x faster.
static size_t line_end(std::string_view s, size_t from) {
  std::string_view rest = s.substr(from);
  size_t lf = rest.find('\n');
  size_t e = std::min(lf, rest.substr(0, lf).find('\r'));
  return e == std::string_view::npos ? e : from + e;
}

void SseParser::feed(std::string_view data, std::vector<SseEvent>& out) {
  if (data.empty()) return;
  size_t i = 0;
  if (last_was_cr_ && data[0] == '\n') i = 1;  // the LF of a CRLF split across feeds
  last_was_cr_ = false;
  while (i < data.size()) {
    size_t e = line_end(data, i);
    if (e == std::string_view::npos) {
      line_buf_.append(data.substr(i));
      return;
    }
    if (line_buf_.empty()) {
      process_line(data.substr(i, e - i), out);
    } else {
      line_buf_.append(data.substr(i, e - i));
      process_line(line_buf_, out);
      line_buf_.clear();
    }
    i = e + 1;
    if (data[e] == '\r') {
      if (i == data.size())
        last_was_cr_ = true;
      else if (data[i] == '\n')
        ++i;
    }
  }
}

void SseParser::process_line(std::string_view line, std::vector<SseEvent>& out) {
  if (at_start_) {
    at_start_ = false;
    if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  }
  if (line.empty()) {
    dispatch(out);
    return;
  }
  if (line[0] == ':') return;  // comment
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  if (field == "event") {
    cur_.event = value;
  } else if (field == "data") {
    cur_.data.append(value);
    cur_.data.push_back('\n');
    have_data_ = true;
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) cur_.id = value;
  }
  // "retry" and unknown fields are ignored.
}

void SseParser::dispatch(std::vector<SseEvent>& out) {
  if (have_data_) {
    SseEvent ev;
    ev.event = std::move(cur_.event);
    ev.data = std::move(cur_.data);
    ev.data.pop_back();  // the '\n' after the last data line
    ev.id = cur_.id;     // the last event ID carries over to later events
    out.push_back(std::move(ev));
  }
  cur_.event.clear();
  cur_.data.clear();
  have_data_ = false;
}

void SseParser::finish(std::vector<SseEvent>& out, bool dispatch_partial) {
  if (dispatch_partial) {
    if (!line_buf_.empty()) process_line(line_buf_, out);
    dispatch(out);
  }
  *this = SseParser();
}

std::vector<SseEvent> parse_sse(std::string_view body) {
  std::vector<SseEvent> out;
  SseParser p;
  p.feed(body, out);
  p.finish(out);
  return out;
}

}  // namespace tt::protocol
