// The wire between the daemon's privileged half and its parser process.
//   Records, parent -> parser: length-prefixed frames, each padded to 8 bytes
//   so a record's payload stays 8-byte aligned in the reader's buffer (the
//   record structs are read in place, as from a capture file).
//   Requests, parser -> parent: fixed-size messages, only "mute a connection"
//   and "watch a socket"; anything else means the parser is broken or taken
//   over, and the parent stops (see docs/security.md, "Privilege split").
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tt::isolate {

// Record: one raw record. Finish: the run is over; its payload is the end time
// (CLOCK_MONOTONIC ns) the parser uses unless a STATS record gave one.
enum class FrameType : uint32_t { Record = 1, Finish = 2 };

struct FrameHeader {
  uint32_t len;  // payload bytes, padding excluded
  uint32_t type;
};
static_assert(sizeof(FrameHeader) == 8);

// Larger than any ring record (a 16 KiB chunk slot) or info record (argv and
// paths are cut in PROC_INFO); a bigger length is a corrupt stream.
constexpr size_t kMaxFramePayload = 16u << 20;


// Frames waiting for the pipe: one buffer, allocated once and reused (no
// zero-fill, no fresh pages per burst), compacted only when a frame does not
// fit. Its capacity is the bound on what waits.
class FrameQueue {
 public:
  explicit FrameQueue(size_t capacity) : buf_(new char[capacity]), cap_(capacity) {}
  // false: no room until some is written out. grow: make room instead (before
  // anyone reads); a frame larger than the whole capacity always grows it.
  bool push(FrameType type, const void* payload, size_t len, bool grow);
  std::string_view pending() const { return {buf_.get() + head_, tail_ - head_}; }
  void consume(size_t n);
  size_t size() const { return tail_ - head_; }

 private:
  void reserve(size_t need);
  std::unique_ptr<char[]> buf_;
  size_t cap_, head_ = 0, tail_ = 0;
};

// Reads frames from a byte stream that arrives in arbitrary pieces.
class FrameReader {
 public:
  struct Frame {
    FrameType type;
    const void* data;  // 8-byte aligned; valid until the next feed() or next()
    size_t len;
  };
  // Room for at least `want` more bytes; returns where to put them. commit()
  // says how many were put there.
  char* reserve(size_t want);
  void commit(size_t n) { end_ += n; }
  void feed(std::string_view bytes);
  // The next complete frame: true and frame filled, false when more bytes are
  // needed. A length over the bound or an unknown type sets error().
  bool next(Frame& frame);
  const std::string& error() const { return error_; }
  size_t buffered() const { return end_ - begin_; }

 private:
  void compact();
  std::string buf_;  // malloc'd: 16-byte aligned, and begin_ stays a multiple of 8
  size_t begin_ = 0, end_ = 0;
  std::string error_;
};

// ---- the back-channel: parser -> parent ----

enum class RequestType : uint32_t { Mute = 1, Watch = 2 };

struct RequestMsg {
  uint32_t type;
  uint32_t pid;    // Mute: the process; Watch: 0
  uint64_t a;      // Mute: the connection id; Watch: the socket (struct sock *)
  uint64_t b;      // Mute: 0; Watch: the socket's head record time
  uint32_t watch;  // Watch: 0 or 1; Mute: 0
  uint32_t zero;
};
static_assert(sizeof(RequestMsg) == 32);

RequestMsg mute_request(uint32_t pid, uint64_t conn);
RequestMsg watch_request(uint64_t sock, uint64_t head_ts_ns, bool watch);

// What the parent does, once a message has been checked.
struct Request {
  RequestType type;
  uint32_t pid = 0;
  uint64_t conn_or_sock = 0;
  uint64_t head_ts_ns = 0;
  bool watch = false;
};
// A known type with every other field in its range, unused ones zero.
Result<Request> validate(const RequestMsg& m);

// Splits the back-channel's bytes into whole messages.
class RequestReader {
 public:
  void feed(const void* data, size_t n) { buf_.append(static_cast<const char*>(data), n); }
  // true and r filled: a valid request; false: none complete yet, or error().
  bool next(Request& r);
  const std::string& error() const { return error_; }

 private:
  std::string buf_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace tt::isolate
