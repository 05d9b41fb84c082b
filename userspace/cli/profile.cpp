// tokentap profile -- CMD: trace CMD and every process it spawns, then report.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "capture/bpf/tracer.h"
#include "capture/events.h"
#include "capture/file/capture_file.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "pipeline/pipeline.h"
#include "provider/harness.h"

namespace tt::cli {

namespace {

volatile sig_atomic_t g_child = 0;

void forward_signal(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

uint64_t now_ns(clockid_t clk) {
  timespec ts;
  clock_gettime(clk, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

bool is_executable(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
}

// Paths of the files a process has mapped (as it sees them), in map order;
// nullopt once the process is gone.
std::optional<std::vector<std::string>> mapped_files(uint32_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  if (!maps) return std::nullopt;
  std::vector<std::string> out;
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash != std::string::npos) out.push_back(line.substr(slash));
  }
  return out;
}

// execvp's lookup, done up front so "command not found" is a clear error and
// the binary can be instrumented before it runs.
std::string resolve_in_path(const std::string& cmd) {
  if (cmd.find('/') != std::string::npos) return is_executable(cmd) ? cmd : "";
  const char* path = getenv("PATH");
  std::stringstream ss(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::string p = (dir.empty() ? "." : dir) + "/" + cmd;
    if (is_executable(p)) return p;
  }
  return "";
}

// "#!/usr/bin/env node" -> the node binary; "#!/usr/bin/python3 -u" -> python3.
std::string shebang_interpreter(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (!std::getline(f, line) || line.rfind("#!", 0) != 0) return "";
  std::stringstream ss(line.substr(2));
  std::string interp, arg;
  ss >> interp;
  if (interp.size() >= 4 && interp.compare(interp.size() - 4, 4, "/env") == 0) {
    while (ss >> arg)
      if (arg[0] != '-') return resolve_in_path(arg);
    return "";
  }
  return interp;
}

std::string read_link(const std::string& p) {
  char buf[4096];
  ssize_t n = readlink(p.c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : "";
}

std::string read_first_line(const std::string& p) {
  std::ifstream f(p);
  std::string s;
  std::getline(f, s);
  return s;
}

class Profiler {
 public:
  explicit Profiler(const ProfileOptions& opts) : opts_(opts) {}
  int run();

 private:
  void on_record(const void* data, size_t size);
  void emit(const std::string& rec) { on_record(rec.data(), rec.size()); }
  void note_process(uint32_t pid, bool exec);
  void attach_candidates(uint32_t pid);
  void rescan_maps();
  bool scan_maps(uint32_t pid);
  void on_library_loaded(uint32_t pid);
  void attach_loader(const std::string& path);
  void attach(const std::string& path, bool verbose_fail);

  const ProfileOptions& opts_;
  std::unique_ptr<capture::Tracer> tracer_;
  std::unique_ptr<capture::CaptureWriter> capture_;
  std::unique_ptr<pipeline::Pipeline> pipe_;
  std::set<uint32_t> live_;
  std::set<std::string> checked_maps_paths_;
  std::set<std::string> warned_;
  bool in_callback_ = false;
};

void Profiler::attach(const std::string& path, bool verbose_fail) {
  auto r = tracer_->attach_tls(path);
  if (!r) {
    if (verbose_fail) fprintf(stderr, "tokentap: warning: %s\n", r.error().c_str());
    return;
  }
  std::string what = r->library + (r->runtime.empty() ? "" : ", " + r->runtime);
  if (r->refused && !warned_.count(path)) {
    // Say which binary goes unseen and why: a silent gap would read as "no spend".
    warned_.insert(path);
    fprintf(stderr, "tokentap: warning: cannot instrument %s (%s): %s\n", path.c_str(), what.c_str(),
            r->detail.c_str());
  } else if (r->new_attach && getenv("TOKENTAP_DEBUG")) {
    fprintf(stderr, "tokentap: instrumented %s (%s%s): %s\n", path.c_str(), what.c_str(),
            r->from_cache ? ", cached" : "", r->detail.c_str());
  }
}

void Profiler::attach_loader(const std::string& path) {
  auto r = tracer_->attach_loader(path);
  if (!r)
    fprintf(stderr, "tokentap: warning: %s (libraries it dlopens later may be seen late)\n", r.error().c_str());
  else if (getenv("TOKENTAP_DEBUG"))
    fprintf(stderr, "tokentap: dynamic loader %s: %s\n", path.c_str(), *r ? "hooked" : "not a glibc loader");
}

// A new or exec'd process: record what /proc says while it is alive, and
// instrument its executable if it carries OpenSSL.
void Profiler::note_process(uint32_t pid, bool exec) {
  std::string proc = "/proc/" + std::to_string(pid);
  nlohmann::json j;
  j["exe"] = read_link(proc + "/exe");
  j["comm"] = read_first_line(proc + "/comm");
  // argv up to the program and its npm package: how harnesses that send only
  // SDK defaults (Cline, pi, OpenClaw) are named. Never the program's arguments.
  j.update(provider::probe_process(pid));
  emit(capture::make_info_record(capture::TT_EV_PROC_INFO, pid, now_ns(CLOCK_MONOTONIC), j.dump()));
  if (exec) attach_candidates(pid);
}

void Profiler::attach_candidates(uint32_t pid) {
  std::string proc = "/proc/" + std::to_string(pid);
  if (!read_link(proc + "/exe").empty()) attach(proc + "/exe", false);
  // Its dynamic loader (mapped by exec already), for later dlopens; a
  // container brings its own.
  if (auto paths = mapped_files(pid))
    for (const auto& path : *paths)
      if (path.find("/ld-linux") != std::string::npos) {
        attach_loader(proc + "/root" + path);
        break;
      }
}

// The loader hook held the process: it just mapped a library named *ssl*.
// Once it is really stopped, attach to what its maps show, then resume it.
void Profiler::on_library_loaded(uint32_t pid) {
  if (getenv("TOKENTAP_DEBUG")) fprintf(stderr, "tokentap: pid %u loaded an ssl library: held\n", pid);
  std::string stat_path = "/proc/" + std::to_string(pid) + "/stat";
  for (int i = 0; i < 200; ++i) {
    std::string st = read_first_line(stat_path);
    auto paren = st.rfind(')');
    if (st.empty() || (paren != std::string::npos && paren + 2 < st.size() && st[paren + 2] == 'T')) break;
    usleep(2000);
  }
  scan_maps(pid);
  tracer_->resume(pid);
}

// Libraries loaded after exec (dlopen of libssl, as Python's ssl module does
// for a libssl that is not the system one): look at each live process's maps.
// Paths go through /proc/PID/root so libraries inside containers resolve.
bool Profiler::scan_maps(uint32_t pid) {
  auto paths = mapped_files(pid);
  if (!paths) return false;
  std::string root = "/proc/" + std::to_string(pid);
  for (const auto& path : *paths) {
    if (path.find("ssl") == std::string::npos || !checked_maps_paths_.insert(root + path).second) continue;
    attach(root + "/root" + path, true);
  }
  return true;
}

void Profiler::rescan_maps() {
  for (auto it = live_.begin(); it != live_.end();) it = scan_maps(*it) ? std::next(it) : live_.erase(it);
}

void Profiler::on_record(const void* data, size_t size) {
  if (capture_) {
    // Ring records are fixed-size slots; the file keeps only the valid payload.
    size_t keep = size;
    if (size >= TT_DATA_EVENT_HDR_SIZE && static_cast<const tt_event_header*>(data)->kind == TT_EV_DATA) {
      const auto* d = static_cast<const tt_data_event_small*>(data);
      keep = std::min<size_t>(size, TT_DATA_EVENT_HDR_SIZE + size_t{d->len});
    }
    capture_->write(data, keep);
  }
  pipe_->on_raw(data, size);
  if (size < sizeof(tt_event_header)) return;
  const auto* h = static_cast<const tt_event_header*>(data);
  if (h->kind == TT_EV_FORK) {
    live_.insert(h->pid);
    note_process(h->pid, false);
  } else if (h->kind == TT_EV_EXEC) {
    live_.insert(h->pid);
    note_process(h->pid, true);
    // The exec hook held it because its binary was new to us: it is
    // instrumented now (or known to need nothing), so let it run.
    if (h->flags & TT_F_STOPPED) tracer_->resume(h->pid);
  } else if (h->kind == TT_EV_DLOPEN && (h->flags & TT_F_STOPPED)) {
    on_library_loaded(h->pid);
  } else if (h->kind == TT_EV_EXIT) {
    live_.erase(h->pid);
  }
}

int Profiler::run() {
  if (opts_.command.empty()) {
    fprintf(stderr, "tokentap: no command given. Usage: tokentap profile [options] -- CMD [ARGS...]\n");
    return 2;
  }
  std::string exe = resolve_in_path(opts_.command[0]);
  if (exe.empty()) {
    fprintf(stderr, "tokentap: %s: command not found\n", opts_.command[0].c_str());
    return 127;
  }
  Outputs outputs;
  if (auto r = outputs.open(opts_.output); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    return 2;
  }
  if (!opts_.capture.empty()) {
    auto w = capture::CaptureWriter::open(opts_.capture);
    if (!w) {
      fprintf(stderr, "tokentap: %s\n", w.error().c_str());
      return 2;
    }
    capture_.reset(*w);
  }

  std::string run_id = new_run_id();
  aggregate::Aggregator agg(run_id, outputs.sink());
  pipeline::PipelineOptions popts;
  popts.max_body_bytes = opts_.output.max_body_bytes;
  int64_t mono_to_unix = int64_t(now_ns(CLOCK_REALTIME)) - int64_t(now_ns(CLOCK_MONOTONIC));
  popts.mono_to_unix_ns = mono_to_unix;
  pipe_ = std::make_unique<pipeline::Pipeline>(popts, agg);

  capture::TracerOptions topts;
  uint64_t rb = uint64_t{opts_.ring_buffer_mb} << 20;
  uint32_t pow2 = 1u << 20;
  while (pow2 < rb && pow2 < (1u << 31)) pow2 <<= 1;
  topts.ring_buffer_bytes = pow2;
  topts.max_call_bytes = static_cast<uint32_t>(std::min<uint64_t>(opts_.max_call_bytes, 0x7fffffff));
  topts.discovery_cache_dir = discovery::DiscoveryCache::default_dir();
  topts.socket_fallback = opts_.socket_fallback;
  auto tracer = capture::Tracer::create(topts, [this](const void* d, size_t n) { on_record(d, n); });
  if (!tracer) {
    fprintf(stderr, "tokentap: %s\n", tracer.error().c_str());
    return 2;
  }
  tracer_ = std::move(*tracer);

  uint64_t start_mono = now_ns(CLOCK_MONOTONIC);
  nlohmann::json info;
  info["run_id"] = run_id;
  info["command"] = opts_.command;
  info["mono_to_unix_ns"] = mono_to_unix;
  info["api_hosts"] = nlohmann::json::object();
  for (const auto& hp : opts_.api_hosts) {
    auto eq = hp.find('=');
    if (eq == std::string::npos || eq == 0) {
      fprintf(stderr, "tokentap: --api-host wants HOST=PROVIDER, got %s\n", hp.c_str());
      return 2;
    }
    info["api_hosts"][hp.substr(0, eq)] = hp.substr(eq + 1);
  }
  emit(capture::make_info_record(capture::TT_EV_RUN_INFO, getpid(), start_mono, info.dump()));

  // Instrument before the command runs: system libssl (covers every process that
  // links or dlopens it), the command itself, and a script's interpreter.
  for (const auto& p : capture::system_libssl_paths()) attach(p, true);
  for (const char* ld : {"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"})
    if (access(ld, R_OK) == 0) attach_loader(ld);
  attach(exe, false);
  std::string interp = shebang_interpreter(exe);
  if (!interp.empty()) attach(interp, false);

  // The child waits on go[0] until it is in the traced set; err pipe reports exec failure.
  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    perror("tokentap: pipe");
    return 2;
  }
  pid_t child = fork();
  if (child < 0) {
    perror("tokentap: fork");
    return 2;
  }
  if (child == 0) {
    char c;
    close(go[1]);
    close(err[0]);
    if (read(go[0], &c, 1) != 1) _exit(127);
    std::vector<char*> argv;
    for (auto& a : opts_.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    int e = errno;
    (void)!write(err[1], &e, sizeof(e));
    _exit(127);
  }
  close(go[0]);
  close(err[1]);
  g_child = child;
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(s, &sa, nullptr);

  if (auto r = tracer_->trace_pid(child); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return 2;
  }
  live_.insert(child);
  {
    nlohmann::json j;
    j["exe"] = exe;
    j["comm"] = opts_.command[0].substr(opts_.command[0].rfind('/') + 1).substr(0, 15);
    j["ppid"] = getpid();
    emit(capture::make_info_record(capture::TT_EV_PROC_INFO, child, now_ns(CLOCK_MONOTONIC), j.dump()));
  }
  (void)!write(go[1], "g", 1);
  close(go[1]);
  int exec_errno = 0;
  if (read(err[0], &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno))
    fprintf(stderr, "tokentap: cannot run %s: %s\n", exe.c_str(), strerror(exec_errno));
  close(err[0]);

  int status = 0;
  uint64_t last_scan = 0;
  for (;;) {
    tracer_->poll(20);
    uint64_t t = now_ns(CLOCK_MONOTONIC);
    if (t - last_scan > 200'000'000ull) {
      rescan_maps();
      last_scan = t;
    }
    pid_t w = waitpid(child, &status, WNOHANG);
    if (w == child) break;
    if (w < 0 && errno != EINTR) break;
  }
  g_child = 0;
  // Drain what the probes produced before the exit.
  for (int idle = 0; idle < 3;) idle = tracer_->poll(30) == 0 ? idle + 1 : 0;

  int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  uint64_t end_mono = now_ns(CLOCK_MONOTONIC);
  capture::TracerStats st = tracer_->stats();
  nlohmann::json sj;
  sj["events"] = st.events;
  sj["bytes"] = st.bytes;
  sj["events_lost"] = st.events_lost;
  sj["bytes_lost"] = st.bytes_lost;
  sj["bytes_over_cap"] = st.bytes_over_cap;
  sj["proc_events_lost"] = st.proc_events_lost;
  sj["read_faults"] = st.read_faults;
  sj["exit_code"] = exit_code;
  emit(capture::make_info_record(capture::TT_EV_STATS, getpid(), end_mono, sj.dump()));

  pipe_->finish(end_mono);
  agg.finish(opts_.command, pipe_->to_unix(start_mono), pipe_->to_unix(end_mono), exit_code);
  bool ok = outputs.finish(agg);
  if (capture_) {
    capture_.reset();
  }
  if (!ok) fprintf(stderr, "tokentap: some output files could not be written\n");
  return exit_code;
}

}  // namespace

int run_profile(const ProfileOptions& opts) {
  Profiler p(opts);
  return p.run();
}

}  // namespace tt::cli
