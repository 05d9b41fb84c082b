// tokentap inspect FILE... / --pid PID: what tokentap would attach to in each
// binary (or in the files a running process maps), and why not where it would
// not: every TLS library found, each with the method that found it and its
// status. Needs no root for files and loads no BPF.
#include <cstdio>

#include "capture/discovery/discovery_cache.h"
#include "cli/commands.h"
#include "engine/procfs.h"
#include "engine/tls_hook_report.h"

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

// One file's report; false if it cannot be read or a library in it was refused.
bool inspect_file(discovery::DiscoveryCache& cache, const std::string& path, const std::string& shown) {
  auto img = discovery::ElfImage::open(path);
  if (!img) {
    printf("%s: %s\n", shown.c_str(), img.error().c_str());
    return false;
  }
  bool cached = false, ok = true;
  discovery::BinaryDiscovery b = cache.discover(**img, &cached);
  std::string id = (*img)->build_id();
  printf("%s\n  build id: %s\n", shown.c_str(), id.empty() ? "(none)" : id.c_str());
  if (b.libraries.empty()) printf("  TLS: none found (%s)\n", b.reason.c_str());
  for (const auto& d : b.libraries) ok &= print_library(d, cached);
  return ok;
}

// A running process: its executable and each mapped file that may carry TLS,
// as the capture would examine them (through /proc/PID/root).
bool inspect_pid(discovery::DiscoveryCache& cache, uint32_t pid) {
  std::string proc = "/proc/" + std::to_string(pid);
  auto maps = engine::mapped_files(pid);
  std::string exe = engine::read_link(proc + "/exe");
  if (!maps || exe.empty()) {
    printf("pid %u: cannot read %s/maps and exe (gone, a kernel thread, or not root?)\n", pid, proc.c_str());
    return false;
  }
  printf("pid %u: %s\n", pid, exe.c_str());
  bool ok = inspect_file(cache, proc + "/exe", exe);
  for (const auto& path : *maps) {
    if (path == exe || !engine::maybe_tls_library(path)) continue;
    if (std::string other = engine::unsupported_tls_library(path); !other.empty()) {
      printf("%s\n  TLS: %s: unsupported: tokentap has no plaintext hook for it; connections through it are "
             "seen at the socket only (tokens estimated)\n", path.c_str(), other.c_str());
      continue;
    }
    ok &= inspect_file(cache, proc + "/root" + path, path);
  }
  return ok;
}

}  // namespace

int run_inspect(const std::vector<std::string>& files, const std::vector<uint32_t>& pids) {
  discovery::DiscoveryCache cache(discovery::DiscoveryCache::default_dir());
  int rc = 0;
  for (const auto& path : files)
    if (!inspect_file(cache, path, path)) rc = 1;
  for (uint32_t pid : pids)
    if (!inspect_pid(cache, pid)) rc = 1;
  return rc;
}

}  // namespace tt::cli
