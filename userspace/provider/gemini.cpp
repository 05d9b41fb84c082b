// Gemini generateContent / streamGenerateContent, including the Code Assist
// (cloudcode-pa) envelope. Stream chunks carry cumulative usageMetadata.
#include "provider/decoders.h"

namespace tt::provider::detail {

std::optional<json> gemini_inner(const json& doc) {
  // Only a Gemini-shaped inner object: OpenAI Responses events also carry "response".
  std::optional<json> inner = get_object(doc, "response");
  if (inner && (get_member(*inner, "candidates") || get_member(*inner, "usageMetadata") ||
                get_member(*inner, "promptFeedback")))
    return inner;
  return std::nullopt;
}

ResponseInfo decode_gemini(const Documents& d) {
  ResponseInfo r;
  bool finished = false;
  for (const json& raw : d.docs) {
    if (std::string err = document_error(raw); !err.empty()) r.error = err;
    std::optional<json> inner = gemini_inner(raw);
    const json& doc = inner ? *inner : raw;
    if (inner) {
      if (std::string err = document_error(doc); !err.empty()) r.error = err;
    }
    if (std::string id = get_string(doc, "responseId"); !id.empty()) r.response_id = id;
    if (std::string mv = get_string(doc, "modelVersion"); !mv.empty()) r.model = mv;
    if (auto cands = get_array(doc, "candidates")) {
      for (json c : *cands) {
        if (std::string fr = get_string(c, "finishReason"); !fr.empty()) {
          r.stop_reason = fr;
          finished = true;
        }
        // Each chunk carries parts of its own (not the text so far).
        std::optional<json> content = get_object(c, "content");
        if (auto parts = content ? get_array(*content, "parts") : std::nullopt)
          for (json part : *parts)
            if (std::optional<json> call = get_object(part, "functionCall")) r.add_tool_call(get_string(*call, "name"));
      }
    }
    // A blocked prompt ends the response without candidates.
    if (std::optional<json> fb = get_object(doc, "promptFeedback")) {
      if (std::string br = get_string(*fb, "blockReason"); !br.empty()) {
        r.stop_reason = br;
        finished = true;
      }
    }
    if (std::optional<json> um = get_object(doc, "usageMetadata")) {
      uint64_t prompt = get_count(*um, "promptTokenCount").value_or(0);
      uint64_t cached = get_count(*um, "cachedContentTokenCount").value_or(0);
      uint64_t tool = get_count(*um, "toolUsePromptTokenCount").value_or(0);
      uint64_t cands = get_count(*um, "candidatesTokenCount").value_or(0);
      uint64_t thoughts = get_count(*um, "thoughtsTokenCount").value_or(0);
      r.usage = Usage{};
      r.usage.input_tokens = sat_add(sat_sub(prompt, cached), tool);
      r.usage.cache_read_tokens = cached;
      r.usage.output_tokens = sat_add(cands, thoughts);
      r.usage.reasoning_tokens = thoughts;
      // Stream: only the chunk that finishes (or one after it) has the final totals.
      r.final_usage = finished || d.format == BodyFormat::Json;
    }
  }
  return r;
}

}  // namespace tt::provider::detail
