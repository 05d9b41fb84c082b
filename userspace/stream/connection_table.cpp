#include "stream/connection_table.h"

#include <algorithm>
#include <vector>

namespace tt::stream {

ConnectionTable::~ConnectionTable() = default;

void ConnectionTable::on_data(const capture::DataEvent& ev) {
  Key key{ev.pid, ev.conn};
  auto it = conns_.find(key);
  if (it == conns_.end()) {
    size_t& open = open_per_pid_[ev.pid];
    if (open >= max_per_process_) {
      ++refused_records_;
      return;
    }
    ++open;
    Conn c;
    c.info.id = next_id_++;
    c.info.pid = ev.pid;
    c.info.ssl = ev.conn;
    c.info.first_ts_ns = ev.ts_ns;
    c.info.midstream = ev.flags & TT_F_MIDSTREAM;
    c.info.lib = ev.lib;
    c.info.hook = ev.hook;
    c.consumer = factory_(c.info);
    it = conns_.emplace(key, std::move(c)).first;
  }
  Conn& c = it->second;
  DirState& d = c.dir[ev.dir];
  c.info.last_ts_ns = ev.ts_ns;

  // BPF's lost_before counts every byte lost since the last chunk of this stream
  // got through, so it already covers chunks missing within a call (an offset
  // jump) and the tail of the previous call. Those are only a fallback for when
  // BPF could not record the loss (gaps map full): the larger of the two, never
  // their sum, or the protocol layer would skip past the next message's start.
  uint64_t missing = 0;
  if (!d.seen && c.info.midstream) {
    // Joined mid-call: what came before capture started is not a loss.
  } else if (ev.offset == 0) {
    if (d.expect_offset != 0 && d.expect_offset < d.call_len) missing = d.call_len - d.expect_offset;
  } else if (ev.offset > d.expect_offset) {
    missing = ev.offset - d.expect_offset;
  }
  uint64_t gap = std::max<uint64_t>(ev.lost_before, missing);
  if (gap) {
    c.info.lost[ev.dir] += gap;
    bytes_lost_ += gap;
    c.consumer->on_gap(ev.dir, gap, ev.ts_ns);
  }
  d.seen = true;
  d.call_len = ev.call_len;
  d.expect_offset = uint64_t{ev.offset} + ev.data.size();
  c.info.bytes[ev.dir] += ev.data.size();
  if (ev.data.empty()) return;
  if (ev.offset == 0) c.consumer->on_call_start(ev.dir);
  c.consumer->on_bytes(ev.dir, ev.data, ev.ts_ns);
}

void ConnectionTable::close(std::unordered_map<Key, Conn, KeyHash>::iterator it, uint64_t ts_ns) {
  // A call's chunks are all sent when it returns: the tail of the last one, if
  // it never came, was lost (BPF would only have said so with a later chunk).
  Conn& c = it->second;
  for (int dir : {0, 1}) {
    DirState& d = c.dir[dir];
    if (d.expect_offset >= d.call_len) continue;
    uint64_t gap = d.call_len - d.expect_offset;
    c.info.lost[dir] += gap;
    bytes_lost_ += gap;
    c.consumer->on_gap(dir, gap, ts_ns);
  }
  c.consumer->on_close(ts_ns);
  uint32_t pid = it->first.pid;
  conns_.erase(it);
  if (auto p = open_per_pid_.find(pid); p != open_per_pid_.end() && --p->second == 0) open_per_pid_.erase(p);
}

void ConnectionTable::on_close(uint32_t pid, uint64_t ssl, uint64_t ts_ns) {
  auto it = conns_.find(Key{pid, ssl});
  if (it != conns_.end()) close(it, ts_ns);
}

void ConnectionTable::close_process(uint32_t pid, uint64_t ts_ns) {
  std::vector<Key> keys;
  for (auto& [k, c] : conns_)
    if (k.pid == pid) keys.push_back(k);
  for (auto& k : keys) close(conns_.find(k), ts_ns);
}

void ConnectionTable::close_all(uint64_t ts_ns) {
  // Oldest first, so records come out in a stable order.
  std::vector<std::pair<uint64_t, Key>> keys;
  for (auto& [k, c] : conns_) keys.emplace_back(c.info.id, k);
  std::sort(keys.begin(), keys.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (auto& [id, k] : keys) close(conns_.find(k), ts_ns);
}

}  // namespace tt::stream
