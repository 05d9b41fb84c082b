// Where a binary's TLS read/write entry points are, found from the binary
// itself. Two methods:
//  - symbols: OpenSSL (libssl.so, the node binary) exports SSL_read/SSL_write.
//  - boringssl: Bun links BoringSSL statically and strips every symbol. Its
//    OPENSSL_PUT_ERROR call sites still pass (ERR_LIB_SSL, reason, __FILE__),
//    so the functions in ssl/ssl_lib.cc can be recognised by which reason codes
//    they raise: SSL_write is the one function raising UNINITIALIZED,
//    SSL_HANDSHAKE_FAILURE and BAD_LENGTH; SSL_read raises
//    SHOULD_NOT_HAVE_BEEN_CALLED, reaches ssl_read_impl (UNINITIALIZED,
//    SSL_HANDSHAKE_FAILURE) and, unlike SSL_peek, consumes the buffered data.
//    Reason codes and the file name are stable across BoringSSL releases; code
//    layout is not, so nothing depends on byte signatures or offsets.
// A candidate is used only if it is unambiguous and verified: the entry is a
// 16-byte-aligned function start after int3 padding, decoding from it reaches
// the error sites on instruction boundaries, and other code calls it directly.
// Anything else is refused with the reason, never attached on a guess.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "capture/discovery/elf_image.h"

namespace tt::discovery {

struct FoundFunction {
  std::string name;  // SSL_write, SSL_read, SSL_write_ex, SSL_read_ex, SSL_free, AEAD_seal/open/init
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
  std::string method;   // "symbols" | kBoringSslMethod
  std::string runtime;  // e.g. "Bun v1.4.4", when the binary says
  std::string reason;   // why NoTls / Refused, in words a user can act on
  std::vector<FoundFunction> functions;

  const FoundFunction* function(const std::string& name) const {
    for (const auto& f : functions)
      if (f.name == name) return &f;
    return nullptr;
  }
};

// Bumped whenever the BoringSSL method changes, so cached results of an older
// method are not trusted.
inline constexpr const char* kBoringSslMethod = "boringssl-error-sites/1";
inline constexpr const char* kAwsLcMethod = "awslc-aead-error-sites/3";  // /3: a refusal now falls back to openssl-errfunc-sites
inline constexpr const char* kOpenSslErrFuncMethod = "openssl-errfunc-sites/2";

Discovery find_openssl_symbols(const ElfImage& img);
// OpenSSL 3 in a stripped binary: ssl_write_internal and ssl_read_internal,
// found from the __func__ names their ERR_raise() sites record.
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

// OpenSSL symbols, then Go crypto/tls, then BoringSSL, then aws-lc; the last
// two are slow enough to go through `cache` when one is given.
Discovery discover_tls(const ElfImage& img, const DiscoveryCache* cache = nullptr, bool* from_cache = nullptr);

}  // namespace tt::discovery
