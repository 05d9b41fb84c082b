#include "protocol/pairing.h"

#include <utility>

#include "protocol/exchange.h"

namespace tt::protocol {

namespace {

// The request was on its way before the response began (timestamps unknown: assume so).
bool sent_before(uint64_t req_ts, const HttpMessage& resp) {
  return !req_ts || !resp.first_ts_ns || req_ts <= resp.first_ts_ns;
}
bool sent_before(const HttpMessage& req, const HttpMessage& resp) { return sent_before(req.first_ts_ns, resp); }

}  // namespace

Http1Pairing::Http1Pairing(EmitFn emit) : emit_(std::move(emit)) {}
Http1Pairing::~Http1Pairing() = default;

void Http1Pairing::emit(Exchange&& ex) { emit_(std::move(ex)); }

void Http1Pairing::on_request(HttpMessage&& m) {
  any_request_ = true;
  requests_.push_back(std::move(m));
  // Responses that ended before this request did were waiting for it.
  while (!early_.empty() && !requests_.empty()) {
    HttpMessage resp = std::move(early_.front());
    early_.pop_front();
    match(std::move(resp));
  }
}

void Http1Pairing::on_response(HttpMessage&& m, std::optional<uint64_t> open_request_since) {
  confirm(false);  // no request-side news since: the last pairing stands
  // The request still arriving is this response's when none is waiting (its
  // lost tail is not reported yet, or the server answered early), or when the
  // waiting ones lost their responses.
  bool its_request = open_request_since && sent_before(*open_request_since, m) &&
                     (requests_.empty() || responses_lost_);
  if (its_request || !early_.empty()) {
    early_.push_back(std::move(m));
    return;
  }
  match(std::move(m));
}

// Pairs resp with its request, or reports it alone.
void Http1Pairing::match(HttpMessage&& resp) {
  if (responses_lost_) {
    // Responses to the requests before the latest one sent were lost whole.
    while (requests_.size() >= 2 && sent_before(requests_[1], resp)) request_alone();
  }
  if (!requests_.empty() && sent_before(requests_.front(), resp)) return pair(std::move(resp));
  orphan(std::move(resp));
}

void Http1Pairing::pair(HttpMessage&& resp) {
  auto ex = std::make_unique<Exchange>();
  ex->sequence = next_seq_++;
  ex->request = std::move(requests_.front());
  requests_.pop_front();
  ex->response = std::move(resp);
  bool doubt = std::exchange(responses_lost_, false);
  // A 101 switches protocols at once; it is never held back.
  if (doubt && ex->response->status != 101) {
    unconfirmed_ = std::move(ex);
    return;
  }
  emit(std::move(*ex));
}

void Http1Pairing::orphan(HttpMessage&& resp) {
  if (skip_early_orphans_ && !any_request_) {
    skipped_bytes_ += resp.header_bytes + resp.body_wire_bytes + resp.framing_bytes;
    ++skipped_responses_;
    return;
  }
  response_alone(std::move(resp), "request not captured");
}

void Http1Pairing::response_alone(HttpMessage&& resp, const char* why) {
  Exchange ex;
  ex.sequence = next_seq_++;
  ex.request.complete = false;
  ex.request.error = why;
  ex.response = std::move(resp);
  emit(std::move(ex));
}

void Http1Pairing::request_alone() {
  Exchange ex;
  ex.sequence = next_seq_++;
  ex.request = std::move(requests_.front());
  requests_.pop_front();
  emit(std::move(ex));
}

void Http1Pairing::on_response_gap(bool lost_messages) {
  if (lost_messages) responses_lost_ = true;
}

void Http1Pairing::on_request_side(bool gap, bool lost_messages) { confirm(gap && lost_messages); }

// The pairing made after responses were lost: split when the request side may
// have lost whole requests in the same window (the response may answer one).
void Http1Pairing::confirm(bool split) {
  if (!unconfirmed_) return;
  std::unique_ptr<Exchange> ex = std::move(unconfirmed_);
  if (!split) return emit(std::move(*ex));
  HttpMessage resp = std::move(*ex->response);
  ex->response.reset();
  emit(std::move(*ex));
  response_alone(std::move(resp), "request not told apart from one lost in a capture gap");
}

void Http1Pairing::finish() {
  confirm(false);
  while (!early_.empty()) {
    HttpMessage resp = std::move(early_.front());
    early_.pop_front();
    match(std::move(resp));
  }
  // Requests that never got a response: still reported, as incomplete.
  while (!requests_.empty()) request_alone();
}

}  // namespace tt::protocol
