#include "stream/tls_sockets.h"

#include <arpa/inet.h>

namespace tt::stream {

namespace {

// A bounds-checked reader over the ClientHello bytes.
struct Reader {
  std::string_view s;
  size_t pos = 0;
  bool ok = true;
  uint32_t u(int n) {
    if (!ok || pos + n > s.size()) {
      ok = false;
      return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(s[pos++]);
    return v;
  }
  std::string_view take(size_t n) {
    if (!ok || pos + n > s.size()) {
      ok = false;
      return {};
    }
    auto v = s.substr(pos, n);
    pos += n;
    return v;
  }
  void skip(size_t n) { take(n); }
};

}  // namespace

ClientHello parse_client_hello(std::string_view head) {
  ClientHello h;
  Reader r{head};
  // Record header: handshake(22), version 3.x, length; then ClientHello(1).
  if (r.u(1) != 22 || r.u(1) != 3) return h;
  r.skip(1);
  r.u(2);
  if (r.u(1) != 1) return h;
  if (!r.ok) return h;
  h.is_tls = true;
  r.u(3);                  // handshake length
  r.skip(2 + 32);          // legacy_version, random
  r.skip(r.u(1));          // session id
  r.skip(r.u(2));          // cipher suites
  r.skip(r.u(1));          // compression methods
  size_t ext_len = r.u(2);
  size_t end = r.pos + ext_len;
  while (r.ok && r.pos + 4 <= end && r.pos + 4 <= head.size()) {
    uint32_t type = r.u(2), len = r.u(2);
    std::string_view body = r.take(len);
    if (!r.ok) break;  // the hello goes on past what was captured
    Reader b{body};
    if (type == 0) {  // server_name: list of (type, name)
      b.u(2);
      if (b.u(1) == 0) {
        std::string_view name = b.take(b.u(2));
        if (b.ok) h.sni.assign(name);
      }
    } else if (type == 16) {  // ALPN
      size_t l = b.u(2), e = b.pos + l;
      while (b.ok && b.pos < e) {
        std::string_view p = b.take(b.u(1));
        if (b.ok) h.alpn.emplace_back(p);
      }
    }
  }
  return h;
}

bool should_watch_socket(std::string_view head, bool plaintext_hooked,
                         const std::function<std::string(const std::string&)>& provider_of_host) {
  if (plaintext_hooked) return false;
  ClientHello h = parse_client_hello(head);
  return h.is_tls && !h.sni.empty() && !provider_of_host(h.sni).empty();
}

void SocketTracker::on_event(const capture::SockEvent& ev) {
  // A socket's first bytes come in a head record (bytes 0, the write's count
  // follows): if this socket address already carried traffic, it was closed
  // and reused for a new connection.
  auto cur = current_.find({ev.pid, ev.sock});
  if (cur != current_.end() && !ev.head.empty() && conns_.at(cur->second).out > 0) current_.erase(cur);
  auto [gen_it, new_gen] = current_.try_emplace({ev.pid, ev.sock}, Key{ev.pid, ev.sock, next_gen_});
  if (new_gen) ++next_gen_;
  Key key = gen_it->second;
  auto [it, fresh] = conns_.try_emplace(key);
  SocketConn& c = it->second;
  if (fresh) {
    order_.push_back(key);
    c.pid = ev.pid;
    c.sock = ev.sock;
    c.dport = ev.dport;
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(ev.family == 10 ? AF_INET6 : AF_INET, ev.daddr, buf, sizeof(buf));
    c.peer = buf;
  }
  if (!ev.head.empty() && !c.hello.is_tls && c.out == 0) c.hello = parse_client_hello(ev.head);
  bool write = ev.dir == TT_DIR_WRITE;
  // A write after reads starts a new turn. The first one, for TLS, is the
  // handshake (ClientHello, then the server's flight).
  if (write && (c.turns.empty() || c.turns.back().in > 0)) c.turns.emplace_back();
  if (c.turns.empty()) c.turns.emplace_back();  // the server spoke first
  SocketTurn& t = c.turns.back();
  if (!t.first_ts_ns) t.first_ts_ns = ev.ts_ns;
  t.last_ts_ns = ev.ts_ns;
  if (write) {
    t.out += ev.bytes;
    c.out += ev.bytes;
    t.last_out_ts_ns = ev.ts_ns;
  } else {
    t.in += ev.bytes;
    c.in += ev.bytes;
    if (!t.first_in_ts_ns) t.first_in_ts_ns = ev.ts_ns;
  }
}

std::vector<SocketTurn> request_turns(const SocketConn& c) {
  if (!c.hello.is_tls || c.turns.size() < 2) return c.turns;
  // The handshake is the ClientHello's turn plus any following turn where the
  // client sent no more than a ChangeCipherSpec and a Finished (TLS 1.3: 6 +
  // at most 74 bytes); an HTTP request never fits in that.
  constexpr uint64_t kMaxClientFinishFlight = 80;
  size_t first = 1;
  while (first + 1 < c.turns.size() && c.turns[first].out <= kMaxClientFinishFlight) ++first;
  std::vector<SocketTurn> out(c.turns.begin() + first, c.turns.end());
  for (size_t i = 0; i < first; ++i) {
    out[0].out += c.turns[i].out;
    out[0].in += c.turns[i].in;
  }
  out[0].first_ts_ns = c.turns[0].first_ts_ns;
  return out;
}

std::vector<SocketConn> SocketTracker::take_process(uint32_t pid) {
  std::vector<SocketConn> out;
  std::vector<Key> keep;
  for (const auto& k : order_) {
    if (std::get<0>(k) != pid) {
      keep.push_back(k);
      continue;
    }
    out.push_back(std::move(conns_.at(k)));
    conns_.erase(k);
  }
  order_.swap(keep);
  for (auto it = current_.lower_bound({pid, 0}); it != current_.end() && it->first.first == pid;)
    it = current_.erase(it);
  return out;
}

std::vector<const SocketConn*> SocketTracker::connections() const {
  std::vector<const SocketConn*> out;
  for (const auto& k : order_) out.push_back(&conns_.at(k));
  return out;
}

}  // namespace tt::stream
