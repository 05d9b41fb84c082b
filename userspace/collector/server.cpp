#include "collector/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "collector/service.h"
#include "common/text_file.h"
#include "metrics/metrics.h"
#include "metrics/server.h"
#include "otlp/exporter.h"
#include "store/store.h"

namespace tt::collector {

namespace {

constexpr int kMaxMessageBytes = 16 << 20;  // a batch is at most ~4 MiB; more is refused (RESOURCE_EXHAUSTED)
constexpr int kMaxThreads = 256;            // streams served at once; a stalled one holds only its own

Result<std::shared_ptr<grpc::ServerCredentials>> tls_credentials(const CollectorOptions& o) {
  auto cert = read_text_file(o.tls_cert, "--tls-cert");
  auto key = cert ? read_text_file(o.tls_key, "--tls-key") : Result<std::string>(std::string());
  if (!cert || !key) return Error{!cert ? cert.error() : key.error()};
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!o.tls_client_ca.empty()) {
    auto ca = read_text_file(o.tls_client_ca, "--tls-client-ca");
    if (!ca) return Error{ca.error()};
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// The collector's own counters beside the fleet's token counters.
struct Exposition {
  metrics::Metrics fleet;  // the same families as a daemon's, summed over every daemon
  std::mutex mu;
  std::string render(const ServiceStats& st) {
    std::lock_guard<std::mutex> lock(mu);
    auto reg = std::make_shared<prometheus::Registry>();
    auto& recs = prometheus::BuildCounter()
                     .Name("tokentap_collector_records_total")
                     .Help("Records received from daemons, by what became of them")
                     .Register(*reg);
    recs.Add({{"result", "stored"}}).Increment(double(st.stored));
    recs.Add({{"result", "duplicate"}}).Increment(double(st.duplicates));
    recs.Add({{"result", "rejected"}}).Increment(double(st.rejected));
    prometheus::BuildCounter().Name("tokentap_collector_batches_total").Help("Batches stored and acknowledged")
        .Register(*reg).Add({}).Increment(double(st.batches));
    auto& refused = prometheus::BuildCounter()
                        .Name("tokentap_collector_streams_refused_total")
                        .Help("Streams ended by the collector, by reason")
                        .Register(*reg);
    refused.Add({{"reason", "unauthenticated"}}).Increment(double(st.refused_unauthenticated));
    refused.Add({{"reason", "invalid"}}).Increment(double(st.refused_invalid));
    refused.Add({{"reason", "store_error"}}).Increment(double(st.store_errors));
    return fleet.render() + prometheus::TextSerializer().Serialize(reg->Collect());
  }
  void count(const std::vector<const v1::Record*>& fresh) {
    std::lock_guard<std::mutex> lock(mu);
    for (const v1::Record* r : fresh) fleet.write(*r);
  }
};

// --otlp-endpoint: the records each batch added, exported with their daemon's
// host as the resource's host.name (one exporter per host, so each is a
// series of its own). Hosts beyond kMaxOtlpHosts share the last one.
class OtlpOut {
 public:
  explicit OtlpOut(std::string endpoint) : endpoint_(std::move(endpoint)) {}
  static Result<void> check(const std::string& endpoint) {
    return endpoint.empty() ? Result<void>{} : otlp::check_endpoint(endpoint);
  }
  void write(const std::string& host, const std::vector<const v1::Record*>& fresh) {
    if (endpoint_.empty()) return;
    otlp::OtlpExporter* e = exporter(host);
    if (!e) return;
    for (const v1::Record* r : fresh) e->write(*r);
  }
  void close() {
    for (auto& [host, e] : by_host_)
      if (auto r = e->close(); !r) fprintf(stderr, "tokentap: collector: OTLP for %s: %s\n", host.c_str(), r.error().c_str());
  }

 private:
  static constexpr size_t kMaxOtlpHosts = 1000;
  otlp::OtlpExporter* exporter(const std::string& host) {
    auto it = by_host_.find(host);
    if (it != by_host_.end()) return it->second.get();
    if (by_host_.size() >= kMaxOtlpHosts) return by_host_.rbegin()->second.get();
    otlp::ExporterOptions o;
    o.host_name = host;
    auto e = otlp::OtlpExporter::open(endpoint_, o);
    if (!e) return nullptr;
    return (by_host_[host] = std::move(*e)).get();
  }
  std::string endpoint_;
  std::map<std::string, std::unique_ptr<otlp::OtlpExporter>> by_host_;
};

// GET /metrics from a thread of its own, until stop.
void serve_metrics(int listen_fd, Exposition& ex, const ServiceStats& st, const std::atomic<bool>& stop) {
  metrics::Server server(listen_fd, [&] { return ex.render(st); });
  std::vector<pollfd> fds;
  while (!stop) {
    fds.clear();
    server.add_pollfds(fds);
    poll(fds.data(), fds.size(), 200);
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    server.on_ready(fds.data(), fds.size(), uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec));
  }
}

Result<Tokens> tokens_of(const CollectorOptions& o) {
  if (o.token_file.empty()) {
    if (o.tls_client_ca.empty())
      return make_error("the collector needs --token-file or --tls-client-ca: it accepts no anonymous daemons");
    return Tokens::of({});
  }
  return Tokens::load(o.token_file);
}

}  // namespace

int run_collector(const CollectorOptions& o) {
  auto tokens = tokens_of(o);
  auto creds = tokens ? tls_credentials(o) : Result<std::shared_ptr<grpc::ServerCredentials>>(nullptr);
  auto st = tokens && creds ? store::open_store(o.db) : Result<std::unique_ptr<store::Store>>(nullptr);
  auto mfd = st && !o.metrics_listen.empty() ? metrics::listen_on(o.metrics_listen) : Result<int>(-1);
  auto otlp_ok = mfd ? OtlpOut::check(o.otlp_endpoint) : Result<void>{};
  if (!tokens || !creds || !st || !mfd || !otlp_ok) {
    fprintf(stderr, "tokentap: %s\n",
            (!tokens ? tokens.error() : !creds ? creds.error() : !st ? st.error() : !mfd ? mfd.error() : otlp_ok.error())
                .c_str());
    return 2;
  }
  // Signals go to the thread that waits for them, not to gRPC's.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ServiceStats stats;
  Exposition ex;
  OtlpOut otlp_out(o.otlp_endpoint);
  // Called under the service's lock: one batch at a time.
  auto on_stored = [&ex, &otlp_out](const std::string& host, const std::vector<const v1::Record*>& fresh) {
    ex.count(fresh);
    otlp_out.write(host, fresh);
  };
  CollectorService service(**st, std::move(*tokens), on_stored, stats);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(o.listen, *creds, &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  grpc::ResourceQuota quota("tokentap-collector");
  quota.SetMaxThreads(kMaxThreads);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);  // dead daemons' streams end
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    fprintf(stderr, "tokentap: collector: cannot listen on %s\n", o.listen.c_str());
    return 2;
  }
  fprintf(stderr, "tokentap: collector listening on %s (port %d), storing in %s\n", o.listen.c_str(), port,
          o.db.c_str());
  std::atomic<bool> stop{false};
  std::thread metrics_thread;
  if (*mfd >= 0) metrics_thread = std::thread(serve_metrics, *mfd, std::ref(ex), std::cref(stats), std::cref(stop));
  int sig = 0;
  sigwait(&set, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  stop = true;
  if (metrics_thread.joinable()) metrics_thread.join();
  otlp_out.close();  // the last export
  fprintf(stderr, "tokentap: collector stopped: %llu batch(es), %llu record(s) stored, %llu duplicate(s)\n",
          static_cast<unsigned long long>(stats.batches.load()), static_cast<unsigned long long>(stats.stored.load()),
          static_cast<unsigned long long>(stats.duplicates.load()));
  return 0;
}

}  // namespace tt::collector
