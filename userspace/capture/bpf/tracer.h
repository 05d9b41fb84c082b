// The kernel side behind a small interface: loads tlstap.bpf.o, keeps the
// traced-process set, attaches TLS probes to binaries and libraries, and hands
// ring buffer records to a callback. Needs root; everything after it doesn't.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "capture/discovery/discovery_cache.h"
#include "common/result.h"

struct tlstap_bpf;
struct bpf_link;
struct bpf_program;
struct ring_buffer;

namespace tt::capture {

struct TracerOptions {
  bool filter_pids = true;                 // trace only added pids and their descendants
  uint32_t ring_buffer_bytes = 64u << 20;  // power of two
  uint32_t max_call_bytes = 64u << 20;     // per SSL_read/SSL_write call
  bool stop_on_exec = true;                // hold exec'd unknown binaries until instrumented
  bool socket_fallback = true;             // count TCP socket bytes (TLS stacks with no hook)
  // Whole host: hold a process at its first TCP connect while its binary is
  // unexamined (instead of at every exec); needs filter_pids = false.
  bool hold_on_connect = false;
  std::string discovery_cache_dir;         // "" = no cache
};

// What attaching to one TLS library of a file found.
struct LibraryAttach {
  std::string library;  // "openssl" | "boringssl" | "go" | "aws-lc"
  std::string method;   // how it was found (discovery/tls_discovery.h)
  std::string runtime;  // e.g. "Bun v1.4.4"
  bool attached = false;  // probes are on it now (or were already)
  bool refused = false;   // it carries TLS we could not safely instrument
  std::string detail;     // why refused, or the evidence for what was found
  uint16_t hook = 0;      // its id in the attach cookie, so in its data records (0: none)
};

// What attaching to one file found: every TLS library in it (a binary can
// carry several, each hooked on its own), none for a file without TLS.
struct AttachInfo {
  std::vector<LibraryAttach> libraries;
  bool new_attach = false;  // attached by this call
  bool first_look = false;  // examined by this call (not an inode seen before)
  uint32_t kernel_dev = 0;  // the file as the kernel names it (a SEEN record's exe_dev, exe_ino)
  uint64_t ino = 0;
  std::string reason;       // no TLS library in it: what discovery looked for
  bool from_cache = false;

  bool attached() const {
    for (const auto& l : libraries)
      if (l.attached) return true;
    return false;
  }
};

struct TracerStats {
  uint64_t events = 0, bytes = 0, events_lost = 0, bytes_lost = 0, bytes_over_cap = 0;
  uint64_t proc_events_lost = 0, read_faults = 0;
  uint64_t map_full = 0, muted_bytes = 0, holds = 0;
  uint64_t socket_unwatched_bytes = 0;  // whole host: bytes of sockets not followed (not LLM traffic)
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

  // Attaches the TLS probes to the file if it carries a TLS library tokentap
  // can find the entry points of (discovery/tls_discovery.h). A file with no
  // TLS is not an error. Each file (device+inode) is examined once; either
  // way it is then marked known so execs of it are no longer held.
  Result<AttachInfo> attach_tls(const std::string& path);
  // Hooks the dynamic loader's debugger breakpoint (_dl_debug_state) so a
  // dlopen of an ssl library holds the process until its maps are looked at.
  // Returns false for a file that is not a glibc-style loader.
  Result<bool> attach_loader(const std::string& path);
  Result<void> trace_pid(uint32_t pid);
  void untrace_pid(uint32_t pid);
  // Bytes written to the ring buffer and not read yet.
  uint64_t ring_used_bytes() const;
  // Every executable is unknown again: a process's next exec or first connect
  // holds it until it is examined (a reload's new exclusions judge it alive).
  void forget_known_executables();
  // Lets a process that the exec hook stopped run again.
  void resume(uint32_t pid);
  // From now on no hook stops a process (the capture is ending).
  void stop_holding();
  // Whole host: the argv (NUL-separated) a process's exec gave it, if BPF kept
  // it for this process: start_ticks is its /proc starttime, which tells it
  // from an earlier process with the same pid. nullopt: not kept.
  std::optional<std::string> exec_args(uint32_t pid, uint64_t start_ticks) const;
  // An ssl library the loader names this way has been looked at: loading it
  // holds nobody.
  void mark_known_library(const std::string& loader_path);
  // BPF counts this connection's bytes from now on instead of copying them.
  Result<void> mute(uint32_t pid, uint64_t conn);
  // Whole host (filter_pids = false): a socket's records go on past its head
  // record (the SOCK record with the ClientHello) only until this answer:
  // watch = keep sending them, else only count its bytes. head_ts_ns is that
  // record's ts_ns; false if the socket has ended since (an answer never
  // lands on a later socket at the same address).
  bool set_socket_watch(uint64_t sk, uint64_t head_ts_ns, bool watch);

  // Waits up to timeout_ms, then delivers every record waiting. Returns the
  // count, or a negative errno if the ring buffer could not be read.
  int poll(int timeout_ms);
  TracerStats stats() const;
  // Destroys every link now. Each uprobe's detach waits for an RCU grace
  // period (~0.1 s): callers that can should leave it to a detached child
  // (engine::LiveCapture::detach_in_background).
  void detach_all();
  const std::vector<std::string>& attached_files() const { return attached_paths_; }

 private:
  Tracer() = default;
  tlstap_bpf* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  const uint64_t* ring_pos_[2] = {nullptr, nullptr};  // consumer, producer (read-only mappings)
  void map_ring_positions();
  RecordFn on_record_;
  std::vector<LinkOwner> links_;
  void mark_known(dev_t dev, ino_t ino);
  struct Probe;
  std::vector<Probe> probes_for(const std::string& library) const;
  Result<void> attach_library(const std::string& path, const discovery::Discovery& d, LibraryAttach& out,
                              std::vector<LinkOwner>& links);
  Result<void> attach_socket_hooks();
  std::vector<bpf_program*> socket_programs() const;
  static std::optional<std::string> missing_socket_tracepoint();
  int open_and_load(const TracerOptions& opts, bool socket_tps);
  bool socket_hooks_ = false;
  uint16_t next_hook_ = 0;  // the last hooked library's id (LibraryAttach::hook)
  std::string socket_tp_missing_;  // a socket tracepoint this kernel lacks: those hooks are off
  std::unique_ptr<discovery::DiscoveryCache> cache_;
  std::map<std::pair<dev_t, ino_t>, AttachInfo> examined_;
  std::map<std::pair<dev_t, ino_t>, bool> loaders_;
  std::vector<std::string> attached_paths_;
};

// Every name of the system's libssl shared objects in the linker's directories
// (several names may be one file: attach_tls looks at each file once).
std::vector<std::string> system_libssl_paths();

}  // namespace tt::capture
