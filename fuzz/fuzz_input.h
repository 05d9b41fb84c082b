// Helpers shared by the libFuzzer targets: reading a fuzz input as a sequence
// of framed pieces, and giving path-only APIs an in-memory file.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tt::fuzz {

// Consumes a fuzz input front to back. Running out yields zeros / short
// pieces, never an error: every input is a valid program for the target.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(reinterpret_cast<const char*>(data)), left_(size) {}
  bool empty() const { return left_ == 0; }
  size_t left() const { return left_; }
  uint8_t u8() { return static_cast<uint8_t>(take(1).empty() ? 0 : p_[-1]); }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  uint32_t u32() { return static_cast<uint32_t>(u16() | (uint32_t{u16()} << 16)); }
  std::string_view take(size_t n) {
    n = std::min(n, left_);
    std::string_view v(p_, n);
    p_ += n;
    left_ -= n;
    return v;
  }
  std::string_view rest() { return take(left_); }

 private:
  const char* p_;
  size_t left_;
};

// One step of a byte stream: [ctl u8][len u16 LE][len bytes]. ctl bit 0 is the
// direction; bits 1-2: 0 bytes, 1 a call start then bytes, 2 a capture gap of
// len bytes (nothing follows), 3 bytes with a larger gap (len << 8).
// fuzz/make_seeds.py writes the same framing.
struct Step {
  int dir = 0;
  bool call_start = false;
  uint64_t gap = 0;
  std::string_view bytes;
};

inline std::optional<Step> next_step(Reader& in) {
  if (in.empty()) return std::nullopt;
  uint8_t ctl = in.u8();
  uint16_t len = in.u16();
  Step s;
  s.dir = ctl & 1;
  switch ((ctl >> 1) & 3) {
    case 2: s.gap = len; break;
    case 3: s.gap = uint64_t{len} << 8; break;
    case 1: s.call_start = true; [[fallthrough]];
    default: s.bytes = in.take(len);
  }
  return s;
}

// Splits on a separator the seeds use between the parts of a structured input.
inline std::vector<std::string_view> split_parts(std::string_view s, size_t max_parts) {
  static constexpr std::string_view kSep = "\n--tt--\n";
  std::vector<std::string_view> out;
  while (out.size() + 1 < max_parts) {
    size_t at = s.find(kSep);
    if (at == std::string_view::npos) break;
    out.push_back(s.substr(0, at));
    s.remove_prefix(at + kSep.size());
  }
  out.push_back(s);
  out.resize(max_parts);
  return out;
}

// A file holding the input, for readers that take a path: a memfd, opened
// again through /proc/self/fd (no disk, nothing left behind on a crash).
class MemFile {
 public:
  explicit MemFile(std::string_view bytes) : fd_(memfd_create("tt-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) __builtin_trap();
    for (size_t done = 0; done < bytes.size();) {
      ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n <= 0) __builtin_trap();
      done += static_cast<size_t>(n);
    }
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

// Reads every byte of a result so ASan sees any that are out of bounds, and the
// optimiser cannot drop the work that produced them.
inline void touch(std::string_view s) {
  volatile uint8_t sum = 0;
  for (char c : s) sum = sum + static_cast<uint8_t>(c);
  (void)sum;
}

}  // namespace tt::fuzz
