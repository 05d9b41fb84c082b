#include "collector/auth.h"

#include "common/text_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace tt::collector {

namespace {

// Every byte looked at, whatever matches: no timing tells how much of a token was right.
bool same(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.size() ? b.size() : 1)]);
  return diff == 0 && !b.empty();
}

}  // namespace

Result<Tokens> Tokens::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("cannot read the token file " + path + ": " + strerror(errno));
  std::vector<std::string> tokens;
  for (std::string line; std::getline(in, line);)
    if (auto t = trim(line); !t.empty() && t[0] != '#') tokens.emplace_back(t);
  if (tokens.empty()) return make_error("the token file " + path + " holds no token");
  return of(std::move(tokens));
}

bool Tokens::accepts(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer)) return false;
  std::string_view given = authorization.substr(kBearer.size());
  bool ok = false;
  for (const auto& t : tokens_) ok |= same(given, t);  // all compared, no early exit
  return ok;
}

}  // namespace tt::collector
