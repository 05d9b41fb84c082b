// One parsed HTTP message (request or response), as it crossed the TLS boundary.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tt::protocol {

struct Header {
  std::string name;  // as received (case preserved)
  std::string value;
};

// What a later stage kept of a body once it had read it (see Http1Session's
// RequestFn): the body itself can then be released long before the message's
// exchange ends.
struct BodyDigest {
  virtual ~BodyDigest() = default;
};

struct HttpMessage {
  bool is_request = true;
  // request line
  std::string method;
  std::string target;  // path + query, as sent
  // status line
  int status = 0;
  std::string reason;
  int http_major = 1;
  int http_minor = 1;

  std::vector<Header> headers;

  // Byte accounting. Bodies are counted as they travelled: after transfer
  // decoding (chunk framing removed) and before content decoding (still gzip etc).
  uint64_t header_bytes = 0;     // start line + headers + blank line
  uint64_t body_wire_bytes = 0;  // content-encoded body length, all of it (even past the cap)
  uint64_t framing_bytes = 0;    // chunked framing overhead (sizes, CRLFs, trailers)
  std::string body;              // content-encoded body, at most max_body bytes
  bool body_truncated = false;   // body_wire_bytes > body.size(): the cap was hit, or bytes were lost
  uint64_t body_lost = 0;        // body bytes lost by the capture (in body_wire_bytes, not in body)

  // Set when the body was digested and released (body empty; the counts above stand).
  std::shared_ptr<const BodyDigest> digest;

  // HTTP/2: the client reset the stream before the server ended it. A client
  // that had all it wanted does that (Codex on its last SSE event).
  bool cancelled_by_client = false;
  // HTTP/1.x: the connection closed inside the body (a client that had the
  // stream's last event may close without reading the chunked terminator).
  bool closed_in_body = false;

  bool complete = false;  // message ended per HTTP framing (or connection close for close-delimited)
  std::string error;      // why it is incomplete: parse error, capture gap, connection closed...

  uint64_t first_ts_ns = 0;  // capture timestamp of the first byte of the message
  uint64_t last_ts_ns = 0;   // capture timestamp of the last byte seen

  // Case-insensitive lookup; returns nullptr when absent. First match wins.
  const std::string* header(std::string_view name) const;

  // Body bytes as they arrive: all are counted, at most max_body are kept.
  void append_body(std::string_view data, size_t max_body);
  // n body bytes lost by the capture (framing said how many): counted, and from
  // here on nothing is kept, since what follows a hole cannot be read as a whole.
  void lose_body(uint64_t n);
};

}  // namespace tt::protocol
