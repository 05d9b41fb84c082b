// The `tokentap top` screen, as plain text from a snapshot (top/snapshot.h):
// no line wider than `width` (at least 80 is assumed usable; narrower cuts
// lines), at most `height` lines (0: no limit, for --once and --batch). Text
// from the traffic (process names, session ids, projects) is shown as
// printable ASCII only: no escape sequence reaches the terminal.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace tt::top {

std::string render(const nlohmann::json& snapshot, size_t width, size_t height);

// "12345", or "12.3k", "4.56M"... when that does not fit in width characters.
std::string fit_number(uint64_t n, size_t width);

}  // namespace tt::top
