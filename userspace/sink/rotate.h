// Size-based rotation of the daemon's --json and --out files.
//
// The parser process writes them but may open no file (docs/security.md), so
// rotation is split: the privileged side, which opened them, checks their size
// and renames (path -> path.1 -> ... -> path.KEEP, the oldest deleted), opens a
// fresh file at path and hands it to the parser (isolate::ParserProcess::
// send_file), which moves to it between two records (FileSink::switch_to).
// Records written between the rename and the switch land at the end of
// path.1, in order: none is lost or written twice.
#pragma once
#include <cstdint>
#include <string>

#include "common/result.h"

namespace tt::sink {

struct RotateOptions {
  uint64_t max_bytes = 0;  // 0: never rotate
  unsigned keep = 5;       // rotated files kept besides the current one (>= 1)
};

// What one rotation did, for the log.
struct Rotated {
  int new_fd = -1;             // the fresh file (O_WRONLY); -1: not due
  std::string removed;         // the oldest file deleted ("" if none)
  uint64_t removed_bytes = 0;
};

// fd is path's file as opened here. Over max_bytes: rotates, and fd is made to
// point at the fresh file too (so the next size check is of the file being
// written). The fresh file has the old one's mode and owner.
Result<Rotated> rotate_if_due(const std::string& path, int fd, const RotateOptions& opts);

}  // namespace tt::sink
