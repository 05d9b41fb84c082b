// One engine for profile, replay and the daemon: records from a Source go to
// the (optional) raw capture file and through the pipeline; the aggregator
// writes records to the sink as requests complete, summaries periodically and
// at the end. Front ends differ only in the source's scope and the sinks.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aggregate/aggregator.h"
#include "capture/file/capture_file.h"
#include "common/result.h"
#include "engine/source.h"
#include "pipeline/pipeline.h"
#include "sink/sink.h"

namespace tt::engine {

struct EngineOptions {
  pipeline::PipelineOptions pipeline;
  std::string capture_path;          // raw capture for replay ("" = none)
  bool keep_requests = true;         // profile's report lists them; the daemon keeps none
  uint64_t summary_interval_ns = 0;  // 0: summaries only at finish()
  uint64_t session_idle_ns = 0;      // 0: sessions end only at finish()
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(const EngineOptions& opts, sink::RecordSink* sink,
                                                const std::string& run_id);
  // One raw record, from a source or made here (info records).
  void on_record(const void* data, size_t size);
  void emit_info(uint32_t kind, uint32_t pid, uint64_t mono_ns, const nlohmann::json& j);
  // Periodic work: summaries of sessions and processes that changed, and
  // pruning of what has ended. mono_ns is CLOCK_MONOTONIC.
  void tick(uint64_t mono_ns);
  // The end: open connections closed, summaries and the run record written.
  void finish(uint64_t end_mono_ns, int32_t exit_code);

  aggregate::Aggregator& aggregator() { return agg_; }
  pipeline::Pipeline& pipeline() { return *pipe_; }
  bool capture_ok() const { return !capture_ || capture_->ok(); }
  int capture_fd() const { return capture_ ? capture_->fd() : -1; }

 private:
  Engine(const EngineOptions& opts, sink::RecordSink* sink, const std::string& run_id)
      : opts_(opts), agg_(run_id, sink) {}
  EngineOptions opts_;
  aggregate::Aggregator agg_;
  std::unique_ptr<pipeline::Pipeline> pipe_;
  std::unique_ptr<capture::CaptureWriter> capture_;
  uint64_t last_summary_ns_ = 0;
};

// The bytes of a raw record worth keeping: ring records are fixed-size
// slots, and a DATA record's payload ends at its length.
size_t record_size(const void* data, size_t size);

// Reads a capture file as a Source: all of it on the first transfer().
class FileSource : public Source {
 public:
  FileSource(std::string path, RecordFn out) : path_(std::move(path)), out_(std::move(out)) {}
  int transfer(int timeout_ms) override;
  const std::string& error() const { return error_; }
  uint64_t last_ts_ns() const { return last_ts_; }

 private:
  std::string path_;
  RecordFn out_;
  bool done_ = false;
  std::string error_;
  uint64_t last_ts_ = 0;
};

}  // namespace tt::engine
