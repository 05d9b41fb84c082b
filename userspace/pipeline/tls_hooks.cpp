#include "pipeline/tls_hooks.h"

#include <nlohmann/json.hpp>

namespace tt::pipeline {

bool parse_tls_hook(const nlohmann::json& j, TlsHookInfo& out) {
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  out = {str("path"), str("library"), str("runtime"), str("method"), str("detail"), str("status")};
  if (j.contains("hook") && j["hook"].is_number_unsigned() && j["hook"].get<uint64_t>() <= UINT16_MAX)
    out.hook = j["hook"].get<uint32_t>();
  static const char* const kStatuses[] = {"hooked", "refused", "unsupported", "none"};
  bool known = false;
  for (const char* s : kStatuses) known |= out.status == s;
  return known && !out.path.empty();
}

const std::string* TlsHookBook::path_of_hook(uint32_t hook) const {
  auto it = path_by_hook_.find(hook);
  return hook && it != path_by_hook_.end() ? &it->second : nullptr;
}

bool TlsHookBook::add(uint32_t pid, const std::string& exe, const TlsHookInfo& h) {
  if (h.hook && h.status == "hooked" && path_by_hook_.size() < kMaxBinaries) path_by_hook_[h.hook] = h.path;
  // A library of the process that explains a gap: one with no hook, or one
  // refused (beside a hooked library no warning named it when it was examined).
  bool explains = h.status == "unsupported" || (h.status == "refused" && pid && h.path != exe);
  if (explains && mapped_.size() < kMaxBinaries) {
    auto& libs = mapped_[exe.empty() ? "pid " + std::to_string(pid) : exe];
    bool known = false;
    for (const auto& l : libs) known |= l.path == h.path;
    if (!known && libs.size() < 16) libs.push_back(h);
  }
  auto& at = by_path_[h.path];
  for (size_t i : at)
    if (binaries_[i].library == h.library) return false;
  if (binaries_.size() >= kMaxBinaries) return false;
  at.push_back(binaries_.size());
  binaries_.push_back(h);
  return true;
}

static std::string why_of(const std::string& exe, const TlsHookInfo& h) {
  if (h.status == "none")
    return exe + " carries no TLS library tokentap hooks" + (h.detail.empty() ? "" : " (" + h.detail + ")");
  if (h.status == "refused") return exe + " carries " + h.library + ", not hooked: " + h.detail;
  if (h.status == "hooked")
    return exe + "'s " + h.library + " is hooked, but this connection's TLS ran elsewhere (a library or addon it loaded)";
  return "";
}

std::string TlsHookBook::why_unhooked(uint32_t pid, const std::string& exe) const {
  std::string why;
  if (auto it = by_path_.find(exe); it != by_path_.end())
    for (size_t i : it->second) {
      std::string w = why_of(exe, binaries_[i]);
      if (!w.empty()) why += (why.empty() ? "" : "; ") + w;
    }
  for (const std::string& key : {exe, "pid " + std::to_string(pid)})
    if (auto it = mapped_.find(key); !key.empty() && it != mapped_.end())
      for (const auto& l : it->second)
        why += (why.empty() ? "it maps " : "; it maps ") + l.path + " (" + l.library +
               (l.status == "refused" ? ", not hooked" : "") + "): " + l.detail;
  return why;
}

}  // namespace tt::pipeline
