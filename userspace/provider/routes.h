// Which call a request path makes: the wire format, the endpoint kind and, where
// the path carries them, the model and streaming (Gemini, Vertex AI, Bedrock).
#pragma once
#include <string>
#include <string_view>

#include "provider/provider.h"

namespace tt::provider::detail {

struct Route {
  WireFormat wire = WireFormat::None;
  const char* api = "";
  bool billable = true;
  bool stream = false;
  bool stream_by_default = false;  // Ollama streams unless the body says "stream": false
  bool needs_llm_body = false;     // a generic path (/api/chat): only with a model and a prompt
  // A path another service could serve (Augment's /chat-stream): only on one of the
  // provider's hosts, or with this key in the body.
  const char* needs_body_key = nullptr;
  std::string model;               // from the path
};

// `path` without query string.
Route route_for_path(std::string_view path);
// The provider a path alone names (Bedrock, Vertex AI, Azure deployments, Ollama), or "".
std::string_view provider_for_path(std::string_view path, WireFormat wire);
// "%3A" -> ":"; a malformed escape stays as it is.
std::string percent_decode(std::string_view s);

}  // namespace tt::provider::detail
