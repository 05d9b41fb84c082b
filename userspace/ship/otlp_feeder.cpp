#include "ship/otlp_feeder.h"

#include <chrono>
#include <cstdio>
#include <thread>

namespace tt::ship {

bool OtlpFeeder::feed_once() {
  auto b = reader_.next(at_, 1000, 4u << 20);
  if (!b) {
    fprintf(stderr, "tokentap: OTLP: %s\n", b.error().c_str());
    return false;
  }
  for (const auto& rec : b->records) exporter_->write(rec);
  records_ += b->records.size();
  bool moved = !(b->end == at_);
  at_ = b->end;
  if (moved) {
    if (auto r = reader_.acknowledged(at_); !r) fprintf(stderr, "tokentap: OTLP: %s\n", r.error().c_str());
  }
  return !b->records.empty();
}

uint64_t OtlpFeeder::run(const std::atomic<bool>& stop, unsigned poll_ms) {
  at_ = reader_.load();
  while (!stop)
    if (!feed_once()) std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  while (feed_once()) {
  }
  if (auto r = exporter_->close(); !r) fprintf(stderr, "tokentap: OTLP: %s\n", r.error().c_str());
  return records_;
}

}  // namespace tt::ship
