#include "ship/spool_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sink/spool.h"

namespace tt::ship {

namespace {

constexpr uint64_t kMaxRecord = 64ull << 20;  // larger: a corrupt length, the rest of the segment is skipped

Error sys_error(const std::string& what) { return make_error(what + ": " + strerror(errno)); }

// A varint length prefix at off: its value and size, or size 0 if cut short.
std::pair<uint64_t, size_t> read_length(int fd, uint64_t off, uint64_t until) {
  unsigned char buf[10];
  ssize_t n = pread(fd, buf, std::min<uint64_t>(sizeof(buf), until - off), off);
  uint64_t v = 0;
  for (ssize_t i = 0; i < n; ++i) {
    v |= uint64_t(buf[i] & 0x7f) << (7 * i);
    if (!(buf[i] & 0x80)) return {v, size_t(i + 1)};
  }
  return {0, 0};
}

}  // namespace

Result<void> SpoolReader::read_segment(uint64_t seg, uint64_t from, uint64_t until, Batch& b, size_t max_records,
                                       uint64_t max_bytes) {
  int fd = openat(dir_fd_, sink::segment_name(seg).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? Result<void>{} : sys_error("spool: cannot read " + sink::segment_name(seg));
  struct stat st {};
  if (fstat(fd, &st) == 0) until = std::min<uint64_t>(until, uint64_t(st.st_size));
  uint64_t pos = from;
  std::string body;
  while (pos < until && b.records.size() < max_records && b.bytes < max_bytes) {
    auto [len, hdr] = read_length(fd, pos, until);
    if (hdr == 0 || pos + hdr + len > until) break;  // not all on disk yet
    if (len > kMaxRecord) {
      ++b.unreadable;
      pos = until;
      break;
    }
    body.resize(len);
    if (pread(fd, body.data(), len, pos + hdr) != ssize_t(len)) break;
    if (!b.records.emplace_back().ParseFromString(body)) {
      b.records.pop_back();
      ++b.unreadable;
    }
    pos += hdr + len;
    b.bytes += hdr + len;
  }
  close(fd);
  b.end = {seg, pos};
  return {};
}

Result<Batch> SpoolReader::next(Cursor from, size_t max_records, uint64_t max_bytes) {
  Batch b;
  b.end = from;
  auto extent = sink::read_ack(dir_fd_);
  if (!extent) return b;
  for (uint64_t seg : sink::list_segments(dir_fd_)) {
    if (seg < from.segment) continue;
    if (seg > extent->segment) break;
    uint64_t start = seg == from.segment ? from.offset : 0;
    // Closed segments were synced whole before the next began.
    uint64_t until = seg == extent->segment ? extent->offset : UINT64_MAX;
    if (auto r = read_segment(seg, start, until, b, max_records, max_bytes); !r) return Error{r.error()};
    if (b.records.size() >= max_records || b.bytes >= max_bytes) break;
  }
  return b;
}

Result<void> SpoolReader::save(Cursor c) const {
  char line[64];
  int n = snprintf(line, sizeof(line), "%llu %llu\n", static_cast<unsigned long long>(c.segment),
                   static_cast<unsigned long long>(c.offset));
  std::string tmp = cursor_ + ".new";
  int fd = openat(dir_fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error("spool: cannot write " + tmp);
  bool ok = write(fd, line, size_t(n)) == n;
  ok = close(fd) == 0 && ok;
  // Not synced: after a crash it may lag, and what it lags by is sent again.
  if (!ok || renameat(dir_fd_, tmp.c_str(), dir_fd_, cursor_.c_str()) != 0) return sys_error("spool: cannot write " + cursor_);
  return {};
}

Result<void> SpoolReader::acknowledged(Cursor upto) {
  if (auto r = save(upto); !r) return r;
  Cursor all = upto;  // where every consumer has got to
  for (const auto& other : others_) {
    Cursor c = load(other);
    if (c.segment < all.segment || (c.segment == all.segment && c.offset < all.offset)) all = c;
  }
  auto extent = sink::read_ack(dir_fd_);
  for (uint64_t seg : sink::list_segments(dir_fd_)) {
    // all's own segment too once it is closed and passed to its end.
    bool passed = seg < all.segment ||
                  (extent && seg < extent->segment && seg == all.segment && all.offset >= segment_size(seg));
    if (!passed) break;
    if (unlinkat(dir_fd_, sink::segment_name(seg).c_str(), 0) != 0 && errno != ENOENT)
      return sys_error("spool: cannot delete " + sink::segment_name(seg));
  }
  return {};
}

uint64_t SpoolReader::segment_size(uint64_t seg) const {
  struct stat st {};
  if (fstatat(dir_fd_, sink::segment_name(seg).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return UINT64_MAX;
  return uint64_t(st.st_size);
}

Cursor SpoolReader::load(const std::string& name) const {
  int fd = openat(dir_fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return {};
  char line[64] = {};
  ssize_t n = read(fd, line, sizeof(line) - 1);
  close(fd);
  unsigned long long seg = 0, off = 0;
  if (n <= 0 || sscanf(line, "%llu %llu", &seg, &off) != 2) return {};
  return {seg, off};
}

}  // namespace tt::ship
