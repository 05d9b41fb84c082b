// The daemon's privilege split without root: the record frames and the
// back-channel's checks (isolate/frames.h), a parser process fed through the
// pipe (fork, no sandbox needed to test the plumbing), and the sandbox's steps
// that an unprivileged process can take.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "isolate/frames.h"
#include "isolate/parser_process.h"
#include "isolate/sandbox.h"

namespace {

using namespace tt::isolate;

std::string record(size_t n, char fill) { return std::string(n, fill); }

TEST(FrameCodec, RoundTripsRecordsFedInAnyPieces) {
  std::vector<std::string> recs = {record(1, 'a'), record(0, 'b'), record(16 * 1024 + 48, 'c'), record(7, 'd'),
                                   record(9, 'e')};
  FrameQueue queue(64);  // small: pushes compact it and grow it
  std::string wire;
  for (auto& r : recs) {
    if (!queue.push(FrameType::Record, r.data(), r.size(), false)) {
      wire += queue.pending();  // "written out"
      queue.consume(queue.size());
      ASSERT_TRUE(queue.push(FrameType::Record, r.data(), r.size(), false));  // alone it grows
    }
  }
  uint64_t end_ns = 12345;
  ASSERT_TRUE(queue.push(FrameType::Finish, &end_ns, sizeof(end_ns), true));
  wire += queue.pending();
  std::mt19937 rng(1);
  for (int round = 0; round < 20; ++round) {
    FrameReader reader;
    std::vector<std::string> got;
    uint64_t end = 0;
    for (size_t at = 0; at < wire.size();) {
      size_t n = std::min<size_t>(wire.size() - at, 1 + rng() % 5000);
      reader.feed(std::string_view(wire).substr(at, n));
      at += n;
      for (FrameReader::Frame f; reader.next(f);) {
        EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data) % 8, 0u) << "records are read in place";
        if (f.type == FrameType::Finish) end = *static_cast<const uint64_t*>(f.data);
        else got.emplace_back(static_cast<const char*>(f.data), f.len);
      }
    }
    EXPECT_EQ(got, recs);
    EXPECT_EQ(end, 12345u);
    EXPECT_TRUE(reader.error().empty());
    EXPECT_EQ(reader.buffered(), 0u);
  }
}

TEST(FrameCodec, RefusesOversizedAndUnknownFrames) {
  FrameHeader big{uint32_t(kMaxFramePayload + 1), uint32_t(FrameType::Record)};
  FrameReader r1;
  r1.feed(std::string_view(reinterpret_cast<const char*>(&big), sizeof(big)));
  FrameReader::Frame f;
  EXPECT_FALSE(r1.next(f));
  EXPECT_NE(r1.error().find("at most"), std::string::npos);

  FrameQueue q2(64);
  q2.push(static_cast<FrameType>(7), "x", 1, true);
  FrameReader r2;
  r2.feed(q2.pending());
  EXPECT_FALSE(r2.next(f));
  EXPECT_NE(r2.error().find("unknown frame type"), std::string::npos);

  // FINISH carries exactly its end time.
  FrameQueue q3(64);
  q3.push(FrameType::Finish, "abc", 3, true);
  FrameReader r3;
  r3.feed(q3.pending());
  EXPECT_FALSE(r3.next(f));
  EXPECT_FALSE(r3.error().empty());
}

TEST(BackChannel, AcceptsOnlyMuteAndWatchInRange) {
  auto mute = validate(mute_request(42, 0xabc));
  ASSERT_TRUE(mute);
  EXPECT_EQ(mute->type, RequestType::Mute);
  EXPECT_EQ(mute->pid, 42u);
  EXPECT_EQ(mute->conn_or_sock, 0xabcu);
  auto watch = validate(watch_request(0xffff8880deadbeef, 777, true));
  ASSERT_TRUE(watch);
  EXPECT_EQ(watch->type, RequestType::Watch);
  EXPECT_TRUE(watch->watch);
  EXPECT_EQ(watch->head_ts_ns, 777u);

  auto bad = [](RequestMsg m) { return !validate(m).ok(); };
  RequestMsg m = mute_request(42, 1);
  m.type = 3;  // no third kind of request
  EXPECT_TRUE(bad(m));
  m = mute_request(42, 1);
  m.b = 1;  // unused fields must be zero
  EXPECT_TRUE(bad(m));
  m = mute_request(42, 1);
  m.zero = 1;
  EXPECT_TRUE(bad(m));
  EXPECT_TRUE(bad(mute_request(0, 1)));
  m = watch_request(1, 2, true);
  m.watch = 2;
  EXPECT_TRUE(bad(m));
  m = watch_request(1, 2, false);
  m.pid = 5;
  EXPECT_TRUE(bad(m));
  EXPECT_TRUE(bad(watch_request(0, 2, true)));
}

TEST(BackChannel, ReaderSplitsMessagesAndStopsAtTheFirstBadOne) {
  std::string wire;
  for (RequestMsg m : {mute_request(1, 2), watch_request(3, 4, false)})
    wire.append(reinterpret_cast<const char*>(&m), sizeof(m));
  RequestMsg evil = mute_request(1, 2);
  evil.type = 99;
  wire.append(reinterpret_cast<const char*>(&evil), sizeof(evil));
  RequestMsg after = mute_request(5, 6);
  wire.append(reinterpret_cast<const char*>(&after), sizeof(after));
  RequestReader reader;
  std::vector<Request> got;
  for (size_t at = 0; at < wire.size(); at += 5) {  // pieces that split messages
    reader.feed(wire.data() + at, std::min<size_t>(5, wire.size() - at));
    for (Request r; reader.next(r);) got.push_back(r);
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, RequestType::Mute);
  EXPECT_EQ(got[1].type, RequestType::Watch);
  EXPECT_NE(reader.error().find("unknown request type 99"), std::string::npos);
}

// A real parser process (sandboxed as far as a non-root user can be): records
// through the pipe in order, its requests answered, its exit code returned.
TEST(ParserProcess, RecordsInOrderRequestsBackExitCode) {
  std::vector<std::pair<uint32_t, uint64_t>> muted;
  ParserProcess parser;
  auto main = [](int data_fd, int back_fd) {
    uint64_t sum = 0, n = 0;
    std::string err;
    auto end = read_frames(
        data_fd, 50,
        [&](const void* d, size_t len) {
          uint32_t v;
          memcpy(&v, d, sizeof(v));
          if (v != n || len != 4 + v % 3000) _exit(10);  // out of order or cut
          sum += v;
          if (++n % 1000 == 0) send_request(back_fd, mute_request(uint32_t(n), sum));
        },
        [] {}, err);
    return end && *end == 99 && n == 20000 ? 0 : 11;
  };
  ASSERT_TRUE(parser.start(main, {}, unprivileged_identity(), {[&](uint32_t p, uint64_t c) { muted.emplace_back(p, c); }, {}}));
  std::string buf(4 + 3000, '\0');
  for (uint32_t i = 0; i < 20000; ++i) {
    memcpy(buf.data(), &i, sizeof(i));
    parser.send(buf.data(), 4 + i % 3000);
    if (i % 100 == 0) {
      ASSERT_TRUE(parser.pump()) << parser.error();
    }
  }
  EXPECT_EQ(parser.finish(99), 0) << parser.error();
  EXPECT_FALSE(muted.empty());  // the last ones may come after the parent stopped serving
  for (size_t k = 0; k < muted.size(); ++k) EXPECT_EQ(muted[k].first, (k + 1) * 1000);
}

// Rotation: the parent hands the (sandboxed) parser a fresh file on the
// back-channel; the parser moves its output onto it between two records
// (dup3 onto the same number: the write rule by fd number keeps holding) and
// acknowledges with a request. Every record lands once, in order.
TEST(ParserProcess, HandsOverAFreshOutputFile) {
  char tmpl[] = "/tmp/tt_handover_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl, first = dir + "/a", second = dir + "/b";
  int out = open(first.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(out, 0);
  auto main = [out](int data_fd, int back_fd) {
    std::string err;
    ExtraFds files{[back_fd](std::vector<pollfd>& fds) { fds.push_back({back_fd, POLLIN, 0}); },
                   [out, back_fd](const pollfd* fds, size_t) {
                     if (!(fds[0].revents & POLLIN)) return;
                     auto got = receive_file(back_fd);
                     if (!got || got->slot != 7 || dup3(got->fd, out, O_CLOEXEC) < 0) _exit(12);
                     close(got->fd);
                     send_request(back_fd, mute_request(1, 1));  // "switched"
                   }};
    auto end = read_frames(
        data_fd, 50, [out](const void* d, size_t len) { (void)!write(out, d, len); }, [] {}, err, &files);
    return end ? 0 : 11;
  };
  auto slurp = [](const std::string& p) {
    char buf[64];
    int fd = open(p.c_str(), O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
    if (fd >= 0) close(fd);
    return n > 0 ? std::string(buf, size_t(n)) : std::string();
  };
  bool switched = false;
  ParserProcess parser;
  ASSERT_TRUE(parser.start(main, {out}, unprivileged_identity(), {[&](uint32_t, uint64_t) { switched = true; }, {}}));
  for (char c : std::string("abc")) parser.send(&c, 1);
  for (int i = 0; i < 1000 && slurp(first) != "abc"; ++i) {  // written before the hand-over
    ASSERT_TRUE(parser.pump()) << parser.error();
    usleep(10000);
  }
  int fresh = open(second.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fresh, 0);
  ASSERT_TRUE(parser.send_file(7, fresh));
  close(fresh);
  for (int i = 0; i < 1000 && !switched; ++i) {
    ASSERT_TRUE(parser.pump()) << parser.error();
    usleep(10000);
  }
  ASSERT_TRUE(switched);
  for (char c : std::string("de")) parser.send(&c, 1);
  EXPECT_EQ(parser.finish(1), 0) << parser.error();
  close(out);
  EXPECT_EQ(slurp(first), "abc");
  EXPECT_EQ(slurp(second), "de");
  unlink(first.c_str());
  unlink(second.c_str());
  rmdir(tmpl);
}

// Starts a parser, pumps until the parent gives up on it; its error.
std::string error_of(const ParserProcess::ChildMain& main) {
  ParserProcess parser;
  if (!parser.start(main, {}, unprivileged_identity(), {})) return "not started";
  for (int i = 0; i < 200 && parser.pump(); ++i) usleep(10000);
  return parser.error();
}

TEST(ParserProcess, ParentSeesAParserThatDiesOrLies) {
  EXPECT_NE(error_of([](int, int) { return raise(SIGKILL); }).find("killed by signal 9"), std::string::npos);
  auto liar = [](int, int back_fd) {
    RequestMsg m = mute_request(1, 1);
    m.type = 42;  // "please load this BPF program"
    send_request(back_fd, m);
    pause();
    return 0;
  };
  EXPECT_NE(error_of(liar).find("sent an invalid request"), std::string::npos);
}

// Under the filter a call outside the allow-list kills the process (here
// prctl, which the parser never needs once confined).
TEST(Sandbox, SeccompKillsACallOutsideTheAllowList) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int p[2];
    if (pipe(p) != 0) _exit(20);
    if (!drop_capabilities() || !load_seccomp_filter({p[0], {p[1]}})) _exit(21);
    if (write(p[1], "ok", 2) != 2) _exit(22);  // allowed: a given fd
    std::string grow(1 << 20, 'x');            // allowed: memory
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) _exit(23);  // (prctl is not allowed: killed here)
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << describe_status(status);
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
  EXPECT_NE(describe_status(status).find("seccomp"), std::string::npos);
}

TEST(Sandbox, ClosesEveryOtherFd) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int a = dup(2), b = dup(2), c = dup(2);
    if (!close_fds_except({b})) _exit(20);
    bool ok = fcntl(a, F_GETFD) < 0 && fcntl(b, F_GETFD) >= 0 && fcntl(c, F_GETFD) < 0 && fcntl(2, F_GETFD) >= 0;
    _exit(ok ? 0 : 21);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
}

}  // namespace
