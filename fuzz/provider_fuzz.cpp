// Provider decoding: one request/response pair through provider::decode, so
// each wire format (Anthropic, OpenAI Chat and Responses, Gemini, Code Assist,
// unknown), JSON and SSE, usage, errors, estimation, harness rules, the request's
// anatomy and the tools the response called.
// Input: a flags byte, then four parts split by "\n--tt--\n": request head
// (http_text.h), request body, response head, response body.
#include "fuzz_input.h"
#include "http_text.h"
#include "provider/provider.h"

#include <nlohmann/json.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tt::fuzz::Reader in(data, size);
  uint8_t flags = in.u8();
  auto parts = tt::fuzz::split_parts(in.rest(), 4);
  auto req = tt::fuzz::parse_head(parts[0], true);
  auto resp = tt::fuzz::parse_head(parts[2], false);
  std::string req_body(parts[1]);  // owned, so its capacity may be declared readable

  tt::provider::Exchange ex;
  ex.request = &req;
  ex.response = flags & 1 ? &resp : nullptr;
  ex.response_complete = flags & 2;
  ex.response_body = parts[3];
  // Both ways the pipeline hands a request over: digested as it ended, or whole.
  std::optional<tt::provider::RequestDigest> digest;
  size_t readable = flags & 8 ? req_body.capacity() : 0;
  if (flags & 4)
    ex.request_digest = &digest.emplace(req, req_body, readable);
  else
    ex.request_body = req_body, ex.request_body_readable = readable;
  std::vector<tt::provider::ProcessFacts> procs{{"/usr/bin/node", "node", {"node", "/x/cli.js"}, "pkg@1.0"}};
  if (flags & 16) ex.processes = &procs;

  tt::provider::ApiCall c = tt::provider::decode(ex);
  tt::fuzz::touch(c.model);
  tt::fuzz::touch(c.session_id);
  // Classification from the request alone agrees with the full decode, digested
  // or not. Not for invalid JSON: simdjson On-Demand skips unread values
  // without validating them, so whether a bad body is an object depends on
  // which values a pass reads (see docs/security.md). json_string_bytes does
  // not validate every structure either ("[\"a\": 1]" passes it), so the body
  // is checked by a validating parser.
  if (nlohmann::json::accept(req_body) && tt::provider::classify(req, req_body).is_llm != c.is_llm)
    __builtin_trap();
  // The anatomy is the same whether the body was digested or read whole, and its
  // parts' tokens add up to any prompt.
  const tt::provider::Anatomy& a = c.anatomy;
  tt::provider::Anatomy whole = tt::provider::read_anatomy(c.wire, req_body);
  bool same = whole.prefix_hashes == a.prefix_hashes && whole.prefix_bytes == a.prefix_bytes &&
              whole.tool_names == a.tool_names && whole.conversation_hash == a.conversation_hash &&
              whole.new_content_hash == a.new_content_hash && whole.cache_breakpoints == a.cache_breakpoints;
  for (size_t i = 0; i < tt::provider::kPartCount; ++i) same &= whole.parts[i].bytes == a.parts[i].bytes;
  if (c.is_llm && !same) __builtin_trap();
  if (a.prefix_hashes.size() > tt::provider::kMaxPrefixBlocks || a.tool_names.size() > tt::provider::kMaxToolNames)
    __builtin_trap();
  uint64_t prompt = c.usage.input_tokens + c.usage.cache_read_tokens, sum = 0, bytes = 0;
  for (uint64_t t : tt::provider::part_tokens(a, prompt, true)) sum += t;
  for (const auto& p : a.parts) bytes += p.bytes;
  if (bytes && sum != prompt) __builtin_trap();
  for (const std::string& name : c.tools_called) tt::fuzz::touch(name);
  return 0;
}
