// The daemon's shipper: its spool to `tokentap collector` over gRPC, in order,
// with at most `window` batches awaiting their ack. Records leave the spool
// only once acked; a broken stream is opened again after a backoff (0.5 s,
// doubling to 30 s) and what was not acked is sent again. It runs in a
// process of its own (ship/process.h): the daemon's parent only traces, its
// parser may not use the network.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "ship/spool_reader.h"

namespace tt::ship {

struct ShipperOptions {
  std::string target;       // HOST:PORT of the collector
  std::string ca_pem;       // the collector certificate's CA ("" = the system's)
  std::string token;        // bearer token ("" = none: client certificate only)
  std::string cert_pem, key_pem;  // client certificate for mutual TLS (optional)
  std::string host;         // this machine's name, stored with its records
  std::string otlp_endpoint;  // daemon --otlp-endpoint: exported from the spool too (ship/otlp_feeder.h)
  size_t batch_records = 1000;
  uint64_t batch_bytes = 4u << 20;
  unsigned window = 4;          // batches in flight
  unsigned ack_timeout_s = 30;  // no ack for this long: the stream is dropped and opened again
  unsigned poll_ms = 200;       // how often the spool is looked at when nothing is new
};

// What it did, for its log line at the end (and tests).
struct ShipStats {
  uint64_t batches = 0, records = 0, stored = 0, duplicates = 0, rejected = 0, unreadable = 0, reconnects = 0;
};

class Shipper {
 public:
  // other_cursors: other consumers of the spool (the OTLP feeder's), so a
  // segment is deleted only once every one has passed it.
  Shipper(ShipperOptions opts, int spool_dir_fd, std::vector<std::string> other_cursors = {});
  // Until stop is set: ships, reconnects, backs off. Then, on a working
  // stream, ships what is left and waits for its acks, for up to drain_s.
  ShipStats run(const std::atomic<bool>& stop, unsigned drain_s = 5);
  struct StreamState;

 private:
  bool ship_once(StreamState& s, const std::atomic<bool>& stop);
  void advance(Cursor upto);  // everything before upto is the collector's
  ShipperOptions opts_;
  SpoolReader reader_;
  Cursor acked_;
  ShipStats stats_;
};

}  // namespace tt::ship
