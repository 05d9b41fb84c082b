// Augment's chat stream (Auggie's POST /chat-stream on its tenant backend,
// https://dNN.api.augmentcode.com/): newline-delimited JSON, one object per line,
//   {"text": "<the text this line adds>", "nodes": [...], "stop_reason": 1}
// where nodes repeat the text as raw-response nodes (type 0) and carry tool calls
// (type 5: {"tool_use": {"tool_name", "input_json"}}), and the last line has the
// stop reason (a number, or its enum name). The lines carry no token usage that
// tokentap can check against a provider's bill, so Augment calls are estimated: the
// decoder measures the text the answer generated (output_text_bytes) for that.
#include <array>

#include "provider/decoders.h"

namespace tt::provider::detail {
namespace {

constexpr int kToolUseNode = 5;

// Augment's StopReason enum, as the client reads it.
constexpr std::array<std::string_view, 8> kStopReasons = {
    "unspecified", "end_turn", "max_tokens", "tool_use_requested", "safety", "recitation",
    "malformed_function_call", "error"};

std::string stop_reason_of(const json& line) {
  std::optional<json> v = get_member(line, "stop_reason");
  if (!v) return {};
  if (v->is_string()) return std::string(v->get_string().value_unsafe());
  std::optional<uint64_t> n = get_count(line, "stop_reason");
  if (!n) return {};
  return *n < kStopReasons.size() ? std::string(kStopReasons[*n]) : std::to_string(*n);
}

// A tool call node: its name, and the bytes of its input (generated text too).
void read_tool_use(const json& node, ResponseInfo& r, uint64_t& bytes) {
  std::optional<json> use = get_object(node, "tool_use");
  if (!use) return;
  r.add_tool_call(get_string(*use, "tool_name"));
  bytes += get_string(*use, "input_json").size();
}

}  // namespace

ResponseInfo decode_augment(const Documents& d) {
  ResponseInfo r;
  uint64_t bytes = 0;
  for (const json& line : d.docs) {
    if (std::string err = document_error(line); !err.empty()) r.error = err;
    // Each line's "text" is new text; its raw-response nodes only repeat it.
    bytes += get_string(line, "text").size();
    if (auto nodes = get_array(line, "nodes"))
      for (json node : *nodes)
        if (get_count(node, "type") == static_cast<uint64_t>(kToolUseNode)) read_tool_use(node, r, bytes);
    if (std::string stop = stop_reason_of(line); !stop.empty()) r.stop_reason = stop;
  }
  r.output_text_bytes = bytes;
  return r;
}

}  // namespace tt::provider::detail
