#include "provider/request_json.h"

#include <simdjson.h>

#include <array>
#include <bit>
#include <cstring>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "provider/json_util.h"

namespace tt::provider {
namespace {

namespace od = simdjson::ondemand;

constexpr size_t kMaxPathDepth = 8;

// Hex digits of a \\uXXXX escape at s[at..at+4), or -1.
int hex4(std::string_view s, size_t at) {
  if (at + 4 > s.size()) return -1;
  int v = 0;
  for (size_t k = at; k < at + 4; ++k) {
    char c = s[k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// The two-character escapes (\n, \", ...): each stands for one byte.
constexpr std::array<bool, 256> kShortEscape = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : std::string_view("\"\\/bfnrt")) t[c] = true;
  return t;
}();

// The escape at s[j] (a backslash): adds what it saves on the string's length
// and moves j past it; false if it is no valid escape.
bool escape_at(std::string_view s, size_t& j, uint64_t& saved) {
  if (j + 1 >= s.size()) return false;
  unsigned char c = s[j + 1];
  if (c != 'u') {
    saved += 1;
    j += 2;
    return kShortEscape[c];
  }
  int cp = hex4(s, j + 2);
  if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) return false;
  if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair: 12 characters for one 4-byte character
    int low = j + 7 < s.size() && s[j + 6] == '\\' && s[j + 7] == 'u' ? hex4(s, j + 8) : -1;
    saved += 12 - 4;
    j += 12;
    return low >= 0xDC00 && low <= 0xDFFF;
  }
  saved += 6 - (cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3);
  j += 6;
  return true;
}

#ifdef __SSE2__
// Where a block's characters are one of the escapes \" \/ \b \f \n \r \t stand for
// (not \\ nor \u, which need a closer look): a bit per character.
unsigned short_escaped(__m128i chars) {
  auto is = [chars](char c) { return _mm_cmpeq_epi8(chars, _mm_set1_epi8(c)); };  // constants, written out
  __m128i hit = _mm_or_si128(_mm_or_si128(_mm_or_si128(is('"'), is('/')), _mm_or_si128(is('b'), is('f'))),
                             _mm_or_si128(_mm_or_si128(is('n'), is('r')), is('t')));
  return _mm_movemask_epi8(hit);
}

// The bits set in a 16-bit mask (std::popcount is a library call without -mpopcnt).
unsigned bits16(unsigned m) {
  m -= (m >> 1) & 0x5555;
  m = (m & 0x3333) + ((m >> 2) & 0x3333);
  m = (m + (m >> 4)) & 0x0F0F;
  return (m + (m >> 8)) & 0x1F;
}
#endif

}  // namespace

// The text of a request is mostly long strings, code with an escape every few
// dozen bytes among them: measured without unescaping (the string's length less
// what its escapes save), 16 bytes at a time where SSE2 is there.
bool detail::add_unescaped_length(std::string_view tok, uint64_t& n) {
  while (!tok.empty() && tok.back() != '"') tok.remove_suffix(1);
  if (tok.size() < 2 || tok.front() != '"') return false;
  std::string_view s = tok.substr(1, tok.size() - 2);
  uint64_t saved = 0;
  size_t i = 0;
#ifdef __SSE2__
  auto load = [&s](size_t at) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + at)); };
  const __m128i slash = _mm_set1_epi8('\\');
  while (i + 17 <= s.size()) {  // a block, and the character after it
    unsigned b = _mm_movemask_epi8(_mm_cmpeq_epi8(load(i), slash));
    // No backslash, or each starts a short escape: one byte saved each.
    if (b == 0 || (b & ~short_escaped(load(i + 1))) == 0) {
      saved += bits16(b);
      i += 16;
      continue;
    }
    // Else one escape at a time, from the first to past the block.
    size_t stop = i + 16, j = i + std::countr_zero(b);
    while (j < stop) {
      if (!escape_at(s, j, saved)) return false;
      while (j < stop && s[j] != '\\') ++j;
    }
    i = j;
  }
#endif
  while (i < s.size()) {
    const void* p = memchr(s.data() + i, '\\', s.size() - i);
    if (!p) break;
    i = static_cast<const char*>(p) - s.data();
    if (!escape_at(s, i, saved)) return false;
  }
  n += s.size() - saved;
  return true;
}

namespace {

constexpr size_t kMaxDepth = 1024;

// Adds the unescaped text of every string value under v (keys not counted);
// false on a JSON error. Scalars are read too, so that a bad one is an error,
// as it would be for a whole-document parse.
// A string's text. A value's is measured from its raw token; a document that
// is one string is read (unescaped) so that it counts as consumed.
bool add_string(od::value& v, uint64_t& n) { return detail::add_unescaped_length(v.raw_json_token(), n); }
bool add_string(od::document& d, uint64_t& n) {
  std::string_view s;
  if (d.get_string().get(s)) return false;
  n += s.size();
  return true;
}

// V: an od::value, or a whole od::document (its top level may be a scalar,
// which On-Demand cannot hand out as a value).
template <class V>
bool add_text(V& v, uint64_t& n, size_t depth) {
  od::json_type type;
  if (v.type().get(type) || depth > kMaxDepth) return false;
  switch (type) {
    case od::json_type::string: {
      return add_string(v, n);
    }
    case od::json_type::array: {
      od::array a;
      if (v.get_array().get(a)) return false;
      for (auto e : a) {
        od::value x;
        if (e.get(x) || !add_text(x, n, depth + 1)) return false;
      }
      return true;
    }
    case od::json_type::object: {
      od::object o;
      if (v.get_object().get(o)) return false;
      for (auto f : o) {
        od::value x;
        if (f.value().get(x) || !add_text(x, n, depth + 1)) return false;
      }
      return true;
    }
    case od::json_type::number: {
      od::number num;
      return !v.get_number().get(num);
    }
    case od::json_type::boolean: {
      bool b;
      return !v.get_bool().get(b);
    }
    case od::json_type::null:
      return v.is_null().value_unsafe();
  }
  return false;
}


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
  // text: also total the text of every string value (see json_string_bytes).
  Walker(std::span<const std::string_view> paths, std::vector<BodyValue>& values, uint64_t* text)
      : paths_(paths), values_(values), text_(text) {}

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
    if (leaf == paths_.size() && !below)  // not wanted: skipped by the iteration, or only counted
      return !text_ || add_text(v, *text_, depth);
    od::json_type type;
    if (v.type().get(type)) return false;
    if (leaf < paths_.size()) {
      if (!read_value(v, type, values_[leaf])) return false;
      if (type == od::json_type::string) {
        if (text_) *text_ += values_[leaf].text.size();
        return true;
      }
    }
    bool deeper = below && type == od::json_type::object && depth < kMaxPathDepth;
    if (!deeper) {
      // A leaf's scalar was read above; anything else (a string on a wanted
      // path's prefix too: "metadata": "x") still counts as text.
      bool read = leaf < paths_.size() && type != od::json_type::array && type != od::json_type::object;
      return !text_ || read || add_text(v, *text_, depth);
    }
    od::object sub;
    return !v.get_object().get(sub) && walk(sub, depth);
  }

  std::span<const std::string_view> paths_;
  std::vector<BodyValue>& values_;
  uint64_t* text_;
  std::string_view keys_[kMaxPathDepth];
};

}  // namespace

RequestJson::RequestJson(std::string_view body, std::span<const std::string_view> paths, size_t readable,
                         bool count_text)
    : paths_(paths), values_(paths.size()) {
  detail::skip_bom(body, readable);
  std::optional<od::parser> own_parser;
  std::optional<std::string> own_scratch;
  od::parser& parser = detail::shared_for(body.size(), own_parser);
  od::document doc;
  if (parser.iterate(detail::padded(body, readable, detail::shared_for(body.size(), own_scratch))).get(doc)) return;
  od::object top;
  if (doc.get_object().get(top)) return;
  uint64_t text = 0;
  Walker walker(paths_, values_, count_text ? &text : nullptr);
  // Done, and nothing but whitespace after the object.
  object_ = walker.walk(top, 0) && doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
  if (object_ && count_text) text_bytes_ = text;
}

const BodyValue& RequestJson::at(std::string_view path) const {
  static const BodyValue absent;
  for (size_t i = 0; i < paths_.size(); ++i)
    if (paths_[i] == path) return values_[i];
  return absent;
}

// One On-Demand pass: the strings are unescaped one at a time, no document is
// built (a DOM parse made this as costly as the rest of the pipeline).
std::optional<uint64_t> json_string_bytes(std::string_view body, size_t readable) {
  detail::skip_bom(body, readable);
  std::optional<od::parser> own_parser;
  std::optional<std::string> own_scratch;
  od::parser& parser = detail::shared_for(body.size(), own_parser);
  od::document doc;
  if (parser.iterate(detail::padded(body, readable, detail::shared_for(body.size(), own_scratch))).get(doc))
    return std::nullopt;
  uint64_t n = 0;
  // Nothing but whitespace after the value.
  if (!add_text(doc, n, 1) || doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return std::nullopt;
  return n;
}

}  // namespace tt::provider
