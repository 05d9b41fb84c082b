// The kernel side behind a small interface: loads tlstap.bpf.o, keeps the
// traced-process set, attaches TLS probes to binaries and libraries, and hands
// ring buffer records to a callback. Needs root; everything after it doesn't.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

struct tlstap_bpf;
struct bpf_link;
struct ring_buffer;

namespace tt::capture {

struct TracerOptions {
  bool filter_pids = true;                 // trace only added pids and their descendants
  uint32_t ring_buffer_bytes = 64u << 20;  // power of two
  uint32_t max_call_bytes = 64u << 20;     // per SSL_read/SSL_write call
};

struct TracerStats {
  uint64_t events = 0, bytes = 0, events_lost = 0, bytes_lost = 0, bytes_over_cap = 0;
  uint64_t proc_events_lost = 0, read_faults = 0;
};

// Owns one bpf_link; destroys it on scope exit.
class LinkOwner {
 public:
  explicit LinkOwner(bpf_link* l) : link_(l) {}
  ~LinkOwner();
  LinkOwner(LinkOwner&& o) noexcept : link_(std::exchange(o.link_, nullptr)) {}
  LinkOwner(const LinkOwner&) = delete;

 private:
  bpf_link* link_;
};

class Tracer {
 public:
  using RecordFn = std::function<void(const void*, size_t)>;

  // Checks privileges and BTF, opens, configures, loads, attaches tracepoints.
  static Result<std::unique_ptr<Tracer>> create(const TracerOptions& opts, RecordFn on_record);
  ~Tracer();

  // Attaches the TLS probes to the file if it exports OpenSSL's SSL_read and
  // SSL_write. Returns false (not an error) when it has no such symbols, and
  // does nothing for a file (device+inode) already attached.
  Result<bool> attach_openssl(const std::string& path);
  Result<void> trace_pid(uint32_t pid);

  // Waits up to timeout_ms, then delivers every record waiting. Returns the count.
  int poll(int timeout_ms);
  TracerStats stats() const;
  const std::vector<std::string>& attached_files() const { return attached_paths_; }

 private:
  Tracer() = default;
  tlstap_bpf* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  RecordFn on_record_;
  std::vector<LinkOwner> links_;
  std::set<std::pair<dev_t, ino_t>> attached_inodes_;
  std::set<std::pair<dev_t, ino_t>> rejected_inodes_;
  std::vector<std::string> attached_paths_;
};

// Paths of the system's libssl shared objects, from the dynamic linker cache.
std::vector<std::string> system_libssl_paths();

}  // namespace tt::capture
