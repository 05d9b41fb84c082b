// Discovery results cached per build id (or, without one, per file size and
// ELF layout hash), so a 400 MB Bun binary is analysed
// once, not at every exec. A cached entry is never trusted blindly: it is used
// only if the method version matches and the code bytes at every cached
// address are still the ones seen when it was found (the same build id can
// come with different file layouts, e.g. Bun with different embedded apps).
#pragma once
#include <string>

#include "capture/discovery/tls_discovery.h"

namespace tt::discovery {

class DiscoveryCache {
 public:
  // dir "" disables caching. Default: $TOKENTAP_CACHE_DIR or /var/cache/tokentap/discovery.
  explicit DiscoveryCache(std::string dir) : dir_(std::move(dir)) {}
  static std::string default_dir();

  // discover_tls(), through the cache. `from_cache` says whether it was a hit.
  BinaryDiscovery discover(const ElfImage& img, bool* from_cache = nullptr) const;

  // A verified error-site scan result (BoringSSL, aws-lc, OpenSSL 3: every
  // library of the file) for this file, if one was stored.
  bool load(const ElfImage& img, BinaryDiscovery& out) const;
  void store(const ElfImage& img, const BinaryDiscovery& b) const;

 private:
  std::string entry_path(const std::string& build_id) const;

  std::string dir_;
};

}  // namespace tt::discovery
