// Sinks, report and option wiring shared by `profile`, `daemon` and `replay`.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>

#include "aggregate/aggregator.h"
#include "cli/commands.h"
#include "capture/bpf/tracer.h"
#include "common/result.h"
#include "engine/engine.h"
#include "sink/sink.h"

namespace tt::cli {

class Outputs {
 public:
  Result<void> open(const OutputOptions& opts);
  sink::RecordSink* sink() { return &multi_; }
  // Closes the files and prints the report. Returns false if a file failed.
  bool finish(const aggregate::Aggregator& agg);

 private:
  OutputOptions opts_;
  std::unique_ptr<sink::DelimitedProtoSink> proto_;
  std::unique_ptr<sink::JsonLinesSink> json_;
  sink::MultiSink multi_;
};

std::string new_run_id();

// HOST=PROVIDER pairs into RUN_INFO's "api_hosts" (so replay agrees).
Result<void> parse_api_hosts(const std::vector<std::string>& pairs, nlohmann::json& run_info);
capture::TracerOptions tracer_options(const CaptureOptions& c);
engine::EngineOptions engine_options(const OutputOptions& o, const CaptureOptions& c);

}  // namespace tt::cli
