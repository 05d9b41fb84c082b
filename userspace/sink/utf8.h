// Protobuf `string` fields must hold valid UTF-8, or the reader refuses the
// whole record (and a delimited stream after it). Traffic puts arbitrary bytes
// in process names, headers and paths: records are repaired before they are
// written, each invalid byte becoming U+FFFD.
#pragma once
#include <google/protobuf/message.h>

#include <string>
#include <string_view>

namespace tt::sink {

bool valid_utf8(std::string_view s);
// s with every byte that does not begin a valid UTF-8 sequence replaced by U+FFFD.
std::string repair_utf8(std::string_view s);
// Whether any string field of m (nested messages included) is invalid UTF-8.
bool needs_utf8_repair(const google::protobuf::Message& m);
// Repairs every string field of m in place.
void repair_utf8(google::protobuf::Message& m);

}  // namespace tt::sink
