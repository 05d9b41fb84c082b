// What the capture tells the pipeline about each binary it examined for TLS
// (TT_EV_TLS_HOOK records): the run summary lists them, and a request seen
// only at the socket says from them why its process had no plaintext hook.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "capture/bpf/tracer.h"

namespace tt::engine {

// The TLS library a mapped file is, when tokentap has no hook for it
// ("gnutls", "nss", "wolfssl", "mbedtls", "botan", "s2n"); "" otherwise. By file
// name: these export no SSL_read/SSL_write for discovery to report on.
std::string unsupported_tls_library(std::string_view path);

// A file a process maps that may carry TLS: a libssl by name, a Node native
// addon (Copilot CLI's runtime.node has its own OpenSSL), or an unsupported
// TLS library (reported, not examined).
bool maybe_tls_library(std::string_view path);

// A path the capture opened ("/proc/PID/root/usr/lib/x.so", "/proc/PID/exe")
// as the process sees it, and the PID in it; any other path resolved (pid 0).
struct SeenPath {
  std::string path;
  uint32_t pid = 0;
};
SeenPath seen_path(const std::string& opened);

// The records' JSON from an attach: one per TLS library in the file (status
// "hooked" | "refused"), or one of status "none" when it has none.
std::vector<std::string> tls_hook_jsons(const std::string& path, const capture::AttachInfo& a);
// A mapped library of a kind tokentap cannot hook.
std::string unsupported_tls_json(const std::string& path, const std::string& library);

}  // namespace tt::engine
