#include "metrics/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clients.h"

namespace tt::metrics {

namespace {

Error sys_error(const std::string& what) { return make_error(what + ": " + strerror(errno)); }

// "HOST:PORT" or "[V6]:PORT", numeric only: no resolver in the daemon.
Result<sockaddr_storage> parse_addr(const std::string& addr, socklen_t& len) {
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return make_error("--metrics-listen: expected HOST:PORT, got '" + addr + "'");
  std::string host = addr.substr(0, colon), port_s = addr.substr(colon + 1);
  char* end = nullptr;
  unsigned long port = strtoul(port_s.c_str(), &end, 10);
  if (port_s.empty() || *end || port > 65535) return make_error("--metrics-listen: bad port in '" + addr + "'");
  sockaddr_storage ss{};
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(uint16_t(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a->sin6_addr) == 1) return (len = sizeof(*a), ss);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(uint16_t(port));
    if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) == 1) return (len = sizeof(*a), ss);
  }
  return make_error("--metrics-listen: '" + host + "' is not a numeric IP address");
}

std::string response(const char* status, const std::string& type, const std::string& body) {
  return std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

Result<int> listen_on(const std::string& addr) {
  socklen_t len = 0;
  auto ss = parse_addr(addr, len);
  if (!ss) return make_error(ss.error());
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&*ss), len) != 0 || listen(fd, 16) != 0) {
    auto e = sys_error("--metrics-listen " + addr);
    close(fd);
    return e;
  }
  return fd;
}

std::string http_answer(const std::string& head, const std::function<std::string()>& render) {
  size_t eol = head.find("\r\n");
  std::string line = head.substr(0, eol);
  if (line.rfind("GET ", 0) != 0) return response("405 Method Not Allowed", "text/plain", "GET only\n");
  std::string target = line.substr(4, line.find(' ', 4) - 4);
  if (target != "/metrics" && target.rfind("/metrics?", 0) != 0)
    return response("404 Not Found", "text/plain", "try /metrics\n");
  return response("200 OK", "text/plain; version=0.0.4; charset=utf-8", render());
}

Server::~Server() {
  for (auto& c : clients_) close(c.fd);
}

void Server::add_pollfds(std::vector<pollfd>& fds) const {
  if (clients_.size() < kMaxClients) fds.push_back({listen_fd_, POLLIN, 0});
  for (const auto& c : clients_) fds.push_back({c.fd, short(c.answered && c.sent < c.out.size() ? POLLOUT : POLLIN), 0});
}

void Server::on_ready(const pollfd* fds, size_t n, uint64_t now_ns) {
  on_each_ready(fds, n, listen_fd_, clients_, [&] { accept_clients(now_ns); }, [&](Client& c, short) {
    bool keep = !c.answered ? read_request(c) : c.sent < c.out.size() ? send_answer(c) : drain(c);
    if (!keep) c.deadline_ns = 0;  // closed below
  });
  drop_clients(clients_, [now_ns](const Client& c) { return c.deadline_ns <= now_ns; });
}

void Server::accept_clients(uint64_t now_ns) {
  while (clients_.size() < kMaxClients) {
    int fd = accept_client(listen_fd_);
    if (fd < 0) return;
    clients_.push_back({fd, now_ns + kTimeoutNs, {}, {}});
  }
}

bool Server::read_request(Client& c) {
  char buf[2048];
  ssize_t n = recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (n == 0) return false;
  c.in.append(buf, size_t(n));
  size_t end = c.in.find("\r\n\r\n");
  if (end == std::string::npos && c.in.size() < kMaxRequestBytes) return true;
  if (end == std::string::npos || end + 4 > kMaxRequestBytes)
    c.out = response("431 Request Header Fields Too Large", "text/plain", "request head over 8 KiB\n");
  else
    c.out = http_answer(c.in.substr(0, end + 2), render_);
  c.in.clear();
  c.answered = true;
  return send_answer(c);
}

bool Server::send_answer(Client& c) {
  ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  c.sent += size_t(n);
  return true;  // once all is sent: drain() until the client closes
}

// Closing with unread input resets the connection, and the client may lose
// the answer: what it still sends is read and dropped, up to kMaxDrainBytes,
// until it closes (it was told Connection: close) or its time is up.
bool Server::drain(Client& c) {
  char buf[2048];
  ssize_t n = recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  c.drained += size_t(n);
  return n > 0 && c.drained <= kMaxDrainBytes;
}

}  // namespace tt::metrics
