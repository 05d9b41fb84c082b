#include "capture/discovery/discovery_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

namespace tt::discovery {

namespace {

constexpr size_t kVerifyBytes = 32;  // code bytes kept per function to re-verify

// An entry is one file layout's whole scan: {"format": 2, "file_size",
// "libraries": [...]}. Format 1 (one library per entry, "method" at the top)
// is what older tokentap versions sharing the directory read and write: they
// skip these entries, these skip theirs, and neither drops the other's.
constexpr int kEntryFormat = 2;

// Results of the current error-site methods; any other method is stale.
bool current_method(const std::string& m) {
  return m == kBoringSslMethod || m == kAwsLcMethod || m == kOpenSslErrFuncMethod;
}

// This version's entry for a file of this size.
bool ours(const nlohmann::json& e, const ElfImage& img) {
  return e.value("format", 0) == kEntryFormat && e.value("file_size", uint64_t{0}) == img.size();
}

std::string to_hex(std::string_view b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

void mkdirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i)
    if (i == dir.size() || dir[i] == '/') mkdir(dir.substr(0, i).c_str(), 0755);
}

// The build id; for a binary linked without one (Codex), its size and a hash
// of its ELF header, program headers and section headers: layout-specific,
// cheap to read. Either way a hit is trusted only after the code check.
std::string cache_key(const ElfImage& img) {
  std::string id = img.build_id();
  if (!id.empty() || img.size() < 64) return id;
  const uint8_t* p = img.data();
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  auto mix = [&](uint64_t off, uint64_t n) {
    for (uint64_t i = off; i < off + n && i < img.size(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  uint64_t phoff, shoff;
  uint16_t phentsize, phnum, shentsize, shnum;
  memcpy(&phoff, p + 32, 8);
  memcpy(&shoff, p + 40, 8);
  memcpy(&phentsize, p + 54, 2);
  memcpy(&phnum, p + 56, 2);
  memcpy(&shentsize, p + 58, 2);
  memcpy(&shnum, p + 60, 2);
  mix(0, 64);
  mix(phoff, uint64_t(phentsize) * phnum);
  mix(shoff, uint64_t(shentsize) * shnum);
  char b[64];
  snprintf(b, sizeof(b), "noid-%llu-%016llx", static_cast<unsigned long long>(img.size()),
           static_cast<unsigned long long>(h));
  return b;
}

}  // namespace

std::string DiscoveryCache::default_dir() {
  const char* env = getenv("TOKENTAP_CACHE_DIR");
  if (env) return *env ? std::string(env) + "/discovery" : "";
  return "/var/cache/tokentap/discovery";
}

std::string DiscoveryCache::entry_path(const std::string& build_id) const {
  return dir_ + "/" + build_id + ".json";
}

namespace {

// A cached library, if its method is current and the code bytes at every
// function are still the ones seen when it was found: the verification that
// makes a cache hit as safe as a fresh analysis.
std::optional<Discovery> library_from_json(const ElfImage& img, const nlohmann::json& l) {
  if (!l.is_object() || !current_method(l.value("method", ""))) return std::nullopt;
  Discovery d;
  d.library = l.value("library", "");
  d.method = l.value("method", "");
  d.runtime = l.value("runtime", "");
  d.reason = l.value("reason", "");
  d.status = static_cast<DiscoveryStatus>(l.value("status", 1));
  for (const auto& fj : l.value("functions", nlohmann::json::array())) {
    FoundFunction fn;
    fn.name = fj.value("name", "");
    fn.vaddr = fj.value("vaddr", uint64_t{0});
    fn.evidence = fj.value("evidence", "") + " (cached)";
    auto off = img.vaddr_to_offset(fn.vaddr);
    if (!off || to_hex(img.bytes_at(fn.vaddr, kVerifyBytes)) != fj.value("code", "")) return std::nullopt;
    fn.file_offset = *off;
    d.functions.push_back(fn);
  }
  return d;
}

nlohmann::json library_to_json(const ElfImage& img, const Discovery& d) {
  nlohmann::json l;
  l["method"] = d.method;
  l["library"] = d.library;
  l["runtime"] = d.runtime;
  l["status"] = static_cast<int>(d.status);
  l["reason"] = d.reason;
  l["functions"] = nlohmann::json::array();
  for (const auto& fn : d.functions)
    l["functions"].push_back({{"name", fn.name},
                              {"vaddr", fn.vaddr},
                              {"evidence", fn.evidence},
                              {"code", to_hex(img.bytes_at(fn.vaddr, kVerifyBytes))}});
  return l;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  nlohmann::json j = f ? nlohmann::json::parse(f, nullptr, false) : nlohmann::json();
  return j.is_object() ? j : nlohmann::json::object();
}

}  // namespace

bool DiscoveryCache::load(const ElfImage& img, BinaryDiscovery& out) const {
  std::string id = cache_key(img);
  if (dir_.empty() || id.empty()) return false;
  nlohmann::json j = read_json(entry_path(id));
  // Several files can share a build id: one entry per file layout.
  for (const auto& e : j.value("entries", nlohmann::json::array())) {
    if (!e.is_object() || !ours(e, img)) continue;
    BinaryDiscovery b;
    for (const auto& l : e.value("libraries", nlohmann::json::array())) {
      std::optional<Discovery> d = library_from_json(img, l);
      if (!d) break;
      b.libraries.push_back(std::move(*d));
    }
    if (b.libraries.empty() || b.libraries.size() != e.value("libraries", nlohmann::json::array()).size()) continue;
    out = std::move(b);
    return true;
  }
  return false;
}

void DiscoveryCache::store(const ElfImage& img, const BinaryDiscovery& b) const {
  std::string id = cache_key(img);
  if (dir_.empty() || id.empty()) return;
  mkdirs(dir_);
  std::string path = entry_path(id);
  nlohmann::json j = read_json(path);
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : j.value("entries", nlohmann::json::array()))
    if (!e.is_object() || !ours(e, img)) entries.push_back(e);
  nlohmann::json e;
  e["format"] = kEntryFormat;
  e["file_size"] = img.size();
  e["example_path"] = img.path();
  e["libraries"] = nlohmann::json::array();
  for (const auto& d : b.libraries) e["libraries"].push_back(library_to_json(img, d));
  entries.push_back(e);
  j["build_id"] = id;
  j["entries"] = entries;
  // Write then rename: concurrent tokentap processes never see half a file.
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream o(tmp);
    o << j.dump(1) << "\n";
    if (!o) return;
  }
  rename(tmp.c_str(), path.c_str());
}

BinaryDiscovery DiscoveryCache::discover(const ElfImage& img, bool* from_cache) const {
  return discover_tls(img, this, from_cache);
}

}  // namespace tt::discovery
