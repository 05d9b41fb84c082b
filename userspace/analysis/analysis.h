// Where the tokens went (docs/analysis.md): request records in, turns, prompt
// anatomy, cache use and findings out, with a verdict. Reads nothing but the
// records (and the price table), so a live run, a replay, record files and the
// collector's database are analysed alike.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pricing/pricing.h"
#include "tokentap/v1/records.pb.h"

namespace tt::analysis {

namespace v1 = tokentap::v1;

struct Options {
  // The cache lifetime assumed where a request does not name one (Anthropic's
  // default and OpenAI's usual): a request later than this after its
  // conversation's previous one finds the cache expired.
  uint64_t default_cache_ttl_s = 300;
};

struct Scope {
  std::string kind = "run";  // "run", "session", "range", "files"
  std::string run_id;
  uint64_t since_unix_ns = 0, until_unix_ns = 0;
  std::string label;  // what the scope is, for people ("claude -p …", a file name, a range)
};

struct Finding {
  std::string kind;    // cache_miss, cache_write_unread, context_reset, compaction, retry, low_value, unused_tools, huge_tool_result
  std::string reason;  // cache_miss: prefix_changed, expired, no_breakpoints, not_served
  std::vector<int> requests;  // request numbers (Request::n)
  uint64_t tokens = 0;        // the tokens it is about (missed, written unread, carried...)
  double waste_usd = 0;
  int session = -1;                // index into Analysis::sessions
  std::vector<std::string> names;  // unused_tools: the tools
  std::string text;  // plain words
};

struct PromptTokens {
  uint64_t system = 0, tools = 0, history = 0, tool_results = 0, new_content = 0;
};

struct Request {
  int n = 0;            // 1.. in start order
  int session = -1;     // index into Analysis::sessions
  int turn = 0;         // 1.. within the session
  std::string role;     // main, subagent, side
  const v1::ApiRequest* record = nullptr;
  uint64_t prompt_tokens = 0;  // input + cache read + cache write
  uint64_t unchanged_prefix_tokens = 0;
  PromptTokens anatomy;
  std::optional<pricing::Rates> rates;  // its price table entry's, looked up once (none: not priced)
  double prompt_rate = 0;       // USD per prompt token (0: not priced)
  double waste_usd = 0;         // the findings' waste charged to it (a retry's: to the attempt before)
  std::vector<std::string> findings;  // kinds
};

struct Turn {
  int turn = 0;
  std::vector<int> requests;
  int main = 0, subagent = 0, side = 0;
  uint64_t prompt_tokens = 0, output_tokens = 0;
  double cost_usd = 0;
  double subagent_cost_usd = 0, side_cost_usd = 0;  // of cost_usd
};

struct Session {
  std::string harness, session_id;
  int requests = 0;
  double cost_usd = 0, waste_usd = 0;
  std::vector<Turn> turns;
  std::vector<std::string> verdict;
};

struct ModelCost {
  std::string provider, model;
  int requests = 0;
  double cost_usd = 0;
  uint64_t tokens = 0;
};

struct Totals {
  int requests = 0, unpriced_requests = 0;
  double cost_usd = 0, waste_usd = 0;
  uint64_t input_tokens = 0, cache_read_tokens = 0, cache_write_tokens = 0, output_tokens = 0, prompt_tokens = 0;
};

struct Analysis {
  Scope scope;
  Totals totals;
  std::map<std::string, double> waste_by_category;  // every finding kind that can waste, 0 included
  std::vector<std::string> verdict;
  std::vector<Finding> findings;
  std::vector<ModelCost> by_model;
  std::vector<Session> sessions;
  std::vector<Request> requests;
  std::vector<v1::ApiRequest> records;  // what `requests` point into
};

// The requests in any order; only request records with a provider call count
// (billable or not). The price table prices waste.
Analysis analyze(std::vector<v1::ApiRequest> records, const pricing::PriceTable& prices, Scope scope,
                 const Options& opts = {});

// The analysis as docs/analysis.md's JSON document.
nlohmann::ordered_json to_json(const Analysis& a);
// The terminal summary `profile` ends with: the verdict, waste by category, turns.
std::string render_summary(const Analysis& a);

}  // namespace tt::analysis
