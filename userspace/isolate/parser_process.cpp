#include "isolate/parser_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tt::isolate {

namespace {

uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

constexpr size_t kReadChunk = 256u << 10;
constexpr size_t kFlushAt = 64u << 10;  // queued bytes worth a write before the next pump

// In the forked child: confine, then run the parser's body; never returns.
[[noreturn]] void child(const ParserProcess::ChildMain& main, int data_fd, int back_fd,
                        const std::vector<int>& output_fds, SandboxSpec spec, Identity ident) {
  // The parent drives the end (Ctrl-C and systemd signal the whole group).
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) signal(s, SIG_IGN);
  prctl(PR_SET_NAME, "tokentap-parser", 0, 0, 0);
  spec.read_fd = data_fd;
  spec.write_fds = output_fds;
  spec.write_fds.push_back(back_fd);
  spec.write_fds.push_back(STDERR_FILENO);
  spec.files_from_fd = back_fd;
  spec.replaceable_fds = output_fds;
  if (auto r = enter_sandbox(spec, ident); !r) {
    fprintf(stderr, "tokentap: the parser process cannot confine itself: %s\n", r.error().c_str());
    _exit(3);
  }
  int rc = main(data_fd, back_fd);
  fflush(nullptr);
  _exit(rc);  // no destructors: they would touch the parent's BPF objects
}

}  // namespace

ParserProcess::~ParserProcess() {
  if (pid_ > 0 && !reaped_) reap(true);
  for (int fd : {data_fd_, back_fd_})
    if (fd >= 0) close(fd);
}

Result<void> ParserProcess::start(const ChildMain& main, const std::vector<int>& output_fds, Identity ident,
                                  Handlers h) {
  handlers_ = std::move(h);
  int data[2], back[2];
  if (pipe2(data, O_CLOEXEC) != 0) return make_error(std::string("pipe: ") + strerror(errno));
  // A socket, not a pipe: the parent hands files the other way (send_file).
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, back) != 0)
    return make_error(std::string("socketpair: ") + strerror(errno));
  // A larger pipe takes a burst without waking the parser per 64 KiB.
  if (fcntl(data[1], F_SETPIPE_SZ, 4 << 20) < 0) fcntl(data[1], F_SETPIPE_SZ, 1 << 20);
  fflush(nullptr);  // nothing buffered twice
  pid_ = fork();
  if (pid_ < 0) return make_error(std::string("fork: ") + strerror(errno));
  if (pid_ == 0) {
    close(data[1]);
    close(back[0]);
    SandboxSpec spec;
    spec.listen_fds = listen_fds_;
    spec.spool_dir_fd = spool_dir_fd_;
    child(main, data[0], back[1], output_fds, spec, ident);
  }
  close(data[0]);
  close(back[1]);
  data_fd_ = data[1];
  back_fd_ = back[0];
  fcntl(data_fd_, F_SETFL, O_NONBLOCK);
  fcntl(back_fd_, F_SETFL, O_NONBLOCK);
  return {};
}

void ParserProcess::send(const void* data, size_t size) {
  if (failed_) return;  // the caller is stopping (pump() said so)
  // Before the fork nobody reads: records wait, however many.
  while (!queue_.push(FrameType::Record, data, size, data_fd_ < 0))
    if (!flush(true)) return;  // full: wait for the parser
  if (data_fd_ >= 0 && queue_.size() >= flush_at_) flush(false);
}

bool ParserProcess::pump() {
  if (failed_) return false;
  return flush(false) && serve_requests();
}

bool ParserProcess::flush(bool block) {
  uint64_t last_progress = mono_ns();
  while (!failed_ && queue_.size()) {
    ssize_t n = write(data_fd_, queue_.pending().data(), queue_.size());
    if (n > 0) {
      queue_.consume(size_t(n));
      last_progress = mono_ns();
    } else if (n < 0 && errno == EAGAIN) {
      if (!block) break;
      if (!wait_writable(last_progress)) return false;
    } else if (!(n < 0 && errno == EINTR)) {
      fail("stopped taking records");  // EPIPE: it is gone
    }
  }
  flush_at_ = queue_.size() + kFlushAt;  // no write per record while the pipe is full
  return !failed_;
}

// The pipe is full: wait for room, serving requests meanwhile (the parser may
// be blocked writing one), and give up on a parser that takes nothing.
bool ParserProcess::wait_writable(uint64_t& last_progress_ns) {
  pollfd p[2] = {{data_fd_, POLLOUT, 0}, {back_fd_, POLLIN, 0}};
  if (poll(p, 2, 1000) < 0 && errno != EINTR) {
    fail(std::string("poll: ") + strerror(errno));
    return false;
  }
  if ((p[1].revents & (POLLIN | POLLHUP)) && !serve_requests()) return false;
  if (mono_ns() - last_progress_ns > uint64_t(kStallSeconds) * 1'000'000'000ull) {
    fail("took no record for " + std::to_string(kStallSeconds) + " s (hung)");
    return false;
  }
  return true;
}

// What the back-channel holds now, a bounded amount per call.
bool ParserProcess::serve_requests() {
  char buf[64u << 10];
  ssize_t n = read(back_fd_, buf, sizeof(buf));
  if (n == 0) {
    fail("has ended");
    return false;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return true;
    fail(std::string("back-channel: ") + strerror(errno));
    return false;
  }
  requests_.feed(buf, size_t(n));
  for (Request r; requests_.next(r);) apply(r);
  if (!requests_.error().empty()) fail("sent an invalid request (" + requests_.error() + ")");
  return !failed_;
}

namespace {
// A file passed on the back-channel: the slot's 4 bytes, the fd beside them.
struct FileMsg {
  uint32_t slot = 0;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{&slot, sizeof(slot)};
  msghdr m{};
  FileMsg() {
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof(ctl);
  }
  FileMsg(const FileMsg&) = delete;  // iov and m point into it
};
}  // namespace

bool ParserProcess::send_file(uint32_t slot, int fd) {
  if (failed_ || back_fd_ < 0) return false;
  FileMsg f;
  f.slot = slot;
  msghdr& m = f.m;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t n;
  while ((n = sendmsg(back_fd_, &m, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR) {
  }
  return n == sizeof(f.slot);
}

void ParserProcess::apply(const Request& r) {
  if (r.type == RequestType::Mute && handlers_.mute) handlers_.mute(r.pid, r.conn_or_sock);
  if (r.type == RequestType::Watch && handlers_.watch) handlers_.watch(r.conn_or_sock, r.head_ts_ns, r.watch);
}

void ParserProcess::fail(const std::string& why) {
  if (failed_) return;
  failed_ = true;
  reap(true);
  error_ = "the parser process (pid " + std::to_string(pid_) + ") " + why + "; it " + describe_status(status_);
}

// A parser whose back-channel ended is exiting: give it a moment to become a
// zombie, so that its own status is reported, then kill what is left.
void ParserProcess::reap(bool kill_first) {
  for (int i = 0; i < 40 && !reaped_; ++i) {
    if (waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
    else if (kill_first) usleep(5000);
  }
  if (reaped_) return;
  kill(pid_, SIGKILL);
  while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
}

int ParserProcess::finish(uint64_t end_mono_ns) {
  if (failed_) return -1;
  queue_.push(FrameType::Finish, &end_mono_ns, sizeof(end_mono_ns), true);
  if (!flush(true)) return -1;
  close(data_fd_);
  data_fd_ = -1;
  // The parser may still ask (closing connections mutes none today, but a
  // blocked write to this pipe must never hang its exit).
  for (;;) {
    pollfd p{back_fd_, POLLIN, 0};
    if (poll(&p, 1, 1000) < 0 && errno != EINTR) break;
    char buf[4096];
    ssize_t n = read(back_fd_, buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
  }
  reap(false);
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  error_ = "the parser process (pid " + std::to_string(pid_) + ") " + describe_status(status_);
  return -1;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (!WIFSIGNALED(status)) return "stopped";
  int sig = WTERMSIG(status);
  std::string s = "was killed by signal " + std::to_string(sig) + " (" + (sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
  if (sig == SIGSYS) s += ": a system call its seccomp filter does not allow; the kernel log names it";
  return s + ")";
}

std::optional<ReceivedFile> receive_file(int back_fd) {
  FileMsg f;
  ssize_t n = recvmsg(back_fd, &f.m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  cmsghdr* c = n == sizeof(f.slot) ? CMSG_FIRSTHDR(&f.m) : nullptr;
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
    return std::nullopt;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return ReceivedFile{f.slot, fd};
}

void send_request(int back_fd, const RequestMsg& m) {
  // 32 bytes: one write, atomic on a pipe.
  while (write(back_fd, &m, sizeof(m)) < 0 && errno == EINTR) {
  }
}

std::optional<uint64_t> read_frames(int data_fd, int tick_ms, const std::function<void(const void*, size_t)>& on_record,
                                    const std::function<void()>& tick, std::string& error,
                                    const ExtraFds* extra) {
  FrameReader reader;
  std::vector<pollfd> fds;
  for (;;) {
    fds.assign(1, {data_fd, POLLIN, 0});
    if (extra) extra->add(fds);
    int ready = poll(fds.data(), fds.size(), tick_ms);
    tick();
    if (extra) extra->ready(fds.data() + 1, fds.size() - 1);  // on a timeout too: clients expire
    if (ready <= 0 || !fds[0].revents) continue;
    ssize_t n = read(data_fd, reader.reserve(kReadChunk), kReadChunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n == 0 ? "the daemon's end of the record pipe closed without FINISH" : strerror(errno);
      return std::nullopt;
    }
    reader.commit(size_t(n));
    for (FrameReader::Frame f; reader.next(f);) {
      if (f.type == FrameType::Finish) return *static_cast<const uint64_t*>(f.data);
      on_record(f.data, f.len);
    }
    if (!reader.error().empty()) {
      error = "corrupt record stream: " + reader.error();
      return std::nullopt;
    }
  }
}

}  // namespace tt::isolate
