#include "capture/file/capture_file.h"

#include <cerrno>
#include <cstring>
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

Result<uint64_t> read_capture(const std::string& path,
                              const std::function<void(const void*, size_t)>& fn) {
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) return make_error("cannot open capture file " + path + ": " + strerror(errno));
  char magic[sizeof(kMagic)];
  if (fread(magic, 1, sizeof(magic), f) != sizeof(magic) || memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    fclose(f);
    return make_error(path + " is not a tokentap capture file (bad magic)");
  }
  std::vector<char> buf;
  uint64_t count = 0;
  for (;;) {
    uint32_t n;
    size_t got = fread(&n, 1, sizeof(n), f);
    if (got == 0) break;
    if (got != sizeof(n) || n > kMaxRecord) {
      fclose(f);
      return make_error(path + ": corrupt record header after " + std::to_string(count) + " records");
    }
    buf.resize(n);
    if (fread(buf.data(), 1, n, f) != n) {
      fclose(f);
      return make_error(path + ": truncated record after " + std::to_string(count) + " records");
    }
    fn(buf.data(), n);
    ++count;
  }
  fclose(f);
  return count;
}

}  // namespace tt::capture
