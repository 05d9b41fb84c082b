#include "sink/utf8.h"

#include <simdjson.h>

namespace tt::sink {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool valid_utf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no overlongs,
// no surrogates, nothing past U+10FFFF).
size_t sequence_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (!n || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  unsigned char d = b(i + 1);
  if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d > 0x9F) || (c == 0xF0 && d < 0x90) || (c == 0xF4 && d > 0x8F))
    return 0;
  return n;
}

// Calls fn(message, field, index) for every string field value (index -1: singular).
template <class Msg, class Fn>
void each_string(Msg& m, Fn&& fn) {
  const Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      int at = f->is_repeated() ? i : -1;
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING && f->type() == FieldDescriptor::TYPE_STRING) {
        fn(m, r, f, at);
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        if constexpr (std::is_const_v<Msg>)
          each_string(at < 0 ? r->GetMessage(m, f) : r->GetRepeatedMessage(m, f, at), fn);
        else
          each_string(*(at < 0 ? r->MutableMessage(&m, f) : r->MutableRepeatedMessage(&m, f, at)), fn);
      }
    }
  }
}

}  // namespace

std::string repair_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = sequence_length(s, i);
    if (n) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

bool needs_utf8_repair(const Message& m) {
  bool bad = false;
  each_string(m, [&](const Message& msg, const Reflection* r, const FieldDescriptor* f, int at) {
    std::string scratch;
    const std::string& v = at < 0 ? r->GetStringReference(msg, f, &scratch) : r->GetRepeatedStringReference(msg, f, at, &scratch);
    bad = bad || !valid_utf8(v);
  });
  return bad;
}

void repair_utf8(Message& m) {
  each_string(m, [](Message& msg, const Reflection* r, const FieldDescriptor* f, int at) {
    std::string scratch;
    const std::string& v = at < 0 ? r->GetStringReference(msg, f, &scratch) : r->GetRepeatedStringReference(msg, f, at, &scratch);
    if (valid_utf8(v)) return;
    std::string fixed = repair_utf8(v);
    if (at < 0)
      r->SetString(&msg, f, std::move(fixed));
    else
      r->SetRepeatedString(&msg, f, at, std::move(fixed));
  });
}

}  // namespace tt::sink
