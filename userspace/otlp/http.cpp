#include "otlp/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

namespace tt::otlp {

namespace {

size_t append_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

HttpClient::HttpClient(uint32_t timeout_ms) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* c = curl_easy_init();
  curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
  h = curl_slist_append(h, "Expect:");  // no 100-continue round trip before each body
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, long{timeout_ms});
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // the exporter runs on its own thread
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "tokentap/" TOKENTAP_VERSION " (OTLP/HTTP)");
  curl_ = c;
  headers_ = h;
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
  curl_slist_free_all(static_cast<curl_slist*>(headers_));
}

HttpReply HttpClient::post(const std::string& url, const std::string& body) {
  CURL* c = static_cast<CURL*>(curl_);
  HttpReply r;
  char err[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  if (rc != CURLE_OK) {
    r.error = err[0] ? err : curl_easy_strerror(rc);
    return r;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_off_t after = -1;
  if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0) r.retry_after_s = long(after);
  if (!r.ok()) r.error = "HTTP " + std::to_string(r.status);
  return r;
}

bool retryable(const HttpReply& r) {
  return r.status == 0 || r.status == 429 || r.status == 502 || r.status == 503 || r.status == 504;
}

HttpReply post_with_retries(HttpClient& http, const std::string& url, const std::string& body,
                            const RetryPolicy& policy, uint64_t* retries) {
  uint64_t wait_ms = policy.backoff_ms;
  for (uint32_t attempt = 1;; ++attempt) {
    HttpReply r = http.post(url, body);
    if (r.ok() || !retryable(r) || attempt >= policy.max_attempts) return r;
    uint64_t pause = r.retry_after_s >= 0 ? uint64_t(r.retry_after_s) * 1000 : wait_ms;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<uint64_t>(pause, policy.max_backoff_ms)));
    wait_ms = std::min<uint64_t>(wait_ms * 2, policy.max_backoff_ms);
    ++*retries;
  }
}

}  // namespace tt::otlp
