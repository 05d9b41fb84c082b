#include "aggregate/aggregator.h"

#include <algorithm>
#include <set>

namespace tt::aggregate {

ProcessInfo& Aggregator::process(uint32_t pid) {
  auto& p = procs_[pid];
  p.pid = pid;
  return p;
}

void Aggregator::process_exited(uint32_t pid, uint64_t ts_ns, int32_t exit_code) {
  auto& p = process(pid);
  p.end_ns = ts_ns;
  p.exit_code = exit_code;
  p.exited = true;
  // Its summary is final now: written at the next interval, then it can go.
  if (auto t = totals_.find(pid); t != totals_.end()) t->second.dirty = true;
}

void Aggregator::add_tokens(v1::TokenCounts& t, const v1::ApiRequest& r) {
  t.set_input_tokens(t.input_tokens() + r.input_tokens());
  t.set_cache_read_tokens(t.cache_read_tokens() + r.cache_read_tokens());
  t.set_cache_write_tokens(t.cache_write_tokens() + r.cache_write_tokens());
  t.set_cache_write_5m_tokens(t.cache_write_5m_tokens() + r.cache_write_5m_tokens());
  t.set_cache_write_1h_tokens(t.cache_write_1h_tokens() + r.cache_write_1h_tokens());
  t.set_output_tokens(t.output_tokens() + r.output_tokens());
  t.set_reasoning_tokens(t.reasoning_tokens() + r.reasoning_tokens());
  t.set_cost_usd(t.cost_usd() + r.cost_usd());
  if (r.cost_source() == "unknown_model") t.set_unpriced_requests(t.unpriced_requests() + 1);
  if (r.billing() == "subscription") t.set_subscription_cost_usd(t.subscription_cost_usd() + r.cost_usd());
}

void Aggregator::Tally::add(const v1::ApiRequest& r) {
  api_requests++;
  request_bytes += r.request_bytes();
  response_bytes += r.response_bytes();
  if (r.usage_source() == "estimated") estimated++;
  if (!r.complete()) incomplete++;
  add_tokens(tokens, r);
  if (harness.empty() && !r.harness().empty()) harness = r.harness();
  if (harness == r.harness() && harness_version.empty()) harness_version = r.harness_version();
}

template <class Summary>
void Aggregator::fill_summary(Summary& s, const Tally& t) {
  s.set_api_requests(t.api_requests);
  *s.mutable_totals() = t.tokens;
  s.set_request_bytes(t.request_bytes);
  s.set_response_bytes(t.response_bytes);
  s.set_estimated_requests(t.estimated);
  s.set_harness(t.harness);
  s.set_harness_version(t.harness_version);
}

std::vector<const ProcessInfo*> Aggregator::ancestry(uint32_t pid) {
  std::vector<const ProcessInfo*> chain{&process(pid)};
  std::set<uint32_t> seen{pid};
  for (const ProcessInfo* p = chain.back(); p->ppid && seen.insert(p->ppid).second; p = chain.back()) {
    auto it = procs_.find(p->ppid);
    if (it == procs_.end()) break;  // the parent was not traced: p is the root
    if (host_scope_ && (!p->pgid || it->second.pgid != p->pgid)) break;  // another process group
    chain.push_back(&it->second);
  }
  return chain;
}

std::string Aggregator::process_session_id(uint32_t pid) {
  const ProcessInfo& root = session_root(pid);
  std::string id = "process:" + std::to_string(root.pid) + ":";
  return id + (root.start_ns ? std::to_string(root.start_ns) : "run:" + run_id_);
}

template <class Rec>
void Aggregator::set_attribution(Rec& r, const Attribution& a) {
  r.set_uid(a.uid);
  r.set_user(a.user);
  r.set_cgroup(a.cgroup);
  r.set_container_id(a.container_id);
  r.set_systemd_unit(a.systemd_unit);
  r.set_cwd(a.cwd);
  r.set_project(a.project);
}

void Aggregator::add_request(v1::ApiRequest req) {
  req.set_schema_version(1);
  req.set_run_id(run_id_);
  auto& p = process(req.pid());
  if (req.comm().empty()) req.set_comm(p.comm);
  if (req.exe().empty()) req.set_exe(p.exe);
  set_attribution(req, p.attr);
  // A peer chooses session ids: past max_sessions open ones, a new id is not
  // kept and the request joins its process tree's session (counted).
  bool full = sessions_.size() >= max_sessions_ && !req.session_id().empty() &&
              !session_index_.count({req.harness(), req.session_id()});
  if (full) capture_.set_session_limit_hits(capture_.session_limit_hits() + 1);
  if (req.session_id().empty() || full) {
    req.set_session_id(process_session_id(req.pid()));
    req.set_session_source("process");
  }
  ProcTotals& pt = totals_[req.pid()];
  pt.add(req);
  pt.dirty = true;
  auto [at, added] = session_index_.try_emplace({req.harness(), req.session_id()}, next_session_);
  if (added) {
    SessionTotals& ns = sessions_[next_session_++];
    ns.session_id = req.session_id();
    ns.session_source = req.session_source();
    ns.harness = req.harness();
    ns.uid = req.uid();
    ns.user = req.user();
    ns.project = req.project();
  }
  SessionTotals& st = sessions_[at->second];
  if (!st.has_app && req.has_app()) {
    st.app = req.app();
    st.has_app = true;
  }
  st.add(req);
  st.dirty = true;
  if (std::find(st.pids.begin(), st.pids.end(), req.pid()) == st.pids.end()) st.pids.push_back(req.pid());
  if (!req.model().empty() && std::find(st.models.begin(), st.models.end(), req.model()) == st.models.end())
    st.models.push_back(req.model());
  if (req.start_unix_ns() && (!st.start_ns || req.start_unix_ns() < st.start_ns)) st.start_ns = req.start_unix_ns();
  st.end_ns = std::max(st.end_ns, req.end_unix_ns());
  if (!req.complete()) capture_.set_incomplete_requests(capture_.incomplete_requests() + 1);
  add_tokens(*running_.mutable_totals(), req);
  running_.set_api_requests(running_.api_requests() + 1);
  running_.set_request_bytes(running_.request_bytes() + req.request_bytes());
  running_.set_response_bytes(running_.response_bytes() + req.response_bytes());
  if (req.usage_source() == "estimated") running_.set_estimated_requests(running_.estimated_requests() + 1);
  if (sink_) {
    v1::Record rec;
    *rec.mutable_request() = req;
    sink_->write(rec);
  }
  if (keep_requests_) requests_.push_back(std::move(req));
}

void Aggregator::add_other_http(uint32_t pid, uint64_t request_bytes, uint64_t response_bytes) {
  process(pid);
  auto& t = totals_[pid];
  t.dirty = true;
  t.other_http++;
  running_.set_other_http_requests(running_.other_http_requests() + 1);
  running_.set_request_bytes(running_.request_bytes() + request_bytes);
  running_.set_response_bytes(running_.response_bytes() + response_bytes);
  t.request_bytes += request_bytes;
  t.response_bytes += response_bytes;
}

v1::ProcessSummary Aggregator::process_summary(uint32_t pid, const ProcessInfo& p, bool final) const {
  v1::ProcessSummary s;
  s.set_schema_version(1);
  s.set_run_id(run_id_);
  s.set_pid(pid);
  s.set_ppid(p.ppid);
  s.set_comm(p.comm);
  s.set_exe(p.exe);
  s.set_start_unix_ns(p.start_ns);
  s.set_end_unix_ns(p.end_ns);
  s.set_exit_code(p.exit_code);
  set_attribution(s, p.attr);
  s.set_final(final);
  if (auto it = totals_.find(pid); it != totals_.end()) {
    fill_summary(s, it->second);
    s.set_other_http_requests(it->second.other_http);
  }
  return s;
}

v1::SessionSummary Aggregator::session_summary(const SessionTotals& t, bool final) const {
  v1::SessionSummary s;
  s.set_schema_version(1);
  s.set_run_id(run_id_);
  fill_summary(s, t);
  s.set_session_id(t.session_id);
  s.set_session_source(t.session_source);
  std::vector<uint32_t> pids = t.pids;
  std::sort(pids.begin(), pids.end());
  for (uint32_t pid : pids) s.add_pids(pid);
  s.set_start_unix_ns(t.start_ns);
  s.set_end_unix_ns(t.end_ns);
  s.set_incomplete_requests(t.incomplete);
  for (const auto& m : t.models) s.add_models(m);
  s.set_uid(t.uid);
  s.set_user(t.user);
  s.set_project(t.project);
  if (t.has_app) *s.mutable_app() = t.app;
  s.set_final(final);
  return s;
}

// A session lives while any process that sent its requests does.
bool Aggregator::session_live(const SessionTotals& t) const {
  for (uint32_t pid : t.pids)
    if (auto it = procs_.find(pid); it != procs_.end() && !it->second.exited) return true;  // pruned: exited
  return false;
}

void Aggregator::emit_interim(uint64_t now_ns, uint64_t idle_ns) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    SessionTotals& t = it->second;
    bool idle = idle_ns && t.end_ns && now_ns > t.end_ns + idle_ns;
    if (!session_live(t) || idle) {
      v1::Record rec;
      *rec.mutable_session() = session_summary(t, true);
      write(rec);
      session_index_.erase({t.harness, t.session_id});
      it = sessions_.erase(it);
      continue;
    }
    if (t.dirty) {
      v1::Record rec;
      *rec.mutable_session() = session_summary(t, false);
      write(rec);
      t.dirty = false;
    }
    ++it;
  }
  for (auto& [pid, t] : totals_) {
    auto p = procs_.find(pid);
    if (!t.dirty || p == procs_.end()) continue;
    v1::Record rec;
    *rec.mutable_process() = process_summary(pid, p->second, p->second.exited);
    write(rec);
    t.dirty = false;
  }
  prune_processes();
}

// Exited processes go once nothing needs them: their final summary is out
// and no live process has them as an ancestor (sessions are named after them).
void Aggregator::prune_processes() {
  std::set<uint32_t> needed;
  for (auto& [pid, p] : procs_)
    if (!p.exited)
      for (const ProcessInfo* a : ancestry(pid)) needed.insert(a->pid);
  for (auto it = procs_.begin(); it != procs_.end();) {
    uint32_t pid = it->first;
    auto t = totals_.find(pid);
    bool summarised = t == totals_.end() || !t->second.dirty;
    if (it->second.exited && summarised && !needed.count(pid)) {
      if (t != totals_.end()) totals_.erase(t);
      it = procs_.erase(it);
    } else {
      ++it;
    }
  }
}

void Aggregator::finish(const std::vector<std::string>& command, uint64_t start_ns, uint64_t end_ns,
                        int32_t exit_code) {
  run_.Clear();
  run_.set_schema_version(1);
  run_.set_run_id(run_id_);
  for (auto& c : command) run_.add_command(c);
  run_.set_start_unix_ns(start_ns);
  run_.set_end_unix_ns(end_ns);
  run_.set_exit_code(exit_code);
  run_.set_tokentap_version(TOKENTAP_VERSION);
  run_.set_final(true);
  run_.set_scope(host_scope_ ? "host" : "process_tree");
  proc_summaries_.clear();
  for (auto& [pid, p] : procs_) {
    auto it = totals_.find(pid);
    // The whole host: only processes that made HTTP requests are summarised.
    if (host_scope_ && it == totals_.end()) continue;
    v1::ProcessSummary s = process_summary(pid, p, true);
    v1::Record rec;
    *rec.mutable_process() = s;
    write(rec);
    if (keep_requests_) proc_summaries_.push_back(std::move(s));
  }
  session_summaries_.clear();
  for (auto& [order, t] : sessions_) {
    v1::SessionSummary s = session_summary(t, true);
    v1::Record rec;
    *rec.mutable_session() = s;
    write(rec);
    if (keep_requests_) session_summaries_.push_back(std::move(s));
  }
  run_.set_processes(host_scope_ ? totals_.size() : procs_.size());
  *run_.mutable_totals() = running_.totals();
  run_.set_api_requests(running_.api_requests());
  run_.set_other_http_requests(running_.other_http_requests());
  run_.set_request_bytes(running_.request_bytes());
  run_.set_response_bytes(running_.response_bytes());
  run_.set_estimated_requests(running_.estimated_requests());
  *run_.mutable_tls_hooks() = running_.tls_hooks();
  *run_.mutable_capture() = capture_;
  v1::Record rec;
  *rec.mutable_run() = run_;
  write(rec);
}

}  // namespace tt::aggregate
