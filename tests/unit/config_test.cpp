// The daemon's configuration file: every key, the defaults, and each kind of
// error with the exact line (and column) it names.
#include "config/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace tt::config {
namespace {

std::string error_of(const std::string& text) {
  auto c = parse(text, "t.toml");
  EXPECT_FALSE(c.ok()) << text;
  return c.ok() ? std::string() : c.error();
}

TEST(ConfigTest, EmptyFileGivesDefaults) {
  auto c = parse("", "t.toml");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(*c, Config{});
  EXPECT_EQ(c->ring_buffer_mb, 16u);
  EXPECT_EQ(c->max_call_bytes, 64u << 20);
  EXPECT_EQ(c->max_body_bytes, 64u << 20);
  EXPECT_EQ(c->summary_interval_s, 60);
  EXPECT_EQ(c->session_idle_s, 1800);
  EXPECT_TRUE(c->select.empty());
  EXPECT_TRUE(c->json.empty());
  EXPECT_TRUE(c->metrics_listen.empty());
}

TEST(ConfigTest, EveryKey) {
  auto c = parse(R"(
[include]
executables = ["*/claude"]
users = [1001]
cgroups = ["/user.slice"]

[exclude]
executables = ["/usr/bin/curl", "/opt/*/bin/agent-[0-9]"]
users = ["root", 1234]
cgroups = ["/system.slice/backup.service"]

[api_hosts]
"llm.internal:8443" = "openai"
gateway = "anthropic"

[outputs]
json = "/var/log/tokentap/records.jsonl"
out = "/var/lib/tokentap/records.pb"
report = "/var/log/tokentap/report.txt"

[capture]
ring_buffer_mb = 32
max_call_bytes = 1048576
max_body_bytes = 2097152

[daemon]
summary_interval = 2.5
session_idle = 600

[metrics]
listen = "127.0.0.1:9464"

[top]
socket = "/run/tokentap/top.sock"
group = "tokentap"
)",
                 "t.toml");
  ASSERT_TRUE(c.ok()) << c.error();
  const Rules& in = c->select.include;
  EXPECT_EQ(in.executables, std::vector<std::string>{"*/claude"});
  EXPECT_EQ(in.uids, std::set<uint32_t>{1001});
  EXPECT_EQ(in.cgroups, std::vector<std::string>{"/user.slice"});
  const Rules& ex = c->select.exclude;
  EXPECT_EQ(ex.executables, (std::vector<std::string>{"/usr/bin/curl", "/opt/*/bin/agent-[0-9]"}));
  EXPECT_EQ(ex.uids, (std::set<uint32_t>{0, 1234}));
  EXPECT_EQ(ex.cgroups, std::vector<std::string>{"/system.slice/backup.service"});
  EXPECT_EQ(c->api_hosts, (std::map<std::string, std::string>{{"llm.internal:8443", "openai"}, {"gateway", "anthropic"}}));
  EXPECT_EQ(c->json, "/var/log/tokentap/records.jsonl");
  EXPECT_EQ(c->out, "/var/lib/tokentap/records.pb");
  EXPECT_EQ(c->report, "/var/log/tokentap/report.txt");
  EXPECT_EQ(c->ring_buffer_mb, 32u);
  EXPECT_EQ(c->max_call_bytes, 1048576u);
  EXPECT_EQ(c->max_body_bytes, 2097152u);
  EXPECT_EQ(c->summary_interval_s, 2.5);
  EXPECT_EQ(c->session_idle_s, 600);
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(c->top_socket, "/run/tokentap/top.sock");
  EXPECT_EQ(c->top_group, "tokentap");
}

TEST(ConfigTest, ExcludeRulesAnyOneMatching) {
  Selection s;
  Rules& e = s.exclude;
  e.executables = {"/tmp/*/curl-copy", "/usr/bin/wget"};
  e.uids = {1234};
  e.cgroups = {"/system.slice/backup.service"};
  EXPECT_TRUE(s.leaves_out("/tmp/x/curl-copy", 0, ""));
  EXPECT_TRUE(s.leaves_out("/usr/bin/wget", 0, ""));
  EXPECT_FALSE(s.leaves_out("/usr/bin/curl", 0, "/user.slice"));
  EXPECT_TRUE(s.leaves_out("/usr/bin/curl", 1234, ""));
  EXPECT_TRUE(s.leaves_out("/usr/bin/curl", 0, "/system.slice/backup.service"));
  EXPECT_TRUE(s.leaves_out("/usr/bin/curl", 0, "/system.slice/backup.service/sub"));
  EXPECT_FALSE(s.leaves_out("/usr/bin/curl", 0, "/system.slice/backup.service2"));
  EXPECT_FALSE(Selection{}.leaves_out("/usr/bin/curl", 0, "/"));
}

// Include rules: each kind given must match; exclusions still win.
TEST(ConfigTest, IncludeRulesEachKindGiven) {
  Selection s;
  s.include.uids = {1001, 1002};
  s.include.executables = {"*/claude", "*/node"};
  EXPECT_FALSE(s.leaves_out("/home/a/.local/bin/claude", 1001, "/user.slice"));
  EXPECT_FALSE(s.leaves_out("/usr/bin/node", 1002, ""));
  EXPECT_TRUE(s.leaves_out("/usr/bin/node", 1003, ""));     // another user
  EXPECT_TRUE(s.leaves_out("/usr/bin/curl", 1001, ""));     // another program
  EXPECT_TRUE(s.leaves_out("", 1001, ""));                  // no executable to match
  s.include.cgroups = {"/user.slice/user-1001.slice"};
  EXPECT_TRUE(s.leaves_out("/usr/bin/node", 1001, "/system.slice"));
  EXPECT_FALSE(s.leaves_out("/usr/bin/node", 1001, "/user.slice/user-1001.slice/session-2.scope"));
  s.exclude.cgroups = {"/user.slice/user-1001.slice/session-2.scope"};
  EXPECT_TRUE(s.leaves_out("/usr/bin/node", 1001, "/user.slice/user-1001.slice/session-2.scope"));
}

TEST(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  std::string e = error_of("[daemon]\nsummary_interval = 5\nsession_idle = = 3\n");
  EXPECT_TRUE(e.starts_with("t.toml:3:")) << e;
}

TEST(ConfigTest, UnknownKeyNamesItsLine) {
  EXPECT_EQ(error_of("[daemon]\n\nsumary_interval = 5\n"), "t.toml:3:1: unknown key 'sumary_interval' in [daemon]");
  EXPECT_EQ(error_of("# x\n[deamon]\n"), "t.toml:2:2: unknown section or key 'deamon'");
}

// Wrong types and bad values: each refused with the line and column of the value.
TEST(ConfigTest, WrongTypesAndBadValuesNameTheirLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"[capture]\nring_buffer_mb = \"big\"\n",
       "t.toml:2:18: expected an integer"},
      {"[outputs]\n\njson = 3\n",
       "t.toml:3:8: expected a string"},
      {"[exclude]\nexecutables = \"/usr/bin/curl\"\n",
       "t.toml:2:15: expected an array of strings"},
      {"[daemon]\nsession_idle = \"1h\"\n",
       "t.toml:2:16: expected a number of seconds"},
      {"daemon = 3\n",
       "t.toml:1:10: [daemon] must be a table"},
      {"[capture]\nmax_call_bytes = -1\n",
       "t.toml:2:18: must be positive, not -1"},
      {"[capture]\nring_buffer_mb = 0\n",
       "t.toml:2:18: must be positive, not 0"},
      {"[daemon]\nsummary_interval = -2\n",
       "t.toml:2:20: must be a positive number of seconds"},
      {"[api_hosts]\ngw = \"Open AI\"\n",
       "t.toml:2:6: bad provider name 'Open AI': lower-case letters, digits, '.', '_' and '-' (see docs/providers.md "
       "for the names tokentap uses)"},
      {"[exclude]\nexecutables = [\n  \"/ok\",\n  \"/bin/[ab\",\n]\n",
       "t.toml:4:3: bad glob '/bin/[ab'"},
      {"[include]\nusers = [\"no-such-user-tt\"]\n",
       "t.toml:2:10: unknown user 'no-such-user-tt'"},
      {"[exclude]\ncgroups = [\"system.slice\"]\n",
       "t.toml:2:12: bad cgroup path 'system.slice'"},
      {"[exclude]\nusers = [\"no-such-user-tt\"]\n",
       "t.toml:2:10: unknown user 'no-such-user-tt'"},
      {"[exclude]\nusers = [-1]\n",
       "t.toml:2:10: expected a user name or a uid (a non-negative integer)"},
  };
  for (const auto& [text, want] : cases) EXPECT_EQ(error_of(text), want);
}

TEST(ConfigTest, MissingFile) {
  auto d = load("/nonexistent/tokentap.toml", true);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, Config{});
  auto e = load("/nonexistent/tokentap.toml", false);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error(), "/nonexistent/tokentap.toml: cannot read the configuration: No such file or directory");
}

TEST(ConfigTest, LoadsAFile) {
  std::string path = ::testing::TempDir() + "/tokentap_config_test.toml";
  std::ofstream(path) << "[daemon]\nsession_idle = 7\n[bad]\n";
  auto c = load(path, false);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error(), path + ":3:2: unknown section or key 'bad'");
  std::ofstream(path) << "[daemon]\nsession_idle = 7\n";
  c = load(path, false);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->session_idle_s, 7);
  std::remove(path.c_str());
}

TEST(ConfigTest, DiffSaysWhatIsLiveAndWhatNeedsARestart) {
  Config a, b;
  EXPECT_TRUE(diff(a, b).live.empty());
  EXPECT_TRUE(diff(a, b).need_restart.empty());
  b.select.exclude.uids = {5};
  b.api_hosts["gw"] = "openai";
  b.summary_interval_s = 1;
  b.session_idle_s = 2;
  b.json = "/x";
  b.ring_buffer_mb = 8;
  b.max_call_bytes = 1;
  b.max_body_bytes = 1;
  b.metrics_listen = ":1";
  b.top_group = "staff";
  auto c = diff(a, b);
  EXPECT_EQ(c.live, (std::vector<std::string>{"process selection", "api hosts", "summary interval", "session idle time"}));
  EXPECT_EQ(c.need_restart, (std::vector<std::string>{"outputs", "ring buffer size", "max call bytes",
                                                      "max body bytes", "metrics listen address", "top socket"}));
}

}  // namespace
}  // namespace tt::config

namespace tt::config {
namespace {

// The commented example file documents every key with its default value.
TEST(ConfigTest, PackagedExampleIsTheDefaults) {
  auto c = load(std::string(TT_TEST_DATA_DIR) + "/../../packaging/tokentap.toml", false);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(*c, Config{});
}

}  // namespace
}  // namespace tt::config
