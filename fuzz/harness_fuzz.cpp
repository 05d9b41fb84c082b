// Harness and session identification: the rules (RE2 on headers, body fields,
// process facts) against fuzzed headers, body and processes.
// Input: a flags byte, then three parts split by "\n--tt--\n": request head
// (http_text.h), body, and process facts one per line (exe, comm, package,
// then argv words).
#include "fuzz_input.h"
#include "http_text.h"
#include "provider/harness.h"

namespace {

std::vector<tt::provider::ProcessFacts> parse_process(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    size_t nl = std::min(text.find('\n'), text.size());
    lines.emplace_back(text.substr(0, nl));
    text.remove_prefix(std::min(nl + 1, text.size()));
  }
  lines.resize(std::max<size_t>(lines.size(), 3));
  tt::provider::ProcessFacts p{lines[0], lines[1], {lines.begin() + 3, lines.end()}, lines[2]};
  return {p, tt::provider::ProcessFacts{"/bin/sh", "sh", {"sh"}, ""}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tt::fuzz::Reader in(data, size);
  uint8_t flags = in.u8();
  auto parts = tt::fuzz::split_parts(in.rest(), 3);
  auto req = tt::fuzz::parse_head(parts[0], true);
  std::string body(parts[1]);
  auto procs = parse_process(parts[2]);
  // With a parse the caller made (as decode does), or parsing the body itself.
  std::optional<tt::provider::RequestJson> parsed;
  if (flags & 1) parsed.emplace(body, tt::provider::harness_body_paths(), body.capacity());
  auto h = tt::provider::identify_harness(req, body, parsed ? &*parsed : nullptr, flags & 2 ? &procs : nullptr);
  // Bounds the rules promise (docs/security.md).
  if (h.version.size() > 64 || h.session_id.size() > 256) __builtin_trap();
  return 0;
}
