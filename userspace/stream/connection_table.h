// Stream layer: tracks TLS connections by (process, SSL*), puts each direction's
// chunks back in order and turns capture losses into explicit gaps for the
// protocol layer. Knows nothing about HTTP.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "capture/events.h"

namespace tt::stream {

struct ConnInfo {
  uint64_t id = 0;  // tokentap's connection id, 1-based, unique in a run
  uint32_t pid = 0;
  uint64_t ssl = 0;
  uint64_t first_ts_ns = 0;
  uint64_t last_ts_ns = 0;
  uint64_t bytes[2] = {0, 0};  // by tt_direction
  uint64_t lost[2] = {0, 0};
  // The first record said the connection may have been open before capture
  // started (TT_F_MIDSTREAM): its first bytes may be the middle of a message.
  bool midstream = false;
  uint8_t lib = 0;    // enum tt_tls_lib: the hook its plaintext comes from
  uint16_t hook = 0;  // which hooked file (TT_EV_TLS_HOOK's "hook"), 0 if unknown
};

// What the protocol layer implements. Directions are tt_direction values.
class StreamConsumer {
 public:
  virtual ~StreamConsumer() = default;
  // The next on_bytes of dir starts a read or write call (calls usually begin
  // messages: where a connection joined mid-stream can be picked up).
  virtual void on_call_start(int dir) {}
  virtual void on_bytes(int dir, std::string_view data, uint64_t ts_ns) = 0;
  virtual void on_gap(int dir, uint64_t bytes, uint64_t ts_ns) = 0;
  virtual void on_close(uint64_t ts_ns) = 0;
};

using ConsumerFactory = std::function<std::unique_ptr<StreamConsumer>(const ConnInfo&)>;

class ConnectionTable {
 public:
  explicit ConnectionTable(ConsumerFactory factory) : factory_(std::move(factory)) {}
  ~ConnectionTable();

  void on_data(const capture::DataEvent& ev);
  // SSL_free: the connection is over (an SSL* may be reused by a later connection).
  void on_close(uint32_t pid, uint64_t ssl, uint64_t ts_ns);
  // The process exited: every connection it had is over.
  void close_process(uint32_t pid, uint64_t ts_ns);
  void close_all(uint64_t ts_ns);

  // At most this many open connections per process (a process opening
  // connections without end must not grow the table without end); records of
  // further ones are dropped and counted.
  void set_max_per_process(size_t n) { max_per_process_ = n; }
  uint64_t refused_records() const { return refused_records_; }

  uint64_t connections_seen() const { return next_id_ - 1; }
  uint64_t bytes_lost() const { return bytes_lost_; }
  size_t open_connections() const { return conns_.size(); }

 private:
  struct Key {
    uint32_t pid;
    uint64_t ssl;
    bool operator==(const Key& o) const { return pid == o.pid && ssl == o.ssl; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<uint64_t>()(k.ssl ^ (uint64_t{k.pid} << 48)); }
  };
  struct DirState {
    uint64_t expect_offset = 0;  // next offset within the current call
    uint32_t call_len = 0;
    bool seen = false;           // a record of this direction arrived
  };
  struct Conn {
    ConnInfo info;
    DirState dir[2];
    std::unique_ptr<StreamConsumer> consumer;
  };
  void close(std::unordered_map<Key, Conn, KeyHash>::iterator it, uint64_t ts_ns);

  ConsumerFactory factory_;
  std::unordered_map<Key, Conn, KeyHash> conns_;
  uint64_t next_id_ = 1;
  uint64_t bytes_lost_ = 0;
  size_t max_per_process_ = 4096;
  std::unordered_map<uint32_t, size_t> open_per_pid_;
  uint64_t refused_records_ = 0;
};

}  // namespace tt::stream
