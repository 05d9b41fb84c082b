#include "top/server.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clients.h"

namespace tt::top {

namespace {

Error sys_error(const std::string& what) { return make_error(what + ": " + strerror(errno)); }

// Only a socket is replaced: a typo must not delete a file.
Result<void> clear_path(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return {};
  if (!S_ISSOCK(st.st_mode)) return make_error("--top-socket " + path + ": exists and is not a socket");
  if (unlink(path.c_str()) != 0) return sys_error("--top-socket " + path);
  return {};
}

Result<void> make_dir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return {};
  std::string dir = path.substr(0, slash);
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("--top-socket: mkdir " + dir);
  return {};
}

}  // namespace

Result<gid_t> group_id(const std::string& name) {
  if (name.empty()) return gid_t(0);
  const group* g = getgrnam(name.c_str());
  if (!g) return make_error("[top] group: no group named '" + name + "'");
  return g->gr_gid;
}

Result<int> listen_unix(const std::string& path, gid_t gid) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) return make_error("--top-socket: bad path '" + path + "'");
  memcpy(addr.sun_path, path.c_str(), path.size());
  if (auto r = make_dir(path); !r) return make_error(r.error());
  if (auto r = clear_path(path); !r) return make_error(r.error());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error("socket");
  mode_t old = umask(0177);  // never reachable by others, not even before the chmod
  bool bound = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  umask(old);
  if (!bound || chown(path.c_str(), 0, gid) != 0 || chmod(path.c_str(), 0660) != 0 || listen(fd, 8) != 0) {
    auto e = sys_error("--top-socket " + path);
    close(fd);
    return e;
  }
  return fd;
}

Server::~Server() {
  for (auto& c : clients_) close(c.fd);
}

void Server::add_pollfds(std::vector<pollfd>& fds) const {
  if (clients_.size() < kMaxClients) fds.push_back({listen_fd_, POLLIN, 0});
  for (const auto& c : clients_) fds.push_back({c.fd, short(POLLIN | (c.sent < c.out.size() ? POLLOUT : 0)), 0});
}

void Server::on_ready(const pollfd* fds, size_t n, uint64_t now_ns) {
  on_each_ready(fds, n, listen_fd_, clients_, [&] { accept_clients(now_ns); }, [&](Client& c, short revents) {
    if (!serve(c, revents)) c.since_ns = 0;  // closed below
  });
  if (now_ns - last_push_ns_ >= kPushEveryNs) push(now_ns);
  drop_clients(clients_, [now_ns](const Client& c) {
    return c.since_ns == 0 || (c.sent < c.out.size() && now_ns - c.since_ns > kStallNs);
  });
}

void Server::accept_clients(uint64_t now_ns) {
  while (clients_.size() < kMaxClients) {
    int fd = accept_client(listen_fd_);
    if (fd < 0) return;
    clients_.push_back({fd, now_ns, render_()});
    if (!flush(clients_.back())) clients_.back().since_ns = 0;
  }
}

// A client still taking the last one gets none now: it reads too slowly.
void Server::push(uint64_t now_ns) {
  last_push_ns_ = now_ns;
  std::string snap;
  for (auto& c : clients_) {
    if (c.since_ns == 0 || c.sent < c.out.size()) continue;
    if (snap.empty()) snap = render_();
    c.out = snap;
    c.sent = 0;
    c.since_ns = now_ns;
    if (!flush(c)) c.since_ns = 0;
  }
}

bool Server::serve(Client& c, short revents) {
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    char buf[512];
    ssize_t n = recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
    if (n > 0 && (c.read += size_t(n)) > kMaxInputBytes) return false;
  }
  return (revents & POLLOUT) ? flush(c) : true;
}

bool Server::flush(Client& c) {
  if (c.sent >= c.out.size()) return true;
  ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  c.sent += size_t(n);
  return true;
}

}  // namespace tt::top
