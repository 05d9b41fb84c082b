#include "capture/bpf/elf_symbols.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

namespace tt::capture {

Result<std::map<std::string, uint64_t>> find_function_offsets(const std::string& path,
                                                              const std::vector<std::string>& names) {
  if (elf_version(EV_CURRENT) == EV_NONE) return make_error("libelf initialisation failed");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("cannot open " + path + ": " + strerror(errno));
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (!elf || elf_kind(elf) != ELF_K_ELF) {
    if (elf) elf_end(elf);
    close(fd);
    return make_error(path + " is not an ELF file");
  }
  std::set<std::string> wanted(names.begin(), names.end());
  std::map<std::string, uint64_t> found;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB)) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || sh.sh_entsize == 0) continue;
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < n; ++i) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
      if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
      const char* nm = elf_strptr(elf, sh.sh_link, sym.st_name);
      if (!nm || !wanted.count(nm) || found.count(nm)) continue;
      // File offset = address - section address + section file offset.
      Elf_Scn* owner = elf_getscn(elf, sym.st_shndx);
      GElf_Shdr osh;
      if (!owner || !gelf_getshdr(owner, &osh)) continue;
      found[nm] = sym.st_value - osh.sh_addr + osh.sh_offset;
    }
  }
  elf_end(elf);
  close(fd);
  return found;
}

}  // namespace tt::capture
