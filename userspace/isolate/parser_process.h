// The daemon's parser process: forked once BPF is loaded, confined
// (sandbox.h), fed raw records through a pipe, and asking the privileged
// parent only to mute a connection or to watch a socket (frames.h); the parent
// may hand it an output's next file the other way on the same socket.
//
// Back-pressure: the parent queues up to kMaxQueuedBytes of frames; past that
// it waits for the parser instead of reading the ring buffer, so that what is
// lost is lost in BPF, counted (events_lost, bytes_lost) and marked as a gap
// in its connection, never dropped here. A parser that takes nothing for
// kStallSeconds is taken as hung: the parent kills it and stops.
#pragma once
#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "isolate/frames.h"
#include "isolate/sandbox.h"

namespace tt::isolate {

constexpr size_t kMaxQueuedBytes = 8u << 20;  // and the pipe's 4 MiB (1 MiB if not root)
constexpr int kStallSeconds = 30;

class ParserProcess {
 public:
  struct Handlers {
    std::function<void(uint32_t pid, uint64_t conn)> mute;
    std::function<void(uint64_t sock, uint64_t head_ts_ns, bool watch)> watch;
  };
  // The parser's body, run in the sandbox: frames come on data_fd, requests
  // go to back_fd. Its return value is the process's exit code.
  using ChildMain = std::function<int(int data_fd, int back_fd)>;

  ~ParserProcess();
  // Forks the parser. output_fds are the files it writes (opened by the
  // caller); stderr is kept too. Records send() queued before go first.
  Result<void> start(const ChildMain& main, const std::vector<int>& output_fds, Identity ident, Handlers h);
  // Before start(): a listening socket the parser serves (metrics, top; -1:
  // none); the sandbox lets it accept there and talk to what it accepted.
  void serve_socket(int listen_fd) {
    if (listen_fd >= 0) listen_fds_.push_back(listen_fd);
  }
  // Before start(): the spool's directory, where the parser may create,
  // write, sync and delete its segments (and nowhere else).
  void use_spool_dir(int dir_fd) { spool_dir_fd_ = dir_fd; }
  // Hands the parser a file (an output's next one after a rotation, sink/rotate.h)
  // over the back-channel; `slot` says which output. The caller keeps and
  // closes its fd. false: the parser is gone or not taking them.
  bool send_file(uint32_t slot, int fd);
  // Queues one record (a ring or info record); waits for the parser only
  // when the queue is over its bound.
  void send(const void* data, size_t size);
  // Writes what the pipe takes now and serves the parser's requests. false
  // once the parser has died or misbehaved: error() says how; it is reaped.
  bool pump();
  // The end: FINISH, the pipe closed, requests served until the parser exits.
  // Its exit code, or -1 (error() says why: a signal, a hang).
  int finish(uint64_t end_mono_ns);
  const std::string& error() const { return error_; }
  pid_t pid() const { return pid_; }

 private:
  bool flush(bool block);
  bool wait_writable(uint64_t& last_progress_ns);
  bool serve_requests();
  void apply(const Request& r);
  void fail(const std::string& why);
  void reap(bool kill_first);

  FrameQueue queue_{kMaxQueuedBytes};
  size_t flush_at_ = 64u << 10;  // queued bytes at which send() writes
  int data_fd_ = -1, back_fd_ = -1, spool_dir_fd_ = -1;
  std::vector<int> listen_fds_;
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false, failed_ = false;
  RequestReader requests_;
  Handlers handlers_;
  std::string error_;
};

// The parser side of the record pipe: feeds each record to on_record and calls
// tick about every tick_ms, until FINISH (its end time returned) or the
// pipe's end without one (nullopt: the parent is gone; error says why).
// extra: other fds the same loop serves (the metrics listener and its clients).
struct ExtraFds {
  std::function<void(std::vector<pollfd>&)> add;
  std::function<void(const pollfd* fds, size_t n)> ready;
};
std::optional<uint64_t> read_frames(int data_fd, int tick_ms, const std::function<void(const void*, size_t)>& on_record,
                                    const std::function<void()>& tick, std::string& error,
                                    const ExtraFds* extra = nullptr);

// In the parser: the file the parent sent (send_file) when back_fd is readable;
// nullopt if what arrived is not one (the parent ended: the record pipe says so).
struct ReceivedFile {
  uint32_t slot;
  int fd;
};
std::optional<ReceivedFile> receive_file(int back_fd);

// A request to the parent (blocking; a parent gone is ignored: it is ending).
void send_request(int back_fd, const RequestMsg& m);

// "exited with code 3", "was killed by signal 31 (SIGSYS: ...)".
std::string describe_status(int status);

}  // namespace tt::isolate
