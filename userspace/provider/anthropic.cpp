// Anthropic Messages API: JSON message body, or SSE message_start ... message_delta.
#include <optional>

#include "provider/decoders.h"

namespace tt::provider::detail {
namespace {

struct AnthropicUsage {
  std::optional<uint64_t> input, cache_read, cache_write, cache_5m, cache_1h, output;

  static AnthropicUsage from(const json& u) {
    AnthropicUsage a;
    a.input = get_count(u, "input_tokens");
    a.cache_read = get_count(u, "cache_read_input_tokens");
    a.cache_write = get_count(u, "cache_creation_input_tokens");
    if (std::optional<json> cc = get_object(u, "cache_creation")) {
      a.cache_5m = get_count(*cc, "ephemeral_5m_input_tokens");
      a.cache_1h = get_count(*cc, "ephemeral_1h_input_tokens");
    }
    a.output = get_count(u, "output_tokens");
    return a;
  }

  // Fields present in `later` win (message_delta over message_start).
  void overlay(const AnthropicUsage& later) {
    for (auto [mine, theirs] : {std::pair{&input, &later.input},
                                {&cache_read, &later.cache_read},
                                {&cache_write, &later.cache_write},
                                {&cache_5m, &later.cache_5m},
                                {&cache_1h, &later.cache_1h},
                                {&output, &later.output}}) {
      if (theirs->has_value()) *mine = *theirs;
    }
  }

  Usage to_usage() const {
    Usage u;
    u.input_tokens = input.value_or(0);
    u.cache_read_tokens = cache_read.value_or(0);
    bool breakdown = cache_5m || cache_1h;
    u.cache_write_tokens =
        cache_write ? *cache_write : sat_add(cache_5m.value_or(0), cache_1h.value_or(0));
    // Without a breakdown all cache writes are the default 5-minute kind.
    u.cache_write_5m_tokens = breakdown ? cache_5m.value_or(0) : u.cache_write_tokens;
    u.cache_write_1h_tokens = cache_1h.value_or(0);
    u.output_tokens = output.value_or(0);
    return u;
  }
};

// A content block that calls a tool: the client's (tool_use) or the provider's own
// (server_tool_use, e.g. web_search).
void add_tool_use(const json& block, ResponseInfo& r) {
  std::string type = get_string(block, "type");
  if (type == "tool_use" || type == "server_tool_use") r.add_tool_call(get_string(block, "name"));
}

}  // namespace

ResponseInfo decode_anthropic_messages(const Documents& d) {
  ResponseInfo r;
  AnthropicUsage usage;
  for (const json& doc : d.docs) {
    if (std::string err = document_error(doc); !err.empty()) r.error = err;
    std::string type = get_string(doc, "type");
    std::optional<json> msg = type == "message" ? doc : get_object(doc, "message");
    if (msg && (type == "message" || type == "message_start")) {
      if (std::string id = get_string(*msg, "id"); !id.empty()) r.response_id = id;
      if (std::string model = get_string(*msg, "model"); !model.empty()) r.model = model;
      if (std::string stop = get_string(*msg, "stop_reason"); !stop.empty()) r.stop_reason = stop;
      if (std::optional<json> u = get_object(*msg, "usage")) {
        usage = AnthropicUsage::from(*u);
        r.final_usage = type == "message";
      }
      if (auto content = type == "message" ? get_array(*msg, "content") : std::nullopt)
        for (json block : *content) add_tool_use(block, r);
    } else if (type == "content_block_start") {
      if (std::optional<json> block = get_object(doc, "content_block")) add_tool_use(*block, r);
    } else if (type == "message_delta") {
      if (std::optional<json> delta = get_object(doc, "delta")) {
        if (std::string stop = get_string(*delta, "stop_reason"); !stop.empty())
          r.stop_reason = stop;
      }
      if (std::optional<json> u = get_object(doc, "usage")) {
        usage.overlay(AnthropicUsage::from(*u));
        r.final_usage = true;
      }
    }
  }
  if (r.final_usage) r.usage = usage.to_usage();
  return r;
}

}  // namespace tt::provider::detail
