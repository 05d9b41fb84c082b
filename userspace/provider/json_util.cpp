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

void parse_into(std::string_view s, std::vector<json>& out) {
  s = trim(s);
  if (s.empty()) return;
  json j = json::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) out.push_back(std::move(j));
}

// Elements of a JSON array body that may be cut off anywhere: each element is
// delimited by a top-level ',' or the closing ']' and parsed on its own, so every
// element that arrived whole is kept. `s` starts just after the opening '['.
void split_array(std::string_view s, std::vector<json>& out) {
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
    parse_into(t, d.docs);
  } else if (t.front() == '[') {
    d.format = BodyFormat::JsonArray;
    split_array(t.substr(1), d.docs);
  } else {
    d.format = BodyFormat::Sse;
    for (const auto& ev : protocol::parse_sse(body)) {
      std::string_view data = trim(ev.data);
      if (data == "[DONE]") continue;
      parse_into(data, d.docs);
    }
  }
  return d;
}

const json* get_object(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? &*it : nullptr;
}

const json* get_array(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it != obj.end() && it->is_array() ? &*it : nullptr;
}

std::string get_string(const json& obj, std::string_view key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get_ref<const std::string&>() : std::string();
}

std::optional<uint64_t> get_count(const json& obj, std::string_view key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer()) {
    int64_t v = it->get<int64_t>();
    return v >= 0 ? std::optional<uint64_t>(static_cast<uint64_t>(v)) : std::nullopt;
  }
  if (it->is_number_float()) {
    double v = it->get<double>();
    // 2^64 exactly is the first double that does not fit.
    if (std::isfinite(v) && v >= 0 && v < 18446744073709551616.0 && std::floor(v) == v)
      return static_cast<uint64_t>(v);
  }
  return std::nullopt;
}

std::string error_text(const json& err) {
  if (err.is_string()) return err.get_ref<const std::string&>();
  std::string kind = get_string(err, "code");
  if (kind.empty()) kind = get_string(err, "type");
  if (kind.empty()) kind = get_string(err, "status");
  std::string message = get_string(err, "message");
  if (kind.empty()) return message;
  if (message.empty()) return kind;
  return kind + ": " + message;
}

std::string document_error(const json& doc) {
  if (!doc.is_object()) return {};
  auto it = doc.find("error");
  if (it != doc.end() && (it->is_object() || it->is_string())) {
    std::string text = error_text(*it);
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
  std::vector<const json*> stack{&v};
  while (!stack.empty()) {
    const json* j = stack.back();
    stack.pop_back();
    if (j->is_string()) {
      total += j->get_ref<const std::string&>().size();
    } else if (j->is_object()) {
      for (auto it = j->begin(); it != j->end(); ++it) {
        if (include_keys) total += it.key().size();
        stack.push_back(&it.value());
      }
    } else if (j->is_array()) {
      for (const auto& e : *j) stack.push_back(&e);
    }
  }
  return total;
}

}  // namespace tt::provider::detail
