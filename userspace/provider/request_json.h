// Request bodies are the bulk of LLM API traffic (a whole conversation, resent on
// every call) and decoding needs only a few of their fields. These read them with
// simdjson instead of building a DOM: RequestJson pulls the wanted fields in one
// On-Demand pass that skips everything else, json_string_bytes() totals the string
// values for estimation. Neither throws; bad input reads as absent / nullopt.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tt::provider {

// The value at one path of a request body.
struct BodyValue {
  enum class Kind : uint8_t { Absent, String, Integer, Bool, Other };  // Other: null, float, array, object
  Kind kind = Kind::Absent;
  std::string text;  // String: unescaped; Integer: decimal, as written
  bool boolean = false;

  bool present() const { return kind != Kind::Absent; }
};

class RequestJson {
 public:
  // Reads the values at `paths` (dotted member names, "metadata.user_id"; views
  // that must outlive this object). `readable`: bytes readable from body.data()
  // (an owning string's capacity); with room for simdjson's padding the body is
  // read in place, otherwise from a padded copy.
  // count_text: also total the text of its string values in the same pass
  // (text_bytes(), as json_string_bytes() counts it).
  RequestJson(std::string_view body, std::span<const std::string_view> paths, size_t readable = 0,
              bool count_text = false);

  // The top level is an object and its members were walked to the end without an
  // error. Values met before an error (a cut-off body) are still read.
  bool is_object() const { return object_; }
  // Absent unless `path` was one of the paths asked for and is in the body.
  const BodyValue& at(std::string_view path) const;
  // With count_text, once the whole object was read: json_string_bytes(body).
  std::optional<uint64_t> text_bytes() const { return text_bytes_; }

 private:
  std::span<const std::string_view> paths_;
  std::vector<BodyValue> values_;  // parallel to paths_
  bool object_ = false;
  std::optional<uint64_t> text_bytes_;
};

// Total UTF-8 bytes of every string value in a JSON document (keys not counted),
// or nullopt if `body` is not one whole valid JSON document (or nests deeper than
// 1024 levels). A leading UTF-8 byte order mark is skipped. `readable` as for
// RequestJson.
std::optional<uint64_t> json_string_bytes(std::string_view body, size_t readable = 0);

}  // namespace tt::provider
