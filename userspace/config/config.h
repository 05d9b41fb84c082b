// The daemon's configuration file (TOML, default /etc/tokentap/tokentap.toml):
// what to leave out, which hosts are LLM APIs, outputs, caps and intervals.
// Every key is documented in packaging/tokentap.toml. Errors name the file,
// line and column, so a bad edit is found before (and instead of) a restart.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tt::config {

inline constexpr const char* kDefaultPath = "/etc/tokentap/tokentap.toml";

// Rules on processes, one kind per list ([include] or [exclude]).
struct Rules {
  std::vector<std::string> executables;  // fnmatch(3) globs on the exe path
  std::set<uint32_t> uids;               // users: names resolved at load
  std::vector<std::string> cgroups;      // cgroup v2 path prefixes, on "/" boundaries
  bool empty() const { return executables.empty() && uids.empty() && cgroups.empty(); }
  // Some rule of some list matches.
  bool any(const std::string& exe, uint32_t uid, const std::string& cgroup) const;
  // Each non-empty list has a rule that matches (an empty list asks nothing).
  bool each(const std::string& exe, uint32_t uid, const std::string& cgroup) const;
  bool operator==(const Rules&) const = default;
};

// Which processes are reported (and have binaries instrumented for them).
// With [include] rules, only those matching each kind given: users = ["ann"]
// and executables = ["*/claude"] is ann's Claude Code. Never one that any
// [exclude] rule matches.
struct Selection {
  Rules include, exclude;
  bool empty() const { return include.empty() && exclude.empty(); }
  bool leaves_out(const std::string& exe, uint32_t uid, const std::string& cgroup) const {
    return !include.each(exe, uid, cgroup) || exclude.any(exe, uid, cgroup);
  }
  bool operator==(const Selection&) const = default;
};

// [collector]: where the spool is shipped (ship/shipper.h); address "" = nowhere.
struct CollectorLink {
  std::string address, ca, token_file, cert, key;
  bool operator==(const CollectorLink&) const = default;
};

// [spool]: the daemon's durable spool (sink/spool.h); dir "" = none.
struct Spool {
  std::string dir;
  uint64_t max_mb = 1024, segment_mb = 64, fsync_ms = 1000;
  bool operator==(const Spool&) const = default;
};

struct Config {
  Selection select;  // [include], [exclude]
  std::map<std::string, std::string> api_hosts;  // host -> provider name (docs/providers.md)
  std::string json, out, report;                 // [outputs]; "" = not written
  uint64_t rotate_bytes = 100u << 20;            // [outputs] rotate_size: json and out rotated past it (0: never)
  uint64_t rotate_keep = 5;                      // ... keeping this many rotated files each
  std::string otlp_endpoint;                     // [outputs] otlp_endpoint: OTLP/HTTP export from the spool
  uint32_t ring_buffer_mb = 16;                  // [capture]
  uint64_t max_call_bytes = 64u << 20;
  uint64_t max_body_bytes = 64u << 20;
  double summary_interval_s = 60;  // [daemon]
  double session_idle_s = 1800;
  std::string metrics_listen;  // [metrics] listen = "ADDR"; "" = no metrics endpoint
  Spool spool;
  CollectorLink collector;
  std::string top_socket;      // [top] socket = "PATH"; "" = no `tokentap top` socket
  std::string top_group;       // [top] group = "NAME": may connect besides root; "" = root only
  bool operator==(const Config&) const = default;
};

// Reads and validates a file. A missing file is an error unless allow_missing
// (the default path): then the built-in defaults.
Result<Config> load(const std::string& path, bool allow_missing);
// Parses TOML text; source names the file in error messages.
Result<Config> parse(std::string_view text, const std::string& source);
// "100M", "64K", "1G", "4096": bytes; suffixes are powers of 1024.
Result<uint64_t> parse_size(const std::string& text);

// What a reload changed: settings applied live, and those that only take
// effect at the next start (outputs, ring size, caps, metrics address).
struct Changes {
  std::vector<std::string> live, need_restart;
};
Changes diff(const Config& old_cfg, const Config& new_cfg);

}  // namespace tt::config
