#include "sink/report.h"

#include <cinttypes>
#include <cstdarg>
#include <map>
#include <set>
#include <tuple>

namespace tt::sink {

std::string thousands(uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

namespace {

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof(buf), f, ap);
  va_end(ap);
  return buf;
}

std::string num(uint64_t v) { return thousands(v); }

std::string bytes(uint64_t b) {
  if (b < 10 * 1024) return num(b) + " B";
  if (b < 10 * 1024 * 1024) return fmt("%.1f KiB", b / 1024.0);
  return fmt("%.1f MiB", b / 1048576.0);
}

std::string clip(const std::string& s, size_t n) { return s.size() <= n ? s : s.substr(0, n - 1) + "~"; }

// Connections picked up mid-stream, gaps decoding resumed after, and exchanges
// left to the client's side: shown only when there were any.
std::string resync_lines(const aggregate::v1::CaptureStats& c) {
  std::string out;
  if (c.midstream_connections())
    out += fmt("  %s connection(s) joined mid-stream (decoded from their next request on)\n",
               num(c.midstream_connections()).c_str());
  if (c.midstream_undecodable_connections())
    out += fmt("  %s connection(s) seen from mid-stream, not decodable (%s HTTP/2 without its preface, "
               "%s WebSocket without its upgrade)\n",
               num(c.midstream_undecodable_connections()).c_str(), num(c.midstream_http2_connections()).c_str(),
               num(c.midstream_websocket_connections()).c_str());
  if (c.gap_resyncs()) out += fmt("  decoding resumed after %s capture gap(s)\n", num(c.gap_resyncs()).c_str());
  if (c.server_side_exchanges())
    out += fmt("  %s exchange(s) seen from a traced TLS server's side (reported by the client's side only)\n",
               num(c.server_side_exchanges()).c_str());
  return out;
}

// A request's cost: dollars, "?" (no price known for its model), "local", "-" (not
// billable), "" (a record from before prices).
std::string cost_cell(const aggregate::v1::ApiRequest& r) {
  const std::string& src = r.cost_source();
  if (src == "unknown_model") return "?";
  if (src == "local") return "local";
  if (src == "not_billable") return "-";
  if (src.empty()) return "";
  return usd(r.cost_usd()) + (r.billing() == "subscription" ? "*" : "");
}

// A total's money, saying what it leaves out.
std::string cost_total(const aggregate::v1::TokenCounts& t) {
  std::string out = usd(t.cost_usd());
  if (t.unpriced_requests()) out += fmt(" + %s request(s) of unknown price", num(t.unpriced_requests()).c_str());
  return out;
}

struct Sum {
  uint64_t requests = 0, input = 0, cache_read = 0, cache_write = 0, output = 0, req_bytes = 0, resp_bytes = 0;
  uint64_t estimated = 0, unpriced = 0;
  double cost = 0;
  void add(const aggregate::v1::ApiRequest& r) {
    requests++;
    cost += r.cost_usd();
    if (r.cost_source() == "unknown_model") unpriced++;
    input += r.input_tokens();
    cache_read += r.cache_read_tokens();
    cache_write += r.cache_write_tokens();
    output += r.output_tokens();
    req_bytes += r.request_bytes();
    resp_bytes += r.response_bytes();
    if (r.usage_source() == "estimated") estimated++;
  }
};

// "claude-code 2.1.330", "curl", "unknown" when the client said nothing we recognise.
std::string harness_label(const std::string& name, const std::string& version) {
  if (name.empty()) return "unknown";
  return version.empty() ? name : name + " " + version;
}

uint64_t token_sum(const aggregate::v1::TokenCounts& t) {
  return t.input_tokens() + t.cache_read_tokens() + t.cache_write_tokens() + t.output_tokens();
}

}  // namespace

std::string usd(double v) {
  if (v == 0 || v >= 1) return fmt("$%.2f", v);
  return fmt(v < 0.0001 ? "$%.6f" : "$%.4f", v);
}

// What the capture engine itself counted: failures (never silent) and work saved.
// The parsers' bounds (docs/security.md): what a peer's traffic was refused.
static std::string limit_lines(const v1::CaptureStats& c) {
  std::string out;
  if (c.decode_limit_hits())
    out += fmt("  bodies not decoded, over the connection's decompression budget: %s\n",
               num(c.decode_limit_hits()).c_str());
  if (c.hpack_limit_hits())
    out += fmt("  HTTP/2 header tables kept at the 1 MiB bound: %s\n", num(c.hpack_limit_hits()).c_str());
  if (c.header_limit_hits())
    out += fmt("  HTTP/2 header blocks cut at 256 KiB or 1,024 headers: %s\n", num(c.header_limit_hits()).c_str());
  if (c.connection_limit_hits())
    out += fmt("  records of connections not followed (a process had too many open): %s\n",
               num(c.connection_limit_hits()).c_str());
  if (c.session_limit_hits())
    out += fmt("  requests put in their process's session (too many sessions open): %s\n",
               num(c.session_limit_hits()).c_str());
  return out;
}

static std::string engine_lines(const v1::CaptureStats& c) {
  std::string out;
  if (c.map_update_failures())
    out += fmt("  BPF map updates failed: %s (calls or processes not followed: maps full)\n",
               num(c.map_update_failures()).c_str());
  if (c.poll_errors()) out += fmt("  ring buffer read errors: %s\n", num(c.poll_errors()).c_str());
  if (c.processes_held())
    out += fmt("  %s process(es) held until instrumented\n", num(c.processes_held()).c_str());
  if (c.spool_records_dropped())
    out += fmt("  spool over its bound: %s record(s) deleted unshipped (%s)\n", num(c.spool_records_dropped()).c_str(),
               bytes(c.spool_bytes_dropped()).c_str());
  if (c.spool_tail_bytes_repaired())
    out += fmt("  spool: a torn tail of %s cut at start (a record being written at a crash)\n",
               bytes(c.spool_tail_bytes_repaired()).c_str());
  if (c.muted_connections() || c.bytes_muted())
    out += fmt("  %s non-LLM connection(s) counted, not copied: %s\n", num(c.muted_connections()).c_str(),
               bytes(c.bytes_muted()).c_str());
  return out;
}

// The program a session's harness ran inside of (an app on the Claude Agent SDK).
static std::string app_line(const v1::EmbeddingApp& a) {
  std::string out = "run by " + (a.name().empty() ? std::string("an app") : a.name()) + " on " +
                    harness_label(a.sdk(), a.sdk_version());
  if (a.pid()) out += fmt(", pid %u", a.pid());
  if (!a.program().empty()) out += " " + a.program();
  if (!a.package().empty()) out += " (" + a.package() + ")";
  return out;
}

// Where the requests' plaintext came from (each library and file, with how it
// was found), and, loudly, where none could: a binary whose TLS was refused,
// and why requests were seen at the socket only.
static std::string tls_lines(const v1::RunSummary& run, const std::vector<v1::ApiRequest>& reqs) {
  std::string out, from;
  std::map<std::pair<std::string, std::string>, std::string> how;  // hooked (library, path) -> method, runtime
  std::set<std::string> hooked_paths;  // a refusal beside a hooked library is said only where a request needed it
  for (const auto& h : run.tls_hooks())
    if (h.status() == "hooked") {
      how[{h.library(), h.path()}] = " (" + h.method() + (h.runtime().empty() ? "" : ", " + h.runtime()) + ")";
      hooked_paths.insert(h.path());
    }
  for (const auto& h : run.tls_hooks()) {
    if (h.status() == "refused" && !hooked_paths.count(h.path()))  // unsupported ones: likewise, below
      out += fmt("  NOT hooked: %s: %s %s: %s\n", h.path().c_str(), h.library().c_str(), h.status().c_str(),
                 h.detail().c_str());
  }
  std::set<std::pair<std::string, std::string>> used;
  std::set<std::string> whys;
  for (const auto& r : reqs) {
    if (!r.tls_library().empty() && used.insert({r.tls_library(), r.tls_binary()}).second) {
      auto it = how.find({r.tls_library(), r.tls_binary()});
      from += (from.empty() ? "" : "; ") + r.tls_library() + (it == how.end() ? "" : it->second) +
              (r.tls_binary().empty() ? "" : " in " + r.tls_binary());
    }
    if (r.capture_method() == "socket") {
      size_t at = r.error().find("): ");
      whys.insert(at == std::string::npos ? r.error() : r.error().substr(at + 3));
    }
  }
  for (const auto& w : whys) out += fmt("  seen at the socket only (tokens estimated): %s\n", w.c_str());
  return (from.empty() ? "" : "TLS plaintext from: " + from + "\n") + out;
}

std::string render_report(const aggregate::Aggregator& agg, const ReportOptions& opts) {
  const auto& run = agg.run_summary();
  const auto& reqs = agg.requests();
  std::string out;
  std::string cmd;
  for (auto& c : run.command()) cmd += (cmd.empty() ? "" : " ") + c;
  double secs = run.end_unix_ns() > run.start_unix_ns() ? (run.end_unix_ns() - run.start_unix_ns()) / 1e9 : 0;
  out += fmt("tokentap: %s\n", clip(cmd, 100).c_str());
  out += fmt("run %s, exit code %d, %.2f s, %" PRIu64 " process(es)\n\n", run.run_id().c_str(), run.exit_code(), secs,
             run.processes());

  out += fmt("API requests: %" PRIu64 "", run.api_requests());
  if (run.estimated_requests()) out += fmt(" (%" PRIu64 " with estimated tokens, marked ~)", run.estimated_requests());
  if (run.other_http_requests()) out += fmt(", plus %" PRIu64 " other HTTP requests", run.other_http_requests());
  out += "\n";
  if (!reqs.empty()) {
    out += fmt("  %3s %7s  %-9s %-22s %-24s %4s %9s %9s %9s %8s %9s %9s %8s %9s %10s\n", "#", "pid", "provider", "api",
               "model", "http", "input", "cache_rd", "cache_wr", "output", "req_B", "resp_B", "ttfb_ms", "total_ms",
               "cost");
    size_t i = 0;
    for (const auto& r : reqs) {
      if (++i > opts.max_request_rows) break;
      const char* mark = r.usage_source() == "estimated" ? "~" : " ";
      out += fmt("  %3zu %7u  %-9s %-22s %-24s %4u %8s%s %9s %9s %8s %9s %9s %8.1f %9.1f %10s%s\n", i, r.pid(),
                 clip(r.provider(), 9).c_str(), clip(r.api() + (r.stream() ? " (sse)" : ""), 22).c_str(),
                 clip(r.model(), 24).c_str(), r.status(), num(r.input_tokens()).c_str(), mark,
                 num(r.cache_read_tokens()).c_str(), num(r.cache_write_tokens()).c_str(),
                 num(r.output_tokens()).c_str(), num(r.request_bytes()).c_str(), num(r.response_bytes()).c_str(),
                 r.ttfb_ms(), r.latency_ms(), cost_cell(r).c_str(), r.complete() ? "" : "  [incomplete]");
    }
    if (reqs.size() > opts.max_request_rows)
      out += fmt("  ... %zu more requests (all of them: --json FILE)\n", reqs.size() - opts.max_request_rows);

    std::map<std::tuple<std::string, std::string, std::string>, Sum> by_model;
    for (const auto& r : reqs) by_model[{r.provider(), r.api(), r.model()}].add(r);
    out += "\nBy provider, endpoint and model:\n";
    for (auto& [k, s] : by_model) {
      auto& [prov, api, model] = k;
      out += fmt("  %-9s %-18s %-26s %4" PRIu64 " req  in %s  cache rd %s  cache wr %s  out %s  %s\n", prov.c_str(),
                 clip(api, 18).c_str(), clip(model.empty() ? "-" : model, 26).c_str(), s.requests,
                 num(s.input).c_str(), num(s.cache_read).c_str(), num(s.cache_write).c_str(), num(s.output).c_str(),
                 s.unpriced == s.requests ? "price unknown" : (usd(s.cost) + (s.unpriced ? " + unknown" : "")).c_str());
    }
  }

  const auto& t = run.totals();
  uint64_t prompt = t.input_tokens() + t.cache_read_tokens() + t.cache_write_tokens();
  out += "\nTotals:\n";
  out += fmt("  input (uncached)  %14s\n", num(t.input_tokens()).c_str());
  out += fmt("  cache read        %14s\n", num(t.cache_read_tokens()).c_str());
  out += fmt("  cache write       %14s", num(t.cache_write_tokens()).c_str());
  if (t.cache_write_1h_tokens())
    out += fmt("  (5m %s, 1h %s)", num(t.cache_write_5m_tokens()).c_str(), num(t.cache_write_1h_tokens()).c_str());
  out += "\n";
  out += fmt("  output            %14s", num(t.output_tokens()).c_str());
  if (t.reasoning_tokens()) out += fmt("  (reasoning %s)", num(t.reasoning_tokens()).c_str());
  out += "\n";
  if (prompt)
    out += fmt("  prompt tokens served from cache: %.1f%% of %s\n", 100.0 * t.cache_read_tokens() / prompt,
               num(prompt).c_str());
  out += fmt("  request bodies %s, response bodies %s\n", bytes(run.request_bytes()).c_str(),
             bytes(run.response_bytes()).c_str());
  out += fmt("  cost              %14s", cost_total(t).c_str());
  if (t.subscription_cost_usd() > 0)
    out += fmt("  (%s of it API-equivalent: subscription traffic, marked *)", usd(t.subscription_cost_usd()).c_str());
  out += "\n";

  bool any_proc = false;
  for (const auto& p : agg.process_summaries()) {
    if (!p.api_requests() && !p.other_http_requests()) continue;
    if (!any_proc) out += "\nProcesses with HTTP traffic:\n";
    any_proc = true;
    out += fmt("  %7u %-16s %4" PRIu64 " API req  %s tokens  %s  %-22s %s\n", p.pid(), clip(p.comm(), 16).c_str(),
               p.api_requests(), num(token_sum(p.totals())).c_str(), usd(p.totals().cost_usd()).c_str(),
               clip(harness_label(p.harness(), p.harness_version()), 22).c_str(), clip(p.exe(), 60).c_str());
  }

  if (!agg.session_summaries().empty()) out += "\nSessions (harness, session id):\n";
  for (const auto& s : agg.session_summaries()) {
    const auto& t = s.totals();
    std::string pids;
    for (uint32_t pid : s.pids()) pids += (pids.empty() ? "" : ",") + std::to_string(pid);
    out += fmt("  %-22s %-38s %4" PRIu64 " req  in %s  cache rd %s  cache wr %s  out %s  %s  pid %s [%s]\n",
               clip(harness_label(s.harness(), s.harness_version()), 22).c_str(), clip(s.session_id(), 38).c_str(),
               s.api_requests(), num(t.input_tokens()).c_str(), num(t.cache_read_tokens()).c_str(),
               num(t.cache_write_tokens()).c_str(), num(t.output_tokens()).c_str(), cost_total(t).c_str(),
               clip(pids, 40).c_str(), s.session_source().c_str());
    if (s.has_app()) out += "    " + app_line(s.app()) + "\n";
  }

  const auto& c = run.capture();
  out += fmt("\nCapture: %s events, %s of plaintext", num(c.events()).c_str(), bytes(c.bytes_captured()).c_str());
  bool lossless = !c.events_lost() && !c.bytes_lost() && !c.bytes_over_cap() && !c.bytes_unparsed() &&
                  !c.parse_errors() && !c.incomplete_requests() && !c.decode_errors() && !c.unpaired_record_bytes() &&
                  !c.map_update_failures() && !c.poll_errors() && !c.decode_limit_hits() && !c.hpack_limit_hits() &&
                  !c.connection_limit_hits() && !c.session_limit_hits() && !c.header_limit_hits();
  if (lossless) {
    out += "; nothing lost\n";
  } else {
    out += "\n";
    if (c.events_lost() || c.bytes_lost())
      out += fmt("  LOST: %s events, %s (ring buffer full: raise --ring-buffer-mb)\n", num(c.events_lost()).c_str(),
                 bytes(c.bytes_lost()).c_str());
    if (c.bytes_over_cap())
      out += fmt("  over the per-call capture cap: %s (raise --max-call-bytes)\n", bytes(c.bytes_over_cap()).c_str());
    if (c.bytes_unparsed() || c.parse_errors())
      out += fmt("  unparsed: %s, %s parse error(s)\n", bytes(c.bytes_unparsed()).c_str(),
                 num(c.parse_errors()).c_str());
    if (c.incomplete_requests())
      out += fmt("  incomplete requests: %s (no full response; tokens estimated where usage was missing)\n",
                 num(c.incomplete_requests()).c_str());
    if (c.decode_errors()) out += fmt("  body decode errors: %s\n", num(c.decode_errors()).c_str());
    if (c.unpaired_record_bytes())
      out += fmt("  TLS records never matched to their socket: %s (rustls; dropped)\n",
                 bytes(c.unpaired_record_bytes()).c_str());
    out += limit_lines(c);
  }
  if (c.non_http_connections())
    out += fmt("  %s TLS connection(s) neither HTTP/1.x nor HTTP/2 (not decoded)\n",
               num(c.non_http_connections()).c_str());
  out += resync_lines(c);
  out += engine_lines(c);
  out += tls_lines(run, reqs);
  return out;
}

}  // namespace tt::sink
