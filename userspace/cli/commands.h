#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>
#include <vector>

namespace tt::cli {

struct OutputOptions {
  std::string out;     // protobuf records
  std::string json;    // JSON lines
  std::string report;  // report file ("" = stderr)
  bool quiet = false;
  uint64_t max_body_bytes = 64u << 20;
  std::string spool;  // daemon --spool DIR: the durable spool (sink/spool.h); "" = none
  uint64_t spool_max_mb = 1024, spool_segment_mb = 64, spool_fsync_ms = 1000;
  uint64_t rotate_bytes = 0;  // daemon: --out and --json rotated past this size (0: never)
  uint32_t rotate_keep = 5;   // ... keeping this many rotated files
  std::string otlp_endpoint;  // profile/replay --otlp-endpoint URL: OTLP/HTTP export (otlp/exporter.h); "" = none
  uint64_t cache_ttl_s = 300;  // --cache-ttl: the analysis's cache lifetime where a request names none
};

// What profile and daemon capture, and how.
struct CaptureOptions {
  std::string capture;  // raw capture file
  uint32_t ring_buffer_mb = 64;
  uint64_t max_call_bytes = 64u << 20;
  bool socket_fallback = true;
  std::vector<std::string> api_hosts;  // HOST=PROVIDER
};

struct ProfileOptions {
  OutputOptions output;
  CaptureOptions cap;
  std::vector<std::string> command;
};

struct DaemonOptions {
  OutputOptions output;
  CaptureOptions cap;
  double summary_interval_s = 60;  // interim process/session summaries
  double session_idle_s = 1800;    // a session with no request for this long ends
  std::string config_path;         // --config; "" = config::kDefaultPath (missing: built-in defaults)
  std::string metrics_listen;      // --metrics-listen ADDR; the file's [metrics] listen otherwise
  std::string top_socket;          // --top-socket PATH; the file's [top] socket otherwise ("" = none)
  std::string top_group;           // the file's [top] group: who may connect besides root
  std::string rotate_size;         // --rotate-size SIZE ("100M"); the file's [outputs] rotate_size otherwise
  std::string collector;           // --collector HOST:PORT: the spool is shipped there ([collector] address)
  std::string collector_ca, token_file, collector_cert, collector_key;  // its TLS and credentials
  std::string otlp_endpoint;       // --otlp-endpoint: exported from the spool by the shipper's process
  std::set<std::string> given;     // the options given on the command line: they override the file
};

int run_profile(const ProfileOptions& opts);
int run_daemon(const DaemonOptions& opts);
// isolate: parse in a confined process, as the daemon does (a capture from elsewhere).
int run_replay(const std::string& file, const OutputOptions& opts, bool isolate = false);
int run_inspect(const std::vector<std::string>& files, const std::vector<uint32_t>& pids);
// tokentap top: the daemon's live view (top/client.h).
struct TopOptions {
  std::string socket;
  bool once = false;
  int batch = 0;
  size_t width = 0;
};
int run_top(const TopOptions& opts);
// tokentap report: sums per group from record files or a database (store/report.h).
struct ReportOptions {
  std::vector<std::string> files;  // record files, loaded into an in-memory store
  std::string db;                  // --db URL (store/store.h open_store)
  std::string by, since, until;    // --by, --since, --until as given
  bool json = false;
  std::string out;  // -o FILE ("" or "-": stdout)
  // Where the tokens went (docs/analysis.md): --analysis prints it (the summary,
  // or with --json its JSON document); --html FILE writes the page. --session and
  // --run narrow the requests analysed.
  bool analysis = false;
  std::string html, session, run;
  uint64_t cache_ttl_s = 300;
};
int run_report(const ReportOptions& opts);
// The analysis document (docs/analysis.md) as a self-contained HTML page in path
// ("-": stdout), replacing it whole; 0, or 1 with the reason on stderr.
int write_html_report(const nlohmann::ordered_json& analysis, const std::string& path);
// tokentap diff: two runs' analyses side by side.
struct DiffOptions {
  std::string a, b;  // record files (--out protobuf or --json lines)
  bool json = false;
  uint64_t cache_ttl_s = 300;
};
int run_diff(const DiffOptions& opts);
// tokentap prices: the price table in use (pricing/pricing.h).
struct PricesOptions {
  std::string provider, model;     // filters ("" = all)
  bool json = false;
  std::vector<std::string> files;  // --file: more price files or directories on top
};
int run_prices(const PricesOptions& opts);

}  // namespace tt::cli
