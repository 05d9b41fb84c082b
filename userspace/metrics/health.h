// The daemon's own health, sampled by the root process (it may read /proc;
// the parser may not) and sent to the parser as a HEALTH info record through
// the record pipe, where metrics.h turns it into gauges.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>

namespace tt::metrics {

// {"processes": {"daemon": {cpu_seconds, rss_bytes}, "parser": {...}},
//  "ring_buffer_bytes": N} merged into capture_stats (the STATS payload:
// losses as they stand now).
nlohmann::json health_json(pid_t parser_pid, uint64_t ring_buffer_bytes, nlohmann::json capture_stats);

}  // namespace tt::metrics
