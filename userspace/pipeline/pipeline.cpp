#include "pipeline/pipeline.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "protocol/content_encoding.h"
#include "provider/harness.h"
#include "provider/provider.h"

namespace tt::pipeline {

namespace v1 = ::tokentap::v1;
using capture::ParseStatus;

Pipeline::Pipeline(PipelineOptions opts, aggregate::Aggregator& agg)
    : opts_(opts),
      agg_(agg),
      conns_([this](const stream::ConnInfo& info) -> std::unique_ptr<stream::StreamConsumer> {
        return std::make_unique<protocol::Http1Session>(
            info, opts_.max_body_bytes,
            [this](protocol::Exchange&& ex, const stream::ConnInfo& c) { on_exchange(std::move(ex), c); },
            [this](const stream::ConnInfo&, const protocol::SessionStats& s) {
              auto& cs = agg_.capture_stats();
              cs.set_bytes_unparsed(cs.bytes_unparsed() + s.bytes_unparsed);
              cs.set_parse_errors(cs.parse_errors() + s.parse_errors);
              if (s.non_http) cs.set_non_http_connections(cs.non_http_connections() + 1);
              add_session_stats(s);
            },
            [this](protocol::HttpMessage& m, const stream::ConnInfo& c) { digest_request(m, c); });
      }) {}

Pipeline::~Pipeline() = default;

void Pipeline::on_raw(const void* data, size_t size) {
  capture::ParsedEvent ev = capture::parse_event(data, size);
  switch (ev.status) {
    case ParseStatus::Data:
      plaintext_pids_.insert(ev.data.pid);
      if (ev.data.lib == TT_LIB_AWSLC) {
        on_aead_data(ev.data);
      } else {
        peek_first_write(ev.data);
        conns_.on_data(ev.data);
      }
      sync_connection_limit();
      break;
    case ParseStatus::Alias:
      on_alias(ev.alias);
      break;
    case ParseStatus::Sock:
      sockets_.on_event(ev.sock);
      if (!ev.sock.head.empty() && opts_.watch_socket)
        opts_.watch_socket(ev.sock.sock, ev.sock.ts_ns,
                           stream::should_watch_socket(ev.sock.head, plaintext_pids_.count(ev.sock.pid) > 0,
                                                       [this](const std::string& h) { return provider_for_host(h); }));
      break;
    case ParseStatus::Close:
      conns_.on_close(ev.close.pid, ev.close.conn, ev.close.ts_ns);
      forget_connection(ev.close.pid, ev.close.conn);
      break;
    case ParseStatus::Proc: {
      auto& p = agg_.process(ev.proc.pid);
      if (ev.proc.kind == TT_EV_SEEN) {  // whole host: first plaintext, /proc may be gone by now
        if (!p.ppid) p.ppid = ev.proc.ppid;
        if (p.comm.empty()) p.comm = ev.proc.comm;
      } else if (ev.proc.kind == TT_EV_FORK) {
        p.ppid = ev.proc.ppid;
        p.start_ns = to_unix(ev.proc.ts_ns);
        p.comm = ev.proc.comm;
      } else if (ev.proc.kind == TT_EV_EXEC) {
        if (ev.proc.ppid && !p.ppid) p.ppid = ev.proc.ppid;
        if (!p.start_ns) p.start_ns = to_unix(ev.proc.ts_ns);
        p.exe = ev.proc.filename;
      } else if (ev.proc.kind == TT_EV_EXIT) {
        if (!p.comm.size()) p.comm = ev.proc.comm;
        // exit_code is the kernel's wait status: high byte = exit code, low = signal.
        int32_t st = ev.proc.exit_code;
        agg_.process_exited(ev.proc.pid, to_unix(ev.proc.ts_ns), (st & 0x7f) ? 128 + (st & 0x7f) : (st >> 8) & 0xff);
        conns_.close_process(ev.proc.pid, ev.proc.ts_ns);
        {  // its socket-fallback connections are over: their requests go out now
          std::vector<stream::SocketConn> ended = sockets_.take_process(ev.proc.pid);
          std::vector<const stream::SocketConn*> ptrs;
          for (const auto& c : ended) ptrs.push_back(&c);
          emit_socket_fallback(ptrs);
        }
        plaintext_pids_.erase(ev.proc.pid);
        tls_hooks_.process_exited(ev.proc.pid);
        forget_connection(ev.proc.pid, 0);
        drop_pending(ev.proc.pid, 0);
      }
      break;
    }
    case ParseStatus::Info:
      on_info(ev.info.kind, ev.info.pid, ev.info.ts_ns, ev.info.json);
      break;
    case ParseStatus::Malformed:
      ++malformed_;
      break;
  }
}

void Pipeline::on_info(uint32_t kind, uint32_t pid, uint64_t ts, const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    ++malformed_;
    return;
  }
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  // Numbers from outside (a capture file) may be anything: only integers count.
  auto num = [&](const char* k) -> int64_t {
    if (!j.contains(k)) return 0;
    if (j[k].is_number_integer()) return j[k].get<int64_t>();
    if (j[k].is_number_unsigned()) return static_cast<int64_t>(std::min<uint64_t>(j[k].get<uint64_t>(), INT64_MAX));
    return 0;
  };
  if (kind == capture::TT_EV_PROC_INFO) {
    auto& p = agg_.process(pid);
    if (!str("exe").empty()) p.exe = str("exe");
    if (!str("comm").empty()) p.comm = str("comm");
    if (num("ppid") && !p.ppid) p.ppid = static_cast<uint32_t>(num("ppid"));
    if (num("pgid")) p.pgid = static_cast<uint32_t>(num("pgid"));
    if (num("start_unix_ns") && !p.start_ns) p.start_ns = static_cast<uint64_t>(num("start_unix_ns"));
    // What provider::probe_process() adds: after an exec they describe the new program.
    if (j.contains("cmdline") && j["cmdline"].is_array()) {
      p.cmdline.clear();
      for (auto& a : j["cmdline"])
        if (a.is_string()) p.cmdline.push_back(a.get<std::string>());
    }
    if (j.contains("package") && j["package"].is_string()) p.package = str("package");
    // Attribution comes whole, read from /proc at once (an exec may have moved cwd or cgroup).
    if (j.contains("cgroup") && j["cgroup"].is_string())
      p.attr = {static_cast<uint32_t>(num("uid")), str("user"), str("cgroup"), str("container_id"),
                str("systemd_unit"), str("cwd"), str("project")};
    if (!p.start_ns && ts) p.start_ns = to_unix(ts);
  } else if (kind == capture::TT_EV_RUN_INFO) {
    opts_.mono_to_unix_ns = num("mono_to_unix_ns");
    if (!str("run_id").empty()) agg_.set_run_id(str("run_id"));
    agg_.set_host_scope(str("scope") == "host");
    facts_.command.clear();
    if (j.contains("command") && j["command"].is_array())
      for (auto& c : j["command"])
        if (c.is_string()) facts_.command.push_back(c.get<std::string>());
    facts_.start_mono_ns = ts;
    facts_.have_start = true;
    if (j.contains("api_hosts") && j["api_hosts"].is_object())
      for (auto& [host, prov] : j["api_hosts"].items())
        if (prov.is_string()) opts_.api_hosts[host] = prov.get<std::string>();
  } else if (kind == capture::TT_EV_CONFIG) {
    on_config(j);
  } else if (kind == capture::TT_EV_HEALTH) {  // the daemon's periodic sample: the run goes on
    take_loss_counters(num);
    facts_.health = std::move(j);
  } else if (kind == capture::TT_EV_TLS_HOOK) {
    on_tls_hook(pid, j);
  } else if (kind == capture::TT_EV_STATS) {
    take_loss_counters(num);
    facts_.exit_code = static_cast<int32_t>(num("exit_code"));
    facts_.end_mono_ns = ts;
    facts_.have_end = true;
  }
}

// A daemon reload: the parser process cannot read the file, so what it needs
// comes in the record stream (in order: records before it saw the old settings).
void Pipeline::on_config(const nlohmann::json& j) {
  if (j.contains("api_hosts") && j["api_hosts"].is_object()) {
    opts_.api_hosts.clear();  // the whole set: a host dropped from the file is no API any more
    for (auto& [host, prov] : j["api_hosts"].items())
      if (prov.is_string()) opts_.api_hosts[host] = prov.get<std::string>();
  }
  for (auto [key, dst] : {std::pair{"summary_interval_ns", &facts_.summary_interval_ns},
                          std::pair{"session_idle_ns", &facts_.session_idle_ns}})
    if (j.contains(key) && j[key].is_number_unsigned() && j[key].get<uint64_t>() > 0) *dst = j[key].get<uint64_t>();
}

// A binary the capture examined for TLS: the run summary lists those with TLS.
void Pipeline::on_tls_hook(uint32_t pid, const nlohmann::json& j) {
  TlsHookInfo h;
  if (!parse_tls_hook(j, h)) {
    ++malformed_;
    return;
  }
  std::string exe = pid ? agg_.process(pid).exe : "";  // pid 0: examined at start, for no process
  if (!tls_hooks_.add(pid, exe, h) || h.status == "none") return;
  v1::TlsHook rec;
  rec.set_path(h.path);
  rec.set_library(h.library);
  rec.set_runtime(h.runtime);
  rec.set_method(h.method);
  rec.set_status(h.status);
  rec.set_detail(h.detail);
  agg_.add_tls_hook(std::move(rec));
}

// Why a process's TLS was seen at the socket only, from what the capture found
// in its binaries. Said once per executable on stderr too (the daemon's log): a
// harness release that moved its TLS somewhere tokentap does not look must not
// pass for a quiet one.
std::string Pipeline::explain_socket_only(uint32_t pid) {
  const std::string& exe = agg_.process(pid).exe;
  std::string why = tls_hooks_.why_unhooked(pid, exe);
  if (why.empty()) why = (exe.empty() ? "its executable" : exe) + " was not examined for TLS";
  if (unhooked_warned_.size() < 4096 && unhooked_warned_.insert(exe).second)
    fprintf(stderr, "tokentap: warning: pid %u (%s) talks TLS to an LLM API with no plaintext hook: %s; its requests are "
            "counted at the socket, with estimated tokens\n", pid, exe.c_str(), why.c_str());
  return why;
}

// The kernel side's counters as they stand (STATS at the end, HEALTH meanwhile).
void Pipeline::take_loss_counters(const std::function<int64_t(const char*)>& num) {
  auto& cs = agg_.capture_stats();
  cs.set_events(num("events"));
  cs.set_bytes_captured(num("bytes"));
  cs.set_events_lost(num("events_lost") + num("proc_events_lost"));
  cs.set_bytes_lost(num("bytes_lost"));
  cs.set_bytes_over_cap(num("bytes_over_cap"));
  cs.set_map_update_failures(num("map_update_failures"));
  cs.set_poll_errors(num("poll_errors"));
  cs.set_bytes_muted(num("bytes_muted"));
  cs.set_processes_held(num("processes_held"));
  cs.set_socket_bytes_unwatched(num("socket_bytes_unwatched"));
}

void Pipeline::on_aead_data(const capture::DataEvent& ev) {
  auto key = std::make_pair(ev.pid, ev.conn);
  if (auto it = aead_sockets_.find(key); it != aead_sockets_.end()) {
    capture::DataEvent e = ev;
    e.conn = it->second;
    if (auto g = aead_gaps_.find(key); g != aead_gaps_.end()) {  // what the held records overflowed
      e.lost_before += g->second;
      aead_gaps_.erase(g);
    }
    conns_.on_data(e);
    return;
  }
  PendingConn& p = aead_pending_[key];
  if (p.dropped || p.bytes + ev.data.size() > kMaxPendingBytes) {
    auto& cs = agg_.capture_stats();
    cs.set_unpaired_record_bytes(cs.unpaired_record_bytes() + ev.data.size());
    p.dropped += ev.data.size();
    return;
  }
  p.bytes += ev.data.size();
  p.events.push_back({ev, std::string(ev.data)});
}

void Pipeline::on_alias(const capture::AliasEvent& a) {
  auto key = std::make_pair(a.pid, a.conn);
  if (!a.sock) {  // a new key: whatever this context carried before is over
    aead_sockets_.erase(key);
    aead_gaps_.erase(key);
    drop_pending(a.pid, a.conn);
    return;
  }
  aead_sockets_[key] = a.sock;
  auto it = aead_pending_.find(key);
  if (it == aead_pending_.end()) return;
  for (PendingData& d : it->second.events) {
    d.ev.data = d.bytes;
    d.ev.conn = a.sock;
    conns_.on_data(d.ev);
  }
  // Held records beyond the bound were dropped: the stream says where.
  if (it->second.dropped) aead_gaps_[key] = static_cast<uint32_t>(std::min<uint64_t>(it->second.dropped, UINT32_MAX));
  aead_pending_.erase(it);
}

void Pipeline::drop_pending(uint32_t pid, uint64_t ctx) {
  auto& cs = agg_.capture_stats();
  for (auto it = aead_pending_.lower_bound({pid, ctx}); it != aead_pending_.end() && it->first.first == pid;) {
    if (ctx && it->first.second != ctx) break;
    cs.set_unpaired_record_bytes(cs.unpaired_record_bytes() + it->second.bytes);  // dropped ones are counted
    it = aead_pending_.erase(it);
  }
  if (!ctx) {
    for (auto it = aead_sockets_.lower_bound({pid, 0}); it != aead_sockets_.end() && it->first.first == pid;)
      it = aead_sockets_.erase(it);
    for (auto it = aead_gaps_.lower_bound({pid, 0}); it != aead_gaps_.end() && it->first.first == pid;)
      it = aead_gaps_.erase(it);
  }
}

void Pipeline::finish(uint64_t mono_ts_ns) {
  for (auto it = aead_pending_.begin(); it != aead_pending_.end(); it = aead_pending_.begin())
    drop_pending(it->first.first, it->first.second);
  conns_.close_all(mono_ts_ns);
  emit_socket_fallback(sockets_.connections());
  sync_connection_limit();
}

void Pipeline::sync_connection_limit() {
  if (uint64_t n = conns_.refused_records(); n != agg_.capture_stats().connection_limit_hits())
    agg_.capture_stats().set_connection_limit_hits(n);
}

// The sending process, then its traced ancestors: what harness rules look at.
std::vector<provider::ProcessFacts> Pipeline::process_facts(uint32_t pid) {
  std::vector<provider::ProcessFacts> out;
  for (const aggregate::ProcessInfo* p : agg_.ancestry(pid))
    out.push_back({p->exe, p->comm, p->cmdline, p->package, p->pid});
  return out;
}

// --api-host first (as given, HOST or HOST:PORT), then tokentap's one host table.
namespace {

const pricing::PriceTable& builtin_prices() {
  static const pricing::PriceTable table = [] {
    auto t = pricing::PriceTable::parse(pricing::PriceTable::builtin_text(), "built-in");
    return t ? std::move(*t) : pricing::PriceTable();  // the shipped file is tested to parse
  }();
  return table;
}

pricing::Billing billing_kind(const std::string& b) {
  if (b == provider::kBillingMetered) return pricing::Billing::Metered;
  if (b == provider::kBillingSubscription) return pricing::Billing::Subscription;
  if (b == provider::kBillingLocal) return pricing::Billing::Local;
  return pricing::Billing::Unknown;
}

}  // namespace

void Pipeline::set_cost(v1::ApiRequest& r, std::optional<double> reported_usd) const {
  pricing::Request q;
  q.provider = r.provider();
  q.model = r.model();
  q.tokens = {r.input_tokens(), r.cache_read_tokens(), r.cache_write_5m_tokens(), r.cache_write_1h_tokens(),
              r.output_tokens()};
  // Cache writes not broken down by lifetime are the default 5-minute kind.
  uint64_t split = r.cache_write_5m_tokens() + r.cache_write_1h_tokens();
  if (split < r.cache_write_tokens()) q.tokens.cache_write_5m += r.cache_write_tokens() - split;
  q.start_unix_ns = r.start_unix_ns();
  q.billable = r.billable();
  q.billing = billing_kind(r.billing());
  q.reported_usd = reported_usd;
  pricing::Cost c = pricing::price(opts_.prices ? *opts_.prices : builtin_prices(), q);
  r.set_cost_usd(c.usd);
  r.set_cost_source(c.source);
  if (c.entry) r.set_price_entry(c.entry->provider + "/" + c.entry->model);
}

namespace {

void set_app(v1::EmbeddingApp& out, const provider::EmbeddingApp& app) {
  out.set_sdk(app.sdk);
  out.set_sdk_version(app.sdk_version);
  out.set_name(app.name);
  out.set_pid(app.pid);
  out.set_program(app.program);
  out.set_package(app.package);
}

}  // namespace

std::string Pipeline::provider_for_host(const std::string& host) const {
  if (const std::string* p = provider::mapped_provider(&opts_.api_hosts, host)) return *p;
  return provider::provider_for_host(host);
}

// TLS connections of processes whose TLS stack has no plaintext hook (a
// process with any plaintext is covered by it): each turn becomes a request
// record with the bytes that crossed the socket and tokens estimated from
// them, at about 4 bytes a token; connections to other hosts count as other
// traffic. The estimate is marked as such; nothing here is exact but bytes.
void Pipeline::emit_socket_fallback(const std::vector<const stream::SocketConn*>& conns) {
  auto& cs = agg_.capture_stats();
  for (const stream::SocketConn* c : conns) {
    if (!c->hello.is_tls || plaintext_pids_.count(c->pid)) continue;
    cs.set_socket_fallback_connections(cs.socket_fallback_connections() + 1);
    uint64_t conn_id = ++socket_conn_id_;
    std::string prov = provider_for_host(c->hello.sni);
    // Any TLS service may listen on loopback: without plaintext, only a host the
    // user named is taken for an LLM API.
    if (prov == provider::kLocalProvider && !provider::mapped_provider(&opts_.api_hosts, c->hello.sni)) prov.clear();
    // No headers to go by: the harness can only be named from its process.
    std::vector<provider::ProcessFacts> procs = process_facts(c->pid);
    provider::Harness harness = provider::identify_harness(protocol::HttpMessage{}, "", nullptr, &procs);
    std::string why = prov.empty() ? "" : explain_socket_only(c->pid);
    uint32_t seq = 0;
    for (const stream::SocketTurn& t : stream::request_turns(*c)) {
      if (prov.empty()) {
        agg_.add_other_http(c->pid, t.out, t.in);
        continue;
      }
      v1::ApiRequest r;
      r.set_pid(c->pid);
      r.set_connection_id(conn_id);
      r.set_sequence_on_connection(++seq);
      r.set_provider(prov);
      r.set_api("tls");
      r.set_host(c->hello.sni);
      r.set_billable(true);
      r.set_capture_method("socket");
      r.set_harness(harness.name);
      r.set_harness_version(harness.version);
      r.set_usage_source(provider::usage_source_name(provider::UsageSource::Estimated));
      r.set_input_tokens(t.out / 4);
      r.set_output_tokens(t.in / 4);
      r.set_request_bytes(t.out);
      r.set_response_bytes(t.in);
      r.set_start_unix_ns(to_unix(t.first_ts_ns));
      r.set_end_unix_ns(to_unix(t.last_ts_ns));
      if (t.last_ts_ns >= t.first_ts_ns) r.set_latency_ms((t.last_ts_ns - t.first_ts_ns) / 1e6);
      if (t.first_in_ts_ns >= t.last_out_ts_ns && t.last_out_ts_ns)
        r.set_ttfb_ms((t.first_in_ts_ns - t.last_out_ts_ns) / 1e6);
      r.set_error("TLS stack without a plaintext hook: sizes seen at the socket only (" + c->peer + ":" +
                  std::to_string(c->dport) + (c->hello.alpn.empty() ? "" : ", ALPN " + c->hello.alpn[0]) + "): " + why);
      set_cost(r, std::nullopt);  // no model seen: unknown_model, flagged
      agg_.add_request(std::move(r));
    }
  }
}

// Only a connection to a named host that is no LLM API is muted: an address or
// localhost may be a gateway or test server whose later requests are API calls.
static bool is_named_host(const std::string& host) {
  if (host.empty() || host == "localhost" || host.starts_with("localhost:") || host[0] == '[') return false;
  return host.find_first_not_of("0123456789.:") != std::string::npos;
}

void Pipeline::mute_unless_api_host(uint32_t pid, uint64_t conn, std::string_view host_header) {
  std::string h(host_header);
  if (!is_named_host(h) || muted_.count({pid, conn})) return;
  std::string host = h.substr(0, h.rfind(':') == std::string::npos ? h.size() : h.rfind(':'));
  if (!provider_for_host(host).empty()) return;
  mute(pid, conn);
}

void Pipeline::mute(uint32_t pid, uint64_t conn) {
  if (!opts_.mute_connection || !muted_.insert({pid, conn}).second) return;
  for (const auto& [key, sock] : aead_sockets_)
    if (sock == conn && key.first == pid) return;  // rustls: BPF keys these by context
  auto& cs = agg_.capture_stats();
  cs.set_muted_connections(cs.muted_connections() + 1);
  opts_.mute_connection(pid, conn);
}

// At the end of a connection's first exchange (a POST is judged by its body).
void Pipeline::maybe_mute(const protocol::Exchange& ex, const stream::ConnInfo& conn) {
  if (!opts_.mute_connection || ex.sequence != 1) return;
  const std::string* h = ex.request.header("Host");
  if (!h) return;
  mute_unless_api_host(conn.pid, conn.ssl, *h);
}

static bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

// A connection's first call, before any parsing. A request read is a traced
// server's side: muted at once. A request written that cannot be an API call
// (not a POST) to a named host that is no LLM API is muted too, so its
// response (a download, say) is counted in BPF, not copied.
void Pipeline::peek_first_write(const capture::DataEvent& d) {
  if (!opts_.mute_connection || d.offset != 0) return;
  if (!first_call_seen_.insert({d.pid, d.conn}).second) return;
  std::string_view b = d.data.substr(0, 8192);
  size_t eol = b.find("\r\n");
  size_t sp = b.find(' ');
  if (eol == std::string_view::npos || sp == std::string_view::npos || sp > 10 || sp > eol) return;
  std::string_view method = b.substr(0, sp);
  bool request_line = b.substr(0, eol).ends_with(" HTTP/1.1") && method.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string_view::npos;
  // A request read: a traced server's side, never reported, so not copied.
  if (d.dir == TT_DIR_READ) {
    if (request_line) mute(d.pid, d.conn);
    return;
  }
  if (method == "POST" || !request_line) return;
  for (size_t at = eol + 2; at < b.size();) {
    size_t end = b.find("\r\n", at);
    if (end == std::string_view::npos || end == at) return;  // headers cut short, or their end
    std::string_view line = b.substr(at, end - at);
    if (iequals_prefix(line, "host:")) {
      std::string_view v = line.substr(5);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      return mute_unless_api_host(d.pid, d.conn, v);
    }
    at = end + 2;
  }
}

void Pipeline::forget_connection(uint32_t pid, uint64_t conn) {
  for (auto it = decode_budget_.lower_bound({pid, conn}); it != decode_budget_.end() && it->first.first == pid &&
                                                          (!conn || it->first.second == conn);)
    it = decode_budget_.erase(it);
  for (auto* set : {&first_call_seen_, &muted_}) {
    auto it = set->lower_bound({pid, conn});
    while (it != set->end() && it->first == pid && (!conn || it->second == conn)) it = set->erase(it);
  }
}

static std::string strip_query(const std::string& target) { return target.substr(0, target.find('?')); }

// The record's anatomy: the body's, with each part's tokens scaled to the
// record's prompt (docs/analysis.md).
static void set_anatomy(v1::ApiRequest& r, const provider::Anatomy& a) {
  if (a.empty()) return;
  v1::ContextAnatomy& out = *r.mutable_anatomy();
  uint64_t prompt = r.input_tokens() + r.cache_read_tokens() + r.cache_write_tokens();
  auto tokens = provider::part_tokens(a, prompt, r.usage_source() == "exact");
  v1::PromptPart* parts[provider::kPartCount] = {out.mutable_system(), out.mutable_tools(), out.mutable_history(),
                                                 out.mutable_tool_results(), out.mutable_new_content()};
  for (size_t i = 0; i < provider::kPartCount; ++i) {
    parts[i]->set_bytes(a.parts[i].bytes);
    parts[i]->set_tokens(tokens[i]);
    parts[i]->set_count(a.parts[i].count);
  }
  out.mutable_tool_names()->Assign(a.tool_names.begin(), a.tool_names.end());
  out.mutable_tool_bytes()->Assign(a.tool_bytes.begin(), a.tool_bytes.end());
  out.set_cache_breakpoints(a.cache_breakpoints);
  out.set_cache_ttl_seconds(a.cache_ttl_seconds);
  out.mutable_prefix_hashes()->Assign(a.prefix_hashes.begin(), a.prefix_hashes.end());
  out.mutable_prefix_bytes()->Assign(a.prefix_bytes.begin(), a.prefix_bytes.end());
  out.set_conversation_hash(a.conversation_hash);
  out.set_new_content_hash(a.new_content_hash);
  out.set_new_user_turn(a.new_user_turn);
  out.set_largest_tool_result_hash(a.largest_tool_result_hash);
  out.set_largest_tool_result_bytes(a.largest_tool_result_bytes);
  out.set_messages(a.messages);
}

static void append_error(std::string& e, const std::string& more) {
  if (more.empty()) return;
  if (!e.empty()) e += "; ";
  e += more;
}

// What the protocol layer resumed after and could not decode (design.md, "No silent loss").
void Pipeline::add_session_stats(const protocol::SessionStats& s) {
  using U = protocol::SessionStats::Undecodable;
  auto& cs = agg_.capture_stats();
  cs.set_gap_resyncs(cs.gap_resyncs() + s.gap_resyncs);
  cs.set_hpack_limit_hits(cs.hpack_limit_hits() + s.hpack_limit_hits);
  cs.set_header_limit_hits(cs.header_limit_hits() + s.header_limit_hits);
  cs.set_decode_limit_hits(cs.decode_limit_hits() + s.decode_limit_hits);
  if (s.midstream) cs.set_midstream_connections(cs.midstream_connections() + 1);
  if (s.undecodable == U::No) return;
  cs.set_midstream_undecodable_connections(cs.midstream_undecodable_connections() + 1);
  if (s.undecodable == U::Http2) cs.set_midstream_http2_connections(cs.midstream_http2_connections() + 1);
  if (s.undecodable == U::WebSocket)
    cs.set_midstream_websocket_connections(cs.midstream_websocket_connections() + 1);
}

// A body as sent, content-decoded. A truncated body (cap hit) or a cut-off
// stream is decoded as far as it goes; one with no encoding is used in place.
// On failure `why` says why and the result is empty.
// Decoding is bounded per connection: what a peer sends compressed may be
// inflated 128 times over, plus 64 MiB, in all (a 4 KB capture of "gzip, gzip"
// bombs took 519 MB and 14 s); per message, 4x the body cap. Past it the body
// is not decoded, and that is counted (decode_limit_hits).
const std::string& Pipeline::content_body(const protocol::HttpMessage& m, const stream::ConnInfo& c,
                                          std::string& decoded, std::string& why) {
  const std::string* ce = m.header("Content-Encoding");
  if (!ce || ce->empty()) return m.body;
  DecodeBudget& b = decode_budget_[{c.pid, c.ssl}];
  b.wire += m.body.size();
  uint64_t allowed = opts_.decode_allowance + opts_.decode_ratio * b.wire;
  uint64_t cap = std::min<uint64_t>(opts_.max_body_bytes * 4, allowed > b.decoded ? allowed - b.decoded : 0);
  bool partial = m.body_truncated || !m.complete, over = false;
  auto r = protocol::decode_content(m.body, *ce, cap, partial, &over);
  if (!r) {
    why = r.error();
    if (over) {
      auto& cs = agg_.capture_stats();
      cs.set_decode_limit_hits(cs.decode_limit_hits() + 1);
    }
    return decoded;
  }
  b.decoded += r->size();
  return decoded = std::move(*r);
}

namespace {
// A request body kept whole: counted against the budget for as long as its
// message lives.
struct HeldBody : protocol::BodyDigest {
  HeldBody(std::shared_ptr<size_t> total, size_t n) : total(std::move(total)), n(n) { *this->total += n; }
  ~HeldBody() override { *total -= n; }
  std::shared_ptr<size_t> total;
  size_t n;
};
}  // namespace

// A request ends long before its response (a stream lasts minutes). Within the
// budget its body is kept; past it, the body is read now, what decoding needs
// kept, and the body released (design.md, "Memory").
void Pipeline::digest_request(protocol::HttpMessage& m, const stream::ConnInfo& c) {
  if (m.body.empty() || m.digest) return;
  if (*held_bytes_ + m.body.size() <= opts_.held_request_bytes) {
    m.digest = std::make_shared<HeldBody>(held_bytes_, m.body.size());
    return;
  }
  std::string decoded, why;
  const std::string& body = content_body(m, c, decoded, why);
  auto d = std::make_shared<provider::RequestDigest>(m, body, body.capacity());
  d->error = std::move(why);
  m.digest = std::move(d);
  std::string().swap(m.body);
}

void Pipeline::on_exchange(protocol::Exchange&& ex, const stream::ConnInfo& conn) {
  if (ex.server_side && !opts_.report_server_side) {  // counted once, at the client
    auto& cs = agg_.capture_stats();
    cs.set_server_side_exchanges(cs.server_side_exchanges() + 1);
    mute(conn.pid, conn.ssl);  // a local server's side need not be copied any more
    return;
  }
  const protocol::HttpMessage& req = ex.request;
  const protocol::HttpMessage* resp = ex.response ? &*ex.response : nullptr;
  auto& cs = agg_.capture_stats();
  std::string err;

  // Content decoding (a request body digested as it ended was decoded then).
  const auto* digest = dynamic_cast<const provider::RequestDigest*>(req.digest.get());
  std::string req_decoded, resp_decoded, why;
  const std::string& req_body = digest ? req_decoded : content_body(req, conn, req_decoded, why);
  if (digest) why = digest->error;
  if (!why.empty()) {
    cs.set_decode_errors(cs.decode_errors() + 1);
    append_error(err, "request body: " + why);
  }
  why.clear();
  const std::string& resp_body = resp ? content_body(*resp, conn, resp_decoded, why) : resp_decoded;
  if (!why.empty()) {
    cs.set_decode_errors(cs.decode_errors() + 1);
    append_error(err, "response body: " + why);
  }

  provider::Exchange pex;
  pex.request = &req;
  pex.response = resp;
  pex.request_body = req_body;
  pex.request_body_readable = req_body.capacity();  // spare capacity lets simdjson parse in place
  pex.request_digest = digest;
  pex.response_body = resp_body;
  pex.response_complete = resp && resp->complete && !resp->body_truncated;
  std::vector<provider::ProcessFacts> procs = process_facts(conn.pid);
  pex.processes = &procs;
  pex.hosts = &opts_.api_hosts;
  provider::ApiCall call = provider::decode(pex);

  uint64_t req_bytes = req.body_wire_bytes, resp_bytes = resp ? resp->body_wire_bytes : 0;
  if (!call.is_llm) {
    agg_.add_other_http(conn.pid, req_bytes, resp_bytes);
    maybe_mute(ex, conn);
    return;
  }

  v1::ApiRequest r;
  r.set_pid(conn.pid);
  r.set_connection_id(conn.id);
  r.set_sequence_on_connection(ex.sequence);
  r.set_provider(call.provider);
  r.set_wire_format(provider::wire_format_name(call.wire));
  r.set_billing(call.billing);
  r.set_api(call.api);
  r.set_method(req.method);
  r.set_path(strip_query(req.target));
  if (const std::string* h = req.header("Host")) r.set_host(*h);
  r.set_model(call.model);
  r.set_stream(call.stream);
  r.set_billable(call.billable);
  r.set_status(resp ? resp->status : 0);
  r.set_stop_reason(call.stop_reason);
  r.set_request_id(call.request_id);
  r.set_response_id(call.response_id);
  r.set_session_id(call.session_id);  // empty: the aggregator derives one from the process tree
  r.set_session_source(call.session_source);
  r.set_harness(call.harness);
  r.set_harness_version(call.harness_version);
  if (!call.app.sdk.empty()) set_app(*r.mutable_app(), call.app);
  r.set_capture_method("plaintext");
  r.set_tls_library(capture::tls_library_name(conn.lib));
  if (const std::string* bin = tls_hooks_.path_of_hook(conn.hook)) r.set_tls_binary(*bin);
  r.set_user_agent(call.user_agent);
  r.set_input_tokens(call.usage.input_tokens);
  r.set_cache_read_tokens(call.usage.cache_read_tokens);
  r.set_cache_write_tokens(call.usage.cache_write_tokens);
  r.set_cache_write_5m_tokens(call.usage.cache_write_5m_tokens);
  r.set_cache_write_1h_tokens(call.usage.cache_write_1h_tokens);
  r.set_output_tokens(call.usage.output_tokens);
  r.set_reasoning_tokens(call.usage.reasoning_tokens);
  // Calls that bill nothing (count_tokens, rejected requests) are exactly zero.
  r.set_usage_source(provider::usage_source_name(
      call.usage_source == provider::UsageSource::None ? provider::UsageSource::Exact : call.usage_source));
  r.set_request_bytes(req_bytes);
  r.set_response_bytes(resp_bytes);
  r.set_request_header_bytes(req.header_bytes);
  r.set_response_header_bytes(resp ? resp->header_bytes : 0);
  if (const std::string* h = req.header("Content-Encoding")) r.set_request_content_encoding(*h);
  if (resp)
    if (const std::string* h = resp->header("Content-Encoding")) r.set_response_content_encoding(*h);
  r.set_start_unix_ns(to_unix(req.first_ts_ns));
  uint64_t end = resp ? resp->last_ts_ns : req.last_ts_ns;
  r.set_end_unix_ns(to_unix(end));
  if (req.first_ts_ns && end >= req.first_ts_ns) r.set_latency_ms((end - req.first_ts_ns) / 1e6);
  if (resp && resp->first_ts_ns >= req.last_ts_ns && req.last_ts_ns)
    r.set_ttfb_ms((resp->first_ts_ns - req.last_ts_ns) / 1e6);
  r.set_request_truncated(req.body_truncated);
  r.set_response_truncated(resp && resp->body_truncated);
  // A client that reset the stream (Codex, on its last SSE event, before the
  // server's END_STREAM) or closed the connection (Copilot CLI, after
  // "data: [DONE]", before the chunked terminator) once the provider's final
  // usage had come had it all.
  bool ended_early = resp && (resp->cancelled_by_client || resp->closed_in_body);
  bool answered = resp && (resp->complete || (ended_early && call.usage_source == provider::UsageSource::Exact));
  r.set_complete(req.complete && answered && !req.body_truncated && !resp->body_truncated);
  append_error(err, req.error.empty() ? "" : "request: " + req.error);
  if (resp && !(answered && !resp->complete)) append_error(err, resp->error.empty() ? "" : "response: " + resp->error);
  append_error(err, call.error);
  r.set_error(err);
  set_cost(r, call.reported_cost_usd);
  set_anatomy(r, call.anatomy);
  r.mutable_tools_called()->Assign(call.tools_called.begin(), call.tools_called.end());
  agg_.add_request(std::move(r));
}

}  // namespace tt::pipeline
