// What /proc says about a process: the facts the engine needs to follow and
// instrument processes, read without holding anything open.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tt::engine {

uint64_t now_ns(int clock_id);
std::string read_link(const std::string& path);
std::string read_first_line(const std::string& path);

// Paths of the files a process has mapped (as it sees them), in map order;
// nullopt once the process is gone.
std::optional<std::vector<std::string>> mapped_files(uint32_t pid);

// From /proc/PID/stat. ok is false once the process is gone.
struct ProcStat {
  bool ok = false;
  char state = 0;  // R S D T t Z ...
  uint32_t ppid = 0;
  uint32_t pgid = 0;
  uint64_t start_unix_ns = 0;  // from starttime (clock ticks since boot)
  uint64_t start_ticks = 0;    // starttime itself
};
ProcStat read_proc_stat(uint32_t pid);

// The facts exclusions match on (config::Selection); ok is false once the
// process is gone.
struct ProcIdentity {
  bool ok = false;
  std::string exe;     // /proc/PID/exe
  uint32_t uid = 0;    // real uid
  std::string cgroup;  // cgroup v2 path ("0::" line of /proc/PID/cgroup)
};
ProcIdentity read_proc_identity(uint32_t pid);
// Who a process runs for and where (attribution on a shared machine).
struct CgroupInfo {
  std::string path;          // cgroup v2 unified path ("0::" line), "" if none
  std::string container_id;  // 64-hex id of the innermost container in path
  std::string systemd_unit;  // last *.service / *.scope component of path
};
// The contents of /proc/PID/cgroup; a path longer than kMaxAttrPath is dropped.
CgroupInfo parse_cgroup(const std::string& contents);
CgroupInfo read_cgroup(uint32_t pid);

// The cgroup v2 path of a cgroup id (the id is its directory's inode number on
// the cgroup2 mount), for a process gone before /proc was read. The hierarchy
// is walked again when an id is new, at most once a second; "" if not found
// (a cgroup removed with its last process).
class CgroupPaths {
 public:
  std::string path_of(uint64_t id);

 private:
  void rescan();
  std::unordered_map<uint64_t, std::string> by_id_;
  uint64_t last_scan_ns_ = 0;
};

// The top folder of the git repository holding dir (an absolute path, as the
// process sees it): the nearest ancestor with a .git directory or file (a
// worktree or submodule). root prefixes each lookup ("/proc/PID/root" reaches
// into a process's mount namespace). "" if none within kMaxGitWalk levels.
std::string git_top(const std::string& root, const std::string& dir);

// The real uid from /proc/PID/status; nullopt once the process is gone.
std::optional<uint32_t> read_uid(uint32_t pid);
// The user name of a uid (passwd database), "" if it has none.
std::string user_name(uint32_t uid);

constexpr size_t kMaxAttrPath = 4096;
constexpr int kMaxGitWalk = 64;

// Every process on the host now (numeric /proc entries), ascending.
std::vector<uint32_t> all_pids();

}  // namespace tt::engine
