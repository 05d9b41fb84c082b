// The userspace pipeline shared by `profile`, `replay` and (later) the daemon:
// raw capture records in, records out through the aggregator.
//   capture record -> stream (per connection) -> protocol (HTTP/1.x exchanges)
//   -> provider (usage) -> aggregate -> sink
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "aggregate/aggregator.h"
#include "provider/harness.h"
#include "pipeline/tls_hooks.h"
#include "pricing/pricing.h"
#include "provider/provider.h"
#include "protocol/exchange.h"
#include "stream/connection_table.h"
#include "stream/tls_sockets.h"

namespace tt::pipeline {

struct PipelineOptions {
  size_t max_body_bytes = 64u << 20;  // per message body kept for decoding
  int64_t mono_to_unix_ns = 0;        // capture timestamps are CLOCK_MONOTONIC
  // Extra LLM API hosts for the socket fallback (host -> provider), beyond the
  // providers' public hosts; also read from RUN_INFO so replay agrees.
  provider::HostMap api_hosts;  // host -> provider (config [api_hosts], --api-host)
  // Prices for each request's cost_usd; null: the built-in table alone (the
  // installed file and /etc/tokentap overrides are read by the commands, before
  // parsing is confined).
  std::shared_ptr<const pricing::PriceTable> prices;
  // Called for a connection whose first request went to a named host that is
  // not an LLM API and was not an API call: the capture may stop copying it.
  std::function<void(uint32_t pid, uint64_t conn)> mute_connection;
  // Whole host: whether the capture should follow a socket (its head record
  // says what it is: capture::Tracer::set_socket_watch).
  std::function<void(uint64_t sock, uint64_t head_ts_ns, bool watch)> watch_socket;
  // Exchanges seen from a traced TLS server (requests read, responses written)
  // become request records too. Off: tracing a whole host sees a local server
  // (a gateway, a test server) as well as its clients, and a request is counted
  // once, at the client; the server's side is only counted (server_side_exchanges).
  bool report_server_side = false;
  // Request bodies waiting for their responses are kept whole up to this many
  // bytes in all; past it, a request's body is read as it ends and released
  // (same records, one more pass over the body: design.md, "Memory").
  size_t held_request_bytes = 4u << 20;
  // Content decoding per connection: at most decode_ratio x the encoded bytes
  // plus decode_allowance, in all (decompression bombs).
  uint64_t decode_ratio = 128;
  uint64_t decode_allowance = 64u << 20;
};

// What RUN_INFO / STATS records carried (so replay can print what profile did).
struct RunFacts {
  std::vector<std::string> command;
  uint64_t start_mono_ns = 0;
  uint64_t end_mono_ns = 0;
  int32_t exit_code = 0;
  bool have_start = false, have_end = false;
  // The latest CONFIG record's (a daemon reload): 0 = as the engine started.
  uint64_t summary_interval_ns = 0, session_idle_ns = 0;
  nlohmann::json health;  // the last HEALTH record's payload (daemon --metrics-listen)
};

class Pipeline {
 public:
  Pipeline(PipelineOptions opts, aggregate::Aggregator& agg);
  ~Pipeline();

  // One raw record, from the ring buffer or a capture file.
  void on_raw(const void* data, size_t size);
  // End of the run: every open connection is closed (its pending requests are
  // reported incomplete).
  void finish(uint64_t mono_ts_ns);

  uint64_t to_unix(uint64_t mono_ns) const { return mono_ns ? mono_ns + opts_.mono_to_unix_ns : 0; }
  void set_mono_to_unix(int64_t off) { opts_.mono_to_unix_ns = off; }
  const RunFacts& run_facts() const { return facts_; }
  uint64_t malformed_records() const { return malformed_; }

 private:
  void on_exchange(protocol::Exchange&& ex, const stream::ConnInfo& conn);
  void digest_request(protocol::HttpMessage& m, const stream::ConnInfo& c);
  void sync_connection_limit();
  const std::string& content_body(const protocol::HttpMessage& m, const stream::ConnInfo& c, std::string& decoded,
                                  std::string& why);
  void add_session_stats(const protocol::SessionStats& s);
  void on_info(uint32_t kind, uint32_t pid, uint64_t ts, const std::string& json);
  void take_loss_counters(const std::function<int64_t(const char*)>& num);
  void emit_socket_fallback(const std::vector<const stream::SocketConn*>& conns);
  uint64_t socket_conn_id_ = 1u << 30;  // apart from plaintext connection ids
  std::string provider_for_host(const std::string& host) const;
  // cost_usd, cost_source and price_entry from the record's tokens.
  void set_cost(tokentap::v1::ApiRequest& r, std::optional<double> reported_usd) const;
  void maybe_mute(const protocol::Exchange& ex, const stream::ConnInfo& conn);
  void peek_first_write(const capture::DataEvent& d);
  void on_config(const nlohmann::json& j);
  void on_tls_hook(uint32_t pid, const nlohmann::json& j);
  std::string explain_socket_only(uint32_t pid);
  void mute_unless_api_host(uint32_t pid, uint64_t conn, std::string_view host_header);
  void forget_connection(uint32_t pid, uint64_t conn);  // 0 conn: all of pid's
  void mute(uint32_t pid, uint64_t conn);
  std::set<std::pair<uint32_t, uint64_t>> first_call_seen_, muted_;
  std::vector<provider::ProcessFacts> process_facts(uint32_t pid);

  PipelineOptions opts_;
  std::shared_ptr<size_t> held_bytes_ = std::make_shared<size_t>(0);  // request bodies kept whole
  struct DecodeBudget {
    uint64_t wire = 0, decoded = 0;
  };
  std::map<std::pair<uint32_t, uint64_t>, DecodeBudget> decode_budget_;  // by (pid, connection)
  aggregate::Aggregator& agg_;
  stream::ConnectionTable conns_;
  stream::SocketTracker sockets_;
  std::set<uint32_t> plaintext_pids_;  // processes whose TLS we see in plaintext
  TlsHookBook tls_hooks_;
  std::set<std::string> unhooked_warned_;  // executables already named in a warning

  // rustls (TT_LIB_AWSLC): plaintext arrives per AEAD context; an ALIAS
  // record says which socket a context belongs to, so both directions share
  // one connection keyed by the socket. A context's first sealed records come
  // before the write that pairs it: they wait here, in order, bounded.
  void on_aead_data(const capture::DataEvent& ev);
  void on_alias(const capture::AliasEvent& a);
  void drop_pending(uint32_t pid, uint64_t ctx);  // 0 ctx: every context of pid
  struct PendingData {
    capture::DataEvent ev;
    std::string bytes;
  };
  struct PendingConn {
    std::vector<PendingData> events;
    size_t bytes = 0;
    uint64_t dropped = 0;  // over the bound: counted, then a gap once paired
  };
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> aead_sockets_;  // (pid, ctx) -> struct sock *
  std::map<std::pair<uint32_t, uint64_t>, PendingConn> aead_pending_;
  std::map<std::pair<uint32_t, uint64_t>, uint32_t> aead_gaps_;  // lost_before for the next record
  static constexpr size_t kMaxPendingBytes = 16u << 20;  // per context
  RunFacts facts_;
  uint64_t malformed_ = 0;
};

}  // namespace tt::pipeline
