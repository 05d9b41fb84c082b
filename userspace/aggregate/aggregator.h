// Aggregation: per-request records go straight to the sink; per-process and
// per-run summaries accumulate and are written at the end.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sink/sink.h"

namespace tt::aggregate {

namespace v1 = ::tokentap::v1;

struct ProcessInfo {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  std::string comm;
  std::string exe;
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

  // Process lifecycle (unix ns timestamps). Unknown pids are created on demand.
  ProcessInfo& process(uint32_t pid);
  void process_exited(uint32_t pid, uint64_t ts_ns, int32_t exit_code);

  // Fills run_id/comm/exe, writes the record and adds it to the totals.
  void add_request(v1::ApiRequest req);
  void add_other_http(uint32_t pid, uint64_t request_bytes, uint64_t response_bytes);

  v1::CaptureStats& capture_stats() { return capture_; }

  // Writes one ProcessSummary per process, then the RunSummary.
  void finish(const std::vector<std::string>& command, uint64_t start_ns, uint64_t end_ns, int32_t exit_code);

  const std::vector<v1::ApiRequest>& requests() const { return requests_; }
  const std::vector<v1::ProcessSummary>& process_summaries() const { return proc_summaries_; }
  const v1::RunSummary& run_summary() const { return run_; }

 private:
  struct ProcTotals {
    uint64_t api_requests = 0, other_http = 0, request_bytes = 0, response_bytes = 0, estimated = 0;
    v1::TokenCounts tokens;
  };
  static void add_tokens(v1::TokenCounts& t, const v1::ApiRequest& r);

  std::string run_id_;
  sink::RecordSink* sink_;
  std::map<uint32_t, ProcessInfo> procs_;  // ordered: stable output
  std::map<uint32_t, ProcTotals> totals_;
  std::vector<v1::ApiRequest> requests_;
  std::vector<v1::ProcessSummary> proc_summaries_;
  v1::CaptureStats capture_;
  v1::RunSummary run_;
};

}  // namespace tt::aggregate
