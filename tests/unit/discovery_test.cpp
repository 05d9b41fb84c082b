// Symbol-less discovery of BoringSSL's SSL_read/SSL_write in the real Bun
// harness binaries from the npm registry (scripts/install-harnesses.sh), and
// on doctored copies of one, which must be refused, never attached wrongly.
// The expected addresses were read off a disassembly of each pinned build.
#include <elf.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <filesystem>

#include "capture/discovery/discovery_cache.h"
#include "capture/discovery/tls_discovery.h"

#include <openssl/opensslv.h>

namespace tt::discovery {
namespace {

std::string harness_dir() {
  const char* d = getenv("TOKENTAP_HARNESS_DIR");
  return d ? d : "/var/cache/tokentap/harnesses";
}

// The harness binaries are test inputs: missing means the suite was not set
// up, which must not pass silently.
std::unique_ptr<ElfImage> open_harness(const std::string& rel) {
  std::string path = harness_dir() + "/" + rel;
  if (access(path.c_str(), R_OK) != 0) {
    if (getenv("TOKENTAP_SKIP_HARNESSES")) return nullptr;
    ADD_FAILURE() << path << " is missing: run scripts/install-harnesses.sh (or set TOKENTAP_SKIP_HARNESSES=1)";
    return nullptr;
  }
  auto img = ElfImage::open(path);
  EXPECT_TRUE(img.ok()) << (img.ok() ? "" : img.error());
  return img.ok() ? std::move(*img) : nullptr;
}

// The binary's one TLS library (a test fails if there are more or none).
Discovery only_library(const BinaryDiscovery& b) {
  EXPECT_EQ(b.libraries.size(), 1u) << b.reason;
  return b.libraries.size() == 1 ? b.libraries[0] : Discovery{};
}

struct BunCase {
  const char* name;
  const char* path;
  const char* build_id;
  const char* runtime;
  uint64_t ssl_write, ssl_read;        // vaddr
  uint64_t write_offset, read_offset;  // file offset
};

const BunCase kCases[] = {
    {"claude", "claude/node_modules/@anthropic-ai/claude-code-linux-x64/claude",
     "d72a729b5627657c0649e49ae9d771fec0783039", "Bun v1.4.4", 0x331e660, 0x331e810, 0x311d660, 0x311d810},
    {"opencode", "opencode/node_modules/opencode-linux-x64/bin/opencode",
     "c30f169b1bef81fa57467cd091ba53aab5235468", "Bun v1.3.14", 0x3ae3780, 0x3ae33f0, 0x367f780, 0x367f3f0},
    // Same Bun build as opencode (same build id), different file layout.
    {"kilo", "kilo/node_modules/@kilocode/cli-linux-x64/bin/kilo", "c30f169b1bef81fa57467cd091ba53aab5235468",
     "Bun v1.3.14", 0x3ae3780, 0x3ae33f0, 0x3681780, 0x36813f0},
    {"cline", "cline/node_modules/@cline/cli-linux-x64/bin/cline", "2dd82663b2edade5691891dbdfb20f68ae04d8be",
     "Bun v1.3.13", 0x4d7ca40, 0x4d7bdb0, 0x4a64a40, 0x4a63db0},
};

// Test names and failure messages show the harness, not the bytes of the struct.
void PrintTo(const BunCase& c, std::ostream* os) { *os << c.name; }

class BunBinaries : public ::testing::TestWithParam<BunCase> {};

TEST_P(BunBinaries, FindsSslReadAndWrite) {
  const BunCase& c = GetParam();
  auto img = open_harness(c.path);
  if (!img) return;
  EXPECT_EQ(img->build_id(), c.build_id);
  EXPECT_TRUE(img->function_offsets({"SSL_write", "SSL_read"}).empty()) << "expected a stripped binary";
  Discovery d = only_library(discover_tls(*img));
  ASSERT_EQ(d.status, DiscoveryStatus::Found) << d.reason;
  EXPECT_EQ(d.library, "boringssl");
  EXPECT_EQ(d.runtime, c.runtime);
  ASSERT_EQ(d.functions.size(), 2u);
  ASSERT_NE(d.function("SSL_write"), nullptr);
  ASSERT_NE(d.function("SSL_read"), nullptr);
  EXPECT_EQ(d.function("SSL_write")->vaddr, c.ssl_write);
  EXPECT_EQ(d.function("SSL_read")->vaddr, c.ssl_read);
  EXPECT_EQ(d.function("SSL_write")->file_offset, c.write_offset);
  EXPECT_EQ(d.function("SSL_read")->file_offset, c.read_offset);
}

INSTANTIATE_TEST_SUITE_P(Harnesses, BunBinaries, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Codex: Rust, rustls over aws-lc, stripped, PIE, no build id. The C functions
// are reached through the GOT, so their entries are found from GOT pointers.
const char* kCodex = "codex/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex";
constexpr uint64_t kCodexSeal = 0x1125fad0, kCodexOpen = 0x1125fd10, kCodexInit = 0x1125fa10,
                   kCodexSealScatter = 0x1125fbf0;
constexpr uint64_t kCodexTextDelta = 0x1000;  // vaddr - file offset of its code segment

// Codex also links a static OpenSSL 3 (native-tls, beside rustls): both are
// found and hooked, each on its own.
constexpr uint64_t kCodexSslRead = 0x10e64c50, kCodexSslWrite = 0x10e65240;

// Exactly these functions, at these addresses in Codex's code segment.
void expect_codex_functions(const Discovery& d, std::initializer_list<std::pair<const char*, uint64_t>> want) {
  ASSERT_EQ(d.functions.size(), want.size());
  for (auto [name, vaddr] : want) {
    ASSERT_NE(d.function(name), nullptr) << name;
    EXPECT_EQ(d.function(name)->vaddr, vaddr) << name;
    EXPECT_EQ(d.function(name)->file_offset, vaddr - kCodexTextDelta) << name;
  }
}

void expect_codex_aws_lc(const Discovery& d) {
  ASSERT_EQ(d.status, DiscoveryStatus::Found) << d.reason;
  EXPECT_EQ(d.library, "aws-lc");
  EXPECT_EQ(d.method, kAwsLcMethod);
  EXPECT_EQ(d.runtime, "rustls 0.23.46");
  expect_codex_functions(d, {{"AEAD_seal", kCodexSeal}, {"AEAD_open", kCodexOpen}, {"AEAD_init", kCodexInit},
                             {"AEAD_seal_scatter", kCodexSealScatter}});
}

void expect_codex_openssl(const Discovery& d) {
  ASSERT_EQ(d.status, DiscoveryStatus::Found) << d.reason;
  EXPECT_EQ(d.library, "openssl");
  EXPECT_EQ(d.method, kOpenSslErrFuncMethod);
  EXPECT_EQ(d.runtime, "OpenSSL 3.6.4");
  // 3.6: ssl_write_internal takes the flags argument of 3.2 and later.
  expect_codex_functions(d, {{"ssl_read_internal", kCodexSslRead}, {"ssl_write_internal_flags", kCodexSslWrite}});
}

TEST(Discovery, CodexRustlsAeadAndOpenSslFromErrorSites) {
  auto img = open_harness(kCodex);
  if (!img) return;
  EXPECT_EQ(img->build_id(), "");
  BinaryDiscovery b = discover_tls(*img);
  ASSERT_EQ(b.libraries.size(), 2u);
  expect_codex_aws_lc(b.libraries[0]);
  expect_codex_openssl(b.libraries[1]);
}

TEST(Discovery, NodeExportsOpenSsl) {
  auto img = ElfImage::open("/usr/bin/node");
  ASSERT_TRUE(img.ok()) << img.error();
  Discovery d = only_library(discover_tls(**img));
  ASSERT_EQ(d.status, DiscoveryStatus::Found) << d.reason;
  EXPECT_EQ(d.library, "openssl");
  EXPECT_EQ(d.method, "symbols");
  for (const char* f : {"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex", "SSL_free"})
    EXPECT_NE(d.function(f), nullptr) << f;
}

TEST(Discovery, BinaryWithoutTlsIsNotAnError) {
  auto img = ElfImage::open("/bin/true");
  ASSERT_TRUE(img.ok()) << img.error();
  BinaryDiscovery b = discover_tls(**img);
  EXPECT_TRUE(b.libraries.empty());
  EXPECT_NE(b.reason.find("no OpenSSL"), std::string::npos) << b.reason;
}

// Found by fuzz/elf_fuzz.cpp (UBSan: memcpy from a null vector): a binary with
// no section headers at all (e_shnum 0, as sstrip leaves one) is read by its
// segments alone.
TEST(Discovery, BinaryWithoutSectionHeaders) {
  char path[] = "/tmp/tt-noshdr-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::filesystem::copy_file("/bin/true", path, std::filesystem::copy_options::overwrite_existing);
  const uint16_t zero = 0;
  ASSERT_EQ(pwrite(fd, &zero, sizeof(zero), offsetof(Elf64_Ehdr, e_shnum)), 2);
  close(fd);
  auto img = ElfImage::open(path);
  unlink(path);
  ASSERT_TRUE(img.ok()) << img.error();
  EXPECT_TRUE((*img)->sections().empty());
  EXPECT_FALSE((*img)->segments().empty());
  EXPECT_TRUE(discover_tls(**img).libraries.empty());
}

TEST(Discovery, NonElfIsAClearError) {
  auto img = ElfImage::open(std::string(TT_TEST_DATA_DIR) + "/http/reply.json");
  ASSERT_FALSE(img.ok());
  EXPECT_NE(img.error().find("not an ELF file"), std::string::npos) << img.error();
}

// --- doctored binaries: a private copy-on-write mapping of the real cline
// binary, patched in memory.

const BunCase& cline() { return kCases[3]; }

uint8_t* at(ElfImage& img, uint64_t vaddr) { return img.mutable_data() + *img.vaddr_to_offset(vaddr); }

// Finds `mov esi, imm32` (be imm32) with this immediate within n bytes.
uint8_t* find_mov_esi(ElfImage& img, uint64_t from, size_t n, uint32_t imm) {
  uint8_t* p = at(img, from);
  for (size_t i = 0; i + 5 <= n; ++i) {
    uint32_t v;
    memcpy(&v, p + i + 1, 4);
    if (p[i] == 0xbe && v == imm) return p + i;
  }
  return nullptr;
}

TEST(DoctoredBinary, ChangedReasonCodeIsRefused) {
  auto img = open_harness(cline().path);
  if (!img) return;
  // SSL_write's `num < 0` check raises SSL_R_BAD_LENGTH (111): make it 112.
  uint8_t* mov = find_mov_esi(*img, cline().ssl_write, 0x200, 111);
  ASSERT_NE(mov, nullptr);
  mov[1] = 112;
  Discovery d = only_library(discover_tls(*img));
  EXPECT_EQ(d.status, DiscoveryStatus::Refused);
  EXPECT_TRUE(d.functions.empty());
  EXPECT_NE(d.reason.find("0 functions match SSL_write"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("will not attach"), std::string::npos) << d.reason;
}

TEST(DoctoredBinary, UnverifiableEntryIsNotGuessed) {
  auto img = open_harness(cline().path);
  if (!img) return;
  // Erase the boundary before SSL_write: the int3 padding becomes nops, so the
  // previous function's code runs straight into it. Its error sites must not
  // be attributed to the previous function, whose entry is still verifiable.
  uint8_t* entry = at(*img, cline().ssl_write);
  for (int i = 1; i <= 11; ++i) {
    ASSERT_EQ(entry[-i], 0xcc);
    entry[-i] = 0x90;
  }
  Discovery d = only_library(discover_tls(*img));
  EXPECT_EQ(d.status, DiscoveryStatus::Refused) << "attached at " << (d.function("SSL_write") ? d.function("SSL_write")->vaddr : 0);
  EXPECT_TRUE(d.functions.empty());
}

TEST(DoctoredBinary, GarbageAtEntryIsRefused) {
  auto img = open_harness(cline().path);
  if (!img) return;
  uint8_t* entry = at(*img, cline().ssl_read);
  memset(entry + 4, 0x06, 8);  // 0x06 (push es) does not exist in 64-bit mode
  Discovery d = only_library(discover_tls(*img));
  EXPECT_EQ(d.status, DiscoveryStatus::Refused);
  EXPECT_NE(d.reason.find("SSL_read"), std::string::npos) << d.reason;
}

TEST(DoctoredBinary, WithoutSourceStringsThereIsNoBoringSsl) {
  auto img = open_harness(cline().path);
  if (!img) return;
  uint8_t* d0 = img->mutable_data();
  const char needle[] = "ssl/ssl_lib.cc";
  for (uint8_t* p = d0; (p = static_cast<uint8_t*>(memmem(p, img->size() - (p - d0), needle, sizeof(needle))));)
    p[5] = 'X';  // "ssl/sXl_lib.cc"
  EXPECT_TRUE(discover_tls(*img).libraries.empty());
}

// --- a stripped static OpenSSL 3 (tests/tools/static_openssl.c, built with
// Debian's libssl.a): found by the function names its ERR_raise() sites
// record, where the unstripped build's symbols say the functions are.

const std::string kStaticOpenSsl = TT_STATIC_OPENSSL_BIN;

std::unique_ptr<ElfImage> open_build(const std::string& path) {
  auto img = ElfImage::open(path);
  EXPECT_TRUE(img.ok()) << (img.ok() ? "" : img.error());
  return img.ok() ? std::move(*img) : nullptr;
}

// ssl_write_internal's arguments changed in 3.2: the headers the archive came
// with say which this one has.
const char* static_write_name() { return OPENSSL_VERSION_MINOR >= 2 ? "ssl_write_internal_flags" : "ssl_write_internal"; }

TEST(StaticOpenSsl, FoundByErrorSiteFunctionNames) {
  auto symbols = open_build(kStaticOpenSsl);
  auto img = open_build(kStaticOpenSsl + ".stripped");
  if (!symbols || !img) return;
  auto want = symbols->symbol_vaddrs({"ssl_read_internal", "ssl_write_internal"});
  ASSERT_EQ(want.size(), 2u) << "the unstripped build has no ssl_*_internal symbols";
  EXPECT_TRUE(img->function_offsets({"SSL_write", "SSL_read", "ssl_read_internal"}).empty()) << "expected a stripped binary";
  Discovery d = only_library(discover_tls(*img));
  ASSERT_EQ(d.status, DiscoveryStatus::Found) << d.reason;
  EXPECT_EQ(d.library, "openssl");
  EXPECT_EQ(d.method, kOpenSslErrFuncMethod);
  EXPECT_EQ(d.runtime, "OpenSSL " OPENSSL_VERSION_STR);
  ASSERT_EQ(d.functions.size(), 2u);
  for (auto [name, symbol] : {std::pair{"ssl_read_internal", "ssl_read_internal"}, {static_write_name(), "ssl_write_internal"}}) {
    const FoundFunction* f = d.function(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->vaddr, want[symbol]) << name;
    EXPECT_EQ(f->file_offset, *img->vaddr_to_offset(want[symbol])) << name;
  }
}

// Without its version text the write side's arguments are unknown: refused,
// not guessed.
TEST(StaticOpenSsl, WithoutVersionTextIsRefused) {
  auto img = open_build(kStaticOpenSsl + ".stripped");
  if (!img) return;
  uint8_t* d0 = img->mutable_data();
  const char needle[] = "OpenSSL 3.";
  for (uint8_t* p = d0; (p = static_cast<uint8_t*>(memmem(p, img->size() - (p - d0), needle, sizeof(needle) - 1)));)
    p[0] = 'X';
  Discovery d = only_library(discover_tls(*img));
  EXPECT_EQ(d.status, DiscoveryStatus::Refused);
  EXPECT_TRUE(d.functions.empty());
  EXPECT_NE(d.reason.find("version text"), std::string::npos) << d.reason;
}

// The read side found and no function raising errors as ssl_write_internal
// (its name renamed away): refused, not hooked half.
TEST(StaticOpenSsl, WithoutWriteSitesIsRefused) {
  auto img = open_build(kStaticOpenSsl + ".stripped");
  if (!img) return;
  uint8_t* d0 = img->mutable_data();
  const char needle[] = "ssl_write_internal";
  for (uint8_t* p = d0; (p = static_cast<uint8_t*>(memmem(p, img->size() - (p - d0), needle, sizeof(needle))));)
    p[0] = 'X';  // "Xsl_write_internal"
  Discovery d = only_library(discover_tls(*img));
  EXPECT_EQ(d.status, DiscoveryStatus::Refused);
  EXPECT_TRUE(d.functions.empty());
  EXPECT_NE(d.reason.find("no \"ssl_write_internal\" error sites"), std::string::npos) << d.reason;
}

// --- the cache

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tt-discovery-cache-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Discovers twice through a fresh cache: a miss that stores, then a hit
  // with the same libraries at the same addresses.
  BinaryDiscovery miss_then_hit(ElfImage& img, DiscoveryCache& cache) {
    bool hit = true;
    BinaryDiscovery first = cache.discover(img, &hit);
    EXPECT_FALSE(hit);
    BinaryDiscovery second = cache.discover(img, &hit);
    EXPECT_TRUE(hit);
    EXPECT_EQ(second.libraries.size(), first.libraries.size());
    for (size_t i = 0; i < first.libraries.size() && i < second.libraries.size(); ++i) {
      EXPECT_EQ(second.libraries[i].status, first.libraries[i].status);
      EXPECT_EQ(second.libraries[i].method, first.libraries[i].method);
      EXPECT_EQ(second.libraries[i].functions.size(), first.libraries[i].functions.size());
      for (const auto& f : first.libraries[i].functions) {
        const FoundFunction* again = second.libraries[i].function(f.name);
        EXPECT_EQ(again ? again->file_offset : 0, f.file_offset) << f.name;
      }
    }
    return second;
  }
  std::string dir_;
};

TEST_F(CacheTest, HitIsVerifiedAgainstTheCode) {
  auto img = open_harness(cline().path);
  if (!img) return;
  DiscoveryCache cache(dir_);
  Discovery second = only_library(miss_then_hit(*img, cache));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/" + cline().build_id + ".json"));
  ASSERT_EQ(second.status, DiscoveryStatus::Found);
  EXPECT_EQ(second.function("SSL_write")->vaddr, cline().ssl_write);
  EXPECT_EQ(second.function("SSL_write")->file_offset, cline().write_offset);
  EXPECT_EQ(second.function("SSL_read")->file_offset, cline().read_offset);
  EXPECT_EQ(second.runtime, cline().runtime);

  // Same build id and size, different code at SSL_write: the cache entry must
  // not be used, and fresh analysis of this (broken) code refuses.
  at(*img, cline().ssl_write)[0] = 0x06;
  bool hit = true;
  Discovery third = only_library(cache.discover(*img, &hit));
  EXPECT_FALSE(hit);
  EXPECT_NE(third.status, DiscoveryStatus::Found);
}

// No build id: the entry is keyed by file size and an ELF layout hash, and
// still verified against the code: one library's code changed is a miss, and
// the fresh analysis refuses that one while the other is still found.
TEST_F(CacheTest, BinaryWithoutBuildIdIsCachedAndVerified) {
  auto img = open_harness(kCodex);
  if (!img) return;
  DiscoveryCache cache(dir_);
  BinaryDiscovery second = miss_then_hit(*img, cache);
  ASSERT_EQ(second.libraries.size(), 2u);
  expect_codex_aws_lc(second.libraries[0]);
  expect_codex_openssl(second.libraries[1]);
  at(*img, kCodexOpen)[1] = 0x06;
  bool hit = true;
  BinaryDiscovery third = cache.discover(*img, &hit);
  EXPECT_FALSE(hit);
  ASSERT_EQ(third.libraries.size(), 2u);
  EXPECT_EQ(third.libraries[0].library, "aws-lc");
  EXPECT_EQ(third.libraries[0].status, DiscoveryStatus::Refused);
  expect_codex_openssl(third.libraries[1]);
}

// EVP_AEAD_CTX_seal's overflow check raises CIPHER_R_TOO_LARGE (117): with it
// changed, nothing matches seal and aws-lc is refused, reported beside the
// OpenSSL that is still found.
TEST(DoctoredBinary, CodexWithoutTheSealSignatureIsRefused) {
  auto img = open_harness(kCodex);
  if (!img) return;
  uint8_t* p = at(*img, kCodexSeal);
  uint8_t* mov = nullptr;
  for (size_t i = 0; i + 5 <= 0x100 && !mov; ++i)
    if (p[i] == 0xba && p[i + 1] == 117 && !p[i + 2] && !p[i + 3] && !p[i + 4]) mov = p + i;  // mov edx, 117
  ASSERT_NE(mov, nullptr);
  mov[1] = 118;
  BinaryDiscovery b = discover_tls(*img);
  ASSERT_EQ(b.libraries.size(), 2u);
  const Discovery& d = b.libraries[0];
  EXPECT_EQ(d.library, "aws-lc");
  EXPECT_EQ(d.status, DiscoveryStatus::Refused);
  EXPECT_TRUE(d.functions.empty());
  EXPECT_NE(d.reason.find("0 functions match EVP_AEAD_CTX_seal"), std::string::npos) << d.reason;
  expect_codex_openssl(b.libraries[1]);
}

TEST_F(CacheTest, DisabledCacheWritesNothing) {
  auto img = open_harness(cline().path);
  if (!img) return;
  DiscoveryCache cache("");
  bool hit = true;
  EXPECT_EQ(only_library(cache.discover(*img, &hit)).status, DiscoveryStatus::Found);
  EXPECT_FALSE(hit);
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

}  // namespace
}  // namespace tt::discovery
