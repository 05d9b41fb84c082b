// AWS event stream framing (application/vnd.amazon.eventstream), as Bedrock's
// InvokeModelWithResponseStream and ConverseStream send it: binary messages of
//   total length (u32 BE) | headers length (u32 BE) | CRC32 of those 8 bytes |
//   headers | payload | CRC32 of all before it
// with typed headers (name length u8, name, type u8, value). Only the string
// headers Bedrock sends are kept; the other types are skipped by their size.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tt::protocol {

struct EventStreamMessage {
  std::string_view message_type;    // ":message-type": "event" | "exception" | "error"
  std::string_view event_type;      // ":event-type": "chunk", "messageStart", "metadata", ...
  std::string_view exception_type;  // ":exception-type" (or ":error-code" of an error message)
  std::string_view error_message;   // ":error-message" of an error message
  std::string_view payload;         // views into the body given to parse_eventstream
};

struct EventStream {
  std::vector<EventStreamMessage> messages;  // every whole message whose checksums hold
  uint64_t trailing_bytes = 0;  // a message cut off at the end (the stream stopped there)
  std::string error;            // first framing fault; parsing stops there
};

// Never throws; a bad length or checksum ends parsing with `error` set, keeping the
// messages before it.
EventStream parse_eventstream(std::string_view body);

}  // namespace tt::protocol
