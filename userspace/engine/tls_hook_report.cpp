#include "engine/tls_hook_report.h"

#include <climits>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "engine/procfs.h"

namespace tt::engine {

std::string unsupported_tls_library(std::string_view path) {
  std::string_view file = path.substr(path.rfind('/') + 1);
  static const std::pair<const char*, const char*> kLibs[] = {
      {"libgnutls.so", "gnutls"},   {"libnss3.so", "nss"},        {"libssl3.so", "nss"},
      {"libwolfssl.so", "wolfssl"}, {"libmbedtls.so", "mbedtls"}, {"libbotan-", "botan"},
      {"libs2n.so", "s2n"},
  };
  for (const auto& [prefix, name] : kLibs)
    if (file.starts_with(prefix)) return name;
  return "";
}

bool maybe_tls_library(std::string_view path) {
  return path.find("ssl") != std::string_view::npos || path.ends_with(".node") || !unsupported_tls_library(path).empty();
}

SeenPath seen_path(const std::string& opened) {
  constexpr std::string_view kProc = "/proc/";
  if (!opened.starts_with(kProc)) {  // the system's libssl, by one of its names
    char real[PATH_MAX];
    return {realpath(opened.c_str(), real) ? std::string(real) : opened, 0};
  }
  size_t slash = opened.find('/', kProc.size());
  if (slash == std::string::npos) return {opened, 0};
  uint32_t pid = 0;
  for (size_t i = kProc.size(); i < slash; ++i) {
    if (opened[i] < '0' || opened[i] > '9' || pid > 400'000'000) return {opened, 0};
    pid = pid * 10 + static_cast<uint32_t>(opened[i] - '0');
  }
  std::string_view rest = std::string_view(opened).substr(slash);
  if (rest == "/exe") {
    std::string target = read_link(opened);
    return {target.empty() ? opened : target, pid};
  }
  if (rest.starts_with("/root/")) return {std::string(rest.substr(5)), pid};
  return {opened, pid};
}

std::vector<std::string> tls_hook_jsons(const std::string& path, const capture::AttachInfo& a) {
  std::vector<std::string> out;
  for (const auto& l : a.libraries) {
    nlohmann::json j;
    j["path"] = path;
    j["library"] = l.library;
    j["runtime"] = l.runtime;
    j["method"] = l.method;
    j["status"] = l.refused ? "refused" : l.attached ? "hooked" : "none";
    j["detail"] = l.detail;
    if (l.hook) j["hook"] = l.hook;
    out.push_back(j.dump());
  }
  if (out.empty()) out.push_back(nlohmann::json{{"path", path}, {"status", "none"}, {"detail", a.reason}}.dump());
  return out;
}

std::string unsupported_tls_json(const std::string& path, const std::string& library) {
  nlohmann::json j;
  j["path"] = path;
  j["library"] = library;
  j["status"] = "unsupported";
  j["detail"] = "tokentap has no plaintext hook for " + library + ": its connections are seen at the socket only";
  return j.dump();
}

}  // namespace tt::engine
