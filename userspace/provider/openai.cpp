// OpenAI Chat Completions (and Completions/Embeddings) and the Responses API.
#include "provider/decoders.h"

namespace tt::provider::detail {
namespace {

// prompt/input counts include cached tokens (and OpenRouter's cache writes); ours
// exclude them. Cache reads where vendors put them: OpenAI's *_tokens_details,
// DeepSeek's prompt_cache_hit_tokens, Moonshot's top-level cached_tokens.
Usage openai_usage(const json& u, std::string_view input_key, std::string_view input_details,
                   std::string_view output_key, std::string_view output_details) {
  Usage out;
  uint64_t input = get_count(u, input_key).value_or(0);
  std::optional<uint64_t> cached;
  if (std::optional<json> det = get_object(u, input_details)) {
    cached = get_count(*det, "cached_tokens");
    out.cache_write_tokens = out.cache_write_5m_tokens = get_count(*det, "cache_write_tokens").value_or(0);
  }
  if (!cached) cached = get_count(u, "prompt_cache_hit_tokens");
  if (!cached) cached = get_count(u, "cached_tokens");
  out.cache_read_tokens = cached.value_or(0);
  out.input_tokens = sat_sub(sat_sub(input, out.cache_read_tokens), out.cache_write_tokens);
  out.output_tokens = get_count(u, output_key).value_or(0);
  if (std::optional<json> det = get_object(u, output_details))
    out.reasoning_tokens = get_count(*det, "reasoning_tokens").value_or(0);
  return out;
}

// OpenRouter's charge in credits (US dollars): its own cost, plus with a user's
// own provider key (BYOK) what that provider charged.
std::optional<double> reported_cost(const json& u) {
  std::optional<double> cost = get_number(u, "cost");
  if (!cost) return std::nullopt;
  std::optional<json> b = get_member(u, "is_byok");
  bool byok = b && b->is_bool() && b->get_bool().value_unsafe();
  if (std::optional<json> det = get_object(u, "cost_details"); det && byok)
    *cost += get_number(*det, "upstream_inference_cost").value_or(0);
  return cost;
}

}  // namespace

ResponseInfo decode_openai_chat(const Documents& d) {
  ResponseInfo r;
  for (const json& doc : d.docs) {
    if (std::string err = document_error(doc); !err.empty()) r.error = err;
    if (r.response_id.empty()) r.response_id = get_string(doc, "id");
    if (r.model.empty()) r.model = get_string(doc, "model");
    if (auto choices = get_array(doc, "choices")) {
      for (json ch : *choices) {
        if (std::string fr = get_string(ch, "finish_reason"); !fr.empty()) r.stop_reason = fr;
      }
    }
    // Streams send "usage": null on every chunk but the last; only an object counts.
    if (std::optional<json> u = get_object(doc, "usage")) {
      r.usage = openai_usage(*u, "prompt_tokens", "prompt_tokens_details", "completion_tokens",
                             "completion_tokens_details");
      r.reported_cost_usd = reported_cost(*u);
      r.final_usage = true;
    }
  }
  return r;
}

ResponseInfo decode_openai_responses(const Documents& d) {
  ResponseInfo r;
  for (const json& doc : d.docs) {
    if (std::string err = document_error(doc); !err.empty()) r.error = err;
    std::string type = get_string(doc, "type");
    // A non-stream body is the response object itself; stream events wrap it.
    bool whole = get_string(doc, "object") == "response";
    std::optional<json> resp = whole ? doc : get_object(doc, "response");
    if (!resp) continue;
    if (std::string id = get_string(*resp, "id"); !id.empty()) r.response_id = id;
    if (std::string model = get_string(*resp, "model"); !model.empty()) r.model = model;
    if (std::string status = get_string(*resp, "status"); !status.empty()) r.stop_reason = status;
    if (std::optional<json> inc = get_object(*resp, "incomplete_details")) {
      if (std::string reason = get_string(*inc, "reason"); !reason.empty()) r.stop_reason = reason;
    }
    if (std::optional<json> err = get_object(*resp, "error")) r.error = error_text(*err);
    bool terminal = whole || type == "response.completed" || type == "response.incomplete" ||
                    type == "response.failed";
    if (std::optional<json> u = get_object(*resp, "usage"); u && terminal) {
      r.usage = openai_usage(*u, "input_tokens", "input_tokens_details", "output_tokens",
                             "output_tokens_details");
      r.reported_cost_usd = reported_cost(*u);
      r.final_usage = true;
    }
  }
  return r;
}

}  // namespace tt::provider::detail
