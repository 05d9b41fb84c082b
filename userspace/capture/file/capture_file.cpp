#include "capture/file/capture_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

namespace tt::capture {

static constexpr char kMagic[16] = {'T', 'O', 'K', 'E', 'N', 'T', 'A', 'P',
                                    '-', 'C', 'A', 'P', '-', 'v', '1', '\n'};
static constexpr uint32_t kMaxRecord = 1u << 24;

Result<CaptureWriter*> CaptureWriter::open(const std::string& path) {
  FILE* f = fopen(path.c_str(), "wb");
  if (!f) return make_error("cannot write capture file " + path + ": " + strerror(errno));
  if (fwrite(kMagic, 1, sizeof(kMagic), f) != sizeof(kMagic)) {
    fclose(f);
    return make_error("cannot write capture file " + path);
  }
  return new CaptureWriter(f);
}

CaptureWriter::~CaptureWriter() {
  if (f_ && fclose(f_) != 0) ok_ = false;
}

void CaptureWriter::write(const void* data, size_t size) {
  uint32_t n = static_cast<uint32_t>(size);
  if (fwrite(&n, sizeof(n), 1, f_) != 1 || fwrite(data, 1, size, f_) != size) ok_ = false;
}

namespace {

// Reads a file in large blocks and hands out byte ranges in place: one read(2)
// per MiB instead of a stdio call per record header and body, and no copy
// beyond the kernel's.
class BlockReader {
 public:
  explicit BlockReader(int fd) : fd_(fd), buf_(kBlock) {}

  // At least n bytes ready at data(); false if the file (or a read error, see
  // error()) ends first, with what there was still available().
  bool need(size_t n) {
    if (end_ - begin_ >= n) return true;
    memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (buf_.size() < n) buf_.resize(std::max(n, kBlock));
    while (end_ < n) {
      ssize_t r = read(fd_, buf_.data() + end_, buf_.size() - end_);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        if (r < 0) error_ = errno;
        return false;
      }
      end_ += static_cast<size_t>(r);
    }
    return true;
  }
  const char* data() const { return buf_.data() + begin_; }
  size_t available() const { return end_ - begin_; }
  void skip(size_t n) { begin_ += n; }
  int error() const { return error_; }

 private:
  static constexpr size_t kBlock = 1u << 20;
  int fd_;
  std::vector<char> buf_;
  size_t begin_ = 0, end_ = 0;
  int error_ = 0;
};

}  // namespace

Result<uint64_t> read_capture(const std::string& path,
                              const std::function<void(const void*, size_t)>& fn) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("cannot open capture file " + path + ": " + strerror(errno));
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { ::close(*f); });
  BlockReader in(fd);
  std::vector<char> aligned;
  uint64_t count = 0;
  auto fail = [&](const std::string& what) -> Result<uint64_t> {
    std::string after = " after " + std::to_string(count) + " records";
    if (in.error()) return make_error(path + ": read error" + after + ": " + strerror(in.error()));
    return make_error(path + ": " + what + after);
  };
  bool have_magic = in.need(sizeof(kMagic));
  if (in.error()) return fail("");
  if (!have_magic || memcmp(in.data(), kMagic, sizeof(kMagic)) != 0)
    return make_error(path + " is not a tokentap capture file (bad magic)");
  in.skip(sizeof(kMagic));
  while (in.need(sizeof(uint32_t))) {
    uint32_t n;
    memcpy(&n, in.data(), sizeof(n));
    if (n > kMaxRecord) return fail("corrupt record header");
    if (!in.need(sizeof(n) + n)) return fail("truncated record");
    // Records follow 4-byte lengths in the file: most land unaligned in the block
    // and are copied (a memcpy costs ~2% of the pipeline; measured).
    const char* rec = in.data() + sizeof(n);
    if (reinterpret_cast<uintptr_t>(rec) % alignof(uint64_t)) {
      aligned.assign(rec, rec + n);
      rec = aligned.data();
    }
    fn(rec, n);
    in.skip(sizeof(n) + n);
    ++count;
  }
  if (in.available() || in.error()) return fail("corrupt record header");
  return count;
}

}  // namespace tt::capture
