// The socket fallback: TCP connections of traced processes as the socket
// tracepoints see them (bytes each way, never plaintext), for TLS stacks that
// have no plaintext hook. The first bytes a socket sent are parsed as a TLS
// ClientHello for the server name (SNI) and ALPN; a run of writes followed by
// a run of reads is one turn, roughly one request and its response.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "capture/events.h"

namespace tt::stream {

struct ClientHello {
  bool is_tls = false;  // the bytes are a TLS handshake record carrying a ClientHello
  std::string sni;
  std::vector<std::string> alpn;
};

// Parses as much of a ClientHello as `head` holds; never reads past it.
ClientHello parse_client_hello(std::string_view head);

// Whole host: whether the capture should go on following a socket, asked once
// per socket with its head (the first bytes it sent; capture::Tracer::
// set_socket_watch takes the answer). Yes only for TLS whose ClientHello names
// an LLM API host (provider_of_host(sni) not empty: the providers' hosts and
// --api-host), from a process whose TLS is not hooked in plaintext
// (plaintext_hooked: its sockets would only count its requests twice). These
// are the only sockets whose bytes become records; the rest are only counted.
bool should_watch_socket(std::string_view head, bool plaintext_hooked,
                         const std::function<std::string(const std::string&)>& provider_of_host);

struct SocketTurn {
  uint64_t out = 0, in = 0;
  uint64_t first_ts_ns = 0, last_out_ts_ns = 0, first_in_ts_ns = 0, last_ts_ns = 0;
};

struct SocketConn {
  uint32_t pid = 0;
  uint64_t sock = 0;
  uint16_t dport = 0;
  std::string peer;  // address as text
  ClientHello hello;
  uint64_t out = 0, in = 0;
  std::vector<SocketTurn> turns;
};

// The turns as requests: a TLS handshake turn is folded into the turn after
// it, so every byte of the connection is in exactly one request.
std::vector<SocketTurn> request_turns(const SocketConn& c);

class SocketTracker {
 public:
  void on_event(const capture::SockEvent& ev);
  // In the order sockets were first seen.
  std::vector<const SocketConn*> connections() const;
  // A process ended: its connections, in order, handed over and forgotten (a
  // long run keeps only the sockets of live processes).
  std::vector<SocketConn> take_process(uint32_t pid);

 private:
  using Key = std::tuple<uint32_t, uint64_t, uint64_t>;  // pid, struct sock *, generation
  std::map<std::pair<uint32_t, uint64_t>, Key> current_;
  std::map<Key, SocketConn> conns_;
  std::vector<Key> order_;
  uint64_t next_gen_ = 0;
};

}  // namespace tt::stream
