// daemon --otlp-endpoint: the spool's records exported over OTLP/HTTP as they
// become durable, from the shipper's process (the parser may not use the
// network). Its place in the spool is kept in `otlp-exported`. A record's
// place moves on once the exporter holds it: the exporter sends cumulative
// metrics and keeps spans it could not send for the next export (otlp/exporter.h).
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "otlp/exporter.h"
#include "ship/spool_reader.h"

namespace tt::ship {

inline constexpr const char* kOtlpCursor = "otlp-exported";

class OtlpFeeder {
 public:
  // others: the other consumers' cursor files (the collector's "shipped").
  OtlpFeeder(std::unique_ptr<otlp::OtlpExporter> exporter, int spool_dir_fd, std::vector<std::string> others)
      : exporter_(std::move(exporter)), reader_(spool_dir_fd, kOtlpCursor, std::move(others)) {}
  // Until stop; then what is durable goes in too, and the exporter's last export.
  // The records it took.
  uint64_t run(const std::atomic<bool>& stop, unsigned poll_ms = 200);

 private:
  bool feed_once();  // false: nothing new
  std::unique_ptr<otlp::OtlpExporter> exporter_;
  SpoolReader reader_;
  Cursor at_;
  uint64_t records_ = 0;
};

}  // namespace tt::ship
