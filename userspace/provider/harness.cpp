// Harness identification: two tables, searched in order, first match wins.
//
// To recognise a new harness, add a row to kHarnessRules (before the generic
// clients its requests would otherwise match, e.g. the SDK it is built on); if it
// sends its own session id somewhere the generic rows do not look, add a row to
// kSessionRules. tests/unit/harness_test.cpp checks every harness against what
// the real ones sent (tests/data/harnesses/*.server.jsonl) and the processes the
// end-to-end suite runs them as (tests/e2e/harnesses.py).
#include "provider/harness.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <re2/re2.h>
#include <optional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace tt::provider {
namespace {

using nlohmann::json;

struct HarnessRule {
  std::string_view name;     // short name in records
  std::string_view source;   // "header:<name>", "body:<dotted.path>" or "process:<fact>"
  std::string_view pattern;  // ECMAScript, case-insensitive, searched in the value; the
                             // first capture group that starts with a digit is the version
  bool version_only = false;  // only reads the version of a harness another row named
};

// Agent harnesses named by their traffic first, then those only their process
// names, then the SDKs and HTTP clients harnesses are built on, so that traffic
// from an unknown tool still says what made it.
constexpr std::array kHarnessRules = {
    // Claude Code: "claude-cli/2.1.330 (external, cli)"; also x-app: cli.
    HarnessRule{"claude-code", "header:user-agent", R"(^claude-cli/([0-9][^\s/()]*))"},
    HarnessRule{"claude-code", "header:x-app", R"(^cli$)"},
    // OpenCode: "opencode/1.18.33 ai-sdk/..."; Kilo Code CLI, an OpenCode fork:
    // "kilo/latest/7.7.9/cli ai-sdk/..." (channel, version, client).
    HarnessRule{"kilo", "header:user-agent", R"(^kilo(?:code|-code)?(?:-cli)?/(?:[^/\s]+/)*?([0-9][^\s/()]*))"},
    HarnessRule{"opencode", "header:user-agent", R"(^opencode/([0-9][^\s/()]*))"},
    // Cline: "Cline/3.0.65", X-CLIENT-VERSION.
    HarnessRule{"cline", "header:user-agent", R"(^cline/([0-9][^\s/()]*))"},
    HarnessRule{"cline", "header:x-client-type", R"(cline)"},
    HarnessRule{"cline", "header:originator", R"(^cline$)"},
    HarnessRule{"cline", "header:x-client-version", R"(^([0-9][^\s/()]*))", true},
    // Gemini CLI: "GeminiCLI/0.61.0/gemini-2.5-pro (linux; x64; surface)", or
    // "GeminiCLI-<client>/..." when embedded.
    HarnessRule{"gemini-cli", "header:user-agent", R"(^geminicli(?:-[^/\s]+)?/([0-9][^\s/()]*))"},
    // pi coding agent (@mariozechner/pi-coding-agent) and OpenClaw (built on pi).
    HarnessRule{"openclaw", "header:user-agent", R"(\bopenclaw/([0-9][^\s/()]*))"},
    HarnessRule{"openclaw", "header:user-agent", R"(\bopenclaw\b)"},
    HarnessRule{"openclaw", "header:originator", R"(^openclaw$)"},
    HarnessRule{"openclaw", "header:version", R"(^([0-9][^\s/()]*)$)", true},
    HarnessRule{"pi", "header:user-agent", R"(\bpi-coding-agent/([0-9][^\s/()]*))"},
    HarnessRule{"pi", "header:user-agent", R"(^pi/([0-9][^\s/()]*))"},
    HarnessRule{"pi", "header:originator", R"(^pi$)"},
    // Codex CLI (Rust): "codex_cli_rs/0.169.0 (...)", "codex_exec/..."; originator header.
    HarnessRule{"codex", "header:user-agent", R"(^codex[_-][a-z_]+/([0-9][^\s/()]*))"},
    HarnessRule{"codex", "header:originator", R"(^codex)"},
    HarnessRule{"codex", "header:version", R"(^([0-9][^\s/()]*)$)", true},
    HarnessRule{"qwen-code", "header:user-agent", R"(^qwencode/([0-9][^\s/()]*))"},
    HarnessRule{"droid", "header:user-agent", R"(^factory-cli/([0-9][^\s/()]*))"},
    // Auggie (Augment's CLI): "augment.cli/0.36.0 (commit 7c61e5bb)/noninteractive".
    HarnessRule{"auggie", "header:user-agent", R"(^augment\.cli/([0-9][^\s/()]*))"},

    // Harnesses that send SDK defaults only (tests/data/harnesses/README.md): the
    // process, or a traced ancestor, names them; the npm package holding the
    // program gives the version.
    // Cline: a Node wrapper (node_modules/cline/bin/cline) runs a Bun binary from
    // @cline/cli-linux-x64 (or its copy bin/.cline); it calls with the AI SDK.
    HarnessRule{"cline", "process:package", R"(^(?:cline|@cline/cli-[a-z0-9-]+)@([0-9]\S*)$)"},
    HarnessRule{"cline", "process:exe", R"((?:^|/)(?:@cline/cli-[^/]+/bin/cline|cline/bin/\.cline)$)"},
    HarnessRule{"cline", "process:cmdline", R"((?:^|[\s/])node_modules/cline/bin/cline(?:\s|$))"},
    // pi: node .../@mariozechner/pi-coding-agent/dist/cli.js, renames itself "pi";
    // calls with the Anthropic / OpenAI SDKs.
    HarnessRule{"pi", "process:package", R"(^@mariozechner/pi-coding-agent@([0-9]\S*)$)"},
    HarnessRule{"pi", "process:cmdline", R"(/pi-coding-agent/dist/cli\.js(?:\s|$))"},
    HarnessRule{"pi", "process:comm", R"(^pi$)"},
    // OpenClaw: node .../openclaw/openclaw.mjs (Node >= 24); calls with the OpenAI SDK.
    HarnessRule{"openclaw", "process:package", R"(^openclaw@([0-9]\S*)$)"},
    HarnessRule{"openclaw", "process:cmdline", R"((?:^|[\s/])openclaw(?:\.mjs)?(?:\s|$))"},
    // Continue CLI: node .../@continuedev/cli/dist/cn.js; calls with a renamed OpenAI SDK
    // ("ls/JS 5.23.2").
    HarnessRule{"continue", "process:package", R"(^@continuedev/cli@([0-9]\S*)$)"},
    HarnessRule{"continue", "process:cmdline", R"(/@continuedev/cli/dist/cn\.js(?:\s|$))"},

    // GitHub Copilot CLI: node .../@github/copilot/npm-loader.js runs the Node single
    // executable of @github/copilot-linux-x64 (or -linuxmusl-x64, -linux-arm64), whose package.json
    // gives the version; calls with the OpenAI SDK ("OpenAI/JS 5.20.1").
    HarnessRule{"copilot-cli", "process:package", R"(^@github/copilot(?:-linux[a-z0-9-]*)?@([0-9]\S*)$)"},
    HarnessRule{"copilot-cli", "process:exe", R"((?:^|/)@github/copilot-linux[a-z0-9-]*/copilot$)"},
    HarnessRule{"copilot-cli", "process:cmdline", R"(/@github/copilot/npm-loader\.js(?:\s|$))"},

    // Codex from npm, by its process: what names it when only sizes are seen (a TLS stack
    // it might use that tokentap cannot hook; the socket fallback has no headers).
    HarnessRule{"codex", "process:package", R"(^@openai/codex(?:-linux-[a-z0-9-]+)?@([0-9]+\.[0-9]+\.[0-9]+))"},
    HarnessRule{"codex", "process:exe", R"((?:^|/)@openai/codex[^/]*/.*/bin/codex$)"},

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
  std::string_view source;   // "header:<name>" or "body:<dotted.path>" (never "process:")
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
    SessionRule{"", "header:x-session-affinity", ""},  // OpenCode, Kilo (and x-session-id)
    SessionRule{"", "header:x-session-id", ""},
    SessionRule{"", "header:x-opencode-session", ""},
    SessionRule{"", "header:conversation_id", ""},
    SessionRule{"", "header:x-task-id", ""},  // Cline
    // Auggie: the conversation is its session (the session_id it prints, the id
    // --resume takes); a sub-agent's requests name their root conversation too.
    SessionRule{"auggie", "body:root_conversation_id", ""},
    SessionRule{"auggie", "body:conversation_id", ""},
};

struct AppRule {
  std::string_view harness;  // the harness that reports it
  std::string_view sdk;      // the embedding SDK's name in records
  std::string_view source;   // "header:<name>"
  std::string_view pattern;  // a match says the harness runs embedded; the first
                             // group that starts with a digit is the SDK's version
};

// Harnesses that say they run inside another program. Claude Code launched by an
// Agent SDK: "claude-cli/2.1.332 (external, sdk-ts, agent-sdk/0.3.332[, client-app/NAME])"
// (sdk-cli is `claude -p` on its own).
constexpr std::array kAppRules = {
    AppRule{"claude-code", "claude-agent-sdk", "header:user-agent",
            R"(\(external, sdk-ts\b(?:[^)]*\bagent-sdk/([0-9][^\s,()]*))?)"},
    AppRule{"claude-code", "claude-agent-sdk-python", "header:user-agent",
            R"(\(external, sdk-py\b(?:[^)]*\bagent-sdk/([0-9][^\s,()]*))?)"},
};

// What an embedded Claude Code's app calls itself (the SDK's CLAUDE_AGENT_SDK_CLIENT_APP).
constexpr std::string_view kAppNameHeader = "x-client-app";

constexpr size_t kMaxVersion = 64;
constexpr size_t kMaxAppName = 128;
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

// A source string split once: header name, dotted body path, or process fact.
struct Source {
  enum Kind { Header, Body, Process } kind = Header;
  std::string_view name;  // a view of the rule's source
};

Source parse_source(std::string_view s) {
  size_t colon = std::min(s.find(':'), s.size());
  std::string_view kind = s.substr(0, colon), rest = s.substr(std::min(colon + 1, s.size()));
  Source::Kind k = kind == "body" ? Source::Body : kind == "process" ? Source::Process : Source::Header;
  return {k, rest};
}

bool reads_secret(const Source& s) { return s.kind == Source::Header && is_secret_header(s.name); }

// RE2: linear in the value's length whatever the pattern (std::regex recursed
// once per character and a 40 KB User-Agent overflowed the stack).
std::shared_ptr<const re2::RE2> compile(std::string_view pattern) {
  if (pattern.empty()) return nullptr;
  re2::RE2::Options o;
  o.set_case_sensitive(false);
  o.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), o);
  return re->ok() ? re : nullptr;
}

// A rule with its source parsed and its pattern compiled.
template <class Rule>
struct Compiled {
  const Rule* rule;
  Source source;
  std::shared_ptr<const re2::RE2> re;  // none: the whole value
};

// Compiled once; rules that would read a secret header are dropped (the test
// suite fails on them, so none ship).
template <class Rule, size_t N>
std::vector<Compiled<Rule>> compile_all(const std::array<Rule, N>& table) {
  std::vector<Compiled<Rule>> v;
  for (const Rule& r : table) {
    Source s = parse_source(r.source);
    if (reads_secret(s)) continue;
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

const std::vector<Compiled<AppRule>>& app_rules() {
  static const auto rules = compile_all(kAppRules);
  return rules;
}

// Reads rule sources from one request and its processes; the body is parsed at
// most once, and only if a body rule is reached.
class Fields {
 public:
  Fields(const protocol::HttpMessage& req, std::string_view body, const RequestJson* parsed,
         const std::vector<ProcessFacts>* procs)
      : req_(req), body_(body), parsed_(parsed), procs_(procs) {}

  // Every non-empty value of the source: one at most for a header or body field,
  // one per process (nearest first) for a process fact.
  std::vector<std::string> values(const Source& s) {
    std::vector<std::string> out;
    if (s.kind == Source::Header) {
      if (const std::string* v = req_.header(s.name); v && !v->empty()) out.push_back(*v);
    } else if (s.kind == Source::Body) {
      if (auto v = body_value(s.name)) out.push_back(std::move(*v));
    } else if (procs_) {
      for (const ProcessFacts& p : *procs_) {
        std::string v = process_fact(p, s.name);
        if (!v.empty()) out.push_back(std::move(v));
      }
    }
    return out;
  }

 private:
  // A non-empty string, or an integer as written.
  std::optional<std::string> body_value(std::string_view path) {
    const BodyValue& v = doc().at(path);
    bool text = v.kind == BodyValue::Kind::Integer || (v.kind == BodyValue::Kind::String && !v.text.empty());
    return text ? std::optional<std::string>(v.text) : std::nullopt;
  }

  static std::string process_fact(const ProcessFacts& p, std::string_view fact) {
    if (fact == "exe") return p.exe;
    if (fact == "comm") return p.comm;
    if (fact == "package") return p.package;
    std::string joined;
    if (fact == "cmdline")
      for (const auto& a : p.cmdline) joined += (joined.empty() ? "" : " ") + a;
    return joined;
  }

  const RequestJson& doc() {
    if (parsed_) return *parsed_;
    if (!own_) own_.emplace(body_, harness_body_paths());
    return *own_;
  }

  const protocol::HttpMessage& req_;
  std::string_view body_;
  const RequestJson* parsed_;
  const std::vector<ProcessFacts>* procs_;
  std::optional<RequestJson> own_;
};

// What one search of a pattern in a value found: its capture groups, "" for
// those that took no part.
struct Found {
  bool matched = false;
  std::vector<std::string> groups;
};

// Every request of a client brings the same values back (its User-Agent, its
// process, its session): results for short values are remembered per thread, a
// few thousand at most. The reference is good until the next call.
const Found& search(const re2::RE2& re, const std::string& value) {
  constexpr size_t kMemoValue = 1024;
  thread_local std::unordered_map<std::string, Found> memo;
  thread_local Found fresh;
  const re2::RE2* id = &re;
  std::string key;
  if (value.size() <= kMemoValue) {
    key.assign(reinterpret_cast<const char*>(&id), sizeof(id));
    key += value;
    if (auto it = memo.find(key); it != memo.end()) return it->second;
  }
  Found f;
  std::vector<re2::StringPiece> m(1 + static_cast<size_t>(re.NumberOfCapturingGroups()));
  if ((f.matched = re.Match(value, 0, value.size(), re2::RE2::UNANCHORED, m.data(), static_cast<int>(m.size()))))
    for (size_t g = 1; g < m.size(); ++g) f.groups.emplace_back(m[g].data() ? std::string(m[g]) : std::string());
  if (key.empty()) return fresh = std::move(f);
  if (memo.size() >= 4096) memo.clear();
  return memo.emplace(std::move(key), std::move(f)).first->second;
}

// Whether the rule matches this request; `version` gets its version, if it has one.
bool match_rule(const Compiled<HarnessRule>& r, Fields& fields, std::string& version) {
  if (!r.re) return false;
  for (const std::string& v : fields.values(r.source)) {
    const Found& f = search(*r.re, v);
    if (!f.matched) continue;
    // The version is the group that starts with a digit (optional prefixes come first).
    for (const std::string& g : f.groups) {
      if (!g.empty() && std::isdigit(static_cast<unsigned char>(g[0]))) {
        version = g.substr(0, kMaxVersion);
        break;
      }
    }
    return true;
  }
  return false;
}

// A process's program: the script an interpreter runs (the last of its kept argv),
// else its executable.
std::string program_of(const ProcessFacts& p) { return p.cmdline.empty() ? p.exe : p.cmdline.back(); }

// The app's process: the nearest ancestor of the sending process (processes[0])
// that runs another program (the SDK's own helpers run the harness's).
const ProcessFacts* app_process(const std::vector<ProcessFacts>* processes) {
  if (!processes || processes->empty()) return nullptr;
  std::string harness = program_of(processes->front());
  for (size_t i = 1; i < processes->size(); ++i)
    if (program_of((*processes)[i]) != harness) return &(*processes)[i];
  return nullptr;
}

// The program embedding the harness, if its traffic says it runs embedded.
EmbeddingApp identify_app(const std::string& harness, Fields& fields, const std::vector<ProcessFacts>* processes) {
  EmbeddingApp app;
  for (const auto& r : app_rules()) {
    if (r.rule->harness != harness) continue;
    HarnessRule as_harness{r.rule->sdk, r.rule->source, r.rule->pattern};
    Compiled<HarnessRule> c{&as_harness, r.source, r.re};
    if (!match_rule(c, fields, app.sdk_version)) continue;
    app.sdk = std::string(r.rule->sdk);
    break;
  }
  if (app.sdk.empty()) return app;
  if (auto names = fields.values(Source{Source::Header, kAppNameHeader}); !names.empty())
    app.name = names.front().substr(0, kMaxAppName);
  if (const ProcessFacts* p = app_process(processes)) {
    app.pid = p->pid;
    app.program = program_of(*p);
    app.package = p->package;
  }
  return app;
}

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
  for (const auto& r : kAppRules) out.push_back(r.source);
  out.push_back("header:x-client-app");  // kAppNameHeader
  return out;
}

std::span<const std::string_view> harness_body_paths() {
  static const std::vector<std::string_view> paths = [] {
    std::vector<std::string_view> out;
    for (std::string_view s : harness_rule_sources()) {
      Source src = parse_source(s);
      if (src.kind == Source::Body && std::find(out.begin(), out.end(), src.name) == out.end()) out.push_back(src.name);
    }
    return out;
  }();
  return paths;
}

Harness identify_harness(const protocol::HttpMessage& request, std::string_view body, const RequestJson* parsed,
                         const std::vector<ProcessFacts>* processes) {
  Harness h;
  Fields fields(request, body, parsed, processes);
  // The first row that matches names the harness. If it gives no version (x-app:
  // cli), the harness's other rows may still find one (its User-Agent).
  const auto& rules = harness_rules();
  for (const auto& r : rules) {
    if (!r.rule->version_only && match_rule(r, fields, h.version)) {
      h.name = std::string(r.rule->name);
      break;
    }
  }
  for (const auto& r : rules) {
    if (!h.version.empty() || h.name.empty()) break;
    if (r.rule->name == h.name) match_rule(r, fields, h.version);
  }
  if (!h.name.empty()) h.app = identify_app(h.name, fields, processes);
  for (const auto& r : session_rules()) {
    if (!r.rule->harness.empty() && r.rule->harness != h.name) continue;
    if (r.source.kind == Source::Process) continue;  // the process tree is the aggregator's fallback
    auto v = fields.values(r.source);
    if (v.empty()) continue;
    std::string id = std::move(v.front());
    if (r.re) {
      const Found& f = search(*r.re, id);
      if (!f.matched || f.groups.empty() || f.groups[0].empty()) continue;
      id = f.groups[0];
    }
    h.session_id = id.substr(0, kMaxSessionId);
    h.session_source = std::string(r.rule->source);
    break;
  }
  return h;
}

namespace {

std::string read_file_prefix(const std::string& path, size_t max) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::string out(max, '\0');
  f.read(out.data(), static_cast<std::streamsize>(max));
  out.resize(static_cast<size_t>(f.gcount()));
  return out;
}

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string basename(const std::string& p) { return p.substr(p.rfind('/') + 1); }

// Interpreters whose first non-option argument is the program they run, and the
// options of theirs that take a separate value.
bool is_interpreter(const std::string& argv0) {
  static const re2::RE2 re(R"(^(?:node|nodejs|bun|deno|python[0-9.]*|ruby|perl|sh|bash|dash)$)");
  return re2::RE2::FullMatch(basename(argv0), re);
}
bool takes_value(std::string_view opt) {
  for (std::string_view o : {"-r", "--require", "--import", "--loader", "--experimental-loader", "-m", "-c", "-e",
                             "--eval", "-p", "--print", "-W", "-X", "--title", "--env-file", "--conditions", "-C"})
    if (opt == o) return true;
  return false;
}

}  // namespace

std::vector<std::string> program_argv(const std::vector<std::string>& argv) {
  if (argv.empty()) return {};
  if (!is_interpreter(argv[0])) return {argv[0]};
  std::vector<std::string> out{argv[0]};
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (basename(argv[0]) == "deno" && a == "run") {
      out.push_back(a);
      continue;
    }
    if (a.starts_with("-")) {
      // -e/-c/-m: code or a module name, not a file; keep the flag, drop its value.
      out.push_back(a);
      if (takes_value(a)) ++i;
      if (a == "-e" || a == "--eval" || a == "-c" || a == "-p" || a == "--print") return out;
      continue;
    }
    out.push_back(a);
    return out;
  }
  return out;
}

std::string package_of(const std::string& path, const std::string& root) {
  if (!path.starts_with("/")) return {};
  std::string dir = path.substr(0, path.rfind('/'));
  for (int level = 0; level < 8; ++level) {
    std::string text = read_file_prefix(root + dir + "/package.json", 1 << 20);
    if (!text.empty()) {
      json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
      // A package.json without both (say {"type":"module"} in dist/) is not the package.
      if (j.is_object() && j.contains("name") && j["name"].is_string() && j.contains("version") &&
          j["version"].is_string())
        return j["name"].get<std::string>() + "@" + j["version"].get<std::string>();
    }
    if (dir.empty()) break;
    dir = dir.substr(0, dir.rfind('/'));
  }
  return {};
}

json probe_process(uint32_t pid, const std::string& proc, const std::string* exec_cmdline) {
  std::string base = proc + "/" + std::to_string(pid);
  std::string raw = exec_cmdline ? *exec_cmdline : read_file_prefix(base + "/cmdline", 64 * 1024);
  std::vector<std::string> argv;
  for (size_t at = 0; at < raw.size();) {
    size_t end = std::min(raw.find('\0', at), raw.size());
    argv.emplace_back(raw.substr(at, end - at));
    at = end + 1;
  }
  json out = json::object();
  std::vector<std::string> kept = program_argv(argv);
  if (kept.empty()) return out;
  out["cmdline"] = kept;
  // An interpreter running code from -e/-c or stdin has no program file.
  std::string program = !is_interpreter(kept[0]) ? read_link(base + "/exe")
                        : kept.size() > 1 && !kept.back().starts_with("-") ? kept.back()
                                                                           : std::string();
  if (program.empty()) return out;
  if (!program.starts_with("/")) program = read_link(base + "/cwd") + "/" + program;
  std::string package = package_of(program, base + "/root");
  if (!package.empty()) out["package"] = package;
  return out;
}

}  // namespace tt::provider
