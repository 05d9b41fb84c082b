#include "sink/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tt::sink {

namespace {

constexpr int kSegmentFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;  // the sandbox allows these only

Error sys_error(const std::string& what) { return make_error(what + ": " + strerror(errno)); }

// "000000000042.pb" -> 42; anything else (ack, strays) -> 0.
uint64_t parse_segment_name(const char* name) {
  size_t len = strlen(name);
  if (len != 15 || strcmp(name + 12, ".pb") != 0) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 12; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    v = v * 10 + uint64_t(name[i] - '0');
  }
  return v;
}


bool pwrite_all(int fd, const std::string& data, uint64_t off) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done, off + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

uint64_t mono_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

// Opens a segment for recovery: a regular file, never through a symlink (the
// directory belongs to the parser's user, and this runs as root).
Result<int> open_segment_file(int dir_fd, uint64_t seq, bool last, uint64_t& size) {
  int fd = openat(dir_fd, segment_name(seq).c_str(), (last ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return sys_error("spool: cannot open " + segment_name(seq));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return make_error("spool: " + segment_name(seq) + " is not a regular file");
  }
  size = uint64_t(st.st_size);
  return fd;
}

}  // namespace

std::vector<uint64_t> list_segments(int dir_fd) {
  std::vector<uint64_t> seqs;
  int fd = dup(dir_fd);  // closedir closes it; the caller's stays open
  DIR* d = fd >= 0 ? fdopendir(fd) : nullptr;
  if (!d) return seqs;
  rewinddir(d);
  while (const dirent* e = readdir(d))
    if (uint64_t s = parse_segment_name(e->d_name)) seqs.push_back(s);
  closedir(d);
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

std::optional<DurableExtent> read_ack(int dir_fd) {
  int fd = openat(dir_fd, "ack", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char line[80] = {};
  ssize_t n = pread(fd, line, sizeof(line) - 1, 0);
  close(fd);
  unsigned long long seg = 0, off = 0, recs = 0;
  if (n <= 0 || sscanf(line, "%llu %llu %llu", &seg, &off, &recs) != 3 || seg == 0) return std::nullopt;
  return DurableExtent{seg, off, recs};
}

std::string segment_name(uint64_t seq) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%012llu.pb", static_cast<unsigned long long>(seq));
  return buf;
}

Result<int> open_spool_dir(const std::string& dir, uid_t uid, gid_t gid) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("cannot create the spool " + dir);
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sys_error("cannot open the spool " + dir);
  if (geteuid() == 0 && fchown(fd, uid, gid) != 0) {
    close(fd);
    return sys_error("cannot give the spool " + dir + " to the parser's user");
  }
  if (fchmod(fd, 0700) != 0) {
    close(fd);
    return sys_error("cannot make the spool " + dir + " private");
  }
  return fd;
}

SegmentInfo scan_segment(int fd, uint64_t size) {
  SegmentInfo info;
  for (uint64_t off = 0; off < size;) {
    unsigned char hdr[5];
    ssize_t n = pread(fd, hdr, sizeof(hdr), off);
    uint64_t len = 0;
    int used = 0;
    for (; used < n && used < 5; ++used) {
      len |= uint64_t(hdr[used] & 0x7f) << (7 * used);
      if (!(hdr[used] & 0x80)) break;
    }
    if (used >= n || used == 5 || len == 0 || off + used + 1 + len > size) break;  // torn or never written
    off += used + 1 + len;
    info.bytes = off;
    ++info.records;
  }
  return info;
}

Result<Recovery> recover_spool(int dir_fd) {
  Recovery r;
  std::vector<uint64_t> seqs = list_segments(dir_fd);
  for (size_t i = 0; i < seqs.size(); ++i) {
    bool last = i + 1 == seqs.size();
    uint64_t size = 0;
    auto fd = open_segment_file(dir_fd, seqs[i], last, size);
    if (!fd) return Error{fd.error()};
    SegmentInfo info = scan_segment(*fd, size);
    info.seq = seqs[i];
    if (last && info.bytes < size) {  // a crash mid-write: the record was never acknowledged
      r.repaired_bytes = size - info.bytes;
      if (ftruncate(*fd, off_t(info.bytes)) != 0 || fsync(*fd) != 0) {
        close(*fd);
        return sys_error("spool: cannot repair " + segment_name(info.seq));
      }
    }
    info.bytes = last ? info.bytes : size;  // a closed segment was synced whole
    close(*fd);
    r.segments.push_back(info);
    r.next_seq = info.seq + 1;
  }
  // Never a number used before, even when the shipper deleted every segment:
  // its cursor in `shipped` points at one of them.
  if (auto ack = read_ack(dir_fd); ack && ack->segment >= r.next_seq) r.next_seq = ack->segment + 1;
  return r;
}

Result<int> open_ack_file(int dir_fd) {
  int fd = openat(dir_fd, "ack", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) return sys_error("spool: cannot open its ack file");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return make_error("spool: its ack file is not a regular file");
  }
  return fd;
}

SpoolSink::SpoolSink(int dir_fd, int ack_fd, Recovery rec, SpoolOptions opts)
    : dir_fd_(dir_fd), ack_fd_(ack_fd), opts_(opts), closed_(std::move(rec.segments)), next_seq_(rec.next_seq),
      repaired_bytes_(rec.repaired_bytes) {}

SpoolSink::~SpoolSink() { (void)close(); }

void SpoolSink::report_to(v1::CaptureStats* cs) {
  stats_ = cs;
  publish_stats();
}

void SpoolSink::publish_stats() {
  if (!stats_) return;
  stats_->set_spool_records_dropped(dropped_records_);
  stats_->set_spool_bytes_dropped(dropped_bytes_);
  stats_->set_spool_tail_bytes_repaired(repaired_bytes_);
}

// A new segment, numbered after every one before (this run's or an earlier
// run's): a restart never appends to a file a crash may have torn.
bool SpoolSink::open_segment() {
  active_ = SegmentInfo{next_seq_++, 0, 0};
  fd_ = openat(dir_fd_, segment_name(active_.seq).c_str(), kSegmentFlags, 0644);
  dir_dirty_ = true;  // the new name is durable only once the directory is synced
  return fd_ >= 0;
}

// The full segment is synced before the next starts: every segment but the
// last is whole on disk.
void SpoolSink::rotate() {
  if (!sync()) ok_ = false;
  ::close(fd_);
  fd_ = -1;
  closed_.push_back(active_);
}

void SpoolSink::enforce_bound() {
  uint64_t total = active_.bytes;
  for (const auto& s : closed_) total += s.bytes;
  while (total > opts_.max_bytes && !closed_.empty()) {
    const SegmentInfo& old = closed_.front();
    // Gone already: the shipper deleted it once the collector had it, no loss.
    if (unlinkat(dir_fd_, segment_name(old.seq).c_str(), 0) == 0) {
      dropped_records_ += old.records;
      dropped_bytes_ += old.bytes;
    } else if (errno != ENOENT) {
      ok_ = false;
    }
    total -= old.bytes;
    closed_.erase(closed_.begin());
    dir_dirty_ = true;
  }
  publish_stats();
}

void SpoolSink::write(const v1::Record& rec) {
  v1::Record numbered = rec;
  numbered.set_seq(++record_seq_);
  std::string bytes = delimited_bytes(numbered);
  if (fd_ >= 0 && active_.bytes > 0 && active_.bytes + bytes.size() > opts_.segment_bytes) rotate();
  if (fd_ < 0 && !open_segment()) {
    ok_ = false;
    return;
  }
  if (!pwrite_all(fd_, bytes, active_.bytes)) {
    ok_ = false;
    return;
  }
  active_.bytes += bytes.size();
  ++active_.records;
  ++written_records_;
  if (!first_unsynced_ms_) first_unsynced_ms_ = mono_ms();
  enforce_bound();
}

void SpoolSink::tick(uint64_t now_ms) {
  if (first_unsynced_ms_ && now_ms >= first_unsynced_ms_ + opts_.fsync_ms && !sync()) ok_ = false;
}

Result<void> SpoolSink::sync() {
  if (fd_ < 0 && !dir_dirty_) return {};  // nothing written by this process (the daemon's parent holds a copy)
  if (fd_ >= 0 && fdatasync(fd_) != 0) return sys_error("spool: fsync " + segment_name(active_.seq));
  if (dir_dirty_ && fsync(dir_fd_) != 0) return sys_error("spool: fsync of its directory");
  dir_dirty_ = false;
  first_unsynced_ms_ = 0;
  acked_records_ = written_records_;
  acked_bytes_ = active_.bytes;
  write_ack();
  return {};
}

// Fixed width, one pwrite at offset 0: a reader sees the old line or the new.
// Not synced: after a crash it may lag, never lead (it is written after the fsync).
void SpoolSink::write_ack() {
  if (ack_fd_ < 0) return;
  char line[64];
  snprintf(line, sizeof(line), "%012llu %020llu %020llu\n", static_cast<unsigned long long>(active_.seq),
           static_cast<unsigned long long>(acked_bytes_), static_cast<unsigned long long>(acked_records_));
  if (!pwrite_all(ack_fd_, line, 0)) ok_ = false;
}

Result<void> SpoolSink::close() {
  if (dir_fd_ < 0) return {};
  auto r = sync();
  for (int fd : {fd_, ack_fd_, dir_fd_})
    if (fd >= 0) ::close(fd);
  fd_ = ack_fd_ = dir_fd_ = -1;
  if (!r) return r;
  if (!ok_) return make_error("spool: records could not all be written");
  return {};
}

}  // namespace tt::sink
