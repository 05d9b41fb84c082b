// The socket fallback's view of TLS connections: ClientHello parsing (SNI,
// ALPN) from the first bytes a socket sent, and turns as requests.
#include <gtest/gtest.h>

#include "records.h"
#include "stream/tls_sockets.h"

namespace tt::stream {
namespace {

using tt::testing::client_hello;

TEST(ClientHello, SniAndAlpn) {
  ClientHello h = parse_client_hello(client_hello("api.anthropic.com", {"h2", "http/1.1"}));
  EXPECT_TRUE(h.is_tls);
  EXPECT_EQ(h.sni, "api.anthropic.com");
  EXPECT_EQ(h.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

TEST(ClientHello, SniAfterABigExtension) {
  ClientHello h = parse_client_hello(client_hello("api.openai.com", {"h2"}, 1200));
  EXPECT_EQ(h.sni, "api.openai.com");
}

TEST(ClientHello, CutAnywhereNeverReadsPastTheEnd) {
  std::string full = client_hello("generativelanguage.googleapis.com", {"h2"});
  for (size_t n = 0; n <= full.size(); ++n) {
    ClientHello h = parse_client_hello(std::string_view(full).substr(0, n));
    if (n >= 6) {
      EXPECT_TRUE(h.is_tls) << n;
    }
    if (n == full.size()) {
      EXPECT_EQ(h.sni, "generativelanguage.googleapis.com");
    }
    if (!h.sni.empty()) {
      EXPECT_EQ(h.sni, "generativelanguage.googleapis.com") << n;
    }
  }
}

TEST(ClientHello, NotTls) {
  EXPECT_FALSE(parse_client_hello("POST /v1/messages HTTP/1.1\r\n").is_tls);
  EXPECT_FALSE(parse_client_hello("").is_tls);
  EXPECT_FALSE(parse_client_hello(std::string("\x16\x03\x01\x00\x05\x02", 6)).is_tls);  // ServerHello
}

capture::SockEvent sock_event(uint8_t dir, uint64_t bytes, uint64_t ts, std::string_view head = {}) {
  capture::SockEvent e;
  e.pid = 7;
  e.sock = 0xabc;
  e.dir = dir;
  e.bytes = bytes;
  e.ts_ns = ts;
  e.family = 2;
  e.dport = 443;
  e.daddr[0] = 127;
  e.daddr[3] = 1;
  e.head = head;
  return e;
}

TEST(SocketTracker, HandshakeFoldsIntoTheFirstRequest) {
  std::string ch = client_hello("localhost", {"http/1.1"});
  SocketTracker t;
  uint64_t ts = 1;
  t.on_event(sock_event(TT_DIR_WRITE, 391, ts++, ch));  // ClientHello
  t.on_event(sock_event(TT_DIR_READ, 160, ts++));       // ServerHello
  t.on_event(sock_event(TT_DIR_WRITE, 6, ts++));        // ChangeCipherSpec
  t.on_event(sock_event(TT_DIR_READ, 900, ts++));       // the rest of the server's flight
  t.on_event(sock_event(TT_DIR_WRITE, 74, ts++));       // Finished
  t.on_event(sock_event(TT_DIR_WRITE, 250, ts++));      // request 1
  t.on_event(sock_event(TT_DIR_READ, 1700, ts++));      // response 1
  t.on_event(sock_event(TT_DIR_WRITE, 300, ts++));      // request 2
  t.on_event(sock_event(TT_DIR_READ, 1200, ts++));
  t.on_event(sock_event(TT_DIR_READ, 40, ts++));
  auto conns = t.connections();
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(conns[0]->hello.sni, "localhost");
  EXPECT_EQ(conns[0]->peer, "127.0.0.1");
  EXPECT_EQ(conns[0]->out, 391u + 6 + 74 + 250 + 300);
  EXPECT_EQ(conns[0]->in, 160u + 900 + 1700 + 1240);
  auto reqs = request_turns(*conns[0]);
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].out, 391u + 6 + 74 + 250);
  EXPECT_EQ(reqs[0].in, 160u + 900 + 1700);
  EXPECT_EQ(reqs[0].first_ts_ns, 1u);
  EXPECT_EQ(reqs[1].out, 300u);
  EXPECT_EQ(reqs[1].in, 1240u);
}

TEST(SocketTracker, PlainTcpIsNotTls) {
  SocketTracker t;
  t.on_event(sock_event(TT_DIR_WRITE, 30, 1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  t.on_event(sock_event(TT_DIR_READ, 100, 2));
  auto conns = t.connections();
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_FALSE(conns[0]->hello.is_tls);
  EXPECT_EQ(request_turns(*conns[0]).size(), 1u);
}

}  // namespace
}  // namespace tt::stream

namespace tt::stream {
namespace {

// A struct sock is reused after close: the next connection's first write
// carries a head again, and must not be merged into the old connection.
TEST(SocketTracker, ReusedSocketAddressStartsANewConnection) {
  std::string a = client_hello("api.openai.com", {"h2"}), b = client_hello("registry.npmjs.org", {"h2"});
  SocketTracker t;
  t.on_event(sock_event(TT_DIR_WRITE, 300, 1, a));
  t.on_event(sock_event(TT_DIR_READ, 100, 2));
  t.on_event(sock_event(TT_DIR_WRITE, 310, 3, b));
  t.on_event(sock_event(TT_DIR_READ, 90, 4));
  auto conns = t.connections();
  ASSERT_EQ(conns.size(), 2u);
  EXPECT_EQ(conns[0]->hello.sni, "api.openai.com");
  EXPECT_EQ(conns[0]->out, 300u);
  EXPECT_EQ(conns[1]->hello.sni, "registry.npmjs.org");
  EXPECT_EQ(conns[1]->out, 310u);
  EXPECT_EQ(conns[1]->in, 90u);
}

// The socket tracepoints send a socket's head on its own (bytes 0), the
// write's byte count in the next record: same connection, same turns.
TEST(SocketTracker, HeadRecordThenItsBytes) {
  std::string a = client_hello("api.openai.com", {"h2"}), b = client_hello("localhost", {"http/1.1"});
  SocketTracker t;
  t.on_event(sock_event(TT_DIR_WRITE, 0, 1, a));
  t.on_event(sock_event(TT_DIR_WRITE, 517, 2));
  t.on_event(sock_event(TT_DIR_READ, 2000, 3));
  t.on_event(sock_event(TT_DIR_WRITE, 80, 4));
  t.on_event(sock_event(TT_DIR_WRITE, 400, 5));
  t.on_event(sock_event(TT_DIR_READ, 3000, 6));
  t.on_event(sock_event(TT_DIR_WRITE, 0, 7, b));  // the struct sock, reused
  t.on_event(sock_event(TT_DIR_WRITE, 390, 8));
  auto conns = t.connections();
  ASSERT_EQ(conns.size(), 2u);
  EXPECT_EQ(conns[0]->hello.sni, "api.openai.com");
  EXPECT_EQ(conns[0]->out, 517u + 80 + 400);
  EXPECT_EQ(conns[0]->in, 5000u);
  auto reqs = request_turns(*conns[0]);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].out, 997u);
  EXPECT_EQ(reqs[0].in, 5000u);
  EXPECT_EQ(reqs[0].first_ts_ns, 1u);
  EXPECT_EQ(conns[1]->hello.sni, "localhost");
  EXPECT_EQ(conns[1]->out, 390u);
  EXPECT_EQ(conns[1]->turns.size(), 1u);
}

std::string provider_of(const std::string& host) {
  if (host == "api.anthropic.com") return "anthropic";
  if (host == "gateway.internal") return "openai";  // --api-host gateway.internal=openai
  return "";
}

TEST(ShouldWatchSocket, OnlyTlsToAnApiHostFromAnUnhookedProcess) {
  EXPECT_TRUE(should_watch_socket(client_hello("api.anthropic.com", {"h2"}), false, provider_of));
  EXPECT_TRUE(should_watch_socket(client_hello("gateway.internal", {}), false, provider_of));
  // Its TLS is seen in plaintext: the socket would count its requests twice.
  EXPECT_FALSE(should_watch_socket(client_hello("api.anthropic.com", {"h2"}), true, provider_of));
  EXPECT_FALSE(should_watch_socket(client_hello("registry.npmjs.org", {"h2"}), false, provider_of));
  EXPECT_FALSE(should_watch_socket("GET / HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n", false, provider_of));
  EXPECT_FALSE(should_watch_socket("", false, provider_of));
  // A ClientHello cut before its SNI names no host.
  std::string cut = client_hello("api.anthropic.com", {"h2"}, 1200).substr(0, 600);
  EXPECT_TRUE(parse_client_hello(cut).is_tls);
  EXPECT_FALSE(should_watch_socket(cut, false, provider_of));
}

}  // namespace
}  // namespace tt::stream
