// Who may ship to the collector: bearer tokens from --token-file (one per
// line; blank lines and lines starting with # are ignored), compared in
// constant time. A client certificate signed by --tls-client-ca is the other
// way in (checked by TLS itself, server.cpp).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tt::collector {

class Tokens {
 public:
  static Result<Tokens> load(const std::string& path);
  static Tokens of(std::vector<std::string> tokens) {
    Tokens t;
    t.tokens_ = std::move(tokens);
    return t;
  }
  // The `authorization` metadata's value: "Bearer TOKEN".
  bool accepts(std::string_view authorization) const;
  bool empty() const { return tokens_.empty(); }

 private:
  std::vector<std::string> tokens_;
};

}  // namespace tt::collector
