// Prometheus metrics computed from the records (docs/metrics.md): the parser
// process sees every request, so it keeps the counters and renders them for
// GET /metrics (server.h). Label values are capped per label (LabelCap): a
// peer that invents model names cannot grow the daemon's memory or the TSDB.
#pragma once
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "sink/sink.h"

namespace tt::metrics {

namespace v1 = ::tokentap::v1;

// At most max distinct values; past it, new values read as "other".
class LabelCap {
 public:
  explicit LabelCap(size_t max) : max_(max) {}
  std::string operator()(const std::string& value);

 private:
  size_t max_;
  std::set<std::string> seen_;
};

class Metrics : public sink::RecordSink {
 public:
  Metrics();
  ~Metrics() override;
  // API requests count; other records are ignored.
  void write(const v1::Record& rec) override;
  // The pipeline's loss and bound counters (absolute values, as they stand).
  void set_capture_stats(const v1::CaptureStats& cs);
  // What the daemon's root process reports (HEALTH records, health.h).
  void set_health(const nlohmann::json& health);
  // The text exposition format, version 0.0.4.
  std::string render() const;

 private:
  struct Families;
  prometheus::Labels request_labels(const v1::ApiRequest& r);
  void count_request(const v1::ApiRequest& r);
  void set_counter(prometheus::Family<prometheus::Counter>& f, const prometheus::Labels& l, double value);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> f_;
  std::map<std::string, LabelCap> caps_;
};

}  // namespace tt::metrics
