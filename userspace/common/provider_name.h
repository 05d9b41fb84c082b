// What a user may call a provider ([api_hosts], --api-host): a lower-case name in
// the style of OpenTelemetry's gen_ai.provider.name ("anthropic", "aws.bedrock",
// "my-gateway"): letters, digits, '.', '_', '-'; at most 64 bytes.
#pragma once
#include <string_view>

namespace tt {

inline bool valid_provider_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

}  // namespace tt
