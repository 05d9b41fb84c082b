// Rotation of the daemon's --json and --out files (sink/rotate.h): the renames,
// what is kept, the fresh file, and a sink moving to it between two records.
#include "sink/rotate.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.h"
#include "sink/sink.h"

namespace {

namespace fs = std::filesystem;
using tt::sink::rotate_if_due;
using tt::sink::RotateOptions;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class RotateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tt_rotate_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "records.jsonl").string();
    fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    close(fd_);
    fs::remove_all(dir_);
  }
  void put(const std::string& s) { ASSERT_EQ(write(fd_, s.data(), s.size()), ssize_t(s.size())); }
  // What the writer does with the fresh file: it takes the old one's number.
  void take(int new_fd) {
    ASSERT_GE(dup3(new_fd, fd_, O_CLOEXEC), 0);
    close(new_fd);
  }
  fs::path dir_;
  std::string path_;
  int fd_ = -1;
};

TEST_F(RotateTest, NotDueUnderTheSizeOrWhenOff) {
  put(std::string(99, 'x'));
  auto r = rotate_if_due(path_, fd_, {100, 5});
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->new_fd, -1);
  r = rotate_if_due(path_, fd_, {0, 5});  // 0: never
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->new_fd, -1);
  EXPECT_FALSE(fs::exists(path_ + ".1"));
}

TEST_F(RotateTest, RenamesAndOpensAFreshFileWithTheSameMode) {
  put("first\n");
  auto r = rotate_if_due(path_, fd_, {6, 5});
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_GE(r->new_fd, 0);
  EXPECT_EQ(slurp(path_ + ".1"), "first\n");
  EXPECT_EQ(slurp(path_), "");
  struct stat st {}, fst {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // This side's fd is the fresh file already: the next check measures it.
  ASSERT_EQ(fstat(fd_, &fst), 0);
  EXPECT_EQ(fst.st_ino, st.st_ino);
  close(r->new_fd);
}

// keep = 2: path, path.1, path.2; the oldest goes, and the log says how big it was.
TEST_F(RotateTest, KeepsTheNewestAndSaysWhatItRemoved) {
  for (char c : std::string("abcd")) {
    put(std::string(10, c));
    auto r = rotate_if_due(path_, fd_, {10, 2});
    ASSERT_TRUE(r.ok()) << r.error();
    ASSERT_GE(r->new_fd, 0);
    if (c < 'c') {
      EXPECT_EQ(r->removed, "");
    } else {
      EXPECT_EQ(r->removed, path_ + ".2");
      EXPECT_EQ(r->removed_bytes, 10u);
    }
    close(r->new_fd);
  }
  EXPECT_EQ(slurp(path_ + ".2"), std::string(10, 'c'));
  EXPECT_EQ(slurp(path_ + ".1"), std::string(10, 'd'));
  EXPECT_EQ(slurp(path_), "");
  EXPECT_FALSE(fs::exists(path_ + ".3"));
}

// Someone else's file at the path between the rename and the create: refused, not written into.
TEST_F(RotateTest, RefusesWhenThePathIsTaken) {
  put("0123456789");
  fs::create_directory(path_ + ".1");  // the rename of path to path.1 cannot happen
  std::ofstream(path_ + ".1/x") << "y";
  auto r = rotate_if_due(path_, fd_, {10, 1});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("cannot"), std::string::npos) << r.error();
}

// The sink moves to the fresh file between two records: each record whole, in
// one file, in order; records written after the rename but before the switch
// are at the end of path.1.
TEST_F(RotateTest, SinkSwitchesBetweenRecords) {
  auto sink = tt::sink::JsonLinesSink::open(path_);
  ASSERT_TRUE(sink.ok()) << sink.error();
  tokentap::v1::Record rec;
  auto put_rec = [&](uint64_t seq) {
    rec.set_seq(seq);
    (*sink)->write(rec);
  };
  put_rec(1);
  int rotator_fd = dup((*sink)->fd());  // the privileged side's own fd for the file
  auto r = rotate_if_due(path_, rotator_fd, {1, 3});
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_GE(r->new_fd, 0);
  close(rotator_fd);
  put_rec(2);  // renamed, not switched yet: the end of path.1
  ASSERT_TRUE((*sink)->switch_to(r->new_fd).ok());
  put_rec(3);
  ASSERT_TRUE((*sink)->close().ok());
  std::string one = slurp(path_ + ".1"), now = slurp(path_);
  EXPECT_LT(one.find("\"record_seq\":1"), one.find("\"record_seq\":2")) << one;
  EXPECT_NE(one.find("\"record_seq\":2"), std::string::npos) << one;
  EXPECT_EQ(std::count(one.begin(), one.end(), '\n'), 2);
  EXPECT_NE(now.find("\"record_seq\":3"), std::string::npos) << now;
  EXPECT_EQ(std::count(now.begin(), now.end(), '\n'), 1);
}

TEST(ParseSize, SuffixesAndErrors) {
  using tt::config::parse_size;
  EXPECT_EQ(*parse_size("4096"), 4096u);
  EXPECT_EQ(*parse_size("64K"), 64u << 10);
  EXPECT_EQ(*parse_size("100M"), 100u << 20);
  EXPECT_EQ(*parse_size("2G"), 2ull << 30);
  EXPECT_EQ(*parse_size("0"), 0u);
  for (const char* bad : {"", "M", "-1", "10m", "10MB", " 5", "1.5G", "99999999999G"})
    EXPECT_FALSE(parse_size(bad).ok()) << bad;
}

}  // namespace
