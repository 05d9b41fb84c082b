// tokentap inspect FILE...: what tokentap would attach to in each binary, and
// why not where it would not. Needs no root and loads no BPF.
#include <cstdio>

#include "capture/discovery/discovery_cache.h"
#include "cli/commands.h"

namespace tt::cli {

int run_inspect(const std::vector<std::string>& files) {
  discovery::DiscoveryCache cache(discovery::DiscoveryCache::default_dir());
  int rc = 0;
  for (const auto& path : files) {
    auto img = discovery::ElfImage::open(path);
    if (!img) {
      printf("%s: %s\n", path.c_str(), img.error().c_str());
      rc = 1;
      continue;
    }
    bool cached = false;
    discovery::Discovery d = cache.discover(**img, &cached);
    std::string id = (*img)->build_id();
    printf("%s\n  build id: %s\n", path.c_str(), id.empty() ? "(none)" : id.c_str());
    if (!d.runtime.empty()) printf("  runtime: %s\n", d.runtime.c_str());
    switch (d.status) {
      case discovery::DiscoveryStatus::Found:
        printf("  TLS: %s, found by %s%s\n", d.library.c_str(), d.method.c_str(), cached ? " (cached)" : "");
        for (const auto& f : d.functions)
          printf("    %-17s vaddr 0x%llx  file offset 0x%llx  (%s)\n", f.name.c_str(),
                 static_cast<unsigned long long>(f.vaddr), static_cast<unsigned long long>(f.file_offset),
                 f.evidence.c_str());
        break;
      case discovery::DiscoveryStatus::NoTls:
        printf("  TLS: none found (%s)\n", d.reason.c_str());
        break;
      case discovery::DiscoveryStatus::Refused:
        printf("  TLS: NOT instrumentable: %s\n", d.reason.c_str());
        rc = 1;
        break;
    }
  }
  return rc;
}

}  // namespace tt::cli
