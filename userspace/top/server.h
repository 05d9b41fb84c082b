// The daemon's side of `tokentap top`: a unix socket the root parent creates
// before the fork (mode 0660, root and the configured group), served by the
// confined parser process from its record loop, like metrics::Server. Each
// client gets a snapshot (one JSON line, top/snapshot.h) at once and then one
// a second; it sends nothing (what it sends is read and dropped, up to
// kMaxInputBytes, then it is closed). kMaxClients at once; one that has not
// taken its last snapshot after kStallNs is closed. Only accept4 on the
// listener and recv/send on the accepted sockets are needed (sandbox.cpp).
#pragma once
#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace tt::top {

constexpr const char* kDefaultSocket = "/run/tokentap/top.sock";
constexpr size_t kMaxClients = 4;
constexpr size_t kMaxInputBytes = 4096;
constexpr uint64_t kStallNs = 5'000'000'000ull;
constexpr uint64_t kPushEveryNs = 1'000'000'000ull;

// The group's id ("" = root's, 0); an unknown name is an error.
Result<gid_t> group_id(const std::string& name);
// A listening unix socket at path, mode 0660, owner root:gid; a stale socket
// there is replaced, its directory created (0755) if missing.
Result<int> listen_unix(const std::string& path, gid_t gid);

class Server {
 public:
  // render: the snapshot line (newline included) as it stands now.
  Server(int listen_fd, std::function<std::string()> render) : listen_fd_(listen_fd), render_(std::move(render)) {}
  ~Server();
  void add_pollfds(std::vector<pollfd>& fds) const;
  // Serves what poll() reported ready, pushes snapshots when due, closes stalled clients.
  void on_ready(const pollfd* fds, size_t n, uint64_t now_ns);

 private:
  struct Client {
    int fd;
    uint64_t since_ns;  // when its pending snapshot was queued
    std::string out;
    size_t sent = 0, read = 0;
  };
  void accept_clients(uint64_t now_ns);
  void push(uint64_t now_ns);
  bool serve(Client& c, short revents);  // false: close it
  bool flush(Client& c);

  int listen_fd_;
  std::function<std::string()> render_;
  std::vector<Client> clients_;
  uint64_t last_push_ns_ = 0;
};

}  // namespace tt::top
