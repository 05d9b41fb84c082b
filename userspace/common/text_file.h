// Small text helpers for files the privileged side reads whole (TLS material,
// token files) before it hands them on.
#pragma once
#include <string>
#include <string_view>

#include "common/result.h"

namespace tt {

// The whole file; the error names `what` (e.g. "--tls-cert") and the path.
Result<std::string> read_text_file(const std::string& path, const char* what);
// Without leading and trailing blanks (space, tab, carriage return).
std::string_view trim(std::string_view s);

}  // namespace tt
