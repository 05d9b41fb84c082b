// OtlpExporter against a collector on a local socket that refuses, fails or
// answers: retries with backoff where OTLP allows them, failures counted and
// reported, spans kept for the next export, nothing silent.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/exporter.h"

namespace tt::otlp {
namespace {

namespace trace_svc = ::opentelemetry::proto::collector::trace::v1;

int bound_socket(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    ADD_FAILURE() << "bind: " << strerror(errno);
  *port = ntohs(a.sin_port);
  return fd;
}

// A collector on 127.0.0.1 answering each request with the next status of its
// script (the last one repeats) and `reply` as body; one request per connection.
class FakeCollector {
 public:
  explicit FakeCollector(std::vector<int> script, std::string reply = "")
      : script_(std::move(script)), reply_(std::move(reply)) {
    fd_ = bound_socket(&port_);
    listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeCollector() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  struct Request {
    std::string path, body;
  };
  std::vector<Request> requests() const {
    std::lock_guard lk(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) != 1) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c >= 0) answer(c);
    }
  }
  void answer(int c) {
    std::string in;
    char buf[65536];
    size_t head_end = std::string::npos, want = 0;
    while (head_end == std::string::npos || in.size() < head_end + 4 + want) {
      ssize_t n = read(c, buf, sizeof(buf));
      if (n <= 0) break;
      in.append(buf, n);
      head_end = in.find("\r\n\r\n");
      if (auto cl = in.find("Content-Length: "); cl != std::string::npos) want = std::stoul(in.substr(cl + 16));
    }
    int status;
    {
      std::lock_guard lk(mu_);
      size_t sp = in.find(' ');
      requests_.push_back({in.substr(sp + 1, in.find(' ', sp + 1) - sp - 1), in.substr(head_end + 4)});
      status = script_[std::min(requests_.size(), script_.size()) - 1];
    }
    std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/x-protobuf\r\n" +
                      "Content-Length: " + std::to_string(reply_.size()) + "\r\nConnection: close\r\n\r\n" + reply_;
    (void)!write(c, out.data(), out.size());
    close(c);
  }

  std::vector<int> script_;
  std::string reply_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Request> requests_;
};

v1::Record request_record(uint32_t seq) {
  v1::Record rec;
  auto* r = rec.mutable_request();
  r->set_run_id("run");
  r->set_sequence_on_connection(seq);
  r->set_provider("openai");
  r->set_api("chat_completions");
  r->set_model("gpt-4o-mini");
  r->set_billable(true);
  r->set_status(200);
  r->set_complete(true);
  r->set_input_tokens(10);
  r->set_output_tokens(3);
  r->set_start_unix_ns(1);
  r->set_end_unix_ns(2);
  return rec;
}

// Quick retries: the test measures their number, not their pace.
ExporterOptions quick() {
  ExporterOptions o;
  o.interval_ms = 0;
  o.timeout_ms = 2000;
  o.retry = {3, 1, 4};
  o.host_name = "testhost";
  return o;
}

std::unique_ptr<OtlpExporter> open_exporter(const std::string& url, ExporterOptions o = quick()) {
  auto e = OtlpExporter::open(url, o);
  EXPECT_TRUE(e.ok()) << e.error();
  return std::move(*e);
}

TEST(OtlpExporterTest, RefusedConnectionsAreRetriedThenCountedAndReported) {
  uint16_t port;
  close(bound_socket(&port));  // nobody listens there now
  auto e = open_exporter("http://127.0.0.1:" + std::to_string(port) + "/");
  e->write(request_record(1));
  auto r = e->flush();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("failed after 3 attempt(s)"), std::string::npos) << r.error();
  ExportStats s = e->stats();
  EXPECT_EQ(s.failed_exports, 2u);  // metrics and traces
  EXPECT_EQ(s.retries, 4u);         // two more tries each
  EXPECT_EQ(s.spans_exported, 0u);
  auto c = e->close();
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("1 span(s) not sent"), std::string::npos) << c.error();
}

TEST(OtlpExporterTest, ServerErrorsAreFinalNotRetried) {
  FakeCollector col({500});
  auto e = open_exporter(col.url());
  e->write(request_record(1));
  EXPECT_FALSE(e->flush().ok());
  auto reqs = col.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].path, "/v1/metrics");
  EXPECT_EQ(reqs[1].path, "/v1/traces");
  ExportStats s = e->stats();
  EXPECT_EQ(s.retries, 0u);
  EXPECT_EQ(s.failed_exports, 2u);
  EXPECT_NE(s.last_error.find("HTTP 500"), std::string::npos) << s.last_error;
  EXPECT_FALSE(e->close().ok());
}

TEST(OtlpExporterTest, UnavailableIsRetriedUntilItAnswers) {
  FakeCollector col({503, 200});
  auto e = open_exporter(col.url());
  e->write(request_record(1));
  auto r = e->flush();
  EXPECT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(col.requests().size(), 3u);  // metrics twice, then traces
  ExportStats s = e->stats();
  EXPECT_EQ(s.retries, 1u);
  EXPECT_EQ(s.failed_exports, 0u);
  EXPECT_EQ(s.metric_exports, 1u);
  EXPECT_EQ(s.spans_exported, 1u);
  EXPECT_TRUE(e->close().ok());
}

TEST(OtlpExporterTest, UnsentSpansGoWithTheNextExportWithinTheirBound) {
  FakeCollector col({500, 500, 200});
  ExporterOptions o = quick();
  o.max_queued_spans = 3;
  auto e = open_exporter(col.url(), o);
  e->write(request_record(1));
  e->write(request_record(2));
  EXPECT_FALSE(e->flush().ok());
  e->write(request_record(3));
  e->write(request_record(4));  // past the bound: the oldest gives way
  EXPECT_TRUE(e->flush().ok());
  auto reqs = col.requests();
  ASSERT_EQ(reqs.size(), 4u);
  trace_svc::ExportTraceServiceRequest sent;
  ASSERT_TRUE(sent.ParseFromString(reqs[3].body));
  ASSERT_EQ(sent.resource_spans(0).scope_spans(0).spans_size(), 3);
  ExportStats s = e->stats();
  EXPECT_EQ(s.spans_exported, 3u);
  EXPECT_EQ(s.spans_dropped, 1u);
  auto c = e->close();  // a dropped span is data not delivered
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("1 dropped"), std::string::npos) << c.error();
}

TEST(OtlpExporterTest, RejectionsAreCountedAndReported) {
  trace_svc::ExportTraceServiceResponse reply;
  reply.mutable_partial_success()->set_rejected_spans(1);
  reply.mutable_partial_success()->set_error_message("no thanks");
  FakeCollector col({200}, reply.SerializeAsString());
  auto e = open_exporter(col.url());
  e->write(request_record(1));
  EXPECT_TRUE(e->flush().ok());
  ExportStats s = e->stats();
  EXPECT_EQ(s.rejected, 2u);  // the metrics reply reads the same on the wire: 1 data point
  EXPECT_NE(s.last_error.find("no thanks"), std::string::npos);
  EXPECT_FALSE(e->close().ok());
}

TEST(OtlpExporterTest, ExportsEveryIntervalWithoutFlush) {
  FakeCollector col({200});
  ExporterOptions o = quick();
  o.interval_ms = 20;
  auto e = open_exporter(col.url(), o);
  e->write(request_record(1));
  for (int i = 0; i < 250 && col.requests().size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(col.requests().size(), 2u);
  EXPECT_EQ(e->stats().spans_exported, 1u);
  EXPECT_TRUE(e->close().ok());
}

TEST(OtlpExporterTest, NothingWrittenNothingSent) {
  FakeCollector col({200});
  auto e = open_exporter(col.url());
  v1::Record run;
  run.mutable_run()->set_run_id("r");  // not a request: ignored
  e->write(run);
  EXPECT_TRUE(e->flush().ok());
  EXPECT_TRUE(e->close().ok());
  EXPECT_TRUE(col.requests().empty());
}

TEST(OtlpExporterTest, EndpointMustBeAnHttpUrl) {
  auto e = OtlpExporter::open("127.0.0.1:4318");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().find("http://"), std::string::npos);
}

}  // namespace
}  // namespace tt::otlp
