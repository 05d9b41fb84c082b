#include "capture/bpf/tracer.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <glob.h>

#include "capture/events.h"
#include "tlstap.h"
#include "tlstap.skel.h"

namespace tt::capture {

LinkOwner::~LinkOwner() {
  if (link_) bpf_link__destroy(link_);
}

static int libbpf_quiet(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_WARN && getenv("TOKENTAP_DEBUG")) return vfprintf(stderr, fmt, args);
  if (level == LIBBPF_DEBUG && getenv("TOKENTAP_DEBUG") && strcmp(getenv("TOKENTAP_DEBUG"), "2") == 0)
    return vfprintf(stderr, fmt, args);
  return 0;
}

static int ring_cb(void* ctx, void* data, size_t size) {
  auto* fn = static_cast<Tracer::RecordFn*>(ctx);
  (*fn)(data, size);
  return 0;
}

Result<std::unique_ptr<Tracer>> Tracer::create(const TracerOptions& opts, RecordFn on_record) {
  if (geteuid() != 0)
    return make_error(
        "tokentap needs root to load BPF programs (CAP_BPF and CAP_PERFMON). Run it with sudo.");
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    return make_error(
        "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing). tokentap needs a kernel built "
        "with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.x).");
  libbpf_set_print(libbpf_quiet);

  std::unique_ptr<Tracer> t(new Tracer());
  t->on_record_ = std::move(on_record);
  t->cache_ = std::make_unique<discovery::DiscoveryCache>(opts.discovery_cache_dir);
  // The socket tracepoints are new (Linux 6.12+). Only when a load fails is the
  // kernel's BTF searched for them (parsing it takes tens of milliseconds, and
  // libbpf's load parses it anyway), then the load retried without them.
  int err = t->open_and_load(opts, true);
  if (err) {
    if (auto missing = missing_socket_tracepoint()) {
      t->socket_tp_missing_ = *missing;
      if (opts.socket_fallback)
        fprintf(stderr, "tokentap: this kernel has no %s tracepoint (Linux 6.12+): the socket fallback is off\n",
                missing->c_str());
      err = t->open_and_load(opts, false);
    }
  }
  if (err) {
    int e = -err;
    if (e == EPERM || e == EACCES)
      return make_error(
          "the kernel refused to load BPF programs (" + std::string(strerror(e)) +
          "). Run as root; check kernel.unprivileged_bpf_disabled, lockdown mode and any seccomp/container "
          "policy that blocks bpf().");
    return make_error("cannot load the BPF programs: " + std::string(strerror(e)) +
                      " (set TOKENTAP_DEBUG=1 for the verifier log)");
  }
  std::vector<bpf_program*> tps = {t->skel_->progs.on_fork, t->skel_->progs.on_exec, t->skel_->progs.on_exit};
  if (t->skel_->rodata->hold_on_connect) tps.push_back(t->skel_->progs.on_connect_hold);
  for (bpf_program* prog : tps) {
    bpf_link* l = bpf_program__attach(prog);
    if (!l) return make_error(std::string("cannot attach tracepoint ") + bpf_program__name(prog) + ": " + strerror(errno));
    t->links_.emplace_back(l);
  }
  if (t->skel_->rodata->socket_fallback)
    if (auto r = t->attach_socket_hooks(); !r) return Error{r.error()};
  t->rb_ = ring_buffer__new(bpf_map__fd(t->skel_->maps.events), ring_cb, &t->on_record_, nullptr);
  if (!t->rb_) return make_error(std::string("cannot open the ring buffer: ") + strerror(errno));
  t->map_ring_positions();
  return t;
}

// Opens the BPF object, sets its settings and loads it; a negative errno on failure.
int Tracer::open_and_load(const TracerOptions& opts, bool socket_tps) {
  if (skel_) tlstap_bpf__destroy(skel_);
  skel_ = tlstap_bpf__open();
  if (!skel_) return -errno;
  skel_->rodata->filter_pids = opts.filter_pids;
  skel_->rodata->max_call_bytes = opts.max_call_bytes;
  skel_->rodata->stop_on_exec = opts.stop_on_exec;
  skel_->rodata->socket_fallback = opts.socket_fallback && socket_tps;
  // Whole host: a socket is followed past its first write only if userspace
  // says so (set_socket_watch); traced commands get all their sockets.
  skel_->rodata->sock_watch = skel_->rodata->socket_fallback && !opts.filter_pids;
  skel_->rodata->hold_on_connect = opts.hold_on_connect && !opts.filter_pids;  // inet_sock_set_state: Linux 4.16+
  if (!socket_tps)
    for (bpf_program* prog : socket_programs()) bpf_program__set_autoload(prog, false);
  // Loaded only where it is attached: each program costs verifier time.
  if (!skel_->rodata->hold_on_connect) bpf_program__set_autoload(skel_->progs.on_connect_hold, false);
  bpf_map__set_max_entries(skel_->maps.events, opts.ring_buffer_bytes);
  // TOKENTAP_VERIFIER_STATS=1: each program's verifier statistics (load time).
  std::vector<std::string> logs;
  bool stats = getenv("TOKENTAP_VERIFIER_STATS") != nullptr;
  bpf_program* p;
  if (stats)
    bpf_object__for_each_program(p, skel_->obj) {
      std::string& log = logs.emplace_back(4096, '\0');
      bpf_program__set_log_buf(p, log.data(), log.size());
      bpf_program__set_log_level(p, 4);
    }
  int err = tlstap_bpf__load(skel_);
  size_t i = 0;
  if (stats)
    bpf_object__for_each_program(p, skel_->obj) {
      const std::string& log = logs[i++];
      if (bpf_program__autoload(p)) fprintf(stderr, "tokentap: %s: %s", bpf_program__name(p), log.c_str());
    }
  return err;
}

// The ring's consumer and producer positions, read-only: how full it is
// (libbpf 1.1 has no call for it; ring__avail_data_size came in 1.3). Page 0
// holds the consumer position, page 1 the producer's.
void Tracer::map_ring_positions() {
  long page = sysconf(_SC_PAGESIZE);
  int fd = bpf_map__fd(skel_->maps.events);
  void* cons = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, 0);
  void* prod = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, page);
  if (cons != MAP_FAILED) ring_pos_[0] = static_cast<const uint64_t*>(cons);
  if (prod != MAP_FAILED) ring_pos_[1] = static_cast<const uint64_t*>(prod);
}

uint64_t Tracer::ring_used_bytes() const {
  if (!ring_pos_[0] || !ring_pos_[1]) return 0;
  uint64_t cons = __atomic_load_n(ring_pos_[0], __ATOMIC_ACQUIRE);
  uint64_t prod = __atomic_load_n(ring_pos_[1], __ATOMIC_ACQUIRE);
  return prod > cons ? prod - cons : 0;
}

Tracer::~Tracer() {
  long page = sysconf(_SC_PAGESIZE);
  for (const uint64_t* p : ring_pos_)
    if (p) munmap(const_cast<uint64_t*>(p), page);
  if (rb_) ring_buffer__free(rb_);
  detach_all();
  if (skel_) tlstap_bpf__destroy(skel_);
}

std::vector<bpf_program*> Tracer::socket_programs() const {
  return {skel_->progs.on_tcp_sendmsg, skel_->progs.on_sock_send, skel_->progs.on_sock_recv,
          skel_->progs.on_sock_destroy, skel_->progs.on_sock_connect};
}

// The socket-layer raw tracepoints those programs need, first one missing.
std::optional<std::string> Tracer::missing_socket_tracepoint() {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return "kernel BTF";
  std::optional<std::string> missing;
  for (const char* tp :
       {"tcp_sendmsg_locked", "sock_send_length", "sock_recv_length", "tcp_destroy_sock", "inet_sock_set_state"})
    if (btf__find_by_name_kind(vmlinux, ("btf_trace_" + std::string(tp)).c_str(), BTF_KIND_TYPEDEF) < 0) {
      missing = tp;
      break;
    }
  btf__free(vmlinux);
  return missing;
}

// The socket tracepoints: the socket fallback, and pairing rustls' AEAD
// contexts with sockets. They fire on socket I/O only (no per-syscall
// program: that would slow every syscall of the host), and return at once for
// processes that are not traced.
Result<void> Tracer::attach_socket_hooks() {
  if (!socket_tp_missing_.empty()) {
    fprintf(stderr, "tokentap: this kernel has no %s tracepoint (Linux 6.12+): rustls records cannot be paired "
                    "with their sockets and are counted as unpaired\n", socket_tp_missing_.c_str());
    socket_hooks_ = true;  // said once
    return {};
  }
  for (bpf_program* prog : socket_programs()) {
    bpf_link* l = bpf_program__attach(prog);
    if (!l) return make_error(std::string("cannot attach tracepoint ") + bpf_program__name(prog) + ": " + strerror(errno));
    links_.emplace_back(l);
  }
  socket_hooks_ = true;
  return {};
}

bool Tracer::set_socket_watch(uint64_t sk, uint64_t head_ts_ns, bool watch) {
  tt_sock_state st{};
  if (bpf_map__lookup_elem(skel_->maps.sock_state, &sk, sizeof(sk), &st, sizeof(st), 0) != 0) return false;
  if (st.head_ts != head_ts_ns) return false;  // that socket ended; this is another one at the same address
  st.watch = watch ? TT_SOCK_WATCH : TT_SOCK_IGNORE;
  return bpf_map__update_elem(skel_->maps.sock_state, &sk, sizeof(sk), &st, sizeof(st), BPF_EXIST) == 0;
}

// The kernel's dev_t encoding, as BPF reads it from the inode.
static tt_inode_key kernel_inode(dev_t dev, ino_t ino) {
  tt_inode_key k{};
  k.ino = ino;
  k.dev = (major(dev) << 20) | minor(dev);
  return k;
}

void Tracer::mark_known(dev_t dev, ino_t ino) {
  tt_inode_key k = kernel_inode(dev, ino);
  uint8_t one = 1;
  bpf_map__update_elem(skel_->maps.known_inodes, &k, sizeof(k), &one, sizeof(one), BPF_ANY);
}

void Tracer::forget_known_executables() {
  tt_inode_key k{}, next{};
  const void* prev = nullptr;
  std::vector<tt_inode_key> keys;
  while (bpf_map__get_next_key(skel_->maps.known_inodes, prev, &next, sizeof(next)) == 0) {
    keys.push_back(next);
    k = next;
    prev = &k;
  }
  for (const auto& key : keys) bpf_map__delete_elem(skel_->maps.known_inodes, &key, sizeof(key), 0);
}

struct Tracer::Probe {
  const char* sym;  // the FoundFunction name
  bpf_program* entry;
  bpf_program* ret;
};

// Each library's probes, under the names discovery gives its functions. A
// running process (the daemon's start) goes on calling while its probes go
// in one by one. The read side goes in first, and each return probe before
// its entry probe: a request that is captured then always has its response
// captured too. Else, joined between a request and its response, the next
// response would be paired with the request before it, and so on (the
// protocol layer skips a response seen before any request instead).
// Go: Write is taken whole at entry; Read's return side is a uprobe on each RET.
std::vector<Tracer::Probe> Tracer::probes_for(const std::string& library) const {
  auto& p = skel_->progs;
  if (library == "go") return {{"SSL_read", p.go_tls_read_entry, nullptr}, {"SSL_write", p.go_tls_write, nullptr}};
  // rustls: plaintext at the record layer; the socket hooks pair each AEAD
  // context with its socket.
  if (library == "aws-lc")
    return {{"AEAD_open", p.aead_open_entry, p.aead_open_return},
            {"AEAD_init", p.aead_init_entry, nullptr},
            {"AEAD_seal", p.aead_seal_entry, nullptr},
            {"AEAD_seal_scatter", p.aead_seal_scatter_entry, nullptr}};
  // OpenSSL by its exports, BoringSSL (SSL_read/SSL_write only) and a stripped
  // OpenSSL 3 (ssl_*_internal, which take SSL_read_ex's, SSL_write_ex's or,
  // from 3.2 on, SSL_write_ex2's arguments).
  return {{"SSL_read", p.ssl_read_entry, p.ssl_read_return},
          {"SSL_read_ex", p.ssl_read_ex_entry, p.ssl_read_ex_return},
          {"ssl_read_internal", p.ssl_read_ex_entry, p.ssl_read_ex_return},
          {"SSL_write", p.ssl_write_entry, p.ssl_write_return},
          {"SSL_write_ex", p.ssl_write_ex_entry, p.ssl_write_ex_return},
          {"ssl_write_internal", p.ssl_write_ex_entry, p.ssl_write_ex_return},
          {"ssl_write_internal_flags", p.ssl_write_ex2_entry, p.ssl_write_ex_return},
          {"SSL_free", p.ssl_free_entry, nullptr}};
}

namespace {

// Each library has its own attach cookie, which BPF reads as the data's
// library: aws-lc's records go by AEAD context, the others' by SSL object.
uint64_t library_cookie(const std::string& library) {
  for (uint8_t lib : {TT_LIB_GO_TLS, TT_LIB_AWSLC, TT_LIB_BORINGSSL})
    if (library == tls_library_name(lib)) return lib;
  return TT_LIB_OPENSSL;
}

}  // namespace

// The probes of one found library, into `links`; `out` gets the evidence.
Result<void> Tracer::attach_library(const std::string& path, const discovery::Discovery& d, LibraryAttach& out,
                                    std::vector<LinkOwner>& links) {
  // Its id rides in the cookie's bits above the library: each data record says
  // which hooked file it came through (0 once 65,535 are used: unknown).
  out.hook = next_hook_ < UINT16_MAX ? ++next_hook_ : 0;
  uint64_t cookie = library_cookie(d.library) | uint64_t{out.hook} << 8;
  auto attach_at = [&](bpf_program* prog, uint64_t offset, bool retprobe, const char* what) -> Result<void> {
    LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = cookie, .retprobe = retprobe);
    bpf_link* l = bpf_program__attach_uprobe_opts(prog, -1, path.c_str(), offset, &uo);
    if (!l) return make_error("cannot attach uprobe to " + std::string(what) + " in " + path + ": " + strerror(errno));
    links.emplace_back(l);
    return {};
  };
  if (d.library == "aws-lc" && !socket_hooks_)
    if (auto r = attach_socket_hooks(); !r) return r;
  for (const Probe& p : probes_for(d.library)) {
    const discovery::FoundFunction* fn = d.function(p.sym);
    if (!fn) continue;
    if (!out.detail.empty()) out.detail += "; ";
    out.detail += std::string(p.sym) + ": " + fn->evidence;
    if (p.ret)
      if (auto r = attach_at(p.ret, fn->file_offset, true, p.sym); !r) return r;
    if (d.library == "go")
      for (uint64_t ret : fn->return_offsets)
        if (auto r = attach_at(skel_->progs.go_tls_read_return, ret, false, "a RET of crypto/tls.(*Conn).Read"); !r)
          return r;
    if (auto r = attach_at(p.entry, fn->file_offset, false, p.sym); !r) return r;
  }
  if (d.library == "aws-lc") skel_->bss->aead_hooks = true;
  out.attached = true;
  return {};
}

// Every TLS library of the file, each with its own probes and cookie; a
// refused one is reported beside those attached.
Result<AttachInfo> Tracer::attach_tls(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return make_error("cannot stat " + path + ": " + strerror(errno));
  auto id = std::make_pair(st.st_dev, st.st_ino);
  if (auto it = examined_.find(id); it != examined_.end()) {
    mark_known(st.st_dev, st.st_ino);  // again, after forget_known_executables()
    AttachInfo again = it->second;
    again.new_attach = false;
    again.first_look = false;
    return again;
  }
  AttachInfo info;
  info.first_look = true;
  tt_inode_key k = kernel_inode(st.st_dev, st.st_ino);
  info.kernel_dev = k.dev;
  info.ino = k.ino;
  // Scripts and other non-ELF files: nothing to attach, remember that.
  if (auto img = discovery::ElfImage::open(path)) {
    discovery::BinaryDiscovery b = cache_->discover(**img, &info.from_cache);
    info.reason = b.reason;
    std::vector<LinkOwner> links;  // all of the file's, or none if one fails
    for (const discovery::Discovery& d : b.libraries) {
      LibraryAttach& l = info.libraries.emplace_back();
      l.library = d.library;
      l.method = d.method;
      l.runtime = d.runtime;
      l.refused = d.status == discovery::DiscoveryStatus::Refused;
      if (d.status != discovery::DiscoveryStatus::Found) {
        l.detail = d.reason;
        continue;
      }
      if (auto r = attach_library(path, d, l, links); !r) return Error{r.error()};
    }
    for (auto& l : links) links_.push_back(std::move(l));
    info.new_attach = info.attached();
    if (info.attached()) attached_paths_.push_back(path);
  }
  examined_[id] = info;
  mark_known(st.st_dev, st.st_ino);
  return info;
}

Result<bool> Tracer::attach_loader(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return make_error("cannot stat " + path + ": " + strerror(errno));
  auto id = std::make_pair(st.st_dev, st.st_ino);
  if (auto it = loaders_.find(id); it != loaders_.end()) return it->second;
  loaders_[id] = false;
  auto img = discovery::ElfImage::open(path);
  if (!img) return false;
  auto syms = (*img)->symbol_vaddrs({"_dl_debug_state", "_r_debug"});
  auto off = (*img)->function_offsets({"_dl_debug_state"});
  if (syms.size() != 2 || off.empty()) return false;
  LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = syms["_r_debug"] - syms["_dl_debug_state"]);
  bpf_link* l = bpf_program__attach_uprobe_opts(skel_->progs.dl_debug_state, -1, path.c_str(),
                                                off["_dl_debug_state"], &uo);
  if (!l) return make_error("cannot attach to the dynamic loader " + path + ": " + strerror(errno));
  links_.emplace_back(l);
  loaders_[id] = true;
  return true;
}

void Tracer::resume(uint32_t pid) { kill(static_cast<pid_t>(pid), SIGCONT); }

void Tracer::stop_holding() { skel_->bss->holds_off = true; }

std::optional<std::string> Tracer::exec_args(uint32_t pid, uint64_t start_ticks) const {
  tt_exec_args a{};
  if (bpf_map__lookup_elem(skel_->maps.exec_args, &pid, sizeof(pid), &a, sizeof(a), 0) != 0) return std::nullopt;
  // /proc shows start_boottime in USER_HZ ticks, cut the same way.
  long hz = sysconf(_SC_CLK_TCK);
  if (a.start_boottime / (1'000'000'000ull / uint64_t(hz > 0 ? hz : 100)) != start_ticks) return std::nullopt;
  std::string args(a.args, std::min<size_t>(a.len, sizeof(a.args)));
  if (!args.empty() && args.back() != '\0') args.erase(args.rfind('\0') + 1);  // cut mid-argument: drop that one
  return args;
}

void Tracer::mark_known_library(const std::string& loader_path) {
  char key[TT_PATH_LEN] = {};
  if (loader_path.empty() || loader_path.size() >= sizeof(key)) return;
  memcpy(key, loader_path.data(), loader_path.size());
  uint8_t one = 1;
  bpf_map__update_elem(skel_->maps.known_libs, key, sizeof(key), &one, sizeof(one), BPF_ANY);
}

Result<void> Tracer::mute(uint32_t pid, uint64_t conn) {
  struct {
    uint64_t conn;
    uint32_t pid, pad;
  } k{conn, pid, 0};
  uint8_t one = 1;
  if (bpf_map__update_elem(skel_->maps.muted_conns, &k, sizeof(k), &one, sizeof(one), BPF_NOEXIST) != 0)
    return make_error("cannot mute connection: " + std::string(strerror(errno)));
  __atomic_fetch_add(&skel_->bss->muted_count, 1, __ATOMIC_RELAXED);
  return {};
}

void Tracer::detach_all() {
  // One after another: the kernel serialises uprobe detaches under one lock
  // (threads were tried and gained nothing).
  links_.clear();
}

void Tracer::untrace_pid(uint32_t pid) { bpf_map__delete_elem(skel_->maps.traced_pids, &pid, sizeof(pid), 0); }

Result<void> Tracer::trace_pid(uint32_t pid) {
  uint8_t one = 1;
  if (bpf_map__update_elem(skel_->maps.traced_pids, &pid, sizeof(pid), &one, sizeof(one), BPF_ANY) != 0)
    return make_error("cannot add pid " + std::to_string(pid) + " to the traced set: " + strerror(errno));
  return {};
}

int Tracer::poll(int timeout_ms) {
  // Probes submit without waking us unless a lot is waiting, so always consume
  // after the wait as well.
  int n = ring_buffer__poll(rb_, timeout_ms);
  if (n < 0 && n != -EINTR) return n;
  int m = ring_buffer__consume(rb_);
  if (m < 0 && m != -EINTR) return m;
  return (n > 0 ? n : 0) + (m > 0 ? m : 0);
}

TracerStats Tracer::stats() const {
  TracerStats s;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return s;
  std::vector<uint64_t> vals(ncpu);
  auto sum = [&](uint32_t idx) {
    uint64_t total = 0;
    if (bpf_map__lookup_elem(skel_->maps.stats, &idx, sizeof(idx), vals.data(), vals.size() * sizeof(uint64_t),
                             0) == 0)
      for (auto v : vals) total += v;
    return total;
  };
  s.events = sum(TT_STAT_EVENTS);
  s.bytes = sum(TT_STAT_BYTES);
  s.events_lost = sum(TT_STAT_LOST_EVENTS);
  s.bytes_lost = sum(TT_STAT_LOST_BYTES);
  s.bytes_over_cap = sum(TT_STAT_OVER_CAP_BYTES);
  s.proc_events_lost = sum(TT_STAT_LOST_PROC_EVENTS);
  s.read_faults = sum(TT_STAT_READ_FAULTS);
  s.map_full = sum(TT_STAT_MAP_FULL);
  s.muted_bytes = sum(TT_STAT_MUTED_BYTES);
  s.holds = sum(TT_STAT_HOLDS);
  s.socket_unwatched_bytes = sum(TT_STAT_SOCK_UNWATCHED_BYTES);
  return s;
}

// The directories the dynamic linker searches: the standard ones and those
// /etc/ld.so.conf names (one level of include). Read directly: running
// `ldconfig -p` cost every run a fork and exec.
static std::vector<std::string> linker_dirs() {
  std::vector<std::string> dirs = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                                   "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
                                   "/usr/local/lib"};
  auto read_conf = [&](const std::string& path, auto& self) -> void {
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("include ", 0) == 0) {
        glob_t g{};
        if (glob(line.substr(8).c_str(), 0, nullptr, &g) == 0)
          for (size_t i = 0; i < g.gl_pathc; ++i) self(g.gl_pathv[i], self);
        globfree(&g);
      } else if (!line.empty() && line[0] == '/') {
        dirs.push_back(line.substr(0, line.find_first_of(" \t#")));
      }
    }
  };
  read_conf("/etc/ld.so.conf", read_conf);
  return dirs;
}

std::vector<std::string> system_libssl_paths() {
  std::vector<std::string> out;
  for (const std::string& dir : linker_dirs()) {
    glob_t g{};
    if (glob((dir + "/libssl.so*").c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode)) out.push_back(g.gl_pathv[i]);
      }
    globfree(&g);
  }
  return out;
}

}  // namespace tt::capture
