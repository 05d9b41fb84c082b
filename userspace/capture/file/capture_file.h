// Raw capture files (tokentap profile --capture FILE): every ring buffer record
// exactly as BPF produced it, plus userspace info records, so `tokentap replay`
// runs the same pipeline without the kernel.
// Format: 16-byte magic "TOKENTAP-CAP-v1\n", then per record: u32 little-endian
// length, then the record bytes.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tt::capture {

class CaptureWriter {
 public:
  static Result<CaptureWriter*> open(const std::string& path);  // caller owns
  ~CaptureWriter();
  void write(const void* data, size_t size);
  bool ok() const { return ok_; }
  int fd() const { return fileno(f_); }

 private:
  explicit CaptureWriter(FILE* f) : f_(f) {}
  FILE* f_;
  bool ok_ = true;
};

// Calls fn for each record, 8-byte aligned (so the record structs can be read in
// place). Errors: unreadable file, bad magic, a read error, or a truncated final
// record (reported after the records before it were delivered).
Result<uint64_t> read_capture(const std::string& path,
                              const std::function<void(const void*, size_t)>& fn);

}  // namespace tt::capture
