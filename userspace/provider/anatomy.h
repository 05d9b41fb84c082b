// Where a request's prompt went (ContextAnatomy in records.proto, docs/analysis.md):
// the parts of a request body in text bytes, the prefix chain of the blocks the
// provider caches, and hashes that recognise a conversation, a retry and a tool
// result carried along; never any of the text itself.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tt::provider {

enum class WireFormat;  // provider.h

// The five parts of a prompt, in ContextAnatomy's order.
enum Part : uint8_t { kSystem, kTools, kHistory, kToolResults, kNewContent, kPartCount };

struct PartSize {
  uint64_t bytes = 0;  // UTF-8 bytes of the JSON string values in the part (keys not counted)
  uint32_t count = 0;  // items: system blocks and messages, tools, messages, tool results
};

struct Anatomy {
  std::array<PartSize, kPartCount> parts;
  std::vector<std::string> tool_names;  // tools defined, in order
  std::vector<uint64_t> tool_bytes;     // each one's bytes (as PartSize.bytes)
  uint32_t cache_breakpoints = 0;       // cache_control objects (Converse: cachePoint) anywhere
  uint32_t cache_ttl_seconds = 0;       // the longest TTL they ask for; 0 without any
  // After each block, in the order the provider caches them, XXH3-64 of the raw
  // JSON of every block so far, and its length.
  std::vector<uint64_t> prefix_hashes;
  std::vector<uint64_t> prefix_bytes;
  uint64_t conversation_hash = 0;  // XXH3 of the first user message's raw JSON
  uint64_t new_content_hash = 0;   // of the new content's messages, raw; 0 if none
  bool new_user_turn = false;      // new content is not empty
  uint64_t largest_tool_result_hash = 0;   // of its raw JSON
  uint64_t largest_tool_result_bytes = 0;  // its bytes (as PartSize.bytes)
  uint32_t messages = 0;                   // messages (Responses: input items)

  // Nothing read: not a JSON object of a format with a prompt, or not walked to its end.
  bool empty() const { return prefix_hashes.empty(); }
};

// Bounds on what one body can put in a record.
inline constexpr size_t kMaxPrefixBlocks = 4096;  // later blocks share the last link
inline constexpr size_t kMaxToolNames = 1024;     // later tools count in the part only
inline constexpr size_t kMaxToolNameBytes = 256;

// A tool's name as records keep it: at most kMaxToolNameBytes, cut between characters.
inline std::string tool_name(std::string_view name) {
  size_t n = name.size() < kMaxToolNameBytes ? name.size() : kMaxToolNameBytes;
  while (n > 0 && n < name.size() && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80) --n;  // not in a character
  return std::string(name.substr(0, n));
}

// The anatomy of a request body (content-decoded) spoken in `wire`, in one
// simdjson On-Demand pass over it. Empty for formats without one, bodies that
// are not one JSON object, or that nest deeper than 1024 levels. `readable`:
// bytes readable from body.data() (see RequestJson). Never throws.
Anatomy read_anatomy(WireFormat wire, std::string_view body, size_t readable = 0);

// Tokens of each part: with `exact` usage its bytes scaled so that the parts add
// up to `prompt_tokens` exactly (largest remainder), else about 4 bytes a token
// (estimate_tokens_from_text_bytes). All 0 when the parts have no bytes.
std::array<uint64_t, kPartCount> part_tokens(const Anatomy& a, uint64_t prompt_tokens, bool exact);

}  // namespace tt::provider
