// tokentap profile -- CMD: trace CMD and every process it spawns, then report.
// Launching the command is all this file does; capture and pipeline are the
// engine's (userspace/engine/).
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
#include <nlohmann/json.hpp>
#include <sstream>

#include "capture/events.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "engine/procfs.h"

namespace tt::cli {

namespace {

volatile sig_atomic_t g_child = 0;

void forward_signal(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

bool is_executable(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
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

// The child waits on `go` until it is traced, then execs; `err` carries exec's errno.
struct Launch {
  pid_t pid = -1;
  int go = -1, err = -1;
};

Launch fork_command(const std::string& exe, const std::vector<std::string>& command) {
  Launch l;
  int go[2], err[2];
  if (pipe2(go, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return l;
  l.pid = fork();
  if (l.pid == 0) {
    char c;
    close(go[1]);
    close(err[0]);
    if (read(go[0], &c, 1) != 1) _exit(127);
    std::vector<char*> argv;
    for (auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    int e = errno;
    (void)!write(err[1], &e, sizeof(e));
    _exit(127);
  }
  close(go[0]);
  close(err[1]);
  l.go = go[1];
  l.err = err[0];
  return l;
}

}  // namespace

int run_profile(const ProfileOptions& opts) {
  if (opts.command.empty()) {
    fprintf(stderr, "tokentap: no command given. Usage: tokentap profile [options] -- CMD [ARGS...]\n");
    return 2;
  }
  std::string exe = resolve_in_path(opts.command[0]);
  if (exe.empty()) {
    fprintf(stderr, "tokentap: %s: command not found\n", opts.command[0].c_str());
    return 127;
  }
  nlohmann::json info;
  if (auto r = parse_api_hosts(opts.cap.api_hosts, info); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    return 2;
  }
  Outputs outputs;
  if (auto r = outputs.open(opts.output); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    return 2;
  }
  info["command"] = opts.command;
  auto eopts = engine_options(opts.output, opts.cap);
  if (!eopts) {
    fprintf(stderr, "tokentap: %s\n", eopts.error().c_str());
    return 2;
  }
  outputs.set_analysis(eopts->pipeline.prices);
  auto run = start_live(engine::Scope::ProcessTree, std::move(*eopts), opts.cap, outputs.sink(), info);
  if (!run) {
    fprintf(stderr, "tokentap: %s\n", run.error().c_str());
    return 2;
  }
  engine::Engine& engine = *run->engine;
  engine::LiveCapture* live_ptr = run->live.get();

  // Instrument before the command runs: the command itself and a script's interpreter.
  live_ptr->instrument(exe);
  std::string interp = shebang_interpreter(exe);
  if (!interp.empty()) live_ptr->instrument(interp);

  Launch child = fork_command(exe, opts.command);
  if (child.pid < 0) {
    perror("tokentap: fork");
    return 2;
  }
  g_child = child.pid;
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(s, &sa, nullptr);

  std::string comm = opts.command[0].substr(opts.command[0].rfind('/') + 1).substr(0, 15);
  if (auto r = live_ptr->follow(child.pid, exe, comm, getpid()); !r) {
    fprintf(stderr, "tokentap: %s\n", r.error().c_str());
    kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    return 2;
  }
  (void)!write(child.go, "g", 1);
  close(child.go);
  int exec_errno = 0;
  if (read(child.err, &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno))
    fprintf(stderr, "tokentap: cannot run %s: %s\n", exe.c_str(), strerror(exec_errno));
  close(child.err);

  int status = 0;
  for (;;) {
    live_ptr->transfer(20);
    pid_t w = waitpid(child.pid, &status, WNOHANG);
    if (w == child.pid || (w < 0 && errno != EINTR)) break;
  }
  g_child = 0;
  live_ptr->drain();  // what the probes produced before the exit

  int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  uint64_t end_mono = engine::now_ns(CLOCK_MONOTONIC);
  engine.emit_info(capture::TT_EV_STATS, getpid(), end_mono, live_ptr->stats_json(exit_code));
  engine.finish(end_mono, exit_code);
  // Stats read: the probes can go, off the path to the report and exit code.
  live_ptr->detach_in_background();
  bool ok = outputs.finish(engine.aggregator());
  if (!engine.capture_ok()) fprintf(stderr, "tokentap: the capture file could not be written completely\n");
  if (!ok) fprintf(stderr, "tokentap: some output files could not be written\n");
  return exit_code;
}

}  // namespace tt::cli
