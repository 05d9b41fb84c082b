// Defensive JSON access for provider decoders: nothing here throws, wrong types read
// as absent, and bodies of any shape (JSON, SSE, streamed JSON array) become a list
// of parsed documents. Documents are simdjson DOMs (a stream carries hundreds of
// small events; simdjson parses them several times faster than nlohmann).
#pragma once
#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tt::provider::detail {

using json = simdjson::dom::element;  // a view into one of Documents' documents

enum class BodyFormat { Empty, Json, JsonArray, Sse, NdJson, EventStream };

struct Documents {
  BodyFormat format = BodyFormat::Empty;
  std::vector<json> docs;  // every document that parsed; partial or bad ones are skipped
  // What `docs` point into (a document's address must not change).
  std::vector<std::unique_ptr<simdjson::dom::document>> storage;
};

// '{' -> one JSON document; '[' -> each complete element of a (possibly cut-off)
// array, as Gemini streams without alt=sse; anything else -> SSE event data, "[DONE]"
// skipped. A document simdjson refuses (not JSON, nested deeper than 1024 levels,
// a number beyond 64 bits) is skipped like any other bad one.
Documents parse_documents(std::string_view body);
// Newline-delimited JSON (Ollama's streams): one document per line.
Documents parse_ndjson(std::string_view body);
// Parses `s` and appends it to d.docs if it is JSON; false otherwise.
bool add_document(std::string_view s, Documents& d);
// An optional non-negative number (a cost) at `key`.
std::optional<double> get_number(const json& obj, std::string_view key);

// Member `key` of `obj` if obj is an object and the member has the wanted type.
// With duplicate keys the last one counts, as in most JSON readers.
std::optional<json> get_member(const json& obj, std::string_view key);
std::optional<json> get_object(const json& obj, std::string_view key);
std::optional<simdjson::dom::array> get_array(const json& obj, std::string_view key);
std::string get_string(const json& obj, std::string_view key);  // "" unless a string
// Token counts: non-negative integers that fit in uint64 (integral floats included).
std::optional<uint64_t> get_count(const json& obj, std::string_view key);

// "kind: message" from a provider error object ({type|code|status, message}).
std::string error_text(const json& err);
// Error carried by a document: {"error":{...}} or a bare {"type":"error",...}.
std::string document_error(const json& doc);

// Total UTF-8 bytes of all string values (and keys, if asked) under v. Iterative;
// simdjson bounds the depth at 1024.
uint64_t string_bytes(const json& v, bool include_keys);

// Adds the UTF-8 length of a JSON string token ("...", perhaps with whitespace
// after it) once unescaped, without unescaping it. False on a bad escape.
bool add_unescaped_length(std::string_view token, uint64_t& n);

// ---- simdjson plumbing (also for request_json.cpp) ----

// Parses one whole JSON document into `doc`; false if simdjson refuses it. A
// leading UTF-8 byte order mark is skipped (nlohmann, used before, did so).
bool parse_json(std::string_view s, simdjson::dom::document& doc);
// Drops a leading byte order mark from `s`; `readable` counts bytes readable from s.data().
void skip_bom(std::string_view& s, size_t& readable);
// simdjson reads up to SIMDJSON_PADDING bytes past its input: `s` in place when
// `readable` leaves that room, else a copy in `scratch` (a memcpy costs ~1/30 of a parse).
simdjson::padded_string_view padded(std::string_view s, size_t readable, std::string& scratch);

// Parsers and scratch buffers keep the capacity of the largest input they saw:
// inputs up to kKeepCapacity share one per thread, bigger ones get `own` (freed
// by the caller's scope), so one huge body does not pin its memory.
constexpr size_t kKeepCapacity = 4u << 20;
template <class T>
T& shared_for(size_t size, std::optional<T>& own) {
  thread_local T shared;
  return size <= kKeepCapacity ? shared : own.emplace();
}

inline uint64_t sat_add(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }
inline uint64_t sat_sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

}  // namespace tt::provider::detail
