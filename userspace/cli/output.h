// Sinks, report and option wiring shared by `profile`, `daemon` and `replay`.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>

#include "aggregate/aggregator.h"
#include "cli/commands.h"
#include "capture/bpf/tracer.h"
#include "common/result.h"
#include "engine/engine.h"
#include "engine/live_capture.h"
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

// An engine fed by a live capture: RUN_INFO (run_info plus the run id, scope and
// clock offset) goes first, then the kernel's records; the pipeline's answers
// (mute a connection, watch a socket) go back to the capture.
struct LiveRun {
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<engine::LiveCapture> live;
  uint64_t start_mono_ns = 0;
};
Result<LiveRun> start_live(engine::Scope scope, engine::EngineOptions eopts, const CaptureOptions& c,
                           sink::RecordSink* sink, nlohmann::json run_info);

}  // namespace tt::cli
