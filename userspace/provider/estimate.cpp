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
  std::optional<json> inner = detail::gemini_inner(raw);
  const json& doc = inner ? *inner : raw;
  std::string type = get_string(doc, "type");

  // Anthropic stream events.
  if (type == "content_block_delta") {
    if (std::optional<json> d = get_object(doc, "delta"))
      bytes +=
          string_size(*d, "text") + string_size(*d, "partial_json") + string_size(*d, "thinking");
    return true;
  }
  if (type == "message_start" || type == "content_block_start" || type == "content_block_stop" ||
      type == "message_delta" || type == "message_stop" || type == "ping")
    return true;
  // Anthropic message body.
  if (type == "message") {
    if (auto content = get_array(doc, "content")) {
      for (json block : *content) {
        bytes += string_size(block, "text") + string_size(block, "thinking");
        if (std::optional<json> input = get_object(block, "input"))
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
    if (auto output = get_array(doc, "output")) {
      for (json item : *output) {
        bytes += string_size(item, "arguments");
        for (const char* list : {"content", "summary"}) {
          if (auto parts = get_array(item, list)) {
            for (json p : *parts)
              bytes += string_size(p, "text") + string_size(p, "refusal");
          }
        }
      }
    }
    return true;
  }
  // Chat Completions chunks/bodies and legacy Completions.
  if (auto choices = get_array(doc, "choices")) {
    for (json ch : *choices) {
      bytes += string_size(ch, "text");
      std::optional<json> m = get_object(ch, "delta");
      if (!m) m = get_object(ch, "message");
      if (!m) continue;
      bytes += string_size(*m, "content") + string_size(*m, "reasoning_content") +
               string_size(*m, "refusal");
      if (auto calls = get_array(*m, "tool_calls")) {
        for (json call : *calls) {
          if (std::optional<json> fn = get_object(call, "function")) bytes += string_size(*fn, "arguments");
        }
      }
    }
    return true;
  }
  // Gemini.
  if (auto cands = get_array(doc, "candidates")) {
    for (json c : *cands) {
      std::optional<json> content = get_object(c, "content");
      auto parts = content ? get_array(*content, "parts") : std::nullopt;
      if (!parts) continue;
      for (json p : *parts) {
        bytes += string_size(p, "text");
        if (std::optional<json> call = get_object(p, "functionCall")) {
          if (std::optional<json> args = get_object(*call, "args"))
            bytes += detail::string_bytes(*args, /*include_keys=*/true);
        }
      }
    }
    return true;
  }
  // Bodies that legitimately carry no generated text.
  for (const char* key : {"usageMetadata", "promptFeedback", "embedding", "embeddings"})
    if (detail::get_member(doc, key)) return true;
  return get_string(doc, "object") == "list";
}

}  // namespace

uint64_t estimate_tokens_from_text_bytes(uint64_t bytes) { return bytes / 4 + (bytes % 4 != 0); }

uint64_t request_text_bytes(std::string_view request_body, size_t readable) {
  return json_string_bytes(request_body, readable).value_or(request_body.size());
}

Usage estimate_usage(std::string_view request_body, std::string_view response_body) {
  return estimate_usage(request_text_bytes(request_body), response_body);
}

Usage estimate_usage(uint64_t in_bytes, std::string_view response_body) {
  uint64_t out_bytes = 0;
  bool recognised = false;
  for (const json& doc : detail::parse_documents(response_body).docs)
    recognised |= output_text_bytes(doc, out_bytes);
  if (!recognised) out_bytes = response_body.size();

  return estimate_usage_from_bytes(in_bytes, out_bytes);
}

Usage estimate_usage_from_bytes(uint64_t in_bytes, uint64_t out_bytes) {
  Usage u;
  u.input_tokens = estimate_tokens_from_text_bytes(in_bytes);
  u.output_tokens = estimate_tokens_from_text_bytes(out_bytes);
  return u;
}

}  // namespace tt::provider
