// Harness identification: two tables, searched in order, first match wins.
//
// To recognise a new harness, add a row to kHarnessRules (before the generic
// clients its requests would otherwise match, e.g. the SDK it is built on); if it
// sends its own session id somewhere the generic rows do not look, add a row to
// kSessionRules. tests/unit/harness_test.cpp checks every row against the headers
// real harnesses sent (tests/data/harnesses/*.server.jsonl).
#include "provider/harness.h"

#include <array>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <vector>

namespace tt::provider {
namespace {

using nlohmann::json;

struct HarnessRule {
  std::string_view name;     // short name in records
  std::string_view source;   // "header:<name>" or "body:<dotted.path>"
  std::string_view pattern;  // ECMAScript, case-insensitive, searched in the value;
                             // capture group 1, when it matched, is the version
};

// Agent harnesses first, then the SDKs and HTTP clients they are built on, so that
// traffic from an unknown tool still says what made it.
constexpr std::array kHarnessRules = {
    // Claude Code: "claude-cli/2.1.330 (external, cli)"; also x-app: cli.
    HarnessRule{"claude-code", "header:user-agent", R"(^claude-cli/([0-9][^\s/()]*))"},
    HarnessRule{"claude-code", "header:x-app", R"(^cli$)"},
    // OpenCode: "opencode/1.18.33 ..."; Kilo Code CLI is an OpenCode fork.
    HarnessRule{"kilo", "header:user-agent", R"(^kilo(?:code|-code)?(?:-cli)?/([0-9][^\s/()]*))"},
    HarnessRule{"opencode", "header:user-agent", R"(^opencode/([0-9][^\s/()]*))"},
    // Cline: "Cline/3.0.65", X-CLIENT-VERSION.
    HarnessRule{"cline", "header:user-agent", R"(^cline/([0-9][^\s/()]*))"},
    HarnessRule{"cline", "header:x-client-type", R"(cline)"},
    HarnessRule{"cline", "header:originator", R"(^cline$)"},
    // Gemini CLI: "GeminiCLI/0.61.0/gemini-2.5-pro (linux; x64)".
    HarnessRule{"gemini-cli", "header:user-agent", R"(^geminicli/([0-9][^\s/()]*))"},
    // pi coding agent (@mariozechner/pi-coding-agent) and OpenClaw (built on pi).
    HarnessRule{"openclaw", "header:user-agent", R"(\bopenclaw/([0-9][^\s/()]*))"},
    HarnessRule{"openclaw", "header:user-agent", R"(\bopenclaw\b)"},
    HarnessRule{"pi", "header:user-agent", R"(\bpi-coding-agent/([0-9][^\s/()]*))"},
    HarnessRule{"pi", "header:user-agent", R"(^pi/([0-9][^\s/()]*))"},
    // Codex CLI (Rust): "codex_cli_rs/0.169.0 (...)", "codex_exec/..."; originator header.
    HarnessRule{"codex", "header:user-agent", R"(^codex[_-][a-z_]+/([0-9][^\s/()]*))"},
    HarnessRule{"codex", "header:originator", R"(^codex)"},

    // SDKs (Stainless-generated ones say "Anthropic/JS 0.71.0", "OpenAI/Python 1.99.0").
    HarnessRule{"anthropic-sdk-js", "header:user-agent", R"(^anthropic/js ([0-9][^\s/()]*))"},
    HarnessRule{"anthropic-sdk-python", "header:user-agent", R"(^(?:async)?anthropic/python ([0-9][^\s/()]*))"},
    HarnessRule{"openai-sdk-js", "header:user-agent", R"(^openai/js ([0-9][^\s/()]*))"},
    HarnessRule{"openai-sdk-python", "header:user-agent", R"(^(?:async)?openai/python ([0-9][^\s/()]*))"},
    HarnessRule{"google-genai-sdk", "header:user-agent", R"(\bgoogle-genai-sdk/([0-9][^\s/()]*))"},
    HarnessRule{"google-genai-sdk", "header:x-goog-api-client", R"(\bgoogle-genai-sdk/([0-9][^\s/()]*))"},
    HarnessRule{"ai-sdk", "header:user-agent", R"(\bai-sdk/([a-z-]+/)?([0-9][^\s/()]*))"},
    // HTTP clients.
    HarnessRule{"curl", "header:user-agent", R"(^curl/([0-9][^\s/()]*))"},
    HarnessRule{"python-requests", "header:user-agent", R"(^python-requests/([0-9][^\s/()]*))"},
    HarnessRule{"python-httpx", "header:user-agent", R"(^python-httpx/([0-9][^\s/()]*))"},
    HarnessRule{"python-aiohttp", "header:user-agent", R"(\baiohttp/([0-9][^\s/()]*))"},
    HarnessRule{"python-urllib", "header:user-agent", R"(^python-urllib/([0-9][^\s/()]*))"},
    HarnessRule{"node-fetch", "header:user-agent", R"(^node-fetch(?:/([0-9][^\s/()]*))?)"},
    HarnessRule{"node", "header:user-agent", R"(^node$)"},
    HarnessRule{"bun", "header:user-agent", R"(^bun/([0-9][^\s/()]*))"},
    HarnessRule{"deno", "header:user-agent", R"(^deno/([0-9][^\s/()]*))"},
    HarnessRule{"go-http-client", "header:user-agent", R"(^go-http-client/([0-9][^\s/()]*))"},
    HarnessRule{"okhttp", "header:user-agent", R"(^okhttp/([0-9][^\s/()]*))"},
    HarnessRule{"wget", "header:user-agent", R"(^wget/([0-9][^\s/()]*))"},
};

struct SessionRule {
  std::string_view harness;  // only for this harness; "" for any request
  std::string_view source;   // "header:<name>" or "body:<dotted.path>"
  std::string_view pattern;  // "" takes the whole value; else capture group 1
};

// The harness's own session (or task / conversation) id, most specific first.
constexpr std::array kSessionRules = {
    SessionRule{"", "header:x-claude-code-session-id", ""},
    // Older Claude Code only had it inside metadata.user_id:
    // "user_<hash>_account_<uuid>_session_<uuid>" or a JSON string with "session_id".
    SessionRule{"claude-code", "body:metadata.user_id", R"(session_([0-9a-f-]{8,}))"},
    SessionRule{"claude-code", "body:metadata.user_id", R"re("session_id"\s*:\s*"([^"]+)")re"},
    // Gemini Code Assist (cloudcode-pa) carries it in the body.
    SessionRule{"", "body:request.session_id", ""},
    SessionRule{"", "header:x-gemini-cli-session-id", ""},
    SessionRule{"", "header:session_id", ""},  // Codex, Cline (Codex provider)
    SessionRule{"", "header:session-id", ""},
    SessionRule{"", "header:x-session-id", ""},
    SessionRule{"", "header:x-session-affinity", ""},  // OpenCode, Kilo
    SessionRule{"", "header:x-opencode-session", ""},
    SessionRule{"", "header:conversation_id", ""},
    SessionRule{"", "header:x-task-id", ""},  // Cline
};

constexpr size_t kMaxVersion = 64;
constexpr size_t kMaxSessionId = 256;

constexpr std::array<std::string_view, 8> kSecretHeaders = {
    "authorization", "proxy-authorization", "x-api-key",  "x-goog-api-key",
    "api-key",       "cookie",              "set-cookie", "chatgpt-account-id"};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A source string split once: header name, or body path segments.
struct Source {
  bool header = false;
  std::string name;               // header name
  std::vector<std::string> path;  // body path
};

Source parse_source(std::string_view s) {
  Source out;
  if (s.starts_with("header:")) {
    out.header = true;
    out.name = std::string(s.substr(7));
    return out;
  }
  s.remove_prefix(std::min(s.size(), std::string_view("body:").size()));
  while (!s.empty()) {
    size_t dot = std::min(s.find('.'), s.size());
    out.path.emplace_back(s.substr(0, dot));
    s.remove_prefix(std::min(dot + 1, s.size()));
  }
  return out;
}

std::optional<std::regex> compile(std::string_view pattern) {
  if (pattern.empty()) return std::nullopt;
  return std::regex(pattern.begin(), pattern.end(), std::regex::ECMAScript | std::regex::icase);
}

// A rule with its source parsed and its pattern compiled.
template <class Rule>
struct Compiled {
  const Rule* rule;
  Source source;
  std::optional<std::regex> re;  // none: the whole value
};

// Compiled once; rules that would read a secret header are dropped (the test
// suite fails on them, so none ship).
template <class Rule, size_t N>
std::vector<Compiled<Rule>> compile_all(const std::array<Rule, N>& table) {
  std::vector<Compiled<Rule>> v;
  for (const Rule& r : table) {
    Source s = parse_source(r.source);
    if (s.header && is_secret_header(s.name)) continue;
    v.push_back({&r, std::move(s), compile(r.pattern)});
  }
  return v;
}

const std::vector<Compiled<HarnessRule>>& harness_rules() {
  static const auto rules = compile_all(kHarnessRules);
  return rules;
}

const std::vector<Compiled<SessionRule>>& session_rules() {
  static const auto rules = compile_all(kSessionRules);
  return rules;
}

// Reads rule sources from one request; the body is parsed at most once, and
// only if a body rule is reached.
class Fields {
 public:
  Fields(const protocol::HttpMessage& req, std::string_view body, const json* parsed)
      : req_(req), body_(body), parsed_(parsed) {}

  std::optional<std::string> get(const Source& s) {
    if (s.header) {
      const std::string* v = req_.header(s.name);
      if (!v || v->empty()) return std::nullopt;
      return *v;
    }
    const json* node = doc();
    for (const auto& key : s.path) {
      if (!node || !node->is_object()) return std::nullopt;
      auto it = node->find(key);
      if (it == node->end()) return std::nullopt;
      node = &*it;
    }
    if (!node) return std::nullopt;
    if (node->is_string() && !node->get_ref<const std::string&>().empty()) return node->get<std::string>();
    if (node->is_number_integer()) return node->dump();
    return std::nullopt;
  }

 private:
  const json* doc() {
    if (parsed_) return parsed_;
    if (!own_) {
      own_ = json::parse(body_.begin(), body_.end(), nullptr, /*allow_exceptions=*/false);
    }
    return own_->is_discarded() ? nullptr : &*own_;
  }

  const protocol::HttpMessage& req_;
  std::string_view body_;
  const json* parsed_;
  std::optional<json> own_;
};

}  // namespace

bool is_secret_header(std::string_view name) {
  for (std::string_view s : kSecretHeaders)
    if (iequals(name, s)) return true;
  return false;
}

std::vector<std::string_view> harness_rule_sources() {
  std::vector<std::string_view> out;
  for (const auto& r : kHarnessRules) out.push_back(r.source);
  for (const auto& r : kSessionRules) out.push_back(r.source);
  return out;
}

Harness identify_harness(const protocol::HttpMessage& request, std::string_view body, const json* parsed) {
  Harness h;
  Fields fields(request, body, parsed);
  // The first row that matches names the harness. If it gives no version (x-app:
  // cli), the harness's other rows may still find one (its User-Agent).
  for (const auto& r : harness_rules()) {
    if (!h.name.empty() && (r.rule->name != h.name || !h.version.empty())) continue;
    auto v = fields.get(r.source);
    if (!v) continue;
    std::smatch m;
    if (!r.re || !std::regex_search(*v, m, *r.re)) continue;
    h.name = std::string(r.rule->name);
    // The version is the group that starts with a digit (optional prefixes come first).
    for (size_t g = 1; g < m.size(); ++g) {
      if (m[g].matched && m[g].length() > 0 && std::isdigit(static_cast<unsigned char>(*m[g].first))) {
        h.version = m[g].str().substr(0, kMaxVersion);
        break;
      }
    }
  }
  for (const auto& r : session_rules()) {
    if (!r.rule->harness.empty() && r.rule->harness != h.name) continue;
    auto v = fields.get(r.source);
    if (!v) continue;
    std::string id = std::move(*v);
    if (r.re) {
      std::smatch m;
      if (!std::regex_search(id, m, *r.re) || m.size() < 2 || !m[1].matched || m[1].length() == 0) continue;
      id = m[1].str();
    }
    h.session_id = id.substr(0, kMaxSessionId);
    h.session_source = std::string(r.rule->source);
    break;
  }
  return h;
}

}  // namespace tt::provider
