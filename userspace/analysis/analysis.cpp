// Sessions, conversations, turns and each request's unchanged prefix; the
// findings are in findings.cpp, the words in render.cpp.
#include "analysis/analysis.h"

#include <algorithm>
#include <functional>
#include <tuple>

#include "analysis/internal.h"

namespace tt::analysis {
namespace detail {

uint64_t prompt_of(const v1::ApiRequest& r) { return r.input_tokens() + r.cache_read_tokens() + r.cache_write_tokens(); }

std::pair<uint64_t, uint64_t> writes_of(const v1::ApiRequest& r) {
  uint64_t w1 = r.cache_write_1h_tokens();
  return {r.cache_write_tokens() > w1 ? r.cache_write_tokens() - w1 : 0, w1};
}

uint64_t end_ns(const v1::ApiRequest& r) { return r.end_unix_ns() ? r.end_unix_ns() : r.start_unix_ns(); }

double usd(uint64_t tokens, double rate_per_million) { return tokens * rate_per_million / 1e6; }

// Tokens of `bytes` of a prompt of `total` bytes and `prompt` tokens.
uint64_t scaled(uint64_t bytes, uint64_t total, uint64_t prompt) {
  if (!total) return 0;
  return static_cast<uint64_t>(static_cast<long double>(prompt) * bytes / total + 0.5L);
}

uint64_t ttl_ns(const v1::ApiRequest& r, const Options& o) {
  uint64_t s = r.anatomy().cache_ttl_seconds() ? r.anatomy().cache_ttl_seconds() : o.default_cache_ttl_s;
  return s * 1'000'000'000ull;
}

}  // namespace detail

namespace {

using detail::prompt_of;

std::optional<pricing::Rates> rates_of(const pricing::PriceTable& t, const v1::ApiRequest& r) {
  const pricing::Entry* e = t.find(r.provider(), r.model(), r.start_unix_ns());
  if (!e) return std::nullopt;
  return pricing::rates_for(*e, prompt_of(r), r.start_unix_ns());
}

// The cost of a request's prompt per prompt token, at its entry's rates.
double prompt_rate(const std::optional<pricing::Rates>& rates, const v1::ApiRequest& r) {
  uint64_t prompt = prompt_of(r);
  if (!rates || !prompt) return 0;
  auto [w5, w1] = detail::writes_of(r);
  double cost = detail::usd(r.input_tokens(), rates->input) + detail::usd(r.cache_read_tokens(), rates->cache_read) +
                detail::usd(w5, rates->cache_write_5m) + detail::usd(w1, rates->cache_write_1h);
  return cost / prompt;
}

PromptTokens anatomy_tokens(const v1::ContextAnatomy& a) {
  return {a.system().tokens(), a.tools().tokens(), a.history().tokens(), a.tool_results().tokens(),
          a.new_content().tokens()};
}

// Leading blocks two prompts share, in bytes of `cur`.
uint64_t shared_prefix_bytes(const v1::ContextAnatomy& prev, const v1::ContextAnatomy& cur) {
  int n = std::min(prev.prefix_hashes_size(), cur.prefix_hashes_size());
  int k = 0;
  while (k < n && prev.prefix_hashes(k) == cur.prefix_hashes(k)) ++k;
  return k && k <= cur.prefix_bytes_size() ? cur.prefix_bytes(k - 1) : 0;
}

uint64_t total_bytes(const v1::ContextAnatomy& a) { return a.prefix_bytes_size() ? a.prefix_bytes(a.prefix_bytes_size() - 1) : 0; }

// Conversation key: its first user message's hash, with the wire format and
// model (a title or summary call re-sends the user's first message to another
// model: its own conversation); or the request itself without an anatomy.
uint64_t conversation_of(const Request& q) {
  uint64_t h = q.record->anatomy().conversation_hash();
  // A token count is asked about a prompt, not sent on with it: a call of its own.
  if (!h || q.record->api() == "count_tokens") return (uint64_t{1} << 63) | static_cast<uint64_t>(q.n);
  uint64_t mix = std::hash<std::string>{}(q.record->wire_format() + '\n' + q.record->model());
  return h ^ (mix + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
}

void build_requests(Analysis& a, const pricing::PriceTable& prices) {
  std::stable_sort(a.records.begin(), a.records.end(), [](const v1::ApiRequest& x, const v1::ApiRequest& y) {
    return std::make_tuple(x.start_unix_ns(), x.connection_id(), x.sequence_on_connection()) <
           std::make_tuple(y.start_unix_ns(), y.connection_id(), y.sequence_on_connection());
  });
  for (const v1::ApiRequest& r : a.records) {
    Request q;
    q.n = static_cast<int>(a.requests.size()) + 1;
    q.record = &r;
    q.prompt_tokens = prompt_of(r);
    q.anatomy = anatomy_tokens(r.anatomy());
    q.rates = rates_of(prices, r);
    q.prompt_rate = prompt_rate(q.rates, r);
    a.requests.push_back(std::move(q));
  }
}

// Sessions in order of first request; each request's session index.
std::vector<std::vector<int>> group_sessions(Analysis& a) {
  std::map<std::pair<std::string, std::string>, int> index;
  std::vector<std::vector<int>> members;
  for (Request& q : a.requests) {
    auto key = std::make_pair(q.record->harness(), q.record->session_id());
    auto [it, fresh] = index.try_emplace(key, static_cast<int>(a.sessions.size()));
    if (fresh) {
      Session s;
      s.harness = key.first;
      s.session_id = key.second;
      a.sessions.push_back(std::move(s));
      members.emplace_back();
    }
    q.session = it->second;
    members[it->second].push_back(q.n - 1);
  }
  return members;
}

// Roles from conversations; the main one has the most prompt tokens.
void assign_roles(Analysis& a, const std::vector<int>& members, std::map<uint64_t, std::vector<int>>& convs) {
  for (int i : members) convs[conversation_of(a.requests[i])].push_back(i);
  uint64_t main = 0, best = 0;
  bool any = false;
  for (auto& [conv, idx] : convs) {
    uint64_t sum = 0;
    for (int i : idx) sum += a.requests[i].prompt_tokens;
    if (!any || sum > best) main = conv, best = sum, any = true;
  }
  for (auto& [conv, idx] : convs)
    for (int i : idx) a.requests[i].role = conv == main ? "main" : idx.size() >= 2 ? "subagent" : "side";
}

// Turns: a main request with the user's own new content starts one (the same
// content again is a retry); other requests join the turn in progress.
void assign_turns(Analysis& a, Session& s, const std::vector<int>& members) {
  int turn = 1;
  bool any_main = false;  // the first turn is under way once a main request was seen
  uint64_t last_hash = 0;
  for (int i : members) {
    Request& q = a.requests[i];
    const auto& an = q.record->anatomy();
    if (q.role == "main" && an.new_user_turn() && (!any_main || an.new_content_hash() != last_hash)) {
      if (any_main) ++turn;
      last_hash = an.new_content_hash();
    }
    any_main = any_main || q.role == "main";
    q.turn = turn;
    if (static_cast<int>(s.turns.size()) < turn) s.turns.emplace_back().turn = turn;
    Turn& t = s.turns[turn - 1];
    t.requests.push_back(q.n);
    (q.role == "main" ? t.main : q.role == "subagent" ? t.subagent : t.side)++;
    t.prompt_tokens += q.prompt_tokens;
    t.output_tokens += q.record->output_tokens();
    t.cost_usd += q.record->cost_usd();
    if (q.role == "subagent") t.subagent_cost_usd += q.record->cost_usd();
    if (q.role == "side") t.side_cost_usd += q.record->cost_usd();
  }
}

void unchanged_prefixes(Analysis& a, const std::map<uint64_t, std::vector<int>>& convs) {
  for (const auto& [conv, idx] : convs)
    for (size_t k = 1; k < idx.size(); ++k) {
      Request& q = a.requests[idx[k]];
      const auto& cur = q.record->anatomy();
      uint64_t bytes = shared_prefix_bytes(a.requests[idx[k - 1]].record->anatomy(), cur);
      q.unchanged_prefix_tokens = detail::scaled(bytes, total_bytes(cur), q.prompt_tokens);
    }
}

void add_totals(Analysis& a) {
  std::map<std::pair<std::string, std::string>, ModelCost> models;
  for (const Request& q : a.requests) {
    const v1::ApiRequest& r = *q.record;
    Totals& t = a.totals;
    t.requests++;
    t.cost_usd += r.cost_usd();
    if (r.cost_source() == "unknown_model") t.unpriced_requests++;
    t.input_tokens += r.input_tokens();
    t.cache_read_tokens += r.cache_read_tokens();
    t.cache_write_tokens += r.cache_write_tokens();
    t.output_tokens += r.output_tokens();
    t.prompt_tokens += q.prompt_tokens;
    ModelCost& m = models[{r.provider(), r.model()}];
    m.provider = r.provider();
    m.model = r.model();
    m.requests++;
    m.cost_usd += r.cost_usd();
    m.tokens += q.prompt_tokens + r.output_tokens();
    Session& s = a.sessions[q.session];
    s.requests++;
    s.cost_usd += r.cost_usd();
  }
  for (auto& [k, m] : models) a.by_model.push_back(m);
  std::stable_sort(a.by_model.begin(), a.by_model.end(),
                   [](const ModelCost& x, const ModelCost& y) { return x.cost_usd > y.cost_usd; });
}

}  // namespace

Analysis analyze(std::vector<v1::ApiRequest> records, const pricing::PriceTable& prices, Scope scope,
                 const Options& opts) {
  Analysis a;
  a.scope = std::move(scope);
  a.records = std::move(records);
  build_requests(a, prices);
  std::vector<std::vector<int>> members = group_sessions(a);
  for (size_t s = 0; s < members.size(); ++s) {
    std::map<uint64_t, std::vector<int>> convs;
    assign_roles(a, members[s], convs);
    assign_turns(a, a.sessions[s], members[s]);
    unchanged_prefixes(a, convs);
    detail::find_all(a, static_cast<int>(s), members[s], convs, opts);
  }
  add_totals(a);
  detail::summarise(a);
  return a;
}

}  // namespace tt::analysis
