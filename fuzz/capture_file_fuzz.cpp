// The capture file reader (tokentap replay's input): magic, length prefixes,
// truncation. Input: the file itself.
#include "capture/file/capture_file.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tt::fuzz::MemFile file({reinterpret_cast<const char*>(data), size});
  uint64_t seen = 0;
  auto n = tt::capture::read_capture(file.path(), [&](const void* rec, size_t len) {
    // Records are promised 8-byte aligned and whole.
    if (reinterpret_cast<uintptr_t>(rec) % 8) __builtin_trap();
    tt::fuzz::touch({static_cast<const char*>(rec), len});
    seen += len + 4;
  });
  if (seen > size) __builtin_trap();
  (void)n;
  return 0;
}
