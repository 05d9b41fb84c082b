// `tokentap top`'s side: connects to the daemon's socket and shows what it
// pushes, live in the terminal (ANSI, the alternate screen; q quits) or as
// plain text snapshots (--once, --batch N).
#pragma once
#include <string>

namespace tt::top {

struct ViewOptions {
  std::string socket;
  int snapshots = 0;  // 0: live view until q; N: print N snapshots, a second apart
  size_t width = 0;   // 0: the terminal's, else 80
};

// The exit code: 0, or 1 with the reason (and what to do) on stderr.
int run_view(const ViewOptions& o);

// Why connecting failed, and what to do about it (tests call it directly).
std::string connect_error(const std::string& path, int err);

}  // namespace tt::top
