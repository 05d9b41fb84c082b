// Context anatomy (provider/anatomy.h): the parts of hand-written request bodies
// of every wire format, byte by byte (the sums are worked out in the comments:
// a part's bytes are the UTF-8 bytes of the JSON string values in it, cache
// markers' aside), the prefix chain against XXH3 of the blocks' JSON (cache
// markers cut out), the hashes across a conversation, and token scaling.
#include "provider/anatomy.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <chrono>
#include <numeric>
#include <regex>
#include <string>
#include <vector>

#include "provider/provider.h"

namespace {

using namespace tt::provider;  // kSystem ... kNewContent: the parts

// A block's JSON as hashed: without its cache markers (as the tests write them:
// a last member, or a Converse cachePoint element after another).
std::string unmarked(const std::string& s) {
  static const std::regex marker(R"(,"cache_control":\{[^}]*\}|,\{"cachePoint":\{[^}]*\}\})");
  return std::regex_replace(s, marker, "");
}

uint64_t xxh(std::string_view s) {
  std::string t = unmarked(std::string(s));
  return XXH3_64bits(t.data(), t.size());
}

// The chain of `blocks` (in caching order): XXH3 of each run of blocks from the
// first, and its length.
std::pair<std::vector<uint64_t>, std::vector<uint64_t>> chain(const std::vector<std::string>& blocks) {
  std::vector<uint64_t> hashes, bytes;
  std::string so_far;
  for (const std::string& b : blocks) {
    so_far += unmarked(b);
    hashes.push_back(XXH3_64bits(so_far.data(), so_far.size()));
    bytes.push_back(so_far.size());
  }
  return {hashes, bytes};
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return "[" + out + "]";
}

void expect_part(const Anatomy& a, Part p, uint64_t bytes, uint32_t count) {
  EXPECT_EQ(a.parts[p].bytes, bytes) << "part " << int(p);
  EXPECT_EQ(a.parts[p].count, count) << "part " << int(p);
}

// Two chains of as many blocks whose first `shared` blocks agree, and no more.
void expect_shared_blocks(const Anatomy& a, const Anatomy& b, size_t shared) {
  ASSERT_EQ(a.prefix_hashes.size(), b.prefix_hashes.size());
  for (size_t k = 0; k < a.prefix_hashes.size(); ++k) EXPECT_EQ(a.prefix_hashes[k] == b.prefix_hashes[k], k < shared) << k;
}

void expect_chain(const Anatomy& a, const std::vector<std::string>& blocks) {
  auto [hashes, bytes] = chain(blocks);
  EXPECT_EQ(a.prefix_hashes, hashes);
  EXPECT_EQ(a.prefix_bytes, bytes);
}

// ---- Anthropic Messages ----

const std::string kSystemBlock = R"([{"type":"text","text":"You are Claude.","cache_control":{"type":"ephemeral"}}])";
const std::vector<std::string> kToolBlocks = {
    R"({"name":"read","description":"Read a file","input_schema":{"type":"object"}})",
    R"({"name":"bash","description":"Run","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral","ttl":"1h"}})"};
const std::vector<std::string> kMessageBlocks = {
    R"({"role":"user","content":"hello there"})",
    R"({"role":"assistant","content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"t1","name":"read","input":{"path":"a.c"}}]})",
    R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"int main;"}]})",
    R"({"role":"assistant","content":[{"type":"tool_use","id":"t2","name":"bash","input":{"cmd":"ls"}}]})",
    R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"t2","content":"a.c b.c c.c d.c","cache_control":{"type":"ephemeral"}}]})",
    R"({"role":"user","content":[{"type":"text","text":"now fix it"}]})"};
const std::string kLargestResult = R"({"type":"tool_result","tool_use_id":"t2","content":"a.c b.c c.c d.c"})";

// Claude Code's member order: messages before system and tools.
std::string anthropic_body(const std::string& system, const std::vector<std::string>& tools,
                           const std::vector<std::string>& messages) {
  return R"({"model":"claude-sonnet-4-5","messages":)" + join(messages) + R"(,"system":)" + system +
         R"(,"tools":)" + join(tools) + R"(,"max_tokens":1024,"stream":true})";
}

std::vector<std::string> anthropic_order(const std::string& system, const std::vector<std::string>& tools,
                                         const std::vector<std::string>& messages) {
  std::vector<std::string> blocks = tools;
  blocks.push_back(system);
  blocks.insert(blocks.end(), messages.begin(), messages.end());
  return blocks;
}

TEST(Anatomy, AnthropicPartsByHand) {
  Anatomy a = read_anatomy(WireFormat::AnthropicMessages, anthropic_body(kSystemBlock, kToolBlocks, kMessageBlocks));
  // system: "text" 4 + "You are Claude." 15 (its cache_control is no text)
  expect_part(a, kSystem, 19, 1);
  // tools: read 4 + "Read a file" 11 + "object" 6 = 21; bash 4 + "Run" 3 + "object" 6 = 13
  expect_part(a, kTools, 34, 2);
  EXPECT_EQ(a.tool_names, (std::vector<std::string>{"read", "bash"}));
  EXPECT_EQ(a.tool_bytes, (std::vector<uint64_t>{21, 13}));
  // history (before the last assistant message, the 4th): "user" 4 + "hello there" 11 = 15;
  // "assistant" 9 + "text" 4 + "ok" 2 + "tool_use" 8 + "t1" 2 + "read" 4 + "a.c" 3 = 32;
  // "assistant" 9 + "tool_use" 8 + "t2" 2 + "bash" 4 + "ls" 2 = 25
  expect_part(a, kHistory, 15 + 32 + 25, 3);
  // tool results: "user" 4 + "tool_result" 11 + "t1" 2 + "int main;" 9 = 26 (its block: 22);
  // "user" 4 + "tool_result" 11 + "t2" 2 + "a.c b.c c.c d.c" 15 = 32 (its block: 28)
  expect_part(a, kToolResults, 26 + 32, 2);
  EXPECT_EQ(a.largest_tool_result_bytes, 28u);
  EXPECT_EQ(a.largest_tool_result_hash, xxh(kLargestResult));
  // new content: "user" 4 + "text" 4 + "now fix it" 10 = 18
  expect_part(a, kNewContent, 18, 1);
  EXPECT_TRUE(a.new_user_turn);
  EXPECT_EQ(a.new_content_hash, xxh(kMessageBlocks[5]));
  EXPECT_EQ(a.conversation_hash, xxh(kMessageBlocks[0]));
  EXPECT_EQ(a.messages, 6u);
  // cache_control on the system block, the second tool and a tool result; one asks for 1h.
  EXPECT_EQ(a.cache_breakpoints, 3u);
  EXPECT_EQ(a.cache_ttl_seconds, 3600u);
  // Each tool, the system, each message: not the order of the body's members.
  expect_chain(a, anthropic_order(kSystemBlock, kToolBlocks, kMessageBlocks));
}

// Claude Code moves its cache_control to the newest message on every request:
// a block hashes the same with the marker as without it.
TEST(Anatomy, CacheMarkersAreNoPartOfTheHashes) {
  std::vector<std::string> first = {R"({"role":"user","content":[{"type":"text","text":"fix it","cache_control":{"type":"ephemeral"}}]})"};
  std::vector<std::string> later = {R"({"role":"user","content":[{"type":"text","text":"fix it"}]})",
                                    R"({"role":"assistant","content":"Done."})",
                                    R"({"role":"user","content":[{"cache_control":{"type":"ephemeral"},"type":"text","text":"thanks"}]})"};
  Anatomy a = read_anatomy(WireFormat::AnthropicMessages, anthropic_body(kSystemBlock, {}, first));
  Anatomy b = read_anatomy(WireFormat::AnthropicMessages, anthropic_body(kSystemBlock, {}, later));
  ASSERT_EQ(a.prefix_hashes.size(), 2u);
  ASSERT_EQ(b.prefix_hashes.size(), 4u);
  EXPECT_EQ(a.prefix_hashes[1], b.prefix_hashes[1]);
  EXPECT_EQ(a.prefix_bytes[1], b.prefix_bytes[1]);
  EXPECT_EQ(a.conversation_hash, b.conversation_hash);
  EXPECT_EQ(a.conversation_hash, xxh(later[0]));
  // A marker as the first member goes with the comma after it.
  EXPECT_EQ(b.new_content_hash, xxh(R"({"role":"user","content":[{"type":"text","text":"thanks"}]})"));
  EXPECT_EQ(b.parts[kNewContent].bytes, 4u + 4 + 6);

  // Converse's cachePoint blocks, wherever they stand.
  std::string with = R"({"messages":[{"role":"user","content":[{"cachePoint":{"type":"default"}},{"text":"go"},{"cachePoint":{"type":"default"}}]}]})";
  std::string without = R"({"messages":[{"role":"user","content":[{"text":"go"}]}]})";
  Anatomy c = read_anatomy(WireFormat::BedrockConverse, with);
  Anatomy d = read_anatomy(WireFormat::BedrockConverse, without);
  EXPECT_EQ(c.prefix_hashes, d.prefix_hashes);
  EXPECT_EQ(c.conversation_hash, xxh(R"({"role":"user","content":[{"text":"go"}]})"));
  EXPECT_EQ(c.cache_breakpoints, 2u);
  EXPECT_EQ(c.parts[kNewContent].bytes, d.parts[kNewContent].bytes);
}

TEST(Anatomy, AnthropicPrefixChainFollowsTheConversation) {
  std::vector<std::string> first(kMessageBlocks.begin(), kMessageBlocks.begin() + 3);
  Anatomy a = read_anatomy(WireFormat::AnthropicMessages, anthropic_body(kSystemBlock, kToolBlocks, first));
  Anatomy b = read_anatomy(WireFormat::AnthropicMessages, anthropic_body(kSystemBlock, kToolBlocks, kMessageBlocks));
  ASSERT_EQ(a.prefix_hashes.size(), 2 + 1 + 3u);
  ASSERT_EQ(b.prefix_hashes.size(), 2 + 1 + 6u);
  // The longer request starts with the shorter one: the same hashes as far as it goes.
  for (size_t k = 0; k < a.prefix_hashes.size(); ++k) {
    EXPECT_EQ(a.prefix_hashes[k], b.prefix_hashes[k]) << k;
    EXPECT_EQ(a.prefix_bytes[k], b.prefix_bytes[k]) << k;
  }
  EXPECT_EQ(a.conversation_hash, b.conversation_hash);
  // A tool round (only a tool result after the last assistant message) is no new turn.
  EXPECT_FALSE(a.new_user_turn);
  EXPECT_EQ(a.new_content_hash, 0u);
  expect_part(a, kNewContent, 0, 0);

  // The third message edited: the first five blocks agree, the rest differ.
  std::vector<std::string> edited = kMessageBlocks;
  edited[2] = R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"int main();"}]})";
  Anatomy c = read_anatomy(WireFormat::AnthropicMessages, anthropic_body(kSystemBlock, kToolBlocks, edited));
  expect_shared_blocks(c, b, 5);
  EXPECT_EQ(c.conversation_hash, b.conversation_hash);
  EXPECT_EQ(c.new_content_hash, b.new_content_hash);

  // A changed system prompt (a timestamp in it) changes every hash from the system on.
  std::string dated = R"([{"type":"text","text":"You are Claude. Today is 2025-06-02."}])";
  Anatomy d = read_anatomy(WireFormat::AnthropicMessages, anthropic_body(dated, kToolBlocks, kMessageBlocks));
  expect_shared_blocks(d, b, 2);
  EXPECT_EQ(d.cache_breakpoints, 2u);
}

TEST(Anatomy, ARetryIsTheSameAnatomy) {
  std::string body = anthropic_body(kSystemBlock, kToolBlocks, kMessageBlocks);
  Anatomy a = read_anatomy(WireFormat::AnthropicMessages, body);
  Anatomy b = read_anatomy(WireFormat::AnthropicMessages, std::string(body));
  EXPECT_EQ(a.prefix_hashes, b.prefix_hashes);
  EXPECT_EQ(a.prefix_bytes, b.prefix_bytes);
  EXPECT_EQ(a.conversation_hash, b.conversation_hash);
  EXPECT_EQ(a.new_content_hash, b.new_content_hash);
  EXPECT_EQ(a.largest_tool_result_hash, b.largest_tool_result_hash);
  EXPECT_NE(a.new_content_hash, 0u);
}

TEST(Anatomy, BlocksAreTheirJsonAsSentWithoutTheSpaceAround) {
  std::string body = "{\n  \"system\": \"Be kind.\" ,\n  \"messages\": [ {\"role\": \"user\", \"content\": \"hi\"}  ,\n"
                     "  {\"role\":\"assistant\",\"content\":\"yo\"}\t]\n}\n";
  Anatomy a = read_anatomy(WireFormat::AnthropicMessages, body);
  expect_chain(a, {R"("Be kind.")", R"({"role": "user", "content": "hi"})", R"({"role":"assistant","content":"yo"})"});
  // A marker cut out with the spaces after its comma: what remains hashes as sent without it.
  std::string spaced = R"({"messages": [{"cache_control": {"type": "ephemeral"},  "role": "user", "content": "hi"}]})";
  EXPECT_EQ(read_anatomy(WireFormat::AnthropicMessages, spaced).prefix_hashes,
            std::vector<uint64_t>{xxh(R"({"role": "user", "content": "hi"})")});
  expect_part(a, kSystem, 8, 1);
  expect_part(a, kHistory, 6 + 11, 2);  // "user" "hi", "assistant" "yo"
  EXPECT_FALSE(a.new_user_turn);        // the last message is the model's (a prefill)
  EXPECT_EQ(a.cache_breakpoints, 0u);
  EXPECT_EQ(a.cache_ttl_seconds, 0u);
  // Escapes count as the characters they stand for: "é" (2 bytes), a tab, a quote,
  // and a surrogate pair (4).
  a = read_anatomy(WireFormat::AnthropicMessages,
                   R"({"messages":[{"role":"user","content":"\u00e9\t\"\ud83d\ude00"}]})");
  expect_part(a, kNewContent, 4 + 2 + 1 + 1 + 4, 1);
}

TEST(Anatomy, CacheMarkersAndTheirTtl) {
  auto ttl = [](std::string marker) {
    Anatomy a = read_anatomy(WireFormat::AnthropicMessages,
                             R"({"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":)" +
                                 marker + "}]}]}");
    return std::pair{a.cache_breakpoints, a.cache_ttl_seconds};
  };
  EXPECT_EQ(ttl(R"({"type":"ephemeral"})"), std::pair(1u, 300u));
  EXPECT_EQ(ttl(R"({"type":"ephemeral","ttl":"5m"})"), std::pair(1u, 300u));
  EXPECT_EQ(ttl(R"({"type":"ephemeral","ttl":"1h"})"), std::pair(1u, 3600u));
  EXPECT_EQ(ttl("null"), std::pair(0u, 0u));
}

// Bedrock InvokeModel and Vertex rawPredict carry Anthropic's body.
TEST(Anatomy, BedrockInvokeReadsAnthropicsBody) {
  std::string body = R"({"anthropic_version":"bedrock-2023-05-31","system":"S","messages":[{"role":"user","content":"hi"}]})";
  Anatomy a = read_anatomy(WireFormat::BedrockInvoke, body);
  Anatomy b = read_anatomy(WireFormat::AnthropicMessages, body);
  EXPECT_EQ(a.prefix_hashes, b.prefix_hashes);
  expect_part(a, kSystem, 1, 1);
  expect_part(a, kNewContent, 6, 1);
}

// ---- OpenAI Chat Completions ----

TEST(Anatomy, OpenAIChatPartsByHand) {
  std::vector<std::string> messages = {
      R"({"role":"system","content":"Be brief."})",
      R"({"role":"user","content":"list files"})",
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"ls","arguments":"{}"}}]})",
      R"({"role":"tool","tool_call_id":"c1","content":"a b"})"};
  std::string tool = R"({"type":"function","function":{"name":"ls","description":"List","parameters":{"type":"object"}}})";
  std::string body = R"({"model":"gpt-4o","messages":)" + join(messages) + R"(,"tools":[)" + tool + R"(],"stream":true})";
  Anatomy a = read_anatomy(WireFormat::OpenAIChat, body);
  expect_part(a, kSystem, 6 + 9, 1);                  // "system" "Be brief."
  expect_part(a, kTools, 8 + 2 + 4 + 6, 1);            // "function" "ls" "List" "object"
  EXPECT_EQ(a.tool_names, std::vector<std::string>{"ls"});
  EXPECT_EQ(a.tool_bytes, std::vector<uint64_t>{20});
  expect_part(a, kHistory, (4 + 10) + (9 + 2 + 8 + 2 + 2), 2);  // "user" "list files"; "assistant" "c1" "function" "ls" "{}"
  expect_part(a, kToolResults, 4 + 2 + 3, 1);          // "tool" "c1" "a b"
  EXPECT_EQ(a.largest_tool_result_bytes, 9u);
  EXPECT_EQ(a.largest_tool_result_hash, xxh(messages[3]));
  expect_part(a, kNewContent, 0, 0);
  EXPECT_FALSE(a.new_user_turn);
  EXPECT_EQ(a.conversation_hash, xxh(messages[1]));
  EXPECT_EQ(a.messages, 4u);
  EXPECT_EQ(a.cache_breakpoints, 0u);
  std::vector<std::string> blocks = {tool};
  blocks.insert(blocks.end(), messages.begin(), messages.end());
  expect_chain(a, blocks);
}

// ---- OpenAI Responses ----

TEST(Anatomy, OpenAIResponsesPartsByHand) {
  std::vector<std::string> items = {
      R"({"type":"message","role":"developer","content":[{"type":"input_text","text":"rules"}]})",
      R"({"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]})",
      R"({"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"xyz"})",
      R"({"type":"function_call","call_id":"c1","name":"shell","arguments":"{\"cmd\":\"ls\"}"})",
      R"({"type":"function_call_output","call_id":"c1","output":"a.txt"})"};
  std::vector<std::string> tools = {
      R"({"type":"function","name":"shell","description":"Run","parameters":{"type":"object"}})",
      R"({"type":"web_search"})"};
  std::string body = R"({"model":"gpt-5","instructions":"Be terse.","input":)" + join(items) + R"(,"tools":)" +
                     join(tools) + R"(,"stream":true,"store":false})";
  Anatomy a = read_anatomy(WireFormat::OpenAIResponses, body);
  // instructions "Be terse." 9; the developer item: "message" 7 + "developer" 9 + "input_text" 10 + "rules" 5
  expect_part(a, kSystem, 9 + 31, 2);
  // "function" 8 + "shell" 5 + "Run" 3 + "object" 6 = 22; a built-in tool is named by its type (10)
  expect_part(a, kTools, 22 + 10, 2);
  EXPECT_EQ(a.tool_names, (std::vector<std::string>{"shell", "web_search"}));
  EXPECT_EQ(a.tool_bytes, (std::vector<uint64_t>{22, 10}));
  // before the last model item (the function_call): "message" 7 + "user" 4 + "input_text" 10 + "hi" 2 = 23;
  // "reasoning" 9 + "rs_1" 4 + "xyz" 3 = 16; "function_call" 13 + "c1" 2 + "shell" 5 + {"cmd":"ls"} 12 = 32
  expect_part(a, kHistory, 23 + 16 + 32, 3);
  // "function_call_output" 20 + "c1" 2 + "a.txt" 5
  expect_part(a, kToolResults, 27, 1);
  EXPECT_EQ(a.largest_tool_result_hash, xxh(items[4]));
  EXPECT_FALSE(a.new_user_turn);
  EXPECT_EQ(a.conversation_hash, xxh(items[1]));
  EXPECT_EQ(a.messages, 5u);
  std::vector<std::string> blocks = {R"("Be terse.")"};  // instructions first, then tools, then items
  blocks.insert(blocks.end(), tools.begin(), tools.end());
  blocks.insert(blocks.end(), items.begin(), items.end());
  expect_chain(a, blocks);

  // "input" as one string: the user's message.
  a = read_anatomy(WireFormat::OpenAIResponses, R"({"model":"gpt-5","input":"say hi"})");
  expect_part(a, kNewContent, 6, 1);
  EXPECT_EQ(a.conversation_hash, xxh(R"("say hi")"));
  EXPECT_EQ(a.new_content_hash, xxh(R"("say hi")"));
}

// ---- Gemini (inside Code Assist's envelope) ----

TEST(Anatomy, GeminiCodeAssistPartsByHand) {
  std::vector<std::string> contents = {
      R"({"role":"user","parts":[{"text":"what is in a.c"}]})",
      R"({"role":"model","parts":[{"functionCall":{"name":"read_file","args":{"path":"a.c"}}}]})",
      R"({"role":"user","parts":[{"functionResponse":{"name":"read_file","response":{"output":"int x;"}}}]})"};
  std::string system = R"({"role":"user","parts":[{"text":"You are Gemini."}]})";
  std::vector<std::string> tools = {
      R"({"functionDeclarations":[{"name":"read_file","description":"Read","parameters":{"type":"OBJECT"}},{"name":"ls","description":"List"}]})",
      R"({"googleSearch":{}})"};
  std::string body = R"({"model":"gemini-2.5-pro","project":"p-1","request":{"contents":)" + join(contents) +
                     R"(,"systemInstruction":)" + system + R"(,"tools":)" + join(tools) +
                     R"(,"generationConfig":{"temperature":0}},"user_prompt_id":"u-1"})";
  Anatomy a = read_anatomy(WireFormat::Gemini, body);
  expect_part(a, kSystem, 4 + 15, 1);  // "user" "You are Gemini."
  // read_file 9 + "Read" 4 + "OBJECT" 6 = 19; ls 2 + "List" 4 = 6; googleSearch 0
  expect_part(a, kTools, 25, 3);
  EXPECT_EQ(a.tool_names, (std::vector<std::string>{"read_file", "ls", "googleSearch"}));
  EXPECT_EQ(a.tool_bytes, (std::vector<uint64_t>{19, 6, 0}));
  expect_part(a, kHistory, (4 + 14) + (5 + 9 + 3), 2);  // "user" "what is in a.c"; "model" "read_file" "a.c"
  expect_part(a, kToolResults, 4 + 9 + 6, 1);            // "user" "read_file" "int x;"; its part: 15
  EXPECT_EQ(a.largest_tool_result_bytes, 15u);
  EXPECT_EQ(a.largest_tool_result_hash, xxh(R"({"functionResponse":{"name":"read_file","response":{"output":"int x;"}}})"));
  EXPECT_FALSE(a.new_user_turn);
  EXPECT_EQ(a.conversation_hash, xxh(contents[0]));
  std::vector<std::string> blocks = {system};  // systemInstruction, tools, contents
  blocks.insert(blocks.end(), tools.begin(), tools.end());
  blocks.insert(blocks.end(), contents.begin(), contents.end());
  expect_chain(a, blocks);
}

// ---- Bedrock Converse ----

TEST(Anatomy, BedrockConversePartsByHand) {
  std::string system = R"([{"text":"Sys"},{"cachePoint":{"type":"default"}}])";
  std::vector<std::string> tools = {
      R"({"toolSpec":{"name":"calc","description":"Add","inputSchema":{"json":{"type":"object"}}}})",
      R"({"cachePoint":{"type":"default"}})"};
  std::vector<std::string> messages = {
      R"({"role":"user","content":[{"text":"go"}]})",
      R"({"role":"assistant","content":[{"toolUse":{"toolUseId":"u1","name":"calc","input":{"x":1}}}]})",
      R"({"role":"user","content":[{"toolResult":{"toolUseId":"u1","content":[{"text":"2"}],"status":"success"}}]})"};
  std::string body = R"({"system":)" + system + R"(,"messages":)" + join(messages) + R"(,"toolConfig":{"tools":)" +
                     join(tools) + R"(},"inferenceConfig":{"maxTokens":10}})";
  Anatomy a = read_anatomy(WireFormat::BedrockConverse, body);
  expect_part(a, kSystem, 3, 1);  // "Sys" (a cachePoint is no text)
  // calc 4 + "Add" 3 + "object" 6 = 13; the cachePoint is no tool, nor a block of the chain
  expect_part(a, kTools, 13, 1);
  EXPECT_EQ(a.tool_names, std::vector<std::string>{"calc"});
  EXPECT_EQ(a.tool_bytes, std::vector<uint64_t>{13});
  expect_part(a, kHistory, (4 + 2) + (9 + 2 + 4), 2);  // "user" "go"; "assistant" "u1" "calc"
  expect_part(a, kToolResults, 4 + 2 + 1 + 7, 1);       // "user" "u1" "2" "success"; its block 10
  EXPECT_EQ(a.largest_tool_result_bytes, 10u);
  EXPECT_EQ(a.cache_breakpoints, 2u);
  EXPECT_EQ(a.cache_ttl_seconds, 300u);
  std::vector<std::string> blocks = {tools[0]};  // tools, system, messages
  blocks.push_back(system);
  blocks.insert(blocks.end(), messages.begin(), messages.end());
  expect_chain(a, blocks);
}

// ---- Ollama ----

TEST(Anatomy, OllamaChatAndGenerate) {
  std::string body = R"({"model":"llama3","messages":[{"role":"system","content":"S"},{"role":"user","content":"hi","images":["aGk="]}],)"
                     R"("tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"stream":false})";
  Anatomy a = read_anatomy(WireFormat::Ollama, body);
  expect_part(a, kSystem, 6 + 1, 1);
  expect_part(a, kTools, 8 + 1, 1);
  expect_part(a, kNewContent, 4 + 2 + 4, 1);  // "user" "hi" and the image's base64
  EXPECT_TRUE(a.new_user_turn);
  EXPECT_EQ(a.prefix_hashes.size(), 3u);

  a = read_anatomy(WireFormat::Ollama, R"({"model":"llama3","prompt":"Why is the sky blue?","system":"Be short.","stream":false})");
  expect_part(a, kSystem, 9, 1);
  expect_part(a, kNewContent, 20, 1);
  EXPECT_EQ(a.conversation_hash, xxh(R"("Why is the sky blue?")"));
  expect_chain(a, {R"("Be short.")", R"("Why is the sky blue?")"});
}

// ---- what has no anatomy ----

TEST(Anatomy, NoAnatomyWithoutAWholeObjectOfAKnownFormat) {
  std::string body = R"({"messages":[{"role":"user","content":"hi"}]})";
  EXPECT_FALSE(read_anatomy(WireFormat::AnthropicMessages, body).empty());
  EXPECT_TRUE(read_anatomy(WireFormat::Unknown, body).empty());
  EXPECT_TRUE(read_anatomy(WireFormat::None, body).empty());
  for (std::string bad : {std::string(""), std::string("not json"), std::string("[1,2]"), body.substr(0, body.size() - 3),
                          body + "x", std::string(R"({"messages":[{"role":"user","content":"a\q"}]})"),
                          std::string(R"({"model":"m","max_tokens":5})")})
    EXPECT_TRUE(read_anatomy(WireFormat::AnthropicMessages, bad).empty()) << bad;
  // Too deep: simdjson's 1024 levels.
  std::string deep = R"({"messages":[{"role":"user","content":)" + std::string(3000, '[') + std::string(3000, ']') + "}]}";
  EXPECT_TRUE(read_anatomy(WireFormat::AnthropicMessages, deep).empty());
  // A leading byte order mark is skipped.
  EXPECT_FALSE(read_anatomy(WireFormat::AnthropicMessages, "\xEF\xBB\xBF" + body).empty());
}

TEST(Anatomy, BoundsOnWhatOneBodyPutsInARecord) {
  std::vector<std::string> msgs(kMaxPrefixBlocks + 10, R"({"role":"user","content":"x"})");
  Anatomy a = read_anatomy(WireFormat::OpenAIChat, R"({"messages":)" + join(msgs) + "}");
  ASSERT_EQ(a.prefix_hashes.size(), kMaxPrefixBlocks);
  EXPECT_EQ(a.messages, kMaxPrefixBlocks + 10);
  // The last link covers every block.
  EXPECT_EQ(a.prefix_bytes.back(), msgs.size() * msgs[0].size());
  std::string all;
  for (const std::string& m : msgs) all += m;
  EXPECT_EQ(a.prefix_hashes.back(), xxh(all));

  std::vector<std::string> tools(kMaxToolNames + 5, R"({"name":")" + std::string(400, 'n') + R"("})");
  a = read_anatomy(WireFormat::AnthropicMessages, R"({"tools":)" + join(tools) + "}");
  EXPECT_EQ(a.parts[kTools].count, kMaxToolNames + 5);
  EXPECT_EQ(a.parts[kTools].bytes, 400 * (kMaxToolNames + 5));
  ASSERT_EQ(a.tool_names.size(), kMaxToolNames);
  EXPECT_EQ(a.tool_names[0].size(), kMaxToolNameBytes);
  // A long name is cut between characters ("é" is 2 bytes: after "x", 127 of them fit).
  EXPECT_EQ(tool_name("x" + std::string(300, 'y')).size(), kMaxToolNameBytes);
  std::string accents;
  for (int i = 0; i < 200; ++i) accents += "\xc3\xa9";
  EXPECT_EQ(tool_name(accents).size(), 256u);
  EXPECT_EQ(tool_name("x" + accents).size(), 255u);
  EXPECT_EQ(tool_name("read_file"), "read_file");
}

// ---- tokens ----

TEST(Anatomy, TokensAddUpToThePromptExactly) {
  Anatomy a;
  uint64_t bytes[] = {10, 20, 30, 0, 1};
  for (size_t i = 0; i < kPartCount; ++i) a.parts[i].bytes = bytes[i];
  // 100 x bytes / 61: 16.39, 32.79, 49.18, 0, 1.64 -> floors add up to 98; the two
  // largest remainders (32.79, 1.64) get one more.
  EXPECT_EQ(part_tokens(a, 100, true), (std::array<uint64_t, kPartCount>{16, 33, 49, 0, 2}));
  // Estimated usage: about 4 bytes a token, rounded up, as estimation does.
  EXPECT_EQ(part_tokens(a, 100, false), (std::array<uint64_t, kPartCount>{3, 5, 8, 0, 1}));
  EXPECT_EQ(part_tokens(a, 0, true), (std::array<uint64_t, kPartCount>{}));
  EXPECT_EQ(part_tokens(Anatomy{}, 500, true), (std::array<uint64_t, kPartCount>{}));
  // Ties go to the earlier part; sums stay exact for any prompt and huge byte counts.
  for (size_t i = 0; i < kPartCount; ++i) a.parts[i].bytes = 1;
  EXPECT_EQ(part_tokens(a, 7, true), (std::array<uint64_t, kPartCount>{2, 2, 1, 1, 1}));
  uint64_t big[] = {UINT64_MAX / 3, 12345, UINT64_MAX / 5, 1, 999'999'937};
  for (size_t i = 0; i < kPartCount; ++i) a.parts[i].bytes = big[i];
  for (uint64_t prompt : std::vector<uint64_t>{0, 1, 7, 123'457, uint64_t{1} << 40, UINT64_MAX / 2}) {
    auto t = part_tokens(a, prompt, true);
    EXPECT_EQ(std::accumulate(t.begin(), t.end(), uint64_t{0}), prompt) << prompt;
  }
}

// ---- the digest (body read as the request ended) and the whole body agree ----

TEST(Anatomy, DigestedRequestGivesTheSameAnatomy) {
  tt::protocol::HttpMessage req;
  req.method = "POST";
  req.target = "/v1/messages";
  req.headers.push_back({"Host", "api.anthropic.com"});
  std::string body = anthropic_body(kSystemBlock, kToolBlocks, kMessageBlocks);
  RequestDigest digest(req, body, body.capacity());
  Exchange ex;
  ex.request = &req;
  ex.request_body = body;
  ApiCall whole = decode(ex);
  ex.request_body = {};
  ex.request_digest = &digest;
  ApiCall digested = decode(ex);
  for (const ApiCall* c : {&whole, &digested}) {
    const Anatomy& a = c->anatomy;
    expect_chain(a, anthropic_order(kSystemBlock, kToolBlocks, kMessageBlocks));
    EXPECT_EQ(a.parts[kToolResults].bytes, 58u);
    EXPECT_EQ(a.tool_names, (std::vector<std::string>{"read", "bash"}));
    EXPECT_EQ(a.new_content_hash, xxh(kMessageBlocks[5]));
    EXPECT_EQ(a.largest_tool_result_hash, xxh(kLargestResult));
    EXPECT_EQ(a.cache_breakpoints, 3u);
  }
  // An endpoint of no known format: nothing read.
  req.target = "/v1/telemetry";
  EXPECT_TRUE(RequestDigest(req, body, body.capacity()).anatomy.empty());
}

// ---- cost ----

// Text as code reads in JSON: an escape (a newline, a quote, a tab) every few
// dozen characters.
std::string code_text(size_t lines) {
  std::string out;
  for (size_t i = 0; i < lines; ++i)
    out += R"(\t    if (buf[i] == \"x\") { return parse_line(buf + i, len - i); }  // line )" + std::to_string(i) + R"(\n)";
  return out;
}

// A 500 KB Claude Code-like request: 40 tools with JSON schemas, 300 messages of
// tool rounds whose results are source code.
std::string big_body() {
  std::vector<std::string> tools, messages;
  for (int i = 0; i < 40; ++i)
    tools.push_back(R"({"name":"tool_)" + std::to_string(i) + R"(","description":")" + code_text(15) +
                    R"(","input_schema":{"type":"object","properties":{"path":{"type":"string","description":"A path"},)"
                    R"("limit":{"type":"integer"},"flags":{"type":"array","items":{"type":"string"}}},"required":["path"]}})");
  messages.push_back(R"({"role":"user","content":[{"type":"text","text":"fix the bug"}]})");
  for (int i = 0; i < 150; ++i) {
    messages.push_back(R"({"role":"assistant","content":[{"type":"text","text":"Reading."},{"type":"tool_use","id":"t)" +
                       std::to_string(i) + R"(","name":"tool_1","input":{"path":"src/a.c","limit":200}}]})");
    messages.push_back(R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"t)" + std::to_string(i) +
                       R"(","content":")" + code_text(36) + R"("}]})");
  }
  return anthropic_body(kSystemBlock, tools, messages);
}

TEST(Anatomy, CostPerMegabyte) {
  std::string body = big_body();
  ASSERT_GT(body.size(), 450'000u);
  Anatomy a = read_anatomy(WireFormat::AnthropicMessages, body, body.capacity());
  ASSERT_EQ(a.prefix_hashes.size(), 40 + 1 + 301u);
  EXPECT_EQ(a.parts[kToolResults].count, 150u);
  // Against the pass that reads the fields decoding needs (and the text for estimation).
  auto ms_per_mb = [&body](auto&& pass) {
    const int rounds = 20;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < rounds; ++i) pass();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s * 1e3 / rounds / (body.size() / 1e6);
  };
  double anatomy = ms_per_mb([&] { read_anatomy(WireFormat::AnthropicMessages, body, body.capacity()); });
  const std::string_view paths[] = {"model", "stream", "messages", "metadata.user_id"};
  double fields = ms_per_mb([&] { RequestJson(body, paths, body.capacity()); });
  double text = ms_per_mb([&] { RequestJson(body, paths, body.capacity(), /*count_text=*/true); });
  std::printf("%zu-byte body, ms per MB: anatomy %.2f; decoding's fields %.2f, with the text for estimation %.2f\n",
              body.size(), anatomy, fields, text);
  RecordProperty("anatomy_ms_per_mb", std::to_string(anatomy));
}

}  // namespace
