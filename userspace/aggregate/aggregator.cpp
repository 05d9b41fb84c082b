#include "aggregate/aggregator.h"

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
}

void Aggregator::add_tokens(v1::TokenCounts& t, const v1::ApiRequest& r) {
  t.set_input_tokens(t.input_tokens() + r.input_tokens());
  t.set_cache_read_tokens(t.cache_read_tokens() + r.cache_read_tokens());
  t.set_cache_write_tokens(t.cache_write_tokens() + r.cache_write_tokens());
  t.set_cache_write_5m_tokens(t.cache_write_5m_tokens() + r.cache_write_5m_tokens());
  t.set_cache_write_1h_tokens(t.cache_write_1h_tokens() + r.cache_write_1h_tokens());
  t.set_output_tokens(t.output_tokens() + r.output_tokens());
  t.set_reasoning_tokens(t.reasoning_tokens() + r.reasoning_tokens());
}

void Aggregator::add_request(v1::ApiRequest req) {
  req.set_schema_version(1);
  req.set_run_id(run_id_);
  auto& p = process(req.pid());
  if (req.comm().empty()) req.set_comm(p.comm);
  if (req.exe().empty()) req.set_exe(p.exe);
  auto& t = totals_[req.pid()];
  t.api_requests++;
  t.request_bytes += req.request_bytes();
  t.response_bytes += req.response_bytes();
  if (req.usage_source() == "estimated") t.estimated++;
  add_tokens(t.tokens, req);
  if (!req.complete()) capture_.set_incomplete_requests(capture_.incomplete_requests() + 1);
  if (sink_) {
    v1::Record rec;
    *rec.mutable_request() = req;
    sink_->write(rec);
  }
  requests_.push_back(std::move(req));
}

void Aggregator::add_other_http(uint32_t pid, uint64_t request_bytes, uint64_t response_bytes) {
  process(pid);
  auto& t = totals_[pid];
  t.other_http++;
  t.request_bytes += request_bytes;
  t.response_bytes += response_bytes;
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
  proc_summaries_.clear();
  for (auto& [pid, p] : procs_) {
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
    auto it = totals_.find(pid);
    if (it != totals_.end()) {
      const ProcTotals& t = it->second;
      s.set_api_requests(t.api_requests);
      s.set_other_http_requests(t.other_http);
      *s.mutable_totals() = t.tokens;
      s.set_request_bytes(t.request_bytes);
      s.set_response_bytes(t.response_bytes);
      s.set_estimated_requests(t.estimated);
      run_.set_api_requests(run_.api_requests() + t.api_requests);
      run_.set_other_http_requests(run_.other_http_requests() + t.other_http);
      run_.set_request_bytes(run_.request_bytes() + t.request_bytes);
      run_.set_response_bytes(run_.response_bytes() + t.response_bytes);
      run_.set_estimated_requests(run_.estimated_requests() + t.estimated);
    }
    if (sink_) {
      v1::Record rec;
      *rec.mutable_process() = s;
      sink_->write(rec);
    }
    proc_summaries_.push_back(std::move(s));
  }
  run_.set_processes(procs_.size());
  for (auto& r : requests_) add_tokens(*run_.mutable_totals(), r);
  *run_.mutable_capture() = capture_;
  if (sink_) {
    v1::Record rec;
    *rec.mutable_run() = run_;
    sink_->write(rec);
  }
}

}  // namespace tt::aggregate
