// Token estimation for calls whose response carries no usage (~4 bytes per token).
#include <string>

#include "provider/decoders.h"
#include "provider/json_util.h"
#include "provider/provider.h"
#include "provider/request_json.h"

namespace tt::provider {
namespace {

using detail::get_array;
using detail::get_object;
using detail::get_string;
using detail::json;

uint64_t string_size(const json& obj, std::string_view key) { return get_string(obj, key).size(); }

// Text a model produced, per document shape; returns false for shapes it does not
// know, so an unrecognised body falls back to its raw size.
bool output_text_bytes(const json& raw, uint64_t& bytes) {
  if (!raw.is_object()) return false;
  if (!detail::document_error(raw).empty()) return true;
  const json& doc = detail::unwrap_gemini(raw);
  std::string type = get_string(doc, "type");

  // Anthropic stream events.
  if (type == "content_block_delta") {
    if (const json* d = get_object(doc, "delta"))
      bytes +=
          string_size(*d, "text") + string_size(*d, "partial_json") + string_size(*d, "thinking");
    return true;
  }
  if (type == "message_start" || type == "content_block_start" || type == "content_block_stop" ||
      type == "message_delta" || type == "message_stop" || type == "ping")
    return true;
  // Anthropic message body.
  if (type == "message") {
    if (const json* content = get_array(doc, "content")) {
      for (const json& block : *content) {
        bytes += string_size(block, "text") + string_size(block, "thinking");
        if (const json* input = get_object(block, "input"))
          bytes += detail::string_bytes(*input, /*include_keys=*/true);
      }
    }
    return true;
  }
  // Responses API stream: only the deltas, the ".done" events and response.completed
  // repeat the same text.
  if (type.starts_with("response.")) {
    if (type.ends_with(".delta")) bytes += string_size(doc, "delta");
    return true;
  }
  // Responses API body.
  if (get_string(doc, "object") == "response") {
    if (const json* output = get_array(doc, "output")) {
      for (const json& item : *output) {
        bytes += string_size(item, "arguments");
        for (const char* list : {"content", "summary"}) {
          if (const json* parts = get_array(item, list)) {
            for (const json& p : *parts)
              bytes += string_size(p, "text") + string_size(p, "refusal");
          }
        }
      }
    }
    return true;
  }
  // Chat Completions chunks/bodies and legacy Completions.
  if (const json* choices = get_array(doc, "choices")) {
    for (const json& ch : *choices) {
      bytes += string_size(ch, "text");
      const json* m = get_object(ch, "delta");
      if (!m) m = get_object(ch, "message");
      if (!m) continue;
      bytes += string_size(*m, "content") + string_size(*m, "reasoning_content") +
               string_size(*m, "refusal");
      if (const json* calls = get_array(*m, "tool_calls")) {
        for (const json& call : *calls) {
          if (const json* fn = get_object(call, "function")) bytes += string_size(*fn, "arguments");
        }
      }
    }
    return true;
  }
  // Gemini.
  if (const json* cands = get_array(doc, "candidates")) {
    for (const json& c : *cands) {
      const json* content = get_object(c, "content");
      const json* parts = content ? get_array(*content, "parts") : nullptr;
      if (!parts) continue;
      for (const json& p : *parts) {
        bytes += string_size(p, "text");
        if (const json* call = get_object(p, "functionCall")) {
          if (const json* args = get_object(*call, "args"))
            bytes += detail::string_bytes(*args, /*include_keys=*/true);
        }
      }
    }
    return true;
  }
  // Bodies that legitimately carry no generated text.
  return doc.contains("usageMetadata") || doc.contains("promptFeedback") ||
         doc.contains("embedding") || doc.contains("embeddings") ||
         get_string(doc, "object") == "list";
}

}  // namespace

uint64_t estimate_tokens_from_text_bytes(uint64_t bytes) { return bytes / 4 + (bytes % 4 != 0); }

Usage estimate_usage(std::string_view request_body, std::string_view response_body) {
  uint64_t in_bytes = json_string_bytes(request_body).value_or(request_body.size());

  uint64_t out_bytes = 0;
  bool recognised = false;
  for (const json& doc : detail::parse_documents(response_body).docs)
    recognised |= output_text_bytes(doc, out_bytes);
  if (!recognised) out_bytes = response_body.size();

  Usage u;
  u.input_tokens = estimate_tokens_from_text_bytes(in_bytes);
  u.output_tokens = estimate_tokens_from_text_bytes(out_bytes);
  return u;
}

}  // namespace tt::provider
