// A throwaway PostgreSQL server for tests: Debian's postgresql binaries run
// initdb and pg_ctl in a temporary directory, the server listening on a unix
// socket there only (no TCP port to collide on). The server refuses to run as
// root, so under root (CI) they run as `nobody`, which owns the directory.
// Stopped (immediate mode) and the directory removed when the object goes.
#pragma once
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/db.h"

namespace tt::testing {

// Runs argv as uid/gid, its stdout and stderr appended to the files named;
// returns its exit status.
inline int run_as(const std::vector<std::string>& argv, uid_t uid, gid_t gid, const std::string& out,
                  const std::string& err) {
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(126);
    if (getuid() == 0 && (setgroups(0, nullptr) || setgid(gid) || setuid(uid))) _exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class PgServer {
 public:
  static Result<std::unique_ptr<PgServer>> start() {
    auto s = std::unique_ptr<PgServer>(new PgServer());
    if (auto r = s->init(); !r) return Error{r.error()};
    return s;
  }

  ~PgServer() {
    if (started_) pg({"pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-s", "stop"});
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // libpq's URI for a database of this server, over its socket.
  std::string url(const std::string& db) const {
    return "postgresql:///" + db + "?host=" + dir_ + "&port=5432&user=tokentap";
  }

  // A new empty database (each test its own); returns its URL.
  Result<std::string> create_database() {
    auto admin = store::open_postgres(url("postgres"));
    if (!admin) return Error{admin.error()};
    std::string name = "t" + std::to_string(++databases_);
    if (auto r = (*admin)->run("CREATE DATABASE " + name); !r) return Error{r.error()};
    return url(name);
  }

  std::string log() const { return dir_ + "/log"; }

 private:
  PgServer() = default;

  Result<void> init() {
    char tmpl[] = "/tmp/tt-pg-XXXXXX";
    if (!mkdtemp(tmpl)) return make_error("mkdtemp failed");
    dir_ = tmpl;
    if (auto r = find_bin(); !r) return r;
    if (getuid() == 0) {
      const struct passwd* pw = getpwnam("nobody");
      if (!pw) return make_error("no user nobody to run PostgreSQL as");
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
      if (chown(dir_.c_str(), uid_, gid_) != 0) return make_error("cannot chown " + dir_);
    }
    // -N and fsync=off: tests need no crash safety from the server, only speed.
    if (pg({"initdb", "-D", dir_ + "/data", "-U", "tokentap", "--auth=trust", "--no-locale", "-E", "UTF8", "-N"}))
      return make_error("initdb failed: see " + log());
    if (pg({"pg_ctl", "-D", dir_ + "/data", "-w", "-s", "-l", log(), "-o",
            "-k " + dir_ + " -c listen_addresses= -p 5432 -c fsync=off", "start"}))
      return make_error("pg_ctl start failed: see " + log());
    started_ = true;
    return {};
  }

  // The newest installed major version's binaries (Debian: /usr/lib/postgresql/N/bin).
  Result<void> find_bin() {
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, nullptr, &g) != 0)
      return make_error("PostgreSQL server binaries not found (apt-get install postgresql; scripts/install-deps.sh)");
    bin_ = std::filesystem::path(g.gl_pathv[g.gl_pathc - 1]).parent_path();
    globfree(&g);
    return {};
  }

  int pg(std::vector<std::string> argv) {
    argv[0] = bin_ + "/" + argv[0];
    return run_as(argv, uid_, gid_, dir_ + "/tool.log", dir_ + "/tool.log");
  }

  std::string dir_, bin_;
  uid_t uid_ = getuid();
  gid_t gid_ = getgid();
  bool started_ = false;
  int databases_ = 0;
};

}  // namespace tt::testing
