// Server-Sent Events (text/event-stream) parser, incremental, per the WHATWG rules:
// "event:", "data:" (multi-line joined by \n), "id:", comments (":"), CRLF/LF/CR line ends.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace tt::protocol {

struct SseEvent {
  std::string event;  // empty means the default "message"
  std::string data;
  std::string id;
};

class SseParser {
 public:
  void feed(std::string_view data, std::vector<SseEvent>& out);
  // End of stream: a final event without its blank line is dispatched only when
  // dispatch_partial is set (a cut-off stream's last event is usually incomplete).
  void finish(std::vector<SseEvent>& out, bool dispatch_partial = false);

 private:
  std::string line_buf_;
  SseEvent cur_;
  bool have_data_ = false;
  bool last_was_cr_ = false;
  bool at_start_ = true;  // a UTF-8 BOM may open the stream
  void process_line(std::string_view line, std::vector<SseEvent>& out);
  void dispatch(std::vector<SseEvent>& out);
};

// Convenience: parse a whole body.
std::vector<SseEvent> parse_sse(std::string_view body);

}  // namespace tt::protocol
