#include "capture/discovery/tls_discovery.h"

#include "capture/discovery/discovery_cache.h"

#include <Zydis/Zydis.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

namespace tt::discovery {

namespace {

// BoringSSL's include/openssl/err.h and ssl.h. Stable: codes are never reused.
constexpr uint64_t kErrLibSsl = 16;
constexpr uint64_t kShouldNotHaveBeenCalled = 66;  // ERR_R_SHOULD_NOT_HAVE_BEEN_CALLED
constexpr uint64_t kBadLength = 111;               // SSL_R_BAD_LENGTH
constexpr uint64_t kHandshakeFailure = 215;        // SSL_R_SSL_HANDSHAKE_FAILURE
constexpr uint64_t kUninitialized = 226;           // SSL_R_UNINITIALIZED
constexpr uint64_t kOpenSslErrLibSsl = 20;         // OpenSSL's ERR_LIB_SSL

// BoringSSL's and aws-lc's include/openssl/cipher.h (the same codes in both).
constexpr uint64_t kErrLibCipher = 30;
constexpr uint64_t kBadDecrypt = 101;          // CIPHER_R_BAD_DECRYPT
constexpr uint64_t kBufferTooSmall = 103;      // CIPHER_R_BUFFER_TOO_SMALL
constexpr uint64_t kInvalidOperation = 112;    // CIPHER_R_INVALID_OPERATION
constexpr uint64_t kOutputAliasesInput = 115;  // CIPHER_R_OUTPUT_ALIASES_INPUT
constexpr uint64_t kTooLarge = 117;            // CIPHER_R_TOO_LARGE
constexpr uint64_t kUnsupportedKeySize = 120;  // CIPHER_R_UNSUPPORTED_KEY_SIZE

constexpr uint64_t kMaxFunctionBytes = 64 * 1024;  // how far back an entry may be
constexpr int kSiteWindow = 8;                     // instructions around a __FILE__ load

std::string hex(uint64_t v) {
  char b[32];
  snprintf(b, sizeof(b), "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string join(const std::set<uint64_t>& s) {
  std::string out;
  for (auto v : s) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

struct Insn {
  uint64_t addr = 0;
  uint8_t len = 0;
  ZydisInstructionCategory cat = ZYDIS_CATEGORY_INVALID;
  ZydisMnemonic mnem = ZYDIS_MNEMONIC_INVALID;
  uint64_t branch_target = 0;  // direct call/jmp/jcc target, 0 if none
  ZydisRegister imm_reg = ZYDIS_REGISTER_NONE;  // mov reg, imm / xor reg, reg
  uint64_t imm = 0;
  bool refs_file = false;   // loads the address of the __FILE__ string
  ZydisRegister file_reg = ZYDIS_REGISTER_NONE;  // ...into this register
  bool heap_store = false;  // writes memory not addressed off rsp/rbp

  bool ends_flow() const {
    return cat == ZYDIS_CATEGORY_RET || cat == ZYDIS_CATEGORY_UNCOND_BR || mnem == ZYDIS_MNEMONIC_INT3 ||
           mnem == ZYDIS_MNEMONIC_UD2;
  }
  bool is_control() const {
    return cat == ZYDIS_CATEGORY_CALL || cat == ZYDIS_CATEGORY_COND_BR || ends_flow();
  }
};

class Decoder {
 public:
  Decoder() { ZydisDecoderInit(&dec_, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64); }

  bool decode(const ElfImage& img, uint64_t addr, const std::set<uint64_t>& file_strings, Insn& out) const {
    std::string_view code = img.bytes_at(addr, ZYDIS_MAX_INSTRUCTION_LENGTH);
    if (code.empty()) return false;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec_, code.data(), code.size(), &in, ops))) return false;
    out = Insn{};
    out.addr = addr;
    out.len = in.length;
    out.cat = in.meta.category;
    out.mnem = in.mnemonic;
    for (unsigned i = 0; i < in.operand_count_visible; ++i) {
      const ZydisDecodedOperand& op = ops[i];
      ZyanU64 abs = 0;
      if (op.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
        if (op.imm.is_relative) {
          if (ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&in, &op, addr, &abs)) &&
              (out.cat == ZYDIS_CATEGORY_CALL || out.cat == ZYDIS_CATEGORY_UNCOND_BR ||
               out.cat == ZYDIS_CATEGORY_COND_BR))
            out.branch_target = abs;
        } else if (file_strings.count(op.imm.value.u)) {
          out.refs_file = true;
        }
      } else if (op.type == ZYDIS_OPERAND_TYPE_MEMORY) {
        if (op.mem.base == ZYDIS_REGISTER_RIP && ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&in, &op, addr, &abs)) &&
            file_strings.count(abs) && in.mnemonic == ZYDIS_MNEMONIC_LEA)
          out.refs_file = true;
        if ((op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) && op.mem.base != ZYDIS_REGISTER_RSP &&
            op.mem.base != ZYDIS_REGISTER_RBP && op.mem.base != ZYDIS_REGISTER_RIP &&
            op.mem.base != ZYDIS_REGISTER_NONE)
          out.heap_store = true;
      }
    }
    // Argument set-up: `mov edx, 0xd7` or `xor esi, esi`.
    if (in.operand_count_visible == 2 && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER) {
      if (out.refs_file) out.file_reg = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, ops[0].reg.value);
      if (in.mnemonic == ZYDIS_MNEMONIC_MOV && ops[1].type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
        out.imm_reg = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, ops[0].reg.value);
        out.imm = ops[1].imm.value.u;
      } else if (in.mnemonic == ZYDIS_MNEMONIC_XOR && ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER &&
                 ops[0].reg.value == ops[1].reg.value) {
        out.imm_reg = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, ops[0].reg.value);
        out.imm = 0;
      }
    }
    return true;
  }

 private:
  ZydisDecoder dec_;
};

// One function of the scanned source file as recovered from the code.
struct Function {
  uint64_t entry = 0;
  std::set<uint64_t> reasons;     // reasons of the library raised with __FILE__ == the scanned file
  std::set<uint64_t> callees;     // direct call targets
  bool heap_store = false;
  int direct_refs = 0;            // direct calls/jumps (or GOT/data pointers) to the entry
};

// Every NUL-terminated string ending in `suffix` in the file's non-code
// segments, as virtual addresses of the string start.
std::set<uint64_t> find_strings(const ElfImage& img, std::string_view suffix) {
  std::set<uint64_t> out;
  std::string needle(suffix);
  needle.push_back('\0');
  for (const auto& seg : img.segments()) {
    if (seg.exec) continue;
    const char* base = reinterpret_cast<const char*>(img.data() + seg.offset);
    const char* end = base + seg.filesz;
    for (const char* p = base; p < end;) {
      p = static_cast<const char*>(memmem(p, end - p, needle.data(), needle.size()));
      if (!p) break;
      const char* start = p;
      while (start > base && start[-1] != '\0' && p - start < 4096) --start;
      // "ssl/ssl_lib.cc" must be a whole path component.
      if (start == p || p[-1] == '/') out.insert(seg.vaddr + (start - base));
      p += needle.size();
    }
  }
  return out;
}

// The first "<needle><digits and dots>" in the binary's data, trailing dots
// cut ("Bun v1.3.14", "OpenSSL 3.5.8"), or "". path_component: the needle
// must start the string or follow a '/' ("rustls-0.23.46" in a crate path).
std::string version_text(const ElfImage& img, std::string_view needle, bool path_component = false) {
  for (const auto& seg : img.segments()) {
    if (seg.exec) continue;
    const char* base = reinterpret_cast<const char*>(img.data() + seg.offset);
    const char* end = base + seg.filesz;
    for (const char* p = base; (p = static_cast<const char*>(memmem(p, end - p, needle.data(), needle.size())));
         p += needle.size()) {
      if (path_component && p > base && p[-1] != '/' && p[-1] != '\0') continue;
      const char* e = p + needle.size();
      while (e < end && ((*e >= '0' && *e <= '9') || *e == '.')) ++e;
      while (e > p && e[-1] == '.') --e;
      return std::string(p, e);
    }
  }
  return "";
}

std::string find_bun_version(const ElfImage& img) {
  std::string v = version_text(img, "Bun v1.");
  if (v.empty() && !(v = version_text(img, "bun-v1.")).empty()) v.replace(0, 5, "Bun v");
  return v;
}

// Addresses of instructions that load one of `targets`: `mov r32, imm32` in
// position-dependent code, `lea r64, [rip+disp32]` otherwise. A raw scan for
// the 4-byte value finds candidates; decoding confirms each one.
std::vector<uint64_t> find_code_refs(const ElfImage& img, const std::set<uint64_t>& targets, const Decoder& dec) {
  std::vector<uint64_t> out;
  for (const auto& seg : img.segments()) {
    if (!seg.exec || seg.filesz < 8) continue;
    const uint8_t* base = img.data() + seg.offset;
    for (uint64_t i = 4; i + 4 <= seg.filesz; ++i) {
      uint32_t v;
      memcpy(&v, base + i, 4);
      uint64_t va = seg.vaddr + i;
      bool abs_hit = targets.count(v) != 0;
      bool rel_hit = targets.count(va + 4 + static_cast<int64_t>(static_cast<int32_t>(v))) != 0;
      if (!abs_hit && !rel_hit) continue;
      // Every decoding that fits: `lea rcx, [rip+d]` (48 8d 0d) also decodes
      // from its second byte as `lea ecx, [rip+d]`. Which one is on an
      // instruction boundary is settled by decoding the function from its entry.
      for (uint64_t k = 1; k <= 4 && k <= i; ++k) {
        Insn in;
        if (dec.decode(img, va - k, targets, in) && in.len == k + 4 && in.refs_file) out.push_back(in.addr);
      }
    }
  }
  return out;
}

// Direct call/jmp rel32 targets that fall in any of the windows, with counts.
std::map<uint64_t, int> direct_targets_in(const ElfImage& img,
                                          const std::vector<std::pair<uint64_t, uint64_t>>& windows) {
  std::map<uint64_t, int> out;
  for (const auto& seg : img.segments()) {
    if (!seg.exec || seg.filesz < 5) continue;
    const uint8_t* base = img.data() + seg.offset;
    for (uint64_t i = 0; i + 5 <= seg.filesz; ++i) {
      if (base[i] != 0xe8 && base[i] != 0xe9) continue;
      int32_t rel;
      memcpy(&rel, base + i + 1, 4);
      uint64_t t = seg.vaddr + i + 5 + static_cast<int64_t>(rel);
      for (const auto& [lo, hi] : windows)
        if (t >= lo && t <= hi) {
          out[t]++;
          break;
        }
    }
  }
  return out;
}

// The functions of one source file of a stripped BoringSSL-family library,
// recovered from its OPENSSL_PUT_ERROR(lib, reason) call sites: each is keyed
// by its entry and knows the reasons it raises.
// Rust calls C through the GOT (`call [rip+got]`, no PLT): the entries of C
// functions a Rust binary uses are pointers in its writable data (RELR or
// RELATIVE relocations keep the link-time address in the file). Counts
// 8-byte-aligned pointers into the windows, added to `out`.
void pointer_targets_in(const ElfImage& img, const std::vector<std::pair<uint64_t, uint64_t>>& windows,
                        std::map<uint64_t, int>& out) {
  for (const auto& seg : img.segments()) {
    if (seg.exec || !seg.write || seg.filesz < 8) continue;
    const uint8_t* base = img.data() + seg.offset;
    for (uint64_t i = (8 - seg.vaddr % 8) % 8; i + 8 <= seg.filesz; i += 8) {
      uint64_t t;
      memcpy(&t, base + i, 8);
      for (const auto& [lo, hi] : windows)
        if (t >= lo && t <= hi) {
          out[t]++;
          break;
        }
    }
  }
}

class ErrorSiteScan {
 public:
  // nop_padding: functions may also be aligned with NOPs (clang's default
  // padding in a shared object) instead of int3.
  ErrorSiteScan(const ElfImage& img, std::string_view file_suffix, uint64_t lib, bool nop_padding = false)
      : img_(img), suffix_(file_suffix), lib_(lib), nop_padding_(nop_padding) {}
  // false: the source file's strings are not in the binary at all.
  bool has_file();
  // Every verifiable function with an error site; `why` says why none was.
  std::map<uint64_t, Function> functions(std::string& why);

 private:
  // Decodes [entry, first int3) and keeps what control can reach from entry.
  bool analyse(uint64_t entry, Function& fn, std::vector<Insn>& body, std::string& why) const;
  bool follows_flow_end(uint64_t entry) const;
  bool follows_flow_end_bytes(uint64_t entry) const;
  bool follows_jmp_mem(uint64_t end) const;
  std::set<uint64_t> reasons_in(const std::vector<Insn>& body) const;

  const ElfImage& img_;
  std::string suffix_;
  uint64_t lib_;
  bool nop_padding_ = false;
  Decoder dec_;
  std::set<uint64_t> file_strings_;
};

bool ErrorSiteScan::analyse(uint64_t entry, Function& fn, std::vector<Insn>& body, std::string& why) const {
  std::vector<Insn> linear;
  std::unordered_map<uint64_t, size_t> index;
  bool clean_end = true;  // stopped at padding or the size limit, not at garbage
  for (uint64_t a = entry; a - entry < kMaxFunctionBytes;) {
    Insn in;
    if (!dec_.decode(img_, a, file_strings_, in)) {
      clean_end = false;
      break;
    }
    if (in.mnem == ZYDIS_MNEMONIC_INT3) break;  // padding: the function ended
    index[a] = linear.size();
    linear.push_back(in);
    a += in.len;
  }
  // Reachability from the entry: a wrong entry (the previous function) cannot
  // reach the code after its own returns.
  std::vector<bool> seen(linear.size(), false);
  std::deque<size_t> todo{0};
  while (!todo.empty()) {
    size_t i = todo.front();
    todo.pop_front();
    if (i >= linear.size() || seen[i]) continue;
    seen[i] = true;
    const Insn& in = linear[i];
    if (in.branch_target && in.cat != ZYDIS_CATEGORY_CALL) {
      auto it = index.find(in.branch_target);
      if (it != index.end()) todo.push_back(it->second);
    }
    if (!in.ends_flow()) {
      if (i + 1 == linear.size() && !clean_end) {
        why = "code runs into undecodable bytes after " + hex(in.addr);
        return false;
      }
      todo.push_back(i + 1);
    }
  }
  body.clear();
  for (size_t i = 0; i < linear.size(); ++i)
    if (seen[i]) body.push_back(linear[i]);
  fn.entry = entry;
  for (const auto& in : body) {
    if (in.cat == ZYDIS_CATEGORY_CALL && in.branch_target) fn.callees.insert(in.branch_target);
    fn.heap_store |= in.heap_store;
  }
  return true;
}

// A function starts where the previous one cannot fall through: after int3
// padding, or right after a ret, jmp, ud2 or a call (to a noreturn function).
// With nop_padding (gcc's and clang's alignment in shared objects), also
// after NOPs (under 16 bytes) that end exactly at the entry and follow such
// an end or an indirect jump through memory themselves.
bool ErrorSiteScan::follows_flow_end(uint64_t entry) const {
  if (follows_flow_end_bytes(entry)) return true;
  if (!nop_padding_) return false;
  for (uint64_t k = 1; k < 16 && k < entry; ++k) {
    uint64_t a = entry - k;
    bool nops = true;
    while (a < entry) {
      Insn in;
      if (!dec_.decode(img_, a, {}, in) || in.mnem != ZYDIS_MNEMONIC_NOP) {
        nops = false;
        break;
      }
      a += in.len;
    }
    if (nops && a == entry && (follows_flow_end_bytes(entry - k) || follows_jmp_mem(entry - k))) return true;
  }
  return false;
}

// gcc ends a function that tail-calls through a table with `jmp [reg+disp]`
// (OpenSSL's SSL_get_default_timeout before ssl_read_internal): ff /4 with a
// base register and no SIB byte, disp32 or disp8.
bool ErrorSiteScan::follows_jmp_mem(uint64_t end) const {
  std::string_view b = img_.bytes_at(end - 6, 6);
  if (b.size() != 6) return false;
  auto at = [&](int back) { return static_cast<uint8_t>(b[6 - back]); };
  if (at(6) == 0xff && (at(5) & 0xf8) == 0xa0 && at(5) != 0xa4) return true;  // jmp [reg+disp32]
  return at(3) == 0xff && (at(2) & 0xf8) == 0x60 && at(2) != 0x64;              // jmp [reg+disp8]
}

bool ErrorSiteScan::follows_flow_end_bytes(uint64_t entry) const {
  std::string_view b = img_.bytes_at(entry - 6, 6);
  if (b.size() != 6) return false;
  auto at = [&](int back) { return static_cast<uint8_t>(b[6 - back]); };
  if (at(1) == 0xcc || at(1) == 0xc3) return true;         // int3, ret
  if (at(5) == 0xe9 || at(5) == 0xe8) return true;         // jmp/call rel32
  if (at(2) == 0xeb) return true;                          // jmp rel8
  if (at(2) == 0x0f && at(1) == 0x0b) return true;         // ud2
  if (at(2) == 0xff && (at(1) & 0xf8) == 0xe0) return true;  // jmp reg
  if (at(3) == 0x41 && at(2) == 0xff && (at(1) & 0xf8) == 0xe0) return true;
  if (at(6) == 0xff && at(5) == 0x25) return true;         // jmp [rip+disp32]
  return false;
}

// OPENSSL_PUT_ERROR(lib, reason) compiles to argument moves ahead of a call
// to ERR_put_error(lib, 0, reason, __FILE__, __LINE__), or of a jump to a
// shared call. With LTO the unused argument may be dropped, so the reason is
// taken from the argument register just before the one holding __FILE__ (rdx
// or rsi) and the library from rdi. Only the straight-line code around each
// __FILE__ load is looked at.
std::set<uint64_t> ErrorSiteScan::reasons_in(const std::vector<Insn>& body) const {
  std::set<uint64_t> reasons;
  for (size_t k = 0; k < body.size(); ++k) {
    if (!body[k].refs_file) continue;
    static const ZydisRegister kArgs[] = {ZYDIS_REGISTER_RDI, ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDX,
                                          ZYDIS_REGISTER_RCX, ZYDIS_REGISTER_R8, ZYDIS_REGISTER_R9};
    const ZydisRegister* file_arg = std::find(std::begin(kArgs), std::end(kArgs), body[k].file_reg);
    if (file_arg == std::end(kArgs) || file_arg - std::begin(kArgs) < 2) continue;
    ZydisRegister reason_reg = file_arg[-1];
    std::optional<uint64_t> lib, reason;
    auto take = [&](const Insn& in) {
      if (in.imm_reg == ZYDIS_REGISTER_RDI && !lib) lib = in.imm;
      if (in.imm_reg == reason_reg && !reason) reason = in.imm;
    };
    for (size_t j = k; j-- > 0 && k - j <= kSiteWindow && !body[j].is_control();) take(body[j]);
    for (size_t j = k + 1; j < body.size() && j - k <= kSiteWindow; ++j) {
      if (body[j].is_control()) break;
      take(body[j]);
    }
    if (lib && reason && *lib == lib_) reasons.insert(*reason);
  }
  return reasons;
}

bool ErrorSiteScan::has_file() {
  file_strings_ = find_strings(img_, suffix_);
  return !file_strings_.empty();
}

std::map<uint64_t, Function> ErrorSiteScan::functions(std::string& why) {
  std::map<uint64_t, Function> fns;
  std::string file = suffix_.substr(suffix_.rfind('/') + 1);
  std::vector<uint64_t> refs = find_code_refs(img_, file_strings_, dec_);
  // In address order, a real reference comes before the phantom decoding one
  // byte into it, which then lies inside an analysed instruction: skipped.
  std::sort(refs.begin(), refs.end());
  if (refs.empty()) {
    why = "no code references its " + file + " error sites";
    return fns;
  }
  // Function entries: direct call/jump targets (or, for calls through the
  // GOT, pointers) shortly before a reference, 16-byte aligned, right after
  // int3 padding or a ret.
  std::vector<std::pair<uint64_t, uint64_t>> windows;
  for (auto r : refs) windows.push_back({r > kMaxFunctionBytes ? r - kMaxFunctionBytes : 0, r});
  std::map<uint64_t, int> targets = direct_targets_in(img_, windows);
  pointer_targets_in(img_, windows, targets);

  // Instructions of the functions analysed so far: a reference inside one
  // (not at its start) is a decoding that does not exist.
  std::map<uint64_t, uint8_t> decoded;
  auto covered = [&](uint64_t r) {
    auto it = decoded.upper_bound(r);
    return it != decoded.begin() && std::prev(it)->first + std::prev(it)->second > r;
  };
  for (auto r : refs) {
    if (covered(r)) continue;
    auto it = targets.upper_bound(r);
    while (it != targets.begin()) {
      --it;
      uint64_t entry = it->first;
      if (r - entry >= kMaxFunctionBytes) break;
      if (entry % 16) continue;
      if (!follows_flow_end(entry)) continue;
      if (fns.count(entry)) break;  // already analysed, its reasons cover what it reaches
      Function fn;
      std::vector<Insn> body;
      std::string ignored;
      if (!analyse(entry, fn, body, ignored)) continue;
      bool reaches = std::any_of(body.begin(), body.end(), [&](const Insn& in) { return in.addr == r; });
      if (!reaches) continue;
      fn.reasons = reasons_in(body);
      fn.direct_refs = it->second;
      fns[entry] = fn;
      for (const auto& in : body) decoded[in.addr] = in.len;
      break;
    }
  }
  if (fns.empty())
    why = "none of its " + std::to_string(refs.size()) + " candidate " + file + " error sites lies in a verifiable function";
  return fns;
}

bool has_all(const std::set<uint64_t>& s, std::initializer_list<uint64_t> want) {
  return std::all_of(want.begin(), want.end(), [&](uint64_t v) { return s.count(v) != 0; });
}

// Adds the function as `name`, or says why it cannot be used.
bool add_found(const ElfImage& img, Discovery& d, const char* name, const Function& fn, const std::string& evidence) {
  auto off = img.vaddr_to_offset(fn.entry);
  if (!off) {
    d.reason = std::string(name) + " candidate " + hex(fn.entry) + " is outside the file";
    return false;
  }
  FoundFunction f;
  f.name = name;
  f.vaddr = fn.entry;
  f.file_offset = *off;
  // OpenSSL 3's sites pass the reason to a later call: none are read there.
  std::string reasons = fn.reasons.empty() ? "" : " reasons {" + join(fn.reasons) + "},";
  f.evidence = evidence + reasons + " " + std::to_string(fn.direct_refs) + " direct callers or pointers";
  d.functions.push_back(f);
  return true;
}

// An error-site scan's result before it looks: its library and method, and a
// reason already if the binary is not x86-64 (the decoder reads x86-64 only).
Discovery scan_result(const ElfImage& img, const char* library, const char* method) {
  Discovery d;
  d.library = library;
  d.method = method;
  if (!img.is_x86_64()) d.reason = "not an x86-64 binary";
  return d;
}

// A scan that found the library's code but not its functions for certain.
Discovery refused(Discovery& d, const char* linked, const std::string& why) {
  d.status = DiscoveryStatus::Refused;
  d.reason = std::string(linked) + " is linked in, but " + why + "; tokentap will not attach to a guessed address";
  d.functions.clear();
  return d;
}

Discovery boringssl_run(const ElfImage& img) {
  Discovery d = scan_result(img, "boringssl", kBoringSslMethod);
  if (!d.reason.empty()) return d;
  ErrorSiteScan scan(img, "ssl/ssl_lib.cc", kErrLibSsl);
  if (!scan.has_file()) {
    d.reason = "no BoringSSL source strings";
    return d;
  }
  d.runtime = find_bun_version(img);
  d.status = DiscoveryStatus::Refused;
  auto refuse = [&](const std::string& why) { return refused(d, "BoringSSL", why); };
  std::string why;
  std::map<uint64_t, Function> fns = scan.functions(why);
  if (fns.empty()) return refuse(why);

  std::vector<const Function*> writes, reads;
  for (const auto& [entry, fn] : fns) {
    if (has_all(fn.reasons, {kUninitialized, kHandshakeFailure, kBadLength})) writes.push_back(&fn);
    if (!fn.reasons.count(kShouldNotHaveBeenCalled) || fn.reasons.count(kBadLength) || !fn.heap_store) continue;
    std::set<uint64_t> reach = fn.reasons;
    for (auto c : fn.callees)
      if (auto ci = fns.find(c); ci != fns.end()) reach.insert(ci->second.reasons.begin(), ci->second.reasons.end());
    if (has_all(reach, {kUninitialized, kHandshakeFailure})) reads.push_back(&fn);
  }
  if (writes.size() != 1)
    return refuse(std::to_string(writes.size()) + " functions match SSL_write (want exactly 1) among " +
                  std::to_string(fns.size()) + " ssl_lib.cc functions");
  if (reads.size() != 1)
    return refuse(std::to_string(reads.size()) + " functions match SSL_read (want exactly 1) among " +
                  std::to_string(fns.size()) + " ssl_lib.cc functions");
  if (!add_found(img, d, "SSL_write", *writes[0], "ssl_lib.cc") ||
      !add_found(img, d, "SSL_read", *reads[0], "ssl_lib.cc"))
    return refuse(d.reason);
  d.status = DiscoveryStatus::Found;
  d.reason = "";
  return d;
}

// aws-lc (rustls' default crypto provider, through aws-lc-rs) or BoringSSL
// without its TLS layer: the record layer's AEAD calls in
// crypto/fipsmodule/cipher/aead.c carry every TLS record's plaintext.
//  - EVP_AEAD_CTX_seal raises TOO_LARGE, BUFFER_TOO_SMALL and
//    OUTPUT_ALIASES_INPUT, never BAD_DECRYPT;
//  - EVP_AEAD_CTX_open raises OUTPUT_ALIASES_INPUT, BAD_DECRYPT and
//    BUFFER_TOO_SMALL;
//  - EVP_AEAD_CTX_seal_scatter (rustls' TLS 1.2 AES-GCM) raises
//    OUTPUT_ALIASES_INPUT and INVALID_OPERATION (extra_in unsupported), and
//    neither TOO_LARGE nor BAD_DECRYPT;
//  - EVP_AEAD_CTX_init_with_direction raises only UNSUPPORTED_KEY_SIZE: a new
//    key, so a context address seen before may now be another connection's.
Discovery awslc_run(const ElfImage& img) {
  Discovery d = scan_result(img, "aws-lc", kAwsLcMethod);
  if (!d.reason.empty()) return d;
  ErrorSiteScan scan(img, "crypto/fipsmodule/cipher/aead.c", kErrLibCipher);
  if (!scan.has_file()) {
    d.reason = "no aws-lc/BoringSSL AEAD source strings";
    return d;
  }
  for (std::string_view rt : {std::string_view("rustls-0."), std::string_view("aws-lc-rs-1.")}) {
    if (!d.runtime.empty()) break;
    d.runtime = version_text(img, rt, true);
    if (!d.runtime.empty()) d.runtime[rt.size() - 3] = ' ';  // "rustls 0.23.46"
  }
  d.status = DiscoveryStatus::Refused;
  auto refuse = [&](const std::string& why) { return refused(d, "aws-lc's AEAD", why); };
  std::string why;
  std::map<uint64_t, Function> fns = scan.functions(why);
  if (fns.empty()) return refuse(why);
  std::vector<const Function*> seals, opens, inits, scatters;
  for (const auto& [entry, fn] : fns) {
    if (has_all(fn.reasons, {kTooLarge, kBufferTooSmall, kOutputAliasesInput}) && !fn.reasons.count(kBadDecrypt))
      seals.push_back(&fn);
    if (has_all(fn.reasons, {kOutputAliasesInput, kBadDecrypt, kBufferTooSmall})) opens.push_back(&fn);
    if (fn.reasons == std::set<uint64_t>{kUnsupportedKeySize}) inits.push_back(&fn);
    if (has_all(fn.reasons, {kOutputAliasesInput, kInvalidOperation}) && !fn.reasons.count(kTooLarge) &&
        !fn.reasons.count(kBadDecrypt))
      scatters.push_back(&fn);
  }
  auto count = [&](const std::vector<const Function*>& v, const char* what) {
    return std::to_string(v.size()) + " functions match " + what + " (want exactly 1) among " +
           std::to_string(fns.size()) + " aead.c functions";
  };
  if (seals.size() != 1) return refuse(count(seals, "EVP_AEAD_CTX_seal"));
  if (opens.size() != 1) return refuse(count(opens, "EVP_AEAD_CTX_open"));
  if (!add_found(img, d, "AEAD_seal", *seals[0], "aead.c") || !add_found(img, d, "AEAD_open", *opens[0], "aead.c"))
    return refuse(d.reason);
  // Without the key hook a reused context address could be misattributed for
  // a record or two: used when unambiguous, not required.
  if (inits.size() == 1 && !add_found(img, d, "AEAD_init", *inits[0], "aead.c")) return refuse(d.reason);
  // Only TLS 1.2 AES-GCM needs it: without it that case falls short, the rest works.
  if (scatters.size() == 1 && !add_found(img, d, "AEAD_seal_scatter", *scatters[0], "aead.c"))
    return refuse(d.reason);
  d.status = DiscoveryStatus::Found;
  d.reason = "";
  return d;
}

// OpenSSL 3 linked statically into a stripped binary (GitHub Copilot CLI's
// runtime.node: Rust reqwest over native-tls). ERR_raise() records its
// function's name (ERR_set_debug(__FILE__, __LINE__, __func__)), so the one
// function raising errors as "ssl_read_internal" is ssl_read_internal(s, buf,
// num, size_t *readbytes), and likewise ssl_write_internal: every SSL_read,
// SSL_read_ex, SSL_write and SSL_write_ex goes through them, so only they are
// hooked (hooking the public functions too would count each call twice).
// ssl_write_internal(s, buf, num, written) took a flags argument before
// `written` in OpenSSL 3.2: which one a binary has is told by its version.
struct OpenSslEntry {
  const char* func;  // the __func__ its error sites record
  const char* name;  // the FoundFunction name, which says how to read its arguments
};

// The ssl_write_internal of this OpenSSL 3 version ("OpenSSL 3.5.8"), or
// nullptr for a version that is not 3.x.
const char* openssl_write_name(const std::string& version) {
  if (version.rfind("OpenSSL 3.", 0) != 0) return nullptr;
  return atoi(version.c_str() + 10) >= 2 ? "ssl_write_internal_flags" : "ssl_write_internal";
}

// Adds the one function whose error sites name `e.func`, or says why not.
bool add_errfunc(const ElfImage& img, Discovery& d, const OpenSslEntry& e) {
  ErrorSiteScan scan(img, e.func, kOpenSslErrLibSsl, true);
  if (!scan.has_file()) {
    d.reason = std::string("no \"") + e.func + "\" error sites";
    return false;
  }
  std::string why;
  std::map<uint64_t, Function> fns = scan.functions(why);
  if (fns.size() != 1) {
    d.reason = fns.empty() ? why : std::to_string(fns.size()) + " functions raise errors as " + e.func + " (want exactly 1)";
    return false;
  }
  return add_found(img, d, e.name, fns.begin()->second, std::string("__func__ \"") + e.func + "\",");
}

Discovery openssl_errfunc_run(const ElfImage& img) {
  Discovery d = scan_result(img, "openssl", kOpenSslErrFuncMethod);
  if (!d.reason.empty()) return d;
  // OpenSSL 1.1 or a build with OPENSSL_NO_ERR names no functions: not this method's.
  if (find_strings(img, "ssl/ssl_lib.c").empty() || find_strings(img, "ssl_read_internal").empty()) {
    d.reason = "no OpenSSL 3 ssl_lib.c error sites";
    return d;
  }
  d.runtime = version_text(img, "OpenSSL 3.");
  d.status = DiscoveryStatus::Refused;
  auto refuse = [&](const std::string& why) { return refused(d, "OpenSSL", why); };
  const char* write_name = openssl_write_name(d.runtime);
  if (!write_name) return refuse("its version text (\"OpenSSL 3.x.y\", which tells ssl_write_internal's arguments) is not in the binary");
  // The read side first: attach_tls keeps this order.
  for (OpenSslEntry e : {OpenSslEntry{"ssl_read_internal", "ssl_read_internal"}, OpenSslEntry{"ssl_write_internal", write_name}})
    if (!add_errfunc(img, d, e)) return refuse(d.reason);
  d.status = DiscoveryStatus::Found;
  d.reason = "";
  return d;
}

}  // namespace

Discovery find_openssl_errfunc(const ElfImage& img) { return openssl_errfunc_run(img); }

Discovery find_openssl_symbols(const ElfImage& img) {
  Discovery d;
  d.library = "openssl";
  d.method = "symbols";
  auto offs = img.function_offsets({"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex", "SSL_free"});
  if (!offs.count("SSL_write") || !offs.count("SSL_read")) {
    d.reason = "no SSL_read/SSL_write symbols";
    return d;
  }
  for (const auto& [name, off] : offs) {
    FoundFunction f;
    f.name = name;
    f.file_offset = off;
    f.vaddr = img.offset_to_vaddr(off).value_or(0);
    f.evidence = "exported symbol";
    d.functions.push_back(f);
  }
  d.status = DiscoveryStatus::Found;
  return d;
}

Discovery find_boringssl(const ElfImage& img) { return boringssl_run(img); }

Discovery find_awslc_aead(const ElfImage& img) { return awslc_run(img); }

namespace {

// "go1.19.8" from .go.buildinfo (Go >= 1.18 layout: 32-byte header, then
// varint-prefixed version string when flags bit 1 is set), or "".
std::string go_version(const ElfImage& img) {
  const Section* s = img.section(".go.buildinfo");
  if (!s || s->size < 33) return "";
  const uint8_t* p = img.data() + s->offset;
  if (memcmp(p, "\xff Go buildinf:", 14) != 0 || !(p[15] & 2)) return "";
  uint64_t len = 0, pos = 32;
  for (int shift = 0; pos < s->size && shift < 35; shift += 7) {
    uint8_t b = p[pos++];
    len |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  if (pos + len > s->size || len > 64) return "";
  return std::string(reinterpret_cast<const char*>(p + pos), len);
}

}  // namespace

Discovery find_go_tls(const ElfImage& img) {
  Discovery d;
  d.library = "go";
  d.method = "symbols";
  auto fns = img.function_ranges({"crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read"});
  if (fns.size() != 2) {
    d.reason = "no Go crypto/tls symbols";
    return d;
  }
  d.runtime = go_version(img);
  d.status = DiscoveryStatus::Refused;
  int minor = 0;
  if (d.runtime.rfind("go1.", 0) == 0) minor = atoi(d.runtime.c_str() + 4);
  if (minor < 17) {
    d.reason = "Go crypto/tls of " + (d.runtime.empty() ? std::string("an unknown Go version") : d.runtime) +
               ": only the register ABI of Go 1.17 and later is supported";
    return d;
  }
  if (!img.is_x86_64()) {
    d.reason = "Go crypto/tls hooks are x86-64 only";
    return d;
  }
  Decoder dec;
  for (auto [name, sym] : {std::pair{"SSL_write", "crypto/tls.(*Conn).Write"},
                           std::pair{"SSL_read", "crypto/tls.(*Conn).Read"}}) {
    const ElfImage::Range& r = fns[sym];
    auto off = img.vaddr_to_offset(r.vaddr);
    if (!off || r.size == 0) {
      d.reason = std::string(sym) + " has no code in the file";
      return d;
    }
    FoundFunction f;
    f.name = name;
    f.vaddr = r.vaddr;
    f.file_offset = *off;
    f.evidence = std::string("symbol ") + sym;
    if (f.name == "SSL_read") {
      // Every RET, found by decoding the function from its symbol's start to its size.
      for (uint64_t a = r.vaddr; a < r.vaddr + r.size;) {
        Insn in;
        if (!dec.decode(img, a, {}, in)) {
          d.reason = std::string("cannot decode ") + sym + " at " + hex(a);
          d.functions.clear();
          return d;
        }
        if (in.cat == ZYDIS_CATEGORY_RET) f.return_offsets.push_back(*img.vaddr_to_offset(a));
        a += in.len;
      }
      if (f.return_offsets.empty()) {
        d.reason = std::string(sym) + " has no RET instruction";
        d.functions.clear();
        return d;
      }
    }
    d.functions.push_back(f);
  }
  d.status = DiscoveryStatus::Found;
  return d;
}

namespace {

// The libraries found by their error sites. BoringSSL's TLS layer (Bun) runs
// on its own AEAD code, so the AEAD is looked for only without it: hooking
// both would count each record twice. A static OpenSSL 3 is a library of its
// own (its record layer and ciphers), looked for beside either.
BinaryDiscovery scan_error_sites(const ElfImage& img) {
  BinaryDiscovery b;
  Discovery tls = find_boringssl(img);
  if (tls.status == DiscoveryStatus::NoTls) tls = find_awslc_aead(img);
  Discovery openssl = find_openssl_errfunc(img);
  for (Discovery* d : {&tls, &openssl})
    if (d->status != DiscoveryStatus::NoTls) b.libraries.push_back(std::move(*d));
  if (b.libraries.empty())
    b.reason = "no OpenSSL (symbols or ERR_raise sites), no Go crypto/tls, no BoringSSL and no aws-lc";
  return b;
}

}  // namespace

BinaryDiscovery discover_tls(const ElfImage& img, const DiscoveryCache* cache, bool* from_cache) {
  if (from_cache) *from_cache = false;
  // Exported symbols name the binary's TLS library outright: no scan.
  Discovery d = find_openssl_symbols(img);
  if (d.status == DiscoveryStatus::Found) return {{d}, ""};
  Discovery go = find_go_tls(img);
  if (go.status != DiscoveryStatus::NoTls) return {{go}, ""};
  BinaryDiscovery b;
  if (cache && cache->load(img, b)) {
    if (from_cache) *from_cache = true;
    return b;
  }
  b = scan_error_sites(img);
  if (cache && !b.libraries.empty()) cache->store(img, b);
  return b;
}

}  // namespace tt::discovery
