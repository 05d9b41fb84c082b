// Finds function symbols in an ELF file (.dynsym and .symtab) and returns the
// file offsets uprobes attach at. One pass over the file for all names, which
// matters for a 100 MB node binary.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace tt::capture {

// name -> file offset, for the names that are defined functions in the file.
Result<std::map<std::string, uint64_t>> find_function_offsets(const std::string& path,
                                                              const std::vector<std::string>& names);

}  // namespace tt::capture
