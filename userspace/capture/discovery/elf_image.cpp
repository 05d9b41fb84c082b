#include "capture/discovery/elf_image.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace tt::discovery {

Result<std::unique_ptr<ElfImage>> ElfImage::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("cannot open " + path + ": " + strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return make_error(path + " is not a regular file");
  }
  if (st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    close(fd);
    return make_error(path + " is too small to be an ELF file");
  }
  void* p = mmap(nullptr, st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED) return make_error("cannot map " + path + ": " + strerror(e));
  std::unique_ptr<ElfImage> img(new ElfImage());
  img->path_ = path;
  img->data_ = static_cast<uint8_t*>(p);
  img->size_ = static_cast<uint64_t>(st.st_size);
  if (auto r = img->parse(); !r) return Error{r.error()};
  return img;
}

ElfImage::~ElfImage() {
  if (data_) munmap(data_, size_);
}

Result<void> ElfImage::parse() {
  Elf64_Ehdr eh;
  memcpy(&eh, data_, sizeof(eh));
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return make_error(path_ + " is not an ELF file");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return make_error(path_ + " is not a little-endian 64-bit ELF file");
  type_ = eh.e_type;
  machine_ = eh.e_machine;
  auto in_file = [&](uint64_t off, uint64_t n) { return off <= size_ && n <= size_ - off; };

  if (eh.e_phentsize == sizeof(Elf64_Phdr) && in_file(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr))) {
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
      Elf64_Phdr ph;
      memcpy(&ph, data_ + eh.e_phoff + i * sizeof(ph), sizeof(ph));
      if (ph.p_type != PT_LOAD || !in_file(ph.p_offset, ph.p_filesz)) continue;
      segments_.push_back({ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_memsz, (ph.p_flags & PF_X) != 0,
                           (ph.p_flags & PF_W) != 0});
    }
  }
  if (eh.e_shentsize == sizeof(Elf64_Shdr) && in_file(eh.e_shoff, uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr))) {
    std::vector<Elf64_Shdr> shdrs(eh.e_shnum);
    // No section headers (sstrip'ed binaries): memcpy may not take data()'s null.
    if (!shdrs.empty()) memcpy(shdrs.data(), data_ + eh.e_shoff, shdrs.size() * sizeof(Elf64_Shdr));
    const Elf64_Shdr* strtab = eh.e_shstrndx < shdrs.size() ? &shdrs[eh.e_shstrndx] : nullptr;
    for (const auto& sh : shdrs) {
      Section s;
      if (strtab && sh.sh_name < strtab->sh_size && in_file(strtab->sh_offset, strtab->sh_size)) {
        const char* base = reinterpret_cast<const char*>(data_ + strtab->sh_offset);
        s.name.assign(base + sh.sh_name, strnlen(base + sh.sh_name, strtab->sh_size - sh.sh_name));
      }
      s.type = sh.sh_type;
      s.flags = sh.sh_flags;
      s.addr = sh.sh_addr;
      s.offset = sh.sh_offset;
      s.size = sh.sh_type == SHT_NOBITS ? 0 : sh.sh_size;
      s.link = sh.sh_link;
      s.entsize = sh.sh_entsize;
      if (!in_file(s.offset, s.size)) s.size = 0;
      sections_.push_back(std::move(s));
    }
  }
  if (segments_.empty()) return make_error(path_ + " has no loadable segments");
  return {};
}

const Section* ElfImage::section(std::string_view name) const {
  for (const auto& s : sections_)
    if (s.name == name) return &s;
  return nullptr;
}

std::optional<uint64_t> ElfImage::vaddr_to_offset(uint64_t vaddr) const {
  for (const auto& s : segments_)
    if (vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) return s.offset + (vaddr - s.vaddr);
  return std::nullopt;
}

std::optional<uint64_t> ElfImage::offset_to_vaddr(uint64_t offset) const {
  for (const auto& s : segments_)
    if (offset >= s.offset && offset - s.offset < s.filesz) return s.vaddr + (offset - s.offset);
  return std::nullopt;
}

std::string_view ElfImage::bytes_at(uint64_t vaddr, uint64_t max) const {
  for (const auto& s : segments_)
    if (vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) {
      uint64_t avail = s.filesz - (vaddr - s.vaddr);
      return {reinterpret_cast<const char*>(data_ + s.offset + (vaddr - s.vaddr)),
              static_cast<size_t>(std::min(avail, max))};
    }
  return {};
}

std::string ElfImage::build_id() const {
  static const char* hex = "0123456789abcdef";
  for (const auto& s : sections_) {
    if (s.type != SHT_NOTE) continue;
    uint64_t off = 0;
    while (off + sizeof(Elf64_Nhdr) <= s.size) {
      Elf64_Nhdr nh;
      memcpy(&nh, data_ + s.offset + off, sizeof(nh));
      uint64_t name_off = off + sizeof(nh), desc_off = name_off + ((nh.n_namesz + 3) & ~3u);
      uint64_t next = desc_off + ((uint64_t{nh.n_descsz} + 3) & ~uint64_t{3});
      if (next > s.size) break;
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
          memcmp(data_ + s.offset + name_off, "GNU", 4) == 0) {
        std::string out;
        for (uint32_t i = 0; i < nh.n_descsz; ++i) {
          uint8_t b = data_[s.offset + desc_off + i];
          out += hex[b >> 4];
          out += hex[b & 15];
        }
        return out;
      }
      off = next;
    }
  }
  return "";
}

std::map<std::string, uint64_t> ElfImage::function_offsets(const std::vector<std::string>& names) const {
  std::map<std::string, uint64_t> found;
  for (const auto& [name, r] : symbols(names, true))
    if (auto off = vaddr_to_offset(r.vaddr)) found[name] = *off;
  return found;
}

std::map<std::string, uint64_t> ElfImage::symbol_vaddrs(const std::vector<std::string>& names) const {
  std::map<std::string, uint64_t> found;
  for (const auto& [name, r] : symbols(names, false)) found[name] = r.vaddr;
  return found;
}

std::map<std::string, ElfImage::Range> ElfImage::function_ranges(const std::vector<std::string>& names) const {
  return symbols(names, true);
}

std::map<std::string, ElfImage::Range> ElfImage::symbols(const std::vector<std::string>& names,
                                                         bool functions_only) const {
  std::set<std::string_view> wanted(names.begin(), names.end());
  std::map<std::string, Range> found;
  for (const auto& sh : sections_) {
    if ((sh.type != SHT_DYNSYM && sh.type != SHT_SYMTAB) || sh.entsize != sizeof(Elf64_Sym) ||
        sh.link >= sections_.size())
      continue;
    const Section& strs = sections_[sh.link];
    for (uint64_t i = 0; i < sh.size / sizeof(Elf64_Sym); ++i) {
      Elf64_Sym sym;
      memcpy(&sym, data_ + sh.offset + i * sizeof(sym), sizeof(sym));
      int type = ELF64_ST_TYPE(sym.st_info);
      if ((type != STT_FUNC && (functions_only || type != STT_OBJECT)) || sym.st_shndx == SHN_UNDEF ||
          sym.st_value == 0 || sym.st_name >= strs.size)
        continue;
      const char* base = reinterpret_cast<const char*>(data_ + strs.offset);
      std::string_view nm(base + sym.st_name, strnlen(base + sym.st_name, strs.size - sym.st_name));
      if (wanted.count(nm) && !found.count(std::string(nm))) found[std::string(nm)] = Range{sym.st_value, sym.st_size};
    }
  }
  return found;
}

}  // namespace tt::discovery
