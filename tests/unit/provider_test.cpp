// Provider layer: classification, exact usage from recorded Anthropic/OpenAI/Gemini
// bodies (tests/data/provider), estimation arithmetic, and garbage resistance.
#include "provider/provider.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace {

using tt::protocol::Header;
using tt::protocol::HttpMessage;
using tt::provider::ApiCall;
using tt::provider::classify;
using tt::provider::decode;
using tt::provider::estimate_tokens_from_text_bytes;
using tt::provider::estimate_usage;
using tt::provider::Exchange;
using tt::provider::WireFormat;
using tt::provider::Usage;
using tt::provider::UsageSource;

std::string data(const std::string& name) {
  std::ifstream f(std::string(TT_TEST_DATA_DIR) + "/provider/" + name, std::ios::binary);
  EXPECT_TRUE(f.good()) << "missing test data " << name;
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

HttpMessage request(std::string target, std::string host = "127.0.0.1",
                    std::vector<Header> extra = {}, std::string method = "POST") {
  HttpMessage m;
  m.method = std::move(method);
  m.target = std::move(target);
  if (!host.empty()) m.headers.push_back({"Host", std::move(host)});
  for (auto& h : extra) m.headers.push_back(std::move(h));
  return m;
}

HttpMessage response(int status = 200, std::vector<Header> headers = {}) {
  HttpMessage m;
  m.is_request = false;
  m.status = status;
  m.headers = std::move(headers);
  m.complete = true;
  return m;
}

// One exchange: the request, and a response unless `resp` is null.
ApiCall run(const HttpMessage& req, std::string_view req_body, const HttpMessage* resp,
            std::string_view resp_body, bool complete = true) {
  Exchange ex;
  ex.request = &req;
  ex.response = resp;
  ex.request_body = req_body;
  ex.response_body = resp_body;
  ex.response_complete = complete;
  return decode(ex);
}

ApiCall run_ok(const HttpMessage& req, std::string_view req_body, std::string_view resp_body,
               bool complete = true) {
  HttpMessage resp = response();
  return run(req, req_body, &resp, resp_body, complete);
}

void expect_usage(const Usage& got, const Usage& want) {
  EXPECT_EQ(got.input_tokens, want.input_tokens) << "input_tokens";
  EXPECT_EQ(got.cache_read_tokens, want.cache_read_tokens) << "cache_read_tokens";
  EXPECT_EQ(got.cache_write_tokens, want.cache_write_tokens) << "cache_write_tokens";
  EXPECT_EQ(got.cache_write_5m_tokens, want.cache_write_5m_tokens) << "cache_write_5m_tokens";
  EXPECT_EQ(got.cache_write_1h_tokens, want.cache_write_1h_tokens) << "cache_write_1h_tokens";
  EXPECT_EQ(got.output_tokens, want.output_tokens) << "output_tokens";
  EXPECT_EQ(got.reasoning_tokens, want.reasoning_tokens) << "reasoning_tokens";
}
// Usage{input, cache_read, cache_write, cache_write_5m, cache_write_1h, output, reasoning}
#define EXPECT_USAGE(got, ...)             \
  do {                                     \
    SCOPED_TRACE("usage");                 \
    expect_usage(got, Usage{__VA_ARGS__}); \
  } while (0)

// String values: "claude-sonnet-4-5" 17 + "user" 4 + "run the tests" 13 = 34 bytes -> 9.
constexpr std::string_view kAnthropicReq =
    R"({"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,)"
    R"("messages":[{"role":"user","content":"run the tests"}]})";
constexpr uint64_t kAnthropicReqTokens = 9;

// "gpt-4o" 6 + "user" 4 + "hello" 5 = 15 bytes -> 4.
constexpr std::string_view kOpenAIChatReq =
    R"({"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]})";
constexpr std::string_view kOpenAIChatStreamReq =
    R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},)"
    R"("messages":[{"role":"user","content":"hello"}]})";
// "gpt-5-codex" 11 + "system" 6 + "user" 4 + "fix it" 6 = 27 bytes -> 7.
constexpr std::string_view kResponsesReq =
    R"({"model":"gpt-5-codex","instructions":"system","stream":true,)"
    R"("input":[{"role":"user","content":"fix it"}]})";
// "user" 4 + "Write a story" 13 = 17 bytes -> 5.
constexpr std::string_view kGeminiReq =
    R"({"contents":[{"role":"user","parts":[{"text":"Write a story"}]}]})";

// ---------------------------------------------------------------------------
TEST(ProviderNames, StableStrings) {
  EXPECT_STREQ(tt::provider::wire_format_name(WireFormat::None), "");
  EXPECT_STREQ(tt::provider::wire_format_name(WireFormat::AnthropicMessages), "anthropic_messages");
  EXPECT_STREQ(tt::provider::wire_format_name(WireFormat::OpenAIChat), "openai_chat");
  EXPECT_STREQ(tt::provider::wire_format_name(WireFormat::OpenAIResponses), "openai_responses");
  EXPECT_STREQ(tt::provider::wire_format_name(WireFormat::Gemini), "gemini");
  EXPECT_STREQ(tt::provider::wire_format_name(WireFormat::BedrockInvoke), "bedrock_invoke");
  EXPECT_STREQ(tt::provider::wire_format_name(WireFormat::BedrockConverse), "bedrock_converse");
  EXPECT_STREQ(tt::provider::wire_format_name(WireFormat::Ollama), "ollama");
  EXPECT_STREQ(tt::provider::wire_format_name(WireFormat::Augment), "augment");
  EXPECT_STREQ(tt::provider::wire_format_name(WireFormat::Unknown), "unknown");
  EXPECT_STREQ(tt::provider::usage_source_name(UsageSource::None), "none");
  EXPECT_STREQ(tt::provider::usage_source_name(UsageSource::Exact), "exact");
  EXPECT_STREQ(tt::provider::usage_source_name(UsageSource::Estimated), "estimated");
}

// ---------------------------------------------------------------------------
struct RouteCase {
  const char* target;
  WireFormat wire;
  const char* api;
  bool billable;
  bool stream;
  const char* model;
  const char* provider;  // on a loopback test server: "local" unless the path names one
};

TEST(ProviderClassify, PathsWorkOnAnyHost) {
  using W = WireFormat;
  const RouteCase cases[] = {
      {"/v1/messages", W::AnthropicMessages, "messages", true, false, "", "local"},
      {"/v1/messages?beta=true", W::AnthropicMessages, "messages", true, false, "", "local"},
      {"/api/anthropic/v1/messages", W::AnthropicMessages, "messages", true, false, "", "local"},
      {"/v1/messages/count_tokens?beta=true", W::AnthropicMessages, "count_tokens", false, false, "", "local"},
      {"/v1/chat/completions", W::OpenAIChat, "chat_completions", true, false, "", "local"},
      {"/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21", W::OpenAIChat, "chat_completions", true,
       false, "", "azure.ai.openai"},
      {"/v1/responses", W::OpenAIResponses, "responses", true, false, "", "local"},
      {"/backend-api/codex/responses", W::OpenAIResponses, "responses", true, false, "", "local"},
      {"/v1/responses/input_tokens", W::OpenAIResponses, "count_tokens", false, false, "", "local"},
      {"/v1/completions", W::OpenAIChat, "completions", true, false, "", "local"},
      {"/v1/embeddings", W::OpenAIChat, "embeddings", true, false, "", "local"},
      {"/v1beta/models/gemini-2.5-flash:generateContent", W::Gemini, "generate_content", true, false,
       "gemini-2.5-flash", "local"},
      {"/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", W::Gemini, "stream_generate_content", true,
       true, "gemini-2.5-pro", "local"},
      {"/v1beta/models/gemini-2.5-pro:countTokens", W::Gemini, "count_tokens", false, false, "gemini-2.5-pro",
       "local"},
      {"/v1/models/gemini-2.0-flash:generateContent", W::Gemini, "generate_content", true, false,
       "gemini-2.0-flash", "local"},
      {"/v1alpha/models/gemini-2.5-flash:streamGenerateContent", W::Gemini, "stream_generate_content", true, true,
       "gemini-2.5-flash", "local"},
      {"/v1beta/models/gemini-embedding-001:embedContent", W::Gemini, "embeddings", true, false,
       "gemini-embedding-001", "local"},
      {"/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent", W::Gemini,
       "generate_content", true, false, "gemini-2.5-pro", "gcp.vertex_ai"},
      {"/v1internal:generateContent", W::Gemini, "generate_content", true, false, "", "local"},
      {"/v1internal:streamGenerateContent?alt=sse", W::Gemini, "stream_generate_content", true, true, "", "local"},
      {"/v1internal:countTokens", W::Gemini, "count_tokens", false, false, "", "local"},
      // Vertex AI's Claude: Messages in, Messages out, the model in the path.
      {"/v1/projects/p1/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict",
       W::AnthropicMessages, "messages", true, false, "claude-sonnet-4-5@20250929", "gcp.vertex_ai"},
      {"/v1/projects/p1/locations/global/publishers/anthropic/models/claude-haiku-4-5@20251001:streamRawPredict",
       W::AnthropicMessages, "messages", true, true, "claude-haiku-4-5@20251001", "gcp.vertex_ai"},
      {"/v1/projects/p1/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict",
       W::AnthropicMessages, "count_tokens", false, false, "", "gcp.vertex_ai"},
      // Bedrock: the model id URL-encoded, or an inference profile's ARN.
      {"/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke", W::BedrockInvoke, "invoke_model", true,
       false, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws.bedrock"},
      {"/model/global.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream", W::BedrockInvoke,
       "invoke_model_stream", true, true, "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "aws.bedrock"},
      {"/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse", W::BedrockConverse, "converse", true, false,
       "anthropic.claude-3-5-haiku-20241022-v1:0", "aws.bedrock"},
      {"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.amazon.nova-pro-v1%3A0/"
       "converse-stream",
       W::BedrockConverse, "converse_stream", true, true, "us.amazon.nova-pro-v1:0", "aws.bedrock"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.target);
    ApiCall c = classify(request(tc.target, "127.0.0.1:8080"), "");
    EXPECT_TRUE(c.is_llm);
    EXPECT_EQ(c.wire, tc.wire);
    EXPECT_EQ(c.provider, tc.provider);
    EXPECT_EQ(c.api, tc.api);
    EXPECT_EQ(c.billable, tc.billable);
    EXPECT_EQ(c.stream, tc.stream);
    EXPECT_EQ(c.model, tc.model);
  }
}

TEST(ProviderClassify, HostNamesTheProvider) {
  // Gemini's OpenAI-compatible endpoint: OpenAI wire format, Gemini's bill.
  ApiCall c =
      classify(request("/v1beta/openai/chat/completions", "generativelanguage.googleapis.com"), "");
  EXPECT_TRUE(c.is_llm);
  EXPECT_EQ(c.provider, "gcp.gemini");
  EXPECT_EQ(c.api, "chat_completions");

  c = classify(request("/v1internal:streamGenerateContent?alt=sse", "cloudcode-pa.googleapis.com"),
               "");
  EXPECT_EQ(c.provider, "gcp.gen_ai");
  c = classify(request("/v1/messages", "API.Anthropic.com:443"), "");
  EXPECT_EQ(c.provider, "anthropic");
  c = classify(request("/v1/responses", "api.openai.com"), "");
  EXPECT_EQ(c.provider, "openai");

  // The vendors that speak another's wire format are billed by name, not path.
  struct Case {
    const char* host;
    const char* target;
    const char* provider;
    WireFormat wire;
  };
  const Case cases[] = {
      {"api.deepseek.com", "/chat/completions", "deepseek", WireFormat::OpenAIChat},
      {"api.deepseek.com", "/anthropic/v1/messages", "deepseek", WireFormat::AnthropicMessages},
      {"openrouter.ai", "/api/v1/chat/completions", "openrouter", WireFormat::OpenAIChat},
      {"api.moonshot.ai", "/v1/chat/completions", "moonshot", WireFormat::OpenAIChat},
      {"api.moonshot.cn", "/anthropic/v1/messages", "moonshot", WireFormat::AnthropicMessages},
      {"api.z.ai", "/api/anthropic/v1/messages", "zai", WireFormat::AnthropicMessages},
      {"open.bigmodel.cn", "/api/paas/v4/chat/completions", "zai", WireFormat::OpenAIChat},
      {"api.minimax.io", "/anthropic/v1/messages", "minimax", WireFormat::AnthropicMessages},
      {"api.x.ai", "/v1/responses", "x_ai", WireFormat::OpenAIResponses},
      {"api.groq.com", "/openai/v1/chat/completions", "groq", WireFormat::OpenAIChat},
      {"myres.openai.azure.com", "/openai/v1/chat/completions", "azure.ai.openai", WireFormat::OpenAIChat},
      {"myres.cognitiveservices.azure.com", "/openai/v1/responses", "azure.ai.openai", WireFormat::OpenAIResponses},
      {"bedrock-runtime.us-east-1.amazonaws.com", "/model/m/converse", "aws.bedrock", WireFormat::BedrockConverse},
      {"us-east5-aiplatform.googleapis.com",
       "/v1/projects/p/locations/us-east5/endpoints/openapi/chat/completions", "gcp.vertex_ai",
       WireFormat::OpenAIChat},
      {"localhost:11434", "/v1/chat/completions", "ollama", WireFormat::OpenAIChat},
      {"127.0.0.1:8000", "/v1/chat/completions", "local", WireFormat::OpenAIChat},
      {"[::1]:8080", "/v1/messages", "local", WireFormat::AnthropicMessages},
      {"llm.internal.example:4000", "/v1/chat/completions", "unknown", WireFormat::OpenAIChat},
      // Look-alikes are not the vendor.
      {"api.deepseek.com.evil.example", "/chat/completions", "unknown", WireFormat::OpenAIChat},
      {"bedrock-runtime.us-east-1.amazonaws.com.evil.example", "/v1/messages", "unknown",
       WireFormat::AnthropicMessages},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(std::string(tc.host) + tc.target);
    c = classify(request(tc.target, tc.host), R"({"model":"m","messages":[]})");
    EXPECT_TRUE(c.is_llm);
    EXPECT_EQ(c.provider, tc.provider);
    EXPECT_EQ(c.wire, tc.wire);
  }
}

TEST(ProviderClassify, UserNamesGatewaysAndPathsWinOverThem) {
  tt::provider::HostMap hosts = {{"gateway.corp:8443", "anthropic"}, {"llm.internal", "openai"}};
  ApiCall c = classify(request("/v1/messages", "gateway.corp:8443"), "", &hosts);
  EXPECT_EQ(c.provider, "anthropic");
  c = classify(request("/v1/chat/completions", "LLM.internal:4000"), "", &hosts);
  EXPECT_EQ(c.provider, "openai");  // matched by host_key: case and port aside
  // Bedrock's and Vertex's paths name their provider whatever the host.
  c = classify(request("/model/m/invoke", "gateway.corp:8443"), "", &hosts);
  EXPECT_EQ(c.provider, "aws.bedrock");
  // A user's name for a loopback host replaces "local".
  hosts["127.0.0.1:9000"] = "anthropic";
  c = classify(request("/v1/messages", "127.0.0.1:9000"), "", &hosts);
  EXPECT_EQ(c.provider, "anthropic");
}

TEST(ProviderHosts, Table) {
  using tt::provider::provider_for_host;
  EXPECT_EQ(provider_for_host("api.anthropic.com."), "anthropic");
  EXPECT_EQ(provider_for_host("bedrock-runtime-fips.us-gov-west-1.amazonaws.com"), "aws.bedrock");
  EXPECT_EQ(provider_for_host("bedrock.us-east-1.amazonaws.com"), "");  // the control plane
  EXPECT_EQ(provider_for_host("aiplatform.googleapis.com"), "gcp.vertex_ai");
  EXPECT_EQ(provider_for_host("x.services.ai.azure.com"), "azure.ai.openai");
  EXPECT_EQ(provider_for_host("127.1.2.3"), "local");
  EXPECT_EQ(provider_for_host("127.0.0.1:11434"), "ollama");
  EXPECT_EQ(provider_for_host("foo.localhost"), "local");
  EXPECT_EQ(provider_for_host("127.0.0.1.nip.io"), "");
  EXPECT_EQ(provider_for_host("10.0.0.5:8000"), "");
  EXPECT_EQ(provider_for_host("d1.api.augmentcode.com:443"), "augment");
  EXPECT_EQ(provider_for_host("augmentcode.com.evil.example"), "");
}

TEST(ProviderClassify, AbsoluteTargetAndHttp2Authority) {
  ApiCall c = classify(request("https://api.openai.com/v1/chat/completions?x=1", ""), "");
  EXPECT_TRUE(c.is_llm);
  EXPECT_EQ(c.provider, "openai");
  EXPECT_EQ(c.api, "chat_completions");

  HttpMessage h2 = request("/v1beta/models/gemini-2.5-flash:generateContent", "",
                           {{":authority", "generativelanguage.googleapis.com"}});
  c = classify(h2, "");
  EXPECT_EQ(c.provider, "gcp.gemini");
  EXPECT_EQ(c.model, "gemini-2.5-flash");
}

TEST(ProviderClassify, NonLlmTraffic) {
  struct Case {
    const char* method;
    const char* target;
    const char* host;
    const char* body;
    const char* provider;
  };
  const Case cases[] = {
      {"GET", "/v1/messages", "api.anthropic.com", "", "anthropic"},
      {"GET", "/v1/models", "api.openai.com", "", "openai"},
      {"GET", "/v1beta/models/gemini-2.5-pro:generateContent", "127.0.0.1", "", "local"},
      {"GET", "/v1/chat/completions", "127.0.0.1", "", "local"},
      {"POST", "/api/event_logging/batch", "api.anthropic.com",
       R"({"events":[{"event_type":"ClaudeCodeInternalEvent","event_data":{"model":"x"}}]})",
       "anthropic"},
      {"POST", "/v1/oauth/token", "console.anthropic.com",
       R"({"grant_type":"refresh_token","refresh_token":"r","client_id":"c"})", "unknown"},
      {"POST", "/v1internal:loadCodeAssist", "cloudcode-pa.googleapis.com",
       R"({"metadata":{"ideType":"IDE_UNSPECIFIED"}})", "gcp.gen_ai"},
      {"POST", "/v1beta/models/gemini-2.5-pro:batchPredict", "127.0.0.1", "", "local"},
      {"POST", "/v1/traces", "127.0.0.1", "\x0a\x12\x08\x01binary", "local"},
      {"POST", "/v1/messages/batches", "api.anthropic.com", R"({"requests":[]})",
       "anthropic"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.target);
    ApiCall c = classify(request(tc.target, tc.host, {}, tc.method), tc.body);
    EXPECT_FALSE(c.is_llm);
    EXPECT_EQ(c.provider, tc.provider);
    EXPECT_EQ(c.api, "");
  }
}

TEST(ProviderClassify, UnknownProviderFromBody) {
  for (const char* body :
       {R"({"model":"llama3.1","prompt":"hi"})", R"({"model":"qwen","messages":[]})",
        R"(  {"input":"x","model":"m"})", R"({"model":"m","contents":[]})"}) {
    SCOPED_TRACE(body);
    ApiCall c = classify(request("/v1/generate", "10.0.0.5:8000"), body);
    EXPECT_TRUE(c.is_llm);
    EXPECT_EQ(c.provider, "unknown");
    EXPECT_EQ(c.wire, WireFormat::Unknown);
    EXPECT_EQ(c.api, "unknown");
    EXPECT_TRUE(c.billable);
  }
  for (const char* body : {R"({"prompt":"no model"})", R"({"model":"m"})",
                           R"([{"model":"m","prompt":"p"}])", "model prompt", "{\"model\":", ""}) {
    SCOPED_TRACE(body);
    EXPECT_FALSE(classify(request("/v1/generate"), body).is_llm);
    EXPECT_FALSE(classify(request("/api/chat"), body).is_llm);  // Ollama's path, but no LLM body
  }
  EXPECT_FALSE(
      classify(request("/api/generate", "127.0.0.1", {}, "PUT"), R"({"model":"m","prompt":"p"})")
          .is_llm);
}

// ---------------------------------------------------------------------------
TEST(ProviderAnthropic, NonStreamMessage) {
  const std::string req = R"({"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[]})";
  ApiCall c =
      run_ok(request("/v1/messages", "api.anthropic.com"), req, data("anthropic_message.json"));
  EXPECT_TRUE(c.is_llm);
  EXPECT_EQ(c.provider, "anthropic");
  EXPECT_EQ(c.api, "messages");
  EXPECT_FALSE(c.stream);
  EXPECT_EQ(c.model, "claude-sonnet-4-5");  // the request's name, not the dated snapshot
  EXPECT_EQ(c.stop_reason, "tool_use");
  EXPECT_EQ(c.response_id, "msg_01XFDUDYJgAACzvnptvVoYEL");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.error, "");
  EXPECT_USAGE(c.usage, 12, 18432, 2051, 51, 2000, 87, 0);
}

TEST(ProviderAnthropic, StreamTakesMessageDeltaUsage) {
  ApiCall c =
      run_ok(request("/v1/messages?beta=true"), kAnthropicReq, data("anthropic_stream.sse"));
  EXPECT_TRUE(c.stream);
  EXPECT_EQ(c.model, "claude-sonnet-4-5");
  EXPECT_EQ(c.stop_reason, "tool_use");
  EXPECT_EQ(c.response_id, "msg_01TnD8HkUqDeMjHRQYS5VNvf");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.error, "");
  // output_tokens: message_delta's 356, not message_start's 1; the cache breakdown
  // only in message_start survives the merge.
  EXPECT_USAGE(c.usage, 4, 30211, 1840, 1840, 0, 356, 0);
}

TEST(ProviderAnthropic, MessageDeltaOverridesMessageStartInput) {
  // Server tools (web search) grow the input after message_start.
  ApiCall c =
      run_ok(request("/v1/messages"), kAnthropicReq, data("anthropic_stream_server_tool.sse"));
  EXPECT_EQ(c.stop_reason, "end_turn");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 8530, 0, 0, 0, 0, 412, 0);
}

TEST(ProviderAnthropic, LegacyDeltaWithOnlyOutputTokens) {
  // No breakdown: all cache writes count as 5-minute; no request model: response's.
  ApiCall c = run_ok(request("/v1/messages"), R"({"stream":true,"messages":[]})",
                     data("anthropic_stream_legacy.sse"));
  EXPECT_EQ(c.model, "claude-3-5-haiku-20241022");
  EXPECT_EQ(c.stop_reason, "end_turn");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 472, 0, 300, 300, 0, 15, 0);
}

TEST(ProviderAnthropic, TruncatedStreamIsEstimatedWhole) {
  // message_start's exact input is not used: no message_delta means no exact usage.
  // Output text seen: "Here is the plan:" 17 + " first" 6 = 23 bytes -> 6.
  ApiCall c = run_ok(request("/v1/messages"), kAnthropicReq, data("anthropic_stream_truncated.sse"),
                     /*complete=*/false);
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "stream ended before usage");
  EXPECT_EQ(c.response_id, "msg_01Hq6vWqjC8EuSszi3nPf7Ea");
  EXPECT_EQ(c.stop_reason, "");
  EXPECT_USAGE(c.usage, kAnthropicReqTokens, 0, 0, 0, 0, 6, 0);
}

TEST(ProviderAnthropic, CutAfterMessageDeltaIsStillExact) {
  // The final usage arrived; only message_stop is missing.
  std::string body = data("anthropic_stream.sse");
  body.resize(body.find("event: message_stop"));
  ApiCall c = run_ok(request("/v1/messages"), kAnthropicReq, body, /*complete=*/false);
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.error, "");
  EXPECT_USAGE(c.usage, 4, 30211, 1840, 1840, 0, 356, 0);
}

TEST(ProviderAnthropic, ErrorEventMidStream) {
  ApiCall c =
      run_ok(request("/v1/messages"), kAnthropicReq, data("anthropic_stream_overloaded.sse"));
  EXPECT_EQ(c.error, "overloaded_error: Overloaded");
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_USAGE(c.usage, kAnthropicReqTokens, 0, 0, 0, 0, 0, 0);
}

TEST(ProviderAnthropic, HttpErrorBody) {
  HttpMessage resp = response(429, {{"request-id", "req_011CTzRj7dAbPq2k1cQw5v8E"}});
  ApiCall c =
      run(request("/v1/messages"), kAnthropicReq, &resp, data("anthropic_error_rate_limit.json"));
  EXPECT_EQ(c.error,
            "rate_limit_error: This request would exceed the rate limit for your organization "
            "(a1b2c3d4-0000-4000-8000-000000000000) of 30,000 input tokens per minute.");
  EXPECT_EQ(c.request_id, "req_011CTzRj7dAbPq2k1cQw5v8E");
  // Rejected requests are not charged: not billable, no estimate.
  EXPECT_FALSE(c.billable);
  EXPECT_EQ(c.usage_source, UsageSource::None);
  EXPECT_USAGE(c.usage, 0, 0, 0, 0, 0, 0, 0);

  // An error status with a body that says nothing.
  HttpMessage bare = response(529);
  c = run(request("/v1/messages"), kAnthropicReq, &bare, "");
  EXPECT_EQ(c.error, "HTTP 529");
  EXPECT_FALSE(c.billable);
  EXPECT_USAGE(c.usage, 0, 0, 0, 0, 0, 0, 0);
}

TEST(ProviderAnthropic, CountTokensIsNotBilled) {
  ApiCall c = run_ok(request("/v1/messages/count_tokens?beta=true"), kAnthropicReq,
                     data("anthropic_count_tokens.json"));
  EXPECT_TRUE(c.is_llm);
  EXPECT_EQ(c.api, "count_tokens");
  EXPECT_FALSE(c.billable);
  EXPECT_EQ(c.model, "claude-sonnet-4-5");
  EXPECT_EQ(c.usage_source, UsageSource::None);
  EXPECT_EQ(c.error, "");
  EXPECT_USAGE(c.usage, 0, 0, 0, 0, 0, 0, 0);
}

TEST(ProviderAnthropic, NoResponse) {
  ApiCall c = run(request("/v1/messages"), kAnthropicReq, nullptr, "");
  EXPECT_EQ(c.error, "no response");
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.request_id, "");
  EXPECT_USAGE(c.usage, kAnthropicReqTokens, 0, 0, 0, 0, 0, 0);
}

TEST(ProviderAnthropic, TruncatedNonStreamBody) {
  std::string body = data("anthropic_message.json").substr(0, 200);
  ApiCall c = run_ok(request("/v1/messages"), R"({"model":"m"})", body, /*complete=*/false);
  EXPECT_EQ(c.error, "response truncated");
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  // "m" 1 byte -> 1; the cut body does not parse, so all 200 bytes count -> 50.
  EXPECT_USAGE(c.usage, 1, 0, 0, 0, 0, 50, 0);
}

// ---------------------------------------------------------------------------
TEST(ProviderHeaders, IdsAgentAndSession) {
  HttpMessage req = request("/v1/messages?beta=true", "api.anthropic.com",
                            {{"User-Agent", "claude-cli/2.0.14 (external, cli)"},
                             {"X-Claude-Code-Session-Id", "9d3c1f0e-2b4a-4c55-8e6f-7a8b9c0d1e2f"}});
  HttpMessage resp =
      response(200, {{"Request-Id", "req_011CU1a2b3c4d5e6f7g8h9i0"}, {"x-request-id", "other"}});
  ApiCall c = run(req, kAnthropicReq, &resp, data("anthropic_stream.sse"));
  EXPECT_EQ(c.user_agent, "claude-cli/2.0.14 (external, cli)");
  EXPECT_EQ(c.session_id, "9d3c1f0e-2b4a-4c55-8e6f-7a8b9c0d1e2f");
  EXPECT_EQ(c.request_id, "req_011CU1a2b3c4d5e6f7g8h9i0");
}

TEST(ProviderHeaders, SessionHeaderPriorityNotOrder) {
  HttpMessage req = request("/v1/responses", "chatgpt.com",
                            {{"x-task-id", "task-7"},
                             {"conversation_id", "conv-1"},
                             {"session_id", "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}});
  HttpMessage resp = response(200, {{"x-request-id", "a1b2c3"}});
  ApiCall c = run(req, kResponsesReq, &resp, data("openai_responses_stream.sse"));
  EXPECT_EQ(c.session_id, "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
  EXPECT_EQ(c.request_id, "a1b2c3");

  const char* names[] = {"session-id", "x-session-id", "x-session-affinity", "conversation_id",
                         "x-task-id"};
  for (const char* name : names) {
    SCOPED_TRACE(name);
    EXPECT_EQ(run_ok(request("/v1/chat/completions", "h", {{name, "s-1"}}), kOpenAIChatReq,
                     data("openai_chat.json"))
                  .session_id,
              "s-1");
  }
}

TEST(ProviderHeaders, FilledForNonLlmCallsToo) {
  HttpMessage req = request("/api/hello", "api.anthropic.com", {{"User-Agent", "ua"}}, "GET");
  HttpMessage resp = response(200, {{"request-id", "r"}});
  ApiCall c = run(req, "", &resp, "ok");
  EXPECT_FALSE(c.is_llm);
  EXPECT_EQ(c.user_agent, "ua");
  EXPECT_EQ(c.request_id, "r");
  EXPECT_EQ(c.usage_source, UsageSource::None);
  EXPECT_EQ(c.error, "");
}

// ---------------------------------------------------------------------------
TEST(ProviderOpenAIChat, NonStream) {
  ApiCall c = run_ok(request("/v1/chat/completions", "api.openai.com"), kOpenAIChatReq,
                     data("openai_chat.json"));
  EXPECT_EQ(c.provider, "openai");
  EXPECT_EQ(c.api, "chat_completions");
  EXPECT_FALSE(c.stream);
  EXPECT_EQ(c.model, "gpt-4o-2024-08-06");  // the response's snapshot wins
  EXPECT_EQ(c.stop_reason, "stop");
  EXPECT_EQ(c.response_id, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  // prompt 1117 includes 1024 cached.
  EXPECT_USAGE(c.usage, 93, 1024, 0, 0, 0, 46, 0);
}

TEST(ProviderOpenAIChat, StreamFinalUsageChunk) {
  ApiCall c =
      run_ok(request("/v1/chat/completions"), kOpenAIChatStreamReq, data("openai_chat_stream.sse"));
  EXPECT_TRUE(c.stream);
  EXPECT_EQ(c.model, "o4-mini-2025-04-16");
  EXPECT_EQ(c.stop_reason, "tool_calls");
  EXPECT_EQ(c.response_id, "chatcmpl-BqNm4gE2q9LkY3rT8vXw1ZpQ0aHs");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 510, 1920, 0, 0, 0, 517, 384);
}

TEST(ProviderOpenAIChat, StreamWithoutUsage) {
  // No include_usage: estimated; "Hello there, friend!" 20 bytes -> 5.
  ApiCall c = run_ok(request("/v1/chat/completions"), kOpenAIChatStreamReq,
                     data("openai_chat_stream_no_usage.sse"));
  EXPECT_EQ(c.model, "gpt-4.1-2025-04-14");
  EXPECT_EQ(c.stop_reason, "stop");
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "response has no usage");
  EXPECT_USAGE(c.usage, 4, 0, 0, 0, 0, 5, 0);
}

TEST(ProviderOpenAIChat, StreamCutBeforeUsageChunk) {
  std::string body = data("openai_chat_stream.sse");
  body.resize(body.rfind("data:", body.find("\"choices\":[]")));
  ApiCall c = run_ok(request("/v1/chat/completions"), kOpenAIChatStreamReq, body, false);
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "stream ended before usage");
  EXPECT_EQ(c.stop_reason, "tool_calls");
  // "Sure" 4 + ", running it now." 17 + "{\"cmd\":\"ls\"}" 12 = 33 bytes -> 9.
  EXPECT_USAGE(c.usage, 4, 0, 0, 0, 0, 9, 0);
}

TEST(ProviderOpenAIChat, QuotaError) {
  HttpMessage resp = response(429, {{"x-request-id", "req_5f1e2d3c4b5a69788796a5b4c3d2e1f0"}});
  ApiCall c =
      run(request("/v1/chat/completions"), kOpenAIChatReq, &resp, data("openai_error_quota.json"));
  EXPECT_EQ(c.error,
            "insufficient_quota: You exceeded your current quota, please check your plan and "
            "billing details.");
  EXPECT_EQ(c.request_id, "req_5f1e2d3c4b5a69788796a5b4c3d2e1f0");
  EXPECT_EQ(c.model, "gpt-4o");  // nothing in the response: the request's
  EXPECT_FALSE(c.billable);
  EXPECT_EQ(c.usage_source, UsageSource::None);
  EXPECT_USAGE(c.usage, 0, 0, 0, 0, 0, 0, 0);
}

TEST(ProviderOpenAIChat, CompletionsAndEmbeddings) {
  ApiCall c =
      run_ok(request("/v1/completions"), R"({"model":"gpt-3.5-turbo-instruct","prompt":"x"})",
             R"({"id":"cmpl-8xYz","object":"text_completion","model":"gpt-3.5-turbo-instruct",)"
             R"("choices":[{"text":" hi","index":0,"logprobs":null,"finish_reason":"length"}],)"
             R"("usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}})");
  EXPECT_EQ(c.api, "completions");
  EXPECT_EQ(c.stop_reason, "length");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 5, 0, 0, 0, 0, 7, 0);

  c = run_ok(
      request("/v1/embeddings"), R"({"model":"text-embedding-3-small","input":"hello"})",
      R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023,-0.0091]}],)"
      R"("model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}})");
  EXPECT_EQ(c.api, "embeddings");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 8, 0, 0, 0, 0, 0, 0);
}

TEST(ProviderOpenAIChat, CachedAboveInputClampsToZero) {
  ApiCall c = run_ok(request("/v1/chat/completions"), kOpenAIChatReq,
                     R"({"usage":{"prompt_tokens":10,"completion_tokens":2,)"
                     R"("prompt_tokens_details":{"cached_tokens":50}}})");
  EXPECT_USAGE(c.usage, 0, 50, 0, 0, 0, 2, 0);
}

// ---------------------------------------------------------------------------
TEST(ProviderOpenAIResponses, NonStream) {
  ApiCall c =
      run_ok(request("/v1/responses", "api.openai.com"),
             R"({"model":"gpt-4.1","input":"Tell me a story"})", data("openai_responses.json"));
  EXPECT_EQ(c.api, "responses");
  EXPECT_FALSE(c.stream);
  EXPECT_EQ(c.model, "gpt-4.1-2025-04-14");
  EXPECT_EQ(c.stop_reason, "completed");
  EXPECT_EQ(c.response_id, "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.error, "");
  EXPECT_USAGE(c.usage, 36, 0, 0, 0, 0, 87, 0);
}

TEST(ProviderOpenAIResponses, StreamCompleted) {
  ApiCall c = run_ok(request("/backend-api/codex/responses", "chatgpt.com"), kResponsesReq,
                     data("openai_responses_stream.sse"));
  EXPECT_EQ(c.provider, "openai");
  EXPECT_TRUE(c.stream);
  EXPECT_EQ(c.model, "gpt-5-codex");
  EXPECT_EQ(c.stop_reason, "completed");
  EXPECT_EQ(c.response_id, "resp_68a1f0c2e4b88190a5f3d2c1b0e9f8a70d1c2b3a4e5f6071");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 1320, 11520, 0, 0, 0, 645, 448);
}

TEST(ProviderOpenAIResponses, StreamIncomplete) {
  ApiCall c =
      run_ok(request("/v1/responses"), kResponsesReq, data("openai_responses_incomplete.sse"));
  EXPECT_EQ(c.stop_reason, "max_output_tokens");
  EXPECT_EQ(c.model, "gpt-5-mini-2025-08-07");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.error, "");
  EXPECT_USAGE(c.usage, 25, 0, 0, 0, 0, 64, 60);
}

TEST(ProviderOpenAIResponses, StreamFailedStillBillsItsUsage) {
  ApiCall c = run_ok(request("/v1/responses"), kResponsesReq, data("openai_responses_failed.sse"));
  EXPECT_EQ(c.stop_reason, "failed");
  EXPECT_EQ(c.error, "server_error: The model failed to generate a response.");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 1024, 4096, 0, 0, 0, 0, 0);
}

TEST(ProviderOpenAIResponses, StreamTruncated) {
  // "Working on" 10 + " it" 3 = 13 bytes -> 4; the request is 27 bytes -> 7.
  ApiCall c = run_ok(request("/v1/responses"), kResponsesReq,
                     data("openai_responses_truncated.sse"), /*complete=*/false);
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "stream ended before usage");
  EXPECT_EQ(c.response_id, "resp_68a1f4e1b3c08190d2e3f4a5b6c7d8e9");
  EXPECT_EQ(c.stop_reason, "in_progress");
  EXPECT_USAGE(c.usage, 7, 0, 0, 0, 0, 4, 0);
}

TEST(ProviderOpenAIResponses, ErrorEventAndInputTokensEndpoint) {
  ApiCall c = run_ok(request("/v1/responses"), kResponsesReq,
                     "event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\","
                     "\"message\":\"Slow down\",\"param\":null,\"sequence_number\":0}\n\n");
  EXPECT_EQ(c.error, "rate_limit_exceeded: Slow down");
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_USAGE(c.usage, 7, 0, 0, 0, 0, 0, 0);

  c = run_ok(request("/v1/responses/input_tokens"), kResponsesReq,
             R"({"object":"response.input_tokens","input_tokens":11})");
  EXPECT_EQ(c.api, "count_tokens");
  EXPECT_FALSE(c.billable);
  EXPECT_EQ(c.usage_source, UsageSource::None);
  EXPECT_USAGE(c.usage, 0, 0, 0, 0, 0, 0, 0);
}

// ---------------------------------------------------------------------------
TEST(ProviderGemini, GenerateContent) {
  ApiCall c = run_ok(
      request("/v1beta/models/gemini-2.5-pro:generateContent", "generativelanguage.googleapis.com"),
      kGeminiReq, data("gemini_generate.json"));
  EXPECT_EQ(c.provider, "gcp.gemini");
  EXPECT_EQ(c.api, "generate_content");
  EXPECT_FALSE(c.stream);
  EXPECT_EQ(c.model, "gemini-2.5-pro");
  EXPECT_EQ(c.stop_reason, "STOP");
  EXPECT_EQ(c.response_id, "mLCiaJ6fNdWk1dkP8Kan4QI");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  // input = 10345 prompt - 8192 cached + 200 tool-use prompt; output = 120 + 1024 thoughts.
  EXPECT_USAGE(c.usage, 2353, 8192, 0, 0, 0, 1144, 1024);
}

TEST(ProviderGemini, StreamSseTakesLastChunk) {
  ApiCall c = run_ok(request("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
                     kGeminiReq, data("gemini_stream.sse"));
  EXPECT_TRUE(c.stream);
  EXPECT_EQ(c.model, "gemini-2.5-flash");
  EXPECT_EQ(c.stop_reason, "STOP");
  EXPECT_EQ(c.response_id, "5LCiaOHsKMGE1dkPv9bH8AI");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 8, 0, 0, 0, 0, 109, 100);
}

TEST(ProviderGemini, StreamJsonArray) {
  ApiCall c = run_ok(request("/v1beta/models/gemini-2.5-flash:streamGenerateContent"), kGeminiReq,
                     data("gemini_stream_array.json"));
  EXPECT_EQ(c.stop_reason, "STOP");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 8, 0, 0, 0, 0, 109, 100);
}

TEST(ProviderGemini, TruncatedStreamsAreEstimated) {
  // Two whole chunks arrived: "The" 3 + " quick brown fox" 16 = 19 bytes -> 5.
  for (const char* file : {"gemini_stream_truncated.sse", "gemini_stream_array_truncated.json"}) {
    SCOPED_TRACE(file);
    ApiCall c = run_ok(request("/v1beta/models/gemini-2.5-flash:streamGenerateContent"), kGeminiReq,
                       data(file), /*complete=*/false);
    EXPECT_EQ(c.usage_source, UsageSource::Estimated);
    EXPECT_EQ(c.error, "stream ended before usage");
    EXPECT_EQ(c.stop_reason, "");
    EXPECT_EQ(c.response_id, "5LCiaOHsKMGE1dkPv9bH8AI");
    EXPECT_USAGE(c.usage, 5, 0, 0, 0, 0, 5, 0);
  }
}

TEST(ProviderGemini, ArrayCutRightAfterAWholeElement) {
  ApiCall c =
      run_ok(request("/v1beta/models/gemini-2.5-flash:streamGenerateContent"), kGeminiReq,
             R"([{"candidates":[{"content":{"parts":[{"text":"ok"}]},"finishReason":"STOP"}],)"
             R"("usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}})",
             /*complete=*/false);
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 3, 0, 0, 0, 0, 1, 0);
}

TEST(ProviderGemini, CodeAssistStream) {
  const std::string req =
      R"({"model":"gemini-2.5-pro","project":"wise-ember-123","user_prompt_id":"p-1",)"
      R"("request":{"contents":[{"role":"user","parts":[{"text":"edit main.c"}]}],)"
      R"("session_id":"s-42"}})";
  ApiCall c =
      run_ok(request("/v1internal:streamGenerateContent?alt=sse", "cloudcode-pa.googleapis.com",
                     {{"User-Agent", "GeminiCLI/0.1.22 (linux; x64)"}}),
             req, data("cloudcode_stream.sse"));
  EXPECT_EQ(c.provider, "gcp.gen_ai");
  EXPECT_EQ(c.api, "stream_generate_content");
  EXPECT_TRUE(c.stream);
  EXPECT_EQ(c.model, "gemini-2.5-pro");
  EXPECT_EQ(c.user_agent, "GeminiCLI/0.1.22 (linux; x64)");
  EXPECT_EQ(c.stop_reason, "STOP");
  EXPECT_EQ(c.response_id, "b-OhaJaCIMWLmLAPxLeL4Qs");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 3870, 6000, 0, 0, 0, 354, 312);
}

TEST(ProviderGemini, CodeAssistGenerateModelFromModelVersion) {
  ApiCall c =
      run_ok(request("/v1internal:generateContent", "cloudcode-pa.googleapis.com"),
             R"({"project":"p","request":{"contents":[]}})", data("cloudcode_generate.json"));
  EXPECT_EQ(c.api, "generate_content");
  EXPECT_FALSE(c.stream);
  EXPECT_EQ(c.model, "gemini-2.5-flash-lite");
  EXPECT_EQ(c.stop_reason, "STOP");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 1520, 0, 0, 0, 0, 70, 63);
}

TEST(ProviderGemini, CountTokens) {
  ApiCall c = run_ok(request("/v1internal:countTokens", "cloudcode-pa.googleapis.com"),
                     R"({"request":{"model":"models/gemini-2.5-flash","contents":[]}})",
                     data("gemini_count_tokens.json"));
  EXPECT_EQ(c.api, "count_tokens");
  EXPECT_FALSE(c.billable);
  EXPECT_EQ(c.model, "gemini-2.5-flash");
  EXPECT_EQ(c.usage_source, UsageSource::None);
  EXPECT_USAGE(c.usage, 0, 0, 0, 0, 0, 0, 0);
}

TEST(ProviderGemini, Errors) {
  HttpMessage resp = response(429);
  ApiCall c = run(request("/v1beta/models/gemini-2.5-pro:generateContent"), kGeminiReq, &resp,
                  data("gemini_error_quota.json"));
  EXPECT_EQ(c.error,
            "RESOURCE_EXHAUSTED: You exceeded your current quota, please check your plan and "
            "billing details.");
  EXPECT_FALSE(c.billable);
  EXPECT_EQ(c.usage_source, UsageSource::None);
  EXPECT_USAGE(c.usage, 0, 0, 0, 0, 0, 0, 0);

  HttpMessage r503 = response(503);
  c = run(
      request("/v1beta/models/gemini-2.5-pro:streamGenerateContent"), kGeminiReq, &r503,
      R"([{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}])");
  EXPECT_EQ(c.error, "UNAVAILABLE: The model is overloaded.");
  EXPECT_FALSE(c.billable);
  EXPECT_USAGE(c.usage, 0, 0, 0, 0, 0, 0, 0);
}

TEST(ProviderGemini, BlockedPromptAndMissingCandidateCount) {
  ApiCall c =
      run_ok(request("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"), kGeminiReq,
             "data: {\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},"
             "\"usageMetadata\":{\"promptTokenCount\":12,\"totalTokenCount\":12}}\r\n\r\n");
  EXPECT_EQ(c.stop_reason, "PROHIBITED_CONTENT");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 12, 0, 0, 0, 0, 0, 0);

  c = run_ok(request("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"), kGeminiReq,
             "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},"
             "\"finishReason\":\"MAX_TOKENS\"}],\"usageMetadata\":{\"promptTokenCount\":7,"
             "\"thoughtsTokenCount\":30}}\n\n");
  EXPECT_EQ(c.stop_reason, "MAX_TOKENS");
  EXPECT_USAGE(c.usage, 7, 0, 0, 0, 0, 30, 30);
}

// ---------------------------------------------------------------------------
TEST(ProviderUnknown, EstimatedFromBodies) {
  // "llama3.1" 8 + "Why is the sky blue?" 20 = 28 bytes -> 7.
  const std::string req = R"({"model":"llama3.1","prompt":"Why is the sky blue?","stream":false})";
  ApiCall c = run_ok(request("/v1/generate", "10.1.2.3:8000"), req,
                     R"({"model":"llama3.1","response":"Rayleigh scattering.","done":true,)"
                     R"("prompt_eval_count":26,"eval_count":298})");
  EXPECT_TRUE(c.is_llm);
  EXPECT_EQ(c.provider, "unknown");
  EXPECT_EQ(c.api, "unknown");
  EXPECT_EQ(c.model, "llama3.1");
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "unknown api");
  // Unrecognised response shape: its 106 bytes -> 27.
  EXPECT_USAGE(c.usage, 7, 0, 0, 0, 0, 27, 0);
}

// ---------------------------------------------------------------------------
// Augment's chat stream, shaped as Auggie 0.36.0 sends and reads it: the prompt in a
// text node, the answer as NDJSON lines whose "text" is new and whose type-0 nodes
// repeat it, a tool call as a type-5 node, the stop reason an enum number.
// String values: "" + "" + "say hi" 6 + "c-1" 3 + "c-1" 3 + "CLI_NONINTERACTIVE" 18 = 30 bytes -> 8.
constexpr std::string_view kAugmentReq =
    R"({"model":"","message":"","chat_history":[],"nodes":[{"id":1,"type":0,"text_node":{"content":"say hi"}}],)"
    R"("conversation_id":"c-1","root_conversation_id":"c-1","mode":"CLI_NONINTERACTIVE","silent":false})";
// Generated text: "Hello" 5 + " there!" 7 + the tool input {"path":"a.txt"} 16 = 28 bytes -> 7;
// the nodes' copies of the text are not counted again.
constexpr std::string_view kAugmentStream =
    "{\"text\":\"Hello\",\"nodes\":[{\"id\":1,\"type\":0,\"content\":\"Hello\"}]}\n"
    "{\"text\":\" there!\",\"nodes\":[{\"id\":2,\"type\":0,\"content\":\" there!\"}]}\n"
    "{\"text\":\"\",\"nodes\":[{\"id\":3,\"type\":5,\"tool_use\":{\"tool_use_id\":\"t1\",\"tool_name\":\"view\","
    "\"input_json\":\"{\\\"path\\\":\\\"a.txt\\\"}\"}}],\"stop_reason\":3}\n";

HttpMessage augment_request(std::string host = "d1.api.augmentcode.com") {
  return request("/chat-stream", std::move(host),
                 {{"User-Agent", "augment.cli/0.36.0 (commit 7c61e5bb)/noninteractive"},
                  {"Authorization", "Bearer tok"}});
}

TEST(ProviderAugment, ChatStreamIsEstimatedFromItsText) {
  ApiCall c = run_ok(augment_request(), kAugmentReq, kAugmentStream);
  EXPECT_TRUE(c.is_llm);
  EXPECT_EQ(c.provider, "augment");
  EXPECT_EQ(c.wire, WireFormat::Augment);
  EXPECT_EQ(c.api, "chat_stream");
  EXPECT_TRUE(c.stream);
  EXPECT_TRUE(c.billable);
  EXPECT_EQ(c.billing, "subscription");
  EXPECT_EQ(c.model, "");  // Auggie leaves the model to its backend
  EXPECT_EQ(c.stop_reason, "tool_use_requested");
  EXPECT_EQ(c.tools_called, (std::vector<std::string>{"view"}));
  // Never exact: the stream carries no usage to check.
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "response has no usage");
  EXPECT_USAGE(c.usage, 8, 0, 0, 0, 0, 7, 0);
  EXPECT_EQ(c.harness, "auggie");
  EXPECT_EQ(c.harness_version, "0.36.0");
  EXPECT_EQ(c.session_id, "c-1");
  EXPECT_EQ(c.session_source, "body:root_conversation_id");
}

TEST(ProviderAugment, StopReasonsByNumberOrName) {
  ApiCall c = run_ok(augment_request(), kAugmentReq, "{\"text\":\"ok\",\"stop_reason\":1}\n");
  EXPECT_EQ(c.stop_reason, "end_turn");
  EXPECT_USAGE(c.usage, 8, 0, 0, 0, 0, 1, 0);
  EXPECT_EQ(run_ok(augment_request(), kAugmentReq, "{\"text\":\"\",\"stop_reason\":\"MAX_TOKENS\"}\n").stop_reason,
            "MAX_TOKENS");
  EXPECT_EQ(run_ok(augment_request(), kAugmentReq, "{\"text\":\"\",\"stop_reason\":42}\n").stop_reason, "42");
}

TEST(ProviderAugment, CutStreamIsEstimatedFromWhatCame) {
  std::string_view cut = kAugmentStream.substr(0, kAugmentStream.find('\n') + 10);
  ApiCall c = run_ok(augment_request(), kAugmentReq, cut, /*complete=*/false);
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "stream ended before usage");
  EXPECT_USAGE(c.usage, 8, 0, 0, 0, 0, 2, 0);  // "Hello": 5 bytes
}

// /chat-stream is Augment's on its own hosts, or wherever the body is Augment's (a
// tenant URL at a test or proxy address); another service's /chat-stream is not.
TEST(ProviderAugment, ChatStreamElsewhereOnlyWithAugmentsBody) {
  ApiCall c = classify(augment_request("127.0.0.1:4430"), kAugmentReq);
  EXPECT_TRUE(c.is_llm);
  EXPECT_EQ(c.provider, "augment");
  EXPECT_FALSE(classify(augment_request("chat.example.com"), R"({"message":"hi"})").is_llm);
  EXPECT_TRUE(classify(augment_request(), "").is_llm);
  // Its support calls are not LLM calls.
  EXPECT_FALSE(classify(request("/get-models", "d1.api.augmentcode.com"), "{}").is_llm);
}

// ---------------------------------------------------------------------------
TEST(ProviderEstimate, TokensFromBytes) {
  EXPECT_EQ(estimate_tokens_from_text_bytes(0), 0u);
  EXPECT_EQ(estimate_tokens_from_text_bytes(1), 1u);
  EXPECT_EQ(estimate_tokens_from_text_bytes(3), 1u);
  EXPECT_EQ(estimate_tokens_from_text_bytes(4), 1u);
  EXPECT_EQ(estimate_tokens_from_text_bytes(5), 2u);
  EXPECT_EQ(estimate_tokens_from_text_bytes(8), 2u);
  EXPECT_EQ(estimate_tokens_from_text_bytes(9), 3u);
  EXPECT_EQ(estimate_tokens_from_text_bytes(UINT64_MAX), 4611686018427387904u);
}

TEST(ProviderEstimate, InputCountsStringValuesOnly) {
  // "m" 1 + "user" 4 + "hello" 5 = 10 bytes -> 3; keys and numbers are not text.
  Usage u = estimate_usage(
      R"({"model":"m","max_tokens":1024,"messages":[{"role":"user","content":"hello"}]})", "");
  EXPECT_USAGE(u, 3, 0, 0, 0, 0, 0, 0);
  // Escapes are decoded: "\u00e9\n" is 3 bytes of UTF-8 -> 1.
  EXPECT_USAGE(estimate_usage(R"({"a":"\u00e9\n"})", ""), 1, 0, 0, 0, 0, 0, 0);
  // Unparseable request: its bytes. 16 bytes -> 4.
  EXPECT_USAGE(estimate_usage("not json at all!", ""), 4, 0, 0, 0, 0, 0, 0);
  EXPECT_USAGE(estimate_usage("", ""), 0, 0, 0, 0, 0, 0, 0);
}

TEST(ProviderEstimate, OutputFromRecordedBodies) {
  struct Case {
    const char* file;
    uint64_t tokens;
  };
  const Case cases[] = {
      // thinking 29 + text 24 + tool json 24 = 77 bytes
      {"anthropic_stream.sse", 20},
      // text 56 + tool input keys and values 36 = 92 bytes
      {"anthropic_message.json", 23},
      // 4 + 17 + 12 = 33 bytes
      {"openai_chat_stream.sse", 9},
      // "The capital of France is Paris." 31 bytes
      {"openai_chat.json", 8},
      // summary 17 + text 11 + 13 + arguments 18 = 59 bytes (".done" repeats not counted)
      {"openai_responses_stream.sse", 15},
      // 91 bytes of output_text
      {"openai_responses.json", 23},
      // 3 + 16 + 7 = 26 bytes
      {"gemini_stream.sse", 7},
      {"gemini_stream_array.json", 7},
      // thought 21 + functionCall args "absolute_path" 13 + "/src/main.c" 11 = 45 bytes
      {"cloudcode_stream.sse", 12},
      // error bodies produced nothing
      {"anthropic_error_rate_limit.json", 0},
      {"openai_error_quota.json", 0},
      {"gemini_error_quota.json", 0},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.file);
    EXPECT_USAGE(estimate_usage("", data(tc.file)), 0, 0, 0, 0, 0, tc.tokens, 0);
  }
}

TEST(ProviderEstimate, UnrecognisedOutputFallsBackToBytes) {
  EXPECT_USAGE(estimate_usage("", R"({"foo":"bar"})"), 0, 0, 0, 0, 0, 4, 0);    // 13 bytes
  EXPECT_USAGE(estimate_usage("", "garbage!!"), 0, 0, 0, 0, 0, 3, 0);           // 9 bytes
  EXPECT_USAGE(estimate_usage("", "data: not json\n\n"), 0, 0, 0, 0, 0, 4, 0);  // 16 bytes
}

// ---------------------------------------------------------------------------
TEST(ProviderRobustness, WrongTypesReadAsAbsent) {
  // Strings, negatives and floats past 2^64 are ignored; integral floats are counts.
  ApiCall c = run_ok(request("/v1/messages"), kAnthropicReq,
                     R"({"type":"message","id":7,"model":["x"],"stop_reason":null,)"
                     R"("usage":{"input_tokens":"12","output_tokens":-5,)"
                     R"("cache_read_input_tokens":1e30,"cache_creation_input_tokens":7.0,)"
                     R"("cache_creation":"none"}})");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.response_id, "");
  EXPECT_EQ(c.model, "claude-sonnet-4-5");
  EXPECT_USAGE(c.usage, 0, 0, 7, 7, 0, 0, 0);

  c = run_ok(
      request("/v1/messages"), kAnthropicReq,
      R"({"type":"message","usage":{"input_tokens":1.5,"output_tokens":18446744073709551615}})");
  EXPECT_USAGE(c.usage, 0, 0, 0, 0, 0, UINT64_MAX, 0);

  // Sums saturate instead of wrapping.
  c = run_ok(
      request("/v1beta/models/g:generateContent"), kGeminiReq,
      R"({"usageMetadata":{"promptTokenCount":1,"toolUsePromptTokenCount":18446744073709551615,)"
      R"("candidatesTokenCount":18446744073709551615,"thoughtsTokenCount":5}})");
  EXPECT_USAGE(c.usage, UINT64_MAX, 0, 0, 0, 0, UINT64_MAX, 5);

  // Structure of the wrong kind everywhere.
  c = run_ok(request("/v1/chat/completions"), R"({"model":5,"stream":"true"})",
             R"({"choices":"none","usage":[1,2],"id":null,"model":{}})");
  EXPECT_FALSE(c.stream);
  EXPECT_EQ(c.model, "");
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "response has no usage");
}

TEST(ProviderRobustness, UsageNumbersOutOfRange) {
  // Parsed, but not counts: a float past 2^64 and a negative read as absent.
  ApiCall c = run_ok(request("/v1/messages"), kAnthropicReq,
                     R"({"type":"message","usage":{"input_tokens":-1,"output_tokens":1e300,)"
                     R"("cache_read_input_tokens":3}})");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 0, 3, 0, 0, 0, 0, 0);
  // Numbers no 64-bit value holds (1e400, 2^64) make the document unreadable: it is
  // skipped like a garbled one, so the call is estimated and says why.
  for (const char* n : {"1e400", "18446744073709551616", "-99999999999999999999"}) {
    std::string body = std::string(R"({"type":"message","usage":{"input_tokens":1,"output_tokens":)") + n + "}}";
    c = run_ok(request("/v1/messages"), kAnthropicReq, body);
    EXPECT_EQ(c.usage_source, UsageSource::Estimated) << n;
    EXPECT_EQ(c.error, "response has no usage") << n;
    EXPECT_USAGE(c.usage, kAnthropicReqTokens, 0, 0, 0, 0, (body.size() + 3) / 4, 0);
  }
  // In a stream only that event is lost: message_start's usage is not final.
  c = run_ok(request("/v1/messages"), kAnthropicReq,
             "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9}}}\n\n"
             "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":1e400}}\n\n");
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "response has no usage");
}

TEST(ProviderRobustness, DeepAndHugeResponses) {
  // Nested deeper than 1024 levels: refused, never recursed into.
  std::string deep = R"({"type":"message","usage":{"input_tokens":5,"output_tokens":6},"content":)" +
                     std::string(5000, '[') + std::string(5000, ']') + "}";
  ApiCall c = run_ok(request("/v1/messages"), kAnthropicReq, deep);
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  // A 20 MB text block is read whole; the usage beside it is exact.
  std::string huge = R"({"type":"message","content":[{"type":"text","text":")" + std::string(20u << 20, 'x') +
                     R"("}],"usage":{"input_tokens":5,"output_tokens":6}})";
  c = run_ok(request("/v1/messages"), kAnthropicReq, huge);
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_USAGE(c.usage, 5, 0, 0, 0, 0, 6, 0);
  // Without usage its text is what the output estimate counts.
  EXPECT_EQ(estimate_usage("", R"({"type":"message","content":[{"type":"text","text":")" +
                                   std::string(20u << 20, 'x') + R"("}]})")
                .output_tokens,
            (20u << 20) / 4);
}

TEST(ProviderHarness, RememberedMatchesGiveTheSameAnswers) {
  // Pattern searches are remembered per (pattern, value), a few thousand at most:
  // more distinct values than that, then the first ones again.
  auto call = [](int i) {
    std::string body = R"({"model":"m","metadata":{"user_id":"user_ab_account_cd_session_)" +
                       std::to_string(10000000 + i) + R"("}})";
    return run_ok(request("/v1/messages", "api.anthropic.com", {{"User-Agent", "claude-cli/2.0." + std::to_string(i)}}),
                  body, "");
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (int i : {0, 1, 4095, 4096, 4097, 6000, 0, 1}) {
      ApiCall c = call(i);
      EXPECT_EQ(c.harness, "claude-code") << i;
      EXPECT_EQ(c.harness_version, "2.0." + std::to_string(i));
      EXPECT_EQ(c.session_id, std::to_string(10000000 + i));
      EXPECT_EQ(c.session_source, "body:metadata.user_id");
    }
    for (int i = 0; i < 5000; ++i) call(i);
  }
}

TEST(ProviderRobustness, GarbageNeverCrashes) {
  std::mt19937 rng(1234);
  std::vector<std::string> bodies = {
      "",
      "{",
      "[",
      "]",
      "[,,,]",
      "[{]",
      "{\"a\":\"\\",
      "data:",
      "data: [DONE]",
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":null}\n\n",
      "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":{}}}\n\n",
      "[{\"response\":5},{\"response\":{\"usageMetadata\":[]}}]",
      "{\"type\":\"message\",\"content\":[1,{\"input\":[]},{\"text\":5}]}",
      "{\"object\":\"response\",\"output\":[{\"content\":\"x\"},7]}",
      "{\"error\":{\"code\":[],\"message\":{}}}",
      "\xff\xfe\x00\x01{\"x\":\"\xc3\x28\"}",
      std::string(100000, '['),
      std::string(50000, '[') + std::string(50000, ']'),
      std::string(50000, '{'),
  };
  for (int i = 0; i < 200; ++i) {
    std::string junk(rng() % 512, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    bodies.push_back(junk);
    // Recorded bodies cut at random points and with random bytes flipped.
    for (const char* f :
         {"anthropic_stream.sse", "openai_responses_stream.sse", "gemini_stream_array.json"}) {
      std::string b = data(f);
      b.resize(rng() % b.size());
      if (!b.empty()) b[rng() % b.size()] = static_cast<char>(rng());
      bodies.push_back(b);
    }
  }
  const char* targets[] = {"/v1/messages",
                           "/v1/chat/completions",
                           "/v1/responses",
                           "/v1beta/models/g:streamGenerateContent",
                           "/v1internal:generateContent",
                           "/v1/messages/count_tokens",
                           "/api/other"};
  for (const char* t : targets) {
    for (const auto& b : bodies) {
      ApiCall c = run_ok(request(t), b, b, false);
      if (c.is_llm && c.billable) {
        EXPECT_NE(c.usage_source, UsageSource::None);
      }
      estimate_usage(b, b);
    }
  }
  Exchange empty;
  EXPECT_FALSE(decode(empty).is_llm);
}

}  // namespace

namespace {

// One host table for the request classifier and the socket fallback: case and
// port do not matter; an IPv6 literal keeps its own colons.
// ---- the tools a response called (ApiCall::tools_called), in order ----

using Names = std::vector<std::string>;

TEST(ProviderToolsCalled, FromRecordedBodies) {
  HttpMessage anthropic = request("/v1/messages", "api.anthropic.com");
  EXPECT_EQ(run_ok(anthropic, kAnthropicReq, data("anthropic_message.json")).tools_called, Names{"get_weather"});
  EXPECT_EQ(run_ok(anthropic, kAnthropicReq, data("anthropic_stream.sse")).tools_called, Names{"Bash"});
  // The provider's own tool (server_tool_use) counts: its definition is a tool too.
  EXPECT_EQ(run_ok(anthropic, kAnthropicReq, data("anthropic_stream_server_tool.sse")).tools_called, Names{"web_search"});
  HttpMessage chat = request("/v1/chat/completions", "api.openai.com");
  EXPECT_EQ(run_ok(chat, R"({"model":"gpt-4o","stream":true})", data("openai_chat_stream.sse")).tools_called,
            Names{"shell"});
  EXPECT_TRUE(run_ok(chat, R"({"model":"gpt-4o"})", data("openai_chat.json")).tools_called.empty());
  // output_item.added, .done and response.completed all list it: once.
  HttpMessage responses = request("/v1/responses", "api.openai.com");
  EXPECT_EQ(run_ok(responses, R"({"model":"gpt-5","stream":true})", data("openai_responses_stream.sse")).tools_called,
            Names{"shell"});
  HttpMessage code_assist = request("/v1internal:streamGenerateContent?alt=sse", "cloudcode-pa.googleapis.com");
  EXPECT_EQ(run_ok(code_assist, R"({"model":"gemini-2.5-pro"})", data("cloudcode_stream.sse")).tools_called,
            Names{"read_file"});
}

TEST(ProviderToolsCalled, AnthropicJsonAndStream) {
  HttpMessage req = request("/v1/messages", "api.anthropic.com");
  std::string json = R"({"type":"message","id":"m","content":[{"type":"text","text":"hi"},)"
                     R"({"type":"tool_use","id":"a","name":"read","input":{}},{"type":"tool_use","id":"b","name":"bash","input":{}},)"
                     R"({"type":"tool_use","id":"c","name":"read","input":{}}],"usage":{"input_tokens":1,"output_tokens":2}})";
  EXPECT_EQ(run_ok(req, kAnthropicReq, json).tools_called, (Names{"read", "bash", "read"}));
  auto ev = [](std::string data) { return "data: " + data + "\n\n"; };
  std::string sse = ev(R"({"type":"message_start","message":{"id":"m","content":[],"usage":{"input_tokens":1,"output_tokens":1}}})") +
                    ev(R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})") +
                    ev(R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"a","name":"read","input":{}}})") +
                    ev(R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}})") +
                    ev(R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"b","name":"bash","input":{}}})") +
                    ev(R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}})");
  EXPECT_EQ(run_ok(req, kAnthropicReq, sse).tools_called, (Names{"read", "bash"}));
}

TEST(ProviderToolsCalled, OpenAIChatJsonAndStream) {
  HttpMessage req = request("/v1/chat/completions", "api.openai.com");
  std::string json = R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[)"
                     R"({"id":"1","type":"function","function":{"name":"ls","arguments":"{}"}},)"
                     R"({"id":"2","type":"function","function":{"name":"cat","arguments":"{}"}}]},"finish_reason":"tool_calls"}],)"
                     R"("usage":{"prompt_tokens":5,"completion_tokens":3}})";
  EXPECT_EQ(run_ok(req, R"({"model":"gpt-4o"})", json).tools_called, (Names{"ls", "cat"}));
  // The name comes with each call's first delta; a vendor that repeats it is not
  // counted twice; the arguments' deltas name nothing.
  auto delta = [](std::string calls) {
    return "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":" + calls + "}}]}\n\n";
  };
  std::string sse = delta(R"([{"index":0,"id":"1","type":"function","function":{"name":"ls","arguments":""}}])") +
                    delta(R"([{"index":0,"function":{"arguments":"{}"}}])") +
                    delta(R"([{"index":1,"id":"2","type":"function","function":{"name":"cat","arguments":""}}])") +
                    delta(R"([{"index":1,"function":{"name":"cat","arguments":"{}"}}])") +
                    "data: {\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n";
  EXPECT_EQ(run_ok(req, R"({"model":"gpt-4o","stream":true})", sse).tools_called, (Names{"ls", "cat"}));
}

TEST(ProviderToolsCalled, OpenAIResponsesJsonAndStream) {
  HttpMessage req = request("/v1/responses", "api.openai.com");
  std::string json = R"({"id":"r","object":"response","status":"completed","output":[{"type":"reasoning","summary":[]},)"
                     R"({"type":"function_call","call_id":"c1","name":"shell","arguments":"{}"},)"
                     R"({"type":"custom_tool_call","call_id":"c2","name":"apply_patch","input":"x"},)"
                     R"({"type":"message","role":"assistant","content":[]}],"usage":{"input_tokens":5,"output_tokens":3}})";
  EXPECT_EQ(run_ok(req, R"({"model":"gpt-5"})", json).tools_called, (Names{"shell", "apply_patch"}));
  // A stream whose final response lists no output: the items streamed, once each.
  auto ev = [](std::string type, std::string rest) {
    return "event: " + type + "\ndata: {\"type\":\"" + type + "\"," + rest + "}\n\n";
  };
  std::string sse =
      ev("response.output_item.added", R"("output_index":0,"item":{"type":"function_call","name":"shell","arguments":""})") +
      ev("response.output_item.added", R"("output_index":1,"item":{"type":"function_call","name":"grep","arguments":""})") +
      ev("response.output_item.done", R"("output_index":0,"item":{"type":"function_call","name":"shell","arguments":"{}"})") +
      ev("response.output_item.done", R"("output_index":1,"item":{"type":"function_call","name":"grep","arguments":"{}"})") +
      ev("response.completed", R"("response":{"id":"r","status":"completed","output":[],"usage":{"input_tokens":5,"output_tokens":3}})");
  EXPECT_EQ(run_ok(req, R"({"model":"gpt-5","stream":true})", sse).tools_called, (Names{"shell", "grep"}));
}

TEST(ProviderToolsCalled, GeminiChunksEachCarryTheirOwnCalls) {
  HttpMessage req = request("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                            "generativelanguage.googleapis.com");
  auto chunk = [](std::string parts, std::string tail = "") {
    return R"(data: {"candidates":[{"content":{"role":"model","parts":)" + parts + "}" + tail + "}]}\n\n";
  };
  std::string sse = chunk(R"([{"text":"Let me look."}])") +
                    chunk(R"([{"functionCall":{"name":"read_file","args":{"path":"a"}}},{"functionCall":{"name":"ls","args":{}}}])") +
                    chunk(R"([{"functionCall":{"name":"read_file","args":{"path":"b"}}}])", R"(,"finishReason":"STOP")");
  EXPECT_EQ(run_ok(req, R"({"contents":[]})", sse).tools_called, (Names{"read_file", "ls", "read_file"}));
}

TEST(ProviderHosts, OneTableCaseAndPortInsensitive) {
  using tt::provider::provider_for_host;
  EXPECT_EQ(provider_for_host("api.anthropic.com"), "anthropic");
  EXPECT_EQ(provider_for_host("API.Anthropic.com:443"), "anthropic");
  EXPECT_EQ(provider_for_host("chatgpt.com"), "openai");
  EXPECT_EQ(provider_for_host("api.openai.com:8443"), "openai");
  EXPECT_EQ(provider_for_host("cloudcode-pa.googleapis.com"), "gcp.gen_ai");
  EXPECT_EQ(provider_for_host("api.anthropic.com.evil.example"), "");
  EXPECT_EQ(provider_for_host("127.0.0.1:8443"), "local");
  EXPECT_EQ(tt::provider::host_key("[::1]:443"), "[::1]");
  EXPECT_EQ(tt::provider::host_key("::1"), "::1");
  EXPECT_EQ(tt::provider::host_key("Gateway.Internal:8443"), "gateway.internal");
}

}  // namespace
