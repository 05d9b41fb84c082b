// Sinks, report and option wiring shared by `profile`, `daemon` and `replay`.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "aggregate/aggregator.h"
#include "cli/commands.h"
#include "capture/bpf/tracer.h"
#include "common/result.h"
#include "engine/engine.h"
#include "pricing/pricing.h"
#include "engine/live_capture.h"
#include "metrics/server.h"
#include "otlp/exporter.h"
#include "sink/sink.h"
#include "sink/spool.h"
#include "top/server.h"

namespace tt::cli {

class Outputs {
 public:
  Result<void> open(const OutputOptions& opts);
  sink::RecordSink* sink() { return &multi_; }
  // One more sink for every record (metrics); it must outlive the outputs' use.
  void add_sink(sink::RecordSink* s) { multi_.add(s); }
  // Closes the files and prints the report (ending with the analysis of its
  // requests, when set_analysis gave the prices). Returns false if a file failed.
  bool finish(const aggregate::Aggregator& agg);
  void set_analysis(std::shared_ptr<const pricing::PriceTable> prices) { prices_ = std::move(prices); }
  // The files it writes (records, report), for a parser process that may not open any.
  std::vector<int> fds() const;
  // The spool's directory (the parser creates and deletes its segments there), or -1.
  int spool_dir_fd() const { return spool_ ? spool_->dir_fd() : -1; }
  // Every tick of the parser: the spool's batch fsync when due.
  void tick(uint64_t now_ms) {
    if (spool_) spool_->tick(now_ms);
  }
  // The daemon's privileged side, about every second: --out and --json past
  // their size are rotated (sink/rotate.h) and each fresh file is handed to
  // the parser with hand_over(slot, fd). false if a rotation failed (said on
  // stderr; that file is not rotated again).
  bool rotate_due(const std::function<bool(uint32_t slot, int fd)>& hand_over);
  // In the parser: the file the privileged side handed over for `slot`.
  Result<void> switch_file(uint32_t slot, int fd);
  // The spool's drops and repairs go into the run summary's capture stats.
  void report_spool_to(sink::v1::CaptureStats* cs) {
    if (spool_) spool_->report_to(cs);
  }
  ~Outputs();

 private:
  std::shared_ptr<const pricing::PriceTable> prices_;
  bool write_report(const std::string& text);
  sink::FileSink* file(uint32_t slot) const;  // the rotating output of a slot (out, json), if open
  Result<void> open_spool(const OutputOptions& opts);
  OutputOptions opts_;
  FILE* report_ = nullptr;  // opened with the others: the parser process cannot open files
  std::unique_ptr<sink::DelimitedProtoSink> proto_;
  std::unique_ptr<sink::JsonLinesSink> json_;
  bool rotate_failed_[2] = {false, false};  // per slot: out, json
  std::unique_ptr<sink::SpoolSink> spool_;
  std::unique_ptr<otlp::OtlpExporter> otlp_;
  sink::MultiSink multi_;
};

std::string new_run_id();

// HOST=PROVIDER pairs into RUN_INFO's "api_hosts" (so replay agrees).
Result<void> parse_api_hosts(const std::vector<std::string>& pairs, nlohmann::json& run_info);
capture::TracerOptions tracer_options(const CaptureOptions& c);
Result<engine::EngineOptions> engine_options(const OutputOptions& o, const CaptureOptions& c);

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
// RUN_INFO's payload: run_info plus the run id, the scope and the clock offset.
nlohmann::json run_info_record(nlohmann::json run_info, engine::Scope scope, const std::string& run_id,
                               uint64_t start_mono_ns);

// ---- parsing in a confined process (cli/isolated.cpp; docs/security.md, "Privilege split") ----

// The pipeline's answers (mute, watch) go to the parent over *back_fd, which
// the parser process sets once it runs.
void send_answers_to_parent(engine::EngineOptions& eopts, std::shared_ptr<int> back_fd);
// The parser process's body: records from data_fd into the engine (ticking
// every tick_ms) until FINISH, then the run's end and the outputs. Its exit code.
// Rotated output files arrive on back_fd. With a metrics or top server, the
// same loop serves their clients.
int parse_records(int data_fd, int back_fd, engine::Engine& engine, Outputs& outputs, int tick_ms,
                  metrics::Server* server = nullptr, top::Server* top = nullptr);
// The end of a run fed by records alone (replay, the parser process): closes
// the engine at the STATS record's end (else fallback_end_ns), writes the
// outputs. false if a file failed.
bool finish_run(engine::Engine& engine, Outputs& outputs, uint64_t fallback_end_ns);
// Every file the parser writes: records, report, raw capture.
std::vector<int> parser_output_fds(const Outputs& outputs, const engine::Engine& engine);

}  // namespace tt::cli
