// The client list both servers of the parser process keep (metrics/server.h,
// top/server.h): each client a struct with an `int fd`, found by fd when
// poll() reports it, closed and dropped when done.
#pragma once
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace tt {

// The client poll() reported on fd, or nullptr (another server's).
template <class Client>
Client* client_by_fd(std::vector<Client>& clients, int fd) {
  auto it = std::find_if(clients.begin(), clients.end(), [fd](const Client& c) { return c.fd == fd; });
  return it == clients.end() ? nullptr : &*it;
}

// For what poll() reported ready among fds: accept() if the listener is,
// serve(client, revents) for each of this server's clients that is.
template <class Client, class Accept, class Serve>
void on_each_ready(const pollfd* fds, size_t n, int listen_fd, std::vector<Client>& clients, Accept accept,
                   Serve serve) {
  for (size_t i = 0; i < n; ++i) {
    if (!fds[i].revents) continue;
    if (fds[i].fd == listen_fd)
      accept();
    else if (Client* c = client_by_fd(clients, fds[i].fd))
      serve(*c, fds[i].revents);
  }
}

// Closes and drops each client done(c) says is finished.
template <class Client, class Done>
void drop_clients(std::vector<Client>& clients, Done done) {
  for (auto it = clients.begin(); it != clients.end();) {
    if (!done(*it)) {
      ++it;
      continue;
    }
    close(it->fd);
    it = clients.erase(it);
  }
}

// A new client on a non-blocking listener, or -1 (none waiting, or gone
// already). These exact flags are what the parser's seccomp filter allows.
inline int accept_client(int listen_fd) { return accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC); }

}  // namespace tt
