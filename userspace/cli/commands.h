#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tt::cli {

struct OutputOptions {
  std::string out;     // protobuf records
  std::string json;    // JSON lines
  std::string report;  // report file ("" = stderr)
  bool quiet = false;
  uint64_t max_body_bytes = 64u << 20;
};

struct ProfileOptions {
  OutputOptions output;
  std::string capture;  // raw capture file
  uint32_t ring_buffer_mb = 64;
  uint64_t max_call_bytes = 64u << 20;
  bool socket_fallback = true;
  std::vector<std::string> api_hosts;  // HOST=PROVIDER
  std::vector<std::string> command;
};

int run_profile(const ProfileOptions& opts);
int run_replay(const std::string& file, const OutputOptions& opts);
int run_inspect(const std::vector<std::string>& files);

}  // namespace tt::cli
