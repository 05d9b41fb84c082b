#include "cli/output.h"

#include <cstdio>
#include <fstream>
#include <random>

#include "capture/discovery/discovery_cache.h"
#include "sink/report.h"

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
  return {};
}

bool Outputs::finish(const aggregate::Aggregator& agg) {
  bool ok = true;
  for (sink::RecordSink* s : {static_cast<sink::RecordSink*>(proto_.get()), static_cast<sink::RecordSink*>(json_.get())}) {
    if (!s) continue;
    auto r = s->close();
    if (!r) {
      fprintf(stderr, "tokentap: %s\n", r.error().c_str());
      ok = false;
    }
  }
  if (opts_.quiet) return ok;
  std::string text = sink::render_report(agg);
  if (opts_.report.empty()) {
    fprintf(stderr, "\n%s", text.c_str());
  } else {
    std::ofstream f(opts_.report);
    f << text;
    if (!f) {
      fprintf(stderr, "tokentap: cannot write report to %s\n", opts_.report.c_str());
      ok = false;
    }
  }
  return ok;
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
      return make_error("--api-host wants HOST=PROVIDER (anthropic, openai or gemini), got " + hp);
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

engine::EngineOptions engine_options(const OutputOptions& o, const CaptureOptions& c) {
  engine::EngineOptions e;
  e.pipeline.max_body_bytes = o.max_body_bytes;
  e.capture_path = c.capture;
  return e;
}

}  // namespace tt::cli
