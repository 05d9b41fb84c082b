// tokentap: see what AI agent harnesses spend in LLM tokens.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "collector/server.h"

int main(int argc, char** argv) {
  CLI::App app{"tokentap: measure the LLM tokens a program spends, from its TLS traffic, with eBPF"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("tokentap ") + TOKENTAP_VERSION);

  tt::cli::ProfileOptions prof;
  std::string replay_file;
  tt::cli::OutputOptions replay_out;

  auto add_output = [](CLI::App* sub, tt::cli::OutputOptions& o) {
    sub->add_option("--out", o.out, "write records as length-delimited protobuf (schemas/tokentap/v1)");
    sub->add_option("--json", o.json, "write records as JSON lines");
    sub->add_option("--report", o.report, "write the report to this file instead of stderr");
    sub->add_flag("-q,--quiet", o.quiet, "print no report");
    sub->add_option("--max-body-bytes", o.max_body_bytes, "body bytes kept per HTTP message for decoding")
        ->capture_default_str();
  };

  // The report's analysis (docs/analysis.md).
  auto add_analysis = [](CLI::App* sub, uint64_t& ttl) {
    sub->add_option("--cache-ttl", ttl,
                    "SECONDS a provider's prompt cache lives where a request does not say (analysis: expired caches)")
        ->capture_default_str();
  };

  // OTLP export (docs/otlp.md); the daemon's confined parser cannot reach the network.
  auto add_otlp = [](CLI::App* sub, tt::cli::OutputOptions& o) {
    sub->add_option("--otlp-endpoint", o.otlp_endpoint,
                    "also export metrics and one span per request to this OpenTelemetry collector "
                    "(OTLP/HTTP protobuf, e.g. http://127.0.0.1:4318)");
  };

  auto add_capture = [](CLI::App* sub, tt::cli::CaptureOptions& c) {
    sub->add_option("--capture", c.capture, "also write the raw capture (for tokentap replay)");
    sub->add_option("--ring-buffer-mb", c.ring_buffer_mb, "BPF ring buffer size in MiB")->capture_default_str();
    sub->add_option("--max-call-bytes", c.max_call_bytes, "capture cap per SSL_read/SSL_write call")
        ->capture_default_str();
    sub->add_flag("!--no-socket-fallback", c.socket_fallback,
                  "do not count TLS bytes at the socket for TLS stacks tokentap cannot hook");
    sub->add_option("--api-host", c.api_hosts,
                    "HOST=PROVIDER: requests to HOST are billed by PROVIDER (a gateway or self-hosted "
                    "server: anthropic, aws.bedrock, local, ...; docs/providers.md), also for TLS seen only "
                    "at the socket");
  };

  CLI::App* profile = app.add_subcommand("profile", "run a command and report the LLM API calls it and its children make");
  add_output(profile, prof.output);
  add_otlp(profile, prof.output);
  add_analysis(profile, prof.output.cache_ttl_s);
  add_capture(profile, prof.cap);
  profile->add_option("command", prof.command, "the command to run (put it after --)");

  tt::cli::DaemonOptions daemon_opts;
  daemon_opts.output.quiet = true;
  // Resident all day: the ring's pages count twice in its RSS (mapped twice).
  // 16 MiB holds seconds of LLM traffic, and a fuller ring sends call heads only.
  daemon_opts.cap.ring_buffer_mb = 16;
  CLI::App* daemon = app.add_subcommand(
      "daemon", "trace every process on the host in the foreground; SIGTERM flushes and exits 0");
  add_output(daemon, daemon_opts.output);
  add_capture(daemon, daemon_opts.cap);
  daemon->add_option("--summary-interval", daemon_opts.summary_interval_s,
                     "seconds between interim process and session summaries")
      ->capture_default_str();
  daemon->add_option("--session-idle", daemon_opts.session_idle_s,
                     "seconds without a request after which a session ends")
      ->capture_default_str();
  daemon->add_option("--config", daemon_opts.config_path,
                     "TOML configuration file (default /etc/tokentap/tokentap.toml, if it exists); "
                     "options given here override it; SIGHUP reloads it");
  daemon->add_option("--metrics-listen", daemon_opts.metrics_listen,
                     "serve Prometheus metrics at http://HOST:PORT/metrics (numeric address, e.g. 127.0.0.1:9464)");
  daemon->add_option("--spool", daemon_opts.output.spool,
                     "durable spool directory: records fsync'd in batches into rotating segments, bounded "
                     "([spool] in the config file sets its limits)");
  daemon->add_option("--rotate-size", daemon_opts.rotate_size,
                     "rotate --json and --out files past this size (e.g. 100M, 64K; 0: never; default 100M)");
  daemon->add_option("--rotate-keep", daemon_opts.output.rotate_keep, "rotated files kept of each (default 5)")
      ->check(CLI::Range(1, 1000));
  daemon->add_option("--top-socket", daemon_opts.top_socket,
                     "serve `tokentap top` on this unix socket (e.g. /run/tokentap/top.sock; mode 0660, "
                     "root and the configuration's [top] group)");

  daemon->add_option("--collector", daemon_opts.collector,
                     "ship the spool to `tokentap collector` at HOST:PORT (gRPC over TLS); with no --spool, "
                     "it is /var/lib/tokentap/spool");
  daemon->add_option("--otlp-endpoint", daemon_opts.otlp_endpoint,
                     "also export metrics and one span per request over OTLP/HTTP, from the spool (with no "
                     "--spool, /var/lib/tokentap/spool)");
  daemon->add_option("--collector-ca", daemon_opts.collector_ca, "CA of the collector's certificate (PEM)");
  daemon->add_option("--token-file", daemon_opts.token_file, "file whose first line is this daemon's collector token");
  daemon->add_option("--collector-cert", daemon_opts.collector_cert, "client certificate for mutual TLS (PEM)");
  daemon->add_option("--collector-key", daemon_opts.collector_key, "its private key (PEM)");

  tt::collector::CollectorOptions col_opts;
  CLI::App* collector = app.add_subcommand("collector", "receive every daemon's records and store them (gRPC, TLS)");
  collector->add_option("--listen", col_opts.listen, "HOST:PORT to serve daemons on")->required();
  collector->add_option("--db", col_opts.db, "sqlite:PATH or postgresql://...")->required();
  collector->add_option("--token-file", col_opts.token_file, "accepted tokens, one per line");
  collector->add_option("--tls-cert", col_opts.tls_cert, "server certificate (PEM)")->required();
  collector->add_option("--tls-key", col_opts.tls_key, "its private key (PEM)")->required();
  collector->add_option("--tls-client-ca", col_opts.tls_client_ca,
                        "require client certificates signed by this CA (mutual TLS)");
  collector->add_option("--metrics-listen", col_opts.metrics_listen,
                        "serve Prometheus metrics (totals across the fleet) at http://HOST:PORT/metrics");
  collector->add_option("--otlp-endpoint", col_opts.otlp_endpoint,
                        "export each stored request over OTLP/HTTP to this base URL (docs/otlp.md)");

  CLI::App* replay = app.add_subcommand("replay", "run the userspace pipeline over a capture file");
  add_output(replay, replay_out);
  add_otlp(replay, replay_out);
  add_analysis(replay, replay_out.cache_ttl_s);
  replay->add_option("file", replay_file, "capture file written by profile --capture")->required();
  bool replay_isolate = false;
  replay->add_flag("--isolate", replay_isolate, "parse in a confined process (no privileges, seccomp), as the daemon does");

  std::vector<std::string> inspect_files;
  CLI::App* inspect = app.add_subcommand(
      "inspect", "show which TLS functions tokentap finds in binaries (no root needed)");
  std::vector<uint32_t> inspect_pids;
  inspect->add_option("files", inspect_files, "executables or shared libraries");
  inspect->add_option("--pid", inspect_pids,
                      "a running process: its executable and each library or Node addon it maps that may carry TLS");

  tt::cli::ReportOptions report_opts;
  CLI::App* report = app.add_subcommand(
      "report", "sum the requests in record files or a collector's database, per user, host, harness, session, "
                "project, model or day");
  report->add_option("files", report_opts.files, "record files (profile/daemon --out, spool segments)");
  report->add_option("--db", report_opts.db, "a database instead: sqlite:PATH or postgresql://...");
  report->add_option("--by", report_opts.by, "group by user, host, harness, session, project, provider, model or day");
  report->add_option("--since", report_opts.since,
                     "requests started at or after T: 2026-11-30, 2026-11-30T10:00:00Z, or before now: 24h, 7d");
  report->add_option("--until", report_opts.until, "requests started before T (as --since)");
  report->add_flag("--json", report_opts.json,
                   "JSON lines for scripts: one object per group with --by; without it one request record per "
                   "line (record files, no --since/--until: every record, summaries too)");
  report->add_option("-o,--output", report_opts.out, "write to FILE instead of stdout");
  report->add_flag("--analysis", report_opts.analysis,
                   "where the tokens went: turns, prompt anatomy, cache waste, findings and a verdict "
                   "(docs/analysis.md); with --json its JSON document");
  report->add_option("--session", report_opts.session, "only this session id (--analysis, --html)");
  report->add_option("--run", report_opts.run, "only this run id (--analysis, --html)");
  add_analysis(report, report_opts.cache_ttl_s);
  report->add_option("--html", report_opts.html,
                     "write the analysis as one self-contained HTML page to FILE: charts, findings, requests; "
                     "opens offline (docs/analysis.md)");

  tt::cli::DiffOptions diff_opts;
  CLI::App* diff = app.add_subcommand(
      "diff", "compare two runs of the same task (two harnesses, or before and after a change): cost, "
              "context, cache use and waste");
  diff->add_option("a", diff_opts.a, "records of run A (--out or --json file)")->required();
  diff->add_option("b", diff_opts.b, "records of run B")->required();
  diff->add_flag("--json", diff_opts.json, "one JSON document for scripts");
  add_analysis(diff, diff_opts.cache_ttl_s);

  tt::cli::TopOptions top_opts;
  top_opts.socket = "/run/tokentap/top.sock";
  CLI::App* top = app.add_subcommand("top", "live view of the running daemon: busiest processes, sessions, projects");
  top->add_option("--socket", top_opts.socket, "the daemon's --top-socket")->capture_default_str();
  top->add_flag("--once", top_opts.once, "print one plain text snapshot and exit");
  top->add_option("--batch", top_opts.batch, "print N plain text snapshots, a second apart, and exit")
      ->check(CLI::PositiveNumber);
  top->add_option("--width", top_opts.width, "columns to fit (default: the terminal's, else 80)");

  tt::cli::PricesOptions prices_opts;
  CLI::App* prices = app.add_subcommand(
      "prices", "show the price table in use (built-in, installed, /etc/tokentap/prices.d) and each entry's source");
  prices->add_option("--provider", prices_opts.provider, "only this provider (anthropic, openai, aws.bedrock, ...)");
  prices->add_option("--model", prices_opts.model, "only entries for this model id (as a request names it) or containing it");
  prices->add_flag("--json", prices_opts.json, "one JSON object per entry and line");
  prices->add_option("--file", prices_opts.files,
                     "price files or directories to load on top, as an override in /etc/tokentap/prices.d would be "
                     "(repeatable)");

  // Everything after the first "--" is the command, untouched by option parsing
  // (its own options must not be mistaken for tokentap's).
  int parsed_argc = argc;
  std::vector<std::string> after_dashes;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      parsed_argc = i;
      after_dashes.assign(argv + i + 1, argv + argc);
      break;
    }
  }
  // A first word that is no command is an error, even beside --help (which
  // CLI11 would answer first, with the main help and exit 0).
  if (parsed_argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) known |= sub->check_name(argv[1]);
    if (!known) {
      fprintf(stderr, "tokentap: unknown command '%s' (commands: profile, daemon, collector, top, replay, inspect, report, prices; see --help)\n",
              argv[1]);
      return 2;
    }
  }
  try {
    app.parse(parsed_argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*profile) {
    prof.command.insert(prof.command.end(), after_dashes.begin(), after_dashes.end());
    return tt::cli::run_profile(prof);
  }
  if (*daemon) {
    // The options given override the configuration file's settings.
    for (const CLI::Option* o : daemon->get_options())
      if (o->count() && !o->get_lnames().empty()) daemon_opts.given.insert("--" + o->get_lnames()[0]);
    return tt::cli::run_daemon(daemon_opts);
  }
  if (*collector) return tt::collector::run_collector(col_opts);
  if (*replay) return tt::cli::run_replay(replay_file, replay_out, replay_isolate);
  if (*inspect) {
    if (inspect_files.empty() && inspect_pids.empty()) {
      fprintf(stderr, "tokentap inspect: name a binary (tokentap inspect FILE) or a running process (--pid PID)\n");
      return 2;
    }
    return tt::cli::run_inspect(inspect_files, inspect_pids);
  }
  if (*top) return tt::cli::run_top(top_opts);
  if (*report) return tt::cli::run_report(report_opts);
  if (*diff) return tt::cli::run_diff(diff_opts);
  if (*prices) return tt::cli::run_prices(prices_opts);
  return 2;
}
