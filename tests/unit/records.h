// Raw capture records built the way tlstap.bpf.c sends them, for tests that feed
// the pipeline without the kernel.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sink/sink.h"
#include "tlstap.h"

namespace tt::testing {

// Builds raw DATA records the way tlstap.bpf.c does: one call split into chunks.
inline std::vector<std::string> data_records(uint32_t pid, uint64_t conn, uint8_t dir, std::string_view bytes,
                                             uint64_t ts, uint32_t lost_before = 0, uint8_t lib = TT_LIB_OPENSSL) {
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
    std::string rec(reinterpret_cast<const char*>(&h), TT_DATA_EVENT_HDR_SIZE);
    rec.append(bytes.substr(off, n));
    out.push_back(rec);
    off += n;
  } while (off < bytes.size());
  return out;
}

// Keeps every record the pipeline writes.
struct CollectSink : tt::sink::RecordSink {
  std::vector<tokentap::v1::Record> recs;
  void write(const tokentap::v1::Record& r) override { recs.push_back(r); }
};

}  // namespace tt::testing
