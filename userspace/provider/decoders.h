// Per-wire-format response decoders, fed the parsed documents of one response body.
#pragma once
#include <optional>
#include <string>

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
};

ResponseInfo decode_anthropic_messages(const Documents& d);
// Chat Completions, legacy Completions and Embeddings share the usage shape.
ResponseInfo decode_openai_chat(const Documents& d);
ResponseInfo decode_openai_responses(const Documents& d);
ResponseInfo decode_gemini(const Documents& d);

// Gemini Code Assist (cloudcode-pa) wraps each response as {"response": {...}}:
// the inner object, if `doc` is such a wrapper.
std::optional<json> gemini_inner(const json& doc);

}  // namespace tt::provider::detail
