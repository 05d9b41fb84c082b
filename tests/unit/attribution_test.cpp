// Attribution read from /proc: cgroup paths (container id, systemd unit) and
// the git repository a working directory is in.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/procfs.h"

using tt::engine::CgroupInfo;
using tt::engine::git_top;
using tt::engine::parse_cgroup;

namespace {

const std::string kId = "3f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

void expect_cgroup(const std::string& contents, const std::string& path, const std::string& id,
                   const std::string& unit) {
  CgroupInfo c = parse_cgroup(contents);
  EXPECT_EQ(c.path, path) << contents;
  EXPECT_EQ(c.container_id, id) << contents;
  EXPECT_EQ(c.systemd_unit, unit) << contents;
}

}  // namespace

TEST(Cgroup, Docker) {
  expect_cgroup("0::/system.slice/docker-" + kId + ".scope\n", "/system.slice/docker-" + kId + ".scope", kId,
                "docker-" + kId + ".scope");
  expect_cgroup("0::/docker/" + kId + "\n", "/docker/" + kId, kId, "");  // cgroupfs driver
}

TEST(Cgroup, PodmanRootlessAndRootful) {
  std::string rootless = "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope/container";
  expect_cgroup("0::" + rootless + "\n", rootless, kId, "libpod-" + kId + ".scope");
  expect_cgroup("0::/machine.slice/libpod-" + kId + ".scope\n", "/machine.slice/libpod-" + kId + ".scope", kId,
                "libpod-" + kId + ".scope");
}

TEST(Cgroup, Containerd) {
  std::string k8s = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-" +
                    kId + ".scope";
  expect_cgroup("0::" + k8s + "\n", k8s, kId, "cri-containerd-" + kId + ".scope");
  expect_cgroup("0::/kubepods/besteffort/pod1234/" + kId + "\n", "/kubepods/besteffort/pod1234/" + kId, kId, "");
  expect_cgroup("0::/system.slice/crio-" + kId + ".scope\n", "/system.slice/crio-" + kId + ".scope", kId,
                "crio-" + kId + ".scope");
}

TEST(Cgroup, SystemdSlices) {
  expect_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n", "/user.slice/user-1000.slice/session-3.scope", "",
                "session-3.scope");
  expect_cgroup("0::/user.slice/user-1000.slice/user@1000.service/app.slice/agent.service\n",
                "/user.slice/user-1000.slice/user@1000.service/app.slice/agent.service", "", "agent.service");
  expect_cgroup("0::/system.slice/ssh.service\n", "/system.slice/ssh.service", "", "ssh.service");
}

TEST(Cgroup, HybridV1LinesAreIgnoredAndOddInputIsEmpty) {
  expect_cgroup("12:cpu,cpuacct:/docker/" + kId + "\n1:name=systemd:/x.scope\n0::/tokentap-test\n", "/tokentap-test",
                "", "");
  expect_cgroup("", "", "", "");
  expect_cgroup("0::/\n", "/", "", "");
  expect_cgroup("0::/docker/" + kId.substr(1) + "g\n", "/docker/" + kId.substr(1) + "g", "", "");  // not hex
  expect_cgroup("0::/" + std::string(tt::engine::kMaxAttrPath + 1, 'a') + "\n", "", "", "");
}

class GitTop : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tt-gittop-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string mk(const std::string& rel) {
    std::filesystem::create_directories(root_ + rel);
    return root_ + rel;
  }
  std::string root_;
};

TEST_F(GitTop, RepositoryNestedDirWorktreeAndNone) {
  mk("/repo/.git");
  EXPECT_EQ(git_top("", mk("/repo")), root_ + "/repo");
  EXPECT_EQ(git_top("", mk("/repo/a/b/c")), root_ + "/repo");
  EXPECT_EQ(git_top("", root_ + "/repo/a/b/c/"), root_ + "/repo");
  // A worktree or submodule: .git is a file pointing at the real git directory.
  mk("/repo/sub");
  std::ofstream(root_ + "/repo/sub/.git") << "gitdir: ../.git/modules/sub\n";
  EXPECT_EQ(git_top("", mk("/repo/sub/x")), root_ + "/repo/sub");
  EXPECT_EQ(git_top("", mk("/plain/dir")), "");  // no repository (none above /tmp either)
  EXPECT_EQ(git_top("", "relative/path"), "");
}

TEST_F(GitTop, RootPrefixAndSymlinkedGitIsNotFollowed) {
  mk("/ns/work/.git");
  // As a process in another mount namespace sees it: root + its own path.
  EXPECT_EQ(git_top(root_ + "/ns", "/work/deep/er"), "/work");
  mk("/link/here");
  ASSERT_EQ(symlink((root_ + "/ns/work/.git").c_str(), (root_ + "/link/.git").c_str()), 0);
  EXPECT_EQ(git_top("", root_ + "/link/here"), "");
}

namespace tt::engine {

// A process gone before /proc was read keeps its cgroup through the id BPF
// saw: the id is the cgroup directory's inode number on the cgroup2 mount.
TEST(CgroupPaths, IdOfThisProcesssCgroupGivesItsPath) {
  std::ifstream mounts("/proc/mounts");
  std::string dev, where, type, rest, root;
  while (root.empty() && mounts >> dev >> where >> type && std::getline(mounts, rest))
    if (type == "cgroup2") root = where;
  if (root.empty()) GTEST_SKIP() << "no cgroup2 mount";
  std::string mine = read_cgroup(static_cast<uint32_t>(getpid())).path;
  ASSERT_FALSE(mine.empty());
  struct stat st {};
  ASSERT_EQ(stat((root + mine).c_str(), &st), 0) << root + mine;
  CgroupPaths paths;
  EXPECT_EQ(paths.path_of(st.st_ino), mine);
  ASSERT_EQ(stat(root.c_str(), &st), 0);
  EXPECT_EQ(paths.path_of(st.st_ino), "/");
  EXPECT_EQ(paths.path_of(~0ull), "");  // no such cgroup (and no second walk within the second)
}

}  // namespace tt::engine
