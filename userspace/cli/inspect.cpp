// tokentap inspect FILE...: what tokentap would attach to in each binary, and
// why not where it would not: every TLS library found in it, each with the
// method that found it and its status. Needs no root and loads no BPF.
#include <cstdio>

#include "capture/discovery/discovery_cache.h"
#include "cli/commands.h"

namespace tt::cli {

namespace {

// One library's lines; false if it was refused.
bool print_library(const discovery::Discovery& d, bool cached) {
  printf("  TLS: %s%s%s\n", d.library.c_str(), d.runtime.empty() ? "" : " (", d.runtime.empty() ? "" : (d.runtime + ")").c_str());
  printf("    method: %s%s\n", d.method.c_str(), cached ? " (cached)" : "");
  switch (d.status) {
    case discovery::DiscoveryStatus::Found:
      printf("    status: found\n");
      for (const auto& f : d.functions)
        printf("    %-24s vaddr 0x%llx  file offset 0x%llx  (%s)\n", f.name.c_str(),
               static_cast<unsigned long long>(f.vaddr), static_cast<unsigned long long>(f.file_offset),
               f.evidence.c_str());
      return true;
    case discovery::DiscoveryStatus::Refused:
      printf("    status: NOT instrumentable: %s\n", d.reason.c_str());
      return false;
    case discovery::DiscoveryStatus::NoTls:
      break;
  }
  return true;
}

}  // namespace

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
    discovery::BinaryDiscovery b = cache.discover(**img, &cached);
    std::string id = (*img)->build_id();
    printf("%s\n  build id: %s\n", path.c_str(), id.empty() ? "(none)" : id.c_str());
    if (b.libraries.empty()) printf("  TLS: none found (%s)\n", b.reason.c_str());
    for (const auto& d : b.libraries)
      if (!print_library(d, cached)) rc = 1;
  }
  return rc;
}

}  // namespace tt::cli
