#include "provider/request_json.h"

#include <simdjson.h>

#include "provider/json_util.h"

namespace tt::provider {
namespace {

namespace od = simdjson::ondemand;

constexpr size_t kMaxPathDepth = 8;

// How a wanted dotted path relates to the member names walked so far.
enum class Match { None, Leaf, Prefix };

Match match(std::string_view dotted, std::span<const std::string_view> keys) {
  for (size_t i = 0; i < keys.size(); ++i) {
    size_t dot = dotted.find('.');
    if (dotted.substr(0, dot) != keys[i]) return Match::None;
    if (dot == std::string_view::npos) return i + 1 == keys.size() ? Match::Leaf : Match::None;
    dotted.remove_prefix(dot + 1);
  }
  return Match::Prefix;
}

// One scalar; false on a JSON error. Arrays, objects and null are only typed:
// the caller's iteration skips them.
bool read_value(od::value& v, od::json_type type, BodyValue& out) {
  out = BodyValue{};
  switch (type) {
    case od::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s)) return false;
      out.kind = BodyValue::Kind::String;
      out.text.assign(s);
      return true;
    }
    case od::json_type::boolean:
      out.kind = BodyValue::Kind::Bool;
      return !v.get_bool().get(out.boolean);
    case od::json_type::number: {
      od::number n;
      if (v.get_number().get(n)) return false;  // 1e400, beyond 64 bits
      out.kind = BodyValue::Kind::Integer;
      if (n.is_int64())
        out.text = std::to_string(n.get_int64());
      else if (n.is_uint64())
        out.text = std::to_string(n.get_uint64());
      else
        out.kind = BodyValue::Kind::Other;
      return true;
    }
    default:
      out.kind = BodyValue::Kind::Other;
      return true;
  }
}

// Walks the members of nested objects that lie on a wanted path, once, in order.
class Walker {
 public:
  Walker(std::span<const std::string_view> paths, std::vector<BodyValue>& values) : paths_(paths), values_(values) {}

  bool walk(od::object obj, size_t depth) {
    for (auto field : obj) {
      if (field.unescaped_key().get(keys_[depth])) return false;
      if (!member(field.value(), depth + 1)) return false;
    }
    return true;
  }

 private:
  bool member(od::value v, size_t depth) {
    std::span<const std::string_view> keys(keys_, depth);
    size_t leaf = paths_.size();
    bool below = false;
    for (size_t i = 0; i < paths_.size(); ++i) {
      Match m = match(paths_[i], keys);
      if (m == Match::Leaf) leaf = i;
      below |= m == Match::Prefix;
    }
    if (leaf == paths_.size() && !below) return true;  // not wanted: skipped by the iteration
    od::json_type type;
    if (v.type().get(type)) return false;
    if (leaf < paths_.size() && !read_value(v, type, values_[leaf])) return false;
    if (!below || type != od::json_type::object || depth >= kMaxPathDepth) return true;
    od::object sub;
    return !v.get_object().get(sub) && walk(sub, depth);
  }

  std::span<const std::string_view> paths_;
  std::vector<BodyValue>& values_;
  std::string_view keys_[kMaxPathDepth];
};

}  // namespace

RequestJson::RequestJson(std::string_view body, std::span<const std::string_view> paths, size_t readable)
    : paths_(paths), values_(paths.size()) {
  detail::skip_bom(body, readable);
  std::optional<od::parser> own_parser;
  std::optional<std::string> own_scratch;
  od::parser& parser = detail::shared_for(body.size(), own_parser);
  od::document doc;
  if (parser.iterate(detail::padded(body, readable, detail::shared_for(body.size(), own_scratch))).get(doc)) return;
  od::object top;
  if (doc.get_object().get(top)) return;
  Walker walker(paths_, values_);
  // Done, and nothing but whitespace after the object.
  object_ = walker.walk(top, 0) && doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

const BodyValue& RequestJson::at(std::string_view path) const {
  static const BodyValue absent;
  for (size_t i = 0; i < paths_.size(); ++i)
    if (paths_[i] == path) return values_[i];
  return absent;
}

std::optional<uint64_t> json_string_bytes(std::string_view body) {
  std::optional<simdjson::dom::document> own;
  simdjson::dom::document& doc = detail::shared_for(body.size(), own);
  if (!detail::parse_json(body, doc)) return std::nullopt;
  return detail::string_bytes(doc.root(), /*include_keys=*/false);
}

}  // namespace tt::provider
