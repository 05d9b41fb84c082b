// The cloud wire formats (Bedrock, Vertex AI, Azure), vendors' usage shapes,
// Ollama's native API and how a call is billed, from hand-built responses whose
// figures are known.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "protocol/eventstream.h"
#include "provider/provider.h"

namespace {

using tt::protocol::HttpMessage;
using tt::provider::ApiCall;
using tt::provider::Exchange;
using tt::provider::UsageSource;
using tt::provider::WireFormat;

HttpMessage post(std::string target, std::string host, std::vector<tt::protocol::Header> extra = {}) {
  HttpMessage m;
  m.method = "POST";
  m.target = std::move(target);
  m.headers.push_back({"Host", std::move(host)});
  for (auto& h : extra) m.headers.push_back(std::move(h));
  return m;
}

ApiCall run(const HttpMessage& req, std::string_view req_body, std::string_view resp_body,
            std::vector<tt::protocol::Header> resp_headers = {}, bool complete = true) {
  HttpMessage resp;
  resp.is_request = false;
  resp.status = 200;
  resp.headers = std::move(resp_headers);
  resp.complete = true;
  Exchange ex;
  ex.request = &req;
  ex.response = &resp;
  ex.request_body = req_body;
  ex.response_body = resp_body;
  ex.response_complete = complete;
  return tt::provider::decode(ex);
}

// ---- AWS event stream encoding, as Bedrock frames its streams ----
void be32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s));
}
uint32_t crc(std::string_view s) { return crc32(0, reinterpret_cast<const Bytef*>(s.data()), s.size()); }
std::string header(std::string_view name, std::string_view value) {
  std::string h;
  h.push_back(static_cast<char>(name.size()));
  h += name;
  h.push_back(7);  // string
  h.push_back(static_cast<char>(value.size() >> 8));
  h.push_back(static_cast<char>(value.size()));
  h += value;
  return h;
}
std::string frame(std::string_view event_type, std::string_view payload, std::string_view message_type = "event") {
  std::string headers = header(":message-type", message_type) +
                        header(message_type == "event" ? ":event-type" : ":exception-type", event_type) +
                        header(":content-type", "application/json");
  headers += std::string("\x05:flag\x00", 7);  // a boolean-true header: skipped by its size
  std::string m;
  be32(m, static_cast<uint32_t>(16 + headers.size() + payload.size()));
  be32(m, static_cast<uint32_t>(headers.size()));
  be32(m, crc(m));
  m += headers;
  m += payload;
  be32(m, crc(m));
  return m;
}
std::string b64(std::string_view in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
    out += a[n >> 18 & 63];
    out += a[n >> 12 & 63];
    out += i + 1 < in.size() ? a[n >> 6 & 63] : '=';
    out += i + 2 < in.size() ? a[n & 63] : '=';
  }
  return out;
}
std::string chunk(std::string_view inner_json) { return frame("chunk", R"({"bytes":")" + b64(inner_json) + R"(","p":"abc"})"); }

TEST(EventStream, ParsesFramesAndRefusesBadOnes) {
  std::string body = frame("chunk", R"({"a":1})") + frame("metadata", "{}");
  tt::protocol::EventStream es = tt::protocol::parse_eventstream(body);
  ASSERT_EQ(es.messages.size(), 2u);
  EXPECT_EQ(es.messages[0].event_type, "chunk");
  EXPECT_EQ(es.messages[0].message_type, "event");
  EXPECT_EQ(es.messages[0].payload, R"({"a":1})");
  EXPECT_EQ(es.messages[1].event_type, "metadata");
  EXPECT_TRUE(es.error.empty());

  // Cut off mid-message: the whole ones are kept, the tail counted.
  es = tt::protocol::parse_eventstream(std::string_view(body).substr(0, body.size() - 5));
  EXPECT_EQ(es.messages.size(), 1u);
  EXPECT_GT(es.trailing_bytes, 0u);
  EXPECT_TRUE(es.error.empty());

  std::string bad = body;
  bad[20] ^= 1;  // inside the first message: its checksum no longer holds
  es = tt::protocol::parse_eventstream(bad);
  EXPECT_TRUE(es.messages.empty());
  EXPECT_EQ(es.error, "event stream: message checksum mismatch");

  bad = body;
  bad[1] ^= 1;  // the length: the prelude checksum catches it
  EXPECT_EQ(tt::protocol::parse_eventstream(bad).error, "event stream: prelude checksum mismatch");

  std::string huge;
  be32(huge, 0xffffffffu);
  be32(huge, 0);
  be32(huge, crc(huge));
  EXPECT_EQ(tt::protocol::parse_eventstream(huge).error, "event stream: bad message length 4294967295");
  EXPECT_TRUE(tt::protocol::parse_eventstream("").messages.empty());
}

constexpr std::string_view kBedrockReq =
    R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"hi"}]})";

TEST(Bedrock, InvokeWithResponseStreamCarriesAnthropicEvents) {
  std::string body =
      chunk(R"({"type":"message_start","message":{"id":"msg_bdrk_1","model":"claude-sonnet-4-5-20250929",)"
            R"("usage":{"input_tokens":12,"cache_read_input_tokens":3000,"cache_creation_input_tokens":200,"output_tokens":1}}})") +
      chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})") +
      chunk(R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}})") +
      chunk(R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":12,"outputTokenCount":42,)"
            R"("invocationLatency":900,"firstByteLatency":300,"cacheReadInputTokenCount":3000,"cacheWriteInputTokenCount":200}})");
  HttpMessage req = post("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream",
                         "bedrock-runtime.us-east-1.amazonaws.com",
                         {{"Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20261130/us-east-1/bedrock/aws4_request"}});
  ApiCall c = run(req, kBedrockReq, body, {{"Content-Type", "application/vnd.amazon.eventstream"}, {"x-amzn-RequestId", "r-1"}});
  EXPECT_TRUE(c.is_llm);
  EXPECT_EQ(c.provider, "aws.bedrock");
  EXPECT_EQ(c.wire, WireFormat::BedrockInvoke);
  EXPECT_EQ(c.api, "invoke_model_stream");
  EXPECT_TRUE(c.stream);
  EXPECT_EQ(c.model, "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.usage.input_tokens, 12u);
  EXPECT_EQ(c.usage.cache_read_tokens, 3000u);
  EXPECT_EQ(c.usage.cache_write_tokens, 200u);
  EXPECT_EQ(c.usage.cache_write_5m_tokens, 200u);
  EXPECT_EQ(c.usage.output_tokens, 42u);
  EXPECT_EQ(c.stop_reason, "end_turn");
  EXPECT_EQ(c.response_id, "msg_bdrk_1");
  EXPECT_EQ(c.request_id, "r-1");
  EXPECT_EQ(c.billing, "metered");
  EXPECT_EQ(c.error, "");
}

TEST(Bedrock, OtherModelsByInvocationMetricsAndHeaders) {
  // A Llama stream: its own chunk shape, Bedrock's metrics on the last one.
  std::string body = chunk(R"({"generation":"Hi","stop_reason":null})") +
                     chunk(R"({"generation":"","stop_reason":"stop","amazon-bedrock-invocationMetrics":)"
                           R"({"inputTokenCount":17,"outputTokenCount":5,"invocationLatency":10,"firstByteLatency":5}})");
  HttpMessage req = post("/model/meta.llama3-70b-instruct-v1%3A0/invoke-with-response-stream", "127.0.0.1:9000");
  ApiCall c = run(req, R"({"prompt":"hi"})", body);
  EXPECT_EQ(c.provider, "aws.bedrock");  // the path names it on any host
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.usage.input_tokens, 17u);
  EXPECT_EQ(c.usage.output_tokens, 5u);

  // InvokeModel, not streamed: the model's JSON, and the count headers every model gets.
  req = post("/model/amazon.titan-text-express-v1/invoke", "bedrock-runtime.us-west-2.amazonaws.com");
  c = run(req, R"({"inputText":"hi"})", R"({"results":[{"outputText":"x","completionReason":"FINISH"}]})",
          {{"X-Amzn-Bedrock-Input-Token-Count", "9"}, {"X-Amzn-Bedrock-Output-Token-Count", "4"}});
  EXPECT_EQ(c.api, "invoke_model");
  EXPECT_FALSE(c.stream);
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.usage.input_tokens, 9u);
  EXPECT_EQ(c.usage.output_tokens, 4u);

  // Anthropic's non-stream JSON inside InvokeModel.
  req = post("/model/anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke", "bedrock-runtime.us-east-1.amazonaws.com");
  c = run(req, kBedrockReq,
          R"({"id":"msg_1","type":"message","model":"claude-haiku-4-5-20251001","stop_reason":"end_turn",)"
          R"("usage":{"input_tokens":30,"output_tokens":8,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":64},"cache_creation_input_tokens":64}})");
  EXPECT_EQ(c.usage.input_tokens, 30u);
  EXPECT_EQ(c.usage.cache_write_1h_tokens, 64u);
  EXPECT_EQ(c.usage.cache_write_5m_tokens, 0u);
  EXPECT_EQ(c.model, "anthropic.claude-haiku-4-5-20251001-v1:0");
}

TEST(Bedrock, StreamExceptionAndCutOff) {
  std::string body =
      chunk(R"({"type":"message_start","message":{"id":"m","usage":{"input_tokens":5,"output_tokens":1}}})") +
      frame("throttlingException", R"({"message":"Too many requests"})", "exception");
  HttpMessage req = post("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream",
                         "bedrock-runtime.us-east-1.amazonaws.com");
  ApiCall c = run(req, kBedrockReq, body);
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "throttlingException: Too many requests");

  // A stream cut inside a frame, before usage: estimated, and said so.
  std::string cut = chunk(R"({"type":"message_start","message":{"id":"m","usage":{"input_tokens":5,"output_tokens":1}}})");
  c = run(req, kBedrockReq, std::string_view(cut).substr(0, cut.size() - 3), {}, /*complete=*/false);
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "stream ended before usage");
}

TEST(Bedrock, Converse) {
  HttpMessage req = post("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse",
                         "bedrock-runtime.us-east-1.amazonaws.com");
  ApiCall c = run(req, R"({"messages":[{"role":"user","content":[{"text":"hi"}]}]})",
                  R"({"output":{"message":{"role":"assistant","content":[{"text":"Hello"}]}},"stopReason":"end_turn",)"
                  R"("usage":{"inputTokens":11,"outputTokens":7,"totalTokens":1518,"cacheReadInputTokens":1000,"cacheWriteInputTokens":500},)"
                  R"("metrics":{"latencyMs":300}})");
  EXPECT_EQ(c.wire, WireFormat::BedrockConverse);
  EXPECT_EQ(c.api, "converse");
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.usage.input_tokens, 11u);
  EXPECT_EQ(c.usage.output_tokens, 7u);
  EXPECT_EQ(c.usage.cache_read_tokens, 1000u);
  EXPECT_EQ(c.usage.cache_write_tokens, 500u);
  EXPECT_EQ(c.usage.cache_write_5m_tokens, 500u);
  EXPECT_EQ(c.stop_reason, "end_turn");

  req = post("/model/us.amazon.nova-lite-v1%3A0/converse-stream", "bedrock-runtime.us-east-1.amazonaws.com");
  std::string body = frame("messageStart", R"({"role":"assistant"})") +
                     frame("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hel"}})") +
                     frame("contentBlockStop", R"({"contentBlockIndex":0})") +
                     frame("messageStop", R"({"stopReason":"max_tokens"})") +
                     frame("metadata", R"({"usage":{"inputTokens":20,"outputTokens":64,"totalTokens":84},"metrics":{"latencyMs":5}})");
  c = run(req, R"({"messages":[]})", body);
  EXPECT_EQ(c.api, "converse_stream");
  EXPECT_TRUE(c.stream);
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.usage.input_tokens, 20u);
  EXPECT_EQ(c.usage.output_tokens, 64u);
  EXPECT_EQ(c.stop_reason, "max_tokens");
  EXPECT_EQ(c.model, "us.amazon.nova-lite-v1:0");

  // An error body: {"message": ...}, no usage.
  HttpMessage r2 = post("/model/x/converse", "bedrock-runtime.us-east-1.amazonaws.com");
  c = run(r2, "{}", R"({"message":"The security token included in the request is invalid."})");
  EXPECT_EQ(c.error, "The security token included in the request is invalid.");
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
}

TEST(Bedrock, ToolsCalled) {
  using Names = std::vector<std::string>;
  // InvokeModel streams Anthropic's events inside the chunks.
  HttpMessage req = post("/model/anthropic.claude-sonnet-4-5/invoke-with-response-stream", "bedrock-runtime.us-east-1.amazonaws.com");
  std::string body =
      chunk(R"({"type":"message_start","message":{"id":"m","usage":{"input_tokens":5,"output_tokens":1}}})") +
      chunk(R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"get_time","input":{}}})") +
      chunk(R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":4}})");
  EXPECT_EQ(run(req, R"({"anthropic_version":"bedrock-2023-05-31","messages":[]})", body).tools_called, Names{"get_time"});

  // Converse: the message's toolUse blocks, or the stream's contentBlockStart.
  req = post("/model/us.amazon.nova-lite-v1%3A0/converse", "bedrock-runtime.us-east-1.amazonaws.com");
  ApiCall c = run(req, R"({"messages":[]})",
                  R"({"output":{"message":{"role":"assistant","content":[{"text":"ok"},{"toolUse":{"toolUseId":"1","name":"calc","input":{}}},)"
                  R"({"toolUse":{"toolUseId":"2","name":"plot","input":{}}}]}},"stopReason":"tool_use","usage":{"inputTokens":1,"outputTokens":2}})");
  EXPECT_EQ(c.tools_called, (Names{"calc", "plot"}));
  req = post("/model/us.amazon.nova-lite-v1%3A0/converse-stream", "bedrock-runtime.us-east-1.amazonaws.com");
  body = frame("messageStart", R"({"role":"assistant"})") +
         frame("contentBlockStart", R"({"start":{"toolUse":{"toolUseId":"1","name":"calc"}},"contentBlockIndex":0})") +
         frame("contentBlockDelta", R"({"delta":{"toolUse":{"input":"{}"}},"contentBlockIndex":0})") +
         frame("contentBlockStart", R"({"start":{"toolUse":{"toolUseId":"2","name":"plot"}},"contentBlockIndex":1})") +
         frame("messageStop", R"({"stopReason":"tool_use"})") +
         frame("metadata", R"({"usage":{"inputTokens":20,"outputTokens":64}})");
  EXPECT_EQ(run(req, R"({"messages":[]})", body).tools_called, (Names{"calc", "plot"}));
}

TEST(Vertex, ClaudeRawPredictStream) {
  HttpMessage req = post(
      "/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
      "us-east5-aiplatform.googleapis.com", {{"Authorization", "Bearer ya29.token"}});
  std::string body =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_vrtx_1\",\"usage\":{\"input_tokens\":40,\"output_tokens\":1}}}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n";
  ApiCall c = run(req, R"({"anthropic_version":"vertex-2023-10-16","stream":true,"messages":[]})", body);
  EXPECT_EQ(c.provider, "gcp.vertex_ai");
  EXPECT_EQ(c.wire, WireFormat::AnthropicMessages);
  EXPECT_EQ(c.model, "claude-sonnet-4-5@20250929");
  EXPECT_TRUE(c.stream);
  EXPECT_EQ(c.usage.input_tokens, 40u);
  EXPECT_EQ(c.usage.output_tokens, 9u);
  EXPECT_EQ(c.billing, "metered");
}

TEST(Azure, DeploymentPathModelFromResponse) {
  HttpMessage req = post("/openai/deployments/prod-chat/chat/completions?api-version=2024-10-21",
                         "myres.openai.azure.com", {{"api-key", "k"}});
  ApiCall c = run(req, R"({"messages":[{"role":"user","content":"hi"}]})",
                  R"({"id":"chatcmpl-1","model":"gpt-4o-2024-11-20","choices":[{"finish_reason":"stop"}],)"
                  R"("usage":{"prompt_tokens":100,"completion_tokens":10,"prompt_tokens_details":{"cached_tokens":64}}})");
  EXPECT_EQ(c.provider, "azure.ai.openai");
  EXPECT_EQ(c.model, "gpt-4o-2024-11-20");
  EXPECT_EQ(c.usage.input_tokens, 36u);
  EXPECT_EQ(c.usage.cache_read_tokens, 64u);
  EXPECT_EQ(c.billing, "metered");
}

TEST(VendorUsage, DeepSeekMoonshotOpenRouter) {
  // DeepSeek: hit + miss = prompt.
  ApiCall c = run(post("/chat/completions", "api.deepseek.com"), R"({"model":"deepseek-chat","messages":[]})",
                  R"({"id":"x","model":"deepseek-chat","choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,)"
                  R"("completion_tokens":50,"prompt_cache_hit_tokens":768,"prompt_cache_miss_tokens":232,"total_tokens":1050}})");
  EXPECT_EQ(c.provider, "deepseek");
  EXPECT_EQ(c.usage.input_tokens, 232u);
  EXPECT_EQ(c.usage.cache_read_tokens, 768u);
  EXPECT_FALSE(c.reported_cost_usd);

  // Moonshot: cached_tokens at the top of usage.
  c = run(post("/v1/chat/completions", "api.moonshot.ai"), R"({"model":"kimi-k2-0905-preview","messages":[]})",
          R"({"id":"x","model":"kimi-k2-0905-preview","choices":[],"usage":{"prompt_tokens":500,"completion_tokens":20,)"
          R"("total_tokens":520,"cached_tokens":300}})");
  EXPECT_EQ(c.provider, "moonshot");
  EXPECT_EQ(c.usage.input_tokens, 200u);
  EXPECT_EQ(c.usage.cache_read_tokens, 300u);

  // OpenRouter: its cost, and cache writes inside prompt_tokens.
  c = run(post("/api/v1/chat/completions", "openrouter.ai"), R"({"model":"anthropic/claude-sonnet-4.5","messages":[]})",
          R"({"id":"gen-1","model":"anthropic/claude-sonnet-4.5","choices":[],"usage":{"prompt_tokens":194,"completion_tokens":2,)"
          R"("total_tokens":196,"cost":0.0123,"is_byok":false,"prompt_tokens_details":{"cached_tokens":50,"cache_write_tokens":100},)"
          R"("cost_details":{"upstream_inference_cost":null}}})");
  EXPECT_EQ(c.provider, "openrouter");
  EXPECT_EQ(c.usage.input_tokens, 44u);
  EXPECT_EQ(c.usage.cache_read_tokens, 50u);
  EXPECT_EQ(c.usage.cache_write_tokens, 100u);
  ASSERT_TRUE(c.reported_cost_usd);
  EXPECT_DOUBLE_EQ(*c.reported_cost_usd, 0.0123);
  // With the user's own key, the upstream's charge is part of what was paid.
  c = run(post("/api/v1/chat/completions", "openrouter.ai"), R"({"model":"m","messages":[]})",
          R"({"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"cost":0.001,"is_byok":true,)"
          R"("cost_details":{"upstream_inference_cost":0.02}}})");
  ASSERT_TRUE(c.reported_cost_usd);
  EXPECT_DOUBLE_EQ(*c.reported_cost_usd, 0.021);
}

TEST(Ollama, NativeChatStreamsNdjson) {
  std::string body =
      R"({"model":"llama3.2","created_at":"2026-11-30T10:00:00Z","message":{"role":"assistant","content":"Hi"},"done":false})"
      "\n"
      R"({"model":"llama3.2","created_at":"2026-11-30T10:00:01Z","message":{"role":"assistant","content":""},"done":true,)"
      R"("done_reason":"stop","total_duration":1000,"prompt_eval_count":26,"eval_count":290})"
      "\n";
  ApiCall c = run(post("/api/chat", "localhost:11434"), R"({"model":"llama3.2","messages":[{"role":"user","content":"hi"}]})", body);
  EXPECT_EQ(c.provider, "ollama");
  EXPECT_EQ(c.wire, WireFormat::Ollama);
  EXPECT_EQ(c.api, "chat");
  EXPECT_TRUE(c.stream);  // Ollama's default
  EXPECT_EQ(c.usage_source, UsageSource::Exact);
  EXPECT_EQ(c.usage.input_tokens, 26u);
  EXPECT_EQ(c.usage.output_tokens, 290u);
  EXPECT_EQ(c.stop_reason, "stop");
  EXPECT_EQ(c.billing, "local");

  c = run(post("/api/generate", "127.0.0.1:11434"), R"({"model":"llama3.2","prompt":"hi","stream":false})",
          R"({"model":"llama3.2","response":"Hello","done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":7})");
  EXPECT_EQ(c.api, "generate");
  EXPECT_FALSE(c.stream);
  EXPECT_EQ(c.usage.input_tokens, 3u);
  EXPECT_EQ(c.usage.output_tokens, 7u);

  // A tool call comes whole, in one chunk.
  body = R"({"model":"llama3.2","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Oslo"}}}]},"done":false})"
         "\n"
         R"({"model":"llama3.2","message":{"role":"assistant","content":""},"done":true,"prompt_eval_count":26,"eval_count":9})"
         "\n";
  c = run(post("/api/chat", "localhost:11434"), R"({"model":"llama3.2","messages":[]})", body);
  EXPECT_EQ(c.tools_called, std::vector<std::string>{"get_weather"});

  // Cut off before done: estimated.
  c = run(post("/api/chat", "localhost:11434"), R"({"model":"llama3.2","messages":[]})",
          R"({"model":"llama3.2","message":{"content":"Hi"},"done":false})", {}, false);
  EXPECT_EQ(c.usage_source, UsageSource::Estimated);
  EXPECT_EQ(c.error, "stream ended before usage");
}

TEST(Billing, FromTheCredentialsKind) {
  auto billing = [](HttpMessage req) {
    return run(req, R"({"model":"m","messages":[]})", R"({"usage":{"input_tokens":1,"output_tokens":1}})").billing;
  };
  EXPECT_EQ(billing(post("/v1/messages", "api.anthropic.com", {{"x-api-key", "sk-ant-api03-x"}})), "metered");
  EXPECT_EQ(billing(post("/v1/messages", "api.anthropic.com", {{"Authorization", "Bearer sk-ant-oat01-x"}})),
            "subscription");
  EXPECT_EQ(billing(post("/backend-api/codex/responses", "chatgpt.com",
                         {{"Authorization", "Bearer eyJ"}, {"chatgpt-account-id", "acc"}})),
            "subscription");
  EXPECT_EQ(billing(post("/v1internal:generateContent", "cloudcode-pa.googleapis.com", {{"Authorization", "Bearer ya29"}})),
            "subscription");
  EXPECT_EQ(billing(post("/v1beta/models/gemini-2.5-pro:generateContent?key=AIza", "generativelanguage.googleapis.com")),
            "metered");
  EXPECT_EQ(billing(post("/v1/messages", "127.0.0.1:8443", {{"x-api-key", "x"}})), "local");
  EXPECT_EQ(billing(post("/v1/messages", "api.anthropic.com")), "");
}

}  // namespace
