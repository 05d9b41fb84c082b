#include "config/config.h"

#include "common/provider_name.h"

#include <fnmatch.h>
#include <pwd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <toml++/toml.h>

namespace tt::config {

namespace {

// "FILE:LINE:COL: reason", the form editors and compilers use.
std::string where(const std::string& source, const toml::source_region& r) {
  return source + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column) + ": ";
}

// One section's reader: the keys it knows, each checked and stored.
class Reader {
 public:
  Reader(const std::string& source, Config& cfg) : source_(source), cfg_(cfg) {}
  Result<void> read(const toml::table& root);

 private:
  using KeyFn = std::function<Result<void>(const toml::node&)>;
  Result<void> section(const toml::table& root, const char* name, const std::map<std::string, KeyFn>& keys);
  Error error(const toml::node& n, const std::string& why) const { return Error{where(source_, n.source()) + why}; }
  Result<void> string(const toml::node& n, std::string& dst);
  Result<void> size(const toml::node& n, uint64_t& dst, uint64_t max);
  Result<void> size_text(const toml::node& n, uint64_t& dst);
  Result<void> seconds(const toml::node& n, double& dst);
  Result<void> strings(const toml::node& n, std::vector<std::string>& dst, bool (*valid)(const std::string&),
                       const char* what);
  Result<void> users(const toml::node& n, std::set<uint32_t>& dst);
  Result<void> rules(const toml::table& root, const char* name, Rules& dst);
  Result<void> api_hosts(const toml::node& n);

  const std::string& source_;
  Config& cfg_;
};

Result<void> Reader::string(const toml::node& n, std::string& dst) {
  if (!n.is_string()) return error(n, "expected a string");
  dst = *n.value<std::string>();
  return {};
}

Result<void> Reader::size(const toml::node& n, uint64_t& dst, uint64_t max) {
  if (!n.is_integer()) return error(n, "expected an integer");
  int64_t v = *n.value<int64_t>();
  if (v <= 0) return error(n, "must be positive, not " + std::to_string(v));
  if (static_cast<uint64_t>(v) > max) return error(n, "must be at most " + std::to_string(max));
  dst = static_cast<uint64_t>(v);
  return {};
}

// A size as "100M" or a number of bytes; 0 is allowed (never).
Result<void> Reader::size_text(const toml::node& n, uint64_t& dst) {
  if (n.is_integer() && *n.value<int64_t>() >= 0) {
    dst = static_cast<uint64_t>(*n.value<int64_t>());
    return {};
  }
  if (!n.is_string()) return error(n, "expected a size such as \"100M\" or a number of bytes");
  auto v = parse_size(*n.value<std::string>());
  if (!v) return error(n, v.error());
  dst = *v;
  return {};
}

Result<void> Reader::seconds(const toml::node& n, double& dst) {
  if (!n.is_number()) return error(n, "expected a number of seconds");
  double v = *n.value<double>();
  if (!(v > 0) || !std::isfinite(v)) return error(n, "must be a positive number of seconds");
  dst = v;
  return {};
}

Result<void> Reader::strings(const toml::node& n, std::vector<std::string>& dst, bool (*valid)(const std::string&),
                             const char* what) {
  const toml::array* a = n.as_array();
  if (!a) return error(n, "expected an array of strings");
  dst.clear();
  for (const toml::node& e : *a) {
    if (!e.is_string()) return error(e, "expected a string");
    std::string s = *e.value<std::string>();
    if (!valid(s)) return error(e, std::string("bad ") + what + " '" + s + "'");
    dst.push_back(s);
  }
  return {};
}

Result<void> Reader::users(const toml::node& n, std::set<uint32_t>& dst) {
  const toml::array* a = n.as_array();
  if (!a) return error(n, "expected an array of user names or uids");
  dst.clear();
  for (const toml::node& e : *a) {
    if (e.is_integer() && *e.value<int64_t>() >= 0 && *e.value<int64_t>() <= UINT32_MAX) {
      dst.insert(static_cast<uint32_t>(*e.value<int64_t>()));
    } else if (e.is_string()) {
      std::string name = *e.value<std::string>();
      const passwd* pw = getpwnam(name.c_str());
      if (!pw) return error(e, "unknown user '" + name + "'");
      dst.insert(pw->pw_uid);
    } else {
      return error(e, "expected a user name or a uid (a non-negative integer)");
    }
  }
  return {};
}

Result<void> Reader::api_hosts(const toml::node& n) {
  const toml::table* t = n.as_table();
  if (!t) return error(n, "expected a table of \"HOST\" = \"PROVIDER\"");
  cfg_.api_hosts.clear();
  for (const auto& [key, value] : *t) {
    if (!value.is_string()) return error(value, "expected a provider name, e.g. \"anthropic\" or \"aws.bedrock\"");
    std::string prov = *value.value<std::string>();
    if (!valid_provider_name(prov))
      return error(value, "bad provider name '" + prov +
                              "': lower-case letters, digits, '.', '_' and '-' (see docs/providers.md for the names tokentap uses)");
    if (key.str().empty()) return error(value, "empty host name");
    cfg_.api_hosts[std::string(key.str())] = prov;
  }
  return {};
}

Result<void> Reader::section(const toml::table& root, const char* name, const std::map<std::string, KeyFn>& keys) {
  const toml::node* n = root.get(name);
  if (!n) return {};
  const toml::table* t = n->as_table();
  if (!t) return error(*n, std::string("[") + name + "] must be a table");
  for (const auto& [key, value] : *t) {
    auto it = keys.find(std::string(key.str()));
    if (it == keys.end())
      return Error{where(source_, key.source()) + "unknown key '" + std::string(key.str()) + "' in [" + name + "]"};
    if (auto r = it->second(value); !r) return r;
  }
  return {};
}

bool valid_glob(const std::string& g) {
  if (g.empty() || g.back() == '\\') return false;
  // An unclosed bracket would silently match only itself.
  for (size_t i = 0; i < g.size(); ++i) {
    if (g[i] == '\\') ++i;
    else if (g[i] == '[' && g.find(']', i + 2) == std::string::npos) return false;
  }
  return true;
}
bool valid_cgroup(const std::string& c) { return !c.empty() && c[0] == '/'; }

Result<void> Reader::rules(const toml::table& root, const char* name, Rules& dst) {
  return section(root, name,
                 {{"executables", [&](auto& n) { return strings(n, dst.executables, valid_glob, "glob"); }},
                  {"users", [&](auto& n) { return users(n, dst.uids); }},
                  {"cgroups", [&](auto& n) { return strings(n, dst.cgroups, valid_cgroup, "cgroup path"); }}});
}

Result<void> Reader::read(const toml::table& root) {
  static const std::set<std::string> sections = {"include", "exclude", "api_hosts", "outputs", "capture", "daemon", "metrics", "spool", "top", "collector"};
  for (const auto& [key, value] : root)
    if (!sections.count(std::string(key.str())))
      return Error{where(source_, key.source()) + "unknown section or key '" + std::string(key.str()) + "'"};
  auto r = rules(root, "include", cfg_.select.include);
  if (r) r = rules(root, "exclude", cfg_.select.exclude);
  if (const toml::node* n = root.get("api_hosts"); r && n) r = api_hosts(*n);
  if (r)
    r = section(root, "outputs",
                {{"json", [&](auto& n) { return string(n, cfg_.json); }},
                 {"out", [&](auto& n) { return string(n, cfg_.out); }},
                 {"report", [&](auto& n) { return string(n, cfg_.report); }},
                 {"rotate_size", [&](auto& n) { return size_text(n, cfg_.rotate_bytes); }},
                 {"rotate_keep", [&](auto& n) { return size(n, cfg_.rotate_keep, 1000); }},
                 {"otlp_endpoint", [&](auto& n) { return string(n, cfg_.otlp_endpoint); }}});
  uint64_t ring = cfg_.ring_buffer_mb;
  if (r)
    r = section(root, "capture",
                {{"ring_buffer_mb", [&](auto& n) { return size(n, ring, 4096); }},
                 {"max_call_bytes", [&](auto& n) { return size(n, cfg_.max_call_bytes, UINT32_MAX); }},
                 {"max_body_bytes", [&](auto& n) { return size(n, cfg_.max_body_bytes, 1ull << 40); }}});
  cfg_.ring_buffer_mb = static_cast<uint32_t>(ring);
  if (r)
    r = section(root, "daemon",
                {{"summary_interval", [&](auto& n) { return seconds(n, cfg_.summary_interval_s); }},
                 {"session_idle", [&](auto& n) { return seconds(n, cfg_.session_idle_s); }}});
  if (r) r = section(root, "metrics", {{"listen", [&](auto& n) { return string(n, cfg_.metrics_listen); }}});
  Spool& sp = cfg_.spool;
  if (r)
    r = section(root, "spool",
                {{"dir", [&](auto& n) { return string(n, sp.dir); }},
                 {"max_mb", [&](auto& n) { return size(n, sp.max_mb, 1ull << 30); }},
                 {"segment_mb", [&](auto& n) { return size(n, sp.segment_mb, 1ull << 20); }},
                 {"fsync_ms", [&](auto& n) { return size(n, sp.fsync_ms, 3'600'000); }}});
  CollectorLink& cl = cfg_.collector;
  if (r)
    r = section(root, "collector",
                {{"address", [&](auto& n) { return string(n, cl.address); }},
                 {"ca", [&](auto& n) { return string(n, cl.ca); }},
                 {"token_file", [&](auto& n) { return string(n, cl.token_file); }},
                 {"cert", [&](auto& n) { return string(n, cl.cert); }},
                 {"key", [&](auto& n) { return string(n, cl.key); }}});
  if (r)
    r = section(root, "top", {{"socket", [&](auto& n) { return string(n, cfg_.top_socket); }},
                              {"group", [&](auto& n) { return string(n, cfg_.top_group); }}});
  return r;
}

// Whether path is prefix or lies under it ("/a/b" is under "/a", "/ab" is not).
bool under(const std::string& path, const std::string& prefix) {
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

}  // namespace

namespace {
bool any_glob(const std::vector<std::string>& globs, const std::string& exe) {
  for (const auto& g : globs)
    if (!exe.empty() && fnmatch(g.c_str(), exe.c_str(), 0) == 0) return true;
  return false;
}
bool any_under(const std::vector<std::string>& prefixes, const std::string& cgroup) {
  for (const auto& c : prefixes)
    if (!cgroup.empty() && under(cgroup, c)) return true;
  return false;
}
}  // namespace

bool Rules::any(const std::string& exe, uint32_t uid, const std::string& cgroup) const {
  return uids.count(uid) || any_glob(executables, exe) || any_under(cgroups, cgroup);
}

bool Rules::each(const std::string& exe, uint32_t uid, const std::string& cgroup) const {
  return (uids.empty() || uids.count(uid)) && (executables.empty() || any_glob(executables, exe)) &&
         (cgroups.empty() || any_under(cgroups, cgroup));
}

Result<uint64_t> parse_size(const std::string& text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  std::string unit(end, text.data() + text.size());
  int shift = unit == "" ? 0 : unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : -1;
  if (ec != std::errc() || shift < 0 || v > (~uint64_t{0} >> shift))
    return make_error("bad size '" + text + "' (e.g. 100M, 64K, 1G or a number of bytes)");
  return v << shift;
}


Result<Config> parse(std::string_view text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Error{where(source, e.source()) + std::string(e.description())};
  }
  Config cfg;
  if (auto r = Reader(source, cfg).read(root); !r) return Error{r.error()};
  return cfg;
}

Result<Config> load(const std::string& path, bool allow_missing) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT && allow_missing) return Config{};
    return Error{path + ": cannot read the configuration: " + strerror(err)};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

Changes diff(const Config& a, const Config& b) {
  Changes c;
  auto note = [](std::vector<std::string>& v, bool changed, const char* what) {
    if (changed) v.push_back(what);
  };
  note(c.live, a.select != b.select, "process selection");
  note(c.live, a.api_hosts != b.api_hosts, "api hosts");
  note(c.live, a.summary_interval_s != b.summary_interval_s, "summary interval");
  note(c.live, a.session_idle_s != b.session_idle_s, "session idle time");
  note(c.need_restart,
       a.json != b.json || a.out != b.out || a.report != b.report || a.rotate_bytes != b.rotate_bytes ||
           a.rotate_keep != b.rotate_keep || a.otlp_endpoint != b.otlp_endpoint,
       "outputs");
  note(c.need_restart, a.ring_buffer_mb != b.ring_buffer_mb, "ring buffer size");
  note(c.need_restart, a.max_call_bytes != b.max_call_bytes, "max call bytes");
  note(c.need_restart, a.max_body_bytes != b.max_body_bytes, "max body bytes");
  note(c.need_restart, a.metrics_listen != b.metrics_listen, "metrics listen address");
  note(c.need_restart, a.spool != b.spool, "spool");
  note(c.need_restart, a.collector != b.collector, "collector");
  note(c.need_restart, a.top_socket != b.top_socket || a.top_group != b.top_group, "top socket");
  return c;
}

}  // namespace tt::config
