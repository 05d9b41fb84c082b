#include "provider/json_util.h"

#include <cmath>

#include "protocol/sse.h"

namespace tt::provider::detail {
namespace {

constexpr std::string_view kSpace = " \t\r\n";

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

void parse_into(std::string_view s, Documents& d) { add_document(s, d); }

// Elements of a JSON array body that may be cut off anywhere: each element is
// delimited by a top-level ',' or the closing ']' and parsed on its own, so every
// element that arrived whole is kept. `s` starts just after the opening '['.
void split_array(std::string_view s, Documents& out) {
  size_t start = 0;
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        ++depth;
        break;
      case '}':
      case ']':
        if (depth == 0) {  // the array's own ']'
          parse_into(s.substr(start, i - start), out);
          return;
        }
        --depth;
        break;
      case ',':
        if (depth == 0) {
          parse_into(s.substr(start, i - start), out);
          start = i + 1;
        }
        break;
      default:
        break;
    }
  }
  // Cut off: the tail is kept only if it is a whole element (stream ended between
  // an element and the next ',').
  if (depth == 0 && !in_string) parse_into(s.substr(start), out);
}

}  // namespace

Documents parse_documents(std::string_view body) {
  Documents d;
  std::string_view t = trim(body);
  if (t.empty()) return d;
  if (t.front() == '{') {
    d.format = BodyFormat::Json;
    parse_into(t, d);
  } else if (t.front() == '[') {
    d.format = BodyFormat::JsonArray;
    split_array(t.substr(1), d);
  } else {
    d.format = BodyFormat::Sse;
    for (const auto& ev : protocol::parse_sse(body)) {
      std::string_view data = trim(ev.data);
      if (data == "[DONE]") continue;
      parse_into(data, d);
    }
  }
  return d;
}

bool add_document(std::string_view s, Documents& d) {
  s = trim(s);
  if (s.empty()) return false;
  auto doc = std::make_unique<simdjson::dom::document>();
  if (!parse_json(s, *doc)) return false;
  d.docs.push_back(doc->root());
  d.storage.push_back(std::move(doc));
  return true;
}

Documents parse_ndjson(std::string_view body) {
  Documents d;
  d.format = BodyFormat::NdJson;
  while (!body.empty()) {
    size_t nl = std::min(body.find('\n'), body.size());
    add_document(body.substr(0, nl), d);
    body.remove_prefix(std::min(nl + 1, body.size()));
  }
  return d;
}

std::optional<double> get_number(const json& obj, std::string_view key) {
  std::optional<json> m = get_member(obj, key);
  double v = 0;
  if (!m || m->get_double().get(v) || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

void skip_bom(std::string_view& s, size_t& readable) {
  if (!s.starts_with("\xEF\xBB\xBF")) return;
  s.remove_prefix(3);
  readable = readable >= 3 ? readable - 3 : 0;
}

simdjson::padded_string_view padded(std::string_view s, size_t readable, std::string& scratch) {
  if (readable >= s.size() + simdjson::SIMDJSON_PADDING) return simdjson::padded_string_view(s.data(), s.size(), readable);
  scratch.reserve(s.size() + simdjson::SIMDJSON_PADDING);
  scratch.assign(s);
  return simdjson::padded_string_view(scratch.data(), scratch.size(), scratch.capacity());
}

bool parse_json(std::string_view s, simdjson::dom::document& doc) {
  size_t readable = 0;
  skip_bom(s, readable);
  std::optional<simdjson::dom::parser> own_parser;
  std::optional<std::string> own_scratch;
  simdjson::dom::parser& parser = shared_for(s.size(), own_parser);
  simdjson::padded_string_view in = padded(s, readable, shared_for(s.size(), own_scratch));
  return !parser.parse_into_document(doc, in.data(), in.size(), /*realloc_if_needed=*/false).error();
}

std::optional<json> get_member(const json& obj, std::string_view key) {
  simdjson::dom::object o;
  if (obj.get(o)) return std::nullopt;
  std::optional<json> found;
  for (simdjson::dom::key_value_pair kv : o)
    if (kv.key == key) found = kv.value;
  return found;
}

std::optional<json> get_object(const json& obj, std::string_view key) {
  std::optional<json> m = get_member(obj, key);
  return m && m->is_object() ? m : std::nullopt;
}

std::optional<simdjson::dom::array> get_array(const json& obj, std::string_view key) {
  std::optional<json> m = get_member(obj, key);
  simdjson::dom::array a;
  if (!m || m->get(a)) return std::nullopt;
  return a;
}

std::string get_string(const json& obj, std::string_view key) {
  std::optional<json> m = get_member(obj, key);
  std::string_view s;
  return m && !m->get(s) ? std::string(s) : std::string();
}

std::optional<uint64_t> get_count(const json& obj, std::string_view key) {
  std::optional<json> m = get_member(obj, key);
  if (!m) return std::nullopt;
  switch (m->type()) {
    case simdjson::dom::element_type::UINT64:
      return m->get_uint64().value_unsafe();
    case simdjson::dom::element_type::INT64: {
      int64_t v = m->get_int64().value_unsafe();
      return v >= 0 ? std::optional<uint64_t>(static_cast<uint64_t>(v)) : std::nullopt;
    }
    case simdjson::dom::element_type::DOUBLE: {
      double v = m->get_double().value_unsafe();
      // 2^64 exactly is the first double that does not fit.
      if (std::isfinite(v) && v >= 0 && v < 18446744073709551616.0 && std::floor(v) == v)
        return static_cast<uint64_t>(v);
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::string error_text(const json& err) {
  std::string_view s;
  if (!err.get(s)) return std::string(s);
  std::string kind = get_string(err, "code");
  if (kind.empty()) kind = get_string(err, "type");
  if (kind.empty()) kind = get_string(err, "status");
  std::string message = get_string(err, "message");
  if (kind.empty()) return message;
  if (message.empty()) return kind;
  return kind + ": " + message;
}

std::string document_error(const json& doc) {
  std::optional<json> err = get_member(doc, "error");
  if (err && (err->is_object() || err->is_string())) {
    std::string text = error_text(*err);
    return text.empty() ? "error" : text;
  }
  if (get_string(doc, "type") == "error") {
    std::string text = error_text(doc);
    return text.empty() ? "error" : text;
  }
  return {};
}

uint64_t string_bytes(const json& v, bool include_keys) {
  uint64_t total = 0;
  std::vector<json> stack{v};
  while (!stack.empty()) {
    json j = stack.back();
    stack.pop_back();
    // The type was checked: these conversions cannot fail.
    switch (j.type()) {
      case simdjson::dom::element_type::STRING:
        total += j.get_string_length().value_unsafe();
        break;
      case simdjson::dom::element_type::ARRAY:
        for (json e : simdjson::dom::array(j)) stack.push_back(e);
        break;
      case simdjson::dom::element_type::OBJECT:
        for (simdjson::dom::key_value_pair kv : simdjson::dom::object(j)) {
          if (include_keys) total += kv.key.size();
          stack.push_back(kv.value);
        }
        break;
      default:
        break;
    }
  }
  return total;
}

}  // namespace tt::provider::detail
