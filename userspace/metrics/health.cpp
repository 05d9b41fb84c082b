#include "metrics/health.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace tt::metrics {

namespace {

// utime + stime (fields 14, 15 of /proc/PID/stat) and resident pages (statm).
nlohmann::json process_usage(const std::string& pid) {
  std::ifstream stat("/proc/" + pid + "/stat"), statm("/proc/" + pid + "/statm");
  std::string s((std::istreambuf_iterator<char>(stat)), {});
  size_t paren = s.rfind(')');
  if (paren == std::string::npos) return nullptr;
  std::istringstream f(s.substr(paren + 2));  // from field 3, state
  std::string skip;
  for (int i = 3; i < 14; ++i) f >> skip;
  unsigned long long utime = 0, stime = 0, size = 0, resident = 0;
  f >> utime >> stime;
  statm >> size >> resident;
  double hz = double(sysconf(_SC_CLK_TCK));
  return {{"cpu_seconds", double(utime + stime) / hz}, {"rss_bytes", resident * uint64_t(sysconf(_SC_PAGESIZE))}};
}

}  // namespace

nlohmann::json health_json(pid_t parser_pid, uint64_t ring_buffer_bytes, nlohmann::json capture_stats) {
  nlohmann::json j = std::move(capture_stats);
  j["processes"] = {{"daemon", process_usage("self")}, {"parser", process_usage(std::to_string(parser_pid))}};
  j["ring_buffer_bytes"] = ring_buffer_bytes;
  return j;
}

}  // namespace tt::metrics
