// Metrics: records in, exposition text out; label caps; the /metrics reader.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "metrics/server.h"

namespace tt::metrics {
namespace {

v1::Record request(const std::string& model, uint32_t status, uint64_t in, uint64_t out) {
  v1::Record rec;
  auto* r = rec.mutable_request();
  r->set_provider("anthropic");
  r->set_model(model);
  r->set_harness("claude-code");
  r->set_user("alice");
  r->set_project("/home/alice/app");
  r->set_status(status);
  r->set_input_tokens(in);
  r->set_cache_read_tokens(7);
  r->set_output_tokens(out);
  r->set_usage_source(status == 200 ? "exact" : "estimated");
  // Priced at $1 per token in, $2 per token out, when answered; else the model has no price.
  r->set_cost_usd(status == 200 ? in + 2.0 * out : 0);
  r->set_cost_source(status == 200 ? "price_table" : "unknown_model");
  return rec;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(MetricsTest, CountsTokensAndRequestsExactly) {
  Metrics m;
  m.write(request("claude-sonnet-4-5", 200, 100, 20));
  m.write(request("claude-sonnet-4-5", 200, 50, 5));
  m.write(request("claude-sonnet-4-5", 529, 3, 0));
  std::string t = m.render();
  // Labels come out in name order: harness, model, project, provider, (status_class / type), user.
  const std::string l = R"(harness="claude-code",model="claude-sonnet-4-5",project="/home/alice/app",provider="anthropic")";
  const std::string u = R"(user="alice")";
  EXPECT_TRUE(has_line(t, "tokentap_tokens_total{" + l + R"(,type="input",)" + u + "} 153")) << t;
  EXPECT_TRUE(has_line(t, "tokentap_tokens_total{" + l + R"(,type="cache_read",)" + u + "} 21")) << t;
  EXPECT_TRUE(has_line(t, "tokentap_tokens_total{" + l + R"(,type="cache_write",)" + u + "} 0")) << t;
  EXPECT_TRUE(has_line(t, "tokentap_tokens_total{" + l + R"(,type="output",)" + u + "} 25")) << t;
  EXPECT_TRUE(has_line(t, "tokentap_requests_total{" + l + R"(,status_class="2xx",)" + u + "} 2")) << t;
  EXPECT_TRUE(has_line(t, "tokentap_requests_total{" + l + R"(,status_class="5xx",)" + u + "} 1")) << t;
  EXPECT_TRUE(has_line(t, "tokentap_request_errors_total{" + l + "," + u + "} 1")) << t;
  EXPECT_TRUE(has_line(t, "tokentap_estimated_requests_total{" + l + "," + u + "} 1")) << t;
  // 100 + 40 + 50 + 10 dollars; the 529 had no price.
  EXPECT_TRUE(has_line(t, "tokentap_cost_usd_total{" + l + "," + u + "} 200")) << t;
  EXPECT_TRUE(has_line(t, "tokentap_unpriced_requests_total{" + l + "," + u + "} 1")) << t;
  EXPECT_TRUE(has_line(t, "# TYPE tokentap_tokens_total counter")) << t;
}

TEST(MetricsTest, CapsDistinctModelsAtAHundred) {
  Metrics m;
  for (int i = 0; i < 130; ++i) m.write(request("model-" + std::to_string(i), 200, 1, 1));
  std::string t = m.render();
  EXPECT_NE(t.find(R"(model="model-99")"), std::string::npos);
  EXPECT_EQ(t.find(R"(model="model-100")"), std::string::npos);
  EXPECT_TRUE(has_line(t, R"(tokentap_requests_total{harness="claude-code",model="other",project="/home/alice/app",)"
                          R"(provider="anthropic",status_class="2xx",user="alice"} 30)"))
      << t;
}

TEST(MetricsTest, LabelCapKeepsValuesSeenBeforeTheCap) {
  LabelCap cap(2);
  EXPECT_EQ(cap("a"), "a");
  EXPECT_EQ(cap("b"), "b");
  EXPECT_EQ(cap("c"), "other");
  EXPECT_EQ(cap("a"), "a");
}

TEST(MetricsTest, CaptureStatsAndHealthAsTheyStand) {
  Metrics m;
  v1::CaptureStats cs;
  cs.set_events_lost(4);
  cs.set_decode_errors(2);
  cs.set_hpack_limit_hits(1);
  m.set_capture_stats(cs);
  cs.set_events_lost(9);
  m.set_capture_stats(cs);
  m.set_health(nlohmann::json::parse(
      R"({"processes":{"daemon":{"cpu_seconds":1.5,"rss_bytes":4096},"parser":{"cpu_seconds":0.25,"rss_bytes":8192}},"ring_buffer_bytes":16777216,"ring_buffer_used_bytes":4160})"));
  std::string t = m.render();
  EXPECT_TRUE(has_line(t, R"(tokentap_capture_losses_total{kind="events_lost"} 9)")) << t;
  EXPECT_TRUE(has_line(t, R"(tokentap_capture_losses_total{kind="decode_errors"} 2)")) << t;
  EXPECT_TRUE(has_line(t, R"(tokentap_limit_hits_total{limit="hpack"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(tokentap_process_cpu_seconds_total{process="parser"} 0.25)")) << t;
  EXPECT_TRUE(has_line(t, R"(tokentap_process_resident_memory_bytes{process="daemon"} 4096)")) << t;
  EXPECT_TRUE(has_line(t, "tokentap_ring_buffer_size_bytes 16777216")) << t;
  EXPECT_TRUE(has_line(t, "tokentap_ring_buffer_used_bytes 4160")) << t;
}

TEST(MetricsServerTest, AnswersOnlyGetMetrics) {
  auto body = [] { return std::string("x 1\n"); };
  std::string ok = http_answer("GET /metrics HTTP/1.1\r\nHost: a\r\n", body);
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(ok.find("Content-Length: 4\r\n"), std::string::npos);
  EXPECT_EQ(ok.substr(ok.size() - 4), "x 1\n");
  EXPECT_EQ(http_answer("GET / HTTP/1.1\r\n", body).rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(http_answer("POST /metrics HTTP/1.1\r\n", body).rfind("HTTP/1.1 405", 0), 0u);
}

// A client that sends more than 8 KiB of head gets 431 and is closed.
TEST(MetricsServerTest, BoundsTheRequestHead) {
  auto fd = listen_on("127.0.0.1:0");
  ASSERT_TRUE(fd) << fd.error();
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(*fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(c, reinterpret_cast<sockaddr*>(&ss), len), 0);
  std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a');
  ASSERT_EQ(send(c, big.data(), big.size(), 0), ssize_t(big.size()));
  Server server(*fd, [] { return std::string("x 1\n"); });
  std::string got;
  for (int i = 0; i < 50 && got.find("\r\n\r\n") == std::string::npos; ++i) {
    std::vector<pollfd> fds;
    server.add_pollfds(fds);
    poll(fds.data(), fds.size(), 100);
    server.on_ready(fds.data(), fds.size(), 1);
    char buf[512];
    ssize_t n = recv(c, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) got.append(buf, size_t(n));
  }
  EXPECT_EQ(got.rfind("HTTP/1.1 431", 0), 0u) << got;
  close(c);
  close(*fd);
}

}  // namespace
}  // namespace tt::metrics
