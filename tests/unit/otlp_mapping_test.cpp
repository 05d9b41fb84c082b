// OTLP: records mapped to GenAI semantic conventions (otlp/genai.h), and the
// cumulative histograms the metrics are aggregated into (otlp/histograms.h).
#include <gtest/gtest.h>

#include <map>

#include "otlp/genai.h"
#include "otlp/histograms.h"

namespace tt::otlp {
namespace {

v1::ApiRequest anthropic_request() {
  v1::ApiRequest r;
  r.set_run_id("run1");
  r.set_pid(42);
  r.set_comm("claude");
  r.set_connection_id(7);
  r.set_sequence_on_connection(1);
  r.set_provider("anthropic");
  r.set_api("messages");
  r.set_host("api.anthropic.com");
  r.set_model("claude-sonnet-4-5");
  r.set_billable(true);
  r.set_status(200);
  r.set_complete(true);
  r.set_stop_reason("end_turn");
  r.set_response_id("msg_01");
  r.set_session_id("sess-9");
  r.set_session_source("body:metadata.user_id");
  r.set_harness("claude-code");
  r.set_user("alice");
  r.set_project("/home/alice/app");
  r.set_input_tokens(100);  // uncached, as tokentap counts it
  r.set_cache_read_tokens(1000);
  r.set_cache_write_tokens(30);
  r.set_cache_write_5m_tokens(30);
  r.set_output_tokens(50);
  r.set_reasoning_tokens(5);
  r.set_usage_source("exact");
  r.set_start_unix_ns(1'000'000'000);
  r.set_end_unix_ns(1'250'000'000);
  r.set_latency_ms(250);
  return r;
}

// Span attributes by key, each value as text (arrays joined with ',').
std::map<std::string, std::string> span_attrs(const trace::Span& s) {
  std::map<std::string, std::string> out;
  for (const auto& kv : s.attributes()) {
    const auto& v = kv.value();
    std::string text = v.has_int_value()    ? std::to_string(v.int_value())
                       : v.has_bool_value() ? (v.bool_value() ? "true" : "false")
                                            : v.string_value();
    for (const auto& e : v.array_value().values()) text += (text.empty() ? "" : ",") + e.string_value();
    out[kv.key()] = text;
  }
  return out;
}

trace::Span span_of(const v1::ApiRequest& r) {
  trace::Span s;
  GenAiMapper::fill_span(r, &s);
  return s;
}

std::string attr(const Attrs& attrs, const std::string& key) {
  for (const Attr& a : attrs)
    if (a.key == key) return std::holds_alternative<std::string>(a.value) ? std::get<std::string>(a.value) : "<non-string>";
  return "<absent>";
}

TEST(OtlpMappingTest, SpanCarriesUsageWithCacheCountedInInput) {
  trace::Span s = span_of(anthropic_request());
  auto a = span_attrs(s);
  const std::map<std::string, std::string> want = {
      // The convention's input is the whole prompt: uncached + cache reads + cache writes.
      {"gen_ai.usage.input_tokens", "1130"},
      {"gen_ai.usage.cache_read.input_tokens", "1000"},
      {"gen_ai.usage.cache_creation.input_tokens", "30"},
      {"gen_ai.usage.output_tokens", "50"},
      {"gen_ai.usage.reasoning.output_tokens", "5"},
      {"tokentap.usage.cache_write_5m.input_tokens", "30"},
      {"gen_ai.operation.name", "chat"},
      {"gen_ai.provider.name", "anthropic"},
      {"gen_ai.request.model", "claude-sonnet-4-5"},
      {"gen_ai.response.id", "msg_01"},
      {"gen_ai.response.finish_reasons", "end_turn"},
      {"gen_ai.conversation.id", "sess-9"},
      {"server.address", "api.anthropic.com"},
      {"server.port", "443"},
      {"tokentap.harness", "claude-code"},
      {"tokentap.session.id", "sess-9"},
      {"tokentap.user", "alice"},
      {"tokentap.project", "/home/alice/app"},
  };
  for (const auto& [key, value] : want) EXPECT_EQ(a[key], value) << key;
  // Absent: no 1h cache writes, the requested model is the only one known, no error.
  for (const char* key : {"tokentap.usage.cache_write_1h.input_tokens", "gen_ai.response.model", "error.type"})
    EXPECT_EQ(a.count(key), 0u) << key;
  EXPECT_EQ(s.name(), "chat claude-sonnet-4-5");
  EXPECT_EQ(s.kind(), trace::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(s.start_time_unix_nano(), 1'000'000'000u);
  EXPECT_EQ(s.end_time_unix_nano(), 1'250'000'000u);
  EXPECT_EQ(s.status().code(), trace::Status::STATUS_CODE_UNSET);
}

TEST(OtlpMappingTest, ProvidersOperationsAndPorts) {
  struct Case {
    const char *provider, *api, *host, *want_provider, *want_op, *want_port;
  };
  for (const Case& c : {Case{"openai", "responses", "api.openai.com", "openai", "chat", "443"},
                        Case{"openai", "chat_completions", "127.0.0.1:8443", "openai", "chat", "8443"},
                        Case{"gemini", "stream_generate_content", "generativelanguage.googleapis.com", "gcp.gemini",
                             "generate_content", "443"},
                        Case{"gemini", "generate_content", "us-central1-aiplatform.googleapis.com", "gcp.vertex_ai",
                             "generate_content", "443"},
                        Case{"gemini", "generate_content", "cloudcode-pa.googleapis.com", "gcp.gen_ai",
                             "generate_content", "443"},
                        Case{"anthropic", "count_tokens", "[::1]:9000", "anthropic", "count_tokens", "9000"}}) {
    v1::ApiRequest r = anthropic_request();
    r.set_provider(c.provider);
    r.set_api(c.api);
    r.set_host(c.host);
    auto a = span_attrs(span_of(r));
    EXPECT_EQ(a["gen_ai.provider.name"], c.want_provider) << c.host;
    EXPECT_EQ(a["gen_ai.operation.name"], c.want_op) << c.api;
    EXPECT_EQ(a["server.port"], c.want_port) << c.host;
  }
  v1::ApiRequest r = anthropic_request();
  r.set_provider("openai");
  EXPECT_EQ(span_attrs(span_of(r))["gen_ai.response.model"], "claude-sonnet-4-5");  // OpenAI's model is the served one
  r.set_host("[::1]:9000");
  EXPECT_EQ(span_attrs(span_of(r))["server.address"], "[::1]");
}

TEST(OtlpMappingTest, ErrorsAreTypedByStatusNeverByBodyText) {
  v1::ApiRequest r = anthropic_request();
  r.set_status(429);
  r.set_billable(false);
  r.set_error("rate_limit_error: the prompt 'SECRET PROMPT' was too long");
  trace::Span s = span_of(r);
  auto a = span_attrs(s);
  EXPECT_EQ(a["error.type"], "429");
  EXPECT_EQ(s.status().code(), trace::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(s.status().message(), "");
  EXPECT_EQ(s.SerializeAsString().find("SECRET PROMPT"), std::string::npos);
  // Not charged: no usage on the span, no token measurements.
  EXPECT_EQ(a.count("gen_ai.usage.input_tokens"), 0u);
  GenAiMapper m;
  auto ms = m.measurements(r);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].metric, &kOperationDuration);
  EXPECT_EQ(attr(ms[0].attrs, "error.type"), "429");

  r.set_status(200);
  r.set_complete(false);  // an aborted stream
  EXPECT_EQ(span_attrs(span_of(r))["error.type"], "_OTHER");
}

TEST(OtlpMappingTest, ProcessSessionsAreNoConversation) {
  v1::ApiRequest r = anthropic_request();
  r.set_session_id("process:42:123");
  r.set_session_source("process");
  auto a = span_attrs(span_of(r));
  EXPECT_EQ(a.count("gen_ai.conversation.id"), 0u);
  EXPECT_EQ(a["tokentap.session.id"], "process:42:123");
}

TEST(OtlpMappingTest, MeasurementsTokensByTypeAndDuration) {
  GenAiMapper m;
  auto ms = m.measurements(anthropic_request());
  ASSERT_EQ(ms.size(), 3u);
  EXPECT_EQ(ms[0].metric, &kTokenUsage);
  EXPECT_EQ(attr(ms[0].attrs, "gen_ai.token.type"), "input");
  EXPECT_EQ(ms[0].value, 1130);
  EXPECT_EQ(attr(ms[1].attrs, "gen_ai.token.type"), "output");
  EXPECT_EQ(ms[1].value, 50);
  EXPECT_EQ(attr(ms[0].attrs, "gen_ai.provider.name"), "anthropic");
  EXPECT_EQ(attr(ms[0].attrs, "gen_ai.request.model"), "claude-sonnet-4-5");
  EXPECT_EQ(attr(ms[0].attrs, "tokentap.usage.source"), "exact");
  // Per-request values stay off metrics: they would make a series per request.
  EXPECT_EQ(attr(ms[0].attrs, "gen_ai.response.id"), "<absent>");
  EXPECT_EQ(attr(ms[0].attrs, "tokentap.session.id"), "<absent>");
  EXPECT_EQ(ms[2].metric, &kOperationDuration);
  EXPECT_DOUBLE_EQ(ms[2].value, 0.25);
  EXPECT_EQ(attr(ms[2].attrs, "gen_ai.token.type"), "<absent>");
  EXPECT_EQ(attr(ms[2].attrs, "tokentap.usage.source"), "<absent>");
}

TEST(OtlpMappingTest, MetricValuesAreCappedSpansAreNot) {
  GenAiMapper m;
  v1::ApiRequest r = anthropic_request();
  for (int i = 0; i < 100; ++i) {
    r.set_model("m" + std::to_string(i));
    m.measurements(r);
  }
  r.set_model("one-too-many");
  EXPECT_EQ(attr(m.measurements(r)[0].attrs, "gen_ai.request.model"), "other");
  EXPECT_EQ(span_attrs(span_of(r))["gen_ai.request.model"], "one-too-many");
  r.set_model("m7");  // seen before the cap: kept
  EXPECT_EQ(attr(m.measurements(r)[0].attrs, "gen_ai.request.model"), "m7");
}

TEST(OtlpMappingTest, SpanIdsComeFromTheRecordsIdentity) {
  v1::ApiRequest a = anthropic_request(), b = anthropic_request();
  b.set_sequence_on_connection(2);
  trace::Span sa = span_of(a), sa2 = span_of(a), sb = span_of(b);
  EXPECT_EQ(sa.trace_id().size(), 16u);
  EXPECT_EQ(sa.span_id().size(), 8u);
  EXPECT_EQ(sa.trace_id(), sa2.trace_id());
  EXPECT_EQ(sa.span_id(), sa2.span_id());
  EXPECT_NE(sa.trace_id(), sb.trace_id());
  EXPECT_NE(sa.span_id(), sb.span_id());
}

TEST(OtlpMappingTest, BucketBoundariesAreTheConventions) {
  EXPECT_EQ(kTokenUsage.bounds, (std::vector<double>{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
                                                     4194304, 16777216, 67108864}));
  EXPECT_EQ(kOperationDuration.bounds, (std::vector<double>{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56,
                                                            5.12, 10.24, 20.48, 40.96, 81.92}));
  EXPECT_EQ(kTokenUsage.unit, "{token}");
  EXPECT_EQ(kOperationDuration.unit, "s");
}

Measurement tokens(const std::string& model, double v) {
  return {&kTokenUsage, {{"gen_ai.request.model", model}}, v};
}

TEST(OtlpHistogramsTest, BucketsAreUpperInclusiveAndCumulative) {
  Histograms h(123);
  for (double v : {0.0, 1.0, 2.0, 4.0, 5.0, 67108864.0, 1e9}) h.record(tokens("a", v));
  h.record(tokens("b", 10));
  EXPECT_EQ(h.series(), 2u);
  metrics_pb::ScopeMetrics sm;
  h.fill(&sm, 456);
  ASSERT_EQ(sm.metrics_size(), 1);
  const auto& m = sm.metrics(0);
  EXPECT_EQ(m.name(), "gen_ai.client.token.usage");
  EXPECT_EQ(m.unit(), "{token}");
  ASSERT_TRUE(m.has_histogram());
  EXPECT_EQ(m.histogram().aggregation_temporality(), metrics_pb::AGGREGATION_TEMPORALITY_CUMULATIVE);
  ASSERT_EQ(m.histogram().data_points_size(), 2);
  const auto& p = m.histogram().data_points(0);  // series "a"
  EXPECT_EQ(p.attributes(0).value().string_value(), "a");
  EXPECT_EQ(p.start_time_unix_nano(), 123u);
  EXPECT_EQ(p.time_unix_nano(), 456u);
  EXPECT_EQ(p.count(), 7u);
  EXPECT_DOUBLE_EQ(p.sum(), 0 + 1 + 2 + 4 + 5 + 67108864.0 + 1e9);
  EXPECT_EQ(p.min(), 0);
  EXPECT_EQ(p.max(), 1e9);
  std::vector<uint64_t> want(15, 0);
  want[0] = 2;   // 0 and 1: <= 1
  want[1] = 2;   // 2 and 4: (1, 4]
  want[2] = 1;   // 5: (4, 16]
  want[13] = 1;  // 67108864: the last bound, inclusive
  want[14] = 1;  // past every bound
  EXPECT_EQ(std::vector<uint64_t>(p.bucket_counts().begin(), p.bucket_counts().end()), want);
  EXPECT_EQ(std::vector<double>(p.explicit_bounds().begin(), p.explicit_bounds().end()), kTokenUsage.bounds);

  // Cumulative: a later export carries everything since the start.
  h.record(tokens("b", 20));
  metrics_pb::ScopeMetrics later;
  h.fill(&later, 789);
  const auto& pb = later.metrics(0).histogram().data_points(1);
  EXPECT_EQ(pb.count(), 2u);
  EXPECT_EQ(pb.sum(), 30);
  EXPECT_EQ(pb.start_time_unix_nano(), 123u);
}

TEST(OtlpHistogramsTest, OneMetricPerDefinitionInOrderOfFirstUse) {
  Histograms h(1);
  h.record({&kOperationDuration, {}, 0.5});
  h.record(tokens("a", 3));
  metrics_pb::ScopeMetrics sm;
  h.fill(&sm, 2);
  ASSERT_EQ(sm.metrics_size(), 2);
  EXPECT_EQ(sm.metrics(0).name(), "gen_ai.client.operation.duration");
  EXPECT_EQ(sm.metrics(0).histogram().data_points(0).bucket_counts(6), 1u);  // (0.32, 0.64]
  EXPECT_EQ(sm.metrics(1).name(), "gen_ai.client.token.usage");
}

}  // namespace
}  // namespace tt::otlp
