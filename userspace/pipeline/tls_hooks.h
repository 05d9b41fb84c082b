// What the capture side found when it examined binaries for TLS (TT_EV_TLS_HOOK
// records): the run summary lists it, and a request seen only at the socket
// says from it why its process had no plaintext hook.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tt::pipeline {

struct TlsHookInfo {
  std::string path, library, runtime, method, detail;
  std::string status;  // "hooked" | "refused" | "unsupported" | "none" (no TLS found)
  uint32_t hook = 0;   // a hooked library's id, as its data records carry it
};

// Reads a TT_EV_TLS_HOOK record's JSON; false if it is not one (no path or status).
bool parse_tls_hook(const nlohmann::json& j, TlsHookInfo& out);

class TlsHookBook {
 public:
  // pid: the process the binary was examined for (0: before any, e.g. the
  // system libssl at start), running exe ("" if unknown). An unsupported or
  // refused library it maps is noted for that executable (it is usually linked
  // in: a later process of it may be gone before its maps are read), else for
  // the process.
  // True when the binary's library is new to the book (its first result).
  bool add(uint32_t pid, const std::string& exe, const TlsHookInfo& h);
  // The file a hooked library's data came through; nullptr if not known.
  const std::string* path_of_hook(uint32_t hook) const;
  void process_exited(uint32_t pid) { mapped_.erase("pid " + std::to_string(pid)); }
  // Why a process running `exe` had no plaintext hook, in a sentence; "" when
  // nothing was examined for it.
  std::string why_unhooked(uint32_t pid, const std::string& exe) const;

 private:
  static constexpr size_t kMaxBinaries = 4096;  // a long daemon run: distinct binaries, not processes
  std::vector<TlsHookInfo> binaries_;
  std::map<std::string, std::vector<size_t>> by_path_;  // a binary may carry several libraries
  std::map<uint32_t, std::string> path_by_hook_;
  std::map<std::string, std::vector<TlsHookInfo>> mapped_;  // libraries that explain a gap: by executable, or "pid N"
};

}  // namespace tt::pipeline
