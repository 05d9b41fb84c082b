#include "otlp/genai.h"

#include <optional>

namespace tt::otlp {

const HistogramDef kTokenUsage{
    "gen_ai.client.token.usage", "{token}", "Number of input and output tokens used.",
    {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}};
const HistogramDef kOperationDuration{
    "gen_ai.client.operation.duration", "s", "GenAI operation duration.",
    {0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}};

uint64_t semconv_input_tokens(const v1::ApiRequest& r) {
  return r.input_tokens() + r.cache_read_tokens() + r.cache_write_tokens();
}

namespace {

using Value = std::optional<AttrValue>;

Value text(const std::string& s) { return s.empty() ? Value() : Value(s); }
Value count(uint64_t n) { return Value(static_cast<int64_t>(n)); }

// Tokens are usage only where the provider charged for the call.
Value usage(const v1::ApiRequest& r, uint64_t n) { return r.billable() ? count(n) : Value(); }

// gen_ai.provider.name's well-known values; Google's by the endpoint's host.
std::string provider_name(const v1::ApiRequest& r) {
  if (r.provider() != "gemini") return r.provider().empty() ? "unknown" : r.provider();
  if (r.host().find("aiplatform.googleapis.com") != std::string::npos) return "gcp.vertex_ai";
  if (r.host().find("generativelanguage.googleapis.com") != std::string::npos) return "gcp.gemini";
  return "gcp.gen_ai";  // Code Assist, gateways: a Google endpoint not told apart
}

// gen_ai.operation.name: a well-known value where one applies, else tokentap's api.
std::string operation_name(const std::string& api) {
  static const std::map<std::string, std::string> kWellKnown = {
      {"messages", "chat"},
      {"chat_completions", "chat"},
      {"responses", "chat"},
      {"generate_content", "generate_content"},
      {"stream_generate_content", "generate_content"},
      {"completions", "text_completion"},
      {"embeddings", "embeddings"},
  };
  auto it = kWellKnown.find(api);
  if (it != kWellKnown.end()) return it->second;
  return api.empty() ? "unknown" : api;
}

// The Host header is "name" or "name:port"; TLS (all tokentap sees) defaults to 443.
std::string host_name_part(const std::string& host) {
  if (!host.empty() && host.front() == '[') return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.rfind(':'));
}
Value server_port(const v1::ApiRequest& r) {
  if (r.host().empty()) return Value();
  size_t colon = r.host().rfind(':');
  bool has_port = colon != std::string::npos && r.host().find(']', colon) == std::string::npos;
  return count(has_port ? std::strtoull(r.host().c_str() + colon + 1, nullptr, 10) : 443);
}

// error.type: the HTTP status of an error answer, else _OTHER for a request that
// did not complete (aborted stream, no response). Never the provider's error
// text: that comes from the response body.
Value error_type(const v1::ApiRequest& r) {
  if (r.status() >= 400) return Value(std::to_string(r.status()));
  if (!r.complete()) return Value(std::string("_OTHER"));
  return Value();
}

// OpenAI reports the model that served the call, and tokentap keeps that one
// (provider/provider.cpp); elsewhere the record's model is the requested one.
Value response_model(const v1::ApiRequest& r) {
  return r.provider() == "openai" && r.status() / 100 == 2 ? text(r.model()) : Value();
}

// A session id the harness sent, not one tokentap derived from the process tree.
Value conversation_id(const v1::ApiRequest& r) {
  return r.session_source() == "process" ? Value() : text(r.session_id());
}

enum Use : unsigned { kSpan = 1, kTokens = 2, kDuration = 4, kMetrics = kTokens | kDuration };

// THE MAPPING. One row per attribute: where it goes, the cap on its distinct
// values in metrics (0: none needed), and how a record fills it (absent: not set).
struct Row {
  const char* key;
  unsigned use;
  size_t cap;
  Value (*get)(const v1::ApiRequest&);
};
const Row kRows[] = {
    {"gen_ai.operation.name", kSpan | kMetrics, 0, [](const v1::ApiRequest& r) { return Value(operation_name(r.api())); }},
    {"gen_ai.provider.name", kSpan | kMetrics, 20, [](const v1::ApiRequest& r) { return Value(provider_name(r)); }},
    {"gen_ai.request.model", kSpan | kMetrics, 100, [](const v1::ApiRequest& r) { return text(r.model()); }},
    {"gen_ai.response.model", kSpan | kMetrics, 100, response_model},
    {"server.address", kSpan | kMetrics, 50, [](const v1::ApiRequest& r) { return text(host_name_part(r.host())); }},
    {"server.port", kSpan | kMetrics, 0, server_port},
    {"error.type", kSpan | kDuration, 0, error_type},
    {"gen_ai.response.id", kSpan, 0, [](const v1::ApiRequest& r) { return text(r.response_id()); }},
    {"gen_ai.response.finish_reasons", kSpan, 0,
     [](const v1::ApiRequest& r) {
       return r.stop_reason().empty() ? Value() : Value(std::vector<std::string>{r.stop_reason()});
     }},
    {"gen_ai.conversation.id", kSpan, 0, conversation_id},
    {"gen_ai.usage.input_tokens", kSpan, 0, [](const v1::ApiRequest& r) { return usage(r, semconv_input_tokens(r)); }},
    {"gen_ai.usage.output_tokens", kSpan, 0, [](const v1::ApiRequest& r) { return usage(r, r.output_tokens()); }},
    {"gen_ai.usage.cache_read.input_tokens", kSpan, 0,
     [](const v1::ApiRequest& r) { return usage(r, r.cache_read_tokens()); }},
    {"gen_ai.usage.cache_creation.input_tokens", kSpan, 0,
     [](const v1::ApiRequest& r) { return usage(r, r.cache_write_tokens()); }},
    {"gen_ai.usage.reasoning.output_tokens", kSpan, 0,
     [](const v1::ApiRequest& r) { return usage(r, r.reasoning_tokens()); }},
    {"http.response.status_code", kSpan, 0,
     [](const v1::ApiRequest& r) { return r.status() ? count(r.status()) : Value(); }},
    // tokentap's own: who sent it, from where, and how sure the numbers are.
    {"tokentap.harness", kSpan | kMetrics, 50, [](const v1::ApiRequest& r) { return text(r.harness()); }},
    {"tokentap.harness.version", kSpan, 0, [](const v1::ApiRequest& r) { return text(r.harness_version()); }},
    {"tokentap.session.id", kSpan, 0, [](const v1::ApiRequest& r) { return text(r.session_id()); }},
    {"tokentap.session.source", kSpan, 0, [](const v1::ApiRequest& r) { return text(r.session_source()); }},
    {"tokentap.user", kSpan | kMetrics, 100, [](const v1::ApiRequest& r) { return text(r.user()); }},
    {"tokentap.project", kSpan | kMetrics, 100, [](const v1::ApiRequest& r) { return text(r.project()); }},
    {"tokentap.usage.source", kSpan | kTokens, 0,
     [](const v1::ApiRequest& r) { return r.billable() ? text(r.usage_source()) : Value(); }},
    {"tokentap.usage.cache_write_5m.input_tokens", kSpan, 0,
     [](const v1::ApiRequest& r) { return r.cache_write_5m_tokens() ? usage(r, r.cache_write_5m_tokens()) : Value(); }},
    {"tokentap.usage.cache_write_1h.input_tokens", kSpan, 0,
     [](const v1::ApiRequest& r) { return r.cache_write_1h_tokens() ? usage(r, r.cache_write_1h_tokens()) : Value(); }},
    {"tokentap.api", kSpan, 0, [](const v1::ApiRequest& r) { return text(r.api()); }},
    {"tokentap.request.id", kSpan, 0, [](const v1::ApiRequest& r) { return text(r.request_id()); }},
    {"tokentap.complete", kSpan, 0, [](const v1::ApiRequest& r) { return Value(r.complete()); }},
    {"tokentap.run.id", kSpan, 0, [](const v1::ApiRequest& r) { return text(r.run_id()); }},
    {"process.pid", kSpan, 0, [](const v1::ApiRequest& r) { return count(r.pid()); }},
    {"process.executable.name", kSpan, 0, [](const v1::ApiRequest& r) { return text(r.comm()); }},
};

// The token types of gen_ai.client.token.usage and what each counts.
struct TokenType {
  const char* type;
  uint64_t (*tokens)(const v1::ApiRequest&);
};
const TokenType kTokenTypes[] = {
    {"input", semconv_input_tokens},
    {"output", [](const v1::ApiRequest& r) -> uint64_t { return r.output_tokens(); }},
};

// Ids from the record's identity, so a record exported twice is one span twice.
uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 29);
}
uint64_t identity_hash(const v1::ApiRequest& r, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : r.run_id()) h = mix(h, c);
  for (uint64_t v : {uint64_t{r.pid()}, r.connection_id(), uint64_t{r.sequence_on_connection()}, r.start_unix_ns()})
    h = mix(h, v);
  return h ? h : 1;  // all-zero ids are invalid
}
std::string id_bytes(std::initializer_list<uint64_t> words) {
  std::string out;
  for (uint64_t w : words)
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(w >> (8 * i)));
  return out;
}

// The rows for `use`, in table order; with caps, values past a key's cap read "other".
Attrs collect(const v1::ApiRequest& r, unsigned use, std::map<std::string, metrics::LabelCap>* caps) {
  Attrs out;
  for (const Row& row : kRows) {
    if (!(row.use & use)) continue;
    Value v = row.get(r);
    if (!v) continue;
    if (caps)
      if (auto cap = caps->find(row.key); cap != caps->end()) v = cap->second(std::get<std::string>(*v));
    out.push_back({row.key, std::move(*v)});
  }
  return out;
}

}  // namespace

GenAiMapper::GenAiMapper() {
  for (const Row& row : kRows)
    if (row.cap) caps_.emplace(row.key, metrics::LabelCap(row.cap));
}

std::vector<Measurement> GenAiMapper::measurements(const v1::ApiRequest& r) {
  std::vector<Measurement> out;
  if (r.billable()) {
    Attrs base = collect(r, kTokens, &caps_);
    for (const TokenType& t : kTokenTypes) {
      Attrs attrs = base;
      attrs.push_back({"gen_ai.token.type", std::string(t.type)});
      out.push_back({&kTokenUsage, std::move(attrs), static_cast<double>(t.tokens(r))});
    }
  }
  if (r.status() != 0)  // a response came: the operation has an end
    out.push_back({&kOperationDuration, collect(r, kDuration, &caps_), r.latency_ms() / 1000.0});
  return out;
}

void GenAiMapper::fill_span(const v1::ApiRequest& r, trace::Span* span) {
  span->set_trace_id(id_bytes({identity_hash(r, 1), identity_hash(r, 2)}));
  span->set_span_id(id_bytes({identity_hash(r, 3)}));
  std::string op = operation_name(r.api());
  span->set_name(r.model().empty() ? op : op + " " + r.model());
  span->set_kind(trace::Span::SPAN_KIND_CLIENT);
  span->set_start_time_unix_nano(r.start_unix_ns());
  span->set_end_time_unix_nano(std::max(r.end_unix_ns(), r.start_unix_ns()));
  add_attributes(collect(r, kSpan, nullptr), span->mutable_attributes());
  if (error_type(r)) span->mutable_status()->set_code(trace::Status::STATUS_CODE_ERROR);
}

}  // namespace tt::otlp
