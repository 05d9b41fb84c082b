#include "otlp/exporter.h"

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace tt::otlp {

namespace {

namespace metrics_svc = ::opentelemetry::proto::collector::metrics::v1;
namespace trace_svc = ::opentelemetry::proto::collector::trace::v1;

uint64_t now_unix_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

std::string this_host() {
  char buf[256] = "";
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

// Resource and scope, alike for metrics and spans: who sends, which conventions.
template <class ResourceData, class ScopeData>
void describe(ResourceData* rd, ScopeData* sd, const std::string& host) {
  Attrs resource = {{"service.name", std::string("tokentap")},
                    {"service.version", std::string(TOKENTAP_VERSION)},
                    {"host.name", host}};
  add_attributes(resource, rd->mutable_resource()->mutable_attributes());
  rd->set_schema_url(kSchemaUrl);
  sd->mutable_scope()->set_name("tokentap");
  sd->mutable_scope()->set_version(TOKENTAP_VERSION);
  sd->set_schema_url(kSchemaUrl);
}

// What the collector said it did not take (a partial success), if anything.
int64_t rejected_points(const std::string& body, std::string* why) {
  metrics_svc::ExportMetricsServiceResponse r;
  if (!r.ParseFromString(body)) return 0;
  *why = r.partial_success().error_message();
  return r.partial_success().rejected_data_points();
}
int64_t rejected_spans(const std::string& body, std::string* why) {
  trace_svc::ExportTraceServiceResponse r;
  if (!r.ParseFromString(body)) return 0;
  *why = r.partial_success().error_message();
  return r.partial_success().rejected_spans();
}

}  // namespace

Result<void> check_endpoint(const std::string& endpoint) {
  if (!endpoint.starts_with("http://") && !endpoint.starts_with("https://"))
    return make_error("--otlp-endpoint wants an http:// or https:// URL (the collector's OTLP/HTTP port), got " +
                      endpoint);
  return {};
}

Result<std::unique_ptr<OtlpExporter>> OtlpExporter::open(const std::string& endpoint, ExporterOptions opts) {
  if (auto r = check_endpoint(endpoint); !r) return Error{r.error()};
  std::string base = endpoint;
  while (base.ends_with("/")) base.pop_back();
  return std::unique_ptr<OtlpExporter>(new OtlpExporter(base, std::move(opts)));
}

OtlpExporter::OtlpExporter(std::string endpoint, ExporterOptions opts)
    : endpoint_(std::move(endpoint)),
      opts_(std::move(opts)),
      host_name_(opts_.host_name.empty() ? this_host() : opts_.host_name),
      http_(opts_.timeout_ms),
      histograms_(now_unix_ns()) {
  thread_ = std::thread(&OtlpExporter::run, this);
}

OtlpExporter::~OtlpExporter() {
  if (closed_) return;
  if (auto r = close(); !r) fprintf(stderr, "tokentap: %s\n", r.error().c_str());
}

void OtlpExporter::write(const v1::Record& rec) {
  if (!rec.has_request()) return;
  trace::Span span;
  GenAiMapper::fill_span(rec.request(), &span);
  std::lock_guard lk(mu_);
  for (const Measurement& m : mapper_.measurements(rec.request())) histograms_.record(m);
  spans_.push_back(std::move(span));
  if (spans_.size() > opts_.max_queued_spans) {
    spans_.pop_front();
    stats_.spans_dropped++;
  }
}

void OtlpExporter::run() {
  std::unique_lock lk(mu_);
  auto wanted = [this] { return stopping_ || flush_wanted_ > flush_done_; };
  for (;;) {
    if (opts_.interval_ms) wake_.wait_for(lk, std::chrono::milliseconds(opts_.interval_ms), wanted);
    else wake_.wait(lk, wanted);
    bool stop = stopping_;
    uint64_t generation = flush_wanted_;
    lk.unlock();
    bool ok = export_all();
    lk.lock();
    last_ok_ = ok;
    if (generation > flush_done_) {
      flush_done_ = generation;
      flush_ok_ = ok;
      done_.notify_all();
    }
    if (stop) return;
  }
}

bool OtlpExporter::export_all() {
  bool metrics_ok = export_metrics();
  return export_spans() && metrics_ok;
}

bool OtlpExporter::export_metrics() {
  metrics_svc::ExportMetricsServiceRequest req;
  {
    std::lock_guard lk(mu_);
    if (histograms_.series() == 0) return true;
    auto* rm = req.add_resource_metrics();
    auto* sm = rm->add_scope_metrics();
    describe(rm, sm, host_name_);
    histograms_.fill(sm, now_unix_ns());
  }
  if (!post("/v1/metrics", req.SerializeAsString(), rejected_points)) return false;
  std::lock_guard lk(mu_);
  stats_.metric_exports++;
  return true;
}

bool OtlpExporter::export_spans() {
  for (;;) {
    std::deque<trace::Span> batch;
    {
      std::lock_guard lk(mu_);
      while (!spans_.empty() && batch.size() < opts_.max_spans_per_request) {
        batch.push_back(std::move(spans_.front()));
        spans_.pop_front();
      }
    }
    if (batch.empty()) return true;
    trace_svc::ExportTraceServiceRequest req;
    auto* rs = req.add_resource_spans();
    auto* ss = rs->add_scope_spans();
    describe(rs, ss, host_name_);
    for (const trace::Span& s : batch) *ss->add_spans() = s;
    if (!post("/v1/traces", req.SerializeAsString(), rejected_spans)) {
      requeue(batch);
      return false;
    }
    std::lock_guard lk(mu_);
    stats_.span_exports++;
    stats_.spans_exported += batch.size();
  }
}

// A batch that did not go back to the front, oldest first; past the bound the
// oldest give way to the newest.
void OtlpExporter::requeue(std::deque<trace::Span>& spans) {
  std::lock_guard lk(mu_);
  spans_.insert(spans_.begin(), std::make_move_iterator(spans.begin()), std::make_move_iterator(spans.end()));
  while (spans_.size() > opts_.max_queued_spans) {
    spans_.pop_front();
    stats_.spans_dropped++;
  }
}

bool OtlpExporter::post(const char* path, const std::string& body,
                        int64_t (*rejected)(const std::string&, std::string*)) {
  uint64_t retries = 0;
  std::string url = endpoint_ + path;
  HttpReply r = post_with_retries(http_, url, body, opts_.retry, &retries);
  std::string why;
  int64_t refused = r.ok() ? rejected(r.body, &why) : 0;
  std::lock_guard lk(mu_);
  stats_.retries += retries;
  if (refused > 0) {
    stats_.rejected += uint64_t(refused);
    stats_.last_error = url + " rejected " + std::to_string(refused) + " item(s): " + why;
    fprintf(stderr, "tokentap: OTLP: %s\n", stats_.last_error.c_str());
  }
  if (r.ok()) return true;
  stats_.failed_exports++;
  stats_.last_error = "export to " + url + " failed after " + std::to_string(retries + 1) + " attempt(s): " + r.error;
  fprintf(stderr, "tokentap: OTLP: %s (%llu failed export(s) so far)\n", stats_.last_error.c_str(),
          static_cast<unsigned long long>(stats_.failed_exports));
  return false;
}

Result<void> OtlpExporter::flush() {
  std::unique_lock lk(mu_);
  if (stopping_) return make_error("OTLP exporter is closed");
  uint64_t generation = ++flush_wanted_;
  wake_.notify_all();
  done_.wait(lk, [&] { return flush_done_ >= generation; });
  if (!flush_ok_) return make_error("OTLP " + stats_.last_error);
  return {};
}

Result<void> OtlpExporter::close() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return make_error("OTLP exporter closed twice");
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  closed_ = true;
  std::lock_guard lk(mu_);
  if (last_ok_ && spans_.empty() && !stats_.spans_dropped && !stats_.rejected) return {};
  return make_error("OTLP export to " + endpoint_ + " incomplete: " + std::to_string(spans_.size()) +
                    " span(s) not sent, " + std::to_string(stats_.spans_dropped) + " dropped, " +
                    std::to_string(stats_.rejected) + " item(s) rejected, " +
                    std::to_string(stats_.failed_exports) + " failed export(s); last error: " + stats_.last_error);
}

ExportStats OtlpExporter::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

}  // namespace tt::otlp
