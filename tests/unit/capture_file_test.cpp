// capture/file: records written by CaptureWriter come back byte for byte, in order
// and 8-byte aligned, across the reader's block boundaries; damaged files say what
// is wrong after delivering what came before.
#include "capture/file/capture_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

std::string temp_path(const char* name) { return ::testing::TempDir() + "/" + name; }

void write_capture(const std::string& path, const std::vector<std::string>& recs) {
  auto w = tt::capture::CaptureWriter::open(path);
  ASSERT_TRUE(w.ok()) << w.error();
  std::unique_ptr<tt::capture::CaptureWriter> owner(*w);
  for (const auto& r : recs) owner->write(r.data(), r.size());
}

void append_bytes(const std::string& path, const std::string& bytes) {
  FILE* f = fopen(path.c_str(), "ab");
  ASSERT_NE(f, nullptr);
  fwrite(bytes.data(), 1, bytes.size(), f);
  fclose(f);
}

TEST(CaptureFileReader, RecordsOfEverySizeComeBackAlignedAndInOrder) {
  std::mt19937 rng(7);
  std::vector<std::string> recs;
  uint64_t total = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string r(rng() % 17000, '\0');  // 0 to past a 16 KiB chunk, any alignment
    for (char& c : r) c = static_cast<char>(rng());
    total += r.size();
    recs.push_back(std::move(r));
  }
  recs.insert(recs.begin() + 1500, std::string(3u << 20, 'b'));  // bigger than a read block
  recs.push_back(std::string(1u << 24, 'm'));                    // the largest allowed
  std::string path = temp_path("tt_capture_sizes.ttcap");
  write_capture(path, recs);

  size_t i = 0, mismatched = 0, misaligned = 0;
  auto n = tt::capture::read_capture(path, [&](const void* d, size_t size) {
    if (reinterpret_cast<uintptr_t>(d) % 8) ++misaligned;
    if (i >= recs.size() || std::string(static_cast<const char*>(d), size) != recs[i]) ++mismatched;
    ++i;
  });
  ASSERT_TRUE(n.ok()) << n.error();
  EXPECT_EQ(*n, recs.size());
  EXPECT_EQ(i, recs.size());
  EXPECT_EQ(mismatched, 0u);
  EXPECT_EQ(misaligned, 0u);
  EXPECT_GT(total, 20u << 20);
  unlink(path.c_str());
}

TEST(CaptureFileReader, EmptyCaptureHasNoRecords) {
  std::string path = temp_path("tt_capture_empty.ttcap");
  write_capture(path, {});
  auto n = tt::capture::read_capture(path, [](const void*, size_t) { ADD_FAILURE(); });
  ASSERT_TRUE(n.ok()) << n.error();
  EXPECT_EQ(*n, 0u);
  unlink(path.c_str());
}

TEST(CaptureFileReader, DamageIsReportedAfterTheGoodRecords) {
  std::string path = temp_path("tt_capture_damaged.ttcap");
  struct Case {
    std::string tail;
    const char* error;
  } cases[] = {
      {std::string("\x02\x00", 2), "corrupt record header after 2 records"},         // half a length
      {std::string("\x01\x00\x00\x02", 4), "corrupt record header after 2 records"}, // 32 MiB: over the bound
      {std::string("\x10\x00\x00\x00" "abc", 7), "truncated record after 2 records"},
  };
  for (const auto& c : cases) {
    write_capture(path, {"first", "second"});
    append_bytes(path, c.tail);
    uint64_t seen = 0;
    auto n = tt::capture::read_capture(path, [&](const void*, size_t) { ++seen; });
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(seen, 2u);
    EXPECT_NE(n.error().find(c.error), std::string::npos) << n.error();
  }
  unlink(path.c_str());
}

TEST(CaptureFileReader, UnreadableInputIsAClearError) {
  auto missing = tt::capture::read_capture(temp_path("tt_no_such_capture"), [](const void*, size_t) {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("cannot open capture file"), std::string::npos);
  // A directory opens but cannot be read.
  auto dir = tt::capture::read_capture(::testing::TempDir(), [](const void*, size_t) {});
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().find("read error after 0 records: Is a directory"), std::string::npos) << dir.error();
  // Shorter than the magic.
  std::string path = temp_path("tt_capture_short");
  FILE* f = fopen(path.c_str(), "wb");
  fputs("TOKENTAP", f);
  fclose(f);
  auto shrt = tt::capture::read_capture(path, [](const void*, size_t) {});
  ASSERT_FALSE(shrt.ok());
  EXPECT_NE(shrt.error().find("bad magic"), std::string::npos);
  unlink(path.c_str());
}

}  // namespace
