// provider/request_json: the one-pass simdjson reader of request bodies, and the
// string total estimation uses, against hand-computed figures, nlohmann's view of
// the same documents, and hostile input.
#include "provider/request_json.h"

#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

namespace {

using tt::provider::BodyValue;
using tt::provider::json_string_bytes;
using tt::provider::RequestJson;
using Kind = BodyValue::Kind;

constexpr std::array<std::string_view, 6> kPaths = {"model", "stream", "request.model", "metadata.user_id",
                                                    "messages", "a.b.c"};

RequestJson read(std::string_view body) { return RequestJson(body, kPaths); }

TEST(RequestJson, ReadsWantedPathsInOnePass) {
  std::string body = R"({"messages":[{"role":"user","content":[{"type":"text","text":"x\"}"}]}],)"
                     R"("model":"claude-sonnet-4-5","stream":true,"max_tokens":64,)"
                     R"("metadata":{"user_id":"user_1_session_abc","other":{"model":"no"}},)"
                     R"("request":{"model":"gemini-2.5-pro","session_id":"s"},"a":{"b":{"c":-1}}})";
  RequestJson r = read(body);
  EXPECT_TRUE(r.is_object());
  EXPECT_EQ(r.at("model").kind, Kind::String);
  EXPECT_EQ(r.at("model").text, "claude-sonnet-4-5");
  EXPECT_EQ(r.at("stream").kind, Kind::Bool);
  EXPECT_TRUE(r.at("stream").boolean);
  EXPECT_EQ(r.at("request.model").text, "gemini-2.5-pro");
  EXPECT_EQ(r.at("metadata.user_id").text, "user_1_session_abc");
  EXPECT_EQ(r.at("messages").kind, Kind::Other);  // present, not read
  EXPECT_EQ(r.at("a.b.c").kind, Kind::Integer);
  EXPECT_EQ(r.at("a.b.c").text, "-1");
  EXPECT_FALSE(r.at("max_tokens").present());  // not asked for
  EXPECT_FALSE(r.at("request.session_id").present());
}

TEST(RequestJson, TypesAndEscapes) {
  RequestJson r = read(R"({"model":"caf\u00e9 \"q\"\n","stream":"true","metadata":{"user_id":18446744073709551615},)"
                       R"("request":[{"model":"x"}],"a":{"b":{"c":1e300}}})");
  EXPECT_TRUE(r.is_object());
  EXPECT_EQ(r.at("model").text, "caf\xc3\xa9 \"q\"\n");
  EXPECT_EQ(r.at("stream").kind, Kind::String);
  EXPECT_EQ(r.at("metadata.user_id").kind, Kind::Integer);
  EXPECT_EQ(r.at("metadata.user_id").text, "18446744073709551615");
  EXPECT_FALSE(r.at("request.model").present());  // "request" is an array, not an object
  EXPECT_EQ(r.at("a.b.c").kind, Kind::Other);     // a float
  // Duplicate members: the last wins, as with nlohmann.
  EXPECT_EQ(read(R"({"model":"a","model":"b"})").at("model").text, "b");
  // A byte order mark is skipped.
  EXPECT_EQ(read("\xEF\xBB\xBF{\"model\":\"m\"}").at("model").text, "m");
}

TEST(RequestJson, InPlaceAndCopiedAgree) {
  std::string body = R"({"model":"m","stream":false,"messages":[]})";
  std::string roomy = body;
  roomy.reserve(body.size() + 64);
  RequestJson in_place(roomy, kPaths, roomy.capacity());
  RequestJson copied(body, kPaths, body.size());
  for (std::string_view p : kPaths) {
    EXPECT_EQ(in_place.at(p).kind, copied.at(p).kind) << p;
    EXPECT_EQ(in_place.at(p).text, copied.at(p).text) << p;
  }
  EXPECT_EQ(in_place.at("model").text, "m");
  EXPECT_TRUE(in_place.at("stream").present());
  EXPECT_FALSE(in_place.at("stream").boolean);
}

TEST(RequestJson, BadInputReadsAsAbsent) {
  for (std::string_view bad : {"", "   ", "not json", "[1,2]", "\"model\"", "{", "}", "{\"model\"", "{\"model\":}",
                               "{\"model\":\"unterminated", "{\"model\":\"m\"} trailing", "\xff\xfe{}", "null"}) {
    RequestJson r = read(bad);
    EXPECT_FALSE(r.is_object()) << bad;
  }
  // A cut-off body is found out before the walk starts (unclosed brackets or
  // string): nothing is read, as when nlohmann parsed request bodies.
  for (std::string_view cut : {R"({"model":"m","stream":true,"messages":[{"role":"user"},)",
                               R"({"model":"m","messages":[{"role":"us)"}) {
    RequestJson r = read(cut);
    EXPECT_FALSE(r.is_object());
    EXPECT_FALSE(r.at("model").present());
    EXPECT_FALSE(r.at("stream").present());
  }
  // Numbers simdjson cannot hold end the walk there.
  RequestJson big = read(R"({"stream":true,"metadata":{"user_id":1e400},"model":"m"})");
  EXPECT_FALSE(big.is_object());
  EXPECT_TRUE(big.at("stream").boolean);
  EXPECT_FALSE(big.at("model").present());
  EXPECT_FALSE(read(R"({"metadata":{"user_id":18446744073709551616}})").at("metadata.user_id").present());
  // Invalid UTF-8 anywhere: nothing is read.
  EXPECT_FALSE(read("{\"model\":\"m\",\"x\":\"\xc3\x28\"}").at("model").present());
}

TEST(RequestJson, DeepNestingAndHugeStrings) {
  // 100000 levels inside a member that is skipped: valid JSON, skipped without
  // recursion. The DOM walk for estimation stops at 1024 levels.
  std::string deep = R"({"model":"m","messages":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  RequestJson r = read(deep);
  EXPECT_TRUE(r.is_object());
  EXPECT_EQ(r.at("model").text, "m");
  EXPECT_EQ(json_string_bytes(deep), std::nullopt);
  // Unclosed, at the top and on a wanted path.
  EXPECT_FALSE(read(std::string(100000, '{')).is_object());
  std::string open_path = R"({"a":{"b":)" + std::string(100000, '{');
  EXPECT_FALSE(read(open_path).is_object());
  EXPECT_EQ(json_string_bytes(open_path), std::nullopt);

  // A 20 MB member (above the size whose parser is kept) and a 5 MB model name.
  std::string huge = R"({"messages":[")" + std::string(20u << 20, 'x') + R"("],"model":")" +
                     std::string(5u << 20, 'm') + R"(","stream":true})";
  RequestJson h = read(huge);
  EXPECT_TRUE(h.is_object());
  EXPECT_EQ(h.at("model").text.size(), 5u << 20);
  EXPECT_TRUE(h.at("stream").boolean);
  EXPECT_EQ(json_string_bytes(huge), (20u << 20) + (5u << 20));
}

TEST(JsonStringBytes, CountsUnescapedValuesNotKeys) {
  EXPECT_EQ(json_string_bytes(R"({"a":"\u00e9\n","bb":["xyz",{"c":"d"}],"n":1,"t":true,"z":null})"), 2u + 1 + 3 + 1);
  EXPECT_EQ(json_string_bytes(R"("top")"), 3u);
  EXPECT_EQ(json_string_bytes("\xEF\xBB\xBF[\"ab\"]"), 2u);
  EXPECT_EQ(json_string_bytes("[]"), 0u);
  for (std::string_view bad : {"", "x", "{\"a\":", "[1e400]", "{} {}", "[\"\\ud800\"]", "\"\xc3\x28\""})
    EXPECT_EQ(json_string_bytes(bad), std::nullopt) << bad;
}

// Found by fuzz/request_json_fuzz.cpp: a string where a wanted path expects an
// object ("metadata": "x" while metadata.user_id is wanted) was left out of
// count_text's total, so a digested request estimated fewer input tokens.
TEST(RequestJson, CountsTextOnWantedPathPrefixes) {
  for (std::string_view body : {R"({"metadata":"abc","model":"de"})", R"({"request":7,"a":{"b":"xy"}})",
                                R"({"metadata":["p",{"user_id":"q"}],"a":{"b":{"c":"r"}}})"}) {
    RequestJson j(body, kPaths, 0, /*count_text=*/true);
    EXPECT_TRUE(j.is_object()) << body;
    EXPECT_EQ(j.text_bytes(), json_string_bytes(body)) << body;
  }
}

// What estimation counted before simdjson: string values in nlohmann's DOM.
uint64_t nlohmann_string_bytes(const nlohmann::json& j) {
  if (j.is_string()) return j.get_ref<const std::string&>().size();
  uint64_t total = 0;
  if (j.is_structured())
    for (const auto& e : j) total += nlohmann_string_bytes(e);
  return total;
}

TEST(JsonStringBytes, AgreesWithNlohmannOnRecordedBodies) {
  int checked = 0;
  for (const char* f : {"anthropic_message.json", "openai_chat.json", "openai_responses.json", "gemini_generate.json",
                        "cloudcode_generate.json", "anthropic_error_rate_limit.json", "gemini_stream_array.json"}) {
    std::ifstream in(std::string(TT_TEST_DATA_DIR) + "/provider/" + f, std::ios::binary);
    std::string body{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    ASSERT_FALSE(body.empty()) << f;
    auto j = nlohmann::json::parse(body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << f;
    EXPECT_EQ(json_string_bytes(body), nlohmann_string_bytes(j)) << f;
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}

// Strings made of plain text and every kind of escape (\\, \u, surrogate pairs,
// bad ones) at every offset from a 16-byte block's edges: the length once
// unescaped is nlohmann's, and a bad escape is refused as nlohmann refuses it.
TEST(JsonStringBytes, EscapesAtEveryOffsetAgreeWithNlohmann) {
  const char* pieces[] = {"a", "long plain text ", "\\n", "\\\"", "\\\\", "\\t", "\\/", "\\u00e9", "\\u20ac",
                          "\\u0041", "\\ud83d\\ude00", "\xc3\xa9", "\\\\\\n", "\\q", "\\ud83d", "\\u12", "\\"};
  std::mt19937 rng(13);
  int bad = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string text(rng() % 40, 'x');
    for (int k = rng() % 12; k > 0; --k) text += pieces[rng() % std::size(pieces)];
    std::string doc = "[\"" + text + "\"]";
    auto j = nlohmann::json::parse(doc, nullptr, false);
    std::optional<uint64_t> want;
    if (!j.is_discarded()) want = nlohmann_string_bytes(j);
    bad += !want;
    EXPECT_EQ(json_string_bytes(doc), want) << doc;
  }
  EXPECT_GT(bad, 100);  // bad escapes were among them
}

}  // namespace
