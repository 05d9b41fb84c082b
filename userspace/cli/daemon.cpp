// tokentap daemon: the whole host, in the foreground (systemd style). Records
// go out as requests complete; SIGTERM or SIGINT flushes and exits 0.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "capture/events.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "engine/procfs.h"

namespace tt::cli {

namespace {
volatile sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }
}  // namespace

int run_daemon(const DaemonOptions& opts) {
  nlohmann::json info;
  if (auto r = parse_api_hosts(opts.cap.api_hosts, info); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    return 2;
  }
  if (opts.summary_interval_s <= 0 || opts.session_idle_s <= 0) {
    fprintf(stderr, "tokentap: --summary-interval and --session-idle must be positive (seconds)\n");
    return 2;
  }
  Outputs outputs;
  if (auto r = outputs.open(opts.output); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    return 2;
  }
  engine::EngineOptions eopts = engine_options(opts.output, opts.cap);
  eopts.keep_requests = false;  // records go out as they complete; memory stays flat
  eopts.summary_interval_ns = static_cast<uint64_t>(opts.summary_interval_s * 1e9);
  eopts.session_idle_ns = static_cast<uint64_t>(opts.session_idle_s * 1e9);
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM}) sigaction(s, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  info["command"] = {"tokentap", "daemon"};
  auto run = start_live(engine::Scope::Host, eopts, opts.cap, outputs.sink(), info);
  if (!run) {
    fprintf(stderr, "tokentap: %s\n", run.error().c_str());
    return 2;
  }
  engine::Engine& engine = *run->engine;
  engine::LiveCapture* live_ptr = run->live.get();
  fprintf(stderr, "tokentap: daemon ready: tracing the whole host (pid %d)\n", getpid());

  while (!g_stop) {
    live_ptr->transfer(100);
    engine.tick(engine::now_ns(CLOCK_MONOTONIC));
  }
  live_ptr->drain();
  uint64_t end_mono = engine::now_ns(CLOCK_MONOTONIC);
  engine.emit_info(capture::TT_EV_STATS, getpid(), end_mono, live_ptr->stats_json(0));
  engine.finish(end_mono, 0);
  // Hundreds of probes take ~0.1 s each to detach: records first, then exit,
  // while a detached child tears them down.
  bool ok = outputs.finish(engine.aggregator());
  live_ptr->detach_in_background();
  if (!engine.capture_ok()) fprintf(stderr, "tokentap: the capture file could not be written completely\n");
  fprintf(stderr, "tokentap: daemon stopped\n");
  return ok ? 0 : 1;
}

}  // namespace tt::cli
