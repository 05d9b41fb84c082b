// Which agent harness sent an LLM API request, its version, and the harness's own
// session id, from the request headers (User-Agent, x-app, x-stainless-*,
// originator, session headers...) and, where needed, request body fields.
//
// Data-driven: each harness is a row of kHarnessRules in harness.cpp, each place
// a session id may come from a row of kSessionRules. Rules name their source as
// "header:<name>" or "body:<dotted.json.path>"; secret headers (Authorization,
// x-api-key, x-goog-api-key, cookies) can never be a source.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/http_message.h"

namespace tt::provider {

struct Harness {
  std::string name;            // short name ("claude-code", "gemini-cli", "curl"...), "" if unknown
  std::string version;         // as the harness reports it, "" if it does not say
  std::string session_id;      // the harness's own session/task id, "" if none
  std::string session_source;  // the rule's source, e.g. "header:x-claude-code-session-id"
};

// `body` is the content-decoded request body. It is parsed only when a body rule
// needs it; pass `parsed` (may be null) to reuse a parse the caller already made.
Harness identify_harness(const protocol::HttpMessage& request, std::string_view body,
                         const nlohmann::json* parsed = nullptr);

// Header names whose values must never reach a record.
bool is_secret_header(std::string_view name);

// The source of every rule ("header:<name>" / "body:<path>"), for tests.
std::vector<std::string_view> harness_rule_sources();

}  // namespace tt::provider
