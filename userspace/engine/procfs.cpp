#include "engine/procfs.h"

#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tt::engine {

uint64_t now_ns(int clock_id) {
  timespec ts;
  clock_gettime(clock_id, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
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

ProcIdentity read_proc_identity(uint32_t pid) {
  std::string proc = "/proc/" + std::to_string(pid);
  ProcIdentity id;
  std::ifstream status(proc + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("Uid:")) {
      id.uid = static_cast<uint32_t>(strtoul(line.c_str() + 4, nullptr, 10));
      id.ok = true;
      break;
    }
  std::ifstream cg(proc + "/cgroup");
  for (std::string line; std::getline(cg, line);)
    if (line.starts_with("0::")) id.cgroup = line.substr(3);
  id.exe = read_link(proc + "/exe");
  return id;
}

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

ProcStat read_proc_stat(uint32_t pid) {
  ProcStat st;
  std::string line = read_first_line("/proc/" + std::to_string(pid) + "/stat");
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime stime cutime cstime priority nice threads itrealvalue
  // starttime ...": comm may hold spaces and parentheses, so parse after the last ')'.
  auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return st;
  std::istringstream in(line.substr(paren + 2));
  std::string f[20];
  for (auto& x : f)
    if (!(in >> x)) return st;
  st.state = f[0][0];
  st.ppid = static_cast<uint32_t>(strtoul(f[1].c_str(), nullptr, 10));
  st.pgid = static_cast<uint32_t>(strtoul(f[2].c_str(), nullptr, 10));
  uint64_t ticks = strtoull(f[19].c_str(), nullptr, 10);
  long hz = sysconf(_SC_CLK_TCK);
  uint64_t boot_unix = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_BOOTTIME);
  st.start_unix_ns = boot_unix + ticks * (1000000000ull / uint64_t(hz > 0 ? hz : 100));
  st.ok = true;
  return st;
}

std::vector<uint32_t> all_pids() {
  std::vector<uint32_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    unsigned long v = strtoul(e->d_name, &end, 10);
    if (end && *end == '\0' && v > 0) out.push_back(static_cast<uint32_t>(v));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tt::engine
