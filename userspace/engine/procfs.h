// What /proc says about a process: the facts the engine needs to follow and
// instrument processes, read without holding anything open.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
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
};
ProcStat read_proc_stat(uint32_t pid);

// The facts exclusions match on (config::Exclusions); ok is false once the
// process is gone.
struct ProcIdentity {
  bool ok = false;
  std::string exe;     // /proc/PID/exe
  uint32_t uid = 0;    // real uid
  std::string cgroup;  // cgroup v2 path ("0::" line of /proc/PID/cgroup)
};
ProcIdentity read_proc_identity(uint32_t pid);
// Every process on the host now (numeric /proc entries), ascending.
std::vector<uint32_t> all_pids();

}  // namespace tt::engine
