// What the capture found in each binary it examined for TLS (TT_EV_TLS_HOOK
// records): the run summary's list, and why a request was seen at the socket
// only — on the request, in the report, and named once on stderr.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aggregate/aggregator.h"
#include "capture/events.h"
#include "engine/tls_hook_report.h"
#include "pipeline/pipeline.h"
#include "pipeline/tls_hooks.h"
#include "records.h"
#include "sink/report.h"

namespace {

using tt::pipeline::TlsHookBook;
using tt::pipeline::TlsHookInfo;

TlsHookInfo hook(std::string path, std::string library, std::string status, std::string detail) {
  return {std::move(path), std::move(library), "", "", std::move(detail), std::move(status)};
}

// A file whose only TLS library was refused: a gap, said in the report.
TEST(TlsHookPipeline, ARefusedLibraryAloneIsReported) {
  tt::aggregate::Aggregator agg("run-1", nullptr);
  tt::pipeline::Pipeline pipe({}, agg);
  std::string r = tt::capture::make_info_record(
      tt::capture::TT_EV_TLS_HOOK, 3, 1,
      R"({"path":"/opt/codex","library":"aws-lc","status":"refused","detail":"2 candidates for EVP_AEAD_CTX_seal"})");
  pipe.on_raw(r.data(), r.size());
  agg.finish({"codex"}, 0, 1, 0);
  EXPECT_NE(tt::sink::render_report(agg).find(
                "  NOT hooked: /opt/codex: aws-lc refused: 2 candidates for EVP_AEAD_CTX_seal\n"),
            std::string::npos);
}

TEST(TlsHookBook, SaysWhyFromTheExecutableAndTheLibrariesItMaps) {
  TlsHookBook book;
  EXPECT_TRUE(book.add(0, "", hook("/usr/lib/libssl.so.3", "openssl", "hooked", "")));
  EXPECT_TRUE(book.add(10, "/usr/bin/gnutls-cli", hook("/usr/bin/gnutls-cli", "", "none", "no OpenSSL symbols")));
  EXPECT_TRUE(book.add(10, "/usr/bin/gnutls-cli", hook("/usr/lib/libgnutls.so.30", "gnutls", "unsupported", "no hook")));
  EXPECT_FALSE(book.add(11, "/usr/bin/gnutls-cli", hook("/usr/bin/gnutls-cli", "", "none", "again")));
  // A later process of the same binary whose maps were never read: the binary's library still explains it.
  EXPECT_EQ(book.why_unhooked(12, "/usr/bin/gnutls-cli"),
            "/usr/bin/gnutls-cli carries no TLS library tokentap hooks (no OpenSSL symbols); "
            "it maps /usr/lib/libgnutls.so.30 (gnutls): no hook");
  EXPECT_EQ(book.why_unhooked(13, "/usr/bin/never-seen"), "");
}

TEST(TlsHookBook, RefusedAndHookedElsewhere) {
  TlsHookBook book;
  EXPECT_TRUE(book.add(5, "/opt/codex", hook("/opt/codex", "aws-lc", "refused", "EVP_AEAD_CTX_seal: 2 candidates")));
  EXPECT_TRUE(book.add(5, "/opt/codex", hook("/opt/codex", "openssl", "hooked", "")));  // the same file's other library
  EXPECT_FALSE(book.add(6, "/opt/codex", hook("/opt/codex", "openssl", "hooked", "")));
  EXPECT_EQ(book.why_unhooked(5, "/opt/codex"),
            "/opt/codex carries aws-lc, not hooked: EVP_AEAD_CTX_seal: 2 candidates; /opt/codex's openssl is hooked, "
            "but this connection's TLS ran elsewhere (a library or addon it loaded)");
  book.add(6, "/opt/copilot", hook("/opt/copilot", "openssl", "hooked", ""));
  EXPECT_EQ(book.why_unhooked(6, "/opt/copilot"),
            "/opt/copilot's openssl is hooked, but this connection's TLS ran elsewhere (a library or addon it loaded)");
}

// Copilot CLI: its executable's OpenSSL hooked, its addon's aws-lc refused
// (no warning then, the addon's OpenSSL being hooked): a socket-only request of
// it names both.
TEST(TlsHookBook, ARefusedLibraryItMapsIsNamed) {
  TlsHookBook book;
  book.add(8, "/c/copilot", hook("/c/copilot", "openssl", "hooked", ""));
  book.add(8, "/c/copilot", hook("/c/runtime.node", "aws-lc", "refused", "no seal signature"));
  book.add(8, "/c/copilot", hook("/c/runtime.node", "openssl", "hooked", ""));
  EXPECT_EQ(book.why_unhooked(9, "/c/copilot"),
            "/c/copilot's openssl is hooked, but this connection's TLS ran elsewhere (a library or addon it loaded); "
            "it maps /c/runtime.node (aws-lc, not hooked): no seal signature");
}

TEST(TlsHookBook, AProcessWithNoKnownExecutableKeepsItsLibrariesUntilItExits) {
  TlsHookBook book;
  book.add(7, "", hook("/usr/lib/libnss3.so", "nss", "unsupported", "no hook"));
  EXPECT_EQ(book.why_unhooked(7, ""), "it maps /usr/lib/libnss3.so (nss): no hook");
  book.process_exited(7);
  EXPECT_EQ(book.why_unhooked(7, ""), "");
}

TEST(TlsHookRecord, ParsedOnlyWithAPathAndAKnownStatus) {
  TlsHookInfo h;
  EXPECT_TRUE(tt::pipeline::parse_tls_hook(nlohmann::json{{"path", "/x"}, {"status", "refused"}}, h));
  EXPECT_FALSE(tt::pipeline::parse_tls_hook(nlohmann::json{{"path", "/x"}, {"status", "maybe"}}, h));
  EXPECT_FALSE(tt::pipeline::parse_tls_hook(nlohmann::json{{"status", "hooked"}}, h));
  EXPECT_FALSE(tt::pipeline::parse_tls_hook(nlohmann::json{{"path", 3}, {"status", "hooked"}}, h));
}

TEST(TlsHookReport, UnsupportedLibrariesByFileName) {
  using tt::engine::unsupported_tls_library;
  EXPECT_EQ(unsupported_tls_library("/usr/lib/x86_64-linux-gnu/libgnutls.so.30.34.3"), "gnutls");
  EXPECT_EQ(unsupported_tls_library("/usr/lib/x86_64-linux-gnu/libnss3.so"), "nss");
  EXPECT_EQ(unsupported_tls_library("/usr/lib/x86_64-linux-gnu/libssl3.so"), "nss");
  EXPECT_EQ(unsupported_tls_library("/usr/lib/libwolfssl.so.35"), "wolfssl");
  EXPECT_EQ(unsupported_tls_library("/usr/lib/x86_64-linux-gnu/libmbedtls.so.14"), "mbedtls");
  EXPECT_EQ(unsupported_tls_library("/usr/lib/x86_64-linux-gnu/libssl.so.3"), "");
  EXPECT_EQ(unsupported_tls_library("/opt/gnutls/libgnutls-dane.so.0"), "");
}

TEST(TlsHookReport, PathsAsTheProcessSeesThem) {
  auto p = tt::engine::seen_path("/proc/4242/root/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(p.path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(p.pid, 4242u);
  p = tt::engine::seen_path("/proc/self/root/x");  // not a pid: left as it is
  EXPECT_EQ(p.path, "/proc/self/root/x");
  EXPECT_EQ(p.pid, 0u);
}

TEST(TlsHookReport, OneRecordPerLibraryOfTheFile) {
  tt::capture::AttachInfo a;  // Codex: rustls over aws-lc, and a static OpenSSL beside it
  a.libraries.push_back({"aws-lc", "awslc-aead-error-sites/3", "", false, true, "2 candidates"});
  a.libraries.push_back({"openssl", "openssl-errfunc-sites/3", "OpenSSL 3.6.4", true, false, ""});
  auto recs = tt::engine::tls_hook_jsons("/opt/codex", a);
  ASSERT_EQ(recs.size(), 2u);
  auto j = nlohmann::json::parse(recs[0]);
  EXPECT_EQ(j["status"], "refused");
  EXPECT_EQ(j["detail"], "2 candidates");
  j = nlohmann::json::parse(recs[1]);
  EXPECT_EQ(j["status"], "hooked");
  EXPECT_EQ(j["method"], "openssl-errfunc-sites/3");
  EXPECT_EQ(j["runtime"], "OpenSSL 3.6.4");
  tt::capture::AttachInfo none;
  none.reason = "no OpenSSL symbols";
  recs = tt::engine::tls_hook_jsons("/bin/sh", none);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(recs[0]), (nlohmann::json{{"path", "/bin/sh"}, {"status", "none"},
                                                             {"detail", "no OpenSSL symbols"}}));
}

// The pipeline end to end: a process whose binary has no hook calls an LLM API.
TEST(TlsHookPipeline, SocketOnlyRequestSaysWhyAndTheRunListsTheHooks) {
  using tt::capture::make_info_record;
  tt::testing::CollectSink sink;
  tt::aggregate::Aggregator agg("run-1", &sink);
  agg.set_keep_requests(true);
  tt::pipeline::Pipeline pipe({}, agg);
  auto feed = [&](const std::string& r) { pipe.on_raw(r.data(), r.size()); };
  feed(make_info_record(tt::capture::TT_EV_TLS_HOOK, 0, 1,
                        R"({"path":"/usr/lib/libssl.so.3","library":"openssl","method":"symbols","status":"hooked"})"));
  feed(make_info_record(tt::capture::TT_EV_PROC_INFO, 9, 2, R"({"exe":"/usr/bin/gnutls-cli","comm":"gnutls-cli"})"));
  feed(make_info_record(tt::capture::TT_EV_TLS_HOOK, 9, 3,
                        R"({"path":"/usr/bin/gnutls-cli","status":"none","detail":"no OpenSSL symbols"})"));
  feed(make_info_record(tt::capture::TT_EV_TLS_HOOK, 9, 4,
                        tt::engine::unsupported_tls_json("/usr/lib/libgnutls.so.30", "gnutls")));
  feed(make_info_record(tt::capture::TT_EV_TLS_HOOK, 9, 5, R"({"status":"hooked"})"));  // malformed: counted
  feed(tt::testing::sock_record(9, 0x77, TT_DIR_WRITE, 0, 10, tt::testing::client_hello("api.openai.com", {})));
  feed(tt::testing::sock_record(9, 0x77, TT_DIR_WRITE, 400, 11));
  feed(tt::testing::sock_record(9, 0x77, TT_DIR_READ, 800, 12));
  pipe.finish(20);
  agg.finish({"gnutls-cli"}, 0, 20, 0);

  EXPECT_EQ(pipe.malformed_records(), 1u);
  ASSERT_EQ(agg.requests().size(), 1u);
  const auto& r = agg.requests()[0];
  EXPECT_EQ(r.capture_method(), "socket");
  EXPECT_EQ(r.tls_library(), "");
  EXPECT_EQ(r.request_bytes(), 400u);
  const std::string why =
      "/usr/bin/gnutls-cli carries no TLS library tokentap hooks (no OpenSSL symbols); it maps "
      "/usr/lib/libgnutls.so.30 (gnutls): tokentap has no plaintext hook for gnutls: its connections are seen at "
      "the socket only";
  EXPECT_EQ(r.error(), "TLS stack without a plaintext hook: sizes seen at the socket only (127.0.0.1:443): " + why);

  const auto& hooks = agg.run_summary().tls_hooks();
  ASSERT_EQ(hooks.size(), 2);  // the executable with no TLS is not listed
  EXPECT_EQ(hooks[0].path(), "/usr/lib/libssl.so.3");
  EXPECT_EQ(hooks[0].status(), "hooked");
  EXPECT_EQ(hooks[1].library(), "gnutls");
  EXPECT_EQ(hooks[1].status(), "unsupported");

  std::string report = tt::sink::render_report(agg);
  // No request's plaintext came through a hook: no "from" line (the unused libssl is not named).
  EXPECT_EQ(report.find("TLS plaintext from"), std::string::npos) << report;
  EXPECT_NE(report.find("  seen at the socket only (tokens estimated): " + why + "\n"), std::string::npos) << report;
}

// Each data record names the hooked library it came through (its attach
// cookie's id): the request names that library's file.
TEST(TlsHookPipeline, RequestNamesTheFileItsPlaintextCameThrough) {
  using tt::capture::make_info_record;
  tt::testing::CollectSink sink;
  tt::aggregate::Aggregator agg("run-1", &sink);
  agg.set_keep_requests(true);
  tt::pipeline::Pipeline pipe({}, agg);
  auto feed = [&](const std::vector<std::string>& recs) {
    for (const auto& r : recs) pipe.on_raw(r.data(), r.size());
  };
  // Copilot CLI's runtime.node: aws-lc refused, its OpenSSL hooked as library 7.
  feed({make_info_record(tt::capture::TT_EV_TLS_HOOK, 9, 1,
                         R"({"path":"/c/runtime.node","library":"aws-lc","status":"refused","detail":"x"})"),
        make_info_record(tt::capture::TT_EV_TLS_HOOK, 9, 2,
                         R"({"path":"/c/runtime.node","library":"openssl","method":"openssl-errfunc-sites/3",)"
                         R"("status":"hooked","hook":7})")});
  std::string body = R"({"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]})";
  std::string resp_body = R"({"id":"msg_1","type":"message","model":"claude-sonnet-4-5","content":[],)"
                          R"("stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2}})";
  for (uint16_t hook : {7, 0}) {  // 0: a record from before hook ids (an older capture)
    uint64_t conn = hook + 1, t = hook * 1'000'000'000ull + 10;
    feed(tt::testing::data_records(9, conn, TT_DIR_WRITE,
                                   "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nContent-Length: " +
                                       std::to_string(body.size()) + "\r\n\r\n" + body,
                                   t, 0, TT_LIB_OPENSSL, hook));
    feed(tt::testing::data_records(9, conn, TT_DIR_READ,
                                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                       std::to_string(resp_body.size()) + "\r\n\r\n" + resp_body,
                                   t + 1000, 0, TT_LIB_OPENSSL, hook));
  }
  pipe.finish(20'000'000'000);
  agg.finish({"copilot"}, 0, 20'000'000'000, 0);
  // Its aws-lc refusal beside the hooked OpenSSL is listed, not reported as a gap: no request needed it.
  ASSERT_EQ(agg.run_summary().tls_hooks().size(), 2);
  EXPECT_EQ(agg.run_summary().tls_hooks(0).status(), "refused");
  std::string report = tt::sink::render_report(agg);
  EXPECT_EQ(report.find("NOT hooked"), std::string::npos) << report;
  EXPECT_NE(report.find("TLS plaintext from: openssl (openssl-errfunc-sites/3) in /c/runtime.node; openssl\n"),
            std::string::npos)
      << report;
  ASSERT_EQ(agg.requests().size(), 2u);
  EXPECT_EQ(agg.requests()[0].tls_binary(), "/c/runtime.node");
  EXPECT_EQ(agg.requests()[0].tls_library(), "openssl");
  EXPECT_EQ(agg.requests()[0].output_tokens(), 2u);
  EXPECT_EQ(agg.requests()[1].tls_binary(), "");
}

}  // namespace
