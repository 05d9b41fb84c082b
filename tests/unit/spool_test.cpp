// spool: segments in the --out format, rotated at their size, bounded with
// the drops counted, a torn tail cut at restart and the next run in a new
// segment, every record read back once.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "config/config.h"
#include "ship/spool_reader.h"
#include "sink/spool.h"

namespace {

namespace fs = std::filesystem;
namespace v1 = ::tokentap::v1;
using tt::sink::Recovery;
using tt::sink::SpoolOptions;
using tt::sink::SpoolSink;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tt_spool_" + std::to_string(getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A spool over dir_ as the daemon opens one: directory, recovery, ack file.
  std::unique_ptr<SpoolSink> open(SpoolOptions o, Recovery* seen = nullptr) {
    auto dir = tt::sink::open_spool_dir(dir_, getuid(), getgid());
    EXPECT_TRUE(dir) << dir.error();
    auto rec = tt::sink::recover_spool(*dir);
    EXPECT_TRUE(rec) << rec.error();
    if (seen) *seen = *rec;
    auto ack = tt::sink::open_ack_file(*dir);
    return std::make_unique<SpoolSink>(*dir, *ack, *rec, o);
  }

  static v1::Record record(const std::string& run, int i) {
    v1::Record r;
    r.mutable_request()->set_run_id(run);
    r.mutable_request()->set_model("model-" + std::to_string(i) + std::string(100, 'x'));
    return r;
  }

  std::vector<std::string> segments() const {
    std::vector<std::string> names;
    for (auto& e : fs::directory_iterator(dir_))
      if (e.path().extension() == ".pb") names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  // Every record of every segment, oldest first.
  std::vector<v1::Record> read_all() const {
    std::vector<v1::Record> all;
    for (auto& name : segments()) {
      auto recs = tt::sink::read_delimited_records(dir_ / name);
      EXPECT_TRUE(recs) << recs.error();
      all.insert(all.end(), recs->begin(), recs->end());
    }
    return all;
  }

  int open_dir() const { return ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); }

  fs::path dir_;
};

TEST_F(SpoolTest, SegmentsRotateAtTheirSizeAndNumberRecords) {
  auto s = open({1 << 20, 1000, 1000});
  for (int i = 0; i < 30; ++i) s->write(record("run1", i));
  ASSERT_TRUE(s->close());
  auto names = segments();
  EXPECT_GT(names.size(), 3u);
  EXPECT_EQ(names.front(), "000000000001.pb");
  for (auto& n : names) EXPECT_LE(fs::file_size(dir_ / n), 1000u) << n;
  auto all = read_all();
  ASSERT_EQ(all.size(), 30u);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(all[i].seq(), uint64_t(i + 1));
    EXPECT_EQ(all[i].request().model(), record("run1", i).request().model());
  }
}

TEST_F(SpoolTest, BoundDeletesOldestSegmentsAndCountsThem) {
  auto s = open({3000, 1000, 1000});
  v1::CaptureStats stats;
  s->report_to(&stats);
  for (int i = 0; i < 60; ++i) s->write(record("run1", i));
  ASSERT_TRUE(s->close());
  uint64_t total = 0;
  for (auto& n : segments()) total += fs::file_size(dir_ / n);
  EXPECT_LE(total, 3000u);
  auto all = read_all();
  EXPECT_GT(stats.spool_records_dropped(), 0u);
  EXPECT_EQ(all.size() + stats.spool_records_dropped(), 60u);
  EXPECT_EQ(all.back().seq(), 60u);  // the newest are kept
  EXPECT_GT(stats.spool_bytes_dropped(), 0u);
}

TEST_F(SpoolTest, AckFileSaysWhatIsSynced) {
  auto s = open({1 << 20, 1 << 20, 1000});
  for (int i = 0; i < 5; ++i) s->write(record("run1", i));
  EXPECT_EQ(s->records_acked(), 0u);
  ASSERT_TRUE(s->sync());
  EXPECT_EQ(s->records_acked(), 5u);
  std::ifstream ack(dir_ / "ack");
  uint64_t seg = 0, off = 0, n = 0;
  ack >> seg >> off >> n;
  EXPECT_EQ(seg, 1u);
  EXPECT_EQ(off, fs::file_size(dir_ / "000000000001.pb"));
  EXPECT_EQ(n, 5u);
}

TEST_F(SpoolTest, FsyncWaitsForItsInterval) {
  auto s = open({1 << 20, 1 << 20, 50});
  s->write(record("run1", 0));
  s->tick(0);  // monotonic 0 ms: long before the write
  EXPECT_EQ(s->records_acked(), 0u);
  usleep(60'000);
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  s->tick(uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000);
  EXPECT_EQ(s->records_acked(), 1u);
}

// A crash mid-write, then a restart: the torn record is cut, the next run
// writes a new segment, and every whole record is read once.
TEST_F(SpoolTest, TornTailIsCutAndRestartContinuesInANewSegment) {
  {
    auto s = open({1 << 20, 1 << 20, 1000});
    for (int i = 0; i < 10; ++i) s->write(record("run1", i));
    ASSERT_TRUE(s->close());
  }
  std::string torn = tt::sink::delimited_bytes(record("run1", 10));
  {
    std::ofstream f(dir_ / "000000000001.pb", std::ios::app | std::ios::binary);
    f.write(torn.data(), torn.size() / 2);
  }
  Recovery seen;
  auto s = open({1 << 20, 1 << 20, 1000}, &seen);
  EXPECT_EQ(seen.repaired_bytes, torn.size() / 2);
  ASSERT_EQ(seen.segments.size(), 1u);
  EXPECT_EQ(seen.segments[0].records, 10u);
  EXPECT_EQ(seen.next_seq, 2u);
  v1::CaptureStats stats;
  s->report_to(&stats);
  EXPECT_EQ(stats.spool_tail_bytes_repaired(), torn.size() / 2);
  for (int i = 0; i < 4; ++i) s->write(record("run2", i));
  ASSERT_TRUE(s->close());
  EXPECT_EQ(segments(), (std::vector<std::string>{"000000000001.pb", "000000000002.pb"}));
  std::set<std::pair<std::string, uint64_t>> ids;
  for (auto& r : read_all()) EXPECT_TRUE(ids.insert({r.request().run_id(), r.seq()}).second);
  EXPECT_EQ(ids.size(), 14u);
}

// Blocks allocated but never written (a power cut) read as zeros: a zero
// size is no record we write, so the tail is cut there.
TEST_F(SpoolTest, ZeroedTailIsCut) {
  {
    auto s = open({1 << 20, 1 << 20, 1000});
    for (int i = 0; i < 3; ++i) s->write(record("run1", i));
    ASSERT_TRUE(s->close());
  }
  uint64_t good = fs::file_size(dir_ / "000000000001.pb");
  fs::resize_file(dir_ / "000000000001.pb", good + 4096);
  Recovery seen;
  auto s = open({1 << 20, 1 << 20, 1000}, &seen);
  EXPECT_EQ(seen.repaired_bytes, 4096u);
  EXPECT_EQ(fs::file_size(dir_ / "000000000001.pb"), good);
  ASSERT_TRUE(s->close());
  EXPECT_EQ(read_all().size(), 3u);
}

TEST_F(SpoolTest, RecoveryCountsEverySegment) {
  {
    auto s = open({1 << 20, 600, 1000});
    for (int i = 0; i < 20; ++i) s->write(record("run1", i));
    ASSERT_TRUE(s->close());
  }
  Recovery seen;
  auto s = open({1 << 20, 600, 1000}, &seen);
  uint64_t n = 0;
  for (auto& seg : seen.segments) n += seg.records;
  EXPECT_EQ(n, 20u);
  EXPECT_EQ(seen.next_seq, seen.segments.back().seq + 1);
  EXPECT_EQ(seen.repaired_bytes, 0u);
}

TEST_F(SpoolTest, JsonCarriesTheRecordSeq) {
  v1::Record r = record("run1", 0);
  EXPECT_EQ(tt::sink::record_to_json(r).find("record_seq"), std::string::npos);
  r.set_seq(7);
  auto j = nlohmann::json::parse(tt::sink::record_to_json(r));
  EXPECT_EQ(j["record_seq"], 7);
  EXPECT_EQ(j["type"], "request");
}

TEST(SpoolConfigTest, SpoolSection) {
  auto c = tt::config::parse("[spool]\ndir = \"/var/spool/tokentap\"\nmax_mb = 10\nsegment_mb = 2\nfsync_ms = 250\n", "t");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->spool.dir, "/var/spool/tokentap");
  EXPECT_EQ(c->spool.max_mb, 10u);
  EXPECT_EQ(c->spool.segment_mb, 2u);
  EXPECT_EQ(c->spool.fsync_ms, 250u);
  EXPECT_FALSE(tt::config::parse("[spool]\nmax_mb = 0\n", "t"));
  EXPECT_FALSE(tt::config::parse("[spool]\nrotate = 1\n", "t"));
}

}  // namespace

// ---- the shipper's reader (ship/spool_reader.h) ----

namespace {

std::vector<uint64_t> seqs_of(const tt::ship::Batch& b) {
  std::vector<uint64_t> v;
  for (const auto& r : b.records) v.push_back(r.seq());
  return v;
}

std::vector<uint64_t> range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> v;
  for (uint64_t i = from; i <= to; ++i) v.push_back(i);
  return v;
}

}  // namespace

// Only what the ack file says is on disk, in spool order, across segments, in batches.
TEST_F(SpoolTest, ShipperReadsOnlyWhatIsSyncedInOrder) {
  auto s = open({1 << 20, 1000, 60000});
  for (int i = 0; i < 20; ++i) s->write(record("run1", i));
  ASSERT_TRUE(s->sync());
  for (int i = 20; i < 25; ++i) s->write(record("run1", i));  // not synced yet
  ASSERT_GT(segments().size(), 2u);
  int dir = open_dir();
  // A segment's rotation syncs it: what is acked is what the ack file says.
  auto ack = tt::sink::read_ack(dir);
  ASSERT_TRUE(ack);
  uint64_t synced = ack->records;
  ASSERT_GE(synced, 20u);
  ASSERT_LT(synced, 25u);
  tt::ship::SpoolReader reader(dir);
  auto all = reader.next({}, 1000, 1 << 30);
  ASSERT_TRUE(all) << all.error();
  EXPECT_EQ(seqs_of(*all), range(1, synced));
  tt::ship::Cursor at{};
  std::vector<uint64_t> got;
  for (int k = 0; k < 5; ++k) {
    auto b = reader.next(at, 7, 1 << 30);
    ASSERT_TRUE(b) << b.error();
    auto v = seqs_of(*b);
    got.insert(got.end(), v.begin(), v.end());
    at = b->end;
  }
  EXPECT_EQ(got, range(1, synced));
  ASSERT_TRUE(s->sync());
  auto rest = reader.next(at, 1000, 1 << 30);
  ASSERT_TRUE(rest);
  EXPECT_EQ(seqs_of(*rest), range(synced + 1, 25));
  close(dir);
}

// An ack deletes the segments it passed and is remembered for the next run;
// the spool's bound then does not count them as dropped.
TEST_F(SpoolTest, ShipperAckDeletesAndResumes) {
  auto s = open({4000, 1000, 60000});  // 20 records: ~2,800 bytes
  v1::CaptureStats stats;
  s->report_to(&stats);
  for (int i = 0; i < 20; ++i) s->write(record("run1", i));
  ASSERT_TRUE(s->sync());
  int dir = open_dir();
  auto first = tt::ship::SpoolReader(dir).next({}, 12, 1 << 30);
  ASSERT_TRUE(first);
  ASSERT_EQ(seqs_of(*first), range(1, 12));
  ASSERT_TRUE(tt::ship::SpoolReader(dir).acknowledged(first->end));
  EXPECT_GT(std::stoull(segments().front()), 1u);  // the first segments are gone
  tt::ship::SpoolReader again(dir);
  EXPECT_EQ(again.load(), first->end);
  auto rest = again.next(again.load(), 1000, 1 << 30);
  ASSERT_TRUE(rest);
  EXPECT_EQ(seqs_of(*rest), range(13, 20));
  ASSERT_TRUE(again.acknowledged(rest->end));
  // Past the bound as the spool counts it, not on disk: the shipped segments
  // go from its count, and no unshipped record is dropped.
  for (int i = 20; i < 40; ++i) s->write(record("run1", i));
  ASSERT_TRUE(s->close());
  EXPECT_EQ(stats.spool_records_dropped(), 0u);
  std::set<uint64_t> left;
  for (const auto& r : read_all()) left.insert(r.seq());
  for (uint64_t q = 21; q <= 40; ++q) EXPECT_TRUE(left.count(q)) << q;
  close(dir);
}
