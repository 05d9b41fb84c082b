// Who bills a call: tokentap's one table of vendor hosts, the user's own names for
// gateways and self-hosted servers, and the paths only one provider serves.
#include <array>
#include <charconv>

#include "provider/provider.h"

namespace tt::provider {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

struct HostRule {
  std::string_view prefix, suffix;  // host == prefix + anything + suffix ("" anything for exact)
  bool exact;
  std::string_view provider;
};

// Exact names first; then the clouds' per-region and per-resource names.
constexpr HostRule kHosts[] = {
    {"api.anthropic.com", "", true, "anthropic"},
    {"api.openai.com", "", true, "openai"},
    {"chatgpt.com", "", true, "openai"},  // Codex with a ChatGPT login
    {"generativelanguage.googleapis.com", "", true, "gcp.gemini"},
    {"cloudcode-pa.googleapis.com", "", true, "gcp.gen_ai"},  // Gemini Code Assist
    {"api.deepseek.com", "", true, "deepseek"},
    {"openrouter.ai", "", true, "openrouter"},
    {"api.moonshot.ai", "", true, "moonshot"},
    {"api.moonshot.cn", "", true, "moonshot"},
    {"api.z.ai", "", true, "zai"},
    {"open.bigmodel.cn", "", true, "zai"},
    {"api.minimax.io", "", true, "minimax"},
    {"api.minimaxi.com", "", true, "minimax"},
    {"api.xiaomimimo.com", "", true, "xiaomi"},
    {"api.x.ai", "", true, "x_ai"},
    {"api.mistral.ai", "", true, "mistral_ai"},
    {"api.groq.com", "", true, "groq"},
    {"", "aiplatform.googleapis.com", false, "gcp.vertex_ai"},  // "us-east5-aiplatform...", "aiplatform..."
    {"bedrock-runtime.", ".amazonaws.com", false, "aws.bedrock"},
    {"bedrock-runtime-fips.", ".amazonaws.com", false, "aws.bedrock"},
    {"", ".openai.azure.com", false, "azure.ai.openai"},
    {"", ".cognitiveservices.azure.com", false, "azure.ai.openai"},
    {"", ".services.ai.azure.com", false, "azure.ai.openai"},
    {"", ".augmentcode.com", false, "augment"},  // a tenant's backend: "d1.api.augmentcode.com"
};

bool matches(const HostRule& r, std::string_view h) {
  if (r.exact) return h == r.prefix;
  return h.size() >= r.prefix.size() + r.suffix.size() && h.starts_with(r.prefix) && h.ends_with(r.suffix);
}

bool is_ipv4_loopback(std::string_view h) {
  if (!h.starts_with("127.")) return false;
  int dots = 0;
  for (char c : h) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') return false;
  }
  return dots == 3;
}

bool is_loopback(std::string_view h) {
  return h == "localhost" || h.ends_with(".localhost") || h == "[::1]" || h == "::1" || is_ipv4_loopback(h);
}

uint32_t port_of(std::string_view host) {
  size_t colon = host.rfind(':');
  if (colon == std::string_view::npos || host.find(':') != colon) {
    if (!host.starts_with('[') || host.find("]:") == std::string_view::npos) return 0;
    colon = host.find("]:") + 1;
  }
  uint32_t port = 0;
  std::string_view p = host.substr(colon + 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  return ec == std::errc() && end == p.data() + p.size() ? port : 0;
}

}  // namespace

std::string host_key(std::string_view host) {
  if (host.starts_with('[')) return lower(host.substr(0, host.find(']') + 1));  // "[::1]:443" -> "[::1]"
  size_t colon = host.find(':');
  bool port = colon != std::string_view::npos && host.rfind(':') == colon;  // one colon: HOST:PORT
  return lower(port ? host.substr(0, colon) : host);
}

std::string provider_for_host(std::string_view host) {
  std::string h = host_key(host);
  if (h.ends_with('.')) h.pop_back();  // a fully qualified "api.openai.com."
  for (const HostRule& r : kHosts)
    if (matches(r, h)) return std::string(r.provider);
  if (is_loopback(h)) return port_of(host) == 11434 ? "ollama" : std::string(kLocalProvider);
  return {};
}

const std::string* mapped_provider(const HostMap* map, std::string_view host) {
  if (!map || map->empty() || host.empty()) return nullptr;
  if (auto it = map->find(host); it != map->end()) return &it->second;
  if (auto it = map->find(host_key(host)); it != map->end()) return &it->second;
  return nullptr;
}

const char* wire_format_name(WireFormat w) {
  switch (w) {
    case WireFormat::AnthropicMessages:
      return "anthropic_messages";
    case WireFormat::OpenAIChat:
      return "openai_chat";
    case WireFormat::OpenAIResponses:
      return "openai_responses";
    case WireFormat::Gemini:
      return "gemini";
    case WireFormat::BedrockInvoke:
      return "bedrock_invoke";
    case WireFormat::BedrockConverse:
      return "bedrock_converse";
    case WireFormat::Ollama:
      return "ollama";
    case WireFormat::Augment:
      return "augment";
    case WireFormat::Unknown:
      return "unknown";
    case WireFormat::None:
      break;
  }
  return "";
}

}  // namespace tt::provider
