// The live source: loads the BPF programs (capture::Tracer), decides which
// processes are traced, instruments their binaries and libraries before they
// can speak TLS, and adds what /proc says about them to the record stream.
//   Scope::ProcessTree (profile): one command and its descendants; an exec of
//     an unexamined binary is held until instrumented.
//   Scope::Host (daemon): every process; processes already running are found
//     from /proc, and a process is held only at its first TCP connect with an
//     unexamined binary, or when it loads an unexamined TLS library.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "capture/bpf/tracer.h"
#include "common/result.h"
#include "config/config.h"
#include "engine/procfs.h"
#include "engine/source.h"
#include "tlstap.h"

namespace tt::engine {

enum class Scope { ProcessTree, Host };

struct LiveOptions {
  Scope scope = Scope::ProcessTree;
  capture::TracerOptions tracer;  // filter_pids / hold modes follow the scope
  config::Selection select;       // Host: which processes are reported and instrumented
};

class LiveCapture : public Source {
 public:
  // Loads and attaches; instruments the system libssl and the dynamic loader;
  // in Host scope, every running process too. Records go to out.
  static Result<std::unique_ptr<LiveCapture>> start(const LiveOptions& opts, RecordFn out);
  ~LiveCapture() override;

  // Instruments a file ahead of time (profile: the command, its interpreter).
  void instrument(const std::string& path);
  // ProcessTree: pid (profile's child, not yet exec'd) joins the traced set.
  Result<void> follow(uint32_t pid, const std::string& exe, const std::string& comm, uint32_t ppid);
  int transfer(int timeout_ms) override;
  // The end: no process is held from now on; delivers records until the ring
  // buffer has been idle for a few polls.
  void drain();
  // The loss counters, as the STATS record carries them.
  capture::TracerStats stats() const { return tracer_->stats(); }
  uint64_t poll_errors() const { return poll_errors_; }
  // The STATS record's payload: the loss counters and the command's exit code.
  nlohmann::json stats_json(int exit_code) const;
  // Stops copying a connection's bytes (not LLM traffic); it is still counted.
  void mute(uint32_t pid, uint64_t conn);
  // Whole host: follow a socket's bytes (socket fallback) or only count them.
  void watch_socket(uint64_t sk, uint64_t head_ts_ns, bool watch) { tracer_->set_socket_watch(sk, head_ts_ns, watch); }
  // Host: a reload's [include]/[exclude] rules, from the next record on (each process is judged again).
  void set_selection(config::Selection sel);
  // Tears down every probe now; nothing is captured after.
  void detach() { tracer_->detach_all(); }
  // The same, off the caller's path: each uprobe's detach waits for an RCU
  // grace period (~0.1 s, one after another under a kernel mutex), so a
  // detached child process inherits the links and tears them down while the
  // caller reports and exits. The caller must not touch the capture after.
  void detach_in_background();

 private:
  LiveCapture(const LiveOptions& opts, RecordFn out) : opts_(opts), out_(std::move(out)) {}
  void on_record(const void* data, size_t size);
  void emit(const std::string& rec) { out_(rec.data(), rec.size()); }
  void describe(uint32_t pid, const tt_proc_event* seen);
  void note_gone_process(const tt_proc_event& seen);
  bool excluded(uint32_t pid);
  void on_excluded(const void* data);
  void forget(uint32_t pid);
  void note_process(uint32_t pid);
  bool trace_live(uint32_t pid);
  bool instrument_process(uint32_t pid, bool program, bool libraries);
  void rescan_maps();
  void release_hold(uint32_t pid, bool rescan);
  void attach(const std::string& path, bool verbose_fail);
  void report_tls_hook(const std::string& opened, const capture::AttachInfo& a);
  void emit_info(uint32_t kind, uint32_t pid, const std::string& json);  // an info record, stamped now
  void attach_loader(const std::string& path);
  void scan_host();
  bool host() const { return opts_.scope == Scope::Host; }

  LiveOptions opts_;
  RecordFn out_;
  std::unique_ptr<capture::Tracer> tracer_;
  std::set<uint32_t> live_;       // followed processes (their maps are rescanned)
  std::set<uint32_t> described_;  // Host: processes whose PROC_INFO went out
  std::set<uint32_t> preexisting_;  // Host: running before capture started
  std::set<std::pair<uint32_t, uint64_t>> joined_conns_;  // their connections, seen once
  std::set<std::string> checked_maps_paths_;
  std::set<std::string> warned_;
  static constexpr size_t kMaxReportedHooks = 4096;  // distinct binaries a run reports on
  size_t reported_hooks_ = 0;
  std::map<std::pair<uint32_t, uint64_t>, std::string> paths_by_inode_;  // binaries examined, by kernel dev and inode
  CgroupPaths cgroup_paths_;  // Host: the cgroup of a process gone before it was described
  std::map<uint32_t, bool> excluded_;  // per process, judged once per program (reset by exec, hold, seen)
  uint64_t last_scan_ns_ = 0;
  uint64_t poll_errors_ = 0;
};

}  // namespace tt::engine
