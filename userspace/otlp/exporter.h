// OtlpExporter: a record sink that sends what the records say to an
// OpenTelemetry collector over OTLP/HTTP (protobuf), following the GenAI
// semantic conventions (otlp/genai.h, docs/otlp.md):
//   - metrics gen_ai.client.token.usage and gen_ai.client.operation.duration,
//     cumulative histograms, to ENDPOINT/v1/metrics;
//   - one CLIENT span per API request, with its gen_ai.usage.*, to ENDPOINT/v1/traces.
// write() only maps and queues (it never waits on the network); a thread of
// its own exports every interval, on flush() and at close(), retrying with
// backoff. A failed export is counted in stats() and said on stderr; spans
// that could not be sent stay queued for the next export (bounded: the oldest
// past max_queued_spans are dropped, and counted).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "otlp/genai.h"
#include "otlp/histograms.h"
#include "otlp/http.h"
#include "sink/sink.h"

namespace tt::otlp {

struct ExporterOptions {
  uint32_t interval_ms = 10000;  // export this often while records flow; 0: only on flush() and close()
  uint32_t timeout_ms = 10000;   // each POST
  RetryPolicy retry;
  size_t max_queued_spans = 100000;
  size_t max_spans_per_request = 1000;
  std::string host_name;  // resource host.name; "" = this machine's
};

struct ExportStats {
  uint64_t metric_exports = 0;     // POSTs to /v1/metrics that succeeded
  uint64_t span_exports = 0;       // ... to /v1/traces
  uint64_t failed_exports = 0;     // exports given up after their retries
  uint64_t retries = 0;            // attempts after a first one failed
  uint64_t spans_exported = 0;
  uint64_t spans_dropped = 0;      // past max_queued_spans while the collector failed
  uint64_t rejected = 0;           // spans and data points the collector said it rejected
  std::string last_error;
};

// Whether endpoint is an OTLP/HTTP base URL open() would take (a check before
// the exporter is made elsewhere: the daemon's shipper, the collector).
Result<void> check_endpoint(const std::string& endpoint);

class OtlpExporter : public sink::RecordSink {
 public:
  // endpoint: the collector's OTLP/HTTP base URL, e.g. http://127.0.0.1:4318.
  static Result<std::unique_ptr<OtlpExporter>> open(const std::string& endpoint, ExporterOptions opts = {});
  ~OtlpExporter() override;
  // ApiRequest records are mapped and queued; other records are ignored.
  void write(const v1::Record& rec) override;
  // Exports now and waits for it. An error if any part of it failed.
  Result<void> flush();
  // The last export, then the thread stops. An error if data was not delivered:
  // the last metrics export failed, or spans were dropped or are still queued.
  Result<void> close() override;
  ExportStats stats() const;

 private:
  OtlpExporter(std::string endpoint, ExporterOptions opts);
  void run();
  bool export_all();  // false if anything failed
  bool export_metrics();
  bool export_spans();
  // One POST with its retries; counts and says a failure or a rejection.
  bool post(const char* path, const std::string& body, int64_t (*rejected)(const std::string&, std::string*));
  void requeue(std::deque<trace::Span>& spans);

  const std::string endpoint_;
  const ExporterOptions opts_;
  const std::string host_name_;
  HttpClient http_;  // the export thread's only

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable wake_, done_;
  GenAiMapper mapper_;
  Histograms histograms_;
  std::deque<trace::Span> spans_;
  ExportStats stats_;
  uint64_t flush_wanted_ = 0, flush_done_ = 0;  // flush() generations
  bool flush_ok_ = true;  // the outcome of export flush_done_
  bool stopping_ = false, last_ok_ = true;
  std::thread thread_;
  bool closed_ = false;  // the owner's: close() returned
};

}  // namespace tt::otlp
