// A request body's anatomy in one simdjson On-Demand pass: every string value's
// text is measured from its raw token (never unescaped, never copied), each
// block's raw JSON is a view into the body, and the hashes are taken over those
// views once the pass is over (the prefix chain follows the provider's caching
// order, which need not be the order of the body's members).
//
// Messages are sorted into parts once all of them are known (which one is the
// last assistant message decides where history ends):
//   - system: the system prompt (Anthropic and Converse "system", Responses
//     "instructions", Gemini "systemInstruction", Ollama's generate "system")
//     and messages of role system or developer;
//   - tool_results: a message that carries a tool result, whole (Anthropic
//     tool_result blocks, Converse toolResult, Gemini functionResponse parts,
//     OpenAI and Ollama role "tool"/"function", Responses *_output items): text
//     beside the results (a harness's reminder) rides with them;
//   - new_content: the user messages after the last assistant message (the
//     model's turn: role assistant or model, Responses reasoning and *_call items);
//   - history: every other message.
//
// Cache markers are no prompt text and move from request to request (Claude
// Code puts cache_control on the newest message each time; the provider's cache
// does not depend on them): their members (and Converse's cachePoint blocks) are
// left out of the parts' bytes and out of every hash, so that a block hashes the
// same with or without them.
#include "provider/anatomy.h"

#include <simdjson.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>

#include "provider/json_util.h"
#include "provider/provider.h"

namespace tt::provider {
namespace {

namespace od = simdjson::ondemand;

constexpr size_t kMaxDepth = 1024;
constexpr uint32_t kDefaultTtl = 300;  // a cache marker without a ttl: 5 minutes

// How a wire format lays out its prompt.
enum class Dialect { None, Anthropic, Chat, Responses, Gemini, Converse };

Dialect dialect_of(WireFormat w) {
  switch (w) {
    case WireFormat::AnthropicMessages:
    case WireFormat::BedrockInvoke:  // Anthropic's body (other models' have no messages)
      return Dialect::Anthropic;
    case WireFormat::OpenAIChat:
    case WireFormat::Ollama:  // /api/chat as OpenAI's, /api/generate's "system" and "prompt"
      return Dialect::Chat;
    case WireFormat::OpenAIResponses:
      return Dialect::Responses;
    case WireFormat::Gemini:
      return Dialect::Gemini;
    case WireFormat::BedrockConverse:
      return Dialect::Converse;
    default:
      return Dialect::None;
  }
}

enum class Role : uint8_t { Other, User, Assistant, System, ToolResult };

struct Message {
  std::string_view raw;
  uint64_t bytes = 0;
  Role role = Role::Other;
  bool user = false;      // role "user" (Gemini: no role, a bare string): may open the conversation
  uint32_t results = 0;   // tool results it carries
  std::string_view largest_raw;  // the largest of them
  uint64_t largest_bytes = 0;
};

// What a member handler did with a member: taken, left to the generic walk, or failed.
enum class Took { Yes, No, Bad };
Took took(bool ok) { return ok ? Took::Yes : Took::Bad; }

std::string_view trim_end(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is(od::value& v, od::json_type want) {
  od::json_type t;
  return !v.type().get(t) && t == want;
}

bool is_marker(const od::raw_json_string& key) { return key == "cache_control" || key == "cachePoint"; }

// "5m" -> 300, "1h" -> 3600, "90s" -> 90; anything else is the default.
uint32_t ttl_seconds(std::string_view s) {
  uint64_t v = 0;
  size_t i = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9' && v < 1'000'000; ++i) v = v * 10 + (s[i] - '0');
  if (i == 0 || i + 1 != s.size()) return kDefaultTtl;
  uint64_t unit = s[i] == 's' ? 1 : s[i] == 'm' ? 60 : s[i] == 'h' ? 3600 : 0;
  return unit && v ? static_cast<uint32_t>(std::min<uint64_t>(v * unit, UINT32_MAX)) : kDefaultTtl;
}

struct StateFree {
  void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
};
using HashState = std::unique_ptr<XXH3_state_t, StateFree>;
HashState new_state() {
  HashState s(XXH3_createState());
  if (s) XXH3_64bits_reset(s.get());
  return s;
}

class Reader {
 public:
  Reader(Dialect d, od::document& doc, std::string_view in) : d_(d), doc_(doc), begin_(in.data()), end_(in.data() + in.size()) {}

  // The top-level object (and Code Assist's "request" inside it).
  bool top(od::object o, size_t depth) {
    uint64_t outside = 0;  // text outside the parts (model, settings): not counted
    return members(o, outside, depth, [&](const od::raw_json_string& key, od::value& x) {
      if (key == "tools" || (d_ == Dialect::Chat && key == "functions")) return took(tools(x, depth + 1));
      bool prompt = d_ == Dialect::Gemini ? key == "contents"
                    : d_ == Dialect::Responses ? key == "input"
                                              : key == "messages" || (d_ == Dialect::Chat && key == "prompt");
      if (prompt) return took(messages(x, depth + 1));
      bool system = d_ == Dialect::Gemini      ? key == "systemInstruction" || key == "system_instruction"
                    : d_ == Dialect::Responses ? key == "instructions"
                                               : key == "system";
      if (system) return took(this->system(x, depth + 1));
      if (d_ == Dialect::Converse && key == "toolConfig")
        return took(fields(x, outside, depth + 1, [&](const od::raw_json_string& k, od::value& y) {
          return k == "tools" ? took(tools(y, depth + 2)) : Took::No;
        }));
      od::object inner;
      if (d_ == Dialect::Gemini && key == "request" && depth == 0 && is(x, od::json_type::object))
        return took(!x.get_object().get(inner) && top(inner, depth + 1));
      return Took::No;
    });
  }

  Anatomy finish();

 private:
  // The text of every string value under v (keys are no text), and the cache
  // markers met; false on a JSON error or past kMaxDepth.
  bool text(od::value& v, uint64_t& n, size_t depth) {
    od::json_type t;
    if (depth > kMaxDepth || v.type().get(t)) return false;
    switch (t) {
      case od::json_type::string: {
        return detail::add_unescaped_length(v.raw_json_token(), n);
      }
      case od::json_type::array: {
        od::array arr;
        if (v.get_array().get(arr)) return false;
        for (auto e : arr) {
          od::value x;
          if (e.get(x) || !element(x, [&](od::value& y) { return text(y, n, depth + 1); })) return false;
        }
        return true;
      }
      case od::json_type::object: {
        od::object o;
        return !v.get_object().get(o) && members(o, n, depth, [](const od::raw_json_string&, od::value&) { return Took::No; });
      }
      default:
        return true;  // numbers, booleans, null: no text
    }
  }

  // The members of `o` as text, except those `take(key, value)` takes; a cache
  // marker is counted and cut out.
  template <class Take>
  bool members(od::object& o, uint64_t& n, size_t depth, Take&& take) {
    size_t count = 0, markers = 0;
    for (auto f : o) {
      od::raw_json_string key;
      od::value x;
      if (f.key().get(key) || f.value().get(x)) return false;
      ++count;
      Took r = take(key, x);
      if (r == Took::Bad) return false;
      if (r == Took::Yes) continue;
      if (!is_marker(key)) {
        if (!text(x, n, depth + 1)) return false;
        continue;
      }
      bool counted = false;
      if (!marker(x, depth + 1, counted)) return false;
      const char* at = key.raw() - 1;  // the key's opening quote
      if (counted && at >= begin_ && *at == '"') cut(at, value_end());
      markers += counted;
    }
    pure_marker_ = count == 1 && markers == 1;
    return true;
  }

  // An array element walked with walk(x); one that holds nothing but a cache
  // marker (Converse's {"cachePoint": {...}}) is cut out whole. False on an
  // error; `pure` (if given) says whether it was such an element.
  template <class Walk>
  bool element(od::value& x, Walk&& walk, bool* pure = nullptr) {
    const char* at = x.raw_json_token().data();
    pure_marker_ = false;
    if (!walk(x)) return false;
    bool marker_only = pure_marker_ && *at == '{';
    if (marker_only) cut(at, value_end());
    if (pure) *pure = marker_only;
    pure_marker_ = false;
    return true;
  }

  // Where the value just walked ends: before the token after it.
  const char* value_end() {
    const char* at = end_;
    if (auto loc = doc_.current_location(); loc.error() == simdjson::SUCCESS) at = loc.value_unsafe();
    while (at > begin_ && is_space(at[-1])) --at;
    return at;
  }

  // Leaves [b, e) (a member or an element) out of the hashes, with one comma
  // beside it so that what remains is the JSON without it. Cuts stay in order
  // and apart: one inside a later one is replaced by it.
  void cut(const char* b, const char* e) {
    const char* p = b;
    while (p > begin_ && is_space(p[-1])) --p;
    if (p > begin_ && p[-1] == ',') {
      b = p - 1;
    } else {
      const char* q = e;
      while (q < end_ && is_space(*q)) ++q;
      if (q < end_ && *q == ',') {
        e = q + 1;
        while (e < end_ && is_space(*e)) ++e;
      }
    }
    while (!cuts_.empty() && cuts_.back().first >= b) cuts_.pop_back();
    if (!cuts_.empty() && cuts_.back().second > b) b = cuts_.back().second;
    if (b < e) cuts_.emplace_back(b, e);
  }

  // Feeds `raw` to `state` without the cuts in it; the bytes fed.
  uint64_t feed(XXH3_state_t* state, std::string_view raw) const {
    const char* p = raw.data();
    const char* e = p + raw.size();
    auto it = std::upper_bound(cuts_.begin(), cuts_.end(), p, [](const char* at, const auto& c) { return at < c.second; });
    uint64_t n = 0;
    auto take = [&](const char* to) {
      if (to > p) XXH3_64bits_update(state, p, to - p), n += to - p;
    };
    for (; it != cuts_.end() && it->first < e; ++it) {
      take(std::max(it->first, p));
      p = std::max(p, std::min(it->second, e));
    }
    take(e);
    return n;
  }
  uint64_t hash(std::string_view raw) const {
    HashState s = new_state();
    if (!s) return 0;
    feed(s.get(), raw);
    return XXH3_64bits_digest(s.get());
  }
  // The same for a value that should be an object (anything else is text).
  template <class Take>
  bool fields(od::value& v, uint64_t& n, size_t depth, Take&& take) {
    od::json_type t;
    if (depth > kMaxDepth || v.type().get(t)) return false;
    if (t != od::json_type::object) return text(v, n, depth);
    od::object o;
    return !v.get_object().get(o) && members(o, n, depth, take);
  }

  // A string value, unescaped (a role, a type, a name); other values are text.
  bool word(od::value& v, uint64_t& n, size_t depth, std::string_view& out) {
    od::json_type t;
    if (v.type().get(t)) return false;
    if (t != od::json_type::string) return text(v, n, depth);
    if (v.get_string().get(out)) return false;
    n += out.size();
    return true;
  }

  // A cache_control / cachePoint object: one breakpoint (`counted`) and its TTL.
  // Its text is no prompt.
  bool marker(od::value& v, size_t depth, bool& counted) {
    uint64_t none = 0;
    od::json_type t;
    if (v.type().get(t)) return false;
    if (t != od::json_type::object) return text(v, none, depth);  // "cache_control": null
    uint32_t ttl = kDefaultTtl;
    bool ok = fields(v, none, depth, [&](const od::raw_json_string& key, od::value& x) {
      std::string_view s;
      if (!(key == "ttl")) return Took::No;
      if (!word(x, none, depth + 1, s)) return Took::Bad;
      if (!s.empty()) ttl = ttl_seconds(s);
      return Took::Yes;
    });
    counted = true;
    ++a_.cache_breakpoints;
    a_.cache_ttl_seconds = std::max(a_.cache_ttl_seconds, ttl);
    return ok;
  }

  // Walks v with walk(v) and sets `raw` to its JSON text as sent.
  template <class Walk>
  bool spanned(od::value& v, std::string_view& raw, Walk&& walk) {
    std::string_view tok = v.raw_json_token();
    od::json_type t;
    if (v.type().get(t) || !walk(v)) return false;
    if (t != od::json_type::object && t != od::json_type::array) {  // a scalar is its token
      raw = trim_end(tok);
      return true;
    }
    // Walked to its end: the iterator is at the token after it (or at the end).
    const char* at = value_end();
    if (at < tok.data()) return false;
    raw = std::string_view(tok.data(), at - tok.data());
    return true;
  }

  bool system(od::value& v, size_t depth) {
    if (v.is_null().value_unsafe()) return true;
    PartSize& p = a_.parts[kSystem];
    std::string_view raw;
    if (!spanned(v, raw, [&](od::value& x) { return text(x, p.bytes, depth); })) return false;
    system_.push_back(raw);
    ++p.count;
    return true;
  }

  void add_tool(std::string_view name, uint64_t bytes) {
    ++a_.parts[kTools].count;
    if (a_.tool_names.size() >= kMaxToolNames) return;
    a_.tool_names.push_back(tool_name(name));
    a_.tool_bytes.push_back(bytes);
  }

  // "tools": each element is a block of the chain.
  bool tools(od::value& v, size_t depth) {
    od::json_type t;
    od::array arr;
    if (v.type().get(t)) return false;
    if (t != od::json_type::array) return text(v, a_.parts[kTools].bytes, depth);
    if (v.get_array().get(arr)) return false;
    for (auto e : arr) {
      od::value x;
      std::string_view raw;
      bool marker_only = false;
      auto walk = [&](od::value& y) {
        return spanned(y, raw, [&](od::value& z) { return d_ == Dialect::Gemini ? gemini_tool(z, depth + 1) : tool(z, depth + 1); });
      };
      if (e.get(x) || !element(x, walk, &marker_only)) return false;
      if (!marker_only) tools_.push_back(raw);  // a Converse cachePoint is no block
    }
    return true;
  }

  // One tool: its "name", else its "function" or "toolSpec" (Converse) "name",
  // else its "type" (a provider's own tool). Without any (a Converse cachePoint)
  // it is no tool, and its bytes count in the part only.
  bool tool(od::value& v, size_t depth) {
    uint64_t n = 0;
    std::string_view name, inner, type;
    bool ok = fields(v, n, depth, [&](const od::raw_json_string& key, od::value& x) {
      if (key == "name") return took(word(x, n, depth + 1, name));
      if (key == "type") return took(word(x, n, depth + 1, type));
      if (key == "function" || key == "toolSpec") return took(named(x, n, depth + 1, inner));
      return Took::No;
    });
    if (!ok) return false;
    a_.parts[kTools].bytes += n;
    std::string_view id = !name.empty() ? name : !inner.empty() ? inner : type;
    if (!id.empty()) add_tool(id, n);
    return true;
  }

  // An object's text, and its "name".
  bool named(od::value& v, uint64_t& n, size_t depth, std::string_view& name) {
    return fields(v, n, depth, [&](const od::raw_json_string& key, od::value& x) {
      return key == "name" ? took(word(x, n, depth + 1, name)) : Took::No;
    });
  }

  // A Gemini Tool: each of its functionDeclarations is a tool, and each other
  // member (googleSearch, codeExecution...) one named by its key.
  bool gemini_tool(od::value& v, size_t depth) {
    uint64_t& total = a_.parts[kTools].bytes;
    return fields(v, total, depth, [&](const od::raw_json_string& key, od::value& x) {
      if (key == "functionDeclarations" || key == "function_declarations") {
        od::array decls;
        if (!is(x, od::json_type::array)) return Took::No;
        if (x.get_array().get(decls)) return Took::Bad;
        for (auto e : decls) {
          od::value d;
          uint64_t n = 0;
          std::string_view name;
          if (e.get(d) || !named(d, n, depth + 2, name)) return Took::Bad;
          total += n;
          add_tool(name, n);
        }
        return Took::Yes;
      }
      if (is_marker(key)) return Took::No;
      uint64_t n = 0;
      if (!text(x, n, depth + 1)) return Took::Bad;
      total += n;
      add_tool(key_text(key), n);
      return Took::Yes;
    });
  }

  // A key's text as written (a name without escapes).
  std::string_view key_text(const od::raw_json_string& key) const {
    const char* k = key.raw();
    const void* q = k < end_ ? memchr(k, '"', end_ - k) : nullptr;
    return q ? std::string_view(k, static_cast<const char*>(q) - k) : std::string_view();
  }

  // "messages", "contents", "input", "prompt": an array of messages, or one
  // string (a single user message).
  bool messages(od::value& v, size_t depth) {
    od::json_type t;
    if (v.type().get(t)) return false;
    if (t == od::json_type::string) return message(v, depth);
    if (t != od::json_type::array) {
      uint64_t outside = 0;
      return text(v, outside, depth);
    }
    od::array arr;
    if (v.get_array().get(arr)) return false;
    for (auto e : arr) {
      od::value x;
      if (e.get(x) || !message(x, depth + 1)) return false;
    }
    return true;
  }

  bool message(od::value& v, size_t depth) {
    Message m;
    std::string_view role, type;
    bool bare = false;
    auto take = [&](const od::raw_json_string& key, od::value& x) {
      if (key == "role") return took(word(x, m.bytes, depth + 1, role));
      if (key == "type") return took(word(x, m.bytes, depth + 1, type));
      if (key == "content" || key == "parts") return took(blocks(x, m, depth + 1));
      return Took::No;
    };
    auto walk = [&](od::value& x) {
      od::json_type t;
      if (x.type().get(t)) return false;
      bare = t == od::json_type::string;
      return fields(x, m.bytes, depth, take);
    };
    if (!spanned(v, m.raw, walk)) return false;
    classify(m, role, type, bare);
    messages_.push_back(m);
    return true;
  }

  // A message's content blocks (Gemini: parts); a tool result among them is
  // an item of its own.
  bool blocks(od::value& v, Message& m, size_t depth) {
    od::json_type t;
    if (v.type().get(t)) return false;
    if (t != od::json_type::array) return text(v, m.bytes, depth);  // "content": "text"
    od::array arr;
    if (v.get_array().get(arr)) return false;
    for (auto e : arr) {
      od::value x;
      uint64_t n = 0;
      bool result = false;
      std::string_view raw, type;
      auto take = [&](const od::raw_json_string& key, od::value& y) {
        if (key == "type") return took(word(y, n, depth + 2, type));
        result |= key == "toolResult" || key == "functionResponse" || key == "function_response";
        return Took::No;
      };
      auto walk = [&](od::value& y) { return spanned(y, raw, [&](od::value& z) { return fields(z, n, depth + 1, take); }); };
      if (e.get(x) || !element(x, walk)) return false;
      m.bytes += n;
      if (result || type == "tool_result") add_result(m, raw, n);
    }
    return true;
  }

  static void add_result(Message& m, std::string_view raw, uint64_t bytes) {
    if (m.results++ == 0 || bytes > m.largest_bytes) {
      m.largest_raw = raw;
      m.largest_bytes = bytes;
    }
  }

  void classify(Message& m, std::string_view role, std::string_view type, bool bare) const {
    if (role == "user" || (role.empty() && (bare || d_ == Dialect::Gemini || type == "message"))) {
      m.role = Role::User;
      m.user = true;
    } else if (role == "assistant" || role == "model" ||
               (role.empty() && (type == "reasoning" || type.ends_with("_call")))) {
      m.role = Role::Assistant;
      return;  // a model's turn carries no tool results
    } else if (role == "system" || role == "developer") {
      m.role = Role::System;
      return;
    }
    // The message is a tool result itself (OpenAI, Ollama, Responses items).
    if (m.results == 0 && (role == "tool" || role == "function" || type.ends_with("_output")))
      add_result(m, m.raw, m.bytes);
    if (m.results) m.role = Role::ToolResult;
  }

  static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

  Dialect d_;
  od::document& doc_;
  const char* begin_;  // the input
  const char* end_;
  std::vector<std::pair<const char*, const char*>> cuts_;  // cache markers: [begin, end), in order
  bool pure_marker_ = false;  // the object just walked held a cache marker and nothing else
  Anatomy a_;
  std::vector<std::string_view> system_, tools_;
  std::vector<Message> messages_;
};

Anatomy Reader::finish() {
  size_t last_assistant = messages_.size();
  for (size_t i = 0; i < messages_.size(); ++i)
    if (messages_[i].role == Role::Assistant) last_assistant = i;
  HashState fresh = new_state();
  if (!fresh) return {};
  const Message* largest = nullptr;
  for (size_t i = 0; i < messages_.size(); ++i) {
    const Message& m = messages_[i];
    if (m.user && !a_.conversation_hash) a_.conversation_hash = hash(m.raw);
    Part p = kHistory;
    uint32_t items = 1;
    switch (m.role) {
      case Role::System:
        p = kSystem;
        break;
      case Role::ToolResult:
        p = kToolResults;
        items = m.results;
        if (!largest || m.largest_bytes > largest->largest_bytes) largest = &m;
        break;
      case Role::User:
        if (last_assistant == messages_.size() || i > last_assistant) {
          p = kNewContent;
          feed(fresh.get(), m.raw);
        }
        break;
      default:
        break;
    }
    a_.parts[p].bytes += m.bytes;
    a_.parts[p].count += items;
  }
  a_.messages = static_cast<uint32_t>(std::min<size_t>(messages_.size(), UINT32_MAX));
  a_.new_user_turn = a_.parts[kNewContent].count > 0;
  if (a_.new_user_turn) a_.new_content_hash = XXH3_64bits_digest(fresh.get());
  if (largest) {
    a_.largest_tool_result_hash = hash(largest->largest_raw);
    a_.largest_tool_result_bytes = largest->largest_bytes;
  }

  // The prefix chain, in the order the provider caches.
  std::vector<std::string_view> chain;
  chain.reserve(system_.size() + tools_.size() + messages_.size());
  auto append = [&chain](const std::vector<std::string_view>& blocks) { chain.insert(chain.end(), blocks.begin(), blocks.end()); };
  if (d_ == Dialect::Responses || d_ == Dialect::Gemini) {
    append(system_);
    append(tools_);
  } else {
    append(tools_);
    append(system_);
  }
  for (const Message& m : messages_) chain.push_back(m.raw);
  if (chain.empty()) return {};
  HashState prefix = new_state();
  if (!prefix) return {};
  uint64_t bytes = 0;
  for (size_t k = 0; k < chain.size(); ++k) {
    bytes += feed(prefix.get(), chain[k]);
    if (k + 1 < kMaxPrefixBlocks || k + 1 == chain.size()) {
      a_.prefix_hashes.push_back(XXH3_64bits_digest(prefix.get()));
      a_.prefix_bytes.push_back(bytes);
    }
  }
  return std::move(a_);
}

}  // namespace

Anatomy read_anatomy(WireFormat wire, std::string_view body, size_t readable) {
  Dialect d = dialect_of(wire);
  if (d == Dialect::None) return {};
  detail::skip_bom(body, readable);
  std::optional<od::parser> own_parser;
  std::optional<std::string> own_scratch;
  od::parser& parser = detail::shared_for(body.size(), own_parser);
  simdjson::padded_string_view in = detail::padded(body, readable, detail::shared_for(body.size(), own_scratch));
  od::document doc;
  od::object top;
  if (parser.iterate(in).get(doc) || doc.get_object().get(top)) return {};
  Reader reader(d, doc, std::string_view(in.data(), in.size()));
  // Walked to its end, and nothing but whitespace after it.
  if (!reader.top(top, 0) || doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return {};
  return reader.finish();
}

std::array<uint64_t, kPartCount> part_tokens(const Anatomy& a, uint64_t prompt_tokens, bool exact) {
  std::array<uint64_t, kPartCount> out{};
  unsigned __int128 total = 0;
  for (const PartSize& p : a.parts) total += p.bytes;
  if (!exact) {
    for (size_t i = 0; i < kPartCount; ++i) out[i] = estimate_tokens_from_text_bytes(a.parts[i].bytes);
    return out;
  }
  if (total == 0) return out;
  // Largest remainder: each part its floor, then one more token to the parts
  // with the largest remainders (the earlier part on a tie) until they add up.
  std::array<unsigned __int128, kPartCount> rem{};
  uint64_t given = 0;
  for (size_t i = 0; i < kPartCount; ++i) {
    unsigned __int128 q = static_cast<unsigned __int128>(a.parts[i].bytes) * prompt_tokens;
    out[i] = static_cast<uint64_t>(q / total);
    rem[i] = q % total;
    given += out[i];
  }
  std::array<size_t, kPartCount> order{};
  for (size_t i = 0; i < kPartCount; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&rem](size_t x, size_t y) { return rem[x] > rem[y]; });
  for (size_t k = 0; k < prompt_tokens - given && k < kPartCount; ++k) ++out[order[k]];
  return out;
}

}  // namespace tt::provider
