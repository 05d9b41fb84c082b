// OpenAI Chat Completions (and Completions/Embeddings) and the Responses API.
#include <map>
#include <set>
#include <utility>
#include <vector>

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

// The function a Chat tool call (or a legacy function_call) names.
std::string function_name(const json& call) {
  std::optional<json> f = get_object(call, "function");
  return f ? get_string(*f, "name") : get_string(call, "name");
}

// A Responses output item that calls a tool: function_call and custom_tool_call
// name it; local_shell_call is the local_shell tool.
void add_output_item(const json& item, std::vector<std::string>& out) {
  std::string type = get_string(item, "type");
  if (type == "function_call" || type == "custom_tool_call")
    out.push_back(get_string(item, "name"));
  else if (type == "local_shell_call")
    out.emplace_back("local_shell");
}

}  // namespace

// A message's tool calls (whole: a JSON body, or Ollama's chunks).
void add_chat_tool_calls(const json& message, ResponseInfo& r) {
  if (auto calls = get_array(message, "tool_calls"))
    for (json call : *calls) r.add_tool_call(function_name(call));
  if (std::optional<json> fc = get_object(message, "function_call")) r.add_tool_call(get_string(*fc, "name"));
}

ResponseInfo decode_openai_chat(const Documents& d) {
  ResponseInfo r;
  // Streamed calls: the name comes in the first delta of each (choice, call index).
  std::set<std::pair<uint64_t, uint64_t>> named;
  for (const json& doc : d.docs) {
    if (std::string err = document_error(doc); !err.empty()) r.error = err;
    if (r.response_id.empty()) r.response_id = get_string(doc, "id");
    if (r.model.empty()) r.model = get_string(doc, "model");
    if (auto choices = get_array(doc, "choices")) {
      for (json ch : *choices) {
        if (std::string fr = get_string(ch, "finish_reason"); !fr.empty()) r.stop_reason = fr;
        if (std::optional<json> msg = get_object(ch, "message")) add_chat_tool_calls(*msg, r);
        std::optional<json> delta = get_object(ch, "delta");
        if (!delta) continue;
        uint64_t choice = get_count(ch, "index").value_or(0);
        if (auto calls = get_array(*delta, "tool_calls")) {
          for (json call : *calls) {
            std::string name = function_name(call);
            if (!name.empty() && named.emplace(choice, get_count(call, "index").value_or(0)).second)
              r.add_tool_call(std::move(name));
          }
        }
        if (std::optional<json> fc = get_object(*delta, "function_call"); fc && named.emplace(choice, UINT64_MAX).second)
          r.add_tool_call(get_string(*fc, "name"));
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
  // Tool calls: the final response's output when it lists any, else the items
  // streamed (output_item.added, then .done: one per output_index).
  std::vector<std::string> final_calls;
  std::map<uint64_t, std::vector<std::string>> streamed;
  bool final_output = false;
  for (const json& doc : d.docs) {
    if (std::string err = document_error(doc); !err.empty()) r.error = err;
    std::string type = get_string(doc, "type");
    if (type == "response.output_item.added" || type == "response.output_item.done") {
      if (std::optional<json> item = get_object(doc, "item")) {
        std::vector<std::string> calls;
        add_output_item(*item, calls);
        streamed[get_count(doc, "output_index").value_or(streamed.size())] = std::move(calls);
      }
    }
    // A non-stream body is the response object itself; stream events wrap it.
    bool whole = get_string(doc, "object") == "response";
    std::optional<json> resp = whole ? doc : get_object(doc, "response");
    if (!resp) continue;
    if (auto output = get_array(*resp, "output"); output && output->size()) {
      final_calls.clear();
      for (json item : *output) add_output_item(item, final_calls);
      final_output = true;
    }
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
  if (!final_output)
    for (auto& [index, calls] : streamed) final_calls.insert(final_calls.end(), calls.begin(), calls.end());
  for (std::string& name : final_calls) r.add_tool_call(std::move(name));
  return r;
}

}  // namespace tt::provider::detail
