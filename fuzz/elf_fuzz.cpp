// ELF discovery on doctored binaries: ElfImage's parsing (segments, sections,
// symbols, notes) and every TLS finder, including the x86-64 decoding of the
// BoringSSL / aws-lc / OpenSSL 3 error-site methods. Input: the file itself.
#include "capture/discovery/tls_discovery.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tt::fuzz::MemFile file({reinterpret_cast<const char*>(data), size});
  auto img = tt::discovery::ElfImage::open(file.path());
  if (!img) return 0;
  const auto& elf = **img;
  tt::fuzz::touch(elf.build_id());
  for (const auto& s : elf.sections()) tt::fuzz::touch(elf.bytes_at(s.addr, 64));
  elf.function_ranges({"SSL_read", "SSL_write", "crypto/tls.(*Conn).Read"});
  // No cache: results are not written anywhere.
  auto b = tt::discovery::discover_tls(elf, nullptr);
  for (const auto& d : b.libraries)
    for (const auto& f : d.functions)
      if (f.file_offset >= elf.size()) __builtin_trap();  // uprobes attach by it
  return 0;
}
