// What `tokentap top` shows (docs/design.md, "tokentap top"): the busiest
// processes, sessions and projects over the last minute, computed in the
// daemon's parser process from the records, like metrics::Metrics. Each key
// keeps 60 one-second buckets (a sliding window of whole seconds) and its
// totals; keys are capped per table (the least recently active one goes), and
// a snapshot holds at most kMaxRows rows per table with labels cut to
// kMaxLabelBytes, so what a peer can make the daemon keep or send is bounded.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "sink/sink.h"

namespace tt::top {

namespace v1 = ::tokentap::v1;

constexpr size_t kWindowSeconds = 60;
constexpr size_t kMaxKeys = 512;  // per table
constexpr size_t kMaxRows = 20;   // per table, in a snapshot
constexpr size_t kMaxLabelBytes = 48;

// Tokens by type; total() is what "tokens" means on screen.
struct Counts {
  uint64_t requests = 0, input = 0, cache_read = 0, cache_write = 0, output = 0;
  uint64_t tokens() const { return input + cache_read + cache_write + output; }
  void add(const Counts& o);
};

// cache_read / (input + cache_read + cache_write), in percent; -1: no input at all.
double cache_hit_pct(const Counts& c);

// One key's window and totals.
class Series {
 public:
  void add(uint64_t second, const Counts& c);
  // The last kWindowSeconds whole seconds up to and including `second`.
  Counts window(uint64_t second) const;
  const Counts& total() const { return total_; }
  uint64_t last_second() const { return last_; }

 private:
  struct Bucket {
    uint64_t second = 0;
    Counts c;
  };
  std::array<Bucket, kWindowSeconds> buckets_{};
  Counts total_;
  uint64_t last_ = 0;
};

class Tracker : public sink::RecordSink {
 public:
  // API requests count when they arrive (CLOCK_MONOTONIC): "the last minute"
  // is the daemon's, whatever the clocks the records carry say. The rest is ignored.
  void write(const v1::Record& rec) override;
  // One request, counted in that second (tests give it).
  void add(const v1::ApiRequest& r, uint64_t second);
  void set_capture_stats(const v1::CaptureStats& cs) { stats_ = cs; }
  // The tables as they stand at now_ns (CLOCK_MONOTONIC): rows by tokens per
  // minute, then total tokens; JSON, one object (format in docs/design.md).
  nlohmann::json snapshot(uint64_t now_ns) const;

 private:
  using Table = std::map<std::string, Series>;
  void count(Table& t, const std::string& key, uint64_t second, const Counts& c);
  nlohmann::json rows(const Table& t, uint64_t second) const;

  Table processes_, sessions_, projects_;
  Counts all_;
  v1::CaptureStats stats_;
};

// The label a request counts under in each table ("" for sessions: none).
std::string process_key(const v1::ApiRequest& r);
std::string project_key(const v1::ApiRequest& r);

}  // namespace tt::top
