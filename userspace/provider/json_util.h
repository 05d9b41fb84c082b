// Defensive JSON access for provider decoders: nothing here throws, wrong types read
// as absent, and bodies of any shape (JSON, SSE, streamed JSON array) become a list
// of parsed documents.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tt::provider::detail {

using json = nlohmann::json;

enum class BodyFormat { Empty, Json, JsonArray, Sse };

struct Documents {
  BodyFormat format = BodyFormat::Empty;
  std::vector<json> docs;  // every document that parsed; partial or bad ones are skipped
};

// '{' -> one JSON document; '[' -> each complete element of a (possibly cut-off)
// array, as Gemini streams without alt=sse; anything else -> SSE event data, "[DONE]"
// skipped.
Documents parse_documents(std::string_view body);

// Member `key` of `obj` if obj is an object and the member has the wanted type.
const json* get_object(const json& obj, std::string_view key);
const json* get_array(const json& obj, std::string_view key);
std::string get_string(const json& obj, std::string_view key);  // "" unless a string
// Token counts: non-negative integers that fit in uint64 (integral floats included).
std::optional<uint64_t> get_count(const json& obj, std::string_view key);

// "kind: message" from a provider error object ({type|code|status, message}).
std::string error_text(const json& err);
// Error carried by a document: {"error":{...}} or a bare {"type":"error",...}.
std::string document_error(const json& doc);

// Total UTF-8 bytes of all string values (and keys, if asked) under v. Iterative,
// so arbitrarily deep garbage cannot exhaust the stack.
uint64_t string_bytes(const json& v, bool include_keys);

inline uint64_t sat_add(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }
inline uint64_t sat_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

}  // namespace tt::provider::detail
