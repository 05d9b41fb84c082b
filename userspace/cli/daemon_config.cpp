// The daemon's settings: the configuration file with the command line on top,
// and what a SIGHUP reload may change while it runs.
#include "cli/daemon_config.h"

#include <cstdio>

namespace tt::cli {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "nothing" : s;
}

}  // namespace

Result<config::Config> load_settings(const DaemonOptions& o) {
  bool default_path = o.config_path.empty();
  auto c = config::load(default_path ? config::kDefaultPath : o.config_path, default_path);
  if (!c) return c;
  auto given = [&o](const char* name) { return o.given.count(name) > 0; };
  if (given("--json")) c->json = o.output.json;
  if (given("--out")) c->out = o.output.out;
  if (given("--report")) c->report = o.output.report;
  if (given("--max-body-bytes")) c->max_body_bytes = o.output.max_body_bytes;
  if (given("--ring-buffer-mb")) c->ring_buffer_mb = o.cap.ring_buffer_mb;
  if (given("--max-call-bytes")) c->max_call_bytes = o.cap.max_call_bytes;
  if (given("--summary-interval")) c->summary_interval_s = o.summary_interval_s;
  if (given("--session-idle")) c->session_idle_s = o.session_idle_s;
  if (given("--metrics-listen")) c->metrics_listen = o.metrics_listen;
  if (given("--spool")) c->spool.dir = o.output.spool;
  if (given("--top-socket")) c->top_socket = o.top_socket;
  if (given("--rotate-keep")) c->rotate_keep = o.output.rotate_keep;
  if (given("--collector")) c->collector.address = o.collector;
  if (given("--collector-ca")) c->collector.ca = o.collector_ca;
  if (given("--token-file")) c->collector.token_file = o.token_file;
  if (given("--collector-cert")) c->collector.cert = o.collector_cert;
  if (given("--collector-key")) c->collector.key = o.collector_key;
  if (given("--otlp-endpoint")) c->otlp_endpoint = o.otlp_endpoint;
  // Shipping needs a spool: records leave it only once the collector has them.
  bool ships = !c->collector.address.empty() || !c->otlp_endpoint.empty();
  if (ships && c->spool.dir.empty()) c->spool.dir = kDefaultShipSpool;
  if (given("--rotate-size")) {
    auto bytes = config::parse_size(o.rotate_size);
    if (!bytes) return Error{"--rotate-size: " + bytes.error()};
    c->rotate_bytes = *bytes;
  }
  nlohmann::json info;
  if (auto r = parse_api_hosts(o.cap.api_hosts, info); !r) return Error{r.error()};
  for (auto& [host, prov] : info["api_hosts"].items()) c->api_hosts[host] = prov.get<std::string>();
  if (c->summary_interval_s <= 0 || c->session_idle_s <= 0)
    return make_error("--summary-interval and --session-idle must be positive (seconds)");
  return c;
}

DaemonOptions with_settings(DaemonOptions o, const config::Config& c) {
  o.output.json = c.json;
  o.output.out = c.out;
  o.output.report = c.report;
  o.output.rotate_bytes = c.rotate_bytes;
  o.output.rotate_keep = static_cast<uint32_t>(c.rotate_keep);
  if (!c.report.empty()) o.output.quiet = false;  // asked for one
  o.output.max_body_bytes = c.max_body_bytes;
  o.cap.ring_buffer_mb = c.ring_buffer_mb;
  o.cap.max_call_bytes = c.max_call_bytes;
  o.summary_interval_s = c.summary_interval_s;
  o.session_idle_s = c.session_idle_s;
  o.metrics_listen = c.metrics_listen;
  o.output.spool = c.spool.dir;
  o.output.spool_max_mb = c.spool.max_mb;
  o.output.spool_segment_mb = c.spool.segment_mb;
  o.output.spool_fsync_ms = c.spool.fsync_ms;
  o.top_socket = c.top_socket;
  o.collector = c.collector.address;
  o.otlp_endpoint = c.otlp_endpoint;
  o.collector_ca = c.collector.ca;
  o.token_file = c.collector.token_file;
  o.collector_cert = c.collector.cert;
  o.collector_key = c.collector.key;
  o.top_group = c.top_group;
  return o;
}

nlohmann::json live_settings_json(const config::Config& c) {
  nlohmann::json j;
  j["api_hosts"] = c.api_hosts;
  j["summary_interval_ns"] = static_cast<uint64_t>(c.summary_interval_s * 1e9);
  j["session_idle_ns"] = static_cast<uint64_t>(c.session_idle_s * 1e9);
  return j;
}

std::optional<Reloaded> reload_settings(const DaemonOptions& cli, const config::Config& in_force) {
  auto next = load_settings(cli);
  if (!next) {
    fprintf(stderr, "tokentap: reload refused, the configuration in force stays: %s\n", next.error().c_str());
    return std::nullopt;
  }
  config::Changes ch = config::diff(in_force, *next);
  // Only what applies live is in force now; the rest waits for a restart (and
  // the next reload says so again).
  config::Config c = in_force;
  c.select = next->select;
  c.api_hosts = next->api_hosts;
  c.summary_interval_s = next->summary_interval_s;
  c.session_idle_s = next->session_idle_s;
  return Reloaded{c, "configuration reloaded: applied: " + join(ch.live) + "; needs a restart: " + join(ch.need_restart)};
}

}  // namespace tt::cli
