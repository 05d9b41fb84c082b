// GET /metrics, served by the confined parser process from its poll loop on a
// socket the root parent bound (docs/security.md, "Privilege split"). The
// reader is small and strictly bounded: a request line and headers of at most
// kMaxRequestBytes, one request per connection, kMaxClients at once, each
// closed after kTimeoutNs. Only accept4 on the listener and recv/send on the
// accepted sockets are needed (sandbox.cpp).
#pragma once
#include <poll.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace tt::metrics {

constexpr size_t kMaxRequestBytes = 8192;
constexpr size_t kMaxClients = 4;
constexpr uint64_t kTimeoutNs = 5'000'000'000ull;
constexpr size_t kMaxDrainBytes = 64u << 10;  // input read and dropped after the answer

// A listening TCP socket on "HOST:PORT" (numeric: 127.0.0.1:9464, [::1]:9464).
Result<int> listen_on(const std::string& addr);

class Server {
 public:
  // render: the body of a 200 answer to GET /metrics.
  Server(int listen_fd, std::function<std::string()> render) : listen_fd_(listen_fd), render_(std::move(render)) {}
  ~Server();
  // The fds to wait on: the listener (while there is room) and each client.
  void add_pollfds(std::vector<pollfd>& fds) const;
  // Serves what poll() reported ready and closes clients past their time.
  void on_ready(const pollfd* fds, size_t n, uint64_t now_ns);

 private:
  struct Client {
    int fd;
    uint64_t deadline_ns;
    std::string in, out;
    size_t sent = 0, drained = 0;
    bool answered = false;
  };
  void accept_clients(uint64_t now_ns);
  bool read_request(Client& c);  // false: close it
  bool send_answer(Client& c);   // false: failed
  bool drain(Client& c);         // false: close it

  int listen_fd_;
  std::function<std::string()> render_;
  std::vector<Client> clients_;
};

// The answer to a complete request head (tests call it directly).
std::string http_answer(const std::string& head, const std::function<std::string()>& render);

}  // namespace tt::metrics
