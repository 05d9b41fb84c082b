// Attribute lists as the mapping produces them and OTLP carries them. Plain
// values (not protobuf) so the aggregator can key its series by them.
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "opentelemetry/proto/common/v1/common.pb.h"

namespace tt::otlp {

namespace common = ::opentelemetry::proto::common::v1;

using AttrValue = std::variant<std::string, int64_t, bool, std::vector<std::string>>;

struct Attr {
  std::string key;
  AttrValue value;
  auto operator<=>(const Attr&) const = default;
};

// In the mapping table's order, so equal sets compare equal as vectors.
using Attrs = std::vector<Attr>;

void add_attributes(const Attrs& attrs, google::protobuf::RepeatedPtrField<common::KeyValue>* out);

}  // namespace tt::otlp
