// HTTP/1.x requests and responses of one connection paired into exchanges, in
// order, and kept right across capture gaps and connections joined mid-stream.
//
// Normally the n-th response answers the n-th request. Capture gaps break that
// count in three ways, each handled from what the bytes and timestamps prove:
// - A response can be complete before its request is: the request's lost tail
//   is only reported (lost_before) on the client's next write, after the
//   response was read. A response that ends while a request is still being
//   parsed waits for that request.
// - Whole responses can be lost. After a response-side gap that the framing did
//   not account for, a response answers the latest request sent before it began
//   (clients do not pipeline in practice); earlier requests are handed on without
//   a response. Whether a whole request was lost in the same window is only known
//   at the next request-side event: such a pairing waits for it, and is split
//   (request without response, response without request) if that event is a gap
//   that may have held whole requests. Never guessed.
// - Whole requests can be lost: a response that began before every waiting
//   request was sent answers a request not captured.
// On a connection joined mid-stream, responses before the first request are the
// answers in flight when capture began: skipped and counted, not reported.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "protocol/http_message.h"

namespace tt::protocol {

struct Exchange;

class Http1Pairing {
 public:
  using EmitFn = std::function<void(Exchange&&)>;
  explicit Http1Pairing(EmitFn emit);
  ~Http1Pairing();

  // Responses before the first request are skipped (a connection joined mid-stream).
  void skip_responses_before_first_request() { skip_early_orphans_ = true; }

  void on_request(HttpMessage&& m);
  // open_request_since: when the request being parsed (not ended yet) began.
  void on_response(HttpMessage&& m, std::optional<uint64_t> open_request_since);
  // A gap on the response side; lost_messages: the framing did not account for
  // it, so whole responses may be gone.
  void on_response_gap(bool lost_messages);
  // The request side moved on: bytes, or a gap (lost_messages as above).
  void on_request_side(bool gap, bool lost_messages);
  // The connection is over: everything still waiting is handed on.
  void finish();

  size_t waiting_requests() const { return requests_.size(); }
  uint32_t next_sequence() { return next_seq_++; }  // for exchanges made elsewhere (WebSocket)
  uint64_t skipped_bytes() const { return skipped_bytes_; }  // responses skipped, as they travelled
  uint64_t skipped_responses() const { return skipped_responses_; }

 private:
  void match(HttpMessage&& resp);
  void pair(HttpMessage&& resp);
  void orphan(HttpMessage&& resp);
  void request_alone();
  void response_alone(HttpMessage&& resp, const char* why);
  void confirm(bool split);
  void emit(Exchange&& ex);

  EmitFn emit_;
  std::deque<HttpMessage> requests_;  // awaiting their responses
  std::deque<HttpMessage> early_;     // ended while their request was still arriving
  std::unique_ptr<Exchange> unconfirmed_;
  bool responses_lost_ = false;
  bool skip_early_orphans_ = false;
  bool any_request_ = false;
  uint32_t next_seq_ = 1;
  uint64_t skipped_bytes_ = 0;
  uint64_t skipped_responses_ = 0;
};

}  // namespace tt::protocol
