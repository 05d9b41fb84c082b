// Cumulative explicit-bucket histograms, one series per attribute set, as
// OTLP data points. Cumulative: each export carries the totals since start,
// so an export that fails loses nothing, the next one carries it.
#pragma once
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "opentelemetry/proto/metrics/v1/metrics.pb.h"
#include "otlp/genai.h"

namespace tt::otlp {

namespace metrics_pb = ::opentelemetry::proto::metrics::v1;

class Histograms {
 public:
  explicit Histograms(uint64_t start_unix_ns) : start_ns_(start_unix_ns) {}
  void record(const Measurement& m);
  // One Metric per histogram with data, every series as it stands at now.
  void fill(metrics_pb::ScopeMetrics* out, uint64_t now_unix_ns) const;
  size_t series() const;

 private:
  struct Series {
    uint64_t count = 0;
    double sum = 0, min = 0, max = 0;
    std::vector<uint64_t> buckets;  // bounds.size() + 1
  };
  using SeriesMap = std::map<Attrs, Series>;
  SeriesMap& series_of(const HistogramDef* def);

  uint64_t start_ns_;
  std::vector<std::pair<const HistogramDef*, SeriesMap>> metrics_;  // in order of first use
};

}  // namespace tt::otlp
