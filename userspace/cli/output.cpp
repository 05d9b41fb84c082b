#include "cli/output.h"

#include "common/provider_name.h"
#include "analysis/analysis.h"
#include "pricing/pricing.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include <time.h>
#include <unistd.h>

#include "capture/discovery/discovery_cache.h"
#include "capture/events.h"
#include "engine/procfs.h"
#include "isolate/sandbox.h"
#include "sink/report.h"
#include "sink/rotate.h"

namespace tt::cli {

Result<void> Outputs::open(const OutputOptions& opts) {
  opts_ = opts;
  if (!opts.out.empty()) {
    auto s = sink::DelimitedProtoSink::open(opts.out);
    if (!s) return Error{s.error()};
    proto_ = std::move(*s);
    multi_.add(proto_.get());
  }
  if (!opts.json.empty()) {
    auto s = sink::JsonLinesSink::open(opts.json);
    if (!s) return Error{s.error()};
    json_ = std::move(*s);
    multi_.add(json_.get());
  }
  if (auto r = open_spool(opts); !r) return r;
  if (!opts.otlp_endpoint.empty()) {
    auto e = otlp::OtlpExporter::open(opts.otlp_endpoint);
    if (!e) return Error{e.error()};
    otlp_ = std::move(*e);
    multi_.add(otlp_.get());
  }
  if (!opts.report.empty() && !opts.quiet && !(report_ = fopen(opts.report.c_str(), "w")))
    return make_error("cannot write report to " + opts.report + ": " + strerror(errno));
  return {};
}

// As root, before the parser forks: the directory goes to the parser's user,
// a torn tail is cut, and the parser only ever appends to new segments.
Result<void> Outputs::open_spool(const OutputOptions& opts) {
  if (opts.spool.empty()) return {};
  isolate::Identity who = isolate::unprivileged_identity();
  auto dir = sink::open_spool_dir(opts.spool, who.uid, who.gid);
  if (!dir) return Error{dir.error()};
  auto rec = sink::recover_spool(*dir);
  auto ack = rec ? sink::open_ack_file(*dir) : Result<int>(-1);
  if (!rec || !ack) {
    close(*dir);
    return Error{!rec ? rec.error() : ack.error()};
  }
  if (rec->repaired_bytes)
    fprintf(stderr, "tokentap: spool: cut a torn tail of %llu byte(s) (a record being written at a crash)\n",
            static_cast<unsigned long long>(rec->repaired_bytes));
  sink::SpoolOptions so{opts.spool_max_mb << 20, opts.spool_segment_mb << 20, opts.spool_fsync_ms};
  spool_ = std::make_unique<sink::SpoolSink>(*dir, *ack, std::move(*rec), so);
  multi_.add(spool_.get());
  return {};
}

Outputs::~Outputs() {
  if (report_) fclose(report_);
}

namespace {
enum Slot : uint32_t { kOutSlot = 0, kJsonSlot = 1 };
}

bool Outputs::rotate_due(const std::function<bool(uint32_t, int)>& hand_over) {
  sink::RotateOptions ro{opts_.rotate_bytes, opts_.rotate_keep};
  bool ok = true;
  for (uint32_t slot : {kOutSlot, kJsonSlot}) {
    sink::FileSink* f = file(slot);
    const std::string& path = slot == kOutSlot ? opts_.out : opts_.json;
    if (!f || rotate_failed_[slot]) continue;
    auto r = sink::rotate_if_due(path, f->fd(), ro);
    if (r && r->new_fd >= 0) {
      bool taken = hand_over(slot, r->new_fd);
      close(r->new_fd);  // the parser has its own now
      if (!taken) r = make_error("the parser did not take the new file");
      else if (!r->removed.empty())
        fprintf(stderr, "tokentap: rotated %s; removed %s (%llu bytes), past [outputs] rotate_keep\n", path.c_str(),
                r->removed.c_str(), static_cast<unsigned long long>(r->removed_bytes));
    }
    if (!r) {
      fprintf(stderr, "tokentap: cannot rotate %s, it grows on: %s\n", path.c_str(), r.error().c_str());
      rotate_failed_[slot] = ok = false;
    }
  }
  return ok;
}

sink::FileSink* Outputs::file(uint32_t slot) const {
  if (slot == kOutSlot) return proto_.get();
  return slot == kJsonSlot ? json_.get() : nullptr;
}

Result<void> Outputs::switch_file(uint32_t slot, int fd) {
  sink::FileSink* f = file(slot);
  if (!f) {
    close(fd);
    return make_error("a file for no output (slot " + std::to_string(slot) + ")");
  }
  return f->switch_to(fd);
}

std::vector<int> Outputs::fds() const {
  std::vector<int> out;
  if (proto_) out.push_back(proto_->fd());
  if (json_) out.push_back(json_->fd());
  if (spool_) out.push_back(spool_->ack_fd());
  if (report_) out.push_back(fileno(report_));
  return out;
}

bool Outputs::write_report(const std::string& text) {
  if (!report_) {
    fprintf(stderr, "\n%s", text.c_str());
    return true;
  }
  bool ok = fwrite(text.data(), 1, text.size(), report_) == text.size();
  ok = fclose(report_) == 0 && ok;
  report_ = nullptr;
  if (!ok) fprintf(stderr, "tokentap: cannot write report to %s\n", opts_.report.c_str());
  return ok;
}

bool Outputs::finish(const aggregate::Aggregator& agg) {
  bool ok = true;
  for (sink::RecordSink* s : {static_cast<sink::RecordSink*>(proto_.get()), static_cast<sink::RecordSink*>(json_.get()),
                              static_cast<sink::RecordSink*>(spool_.get()), static_cast<sink::RecordSink*>(otlp_.get())}) {
    if (!s) continue;
    auto r = s->close();
    if (!r) {
      fprintf(stderr, "tokentap: %s\n", r.error().c_str());
      ok = false;
    }
  }
  if (opts_.quiet) return ok;
  std::string text = sink::render_report(agg);
  if (prices_ && !agg.requests().empty()) {
    analysis::Scope scope;
    scope.run_id = agg.run_summary().run_id();
    for (const auto& c : agg.run_summary().command()) scope.label += (scope.label.empty() ? "" : " ") + c;
    analysis::Options o;
    o.default_cache_ttl_s = opts_.cache_ttl_s;
    text += analysis::render_summary(analysis::analyze(agg.requests(), *prices_, std::move(scope), o));
  }
  return write_report(text) && ok;
}

std::string new_run_id() {
  std::random_device rd;
  uint64_t v = (uint64_t{rd()} << 32) ^ rd();
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

Result<void> parse_api_hosts(const std::vector<std::string>& pairs, nlohmann::json& run_info) {
  run_info["api_hosts"] = nlohmann::json::object();
  for (const auto& hp : pairs) {
    auto eq = hp.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == hp.size())
      return make_error("--api-host wants HOST=PROVIDER (e.g. gateway.example:8443=anthropic), got " + hp);
    if (!valid_provider_name(hp.substr(eq + 1)))
      return make_error("--api-host " + hp + ": a provider name is lower-case letters, digits, '.', '_' and '-' (docs/providers.md lists tokentap's)");
    run_info["api_hosts"][hp.substr(0, eq)] = hp.substr(eq + 1);
  }
  return {};
}

capture::TracerOptions tracer_options(const CaptureOptions& c) {
  capture::TracerOptions t;
  // The ring buffer must be a power of two.
  uint64_t want = uint64_t{c.ring_buffer_mb} << 20;
  uint32_t pow2 = 1u << 20;
  while (pow2 < want && pow2 < (1u << 31)) pow2 <<= 1;
  t.ring_buffer_bytes = pow2;
  t.max_call_bytes = static_cast<uint32_t>(std::min<uint64_t>(c.max_call_bytes, 0x7fffffff));
  t.discovery_cache_dir = discovery::DiscoveryCache::default_dir();
  t.socket_fallback = c.socket_fallback;
  return t;
}

Result<engine::EngineOptions> engine_options(const OutputOptions& o, const CaptureOptions& c) {
  engine::EngineOptions e;
  e.pipeline.max_body_bytes = o.max_body_bytes;
  e.capture_path = c.capture;
  // Read now: parsing may be confined later, away from the files.
  auto prices = pricing::PriceTable::load_default();
  if (!prices)
    return make_error("price table: " + prices.error() + " (fix or remove the file; `tokentap prices` checks it)");
  e.pipeline.prices = std::make_shared<const pricing::PriceTable>(std::move(*prices));
  return e;
}

nlohmann::json run_info_record(nlohmann::json run_info, engine::Scope scope, const std::string& run_id,
                               uint64_t start_mono_ns) {
  run_info["run_id"] = run_id;
  run_info["scope"] = scope == engine::Scope::Host ? "host" : "process_tree";
  run_info["mono_to_unix_ns"] = int64_t(engine::now_ns(CLOCK_REALTIME)) - int64_t(start_mono_ns);
  return run_info;
}

Result<LiveRun> start_live(engine::Scope scope, engine::EngineOptions eopts, const CaptureOptions& c,
                           sink::RecordSink* sink, nlohmann::json run_info) {
  LiveRun run;
  // Set once the capture is up; the pipeline calls back only once records flow.
  auto live_slot = std::make_shared<engine::LiveCapture*>(nullptr);
  eopts.pipeline.mute_connection = [live_slot](uint32_t pid, uint64_t conn) { (*live_slot)->mute(pid, conn); };
  eopts.pipeline.watch_socket = [live_slot](uint64_t sk, uint64_t ts, bool watch) {
    (*live_slot)->watch_socket(sk, ts, watch);
  };
  std::string run_id = new_run_id();
  auto eng = engine::Engine::create(eopts, sink, run_id);
  if (!eng) return Error{eng.error()};
  run.engine = std::move(*eng);
  run.start_mono_ns = engine::now_ns(CLOCK_MONOTONIC);
  // Before the capture starts: the pipeline must know the scope of the first records.
  run.engine->emit_info(capture::TT_EV_RUN_INFO, getpid(), run.start_mono_ns,
                        run_info_record(std::move(run_info), scope, run_id, run.start_mono_ns));
  engine::Engine* e = run.engine.get();
  auto live = engine::LiveCapture::start({scope, tracer_options(c)},
                                         [e](const void* d, size_t n) { e->on_record(d, n); });
  if (!live) return Error{live.error()};
  run.live = std::move(*live);
  *live_slot = run.live.get();
  return run;
}

}  // namespace tt::cli
