// Per-wire-format response decoders, fed the parsed documents of one response body.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "protocol/http_message.h"
#include "provider/json_util.h"
#include "provider/provider.h"

namespace tt::provider::detail {

struct ResponseInfo {
  // The response's final usage record was seen (Anthropic message_delta or message
  // body, OpenAI usage chunk/body, Responses terminal event/body, Gemini chunk with
  // finishReason or whole body). Anything less counts as no usage at all.
  bool final_usage = false;
  Usage usage;
  std::string stop_reason;
  std::string response_id;
  std::string model;
  std::string error;  // provider error, if the body carried one
  std::optional<double> reported_cost_usd;  // OpenRouter's usage.cost
  std::vector<std::string> tools_called;    // tool names the response called, in order
  // Wire formats whose answers never carry usage (Augment): the bytes of text the
  // answer generated, what its output estimate is made from.
  std::optional<uint64_t> output_text_bytes;

  void add_tool_call(std::string_view name) {
    if (!name.empty() && tools_called.size() < kMaxToolsCalled) tools_called.push_back(tool_name(name));
  }
};

ResponseInfo decode_anthropic_messages(const Documents& d);
// Chat Completions, legacy Completions and Embeddings share the usage shape.
ResponseInfo decode_openai_chat(const Documents& d);
ResponseInfo decode_openai_responses(const Documents& d);
ResponseInfo decode_gemini(const Documents& d);
// Bedrock InvokeModel: the model's own JSON, or (streamed) its events inside an
// event stream's chunks; usage from Anthropic's events, else Bedrock's invocation
// metrics or token-count headers, which every model gets.
ResponseInfo decode_bedrock_invoke(std::string_view body, const protocol::HttpMessage* response, bool stream);
// Bedrock Converse: JSON, or an event stream whose metadata event carries usage.
ResponseInfo decode_bedrock_converse(std::string_view body, bool stream);
// Ollama's /api/chat and /api/generate: JSON or NDJSON; usage on the done chunk.
ResponseInfo decode_ollama(const Documents& d);
// Augment's chat stream (NDJSON): stop reason, tools called and output_text_bytes;
// never usage.
ResponseInfo decode_augment(const Documents& d);

// The tools an OpenAI Chat (or Ollama) message calls: tool_calls[].function.name,
// and a legacy function_call's name.
void add_chat_tool_calls(const json& message, ResponseInfo& r);

// Gemini Code Assist (cloudcode-pa) wraps each response as {"response": {...}}:
// the inner object, if `doc` is such a wrapper.
std::optional<json> gemini_inner(const json& doc);

}  // namespace tt::provider::detail
