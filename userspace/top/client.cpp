#include "top/client.h"

#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "top/render.h"

namespace tt::top {

namespace {

constexpr size_t kMaxLineBytes = 1u << 20;  // far above the daemon's snapshot bound
volatile sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

std::string group_name(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return "its group";
  const group* g = getgrgid(st.st_gid);
  return g ? "the group '" + std::string(g->gr_name) + "'" : "group " + std::to_string(st.st_gid);
}

int connect_to(const std::string& path, std::string& error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return error = "socket path too long: " + path, -1;
  memcpy(addr.sun_path, path.c_str(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
  error = connect_error(path, errno);
  if (fd >= 0) close(fd);
  return -1;
}

// The next snapshot line from the daemon; false: it closed or failed.
bool next_line(int fd, std::string& buf, std::string& line) {
  for (;;) {
    if (size_t nl = buf.find('\n'); nl != std::string::npos) {
      line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      return true;
    }
    if (buf.size() > kMaxLineBytes) return false;
    char tmp[16384];
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n < 0 && errno == EINTR && !g_stop) continue;
    if (n <= 0) return false;
    buf.append(tmp, size_t(n));
  }
}

size_t term_width(size_t given, size_t& height) {
  winsize ws{};
  bool tty = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0;
  height = tty ? ws.ws_row : 0;
  return given ? given : tty ? ws.ws_col : 80;
}

std::string show(const std::string& line, size_t width, size_t height) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "tokentap top: the daemon sent a malformed snapshot\n";
  return render(j, width, height);
}

int batch(int fd, const ViewOptions& o) {
  std::string buf, line;
  for (int i = 0; i < o.snapshots; ++i) {
    if (!next_line(fd, buf, line)) return fprintf(stderr, "tokentap top: the daemon closed the connection\n"), 1;
    size_t h;
    if (i) fputs("\n", stdout);
    fputs(show(line, term_width(o.width, h), 0).c_str(), stdout);
    fflush(stdout);
  }
  return 0;
}

// Raw keys, no echo, the alternate screen; all undone by restore().
struct Terminal {
  termios saved{};
  bool raw = false;
  void enter() {
    if (tcgetattr(STDIN_FILENO, &saved) == 0) {
      termios t = saved;
      t.c_lflag &= ~tcflag_t(ICANON | ECHO);
      t.c_cc[VMIN] = 1;
      t.c_cc[VTIME] = 0;
      raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
    }
    fputs("\x1b[?1049h\x1b[?25l", stdout);
  }
  void restore() {
    fputs("\x1b[?25h\x1b[?1049l", stdout);
    fflush(stdout);
    if (raw) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  }
};

bool quit_key() {
  char c;
  ssize_t n = read(STDIN_FILENO, &c, 1);
  return n == 0 || (n == 1 && (c == 'q' || c == 'Q' || c == 3));
}

int live(int fd, const ViewOptions& o) {
  Terminal term;
  term.enter();
  std::string buf, line, why;
  while (!g_stop) {
    pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {fd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) continue;  // EINTR: a signal, maybe SIGWINCH or a stop
    if (p[0].revents && quit_key()) break;
    if (!p[1].revents) continue;
    if (!next_line(fd, buf, line)) {
      why = "tokentap top: the daemon closed the connection\n";
      break;
    }
    size_t h;
    size_t w = term_width(o.width, h);
    fputs(("\x1b[H\x1b[2J" + show(line, w, h ? h - 1 : 0)).c_str(), stdout);
    fflush(stdout);
  }
  term.restore();
  fputs(why.c_str(), stderr);
  return why.empty() ? 0 : 1;
}

}  // namespace

std::string connect_error(const std::string& path, int err) {
  if (err == ENOENT || err == ECONNREFUSED)
    return "no daemon answers at " + path + " (" + strerror(err) +
           "): start it with `tokentap daemon --top-socket " + path + "` (or [top] socket in its configuration), "
           "or give the right path with --socket";
  if (err == EACCES || err == EPERM)
    return "permission denied on " + path + ": run tokentap top as root, or join " + group_name(path) +
           " (the daemon's [top] group; log in again after joining)";
  return "cannot connect to " + path + ": " + strerror(err);
}

int run_view(const ViewOptions& o) {
  std::string error;
  int fd = connect_to(o.socket, error);
  if (fd < 0) {
    fprintf(stderr, "tokentap top: %s\n", error.c_str());
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int rc = o.snapshots > 0 || !isatty(STDOUT_FILENO) ? batch(fd, {o.socket, std::max(o.snapshots, 1), o.width})
                                                     : live(fd, o);
  close(fd);
  return rc;
}

}  // namespace tt::top
