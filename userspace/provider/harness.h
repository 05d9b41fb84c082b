// Which agent harness sent an LLM API request, its version, and the harness's own
// session id, from the request headers (User-Agent, x-app, x-stainless-*,
// originator, session headers...), where needed request body fields, and for
// harnesses whose traffic does not name them (Cline, pi and OpenClaw send SDK
// defaults) the sending process and its traced ancestors.
//
// Data-driven: each harness is a row of kHarnessRules in harness.cpp, each place
// a session id may come from a row of kSessionRules. Rules name their source as
// "header:<name>", "body:<dotted.json.path>", "process:exe", "process:comm",
// "process:cmdline" (argv joined by spaces) or "process:package"; secret headers
// (Authorization, x-api-key, x-goog-api-key, cookies) can never be a source.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/http_message.h"
#include "provider/request_json.h"

namespace tt::provider {

// A program that runs the harness as its engine (records.proto EmbeddingApp).
struct EmbeddingApp {
  std::string sdk;          // "" when the harness does not run embedded
  std::string sdk_version;
  std::string name;         // the app's own name for itself, if it gives one
  uint32_t pid = 0;         // its process (see app_process), 0 if unknown
  std::string program;
  std::string package;
};

struct Harness {
  std::string name;            // short name ("claude-code", "gemini-cli", "curl"...), "" if unknown
  std::string version;         // as the harness reports it, "" if it does not say
  std::string session_id;      // the harness's own session/task id, "" if none
  std::string session_source;  // the rule's source, e.g. "header:x-claude-code-session-id"
  EmbeddingApp app;            // the program embedding it, when its traffic says it is embedded
};

// What tokentap knows of a process (PROC_INFO records: exe, comm, and the
// "cmdline" and "package" that probe_process() adds).
struct ProcessFacts {
  std::string exe;
  std::string comm;
  std::vector<std::string> cmdline;  // argv up to its program (see probe_process)
  std::string package;               // "name@version" of the npm package holding its program
  uint32_t pid = 0;                  // 0 if unknown
};

// `body` is the content-decoded request body. It is parsed only when a body rule
// needs it; pass `parsed` (may be null) to reuse a parse the caller already made,
// which must have read every path of harness_body_paths().
// `processes`: the sending process, then its traced ancestors, nearest first (may
// be null); a process rule matches if any of them does.
Harness identify_harness(const protocol::HttpMessage& request, std::string_view body,
                         const RequestJson* parsed = nullptr,
                         const std::vector<ProcessFacts>* processes = nullptr);
// The dotted body paths the rules read ("metadata.user_id", ...).
std::span<const std::string_view> harness_body_paths();

// Live runs: reads /proc/PID for the facts process rules need beyond exe and comm,
// as the JSON members a PROC_INFO record carries: {"cmdline": [...], "package":
// "name@version"}. The program is the script an interpreter (node, bun, deno,
// python...) runs, else the executable; "cmdline" is argv up to and including the
// program only (the program's own arguments may hold prompts or keys and are never
// kept), and "package" is that of the nearest package.json above the program.
// Facts that cannot be read are left out. `proc` is the /proc directory to read.
// exec_cmdline: argv as exec gave it (NUL-separated), when known: preferred to
// /proc's, which a program may have rewritten (Node's process.title).
nlohmann::json probe_process(uint32_t pid, const std::string& proc = "/proc", const std::string* exec_cmdline = nullptr);
// argv cut after the program (see probe_process); the program is the last element.
std::vector<std::string> program_argv(const std::vector<std::string>& argv);
// The nearest package.json at or above the directory of `path` (at most 8 levels):
// "name@version", or "" if none names both. `root` prefixes the lookups
// (e.g. "/proc/PID/root" for another mount namespace).
std::string package_of(const std::string& path, const std::string& root = "");

// Header names whose values must never reach a record.
bool is_secret_header(std::string_view name);

// The source of every rule ("header:<name>", "body:<path>", "process:<fact>"), for tests.
std::vector<std::string_view> harness_rule_sources();

}  // namespace tt::provider
