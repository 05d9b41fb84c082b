#include "engine/live_capture.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "capture/events.h"
#include "engine/procfs.h"
#include "engine/tls_hook_report.h"
#include "provider/harness.h"
#include "tlstap.h"

namespace tt::engine {

static bool debug() { return getenv("TOKENTAP_DEBUG") != nullptr; }

Result<std::unique_ptr<LiveCapture>> LiveCapture::start(const LiveOptions& opts, RecordFn out) {
  std::unique_ptr<LiveCapture> lc(new LiveCapture(opts, std::move(out)));
  capture::TracerOptions t = opts.tracer;
  t.filter_pids = !lc->host();
  t.stop_on_exec = !lc->host();
  t.hold_on_connect = lc->host();
  auto tracer = capture::Tracer::create(t, [raw = lc.get()](const void* d, size_t n) { raw->on_record(d, n); });
  if (!tracer) return Error{tracer.error()};
  lc->tracer_ = std::move(*tracer);
  // The system libssl covers every process that links or dlopens it.
  for (const auto& p : capture::system_libssl_paths()) {
    lc->attach(p, true);
    lc->tracer_->mark_known_library(p);
    char real[PATH_MAX];
    if (realpath(p.c_str(), real)) lc->tracer_->mark_known_library(real);
  }
  for (const char* ld : {"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"})
    if (access(ld, R_OK) == 0) lc->attach_loader(ld);
  if (lc->host()) lc->scan_host();  // after the exclusions are known: excluded processes are left alone
  return lc;
}

LiveCapture::~LiveCapture() = default;

void LiveCapture::instrument(const std::string& path) { attach(path, false); }

void LiveCapture::emit_info(uint32_t kind, uint32_t pid, const std::string& json) {
  emit(capture::make_info_record(kind, pid, now_ns(CLOCK_MONOTONIC), json));
}

namespace {

// A refusal beside libraries of the same file that are instrumented says so:
// its traffic through them is still seen.
std::string instrumented_beside(const capture::AttachInfo& a) {
  std::string names;
  for (const auto& l : a.libraries)
    if (l.attached) names += (names.empty() ? "" : ", ") + l.library;
  return names.empty() ? "" : " (its " + names + " is instrumented)";
}

}  // namespace

void LiveCapture::attach(const std::string& path, bool verbose_fail) {
  auto r = tracer_->attach_tls(path);
  if (!r) {
    if (verbose_fail) fprintf(stderr, "tokentap: warning: %s\n", r.error().c_str());
    return;
  }
  report_tls_hook(path, *r);
  // Say which binary goes unseen and why: a silent gap would read as "no spend". Beside
  // a library of the same file that is hooked (Copilot CLI's addon: aws-lc refused, its
  // OpenSSL hooked) the gap may not exist: said only should a request of it be seen at
  // the socket (its error and the warning then name the refusal) or with TOKENTAP_DEBUG.
  bool beside = r->attached();
  for (const auto& l : r->libraries) {
    std::string what = l.library + (l.runtime.empty() ? "" : ", " + l.runtime);
    if (l.refused && (!beside || debug()) && warned_.insert(path + "\n" + l.library).second) {
      fprintf(stderr, "tokentap: warning: cannot instrument %s (%s): %s%s\n", path.c_str(), what.c_str(),
              l.detail.c_str(), instrumented_beside(*r).c_str());
    } else if (l.attached && r->new_attach && debug()) {
      fprintf(stderr, "tokentap: instrumented %s (%s%s): %s\n", path.c_str(), what.c_str(),
              r->from_cache ? ", cached" : "", l.detail.c_str());
    }
  }
}

// The pipeline hears once per binary (inode) what was found in it (the run
// summary lists it; a request seen only at the socket says why from it).
void LiveCapture::report_tls_hook(const std::string& opened, const capture::AttachInfo& a) {
  if (!a.first_look || reported_hooks_ >= kMaxReportedHooks) return;
  ++reported_hooks_;
  SeenPath p = seen_path(opened);
  paths_by_inode_[{a.kernel_dev, a.ino}] = p.path;
  for (const std::string& j : tls_hook_jsons(p.path, a))
    emit_info(capture::TT_EV_TLS_HOOK, p.pid, j);
}

void LiveCapture::attach_loader(const std::string& path) {
  auto r = tracer_->attach_loader(path);
  if (!r)
    fprintf(stderr, "tokentap: warning: %s (libraries it dlopens later may be seen late)\n", r.error().c_str());
  else if (debug())
    fprintf(stderr, "tokentap: dynamic loader %s: %s\n", path.c_str(), *r ? "hooked" : "not a glibc loader");
}

Result<void> LiveCapture::follow(uint32_t pid, const std::string& exe, const std::string& comm, uint32_t ppid) {
  if (auto r = tracer_->trace_pid(pid); !r) return r;
  live_.insert(pid);
  nlohmann::json j;
  j["exe"] = exe;
  j["comm"] = comm;
  j["ppid"] = ppid;
  emit_info(capture::TT_EV_PROC_INFO, pid, j.dump());
  return {};
}

namespace {

// Who the process runs for and where: its user, cgroup (container, systemd
// unit), working directory and git repository. Read here, with root and file
// access, because the parser child has neither.
void add_attribution(uint32_t pid, nlohmann::json& j) {
  std::string proc = "/proc/" + std::to_string(pid);
  if (auto uid = read_uid(pid)) {
    j["uid"] = *uid;
    j["user"] = user_name(*uid);
  }
  CgroupInfo cg = read_cgroup(pid);
  j["cgroup"] = cg.path;
  j["container_id"] = cg.container_id;
  j["systemd_unit"] = cg.systemd_unit;
  // As the process sees it (its mount namespace); .git is looked up there too.
  std::string cwd = read_link(proc + "/cwd");
  j["cwd"] = cwd;
  j["project"] = git_top(proc + "/root", cwd);
}

}  // namespace

// Traced from now on, if it still lives. An entry added after the process
// exited (its records read late) would outlive it: pids wrap at pid_max
// (32,768 here) within minutes on a busy host, and the next process with that
// pid would skip its hold and be judged, described, after it is gone.
bool LiveCapture::trace_live(uint32_t pid) {
  if (!tracer_->trace_pid(pid)) return false;
  if (read_proc_stat(pid).ok) return true;
  tracer_->untrace_pid(pid);
  return false;
}

// What /proc says of a process while it is alive: its program, its place in
// the process tree, and (harness rules) its argv up to the program and npm
// package — never the program's own arguments.
void LiveCapture::note_process(uint32_t pid) {
  std::string proc = "/proc/" + std::to_string(pid);
  nlohmann::json j;
  j["exe"] = read_link(proc + "/exe");
  j["comm"] = read_first_line(proc + "/comm");
  ProcStat st = read_proc_stat(pid);
  if (st.ok) {
    j["ppid"] = st.ppid;
    j["pgid"] = st.pgid;
    j["start_unix_ns"] = st.start_unix_ns;
  }
  add_attribution(pid, j);
  std::optional<std::string> args = st.ok && host() ? tracer_->exec_args(pid, st.start_ticks) : std::nullopt;
  j.update(provider::probe_process(pid, "/proc", args ? &*args : nullptr));
  emit_info(capture::TT_EV_PROC_INFO, pid, j.dump());
}

// A process gone before /proc was read (a one-shot CLI whose records were
// read late): who it was, from its SEEN record, which BPF filled while it ran.
// Its working directory, and so its project, are not known.
void LiveCapture::note_gone_process(const tt_proc_event& seen) {
  nlohmann::json j;
  j["comm"] = std::string(seen.comm, strnlen(seen.comm, sizeof(seen.comm)));
  // Its binary, if an earlier process of it was examined (a gone process was not).
  if (auto it = paths_by_inode_.find({seen.exe_dev, seen.exe_ino}); it != paths_by_inode_.end()) j["exe"] = it->second;
  j["ppid"] = seen.ppid;
  j["uid"] = seen.uid;
  j["user"] = user_name(seen.uid);
  std::string path = cgroup_paths_.path_of(seen.cgroup_id);
  CgroupInfo cg = parse_cgroup(path.empty() ? "" : "0::" + path + "\n");
  j["cgroup"] = cg.path;
  j["container_id"] = cg.container_id;
  j["systemd_unit"] = cg.systemd_unit;
  j["gone"] = true;
  emit_info(capture::TT_EV_PROC_INFO, seen.hdr.pid, j.dump());
}

// Host scope: the first record of a process we have not described. Its
// ancestors in the same process group come too: sessions and harness rules
// look up the tree. seen: its SEEN record, if this is it.
void LiveCapture::describe(uint32_t pid, const tt_proc_event* seen) {
  uint32_t pgid = 0;
  live_.insert(pid);  // its maps are rescanned for libraries loaded later
  for (int depth = 0; depth < 16 && pid > 1 && !described_.count(pid); ++depth) {
    ProcStat st = read_proc_stat(pid);
    if (!st.ok && depth == 0 && seen) {
      described_.insert(pid);
      note_gone_process(*seen);
    }
    if (!st.ok || (pgid && st.pgid != pgid)) break;
    pgid = st.pgid;
    described_.insert(pid);
    note_process(pid);
    // Traced from now on: its exec and exit are reported.
    if (!trace_live(pid)) break;
    pid = st.ppid;
  }
}

// One read of the process's maps. program: its executable and its dynamic
// loader (mapped by exec already; for later dlopens; a container brings its
// own). libraries: the TLS libraries it has mapped (a dlopen'd private
// libssl). Paths go through /proc/PID/root so files inside containers
// resolve. False once the process is gone (or for a kernel thread).
bool LiveCapture::instrument_process(uint32_t pid, bool program, bool libraries) {
  auto paths = mapped_files(pid);
  if (!paths || paths->empty()) return false;
  std::string proc = "/proc/" + std::to_string(pid);
  if (program) {
    if (!read_link(proc + "/exe").empty()) attach(proc + "/exe", false);
    for (const auto& path : *paths)
      if (path.find("/ld-linux") != std::string::npos) {
        attach_loader(proc + "/root" + path);
        break;
      }
  }
  if (libraries)
    for (const auto& path : *paths) {
      if (!maybe_tls_library(path)) continue;
      std::string other = unsupported_tls_library(path);
      if (other.empty()) tracer_->mark_known_library(path);
      if (!checked_maps_paths_.insert(proc + path).second) continue;
      if (other.empty())
        attach(proc + "/root" + path, true);
      else  // per process: the socket-only requests of this one are explained by it
        emit_info(capture::TT_EV_TLS_HOOK, pid, unsupported_tls_json(path, other));
    }
  return true;
}

void LiveCapture::rescan_maps() {
  for (auto it = live_.begin(); it != live_.end();)
    it = instrument_process(*it, false, true) ? std::next(it) : live_.erase(it);
}

// A hook stopped the process (SIGSTOP from BPF): once it is really stopped,
// instrument what it runs and maps, then let it go.
void LiveCapture::release_hold(uint32_t pid, bool rescan) {
  for (int i = 0; i < 200; ++i) {
    ProcStat st = read_proc_stat(pid);
    if (!st.ok || st.state == 'T') break;
    usleep(1000);
  }
  if (rescan) instrument_process(pid, true, true);
  tracer_->resume(pid);
}

// Everything running now: its binary, loader and TLS libraries instrumented,
// so its next connection (or request on an open one) is seen.
void LiveCapture::scan_host() {
  uint32_t self = static_cast<uint32_t>(getpid());
  for (uint32_t pid : all_pids())
    if (pid != self && !excluded(pid) && instrument_process(pid, true, true)) preexisting_.insert(pid);
}

void LiveCapture::set_selection(config::Selection sel) {
  if (sel == opts_.select) return;
  opts_.select = std::move(sel);
  excluded_.clear();
  // A short-lived process may be gone before its records are read: only a
  // hold (at its first connect) makes sure it is judged while it lives. Known
  // binaries hold nobody, so none is known after a change; each is examined
  // again (from the cache) at its next process's connect.
  tracer_->forget_known_executables();
}

// Whether a process's records are dropped here, before the parser. Judged from
// /proc while the process lives (a held process is stopped: it surely does);
// one that is gone is not excluded, and not remembered.
bool LiveCapture::excluded(uint32_t pid) {
  if (opts_.select.empty()) return false;
  if (auto it = excluded_.find(pid); it != excluded_.end()) return it->second;
  ProcIdentity id = read_proc_identity(pid);
  if (!id.ok) return false;
  bool ex = opts_.select.leaves_out(id.exe, id.uid, id.cgroup);
  if (ex && debug()) fprintf(stderr, "tokentap: pid %u (%s) is left out ([include]/[exclude])\n", pid, id.exe.c_str());
  return excluded_[pid] = ex;
}

// An excluded process: nothing of it reaches the parser, nothing is
// instrumented for it, and a hold is released at once.
void LiveCapture::on_excluded(const void* data) {
  const auto* h = static_cast<const tt_event_header*>(data);
  bool hold = h->kind == TT_EV_HOLD || h->kind == TT_EV_DLOPEN || h->kind == TT_EV_EXEC;
  if (hold && (h->flags & TT_F_STOPPED)) tracer_->resume(h->pid);
  // Traced from here: no second hold, and its EXIT is reported, which ends
  // the judgement (a later process with its pid is judged afresh).
  if (h->kind == TT_EV_EXIT)
    forget(h->pid);
  else
    trace_live(h->pid);
}

void LiveCapture::on_record(const void* data, size_t size) {
  if (size < sizeof(tt_event_header)) return out_(data, size);
  const auto* h = static_cast<const tt_event_header*>(data);
  uint32_t pid = h->pid;
  // A new program, or a process examined at its first connect: judged again.
  // Not at SEEN, which follows a hold: a short-lived process may be gone by
  // then, and its judgement from the hold, made while it lived, must stand
  // (excluded processes are traced, so their EXIT ends it).
  if (h->kind == TT_EV_EXEC || h->kind == TT_EV_HOLD) excluded_.erase(pid);
  if (host() && excluded(pid)) return on_excluded(data);
  bool traffic = h->kind == TT_EV_DATA || h->kind == TT_EV_SOCK || h->kind == TT_EV_ALIAS || h->kind == TT_EV_SEEN;
  if (host() && traffic && !described_.count(pid)) {
    bool seen = h->kind == TT_EV_SEEN && size >= sizeof(tt_proc_event);
    describe(pid, seen ? static_cast<const tt_proc_event*>(data) : nullptr);
  }
  if (host() && h->kind == TT_EV_DATA && preexisting_.count(pid) && size >= TT_DATA_EVENT_HDR_SIZE) {
    // A connection that may have been open before capture began: its first
    // record says so, and the protocol layer starts at a clean boundary.
    const auto* d = static_cast<const tt_data_event_small*>(data);
    if (joined_conns_.insert({pid, d->conn}).second) {
      std::string copy(static_cast<const char*>(data), size);
      reinterpret_cast<tt_event_header*>(copy.data())->flags |= TT_F_MIDSTREAM;
      out_(copy.data(), copy.size());
      return;
    }
  }
  out_(data, size);
  switch (h->kind) {
    case TT_EV_FORK:
      live_.insert(pid);
      note_process(pid);
      break;
    case TT_EV_EXEC:
      live_.insert(pid);
      if (host() && (h->flags & TT_F_UNKNOWN_EXE)) described_.erase(pid);  // examined at its next connect
      note_process(pid);
      if (!host()) instrument_process(pid, true, false);
      // The exec hook held it because its binary was new to us: it is
      // instrumented now (or known to need nothing), so let it run.
      if (h->flags & TT_F_STOPPED) release_hold(pid, false);
      break;
    case TT_EV_HOLD:
      if (h->flags & TT_F_STOPPED) {
        if (!described_.count(pid)) describe(pid, nullptr);  // stopped, so surely alive: now, before it can exit
        release_hold(pid, true);
      }
      if (!described_.count(pid)) trace_live(pid);  // examined: no second hold
      break;
    case TT_EV_DLOPEN:
      if (h->flags & TT_F_STOPPED) {
        if (debug()) fprintf(stderr, "tokentap: pid %u loaded an ssl library: held\n", pid);
        const auto* p = static_cast<const tt_proc_event*>(data);
        if (size >= sizeof(tt_proc_event))
          tracer_->mark_known_library(std::string(p->filename, strnlen(p->filename, sizeof(p->filename))));
        release_hold(pid, true);
      }
      break;
    case TT_EV_EXIT:
      forget(pid);
      break;
    default:
      break;
  }
}

// A process exited: what was kept about it goes.
void LiveCapture::forget(uint32_t pid) {
  live_.erase(pid);
  described_.erase(pid);
  preexisting_.erase(pid);
  excluded_.erase(pid);
  for (auto it = joined_conns_.lower_bound({pid, 0}); it != joined_conns_.end() && it->first == pid;)
    it = joined_conns_.erase(it);
  std::string prefix = "/proc/" + std::to_string(pid) + "/";
  for (auto it = checked_maps_paths_.lower_bound(prefix); it != checked_maps_paths_.end() && it->starts_with(prefix);)
    it = checked_maps_paths_.erase(it);
}

int LiveCapture::transfer(int timeout_ms) {
  int n = tracer_->poll(timeout_ms);
  if (n < 0) {
    ++poll_errors_;
    fprintf(stderr, "tokentap: reading the ring buffer failed: %s\n", strerror(-n));
    n = 0;
  }
  // The maps rescan only backs up the loader hook: often for one command's
  // processes, rarely for every process that made a request on the host.
  uint64_t t = now_ns(CLOCK_MONOTONIC);
  if (t - last_scan_ns_ > (host() ? 5'000'000'000ull : 200'000'000ull)) {
    rescan_maps();
    last_scan_ns_ = t;
  }
  return n;
}

nlohmann::json LiveCapture::stats_json(int exit_code) const {
  capture::TracerStats st = tracer_->stats();
  nlohmann::json j;
  j["events"] = st.events;
  j["bytes"] = st.bytes;
  j["events_lost"] = st.events_lost;
  j["bytes_lost"] = st.bytes_lost;
  j["bytes_over_cap"] = st.bytes_over_cap;
  j["proc_events_lost"] = st.proc_events_lost;
  j["read_faults"] = st.read_faults;
  j["map_update_failures"] = st.map_full;
  j["bytes_muted"] = st.muted_bytes;
  j["processes_held"] = st.holds;
  j["socket_bytes_unwatched"] = st.socket_unwatched_bytes;
  j["poll_errors"] = poll_errors_;
  j["ring_buffer_used_bytes"] = tracer_->ring_used_bytes();
  j["exit_code"] = exit_code;
  return j;
}

void LiveCapture::drain() {
  // The end: a process stopped after the last read would stay stopped (its
  // hold never read, the probes torn down in the background), so none is.
  tracer_->stop_holding();
  // A traced process's last records are submitted before its parent can reap
  // it: two empty reads a few milliseconds apart mean nothing is in flight.
  for (int idle = 0; idle < 2;) idle = tracer_->poll(idle ? 5 : 0) == 0 ? idle + 1 : 0;
}

void LiveCapture::detach_in_background() {
  pid_t parent = getpid();
  pid_t child = fork();
  if (child == 0) {
    // Detached, and off every pipe the caller's caller may wait on for EOF.
    setsid();
    int devnull = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; ++fd) dup2(devnull, fd);
    // The last close of a probe pays for its detach: only once the caller has
    // exited (it is reparented after it released its files) is that this child.
    for (int i = 0; i < 60000 && getppid() == parent; ++i) usleep(1000);
    tracer_.reset();
    _exit(0);
  }
  if (child < 0) return detach();
  // This process only drops its references: the child holds the links.
  (void)tracer_.release();
}

void LiveCapture::mute(uint32_t pid, uint64_t conn) {
  if (auto r = tracer_->mute(pid, conn); !r && debug()) fprintf(stderr, "tokentap: %s\n", r.error().c_str());
}

}  // namespace tt::engine
