// Recorded captures from real runs (tokentap profile --capture against the test
// LLM server) replayed through the pipeline without the kernel. The server's
// log of the same run, stored beside each capture, is the ground truth.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "aggregate/aggregator.h"
#include "capture/file/capture_file.h"
#include "analysis/analysis.h"
#include "pipeline/pipeline.h"
#include "pricing/pricing.h"

namespace {

using Key = std::tuple<std::string, std::string, std::string, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t,
                       uint64_t, uint64_t>;

// The recorded server logs name the wire format's owner as the provider (newer
// ones log the wire format apart); tokentap names who bills (on loopback: "local").
std::string owner(const std::string& wire) {
  if (wire == "anthropic_messages") return "anthropic";
  if (wire == "openai_chat" || wire == "openai_responses") return "openai";
  return wire;
}

std::vector<Key> server_keys(const std::string& path) {
  std::vector<Key> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["provider"] == "none") continue;
    auto u = j["usage"];
    bool charged = j["billable"].get<bool>() && j["usage_sent"].get<bool>();
    auto tok = [&](const char* k) -> uint64_t { return charged ? u[k].get<uint64_t>() : 0; };
    std::string prov = j.contains("wire") ? owner(j["wire"]) : j["provider"].get<std::string>();
    out.emplace_back(prov, j["api"], j["model"], j["request_body_bytes"], j["response_body_bytes"],
                     tok("input_tokens"), tok("cache_read_tokens"), tok("cache_write_tokens"),
                     tok("output_tokens"), tok("reasoning_tokens"));
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Replayed {
  std::vector<Key> keys;
  std::vector<tokentap::v1::ApiRequest> requests;
  tokentap::v1::RunSummary run;
};

// server_side: report what a traced server saw (off by default: a request is
// reported once, by its client's side).
Replayed replay(const std::string& path, bool server_side = false) {
  tt::aggregate::Aggregator agg("", nullptr);
  tt::pipeline::PipelineOptions opts;
  opts.report_server_side = server_side;
  tt::pipeline::Pipeline pipe(opts, agg);
  auto n = tt::capture::read_capture(path, [&](const void* d, size_t sz) { pipe.on_raw(d, sz); });
  EXPECT_TRUE(n.ok()) << n.error();
  pipe.finish(pipe.run_facts().end_mono_ns);
  agg.finish(pipe.run_facts().command, 0, 0, pipe.run_facts().exit_code);
  Replayed out;
  for (const auto& r : agg.requests()) {
    EXPECT_TRUE(r.complete()) << r.DebugString();
    EXPECT_EQ(r.usage_source(), "exact");
    EXPECT_EQ(r.provider(), "local");
    out.keys.emplace_back(owner(r.wire_format()), r.api(), r.model(), r.request_bytes(), r.response_bytes(), r.input_tokens(),
                          r.cache_read_tokens(), r.cache_write_tokens(), r.output_tokens(), r.reasoning_tokens());
  }
  std::sort(out.keys.begin(), out.keys.end());
  out.requests = agg.requests();
  out.run = agg.run_summary();
  return out;
}

std::string data(const std::string& name) { return std::string(TT_TEST_DATA_DIR) + "/captures/" + name; }

// Replays <name>.ttcap and checks it against <name>.server.jsonl: n requests, the same numbers.
Replayed replay_against_log(const std::string& name, size_t n, bool server_side = false) {
  Replayed got = replay(data(name + ".ttcap"), server_side);
  auto want = server_keys(data(name + ".server.jsonl"));
  EXPECT_EQ(want.size(), n);
  EXPECT_EQ(got.keys, want);
  return got;
}

uint64_t prompt_of(const tokentap::v1::ApiRequest& r) {
  return r.input_tokens() + r.cache_read_tokens() + r.cache_write_tokens();
}

// A real request's anatomy: read, and its parts add up to the prompt exactly.
void expect_anatomy(const tokentap::v1::ApiRequest& r) {
  const auto& a = r.anatomy();
  SCOPED_TRACE(r.api() + " " + std::to_string(r.sequence_on_connection()));
  ASSERT_GT(a.prefix_hashes_size(), 0);
  EXPECT_EQ(a.prefix_hashes_size(), a.prefix_bytes_size());
  const tokentap::v1::PromptPart* parts[] = {&a.system(), &a.tools(), &a.history(), &a.tool_results(), &a.new_content()};
  uint64_t bytes = 0, tokens = 0;
  for (const auto* p : parts) bytes += p->bytes(), tokens += p->tokens();
  EXPECT_GT(bytes, 0u);
  EXPECT_EQ(tokens, prompt_of(r));
  EXPECT_LE(a.prefix_bytes(a.prefix_bytes_size() - 1), r.request_bytes());
  EXPECT_NE(a.conversation_hash(), 0u);
}

TEST(RecordedCapture, NodeDemoAgentMatchesServerLog) {
  auto got = replay(data("demo_agent.ttcap"));
  auto want = server_keys(data("demo_agent.server.jsonl"));
  ASSERT_EQ(want.size(), 12u);
  EXPECT_EQ(got.keys, want);
  // The figures the demo agent printed from the APIs' own usage.
  EXPECT_EQ(got.run.totals().input_tokens(), 43u + (142u - 46u));
  EXPECT_EQ(got.run.totals().cache_read_tokens(), 21840u + 46u);
  EXPECT_EQ(got.run.totals().cache_write_tokens(), 3929u);
  EXPECT_EQ(got.run.totals().output_tokens(), 273u + 10u);
  EXPECT_EQ(got.run.capture().events_lost(), 0u);
  EXPECT_EQ(got.run.capture().bytes_unparsed(), 0u);
  EXPECT_EQ(got.run.command(0), "/usr/bin/node");

  // Its anatomy (the agent: tests/clients/demo_agent.mjs): two turns of tool rounds
  // with Claude Code's cache breakpoints, and a title call per turn.
  std::vector<const tokentap::v1::ApiRequest*> rounds;
  for (const auto& r : got.requests) {
    expect_anatomy(r);
    if (r.api() == "messages") rounds.push_back(&r);
    if (r.wire_format() == "anthropic_messages") {
      EXPECT_EQ(r.anatomy().tool_names_size(), 4);
      EXPECT_EQ(r.anatomy().cache_ttl_seconds(), 0u);  // its markers name no ttl
    }
  }
  ASSERT_EQ(rounds.size(), 8u);
  std::vector<std::string> called;
  for (const auto* r : rounds) called.push_back(r->tools_called_size() ? r->tools_called(0) : "-");
  EXPECT_EQ(called, (std::vector<std::string>{"read_file", "run_command", "edit_file", "run_command", "-", "write_file",
                                              "run_command", "-"}));
  // A turn opens with the user's text; its tool rounds send tool results only.
  for (size_t i = 0; i < rounds.size(); ++i) EXPECT_EQ(rounds[i]->anatomy().new_user_turn(), i == 0 || i == 5) << i;
  EXPECT_NE(rounds[0]->anatomy().new_content_hash(), rounds[5]->anatomy().new_content_hash());
  EXPECT_EQ(rounds[1]->anatomy().largest_tool_result_hash(), rounds[7]->anatomy().largest_tool_result_hash());
  // Each round re-sends the one before it: its chain goes on from the previous one's
  // (the breakpoint that moved from the last message on is no part of the hashes),
  // but for the user's text that opened a turn: the agent sent it as a list of
  // blocks to put the breakpoint on it, and as a string ever after.
  for (size_t i = 1; i < rounds.size(); ++i) {
    const auto &prev = rounds[i - 1]->anatomy(), &cur = rounds[i]->anatomy();
    ASSERT_LT(prev.prefix_hashes_size(), cur.prefix_hashes_size()) << i;
    int same = prev.prefix_hashes_size() - (prev.new_user_turn() ? 1 : 0);
    for (int k = 0; k < prev.prefix_hashes_size(); ++k)
      EXPECT_EQ(prev.prefix_hashes(k) == cur.prefix_hashes(k), k < same) << i << " " << k;
    if (i > 1) {
      EXPECT_EQ(prev.conversation_hash(), cur.conversation_hash()) << i;
    }
  }
}

TEST(RecordedCapture, PythonGeminiGzipStreamsMatchServerLog) {
  auto got = replay(data("python_gemini_gzip.ttcap"));
  auto want = server_keys(data("python_gemini_gzip.server.jsonl"));
  ASSERT_EQ(want.size(), 3u);
  EXPECT_EQ(got.keys, want);
  for (const auto& r : got.requests) expect_anatomy(r);
}

// curl --http2: a streaming Anthropic call and a gzip'd Gemini call multiplexed
// on one HTTP/2 connection.
TEST(RecordedCapture, CurlHttp2MatchesServerLog) {
  auto got = replay(data("curl_http2.ttcap"));
  auto want = server_keys(data("curl_http2.server.jsonl"));
  ASSERT_EQ(want.size(), 2u);
  EXPECT_EQ(got.keys, want);
  ASSERT_EQ(got.requests.size(), 2u);
  EXPECT_EQ(got.requests[0].connection_id(), got.requests[1].connection_id());
  for (const auto& r : got.requests) {
    EXPECT_EQ(r.sequence_on_connection(), r.api() == "messages" ? 1u : 2u);
    EXPECT_EQ(r.response_content_encoding(), r.api() == "messages" ? "" : "gzip");
    EXPECT_EQ(r.stream(), r.api() == "messages");
    EXPECT_EQ(r.harness(), "curl");
    expect_anatomy(r);
    EXPECT_GT(r.ttfb_ms(), 0);
    EXPECT_GE(r.latency_ms(), r.ttfb_ms());
  }
  EXPECT_EQ(got.run.capture().bytes_unparsed(), 0u);
  EXPECT_EQ(got.run.capture().parse_errors(), 0u);
  EXPECT_EQ(got.run.capture().non_http_connections(), 0u);
}

// tests/clients/ws_client.py over the Responses WebSocket: a prewarm and three
// response.create messages on one permessage-deflate connection (context takeover),
// both sides fragmenting every message with pings between the fragments. Recorded with
//   tokentap profile --capture ws_responses.ttcap -- /usr/bin/python3 tests/clients/ws_client.py
//     --base-url URL --ca CA --requests 3 --prewarm --body-bytes 2000 --fragment 40 --ping
//     --header x-test-ws-fragment:30 --header x-test-ws-ping:1 --header x-test-usage:reasoning=5
TEST(RecordedCapture, ResponsesWebSocketMatchesServerLog) {
  auto got = replay_against_log("ws_responses", 4);
  // The usage the server sent: prewarm 62 + 31 cached in, 5 out (reasoning only);
  // then 3 x (334 + 166 cached in, 29 out of which 5 reasoning).
  EXPECT_EQ(got.run.totals().input_tokens(), 62u + 3 * 334u);
  EXPECT_EQ(got.run.totals().cache_read_tokens(), 31u + 3 * 166u);
  EXPECT_EQ(got.run.totals().output_tokens(), 5u + 3 * 29u);
  EXPECT_EQ(got.run.totals().reasoning_tokens(), 4 * 5u);
  ASSERT_EQ(got.requests.size(), 4u);
  for (size_t i = 0; i < got.requests.size(); ++i) {
    const auto& r = got.requests[i];
    EXPECT_EQ(r.connection_id(), got.requests[0].connection_id());
    EXPECT_EQ(r.sequence_on_connection(), i + 2);  // 1 is the upgrade
    EXPECT_EQ((r.method() + " " + r.path()), "POST /v1/responses");
    EXPECT_EQ(r.request_bytes(), i == 0 ? 373u : 2000u);  // the JSON messages, uncompressed
    EXPECT_EQ(r.user_agent(), "tokentap-ws-client/1.0");
    EXPECT_EQ(r.stop_reason(), "completed");
    EXPECT_GE(r.latency_ms(), r.ttfb_ms());
    expect_anatomy(r);
  }
  EXPECT_EQ(got.run.other_http_requests(), 1u);
  EXPECT_EQ(got.run.capture().bytes_unparsed(), 0u);
  EXPECT_EQ(got.run.capture().parse_errors(), 0u);
}

// The real Codex CLI (0.169.0) against the test server, traced on the server's side
// (Python, system libssl; recorded before rustls was hooked, the client-side twins
// follow): its Responses WebSocket as tungstenite frames and compresses it
// (permessage-deflate, context takeover), a prewarm ("generate": false) then the
// turn, with a 67 KB response.create. Recorded with
//   tokentap profile --capture codex_ws_server_side.ttcap -- /usr/bin/python3 llmserver.py ...
// while `OPENAI_API_KEY=x CODEX_CA_CERTIFICATE=ca.pem codex exec -c
// 'openai_base_url="https://127.0.0.1:PORT/v1"' --skip-git-repo-check "say hi"` ran with a
// fresh HOME (@openai/codex 0.169.0), the server stopped with SIGINT afterwards.
TEST(RecordedCapture, CodexWebSocketSeenFromTheServerMatchesServerLog) {
  auto got = replay_against_log("codex_ws_server_side", 2, /*server_side=*/true);
  ASSERT_EQ(got.requests.size(), 2u);
  EXPECT_EQ(got.requests[1].request_bytes(), 67932u);
  EXPECT_EQ(got.requests[1].input_tokens(), 11322u);
  EXPECT_EQ(got.requests[1].cache_read_tokens(), 5661u);
  expect_anatomy(got.requests[1]);
  for (const auto& r : got.requests) {
    EXPECT_EQ(r.harness(), "codex");
    EXPECT_EQ(r.harness_version(), "0.169.0");
    EXPECT_EQ(r.session_id(), "01a20842-23d0-76c1-9ba3-0f7eafcb8184");
    EXPECT_EQ(r.model(), "gpt-6.1-sol");
  }
  EXPECT_EQ(got.run.capture().bytes_unparsed(), 0u);
  EXPECT_EQ(got.run.capture().parse_errors(), 0u);
  EXPECT_EQ(got.run.capture().server_side_exchanges(), 0u);
}

// By default the same capture reports nothing: the client's side reports these
// requests (with the whole host traced, both sides are), the server's side is
// only counted: the upgrade and the two responses.
TEST(RecordedCapture, ServerSideExchangesAreCountedNotReported) {
  Replayed got = replay(data("codex_ws_server_side.ttcap"));
  EXPECT_TRUE(got.requests.empty());
  EXPECT_EQ(got.run.capture().server_side_exchanges(), 3u);
  EXPECT_EQ(got.run.other_http_requests(), 0u);
  EXPECT_EQ(got.run.capture().bytes_unparsed(), 0u);
}

// The real Codex CLI (@openai/codex 0.169.0, rustls over aws-lc) traced on its own
// side: plaintext from aws-lc's EVP_AEAD_CTX_seal/open, each context paired with its
// socket. Recorded with tests/e2e's Codex setup (fresh HOME, CODEX_CA_CERTIFICATE,
// -c openai_base_url="https://localhost:PORT/v1", `codex exec --skip-git-repo-check
// "say hi"`) under `tokentap profile --capture`; the .server.jsonl is the test
// server's log of the same run.
void expect_codex(const Replayed& got, const char* session) {
  for (const auto& r : got.requests) {
    EXPECT_EQ(r.harness(), "codex");
    EXPECT_EQ(r.harness_version(), "0.169.0");
    EXPECT_EQ(r.session_id(), session);
    EXPECT_EQ(r.capture_method(), "plaintext");
    EXPECT_EQ((r.method() + " " + r.path()), "POST /v1/responses");
  }
  EXPECT_EQ(got.run.capture().unpaired_record_bytes(), 0u);
  EXPECT_EQ(got.run.capture().socket_fallback_connections(), 0u);
  EXPECT_EQ(got.run.capture().bytes_unparsed(), 0u);
  EXPECT_EQ(got.run.capture().parse_errors(), 0u);
}

// Its Responses WebSocket (permessage-deflate): a prewarm, then the turn.
TEST(RecordedCapture, CodexRustlsWebSocketMatchesServerLog) {
  auto got = replay_against_log("codex_rustls_ws", 2);
  ASSERT_EQ(got.requests.size(), 2u);
  EXPECT_EQ(got.requests[0].connection_id(), got.requests[1].connection_id());
  EXPECT_EQ(got.requests[1].request_bytes(), 67936u);
  EXPECT_EQ(got.requests[1].input_tokens(), 11323u);
  EXPECT_EQ(got.requests[1].cache_read_tokens(), 5661u);
  EXPECT_EQ(got.requests[1].output_tokens(), 24u);
  expect_codex(got, "01a2087c-c00b-7e43-9d0a-ed767c6d90b2");
  // The prewarm ("generate": false) sends no input, no instructions, no tools: no
  // anatomy. The turn: Codex's instructions as developer messages, then the
  // user's context and question.
  EXPECT_EQ(got.requests[0].anatomy().prefix_hashes_size(), 0);
  const auto& turn = got.requests[1];
  expect_anatomy(turn);
  EXPECT_GT(turn.anatomy().system().bytes(), 50'000u);
  EXPECT_GT(turn.anatomy().system().tokens(), turn.anatomy().new_content().tokens());
  EXPECT_TRUE(turn.anatomy().new_user_turn());
  EXPECT_EQ(turn.anatomy().new_content().count(), 2u);
  EXPECT_EQ(turn.anatomy().messages(), 7u);
  EXPECT_EQ(got.run.other_http_requests(), 1u);  // the upgrade
}

// The server refused the upgrade (--no-websocket) seven times; Codex then POSTed over HTTP/2.
TEST(RecordedCapture, CodexRustlsHttp2MatchesServerLog) {
  auto got = replay_against_log("codex_rustls_h2", 1);
  ASSERT_EQ(got.requests.size(), 1u);
  EXPECT_EQ(got.requests[0].request_bytes(), 67850u);
  EXPECT_EQ(got.requests[0].input_tokens(), 11308u);
  expect_codex(got, "01a2087c-cc6c-7123-aafb-ef48433c75bd");
  expect_anatomy(got.requests[0]);
  EXPECT_TRUE(got.requests[0].anatomy().new_user_turn());
  EXPECT_EQ(got.run.other_http_requests(), 7u);
}

// Every prefix of a capture (a run cut short at any record) replays without a
// crash, and never reports more requests than the whole capture.
TEST(RecordedCapture, EveryPrefixIsSafe) {
  for (auto [name, max_requests] :
       {std::pair{"python_gemini_gzip.ttcap", 3u}, {"curl_http2.ttcap", 2u}, {"ws_responses.ttcap", 4u},
        {"codex_ws_server_side.ttcap", 2u}, {"codex_rustls_ws.ttcap", 2u}, {"codex_rustls_h2.ttcap", 1u}}) {
    std::vector<std::string> recs;
    auto n = tt::capture::read_capture(data(name), [&](const void* d, size_t sz) {
      recs.emplace_back(static_cast<const char*>(d), sz);
    });
    ASSERT_TRUE(n.ok());
    for (size_t cut = 0; cut <= recs.size(); ++cut) {
      tt::aggregate::Aggregator agg("", nullptr);
      tt::pipeline::Pipeline pipe(tt::pipeline::PipelineOptions{}, agg);
      for (size_t i = 0; i < cut; ++i) pipe.on_raw(recs[i].data(), recs[i].size());
      pipe.finish(0);
      EXPECT_LE(agg.requests().size(), max_requests) << name;
    }
  }
}

// Every DATA record of a capture lost in turn, as a full ring buffer loses it (the
// next record of that stream carries its length as lost_before): never a crash,
// never more requests than the capture has, and never "not HTTP" because a
// connection's first bytes were lost.
TEST(RecordedCapture, EveryLostRecordIsSafe) {
  for (auto [name, max_requests] :
       {std::pair{"python_gemini_gzip.ttcap", 3u}, {"curl_http2.ttcap", 2u}, {"ws_responses.ttcap", 4u},
        {"codex_rustls_ws.ttcap", 2u}, {"codex_rustls_h2.ttcap", 1u}}) {
    std::vector<std::string> recs;
    ASSERT_TRUE(tt::capture::read_capture(data(name), [&](const void* d, size_t sz) {
                  recs.emplace_back(static_cast<const char*>(d), sz);
                }).ok());
    auto is_data = [&](const std::string& r) { return r.size() >= TT_DATA_EVENT_HDR_SIZE && r[0] == TT_EV_DATA; };
    auto stream_of = [](const std::string& r) {
      const auto* d = reinterpret_cast<const tt_data_event_small*>(r.data());
      return std::tuple(d->hdr.pid, d->conn, d->dir);
    };
    for (size_t lost = 0; lost < recs.size(); ++lost) {
      if (!is_data(recs[lost])) continue;
      SCOPED_TRACE(std::string(name) + " record " + std::to_string(lost));
      std::vector<std::string> copy = recs;
      for (size_t k = lost + 1; k < copy.size(); ++k) {
        if (!is_data(copy[k]) || stream_of(copy[k]) != stream_of(recs[lost])) continue;
        auto* d = reinterpret_cast<tt_data_event_small*>(copy[k].data());
        d->lost_before += reinterpret_cast<const tt_data_event_small*>(recs[lost].data())->len;
        break;
      }
      tt::aggregate::Aggregator agg("", nullptr);
      tt::pipeline::Pipeline pipe(tt::pipeline::PipelineOptions{}, agg);
      for (size_t i = 0; i < copy.size(); ++i)
        if (i != lost) pipe.on_raw(copy[i].data(), copy[i].size());
      pipe.finish(pipe.run_facts().end_mono_ns);
      agg.finish({}, 0, 0, 0);
      EXPECT_LE(agg.requests().size(), max_requests);
      EXPECT_EQ(agg.run_summary().capture().non_http_connections(), 0u);
    }
  }
}

}  // namespace

// ---- Where the tokens went, on recorded harness sessions (docs/analysis.md) ----
namespace {

const tt::pricing::PriceTable& builtin_prices() {
  static const tt::pricing::PriceTable t = *tt::pricing::PriceTable::parse(tt::pricing::PriceTable::builtin_text(), "built-in");
  return t;
}

uint64_t parts_of(const tokentap::v1::ContextAnatomy& a) {
  return a.system().tokens() + a.tools().tokens() + a.history().tokens() + a.tool_results().tokens() +
         a.new_content().tokens();
}

// Claude Code 2.1.330, `-p "Summarise notes.txt for me" --max-turns 5`, the server
// answering every call with a Read tool call: one turn of five tool rounds.
TEST(RecordedAnalysis, ClaudeCodeSession) {
  Replayed got = replay_against_log("claude_code_session", 5);
  for (const auto& r : got.requests) {
    EXPECT_EQ(parts_of(r.anatomy()), prompt_of(r)) << "the anatomy adds up to the exact prompt";
    EXPECT_EQ(r.anatomy().tool_names_size(), 12);
    EXPECT_EQ(r.anatomy().cache_breakpoints(), 3u);
    EXPECT_EQ(std::vector<std::string>(r.tools_called().begin(), r.tools_called().end()),
              std::vector<std::string>{"Read"});
  }
  tt::analysis::Analysis a = tt::analysis::analyze(got.requests, builtin_prices(), {});
  ASSERT_EQ(a.sessions.size(), 1u);
  EXPECT_EQ(a.sessions[0].harness, "claude-code");
  ASSERT_EQ(a.sessions[0].turns.size(), 1u);
  EXPECT_EQ(a.sessions[0].turns[0].main, 5);
  // Each tool round re-sends the whole previous prompt: its unchanged prefix is
  // all of the previous request but the newest tool result.
  for (int n = 3; n <= 5; ++n) {
    const auto& q = a.requests[n - 1];
    EXPECT_GE(q.unchanged_prefix_tokens, a.requests[n - 2].prompt_tokens - 1) << n;
    EXPECT_LT(q.unchanged_prefix_tokens, q.prompt_tokens) << n;
  }
  // Only Read was ever called: the other 11 tools' definitions are the finding.
  ASSERT_EQ(a.findings.size(), 1u);
  const tt::analysis::Finding& f = a.findings[0];
  EXPECT_EQ(f.kind, "unused_tools");
  EXPECT_EQ(f.requests, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(f.names, (std::vector<std::string>{"Agent", "Bash", "DeferredToolPlaceholder", "Edit", "ListAgents",
                                                "ReportFindings", "ScheduleWakeup", "Skill", "ToolSearch", "Workflow",
                                                "Write"}));
  uint64_t want = 0;  // each request's unused tools' share of its text, scaled to its prompt
  for (const auto& r : got.requests) {
    const auto& an = r.anatomy();
    uint64_t bytes = 0;
    for (int k = 0; k < an.tool_names_size(); ++k)
      if (an.tool_names(k) != "Read") bytes += an.tool_bytes(k);
    uint64_t total = an.system().bytes() + an.tools().bytes() + an.history().bytes() + an.tool_results().bytes() +
                     an.new_content().bytes();  // text bytes, as the tools' sizes
    want += static_cast<uint64_t>(static_cast<long double>(prompt_of(r)) * bytes / total + 0.5L);
  }
  EXPECT_EQ(f.tokens, want);
  EXPECT_EQ(f.waste_usd, 0);  // loopback: "local", nothing to price
}

// Codex 0.169.0 over its Responses WebSocket: a prewarm (no input: no anatomy, a
// side call) and the turn itself.
TEST(RecordedAnalysis, CodexSession) {
  Replayed got = replay_against_log("codex_rustls_ws", 2);
  tt::analysis::Analysis a = tt::analysis::analyze(got.requests, builtin_prices(), {});
  ASSERT_EQ(a.sessions.size(), 1u);
  EXPECT_EQ(a.sessions[0].harness, "codex");
  ASSERT_EQ(a.sessions[0].turns.size(), 1u);
  EXPECT_EQ(a.sessions[0].turns[0].main, 1);
  EXPECT_EQ(a.sessions[0].turns[0].side, 1);
  EXPECT_EQ(a.requests[1].role, "main");
  EXPECT_EQ(parts_of(a.requests[1].record->anatomy()), a.requests[1].prompt_tokens);
  EXPECT_GT(a.requests[1].anatomy.system, a.requests[1].prompt_tokens / 2);  // Codex's instructions
  EXPECT_TRUE(a.findings.empty());
}

// The demo agent (scripts/demo.sh): two user turns, each a count_tokens call (a
// call of its own), a tool-use loop and an OpenAI title call (another model: its
// own conversation).
TEST(RecordedAnalysis, DemoAgentTwoTurns) {
  Replayed got = replay_against_log("demo_agent", 12);
  tt::analysis::Analysis a = tt::analysis::analyze(got.requests, builtin_prices(), {});
  ASSERT_EQ(a.sessions.size(), 1u);
  ASSERT_EQ(a.sessions[0].turns.size(), 2u);
  for (const auto& q : a.requests) {
    bool own_call = q.record->api() == "count_tokens" || q.record->model() == "gpt-4o-mini";
    if (own_call) {
      EXPECT_EQ(q.role, "side") << q.n;
    }
  }
  EXPECT_EQ(a.sessions[0].turns[0].requests.size() + a.sessions[0].turns[1].requests.size(), 12u);
  for (const auto& f : a.findings) EXPECT_NE(f.kind, "compaction") << "a token count is no compaction";
}

}  // namespace
