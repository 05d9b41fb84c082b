#include "engine/procfs.h"

#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>

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
  ProcIdentity id;
  std::optional<uint32_t> uid = read_uid(pid);
  if (!uid) return id;
  id.ok = true;
  id.uid = *uid;
  id.cgroup = read_cgroup(pid).path;
  id.exe = read_link("/proc/" + std::to_string(pid) + "/exe");
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
  st.start_ticks = ticks;
  long hz = sysconf(_SC_CLK_TCK);
  uint64_t boot_unix = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_BOOTTIME);
  st.start_unix_ns = boot_unix + ticks * (1000000000ull / uint64_t(hz > 0 ? hz : 100));
  st.ok = true;
  return st;
}

namespace {

bool is_hex_id(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return isdigit(c) || (c >= 'a' && c <= 'f'); });
}

// The container id a cgroup path component names, if any: "<64 hex>"
// (/docker/<id>, kubepods cgroupfs) or "<runtime>-<64 hex>.scope" (docker,
// cri-containerd, crio, libpod under systemd).
std::string_view container_id_of(std::string_view comp) {
  if (comp.ends_with(".scope")) comp.remove_suffix(6);
  if (auto dash = comp.rfind('-'); dash != std::string_view::npos) comp.remove_prefix(dash + 1);
  return is_hex_id(comp) ? comp : std::string_view();
}

}  // namespace

CgroupInfo parse_cgroup(const std::string& contents) {
  CgroupInfo out;
  std::istringstream in(contents);
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("0::")) out.path = line.substr(3);
  if (out.path.size() > kMaxAttrPath) out.path.clear();
  // The innermost container and unit win: the last matching components.
  std::string_view rest = out.path;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view comp = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (comp.ends_with(".service") || comp.ends_with(".scope")) out.systemd_unit = comp;
    if (auto id = container_id_of(comp); !id.empty()) out.container_id = id;
  }
  return out;
}

CgroupInfo read_cgroup(uint32_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/cgroup");
  std::string text(2 * kMaxAttrPath, '\0');
  f.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(f.gcount()));
  return parse_cgroup(text);
}

namespace {

// Where cgroup v2 is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host.
std::string cgroup2_mount() {
  std::ifstream mounts("/proc/mounts");
  std::string dev, where, type;
  std::string rest;
  while (mounts >> dev >> where >> type && std::getline(mounts, rest))
    if (type == "cgroup2") return where;
  return "";
}

constexpr size_t kMaxCgroups = 100000;  // a bound on one walk of a huge hierarchy

}  // namespace

std::string CgroupPaths::path_of(uint64_t id) {
  if (auto it = by_id_.find(id); it != by_id_.end()) return it->second;
  uint64_t now = now_ns(CLOCK_MONOTONIC);
  if (now - last_scan_ns_ < 1'000'000'000ull && last_scan_ns_) return "";
  last_scan_ns_ = now;
  rescan();
  auto it = by_id_.find(id);
  return it == by_id_.end() ? "" : it->second;
}

void CgroupPaths::rescan() {
  namespace fs = std::filesystem;
  by_id_.clear();
  std::string root = cgroup2_mount();
  if (root.empty()) return;
  std::error_code ec;
  struct stat st {};
  if (stat(root.c_str(), &st) == 0) by_id_[st.st_ino] = "/";
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end && by_id_.size() < kMaxCgroups; it.increment(ec)) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    if (stat(it->path().c_str(), &st) == 0) by_id_[st.st_ino] = it->path().string().substr(root.size());
  }
}

std::string git_top(const std::string& root, const std::string& dir) {
  if (!dir.starts_with('/') || dir.size() > kMaxAttrPath) return "";
  std::string cur = dir;
  while (cur.size() > 1 && cur.back() == '/') cur.pop_back();
  for (int depth = 0; depth < kMaxGitWalk; ++depth) {
    struct stat st;
    // lstat: only a real .git directory or file counts; a symlink is not
    // followed (through /proc/PID/root, an absolute one would resolve on the host).
    std::string probe = root + (cur == "/" ? "" : cur) + "/.git";
    if (lstat(probe.c_str(), &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) return cur;
    if (cur == "/") break;
    size_t slash = cur.rfind('/');
    cur.resize(slash == 0 ? 1 : slash);
  }
  return "";
}

std::optional<uint32_t> read_uid(uint32_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with("Uid:")) return static_cast<uint32_t>(strtoul(line.c_str() + 4, nullptr, 10));
  return std::nullopt;
}

std::string user_name(uint32_t uid) {
  passwd pw, *found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) != 0 || !found) return "";
  return found->pw_name;
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
