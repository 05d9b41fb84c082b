// Raw capture records built the way tlstap.bpf.c sends them, for tests that feed
// the pipeline without the kernel.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "sink/sink.h"
#include "tlstap.h"

namespace tt::testing {

// Builds raw DATA records the way tlstap.bpf.c does: one call split into chunks.
inline std::vector<std::string> data_records(uint32_t pid, uint64_t conn, uint8_t dir, std::string_view bytes,
                                             uint64_t ts, uint32_t lost_before = 0, uint8_t lib = TT_LIB_OPENSSL,
                                             uint16_t hook = 0) {
  std::vector<std::string> out;
  uint32_t off = 0;
  do {
    uint32_t n = std::min<uint32_t>(TT_CHUNK_MAX, bytes.size() - off);
    tt_data_event_small h{};
    h.hdr.kind = TT_EV_DATA;
    h.hdr.pid = pid;
    h.hdr.tid = pid;
    h.hdr.ts_ns = ts;
    h.conn = conn;
    h.call_len = bytes.size();
    h.offset = off;
    h.len = n;
    h.lost_before = off == 0 ? lost_before : 0;
    h.dir = dir;
    h.lib = lib;
    h.hook = hook;
    std::string rec(reinterpret_cast<const char*>(&h), TT_DATA_EVENT_HDR_SIZE);
    rec.append(bytes.substr(off, n));
    out.push_back(rec);
    off += n;
  } while (off < bytes.size());
  return out;
}

inline std::string big_endian(uint32_t v, int n) {
  std::string s;
  for (int i = n - 1; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// A TLS 1.3-style ClientHello record: padding first (as some clients send a
// big key share before SNI), then SNI and ALPN.
inline std::string client_hello(const std::string& sni, const std::vector<std::string>& alpn, size_t padding = 0) {
  auto be = big_endian;
  auto ext = [&](uint16_t type, const std::string& body) { return be(type, 2) + be(body.size(), 2) + body; };
  std::string exts;
  if (padding) exts += ext(21, std::string(padding, '\0'));
  std::string name = std::string(1, '\0') + be(sni.size(), 2) + sni;
  exts += ext(0, be(name.size(), 2) + name);
  std::string protos;
  for (const auto& p : alpn) protos += be(p.size(), 1) + p;
  exts += ext(16, be(protos.size(), 2) + protos);
  std::string hello = be(0x0303, 2) + std::string(32, 'r') + be(32, 1) + std::string(32, 's') + be(4, 2) +
                      be(0x1301, 2) + be(0x1302, 2) + be(1, 1) + std::string(1, '\0') + be(exts.size(), 2) + exts;
  std::string hs = be(1, 1) + be(hello.size(), 3) + hello;
  return be(22, 1) + be(0x0301, 2) + be(hs.size(), 2) + hs;
}

// A socket-layer record as the socket tracepoints send it; a head (the first
// bytes the socket sent) makes it the socket's first record, with no byte count.
inline std::string sock_record(uint32_t pid, uint64_t sock, uint8_t dir, uint64_t bytes, uint64_t ts,
                               std::string_view head = {}) {
  tt_sock_event e{};
  e.hdr.kind = TT_EV_SOCK;
  e.hdr.pid = pid;
  e.hdr.tid = pid;
  e.hdr.ts_ns = ts;
  e.sock = sock;
  e.bytes = bytes;
  e.dir = dir;
  e.family = 2;
  e.dport = 443;
  e.daddr[0] = 127;
  e.daddr[3] = 1;
  size_t n = std::min(head.size(), sizeof(e.head));
  e.head_len = n;
  if (n) memcpy(e.head, head.data(), n);
  return std::string(reinterpret_cast<const char*>(&e), n ? sizeof(e) : TT_SOCK_EVENT_BASE);
}

// Keeps every record the pipeline writes.
struct CollectSink : tt::sink::RecordSink {
  std::vector<tokentap::v1::Record> recs;
  void write(const tokentap::v1::Record& r) override { recs.push_back(r); }
};

}  // namespace tt::testing
