// Where a binary's TLS read/write entry points are, found from the binary
// itself. Methods:
//  - symbols: OpenSSL (libssl.so, the node binary) exports SSL_read/SSL_write;
//    Go crypto/tls keeps its symbols.
//  - boringssl: Bun links BoringSSL statically and strips every symbol. Its
//    OPENSSL_PUT_ERROR call sites still pass (ERR_LIB_SSL, reason, __FILE__),
//    so the functions in ssl/ssl_lib.cc can be recognised by which reason codes
//    they raise: SSL_write is the one function raising UNINITIALIZED,
//    SSL_HANDSHAKE_FAILURE and BAD_LENGTH; SSL_read raises
//    SHOULD_NOT_HAVE_BEEN_CALLED, reaches ssl_read_impl (UNINITIALIZED,
//    SSL_HANDSHAKE_FAILURE) and, unlike SSL_peek, consumes the buffered data.
//    Reason codes and the file name are stable across BoringSSL releases; code
//    layout is not, so nothing depends on byte signatures or offsets.
//  - aws-lc: the same for crypto/fipsmodule/cipher/aead.c (rustls' records).
//  - openssl-errfunc: a stripped static OpenSSL 3, whose ERR_raise() sites
//    record their function's name (__func__).
// A candidate is used only if it is unambiguous and verified: the entry is a
// 16-byte-aligned function start after padding, decoding from it reaches
// the error sites on instruction boundaries, and other code calls it directly.
// Anything else is refused with the reason, never attached on a guess.
//
// One binary can carry several TLS libraries (Codex: rustls over aws-lc and
// a static OpenSSL 3 for native-tls; Copilot CLI's runtime.node the same two,
// talking through OpenSSL): each one found is reported, Found or Refused, and
// hooked on its own.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "capture/discovery/elf_image.h"

namespace tt::discovery {

struct FoundFunction {
  std::string name;  // SSL_write, SSL_read, SSL_write_ex, SSL_read_ex, SSL_free, AEAD_seal/open/init, ssl_*_internal*
  uint64_t vaddr = 0;
  uint64_t file_offset = 0;  // what uprobes attach by
  std::string evidence;
  std::vector<uint64_t> return_offsets;  // Go: file offsets of its RET instructions
};

enum class DiscoveryStatus {
  Found,    // functions below are safe to attach to
  NoTls,    // no TLS library this method knows of: nothing to do
  Refused,  // looks like a TLS library, but the entry points could not be verified
};

struct Discovery {
  DiscoveryStatus status = DiscoveryStatus::NoTls;
  std::string library;  // "openssl" | "boringssl" | "go" | "aws-lc"
  std::string method;   // "symbols" | kBoringSslMethod | kAwsLcMethod | kOpenSslErrFuncMethod
  std::string runtime;  // e.g. "Bun v1.4.4", when the binary says
  std::string reason;   // why NoTls / Refused, in words a user can act on
  std::vector<FoundFunction> functions;

  const FoundFunction* function(const std::string& name) const {
    for (const auto& f : functions)
      if (f.name == name) return &f;
    return nullptr;
  }
};

// Every TLS library found in one binary, in discovery order, each Found or
// Refused (a library that is not there is not listed).
struct BinaryDiscovery {
  std::vector<Discovery> libraries;
  std::string reason;  // with no library: what was looked for

  const Discovery* library(const std::string& name) const {
    for (const auto& l : libraries)
      if (l.library == name) return &l;
    return nullptr;
  }
};

// Bumped whenever a method changes, so cached results of an older method are
// not trusted.
inline constexpr const char* kBoringSslMethod = "boringssl-error-sites/1";
inline constexpr const char* kAwsLcMethod = "awslc-aead-error-sites/2";
inline constexpr const char* kOpenSslErrFuncMethod = "openssl-errfunc-sites/3";

Discovery find_openssl_symbols(const ElfImage& img);
// OpenSSL 3 in a stripped binary: ssl_read_internal and ssl_write_internal
// (named "ssl_write_internal_flags" from OpenSSL 3.2 on, where it took a flags
// argument before `written`), found from the __func__ names their ERR_raise()
// sites record.
Discovery find_openssl_errfunc(const ElfImage& img);
Discovery find_boringssl(const ElfImage& img);
// aws-lc's EVP_AEAD_CTX_seal/open (the record layer under rustls), found like
// BoringSSL's from the error sites of crypto/fipsmodule/cipher/aead.c:
// functions AEAD_seal, AEAD_open and, when unambiguous, AEAD_init and
// AEAD_seal_scatter.
Discovery find_awslc_aead(const ElfImage& img);
// Go crypto/tls by symbol ((*Conn).Read/Write), register ABI (Go >= 1.17) only.
Discovery find_go_tls(const ElfImage& img);
class DiscoveryCache;

// OpenSSL symbols, else Go crypto/tls (exported symbols name the binary's TLS
// outright), else the error-site scans: BoringSSL's TLS layer or, without it,
// aws-lc's AEAD; and beside either a static OpenSSL 3. The scans are slow
// enough to go through `cache` when one is given.
BinaryDiscovery discover_tls(const ElfImage& img, const DiscoveryCache* cache = nullptr, bool* from_cache = nullptr);

}  // namespace tt::discovery
