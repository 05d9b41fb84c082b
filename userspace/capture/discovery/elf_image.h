// A read-only view of an ELF64 file, mapped once: segments, sections, symbols,
// build id, and address <-> file offset. The finders work on this instead of
// libelf so they can scan a 400 MB Bun binary in place, and tests can doctor a
// private copy-on-write mapping of a real binary without copying it.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tt::discovery {

struct Segment {
  uint64_t vaddr = 0, offset = 0, filesz = 0, memsz = 0;
  bool exec = false, write = false;
};

struct Section {
  std::string name;
  uint32_t type = 0;
  uint64_t flags = 0, addr = 0, offset = 0, size = 0, link = 0, entsize = 0;
};

class ElfImage {
 public:
  // Maps the whole file privately. The mapping is writable copy-on-write so
  // tests can patch bytes; nothing is ever written back to the file.
  static Result<std::unique_ptr<ElfImage>> open(const std::string& path);
  ~ElfImage();
  ElfImage(const ElfImage&) = delete;
  ElfImage& operator=(const ElfImage&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  uint8_t* mutable_data() { return data_; }
  uint64_t size() const { return size_; }
  bool is_x86_64() const { return machine_ == 62; }
  bool is_pie_or_shared() const { return type_ == 3; }  // ET_DYN

  const std::vector<Segment>& segments() const { return segments_; }
  const std::vector<Section>& sections() const { return sections_; }
  const Section* section(std::string_view name) const;

  std::optional<uint64_t> vaddr_to_offset(uint64_t vaddr) const;
  std::optional<uint64_t> offset_to_vaddr(uint64_t offset) const;
  // Bytes at a virtual address, up to the end of the segment's file data.
  std::string_view bytes_at(uint64_t vaddr, uint64_t max) const;

  // Hex GNU build id, or "" if the file has none.
  std::string build_id() const;

  // File offsets of defined functions with these names, from .dynsym and
  // .symtab (the form uprobes attach by).
  std::map<std::string, uint64_t> function_offsets(const std::vector<std::string>& names) const;
  // Virtual addresses of defined functions or data objects with these names.
  std::map<std::string, uint64_t> symbol_vaddrs(const std::vector<std::string>& names) const;
  struct Range {
    uint64_t vaddr = 0, size = 0;
  };
  // Address and size of defined functions with these names.
  std::map<std::string, Range> function_ranges(const std::vector<std::string>& names) const;

 private:
  ElfImage() = default;
  Result<void> parse();
  std::map<std::string, Range> symbols(const std::vector<std::string>& names, bool functions_only) const;

  std::string path_;
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  uint16_t type_ = 0, machine_ = 0;
  std::vector<Segment> segments_;
  std::vector<Section> sections_;
};

}  // namespace tt::discovery
