// OTLP/HTTP's transport: protobuf bodies POSTed with libcurl (plain HTTP and
// TLS, the user's proxy and CA settings), retried the way the OTLP
// specification asks.
#pragma once
#include <cstdint>
#include <string>

namespace tt::otlp {

struct HttpReply {
  long status = 0;  // 0: no HTTP answer (refused, timed out, TLS failure)
  std::string body;
  std::string error;  // what went wrong, "" on a 2xx
  long retry_after_s = -1;  // the Retry-After header, -1 if none
  bool ok() const { return status >= 200 && status < 300; }
};

struct RetryPolicy {
  uint32_t max_attempts = 4;     // the first try included
  uint32_t backoff_ms = 500;     // before the first retry, doubled for each next one
  uint32_t max_backoff_ms = 5000;  // also caps a server's Retry-After
};

// One libcurl handle: the connection is kept between exports.
class HttpClient {
 public:
  explicit HttpClient(uint32_t timeout_ms);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  // POST body as application/x-protobuf.
  HttpReply post(const std::string& url, const std::string& body);

 private:
  void* curl_;
  void* headers_;
};

// OTLP/HTTP: no answer, 429, 502, 503 and 504 may succeed later; every other
// status is final (retrying a 400 or 500 would send the same bad request again).
bool retryable(const HttpReply& r);

// POSTs until a 2xx, a final answer, or the attempts are spent; *retries counts
// the attempts after the first.
HttpReply post_with_retries(HttpClient& http, const std::string& url, const std::string& body,
                            const RetryPolicy& policy, uint64_t* retries);

}  // namespace tt::otlp
