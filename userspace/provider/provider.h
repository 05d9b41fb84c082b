// Provider wire formats: recognise an LLM API call and take its token usage.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/http_message.h"
#include "provider/anatomy.h"
#include "provider/harness.h"
#include "provider/request_json.h"

namespace tt::provider {

// Who serves and bills a call: OpenTelemetry gen_ai.provider.name values where one
// exists ("anthropic", "openai", "gcp.gemini", "gcp.vertex_ai", "gcp.gen_ai" for
// Gemini Code Assist, "aws.bedrock", "azure.ai.openai", "deepseek", "x_ai",
// "mistral_ai", "groq"), else the vendor's own lower-case name ("openrouter",
// "moonshot", "zai", "minimax", "xiaomi", "ollama", "augment"); "local" for a server on the
// loopback interface and "unknown" for any other host. See docs/providers.md.
inline constexpr std::string_view kUnknownProvider = "unknown";
inline constexpr std::string_view kLocalProvider = "local";

// The format a call is spoken in, independent of who serves it.
// Augment: its backend's own chat format (Auggie's /chat-stream), whose answers
// carry no token usage: its calls are always estimated.
enum class WireFormat { None, AnthropicMessages, OpenAIChat, OpenAIResponses, Gemini, BedrockInvoke, BedrockConverse, Ollama, Augment, Unknown };
// "", "anthropic_messages", "openai_chat", "openai_responses", "gemini",
// "bedrock_invoke", "bedrock_converse", "ollama", "augment", "unknown"
const char* wire_format_name(WireFormat w);

// "Api.Anthropic.com:443" -> "api.anthropic.com": how hosts are compared.
std::string host_key(std::string_view host);
// The provider a host name (HOST or HOST:PORT) belongs to, from tokentap's one
// table of vendor hosts, then loopback ("local", or "ollama" on its port 11434);
// "" if none. Gateways and self-hosted servers are named by the user's
// [api_hosts] (HostMap below), which callers look at first.
std::string provider_for_host(std::string_view host);
// The user's host -> provider names (config [api_hosts], --api-host), matched as
// given or by host_key.
using HostMap = std::map<std::string, std::string, std::less<>>;
const std::string* mapped_provider(const HostMap* map, std::string_view host);

// How the call is paid for, from the kind of credential it carries (never the
// credential itself): "metered" (an API key, a cloud signature or token),
// "subscription" (a plan's sign-in: Claude's OAuth tokens, ChatGPT's Codex login,
// Gemini Code Assist's Google login), "local", or "" when the call carries none.
inline constexpr std::string_view kBillingMetered = "metered";
inline constexpr std::string_view kBillingSubscription = "subscription";
inline constexpr std::string_view kBillingLocal = "local";

enum class UsageSource { None, Exact, Estimated };
const char* usage_source_name(UsageSource s);  // "none", "exact", "estimated"

// Token counts. input_tokens is UNCACHED input only, for every provider:
//   Anthropic: input_tokens as sent (it already excludes cache reads/writes).
//   OpenAI:    prompt_tokens/input_tokens minus cached_tokens.
//   Gemini:    promptTokenCount minus cachedContentTokenCount.
// output_tokens includes reasoning/thinking tokens (Gemini: candidates + thoughts).
struct Usage {
  uint64_t input_tokens = 0;
  uint64_t cache_read_tokens = 0;
  uint64_t cache_write_tokens = 0;     // all cache creation (= 5m + 1h when broken down)
  uint64_t cache_write_5m_tokens = 0;  // Anthropic cache_creation.ephemeral_5m_input_tokens
  uint64_t cache_write_1h_tokens = 0;  // Anthropic cache_creation.ephemeral_1h_input_tokens
  uint64_t output_tokens = 0;
  uint64_t reasoning_tokens = 0;  // part of output_tokens, when the provider says
};

// A request body read as soon as the request ended, so that the body need not be
// kept until its response ends (a long stream lasts minutes; a daemon sees many at
// once): the fields decoding reads, what estimation needs and the anatomy. The
// body given is `request`'s, content-decoded; `readable` as for
// Exchange::request_body_readable.
struct RequestDigest : protocol::BodyDigest {
  RequestDigest(const protocol::HttpMessage& request, std::string_view body, size_t readable);
  RequestJson fields;
  uint64_t text_bytes;  // estimation's input measure (request_text_bytes)
  Anatomy anatomy;      // read_anatomy() in the request's wire format
  std::string error;    // the body could not be content-decoded: why
};

// What the pipeline hands a decoder: one request and (if any) its response, with
// bodies already content-decoded (resp_body empty when there was no response).
struct Exchange {
  const protocol::HttpMessage* request = nullptr;
  const protocol::HttpMessage* response = nullptr;  // nullptr: no response seen
  std::string_view request_body;                    // decoded
  // Bytes readable from request_body.data() (its string's capacity): with 64 to
  // spare the JSON is parsed in place, else from a padded copy. 0: unknown.
  size_t request_body_readable = 0;
  // Set: the request body was digested and released; request_body is unused.
  const RequestDigest* request_digest = nullptr;
  std::string_view response_body;                   // decoded
  bool response_complete = false;                   // response framing ended cleanly
  // The sending process, then its traced ancestors (for harnesses only their
  // process names; see harness.h). May be null.
  const std::vector<ProcessFacts>* processes = nullptr;
  const HostMap* hosts = nullptr;  // the user's host -> provider names, or null
};

struct ApiCall {
  bool is_llm = false;  // false: not an LLM API call (telemetry, auth, static...)
  std::string provider{kUnknownProvider};  // who bills it (see above)
  WireFormat wire = WireFormat::None;
  std::string billing;                     // kBilling* or ""
  std::optional<double> reported_cost_usd;  // the provider's own figure (OpenRouter)
  // Endpoint kind, stable strings: "messages", "count_tokens", "chat_completions",
  // "responses", "generate_content", "stream_generate_content", "embeddings",
  // "completions", Bedrock's "invoke_model", "invoke_model_stream", "converse",
  // "converse_stream", Ollama's "chat" and "generate", Augment's "chat_stream" and
  // "prompt_enhancer", "unknown".
  std::string api;
  std::string model;
  bool stream = false;
  bool billable = true;  // false for count_tokens and similar free calls
  std::string stop_reason;
  std::string response_id;  // message id / response id / responseId
  std::string request_id;   // from response headers: request-id, x-request-id
  std::string session_id;   // the harness's own session id (see harness.h), "" if none
  std::string session_source;  // "header:<name>" / "body:<path>" it came from
  std::string harness;          // short harness name (see harness.h), "" if unknown
  std::string harness_version;
  EmbeddingApp app;             // the program the harness runs inside of (see harness.h)
  std::string user_agent;
  Usage usage;
  UsageSource usage_source = UsageSource::None;
  std::string error;  // provider error type/message, or why usage is missing
  Anatomy anatomy;    // of the request body (empty if it has none: see read_anatomy)
  std::vector<std::string> tools_called;  // by the response, in order (at most kMaxToolsCalled)
};

inline constexpr size_t kMaxToolsCalled = 1024;

// Cheap check from the request alone (method, path, Host and a peek at the body):
// is this an LLM API request, and of which provider/api?
ApiCall classify(const protocol::HttpMessage& request, std::string_view request_body, const HostMap* hosts = nullptr);

// Full decode: classify, then read model/stream from the request body and usage,
// stop reason and ids from the response (JSON or SSE). Where the response carries
// no usage (aborted stream, error, unknown provider) and is_llm, estimate it with
// estimate_usage() and set usage_source = Estimated. Never throws on bad input.
ApiCall decode(const Exchange& ex);

// Estimation: about 4 bytes of text per token. Input counts the text of every JSON
// string value in the request body (prompt, system, tools); output counts the text
// the response streamed back (deltas / message content), or its bytes if unparseable.
Usage estimate_usage(std::string_view request_body, std::string_view response_body);
Usage estimate_usage(uint64_t request_text_bytes, std::string_view response_body);
// The same rule on text already measured: ceil(bytes / 4) each way.
Usage estimate_usage_from_bytes(uint64_t request_text_bytes, uint64_t response_text_bytes);
// The text of every JSON string value in a request body, or all of it if it is not JSON.
uint64_t request_text_bytes(std::string_view request_body, size_t readable = 0);
uint64_t estimate_tokens_from_text_bytes(uint64_t bytes);

}  // namespace tt::provider
