#include "sink/rotate.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tt::sink {

namespace {

Error sys_error(const std::string& what) { return make_error(what + ": " + strerror(errno)); }

std::string numbered(const std::string& path, unsigned n) { return path + "." + std::to_string(n); }

// path.keep is dropped, path.k -> path.k+1, path -> path.1.
Result<void> shift(const std::string& path, unsigned keep, Rotated& out) {
  struct stat st {};
  std::string oldest = numbered(path, keep);
  if (stat(oldest.c_str(), &st) == 0) {
    if (unlink(oldest.c_str()) != 0) return sys_error("cannot remove " + oldest);
    out.removed = oldest;
    out.removed_bytes = static_cast<uint64_t>(st.st_size);
  }
  for (unsigned k = keep; k > 1; --k) {
    std::string from = numbered(path, k - 1);
    if (rename(from.c_str(), numbered(path, k).c_str()) != 0 && errno != ENOENT)
      return sys_error("cannot rename " + from);
  }
  if (rename(path.c_str(), numbered(path, 1).c_str()) != 0) return sys_error("cannot rename " + path);
  return {};
}

}  // namespace

Result<Rotated> rotate_if_due(const std::string& path, int fd, const RotateOptions& opts) {
  Rotated out;
  struct stat st {};
  if (opts.max_bytes == 0 || fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < opts.max_bytes) return out;
  if (opts.keep < 1) return make_error("rotation keeps at least one file");
  if (auto r = shift(path, opts.keep, out); !r) return Error{r.error()};
  // O_EXCL: path was just renamed away; anything there now is not ours.
  int nfd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 07777);
  if (nfd < 0) return sys_error("cannot create " + path);
  if (fchown(nfd, st.st_uid, st.st_gid) != 0 || dup3(nfd, fd, O_CLOEXEC) < 0) {
    Error e = sys_error("cannot set up the new " + path);
    close(nfd);
    return e;
  }
  out.new_fd = nfd;
  return out;
}

}  // namespace tt::sink
