// Incremental HTTP/1.x parser for one direction of one connection.
// Wraps nodejs http-parser (Debian libhttp-parser-dev): see docs/design.md.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/http_message.h"

namespace tt::protocol {

class Http1Parser {
 public:
  enum class Kind { Request, Response };

  // max_body: body bytes kept per message; the rest is counted in body_wire_bytes only.
  Http1Parser(Kind kind, size_t max_body);
  ~Http1Parser();
  Http1Parser(const Http1Parser&) = delete;
  Http1Parser& operator=(const Http1Parser&) = delete;

  // Feeds bytes captured at ts_ns. Every message that completes is appended to out.
  // Interim 1xx responses (100 Continue) are consumed and never emitted.
  // On a parse error the in-progress message (if any) is emitted with complete=false
  // and error set, and the parser skips input until something that looks like the
  // start of a new message (request line / "HTTP/1.").
  void feed(std::string_view data, uint64_t ts_ns, std::vector<HttpMessage>& out);

  // n bytes were lost by the capture before the next feed(). Inside a body whose
  // length the framing gives (Content-Length, a chunk's data, a body that runs to
  // the close) they are skipped: the message goes on with a hole (counted, not kept;
  // complete=false, error "capture gap of N bytes in the body") and parsing resumes
  // where the framing says; returns true. Anywhere else the in-progress message is
  // emitted incomplete (error "capture gap of N bytes") and the parser resyncs as
  // above; whole messages may have been lost; returns false. A Content-Length body
  // the gap runs past is still ended (with its hole) before resyncing.
  bool gap(uint64_t n, std::vector<HttpMessage>& out);

  // The bytes to come may start mid-message (a connection joined mid-stream):
  // skip to the next message start, as after a gap.
  void resync();
  // When the message in progress (begun, not ended; a start line being held
  // counts) began; nullopt between messages.
  std::optional<uint64_t> open_message_since() const;

  // The connection ended. A close-delimited response body completes; any other
  // in-progress message is emitted with complete=false, error "connection closed".
  void finish(uint64_t ts_ns, std::vector<HttpMessage>& out);

  // Response parsers only: the method of the request this next response answers,
  // so a response to HEAD is known to carry no body. Queue order = request order.
  void push_request_method(std::string_view method);

  uint64_t bytes_skipped() const;  // bytes discarded while resynchronising
  uint64_t parse_errors() const;
  uint64_t resumes() const;  // gaps decoding resumed after (skipped in a body, or resynced)

  // Switching protocols. After a request asking to Upgrade (or a CONNECT), and after
  // a 101 response (or a 2xx answer to CONNECT), the parser stops and holds what
  // follows (up to a limit; the rest is recorded as lost) until the caller decides:
  // take_held() hands it to the new protocol's parser, resume() (request parsers
  // whose server did not switch) parses it as HTTP again, discard_held() (nobody
  // speaks the new protocol) skips it and everything after. finish() counts what is
  // still held as skipped.
  struct Held {
    uint64_t lost_before = 0;  // bytes missing (capture gap or over the limit) before data
    std::string data;
    uint64_t ts_ns = 0;
  };
  bool holding() const;
  std::vector<Held> take_held();
  void resume(std::vector<HttpMessage>& out);
  void discard_held();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True if data starts like an HTTP/1.x request ("GET /", "POST /", ...) or, for
// Kind::Response, like a status line ("HTTP/1."). Used to pick roles and resync.
bool looks_like_http1_start(std::string_view data, Http1Parser::Kind kind);

}  // namespace tt::protocol
