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
#include "provider/routes.h"

namespace tt::provider {
namespace {

using detail::json;

constexpr std::string_view kPromptKeys[] = {"messages", "prompt", "input", "contents"};

// Every request body field decoding reads, so that one pass over the body serves all.
std::span<const std::string_view> request_paths() {
  static const std::vector<std::string_view> paths = [] {
    // chat_history: what tells Augment's chat body from another service's /chat-stream.
    std::vector<std::string_view> p = {"model", "stream", "request.model", "chat_history"};
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

// Who bills a call: a path only one provider serves, then the user's names for
// hosts, then tokentap's table of vendor hosts (and loopback); else "unknown".
std::string provider_of(std::string_view host, std::string_view path, WireFormat wire, const HostMap* hosts) {
  if (std::string_view p = detail::provider_for_path(path, wire); !p.empty()) return std::string(p);
  if (const std::string* mapped = mapped_provider(hosts, host)) return *mapped;
  std::string by_host = provider_for_host(host);
  return by_host.empty() ? std::string(kUnknownProvider) : by_host;
}

// Whether the host belongs to the provider that alone speaks `wire`.
bool on_own_host(std::string_view host, std::string_view path, WireFormat wire, const HostMap* hosts) {
  std::string_view owner = detail::provider_for_path(path, wire);
  return !owner.empty() && provider_of(host, {}, WireFormat::None, hosts) == owner;
}

// `body` is parsed only if the path does not say what the call is, and only if
// `fields` (its fields read earlier) is null.
ApiCall classify_impl(const protocol::HttpMessage& request, std::string_view body, std::optional<RequestJson>& parsed,
                      const RequestJson* fields, const HostMap* hosts) {
  ApiCall c;
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
  auto body_fields = [&]() -> const RequestJson& { return fields ? *fields : parsed ? *parsed : parsed.emplace(body, request_paths()); };
  detail::Route r;
  if (request.method == "POST") {
    r = detail::route_for_path(path);
    if (r.needs_llm_body && !looks_like_llm_body(body_fields())) r = {};
    if (r.needs_body_key && !on_own_host(host, path, r.wire, hosts) && !body_fields().at(r.needs_body_key).present())
      r = {};
    if (r.wire == WireFormat::None && looks_like_llm_body(body_fields())) {
      r.wire = WireFormat::Unknown;
      r.api = "unknown";
    }
  }
  c.provider = provider_of(host, path, r.wire, hosts);
  if (r.wire == WireFormat::None) return c;
  c.is_llm = true;
  c.wire = r.wire;
  c.api = r.api;
  c.billable = r.billable;
  c.stream = r.stream || r.stream_by_default;
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

ApiCall classify(const protocol::HttpMessage& request, std::string_view request_body, const HostMap* hosts) {
  std::optional<RequestJson> parsed;
  return classify_impl(request, request_body, parsed, nullptr, hosts);
}

RequestDigest::RequestDigest(const protocol::HttpMessage& request, std::string_view body, size_t readable)
    : fields(body, request_paths(), readable, /*count_text=*/true),
      // A body that is not one JSON object (rare) takes a pass of its own.
      text_bytes(fields.text_bytes() ? *fields.text_bytes() : request_text_bytes(body, readable)) {
  std::optional<RequestJson> unused;
  if (ApiCall c = classify_impl(request, body, unused, &fields, nullptr); c.is_llm)
    anatomy = read_anatomy(c.wire, body, readable);
}

namespace {

// The kind of credential a call carries, never the credential: subscriptions sign
// in with OAuth (Claude's "sk-ant-oat" tokens, ChatGPT's account header for Codex,
// Google's login for Code Assist); anything else with a key or signature is metered.
std::string billing_of(const protocol::HttpMessage& req, std::string_view provider) {
  if (provider == kLocalProvider || provider == "ollama") return std::string(kBillingLocal);
  // Augment bills its plans' credits, never tokens: its sign-in is a plan's.
  if (provider == "augment") return std::string(kBillingSubscription);
  const std::string* auth = req.header("Authorization");
  if ((auth && auth->find("sk-ant-oat") != std::string::npos) || req.header("chatgpt-account-id") ||
      provider == "gcp.gen_ai")
    return std::string(kBillingSubscription);
  for (const char* h : {"Authorization", "x-api-key", "api-key", "x-goog-api-key"})
    if (req.header(h)) return std::string(kBillingMetered);
  if (req.target.find("key=") != std::string::npos) return std::string(kBillingMetered);  // Gemini's ?key=
  return {};
}

detail::ResponseInfo decode_response(const Exchange& ex, const ApiCall& c, detail::Documents& docs) {
  using W = WireFormat;
  if (!ex.response) return {};
  switch (c.wire) {
    case W::BedrockInvoke:
      return detail::decode_bedrock_invoke(ex.response_body, ex.response, c.stream);
    case W::BedrockConverse:
      return detail::decode_bedrock_converse(ex.response_body, c.stream);
    case W::Ollama:
      docs = detail::parse_ndjson(ex.response_body);
      return detail::decode_ollama(docs);
    case W::Augment:
      docs = detail::parse_ndjson(ex.response_body);
      return detail::decode_augment(docs);
    default:
      break;
  }
  docs = detail::parse_documents(ex.response_body);
  switch (c.wire) {
    case W::AnthropicMessages:
      return detail::decode_anthropic_messages(docs);
    case W::OpenAIChat:
      return detail::decode_openai_chat(docs);
    case W::OpenAIResponses:
      return detail::decode_openai_responses(docs);
    case W::Gemini:
      return detail::decode_gemini(docs);
    default:
      break;
  }
  detail::ResponseInfo info;
  for (const json& doc : docs.docs)
    if (std::string err = detail::document_error(doc); !err.empty()) info.error = err;
  return info;
}

}  // namespace

ApiCall decode(const Exchange& ex) {
  if (!ex.request) return {};
  std::optional<RequestJson> parsed;
  const RequestDigest* digest = ex.request_digest;
  ApiCall c = classify_impl(*ex.request, ex.request_body, parsed, digest ? &digest->fields : nullptr, ex.hosts);
  c.user_agent = first_header(ex.request, {"User-Agent"});
  c.request_id = first_header(ex.response, {"request-id", "x-request-id", "x-amzn-RequestId"});
  auto set_harness = [&c](Harness h) {
    c.harness = std::move(h.name);
    c.harness_version = std::move(h.version);
    c.session_id = std::move(h.session_id);
    c.session_source = std::move(h.session_source);
    c.app = std::move(h.app);
  };
  if (!c.is_llm) {
    set_harness(identify_harness(*ex.request, {}, nullptr, ex.processes));  // not the body: no need to parse it
    return c;
  }
  c.billing = billing_of(*ex.request, c.provider);

  const RequestJson& req = digest  ? digest->fields
                           : parsed ? *parsed
                                    : parsed.emplace(ex.request_body, request_paths(), ex.request_body_readable);
  c.anatomy = digest ? digest->anatomy : read_anatomy(c.wire, ex.request_body, ex.request_body_readable);
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
  // The body's "stream" decides, except where the path does (Gemini, Bedrock).
  bool path_decides = c.wire == WireFormat::Gemini || c.wire == WireFormat::BedrockInvoke ||
                      c.wire == WireFormat::BedrockConverse;
  if (const BodyValue& stream = req.at("stream"); !path_decides && stream.kind == BodyValue::Kind::Bool)
    c.stream = stream.boolean;

  detail::Documents docs;
  detail::ResponseInfo info = decode_response(ex, c, docs);

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
  c.tools_called = std::move(info.tools_called);
  if (!info.model.empty()) {
    // OpenAI reports the dated snapshot that served the call; elsewhere the request's
    // model is the name of record and the response only fills a gap.
    bool prefer_response = c.wire == WireFormat::OpenAIChat || c.wire == WireFormat::OpenAIResponses;
    if (prefer_response || c.model.empty()) c.model = info.model;
  }

  if (info.final_usage) {
    c.usage = info.usage;
    c.usage_source = UsageSource::Exact;
    c.reported_cost_usd = info.reported_cost_usd;
    return c;
  }
  std::string_view resp_body = ex.response ? ex.response_body : std::string_view();
  uint64_t in_bytes = digest ? digest->text_bytes : request_text_bytes(ex.request_body, ex.request_body_readable);
  c.usage = info.output_text_bytes ? estimate_usage_from_bytes(in_bytes, *info.output_text_bytes)
                                   : estimate_usage(in_bytes, resp_body);
  c.usage_source = UsageSource::Estimated;
  if (c.error.empty()) {
    bool streamed = c.stream || (docs.format != detail::BodyFormat::Json && docs.format != detail::BodyFormat::Empty);
    if (!ex.response)
      c.error = "no response";
    else if (c.wire == WireFormat::Unknown)
      c.error = "unknown api";
    else if (!ex.response_complete)
      c.error = streamed ? "stream ended before usage" : "response truncated";
    else
      c.error = "response has no usage";
  }
  return c;
}

}  // namespace tt::provider
