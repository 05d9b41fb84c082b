#include "otlp/histograms.h"

#include <algorithm>

namespace tt::otlp {

Histograms::SeriesMap& Histograms::series_of(const HistogramDef* def) {
  for (auto& [d, s] : metrics_)
    if (d == def) return s;
  return metrics_.emplace_back(def, SeriesMap()).second;
}

void Histograms::record(const Measurement& m) {
  Series& s = series_of(m.metric)[m.attrs];
  const std::vector<double>& bounds = m.metric->bounds;
  if (s.buckets.empty()) {
    s.buckets.assign(bounds.size() + 1, 0);
    s.min = s.max = m.value;
  }
  // Bucket i holds bounds[i-1] < v <= bounds[i]: the first bound not below v.
  s.buckets[std::lower_bound(bounds.begin(), bounds.end(), m.value) - bounds.begin()]++;
  s.count++;
  s.sum += m.value;
  s.min = std::min(s.min, m.value);
  s.max = std::max(s.max, m.value);
}

void Histograms::fill(metrics_pb::ScopeMetrics* out, uint64_t now_unix_ns) const {
  for (const auto& [def, all] : metrics_) {
    metrics_pb::Metric* metric = out->add_metrics();
    metric->set_name(def->name);
    metric->set_unit(def->unit);
    metric->set_description(def->description);
    metrics_pb::Histogram* h = metric->mutable_histogram();
    h->set_aggregation_temporality(metrics_pb::AGGREGATION_TEMPORALITY_CUMULATIVE);
    for (const auto& [attrs, s] : all) {
      metrics_pb::HistogramDataPoint* p = h->add_data_points();
      add_attributes(attrs, p->mutable_attributes());
      p->set_start_time_unix_nano(start_ns_);
      p->set_time_unix_nano(now_unix_ns);
      p->set_count(s.count);
      p->set_sum(s.sum);
      p->set_min(s.min);
      p->set_max(s.max);
      for (uint64_t c : s.buckets) p->add_bucket_counts(c);
      for (double b : def->bounds) p->add_explicit_bounds(b);
    }
  }
}

size_t Histograms::series() const {
  size_t n = 0;
  for (const auto& [def, all] : metrics_) n += all.size();
  return n;
}

}  // namespace tt::otlp
