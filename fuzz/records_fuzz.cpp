// The delimited protobuf record reader (read_delimited_records, for --out
// files), and each record it accepts re-encoded as JSON and protobuf, UTF-8
// repair included. Input: the file itself.
#include "fuzz_input.h"
#include "sink/sink.h"
#include "sink/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tt::fuzz::MemFile file({reinterpret_cast<const char*>(data), size});
  auto recs = tt::sink::read_delimited_records(file.path());
  if (!recs) return 0;
  for (auto& r : *recs) {
    tt::fuzz::touch(tt::sink::record_to_json(r));
    tt::sink::repair_utf8(r);
    // After repair every string is valid UTF-8: the record is readable again.
    if (tt::sink::needs_utf8_repair(r)) __builtin_trap();
    tt::fuzz::touch(r.SerializeAsString());
  }
  return 0;
}
