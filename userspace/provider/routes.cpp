#include "provider/routes.h"

namespace tt::provider::detail {
namespace {

// Gemini methods live in the last path segment: ".../models/{model}:{method}", or
// "/v1internal:{method}" for Code Assist, where the model is in the body.
Route gemini_route(std::string_view path) {
  Route r;
  size_t slash = path.rfind('/');
  std::string_view seg = path.substr(slash + 1);
  size_t colon = seg.find(':');
  if (colon == std::string_view::npos) return r;
  std::string_view name = seg.substr(0, colon);
  std::string_view method = seg.substr(colon + 1);
  if (method == "generateContent") {
    r.api = "generate_content";
  } else if (method == "streamGenerateContent") {
    r.api = "stream_generate_content";
    r.stream = true;
  } else if (method == "countTokens") {
    r.api = "count_tokens";
    r.billable = false;
  } else if (method == "embedContent" || method == "batchEmbedContents") {
    r.api = "embeddings";
  } else {
    return r;
  }
  if (name != "v1internal") {
    std::string_view parent = path.substr(0, slash);
    parent = parent.substr(parent.rfind('/') + 1);
    if (name.empty() || (parent != "models" && parent != "tunedModels")) return r;
    r.model = std::string(name);
  }
  r.wire = WireFormat::Gemini;
  return r;
}

// Vertex AI's partner models: ".../publishers/anthropic/models/{model}:rawPredict"
// (or :streamRawPredict) take and give the Anthropic Messages format.
Route vertex_anthropic_route(std::string_view path) {
  Route r;
  size_t at = path.find("/publishers/anthropic/models/");
  if (at == std::string_view::npos) return r;
  std::string_view seg = path.substr(at + 29);
  size_t colon = seg.find(':');
  if (colon == std::string_view::npos || colon == 0 || seg.find('/') != std::string_view::npos) return r;
  std::string_view model = seg.substr(0, colon), method = seg.substr(colon + 1);
  if (method != "rawPredict" && method != "streamRawPredict") return r;
  r.wire = WireFormat::AnthropicMessages;
  if (model == "count-tokens") {
    r.api = "count_tokens";
    r.billable = false;
    return r;
  }
  r.api = "messages";
  r.stream = method == "streamRawPredict";
  r.model = std::string(model);
  return r;
}

// Bedrock runtime: "/model/{modelId}/{invoke|invoke-with-response-stream|converse|
// converse-stream}", the id URL-encoded ("us.anthropic.claude-...-v1%3A0") or an ARN.
Route bedrock_route(std::string_view path) {
  Route r;
  if (!path.starts_with("/model/")) return r;
  std::string_view rest = path.substr(7);
  size_t slash = rest.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return r;
  std::string_view action = rest.substr(slash + 1);
  if (action == "invoke" || action == "invoke-with-response-stream") {
    r.wire = WireFormat::BedrockInvoke;
    r.stream = action != "invoke";
    r.api = r.stream ? "invoke_model_stream" : "invoke_model";
  } else if (action == "converse" || action == "converse-stream") {
    r.wire = WireFormat::BedrockConverse;
    r.stream = action != "converse";
    r.api = r.stream ? "converse_stream" : "converse";
  } else {
    return r;
  }
  std::string id = percent_decode(rest.substr(0, slash));
  // An inference profile or foundation model ARN: the model id is its last part.
  if (id.starts_with("arn:") && id.find('/') != std::string::npos) id = id.substr(id.rfind('/') + 1);
  r.model = std::move(id);
  return r;
}

}  // namespace

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

Route route_for_path(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  Route r;
  auto set = [&](WireFormat w, const char* api, bool billable = true) {
    r.wire = w;
    r.api = api;
    r.billable = billable;
  };
  if (path.ends_with("/v1/messages")) {
    set(WireFormat::AnthropicMessages, "messages");
  } else if (path.ends_with("/v1/messages/count_tokens")) {
    set(WireFormat::AnthropicMessages, "count_tokens", false);
  } else if (path.ends_with("/chat/completions")) {
    set(WireFormat::OpenAIChat, "chat_completions");
  } else if (path.ends_with("/responses")) {
    set(WireFormat::OpenAIResponses, "responses");
  } else if (path.ends_with("/responses/input_tokens")) {
    set(WireFormat::OpenAIResponses, "count_tokens", false);
  } else if (path.ends_with("/completions")) {
    set(WireFormat::OpenAIChat, "completions");
  } else if (path.ends_with("/embeddings")) {
    set(WireFormat::OpenAIChat, "embeddings");
  } else if (path == "/chat-stream" || path == "/prompt-enhancer") {
    // Augment's tenant backend (Auggie): the chat turn and its prompt rewriter, both NDJSON.
    set(WireFormat::Augment, path == "/chat-stream" ? "chat_stream" : "prompt_enhancer");
    r.stream = true;
    r.needs_body_key = "chat_history";
  } else if (path == "/api/chat" || path == "/api/generate") {
    set(WireFormat::Ollama, path == "/api/chat" ? "chat" : "generate");
    r.stream_by_default = true;
    r.needs_llm_body = true;
  } else if (r = bedrock_route(path); r.wire == WireFormat::None) {
    r = vertex_anthropic_route(path);
    if (r.wire == WireFormat::None) r = gemini_route(path);
  }
  return r;
}

std::string_view provider_for_path(std::string_view path, WireFormat wire) {
  if (wire == WireFormat::BedrockInvoke || wire == WireFormat::BedrockConverse) return "aws.bedrock";
  if (wire == WireFormat::Ollama) return "ollama";
  if (wire == WireFormat::Augment) return "augment";  // only Augment's backend speaks it
  if ((path.starts_with("/v1/projects/") || path.starts_with("/v1beta1/projects/")) &&
      path.find("/locations/") != std::string_view::npos)
    return "gcp.vertex_ai";
  if (path.starts_with("/openai/deployments/")) return "azure.ai.openai";
  return {};
}

}  // namespace tt::provider::detail
