#include "engine/engine.h"

#include <algorithm>

#include "capture/events.h"
#include "tlstap.h"

namespace tt::engine {

Result<std::unique_ptr<Engine>> Engine::create(const EngineOptions& opts, sink::RecordSink* sink,
                                               const std::string& run_id) {
  std::unique_ptr<Engine> e(new Engine(opts, sink, run_id));
  if (!opts.capture_path.empty()) {
    auto w = capture::CaptureWriter::open(opts.capture_path);
    if (!w) return Error{w.error()};
    e->capture_.reset(*w);
  }
  e->agg_.set_keep_requests(opts.keep_requests);
  e->pipe_ = std::make_unique<pipeline::Pipeline>(opts.pipeline, e->agg_);
  return e;
}

void Engine::on_record(const void* data, size_t size) {
  if (capture_) capture_->write(data, record_size(data, size));
  pipe_->on_raw(data, size);
}

size_t record_size(const void* data, size_t size) {
  if (size >= TT_DATA_EVENT_HDR_SIZE && static_cast<const tt_event_header*>(data)->kind == TT_EV_DATA) {
    const auto* d = static_cast<const tt_data_event_small*>(data);
    return std::min<size_t>(size, TT_DATA_EVENT_HDR_SIZE + size_t{d->len});
  }
  return size;
}

void Engine::emit_info(uint32_t kind, uint32_t pid, uint64_t mono_ns, const nlohmann::json& j) {
  std::string rec = capture::make_info_record(kind, pid, mono_ns, j.dump());
  on_record(rec.data(), rec.size());
}

void Engine::tick(uint64_t mono_ns) {
  // A daemon reload may have changed both (CONFIG record).
  const auto& facts = pipe_->run_facts();
  uint64_t interval = facts.summary_interval_ns ? facts.summary_interval_ns : opts_.summary_interval_ns;
  uint64_t idle = facts.session_idle_ns ? facts.session_idle_ns : opts_.session_idle_ns;
  if (!interval || mono_ns - last_summary_ns_ < interval) return;
  last_summary_ns_ = mono_ns;
  agg_.emit_interim(pipe_->to_unix(mono_ns), idle);
}

void Engine::finish(uint64_t end_mono_ns, int32_t exit_code) {
  pipe_->finish(end_mono_ns);
  const auto& facts = pipe_->run_facts();
  agg_.finish(facts.command, pipe_->to_unix(facts.start_mono_ns), pipe_->to_unix(end_mono_ns), exit_code);
  capture_.reset();
}

int FileSource::transfer(int) {
  if (done_) return -1;
  done_ = true;
  uint64_t n = 0;
  auto r = capture::read_capture(path_, [&](const void* d, size_t size) {
    out_(d, size);
    ++n;
    if (size >= sizeof(tt_event_header))
      last_ts_ = std::max<uint64_t>(last_ts_, static_cast<const tt_event_header*>(d)->ts_ns);
  });
  if (!r) error_ = r.error();
  return static_cast<int>(std::min<uint64_t>(n, INT32_MAX));
}

}  // namespace tt::engine
