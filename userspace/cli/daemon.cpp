// tokentap daemon: the whole host, in the foreground (systemd style). Records
// go out as requests complete; SIGTERM or SIGINT flushes and exits 0; SIGHUP
// reloads the configuration file (cli/daemon_config.h).
//
// Privilege split (docs/security.md): this process loads BPF, reads the ring
// buffer, instruments processes and reads /proc; the traffic is parsed in a
// child process with no privileges, fed through a pipe, which may only ask
// back to mute a connection or watch a socket.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "capture/events.h"
#include "cli/commands.h"
#include "cli/daemon_config.h"
#include "cli/output.h"
#include "engine/procfs.h"
#include "isolate/parser_process.h"
#include "metrics/health.h"
#include "metrics/metrics.h"
#include "metrics/server.h"
#include "otlp/exporter.h"
#include "ship/process.h"
#include "top/server.h"
#include "top/snapshot.h"

namespace tt::cli {

namespace {
volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_reload = 0;
void on_stop(int) { g_stop = 1; }
void on_reload(int) { g_reload = 1; }

void send_info(isolate::ParserProcess& parser, uint32_t kind, uint64_t mono_ns, const nlohmann::json& j) {
  std::string rec = capture::make_info_record(kind, getpid(), mono_ns, j.dump());
  parser.send(rec.data(), rec.size());
}

// SIGHUP, in this process (the parser cannot read files): exclusions apply
// here; what the parser needs goes to it in the record stream, after every
// record read so far, so none is lost or seen twice.
void reload(const DaemonOptions& cli, config::Config& in_force, isolate::ParserProcess& parser,
            engine::LiveCapture& live) {
  auto next = reload_settings(cli, in_force);
  if (!next) return;
  in_force = next->in_force;
  live.set_selection(in_force.select);
  send_info(parser, capture::TT_EV_CONFIG, engine::now_ns(CLOCK_MONOTONIC), live_settings_json(in_force));
  fprintf(stderr, "tokentap: %s\n", next->message.c_str());  // once in force: a reader may act on it
}

// The parser died or misbehaved: say so, release what is held, stop tracing.
int stop_without_parser(isolate::ParserProcess& parser, engine::LiveCapture& live) {
  fprintf(stderr, "tokentap: %s; stopping the daemon: nothing would parse what it traces\n", parser.error().c_str());
  live.drain();  // processes held for instrumentation are released as their records are read
  live.detach_in_background();
  return 1;
}

// With --metrics-listen, every second: the losses so far and both processes'
// CPU and memory (the parser may not read /proc), through the record pipe.
void send_health(isolate::ParserProcess& parser, engine::LiveCapture& live, uint64_t ring_bytes, uint64_t& last_ns) {
  uint64_t now = engine::now_ns(CLOCK_MONOTONIC);
  if (now - last_ns < 1'000'000'000ull) return;
  last_ns = now;
  send_info(parser, capture::TT_EV_HEALTH, now, metrics::health_json(parser.pid(), ring_bytes, live.stats_json(0)));
}

// Every second: --out and --json past their size rotated, the fresh files
// handed to the parser (it may open none itself).
void rotate_outputs(Outputs& outputs, isolate::ParserProcess& parser, uint64_t& last_ns) {
  uint64_t now = engine::now_ns(CLOCK_MONOTONIC);
  if (now - last_ns < 1'000'000'000ull) return;
  last_ns = now;
  outputs.rotate_due([&parser](uint32_t slot, int fd) { return parser.send_file(slot, fd); });
}

// Everything that needs privileges happens here, once the parser is running.
// health_ring_bytes: the ring's size when the metrics need HEALTH records, else 0.
int trace(isolate::ParserProcess& parser, engine::LiveCapture& live, Outputs& outputs, const DaemonOptions& cli,
          config::Config settings, uint64_t health_ring_bytes) {
  fprintf(stderr, "tokentap: daemon ready: tracing the whole host (pid %d, parser pid %d)\n", getpid(), parser.pid());
  uint64_t last_health = 0, last_rotate = 0;
  while (!g_stop) {
    if (g_reload) {
      g_reload = 0;
      reload(cli, settings, parser, live);
    }
    live.transfer(100);
    if (health_ring_bytes) send_health(parser, live, health_ring_bytes, last_health);
    rotate_outputs(outputs, parser, last_rotate);
    if (!parser.pump()) return stop_without_parser(parser, live);
  }
  live.drain();
  uint64_t end_mono = engine::now_ns(CLOCK_MONOTONIC);
  send_info(parser, capture::TT_EV_STATS, end_mono, live.stats_json(0));
  int rc = parser.finish(end_mono);
  // Hundreds of probes take ~0.1 s each to detach: records first, then exit,
  // while a detached child tears them down.
  live.detach_in_background();
  if (rc < 0) {
    fprintf(stderr, "tokentap: %s\n", parser.error().c_str());
    return 1;
  }
  fprintf(stderr, "tokentap: daemon stopped\n");
  return rc == 0 ? 0 : 1;
}

// Bound here, as root, before the fork: the parser serves it (metrics/server.h).
Result<int> open_metrics(const DaemonOptions& opts, Outputs& outputs, metrics::Metrics& m) {
  if (opts.metrics_listen.empty()) return -1;
  outputs.add_sink(&m);
  return metrics::listen_on(opts.metrics_listen);
}

// Created here, as root, before the fork: the parser serves it (top/server.h).
Result<int> open_top(const DaemonOptions& opts, Outputs& outputs, top::Tracker& tracker) {
  if (opts.top_socket.empty()) return -1;
  auto gid = top::group_id(opts.top_group);
  if (!gid) return make_error(gid.error());
  outputs.add_sink(&tracker);
  return top::listen_unix(opts.top_socket, *gid);
}

// With --collector or --otlp-endpoint: the shipper's process, forked now, before BPF is loaded
// (ship/process.h). Its TLS files and token are read here, as root.
Result<void> start_shipper(const DaemonOptions& o, const Outputs& outputs, ship::ShipperProcess& shipper) {
  if (o.collector.empty() && o.otlp_endpoint.empty()) return {};
  auto so = ship::shipper_options(o.collector, o.collector_ca, o.token_file, o.collector_cert, o.collector_key);
  if (!so) return Error{"--collector: " + so.error()};
  if (auto ok = otlp::check_endpoint(o.otlp_endpoint); !o.otlp_endpoint.empty() && !ok) return Error{ok.error()};
  so->otlp_endpoint = o.otlp_endpoint;
  return shipper.start(*so, outputs.spool_dir_fd(), isolate::unprivileged_identity());
}

// Each snapshot: the tables as they stand, the losses so far (one JSON line).
std::function<std::string()> top_render(top::Tracker& tracker, engine::Engine& engine) {
  return [&tracker, &engine] {
    tracker.set_capture_stats(engine.aggregator().capture_stats());
    auto snap = tracker.snapshot(engine::now_ns(CLOCK_MONOTONIC));
    snap["unix_s"] = engine::now_ns(CLOCK_REALTIME) / 1'000'000'000ull;  // the clock on screen
    return snap.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  };
}

}  // namespace

int run_daemon(const DaemonOptions& cli) {
  auto settings = load_settings(cli);
  if (!settings) {
    fprintf(stderr, "tokentap: %s\n", settings.error().c_str());
    return 2;
  }
  DaemonOptions opts = with_settings(cli, *settings);
  nlohmann::json info;
  info["api_hosts"] = settings->api_hosts;
  Outputs outputs;
  metrics::Metrics metrics;
  top::Tracker tracker;
  auto ok = outputs.open(opts.output);
  auto listen_fd = ok ? open_metrics(opts, outputs, metrics) : Result<int>(-1);
  auto top_fd = ok && listen_fd ? open_top(opts, outputs, tracker) : Result<int>(-1);
  if (!ok || !listen_fd || !top_fd) {
    fprintf(stderr, "tokentap: %s\n", (!ok ? ok.error() : !listen_fd ? listen_fd.error() : top_fd.error()).c_str());
    return 2;
  }
  ship::ShipperProcess shipper;  // stopped (shipping what is left) when the daemon returns
  if (auto r = start_shipper(opts, outputs, shipper); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    return 2;
  }
  auto made = engine_options(opts.output, opts.cap);
  if (!made) {
    fprintf(stderr, "tokentap: %s\n", made.error().c_str());
    return 2;
  }
  engine::EngineOptions eopts = std::move(*made);
  eopts.keep_requests = false;  // records go out as they complete; memory stays flat
  eopts.summary_interval_ns = static_cast<uint64_t>(opts.summary_interval_s * 1e9);
  eopts.session_idle_ns = static_cast<uint64_t>(opts.session_idle_s * 1e9);
  auto back_fd = std::make_shared<int>(-1);
  send_answers_to_parent(eopts, back_fd);
  std::string run_id = new_run_id();
  // Created here, used only in the parser process: its files are opened now.
  auto eng = engine::Engine::create(eopts, outputs.sink(), run_id);
  if (!eng) {
    fprintf(stderr, "tokentap: %s\n", eng.error().c_str());
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM}) sigaction(s, &sa, nullptr);
  sa.sa_handler = on_reload;
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // RUN_INFO first, then the capture's records, queued until the parser runs.
  isolate::ParserProcess parser;
  info["command"] = {"tokentap", "daemon"};
  uint64_t start_mono = engine::now_ns(CLOCK_MONOTONIC);
  send_info(parser, capture::TT_EV_RUN_INFO, start_mono, run_info_record(info, engine::Scope::Host, run_id, start_mono));
  auto live = engine::LiveCapture::start({engine::Scope::Host, tracer_options(opts.cap), settings->select},
                                         [&parser](const void* d, size_t n) { parser.send(d, engine::record_size(d, n)); });
  if (!live) {
    fprintf(stderr, "tokentap: %s\n", live.error().c_str());
    return 2;
  }
  engine::Engine& engine = **eng;
  outputs.report_spool_to(&engine.aggregator().capture_stats());
  // At each scrape: the request counters as they are, the losses and health as they stand.
  auto render = [&metrics, &engine] {
    metrics.set_capture_stats(engine.aggregator().capture_stats());
    metrics.set_health(engine.pipeline().run_facts().health);
    return metrics.render();
  };
  auto parse = [&](int data_fd, int back) {
    *back_fd = back;
    std::optional<metrics::Server> server;
    std::optional<top::Server> top_server;
    if (*listen_fd >= 0) server.emplace(*listen_fd, render);
    if (*top_fd >= 0) top_server.emplace(*top_fd, top_render(tracker, engine));
    return parse_records(data_fd, back, engine, outputs, 100, server ? &*server : nullptr,
                         top_server ? &*top_server : nullptr);
  };
  engine::LiveCapture& capture = **live;
  isolate::ParserProcess::Handlers answers{
      [&capture](uint32_t pid, uint64_t conn) { capture.mute(pid, conn); },
      [&capture](uint64_t sk, uint64_t ts, bool watch) { capture.watch_socket(sk, ts, watch); }};
  parser.serve_socket(*listen_fd);
  parser.use_spool_dir(outputs.spool_dir_fd());
  parser.serve_socket(*top_fd);
  if (auto r = parser.start(parse, parser_output_fds(outputs, engine), isolate::unprivileged_identity(), answers); !r) {
    fprintf(stderr, "tokentap: cannot start the parser process: %s\n", r.error().c_str());
    return 2;
  }
  eng->reset();  // this process never parses; the files are the parser's now
  for (int fd : {*listen_fd, *top_fd})
    if (fd >= 0) close(fd);  // the parser's alone
  int rc = trace(parser, capture, outputs, cli, *settings, *listen_fd >= 0 ? tracer_options(opts.cap).ring_buffer_bytes : 0);
  if (*top_fd >= 0) unlink(opts.top_socket.c_str());  // no stale socket for clients to find
  if (shipper.pid() > 0 && shipper.stop() != 0) fprintf(stderr, "tokentap: the shipper did not stop cleanly\n");
  return rc;
}

}  // namespace tt::cli
