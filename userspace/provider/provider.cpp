// Recognising LLM API calls and taking their usage.
//
// Usage is Exact only when the response's final usage record arrived (see
// ResponseInfo::final_usage); a stream cut off after message_start, or before the
// OpenAI usage chunk, is Estimated as a whole rather than mixing exact input with
// guessed output. Estimated calls always say why in `error`: the provider's error if
// the body had one, else "HTTP <status>", "no response", "stream ended before usage",
// "response truncated", "response has no usage" or "unknown api".
#include "provider/provider.h"

#include <algorithm>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "provider/decoders.h"
#include "provider/json_util.h"
#include "provider/request_json.h"

namespace tt::provider {
namespace {

using detail::json;

// The response format a path speaks, independent of which company serves it.
enum class Wire { None, AnthropicMessages, OpenAIChat, OpenAIResponses, Gemini, Unknown };

struct Route {
  Wire wire = Wire::None;
  Provider provider = Provider::Unknown;
  const char* api = "";
  bool billable = true;
  bool stream = false;
  std::string model;  // Gemini: from the path
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

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
  r.wire = Wire::Gemini;
  r.provider = Provider::Gemini;
  return r;
}

Route route_for_path(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  Route r;
  auto set = [&](Wire w, Provider p, const char* api, bool billable = true) {
    r.wire = w;
    r.provider = p;
    r.api = api;
    r.billable = billable;
  };
  if (path.ends_with("/v1/messages")) {
    set(Wire::AnthropicMessages, Provider::Anthropic, "messages");
  } else if (path.ends_with("/v1/messages/count_tokens")) {
    set(Wire::AnthropicMessages, Provider::Anthropic, "count_tokens", false);
  } else if (path.ends_with("/chat/completions")) {
    set(Wire::OpenAIChat, Provider::OpenAI, "chat_completions");
  } else if (path.ends_with("/responses")) {
    set(Wire::OpenAIResponses, Provider::OpenAI, "responses");
  } else if (path.ends_with("/responses/input_tokens")) {
    set(Wire::OpenAIResponses, Provider::OpenAI, "count_tokens", false);
  } else if (path.ends_with("/completions")) {
    set(Wire::OpenAIChat, Provider::OpenAI, "completions");
  } else if (path.ends_with("/embeddings")) {
    set(Wire::OpenAIChat, Provider::OpenAI, "embeddings");
  } else {
    r = gemini_route(path);
  }
  return r;
}

constexpr std::string_view kPromptKeys[] = {"messages", "prompt", "input", "contents"};

// Every request body field decoding reads, so that one pass over the body serves all.
std::span<const std::string_view> request_paths() {
  static const std::vector<std::string_view> paths = [] {
    std::vector<std::string_view> p = {"model", "stream", "request.model"};
    p.insert(p.end(), std::begin(kPromptKeys), std::end(kPromptKeys));
    for (std::string_view h : harness_body_paths())
      if (std::find(p.begin(), p.end(), h) == p.end()) p.push_back(h);
    return p;
  }();
  return paths;
}

// An unrecognised endpoint still looks like an LLM call when its JSON body names a
// model and carries a prompt in one of the common shapes.
bool looks_like_llm_body(const RequestJson& body) {
  if (!body.is_object() || !body.at("model").present()) return false;
  for (std::string_view k : kPromptKeys)
    if (body.at(k).present()) return true;
  return false;
}

// `body` is parsed only if the path does not say what the call is, and only if
// `fields` (its fields read earlier) is null.
ApiCall classify_with_wire(const protocol::HttpMessage& request, std::string_view body, Wire& wire,
                           std::optional<RequestJson>& parsed, const RequestJson* fields = nullptr) {
  ApiCall c;
  wire = Wire::None;
  std::string_view target = request.target;
  std::string_view host;
  if (const std::string* h = request.header("Host"))
    host = *h;
  else if (const std::string* a = request.header(":authority"))
    host = *a;
  // Absolute-form target (sent to proxies): scheme://authority/path.
  if (size_t scheme = target.find("://"); scheme != std::string_view::npos && target[0] != '/') {
    std::string_view rest = target.substr(scheme + 3);
    size_t path_at = std::min(rest.find('/'), rest.size());
    if (host.empty()) host = rest.substr(0, path_at);
    target = rest.substr(path_at);
  }
  std::string_view path = target.substr(0, std::min(target.find_first_of("?#"), target.size()));
  Provider by_host = provider_for_host(host);
  c.provider = by_host;
  if (request.method != "POST") return c;

  Route r = route_for_path(path);
  if (r.wire == Wire::None) {
    if (!looks_like_llm_body(fields ? *fields : parsed.emplace(body, request_paths()))) return c;
    r.wire = Wire::Unknown;
    r.api = "unknown";
  }
  wire = r.wire;
  c.is_llm = true;
  // The host names the company (Gemini's OpenAI-compatible endpoint is still Gemini);
  // the path only says which wire format is spoken.
  c.provider = by_host != Provider::Unknown ? by_host : r.provider;
  c.api = r.api;
  c.billable = r.billable;
  c.stream = r.stream;
  c.model = std::move(r.model);
  return c;
}

std::string first_header(const protocol::HttpMessage* m, std::initializer_list<const char*> names) {
  if (!m) return {};
  for (const char* n : names) {
    if (const std::string* v = m->header(n); v && !v->empty()) return *v;
  }
  return {};
}

std::string strip_models_prefix(std::string s) {
  return s.starts_with("models/") ? s.substr(7) : s;
}

}  // namespace

// The one table of first-party API hosts (the pipeline's socket fallback
// reads it too, through provider_for_host).
namespace {
constexpr std::pair<std::string_view, Provider> kHosts[] = {
    {"api.anthropic.com", Provider::Anthropic},
    {"api.openai.com", Provider::OpenAI},
    {"chatgpt.com", Provider::OpenAI},  // Codex with a ChatGPT login
    {"generativelanguage.googleapis.com", Provider::Gemini},
    {"cloudcode-pa.googleapis.com", Provider::Gemini},  // Gemini Code Assist
};
}  // namespace

std::string host_key(std::string_view host) {
  if (host.starts_with('[')) return lower(host.substr(0, host.find(']') + 1));  // "[::1]:443" -> "[::1]"
  size_t colon = host.find(':');
  bool port = colon != std::string_view::npos && host.rfind(':') == colon;  // one colon: HOST:PORT
  return lower(port ? host.substr(0, colon) : host);
}

Provider provider_for_host(std::string_view host) {
  std::string h = host_key(host);
  for (auto [name, p] : kHosts)
    if (h == name) return p;
  return Provider::Unknown;
}

const char* provider_name(Provider p) {
  switch (p) {
    case Provider::Anthropic:
      return "anthropic";
    case Provider::OpenAI:
      return "openai";
    case Provider::Gemini:
      return "gemini";
    case Provider::Unknown:
      break;
  }
  return "unknown";
}

const char* usage_source_name(UsageSource s) {
  switch (s) {
    case UsageSource::Exact:
      return "exact";
    case UsageSource::Estimated:
      return "estimated";
    case UsageSource::None:
      break;
  }
  return "none";
}

ApiCall classify(const protocol::HttpMessage& request, std::string_view request_body) {
  Wire wire;
  std::optional<RequestJson> parsed;
  return classify_with_wire(request, request_body, wire, parsed);
}

RequestDigest::RequestDigest(std::string_view body, size_t readable)
    : fields(body, request_paths(), readable, /*count_text=*/true),
      // A body that is not one JSON object (rare) takes a pass of its own.
      text_bytes(fields.text_bytes() ? *fields.text_bytes() : request_text_bytes(body, readable)) {}

ApiCall decode(const Exchange& ex) {
  if (!ex.request) return {};
  Wire wire;
  std::optional<RequestJson> parsed;
  const RequestDigest* digest = ex.request_digest;
  ApiCall c = classify_with_wire(*ex.request, ex.request_body, wire, parsed, digest ? &digest->fields : nullptr);
  c.user_agent = first_header(ex.request, {"User-Agent"});
  c.request_id = first_header(ex.response, {"request-id", "x-request-id"});
  auto set_harness = [&c](Harness h) {
    c.harness = std::move(h.name);
    c.harness_version = std::move(h.version);
    c.session_id = std::move(h.session_id);
    c.session_source = std::move(h.session_source);
  };
  if (!c.is_llm) {
    set_harness(identify_harness(*ex.request, {}, nullptr, ex.processes));  // not the body: no need to parse it
    return c;
  }

  const RequestJson& req = digest  ? digest->fields
                           : parsed ? *parsed
                                    : parsed.emplace(ex.request_body, request_paths(), ex.request_body_readable);
  set_harness(identify_harness(*ex.request, ex.request_body, &req, ex.processes));
  auto text = [&req](std::string_view path) {
    const BodyValue& v = req.at(path);
    return v.kind == BodyValue::Kind::String ? v.text : std::string();
  };
  if (c.model.empty()) {
    c.model = text("model");
    // Code Assist countTokens nests the model inside "request".
    if (c.model.empty()) c.model = text("request.model");
    c.model = strip_models_prefix(std::move(c.model));
  }
  if (wire != Wire::Gemini) {
    const BodyValue& stream = req.at("stream");
    c.stream = stream.kind == BodyValue::Kind::Bool && stream.boolean;
  }

  detail::Documents docs;
  if (ex.response) docs = detail::parse_documents(ex.response_body);
  detail::ResponseInfo info;
  switch (wire) {
    case Wire::AnthropicMessages:
      info = detail::decode_anthropic_messages(docs);
      break;
    case Wire::OpenAIChat:
      info = detail::decode_openai_chat(docs);
      break;
    case Wire::OpenAIResponses:
      info = detail::decode_openai_responses(docs);
      break;
    case Wire::Gemini:
      info = detail::decode_gemini(docs);
      break;
    case Wire::Unknown:
    case Wire::None:
      for (const json& doc : docs.docs) {
        if (std::string err = detail::document_error(doc); !err.empty()) info.error = err;
      }
      break;
  }

  c.error = info.error;
  if (c.error.empty() && ex.response && ex.response->status >= 400)
    c.error = "HTTP " + std::to_string(ex.response->status);
  // A complete error response (429, 529, 400...) was not charged: no estimate, or a
  // harness retrying overloaded errors would pile up tokens nobody paid for.
  if (ex.response && ex.response_complete && ex.response->status >= 400 && !info.final_usage)
    c.billable = false;
  if (!c.billable) return c;

  c.stop_reason = info.stop_reason;
  c.response_id = info.response_id;
  if (!info.model.empty()) {
    // OpenAI reports the dated snapshot that served the call; elsewhere the request's
    // model is the name of record and the response only fills a gap.
    bool prefer_response = wire == Wire::OpenAIChat || wire == Wire::OpenAIResponses;
    if (prefer_response || c.model.empty()) c.model = info.model;
  }

  if (info.final_usage) {
    c.usage = info.usage;
    c.usage_source = UsageSource::Exact;
    return c;
  }
  std::string_view resp_body = ex.response ? ex.response_body : std::string_view();
  c.usage = digest ? estimate_usage(digest->text_bytes, resp_body) : estimate_usage(ex.request_body, resp_body);
  c.usage_source = UsageSource::Estimated;
  if (c.error.empty()) {
    bool streamed = c.stream || docs.format == detail::BodyFormat::Sse ||
                    docs.format == detail::BodyFormat::JsonArray;
    if (!ex.response)
      c.error = "no response";
    else if (wire == Wire::Unknown)
      c.error = "unknown api";
    else if (!ex.response_complete)
      c.error = streamed ? "stream ended before usage" : "response truncated";
    else
      c.error = "response has no usage";
  }
  return c;
}

}  // namespace tt::provider
