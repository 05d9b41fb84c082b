// Aggregation: per-request records go straight to the sink; per-process,
// per-session and per-run summaries accumulate and are written at the end.
//
// Sessions: a request belongs to the session (harness, session_id). When the
// harness sent no session id of its own, add_request() derives one from the
// process tree: the top-most traced ancestor of the sending process (following
// ppid through processes this run has seen) is the session root, and the id is
// "process:<root pid>:<root start unix ns>" (or "process:<root pid>:run:<run id>"
// when its start is unknown), with session_source "process". Every process of one
// traced tree thus shares one session per harness; separate trees do not.
// With the whole host traced (daemon) every tree reaches init, so the walk also
// stops at the process group: the root is the top-most ancestor in the sending
// process's group (a shell starts each command line as a group of its own).
//
// Long runs (daemon): requests are not kept; summaries of what changed are
// written every interval (final = false), a process's final summary once it
// exits, a session's once all its processes exited or it was idle too long;
// then they are dropped, so memory follows what is live, not what was seen.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sink/sink.h"

namespace tt::aggregate {

namespace v1 = ::tokentap::v1;

// Who a process ran for and where (PROC_INFO "uid", "user", "cgroup",
// "container_id", "systemd_unit", "cwd", "project"); empty when unknown.
struct Attribution {
  uint32_t uid = 0;
  std::string user, cgroup, container_id, systemd_unit, cwd, project;
};

struct ProcessInfo {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  std::string comm;
  std::string exe;
  std::vector<std::string> cmdline;  // argv up to its program (PROC_INFO "cmdline")
  std::string package;               // npm package of its program (PROC_INFO "package")
  Attribution attr;
  uint32_t pgid = 0;
  uint64_t start_ns = 0;  // unix ns
  uint64_t end_ns = 0;
  int32_t exit_code = 0;
  bool exited = false;
};

class Aggregator {
 public:
  Aggregator(std::string run_id, sink::RecordSink* sink) : run_id_(std::move(run_id)), sink_(sink) {}

  const std::string& run_id() const { return run_id_; }
  void set_run_id(std::string id) { run_id_ = std::move(id); }
  void set_keep_requests(bool keep) { keep_requests_ = keep; }
  void set_host_scope(bool host) { host_scope_ = host; }
  // Sessions open at once; a request with a new session id past it joins its
  // process tree's session instead (session_limit_hits).
  void set_max_sessions(size_t n) { max_sessions_ = n; }

  // Process lifecycle (unix ns timestamps). Unknown pids are created on demand.
  ProcessInfo& process(uint32_t pid);
  void process_exited(uint32_t pid, uint64_t ts_ns, int32_t exit_code);

  // Fills run_id/comm/exe (and the process-tree session when the request has no
  // session id), writes the record and adds it to the totals.
  void add_request(v1::ApiRequest req);
  void add_other_http(uint32_t pid, uint64_t request_bytes, uint64_t response_bytes);

  v1::CaptureStats& capture_stats() { return capture_; }
  // A binary with TLS examined during the run (the RunSummary lists them).
  void add_tls_hook(v1::TlsHook h) { *running_.add_tls_hooks() = std::move(h); }

  // pid, then its parent, grandparent... while they were traced (seen by this run).
  std::vector<const ProcessInfo*> ancestry(uint32_t pid);
  // The top-most traced ancestor of pid (pid itself if its parent was not traced).
  const ProcessInfo& session_root(uint32_t pid) { return *ancestry(pid).back(); }
  // The session id derived from pid's process tree (see above).
  std::string process_session_id(uint32_t pid);

  // Interim summaries (final = false) of the processes and sessions that
  // changed since the last call; final ones, and pruning, for those that ended
  // (sessions idle for idle_ns, when non-zero). now_ns: unix ns.
  void emit_interim(uint64_t now_ns, uint64_t idle_ns);

  // Writes one ProcessSummary per process, one SessionSummary per session (in
  // order of first request), then the RunSummary.
  void finish(const std::vector<std::string>& command, uint64_t start_ns, uint64_t end_ns, int32_t exit_code);

  const std::vector<v1::ApiRequest>& requests() const { return requests_; }
  const std::vector<v1::ProcessSummary>& process_summaries() const { return proc_summaries_; }
  const std::vector<v1::SessionSummary>& session_summaries() const { return session_summaries_; }
  const v1::RunSummary& run_summary() const { return run_; }

 private:
  // What process and session summaries count of their API requests.
  struct Tally {
    uint64_t api_requests = 0, request_bytes = 0, response_bytes = 0, estimated = 0, incomplete = 0;
    v1::TokenCounts tokens;
    std::string harness, harness_version;  // first identified harness
    void add(const v1::ApiRequest& r);
  };
  struct ProcTotals : Tally {
    uint64_t other_http = 0;
    bool dirty = false;  // changed since its last summary
  };
  struct SessionTotals : Tally {
    std::string session_id, session_source;
    uint32_t uid = 0;
    std::string user, project;  // of its first request
    v1::EmbeddingApp app;       // of its first request that names one
    bool has_app = false;
    std::vector<uint32_t> pids;
    std::vector<std::string> models;
    uint64_t start_ns = 0, end_ns = 0;
    bool dirty = false;
  };
  v1::ProcessSummary process_summary(uint32_t pid, const ProcessInfo& p, bool final) const;
  v1::SessionSummary session_summary(const SessionTotals& t, bool final) const;
  bool session_live(const SessionTotals& t) const;
  void prune_processes();
  static void add_tokens(v1::TokenCounts& t, const v1::ApiRequest& r);
  // Sets the attribution fields (ApiRequest, ProcessSummary) from a.
  template <class Rec>
  static void set_attribution(Rec& r, const Attribution& a);
  // The fields ProcessSummary and SessionSummary share.
  template <class Summary>
  static void fill_summary(Summary& s, const Tally& t);
  void write(const v1::Record& rec) {
    if (sink_) sink_->write(rec);
  }

  std::string run_id_;
  sink::RecordSink* sink_;
  std::map<uint32_t, ProcessInfo> procs_;  // ordered: stable output
  std::map<uint32_t, ProcTotals> totals_;
  std::vector<v1::ApiRequest> requests_;
  std::vector<v1::ProcessSummary> proc_summaries_;
  std::map<std::pair<std::string, std::string>, uint64_t> session_index_;  // (harness, id) -> sessions_
  std::map<uint64_t, SessionTotals> sessions_;  // by order of first request
  uint64_t next_session_ = 0;
  bool keep_requests_ = true;
  bool host_scope_ = false;
  size_t max_sessions_ = 10000;
  v1::RunSummary running_;  // run totals as requests arrive
  std::vector<v1::SessionSummary> session_summaries_;
  v1::CaptureStats capture_;
  v1::RunSummary run_;
};

}  // namespace tt::aggregate
