// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tokentap TLS plaintext capture.
 *
 * uprobes on the TLS library's read/write entry points stash their arguments
 * by pid_tgid; the return probes copy the bytes actually transferred into the
 * ring buffer in chunks. Process lifecycle tracepoints keep the set of traced
 * processes (a command and all its descendants) in `traced_pids`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "tlstap.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Configured by userspace between open and load. */
const volatile bool filter_pids = true;       /* only processes in traced_pids */
const volatile __u32 max_call_bytes = 1u << 26; /* per-call capture cap */
/* Count TCP socket bytes of traced processes (TLS stacks without a hook). */
const volatile bool socket_fallback = false;
/* Stop a traced process that execs a binary userspace has not looked at yet,
 * until userspace has instrumented it (SIGCONT), so no early TLS is missed. */
const volatile bool stop_on_exec = false;
/* Whole host (filter_pids off): traced_pids holds the processes userspace has
 * examined. Instead of holding every exec (a make -j would feel it), a process
 * is held when it opens its first TCP connection with a binary userspace has
 * not examined yet: TLS needs a connection first, and most execs never make one. */
const volatile bool hold_on_connect = false;

#define SIGSTOP 19

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 64 << 20); /* resized by userspace before load */
} events SEC(".maps");

/* Hash maps off the per-call path are not preallocated: allocating every
 * entry up front took ~10 ms of each start. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);  /* tgid */
  __type(value, __u8);
} traced_pids SEC(".maps");

struct ssl_call {
  __u64 ssl;
  __u64 buf;
  __u64 len_ptr; /* *_ex: size_t *readbytes / *written; 0 otherwise */
  __u64 lib;     /* the attach cookie: enum tt_tls_lib | hook id << 8 */
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct tt_inode_key);
  __type(value, __u8);
} known_inodes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64); /* pid_tgid */
  __type(value, struct ssl_call);
} read_calls SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct ssl_call);
} write_calls SEC(".maps");

struct gap_key {
  __u64 conn;
  __u32 pid;
  __u32 dir;
};

/* Bytes lost (ring buffer full, cap, fault) per connection+direction, handed to
 * userspace in the next chunk that does get through. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct gap_key);
  __type(value, __u64);
} gaps SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, TT_STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

/* Set by userspace once AEAD (rustls) probes are attached: the socket hooks
 * then also pair AEAD contexts with sockets. */
volatile bool aead_hooks = false;
/* Set by userspace as it stops: no process is stopped any more (nobody would
 * let it go while the probes are torn down in the background). */
volatile bool holds_off = false;
/* Number of entries in `gaps`: lets the fast path skip the hash lookup. */
volatile __u64 gaps_pending = 0;
/* Per-call ids: unique enough to tell calls apart in userspace diagnostics. */
volatile __u64 call_counter = 0;

/* Connections userspace recognised as not LLM API traffic (first request's
 * host and path): their bytes are counted, not copied. */
struct conn_key {
  __u64 conn;
  __u32 pid;
  __u32 _pad;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct conn_key);
  __type(value, __u8);
} muted_conns SEC(".maps");

/* Entries in muted_conns, so the data path skips the lookup while none is. */
volatile __u64 muted_count = 0;

static __always_inline void stat_add(__u32 idx, __u64 v) {
  __u64 *p = bpf_map_lookup_elem(&stats, &idx);
  if (p) *p += v;
}

static __always_inline bool is_traced(__u32 tgid) {
  if (!filter_pids) return true;
  return bpf_map_lookup_elem(&traced_pids, &tgid) != NULL;
}

static __always_inline void note_gap(__u32 pid, __u64 conn, __u32 dir, __u64 n) {
  struct gap_key k = {.conn = conn, .pid = pid, .dir = dir};
  __u64 *v = bpf_map_lookup_elem(&gaps, &k);
  if (v) {
    __sync_fetch_and_add(v, n);
    return;
  }
  if (bpf_map_update_elem(&gaps, &k, &n, BPF_NOEXIST) == 0)
    __sync_fetch_and_add(&gaps_pending, 1);
  else if ((v = bpf_map_lookup_elem(&gaps, &k)))
    __sync_fetch_and_add(v, n);
  else
    stat_add(TT_STAT_MAP_FULL, 1); /* the hole's place is lost; the bytes stay counted as lost */
}

static __always_inline __u32 take_gap(__u32 pid, __u64 conn, __u32 dir) {
  if (!gaps_pending) return 0;
  struct gap_key k = {.conn = conn, .pid = pid, .dir = dir};
  __u64 *v = bpf_map_lookup_elem(&gaps, &k);
  if (!v) return 0;
  __u64 n = *v;
  if (bpf_map_delete_elem(&gaps, &k) == 0) __sync_fetch_and_sub(&gaps_pending, 1);
  return n > 0xffffffffull ? 0xffffffffu : (__u32)n;
}

struct emit_ctx {
  __u64 buf;
  __u64 conn;
  __u64 call_seq;
  __u64 ts;
  __u64 pid_tgid;
  __u32 total;    /* bytes to capture (<= cap) */
  __u32 call_len; /* bytes the call transferred */
  __u32 flags;
  __u8 dir;
  __u8 lib;
  __u16 hook;
};

static __always_inline void event_header(struct tt_event_header *h, __u32 kind, __u64 pid_tgid) {
  h->kind = kind;
  h->pid = pid_tgid >> 32;
  h->tid = (__u32)pid_tgid;
  h->flags = 0;
  h->ts_ns = bpf_ktime_get_ns();
}

static __always_inline void fill_header(struct tt_data_event *ev, struct emit_ctx *c, __u32 off, __u32 n) {
  ev->hdr.kind = TT_EV_DATA;
  ev->hdr.pid = c->pid_tgid >> 32;
  ev->hdr.tid = (__u32)c->pid_tgid;
  ev->hdr.flags = c->flags;
  ev->hdr.ts_ns = c->ts;
  ev->conn = c->conn;
  ev->call_seq = c->call_seq;
  ev->call_len = c->call_len;
  ev->offset = off;
  ev->len = n;
  ev->dir = c->dir;
  ev->lib = c->lib;
  ev->hook = c->hook;
  ev->_pad2 = 0;
}

static __always_inline __u64 wakeup_flags(void) {
  /* Batch wakeups: userspace also polls on a short timer, so only wake it when
   * a good amount is waiting. Keeps the per-call cost near a bare uprobe. */
  return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > (256 << 10) ? BPF_RB_FORCE_WAKEUP
                                                                     : BPF_RB_NO_WAKEUP;
}

/* n is in [1, max] (max a power of two); say so in a form the verifier can
 * follow whatever registers clang picks. */
static __always_inline __u64 bound_len(__u32 n, __u32 max) {
  __u64 v = n;
  asm volatile("" : "+r"(v));
  return ((v - 1) & (max - 1)) + 1;
}

/* One chunk per bpf_loop iteration. Two record sizes keep small reads cheap. */
static long emit_chunk(__u32 i, void *data) {
  struct emit_ctx *c = data;
  __u32 off = i * TT_CHUNK_MAX;
  if (off >= c->total) return 1;
  __u32 n = c->total - off;
  __u32 pid = c->pid_tgid >> 32;
  long err;

  /* A ring more than half full keeps its room for the first chunk of every
   * call (message heads, SSE events): a request is then never lost whole,
   * only parts of large bodies, counted as gaps the protocol layer skips. */
  if (off && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 2) {
    if (n > TT_CHUNK_MAX) n = TT_CHUNK_MAX;
    goto lost;
  }

  if (n <= TT_CHUNK_SMALL) {
    struct tt_data_event_small *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
    if (!ev) goto lost;
    fill_header((struct tt_data_event *)ev, c, off, n);
    ev->lost_before = take_gap(pid, c->conn, c->dir);
    err = bpf_probe_read_user(ev->data, bound_len(n, TT_CHUNK_SMALL), (void *)(c->buf + off));
    if (err) {
      if (ev->lost_before) note_gap(pid, c->conn, c->dir, ev->lost_before);
      bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
      stat_add(TT_STAT_READ_FAULTS, 1);
      goto lost;
    }
    bpf_ringbuf_submit(ev, wakeup_flags());
  } else {
    if (n > TT_CHUNK_MAX) n = TT_CHUNK_MAX;
    struct tt_data_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
    if (!ev) goto lost;
    fill_header(ev, c, off, n);
    ev->lost_before = take_gap(pid, c->conn, c->dir);
    err = bpf_probe_read_user(ev->data, bound_len(n, TT_CHUNK_MAX), (void *)(c->buf + off));
    if (err) {
      if (ev->lost_before) note_gap(pid, c->conn, c->dir, ev->lost_before);
      bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
      stat_add(TT_STAT_READ_FAULTS, 1);
      goto lost;
    }
    bpf_ringbuf_submit(ev, wakeup_flags());
  }
  stat_add(TT_STAT_EVENTS, 1);
  stat_add(TT_STAT_BYTES, n);
  return 0;

lost:
  stat_add(TT_STAT_LOST_EVENTS, 1);
  stat_add(TT_STAT_LOST_BYTES, n);
  note_gap(pid, c->conn, c->dir, n);
  return 0;
}

static __always_inline bool is_muted(__u64 conn, __u32 pid) {
  if (!muted_count) return false;
  struct conn_key k = {.conn = conn, .pid = pid};
  return bpf_map_lookup_elem(&muted_conns, &k) != NULL;
}

/* A global function: the verifier checks it once, not inlined into every
 * probe (the AEAD probes took ~0.3 s each to load that way). dir_lib packs
 * dir | lib << 8: a BPF function takes at most five arguments. */
static __always_inline void note_seen(__u32 tgid);

/* dir_lib: dir | lib << 8 | hook << 16 (the attach cookie's parts). */
__noinline int emit_call_data(__u64 conn, __u64 buf, __u32 len, __u32 dir_lib, __u64 pid_tgid) {
  __u8 dir = dir_lib & 0xff;
  if (!filter_pids) note_seen(pid_tgid >> 32);
  if (is_muted(conn, pid_tgid >> 32)) {
    stat_add(TT_STAT_MUTED_BYTES, len);
    return 0;
  }
  struct emit_ctx c = {
      .buf = buf,
      .conn = conn,
      .call_seq = __sync_fetch_and_add(&call_counter, 1),
      .ts = bpf_ktime_get_ns(),
      .pid_tgid = pid_tgid,
      .total = len,
      .call_len = len,
      .flags = 0,
      .dir = dir,
      .lib = (__u8)(dir_lib >> 8),
      .hook = (__u16)(dir_lib >> 16),
  };
  if (len > max_call_bytes) {
    c.total = max_call_bytes;
    c.flags |= TT_F_CALL_OVER_CAP;
    stat_add(TT_STAT_OVER_CAP_BYTES, len - max_call_bytes);
  }
  __u32 nchunks = (c.total + TT_CHUNK_MAX - 1) / TT_CHUNK_MAX;
  bpf_loop(nchunks, emit_chunk, &c, 0);
  if (c.flags & TT_F_CALL_OVER_CAP) note_gap(pid_tgid >> 32, c.conn, dir, len - max_call_bytes);
  return 0;
}

static __always_inline void emit_data(struct ssl_call *call, __u32 len, __u8 dir, __u64 pid_tgid) {
  __u32 dir_lib = dir | ((__u32)(call->lib & 0xff) << 8) | ((__u32)((call->lib >> 8) & 0xffff) << 16);
  emit_call_data(call->ssl, call->buf, len, dir_lib, pid_tgid);
}

static __always_inline int stash(void *ctx, void *map, void *ssl, const void *buf, void *len_ptr) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_traced(pid_tgid >> 32)) return 0;
  struct ssl_call call = {
      .ssl = (__u64)ssl, .buf = (__u64)buf, .len_ptr = (__u64)len_ptr, .lib = bpf_get_attach_cookie(ctx)};
  /* A call that cannot be stashed is not captured: count it, never silently. */
  if (bpf_map_update_elem(map, &pid_tgid, &call, BPF_ANY)) stat_add(TT_STAT_MAP_FULL, 1);
  return 0;
}

static __always_inline int finish(void *map, long rc, __u8 dir) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct ssl_call *call = bpf_map_lookup_elem(map, &pid_tgid);
  if (!call) return 0;
  __u64 len = 0;
  if (call->len_ptr) {
    /* SSL_read_ex / SSL_write_ex: 1 on success, count in *len_ptr. */
    if (rc == 1) bpf_probe_read_user(&len, sizeof(len), (void *)call->len_ptr);
  } else if (rc > 0) {
    len = rc;
  }
  if (len > 0 && len <= 0x7fffffffull) emit_data(call, (__u32)len, dir, pid_tgid);
  bpf_map_delete_elem(map, &pid_tgid);
  return 0;
}

SEC("uprobe") /* BPF_KPROBE decodes args the same way for uprobes (libbpf 1.1 has no BPF_UPROBE) */
int BPF_KPROBE(ssl_write_entry, void *ssl, const void *buf, int num) {
  return stash(ctx, &write_calls, ssl, buf, NULL);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_return, int rc) { return finish(&write_calls, rc, TT_DIR_WRITE); }

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_entry, void *ssl, const void *buf, size_t num, size_t *written) {
  return stash(ctx, &write_calls, ssl, buf, written);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_ex_return, int rc) { return finish(&write_calls, rc, TT_DIR_WRITE); }

/* SSL_write_ex2(s, buf, num, flags, size_t *written) of OpenSSL >= 3.2, and
 * ssl_write_internal with the same arguments under every SSL_write* in a
 * stripped static OpenSSL: returns like SSL_write_ex. (ssl_write_internal of
 * 3.0 and 3.1 has SSL_write_ex's arguments, ssl_read_internal SSL_read_ex's.) */
SEC("uprobe")
int BPF_KPROBE(ssl_write_ex2_entry, void *ssl, const void *buf, size_t num, __u64 flags, size_t *written) {
  return stash(ctx, &write_calls, ssl, buf, written);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_entry, void *ssl, void *buf, int num) {
  return stash(ctx, &read_calls, ssl, buf, NULL);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_return, int rc) { return finish(&read_calls, rc, TT_DIR_READ); }

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_entry, void *ssl, void *buf, size_t num, size_t *readbytes) {
  return stash(ctx, &read_calls, ssl, buf, readbytes);
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_ex_return, int rc) { return finish(&read_calls, rc, TT_DIR_READ); }

/* Go crypto/tls, register ABI (Go >= 1.17): (*Conn).Write(b) and (*Conn).Read(b)
 * get RAX = *Conn, RBX = b.ptr, RCX = b.len; Read returns n in RAX. A
 * uretprobe rewrites the return address, which Go's stack unwinder rejects, so
 * Read's return side is a uprobe on each of its RET instructions; a goroutine
 * may move to another thread while Read blocks, so calls are keyed by the
 * goroutine (g lives in R14), not by the thread. */
struct go_key {
  __u64 g;
  __u32 tgid;
  __u32 _pad;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct go_key);
  __type(value, struct ssl_call);
} go_reads SEC(".maps");

SEC("uprobe")
int go_tls_write(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_traced(pid_tgid >> 32)) return 0;
  __u64 len = ctx->cx;
  if (!len || len > 0x7fffffffull) return 0;
  /* Write returns only once all of b is written (or on error): take it now. */
  struct ssl_call call = {.ssl = ctx->ax, .buf = ctx->bx, .lib = bpf_get_attach_cookie(ctx)};
  emit_data(&call, (__u32)len, TT_DIR_WRITE, pid_tgid);
  return 0;
}

SEC("uprobe")
int go_tls_read_entry(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_traced(pid_tgid >> 32)) return 0;
  struct go_key k = {.g = ctx->r14, .tgid = pid_tgid >> 32};
  struct ssl_call call = {.ssl = ctx->ax, .buf = ctx->bx, .lib = bpf_get_attach_cookie(ctx)};
  if (bpf_map_update_elem(&go_reads, &k, &call, BPF_ANY)) stat_add(TT_STAT_MAP_FULL, 1);
  return 0;
}

SEC("uprobe")
int go_tls_read_return(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct go_key k = {.g = ctx->r14, .tgid = pid_tgid >> 32};
  struct ssl_call *call = bpf_map_lookup_elem(&go_reads, &k);
  if (!call) return 0;
  __u64 n = ctx->ax;
  if (n > 0 && n <= 0x7fffffffull) emit_data(call, (__u32)n, TT_DIR_READ, pid_tgid);
  bpf_map_delete_elem(&go_reads, &k);
  return 0;
}

/* The connection `conn` (an SSL*, or a struct sock * for rustls) is over. */
static __always_inline void emit_close(__u64 pid_tgid, __u64 conn) {
  struct tt_close_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
  if (!ev) {
    stat_add(TT_STAT_LOST_PROC_EVENTS, 1);
    return;
  }
  event_header(&ev->hdr, TT_EV_CLOSE, pid_tgid);
  ev->conn = conn;
  bpf_ringbuf_submit(ev, wakeup_flags());
}

SEC("uprobe")
int BPF_KPROBE(ssl_free_entry, void *ssl) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!ssl || !is_traced(pid_tgid >> 32)) return 0;
  if (muted_count) {
    struct conn_key k = {.conn = (__u64)ssl, .pid = pid_tgid >> 32};
    if (bpf_map_delete_elem(&muted_conns, &k) == 0) __sync_fetch_and_sub(&muted_count, 1);
  }
  emit_close(pid_tgid, (__u64)ssl);
  return 0;
}

static __always_inline struct tt_proc_event *proc_event(__u32 kind, __u32 pid) {
  struct tt_proc_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
  if (!ev) {
    stat_add(TT_STAT_LOST_PROC_EVENTS, 1);
    return NULL;
  }
  __builtin_memset(ev, 0, sizeof(*ev));
  ev->hdr.kind = kind;
  ev->hdr.pid = pid;
  ev->hdr.tid = (__u32)bpf_get_current_pid_tgid();
  ev->hdr.ts_ns = bpf_ktime_get_ns();
  bpf_get_current_comm(ev->comm, sizeof(ev->comm));
  return ev;
}

static __always_inline void inode_key(struct file *f, struct tt_inode_key *k) {
  k->ino = BPF_CORE_READ(f, f_inode, i_ino);
  k->dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
}

/* Whole host: a process's first plaintext (or TLS ClientHello) says who it
 * is, once; from then on it is traced (its exec and exit are reported). */
static __always_inline void note_seen(__u32 tgid) {
  if (bpf_map_lookup_elem(&traced_pids, &tgid)) return;
  __u8 one = 1;
  if (bpf_map_update_elem(&traced_pids, &tgid, &one, BPF_NOEXIST)) return;
  struct tt_proc_event *ev = proc_event(TT_EV_SEEN, tgid);
  if (!ev) return;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
  ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
  ev->uid = (__u32)bpf_get_current_uid_gid();
  ev->cgroup_id = bpf_get_current_cgroup_id();
  struct tt_inode_key exe = {};
  inode_key(BPF_CORE_READ(task, mm, exe_file), &exe);
  ev->exe_ino = exe.ino;
  ev->exe_dev = exe.dev;
  /* Woken now, not at the next poll: userspace reads /proc (cwd, project)
   * while the process lives; a one-shot CLI may be gone 0.1 s later. */
  bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child) {
  __u32 ptgid = BPF_CORE_READ(parent, tgid);
  __u32 ctgid = BPF_CORE_READ(child, tgid);
  if (ptgid == ctgid) return 0; /* a new thread, not a new process */
  if (!filter_pids || !bpf_map_lookup_elem(&traced_pids, &ptgid)) return 0;
  __u8 one = 1;
  if (bpf_map_update_elem(&traced_pids, &ctgid, &one, BPF_ANY)) stat_add(TT_STAT_MAP_FULL, 1);
  struct tt_proc_event *ev = proc_event(TT_EV_FORK, ctgid);
  if (!ev) return 0;
  ev->ppid = ptgid;
  ev->child_pid = ctgid;
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH); /* whole host: every exec; the oldest go first */
  __uint(max_entries, 4096);
  __type(key, __u32); /* tgid */
  __type(value, struct tt_exec_args);
} exec_args SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); /* too big for the stack */
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tt_exec_args);
} exec_args_scratch SEC(".maps");

/* Whole host: the new program's argv, before it can rewrite it. */
static __always_inline void keep_exec_args(struct task_struct *p, __u32 tgid) {
  __u32 zero = 0;
  struct tt_exec_args *a = bpf_map_lookup_elem(&exec_args_scratch, &zero);
  if (!a) return;
  unsigned long start = BPF_CORE_READ(p, mm, arg_start), end = BPF_CORE_READ(p, mm, arg_end);
  __u64 len = end > start ? end - start : 0;
  if (len > TT_ARGS_LEN) len = TT_ARGS_LEN; /* never past arg_end: the environment follows */
  a->start_boottime = BPF_CORE_READ(p, start_boottime);
  a->len = 0;
  if (len > 0 && bpf_probe_read_user(a->args, len, (void *)start) == 0) a->len = (__u32)len;
  if (bpf_map_update_elem(&exec_args, &tgid, a, BPF_ANY)) stat_add(TT_STAT_MAP_FULL, 1);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) {
  __u32 tgid = BPF_CORE_READ(p, tgid);
  if (!filter_pids) keep_exec_args(p, tgid);
  if (!bpf_map_lookup_elem(&traced_pids, &tgid)) return 0;
  struct tt_proc_event *ev = proc_event(TT_EV_EXEC, tgid);
  if (!ev) return 0;
  const char *fn = BPF_CORE_READ(bprm, filename);
  bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename), fn);
  ev->ppid = BPF_CORE_READ(p, real_parent, tgid);
  struct tt_inode_key k = {};
  inode_key(BPF_CORE_READ(bprm, file), &k);
  bool known = bpf_map_lookup_elem(&known_inodes, &k) != NULL;
  if (!filter_pids && !known) {
    /* Whole host: examined again when it first connects. */
    bpf_map_delete_elem(&traced_pids, &tgid);
    ev->hdr.flags |= TT_F_UNKNOWN_EXE;
  } else if (stop_on_exec && !known && !holds_off && bpf_send_signal(SIGSTOP) == 0) {
    /* Only once the event is reserved: userspace must hear of every stop. */
    ev->hdr.flags |= TT_F_STOPPED;
    stat_add(TT_STAT_HOLDS, 1);
  }
  bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP); /* exec must reach userspace promptly: it attaches probes */
  return 0;
}

/* Libraries loaded after start (dlopen): the dynamic loader calls
 * _dl_debug_state() for debuggers once the link map is consistent, after
 * mapping and before the new code runs. If new entries name an ssl library,
 * hold the process until userspace has looked at its maps. The attach cookie
 * is the distance from _dl_debug_state to _r_debug in the loader. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH); /* whole host: any process may dlopen */
  __uint(max_entries, 65536);
  __type(key, __u32);   /* tgid */
  __type(value, __u32); /* link map entries already looked at */
} link_counts SEC(".maps");

/* ssl libraries userspace has examined, by the path the loader names them
 * with (zero-padded): loading one of these holds nobody. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, char[TT_PATH_LEN]);
  __type(value, __u8);
} known_libs SEC(".maps");

struct link_walk {
  __u64 lm;      /* current struct link_map * */
  __u32 n;       /* entries walked */
  __u32 seen;    /* entries looked at before */
  char name[TT_PATH_LEN];
  __u32 from, len; /* find_ssl: where to look in name, its length */
  bool ssl;        /* find_ssl: name has "ssl" there */
  bool found;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct link_walk);
} walk_scratch SEC(".maps");

struct walk_ctx {
  struct link_walk *w; /* bpf_loop's context must live on the stack */
};

/* "ssl" at w->from + k: a bpf_loop callback is verified once (the unrolled
 * scan made this probe the slowest to load). */
static long find_ssl(__u32 k, void *data) {
  struct link_walk *w = ((struct walk_ctx *)data)->w;
  if (!w) return 1;
  __u32 j = (w->from + k) & (TT_PATH_LEN - 1);
  if (j + 2 >= w->len || j + 2 >= TT_PATH_LEN) return 1;
  if (w->name[j] != 's' || w->name[(j + 1) & (TT_PATH_LEN - 1)] != 's' || w->name[(j + 2) & (TT_PATH_LEN - 1)] != 'l')
    return 0;
  w->ssl = true;
  return 1;
}

/* <link.h>: l_addr, l_name, l_ld, l_next, l_prev: public, fixed ABI. */

static long walk_link(__u32 i, void *data) {
  struct link_walk *w = ((struct walk_ctx *)data)->w;
  if (!w || !w->lm) return 1;
  __u64 next = 0, name = 0;
  if (bpf_probe_read_user(&next, sizeof(next), (void *)(w->lm + 24))) return 1;
  if (w->n >= w->seen && !w->found && !bpf_probe_read_user(&name, sizeof(name), (void *)(w->lm + 8)) && name) {
    __builtin_memset(w->name, 0, sizeof(w->name)); /* the key of known_libs */
    long len = bpf_probe_read_user_str(w->name, sizeof(w->name), (void *)name);
    /* "ssl" in the last 48 bytes of the path ("libssl.so.3",
     * "_ssl.cpython-311-x86_64-linux-gnu.so"): a short scan keeps the probe
     * quick to verify (the whole path took 18 ms to load, this 5). */
    w->from = len > 50 ? (__u32)len - 50 : 0;
    w->len = len > 0 ? (__u32)len : 0;
    w->ssl = false;
    bpf_loop(48, find_ssl, data, 0);
    /* A Node native addon ("runtime.node") may carry its own TLS too. */
    if (!w->ssl && len >= 6) {
      __u32 e = (__u32)len - 6;
      w->ssl = w->name[e & (TT_PATH_LEN - 1)] == '.' && w->name[(e + 1) & (TT_PATH_LEN - 1)] == 'n' &&
               w->name[(e + 2) & (TT_PATH_LEN - 1)] == 'o' && w->name[(e + 3) & (TT_PATH_LEN - 1)] == 'd' &&
               w->name[(e + 4) & (TT_PATH_LEN - 1)] == 'e';
    }
    if (w->ssl) w->found = !bpf_map_lookup_elem(&known_libs, w->name);
  }
  w->n++;
  w->lm = next;
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(dl_debug_state) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (!stop_on_exec && !hold_on_connect) return 0;
  if (filter_pids && !bpf_map_lookup_elem(&traced_pids, &tgid)) return 0;
  /* The probed address itself (regs->ip is already past the breakpoint). */
  __u64 r_debug = bpf_get_func_ip(ctx) + bpf_get_attach_cookie(ctx);
  int state = -1; /* struct r_debug: r_version, r_map @8, r_brk @16, r_state @24 */
  __u64 map = 0;
  if (bpf_probe_read_user(&state, sizeof(state), (void *)(r_debug + 24)) || state != 0 /* RT_CONSISTENT */)
    return 0;
  if (bpf_probe_read_user(&map, sizeof(map), (void *)(r_debug + 8))) return 0;
  __u32 zero = 0;
  struct link_walk *w = bpf_map_lookup_elem(&walk_scratch, &zero);
  if (!w) return 0;
  __u32 *prev = bpf_map_lookup_elem(&link_counts, &tgid);
  w->lm = map;
  w->n = 0;
  w->seen = prev ? *prev : 0;
  w->found = false;
  struct walk_ctx wc = {.w = w};
  bpf_loop(4096, walk_link, &wc, 0);
  __u32 n = w->n;
  bpf_map_update_elem(&link_counts, &tgid, &n, BPF_ANY);
  if (!w->found) return 0;
  struct tt_proc_event *ev = proc_event(TT_EV_DLOPEN, tgid);
  if (!ev) return 0;
  __builtin_memcpy(ev->filename, w->name, sizeof(ev->filename));
  if (!holds_off && bpf_send_signal(SIGSTOP) == 0) {
    ev->hdr.flags |= TT_F_STOPPED;
    stat_add(TT_STAT_HOLDS, 1);
  }
  bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
  return 0;
}

/* --- socket fallback and AEAD pairing: socket-layer tracepoints ---
 *
 * No per-syscall program: a sys_enter/sys_exit program, however short, puts
 * every task of the host on the slow syscall path (~195 ns a syscall,
 * measured). These raw tracepoints fire on socket I/O only, in the task doing
 * it:
 *   sock_send_length / sock_recv_length  after sock_sendmsg / sock_recvmsg: the
 *       bytes of each call, whatever the syscall (write, sendmsg, io_uring...)
 *   tcp_sendmsg_locked  each pass of tcp_sendmsg_locked's copy loop (so at
 *       least once per call with data), with the msghdr: the user buffer
 *       being sent (a ClientHello, a sealed record)
 *   tcp_destroy_sock  the end of a struct sock (any context, softirq too)
 *   inet_sock_set_state to SYN_SENT  a socket starting a connection
 * Per-socket state is keyed by struct sock * alone: one is not reused before
 * tcp_destroy_sock, where its entries go. Everything returns after the
 * is_traced() lookup for processes that are not traced. */

#define TT_AF_INET 2
#define TT_AF_INET6 10
#define TT_IPPROTO_TCP 6
#define TT_MSG_PEEK 2
#define TT_TCP_SYN_SENT 2
#define TT_ITER_UBUF 0  /* enum iter_type since 6.0; the tracepoints used here came later */
#define TT_ITER_IOVEC 1

/* Whole host (no pid filter): stream a socket's records only while userspace
 * has not said it is not LLM traffic (struct tt_sock_state). With a pid
 * filter every TCP socket of the traced processes is streamed: userspace
 * counts what is not API traffic as other traffic. */
const volatile bool sock_watch = false;

/* Sockets whose first bytes were seen, and (whole host) userspace's answer. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64); /* struct sock * */
  __type(value, struct tt_sock_state);
} sock_state SEC(".maps");

/* The tracepoints' arguments are BTF pointers: read directly (CO-RE
 * relocated loads), cheaper than a bpf_probe_read_kernel call per field. */
static __always_inline bool inet_tcp(const struct sock *sk, __u16 *family) {
  if (!sk) return false;
  *family = sk->__sk_common.skc_family;
  return (*family == TT_AF_INET || *family == TT_AF_INET6) && sk->sk_protocol == TT_IPPROTO_TCP;
}

static __always_inline void sock_event_fill(struct tt_sock_event *ev, __u64 pid_tgid, const struct sock *sk,
                                            __u16 family, __u64 bytes, __u8 dir) {
  event_header(&ev->hdr, TT_EV_SOCK, pid_tgid);
  ev->sock = (__u64)sk;
  ev->bytes = bytes;
  ev->dir = dir;
  ev->family = family;
  ev->dport = bpf_ntohs(sk->__sk_common.skc_dport);
  ev->head_len = 0;
  __u32 *a = (__u32 *)ev->daddr;
  if (family == TT_AF_INET) {
    a[0] = sk->__sk_common.skc_daddr;
    a[1] = a[2] = a[3] = 0;
  } else {
    for (int i = 0; i < 4; i++) a[i] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];
  }
}

/* Bytes one send/recv call moved. Whole host: only sockets that are pending
 * or watched get a record; the rest are counted. */
static __always_inline void sock_bytes(__u64 pid_tgid, const struct sock *sk, __u16 family, __u64 bytes, __u8 dir) {
  if (sock_watch) {
    __u64 key = (__u64)sk;
    struct tt_sock_state *st = bpf_map_lookup_elem(&sock_state, &key);
    if (!st || st->watch == TT_SOCK_IGNORE) {
      stat_add(TT_STAT_SOCK_UNWATCHED_BYTES, bytes);
      return;
    }
  }
  struct tt_sock_event *ev = bpf_ringbuf_reserve(&events, TT_SOCK_EVENT_BASE, 0);
  if (!ev) {
    stat_add(TT_STAT_LOST_EVENTS, 1);
    stat_add(TT_STAT_LOST_BYTES, bytes);
    return;
  }
  sock_event_fill(ev, pid_tgid, sk, family, bytes, dir);
  bpf_ringbuf_submit(ev, wakeup_flags());
}

/* Where msg's iterator stands in user memory, and how many bytes follow there
 * in one piece: ITER_UBUF (write, send) or ITER_IOVEC (writev, sendmsg: __iov
 * is the kernel's copy of the iovec array, at the current segment). 0 for
 * kernel buffers (sendfile, kTLS). */
static __always_inline __u64 send_position(const struct msghdr *msg, __u64 *avail) {
  __u8 type = msg->msg_iter.iter_type;
  __u64 off = msg->msg_iter.iov_offset;
  __u64 left = msg->msg_iter.count;
  if (type == TT_ITER_UBUF) {
    *avail = left;
    return (__u64)msg->msg_iter.ubuf + off;
  }
  if (type != TT_ITER_IOVEC) return 0;
  const struct iovec *iov = msg->msg_iter.__iov;
  __u64 base = (__u64)iov->iov_base;
  __u64 len = iov->iov_len;
  if (!base || off >= len) return 0;
  *avail = len - off < left ? len - off : left;
  return base + off;
}

/* A socket's first bytes (the ClientHello, for its SNI), once: a record with
 * the head and no byte count (the call's bytes follow from sock_send_length).
 * Whole host: only a TLS client's first bytes (a ClientHello) are worth
 * userspace's answer; any other socket (plain TCP, a TLS server's side) is
 * ignored at once, without a record. */
static __always_inline void sock_head(__u64 pid_tgid, const struct sock *sk, __u64 at, __u64 avail) {
  __u64 key = (__u64)sk;
  if (bpf_map_lookup_elem(&sock_state, &key)) return;
  struct tt_sock_state st = {.head_ts = bpf_ktime_get_ns(), .tgid = pid_tgid >> 32, .watch = TT_SOCK_PENDING};
  __u32 n = avail > TT_SOCK_HEAD ? TT_SOCK_HEAD : (__u32)avail;
  if (!at || !n) {
    /* Kernel pages (sendfile): no ClientHello to read, nothing to say. */
    st.watch = TT_SOCK_IGNORE;
    bpf_map_update_elem(&sock_state, &key, &st, BPF_NOEXIST);
    return;
  }
  struct tt_sock_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
  if (!ev) {
    stat_add(TT_STAT_LOST_EVENTS, 1); /* not marked seen: the next write tries again */
    return;
  }
  sock_event_fill(ev, pid_tgid, sk, sk->__sk_common.skc_family, 0, TT_DIR_WRITE);
  ev->hdr.ts_ns = st.head_ts; /* userspace's answer names the socket's life by it */
  if (bpf_probe_read_user(ev->head, bound_len(n, TT_SOCK_HEAD), (void *)at) == 0)
    ev->head_len = n;
  else
    stat_add(TT_STAT_READ_FAULTS, 1);
  /* A handshake record (22, version 3.x) holding a ClientHello (1): a TLS client. */
  bool hello = ev->head_len >= 6 && ev->head[0] == 0x16 && ev->head[1] == 3 && ev->head[5] == 1;
  if (sock_watch && !hello) st.watch = TT_SOCK_IGNORE;
  /* The state exists before userspace can read the record and answer. */
  bpf_map_update_elem(&sock_state, &key, &st, BPF_NOEXIST);
  /* A TLS client on the whole host: who it is, while it runs (a one-shot CLI
   * may be gone before userspace reads /proc, and it has no plaintext). */
  if (sock_watch && hello) note_seen(st.tgid);
  if (st.watch == TT_SOCK_IGNORE)
    bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
  else
    bpf_ringbuf_submit(ev, wakeup_flags());
}

/* --- AEAD contexts (rustls over aws-lc) paired with their sockets --- */

struct aead_key {
  __u64 ctx;
  __u32 tgid;
  __u32 _pad;
};

/* Processes that ran an AEAD probe: only their socket I/O does pairing work.
 * LRU: an exited process's entry only costs a reused pid some lookups. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32); /* tgid */
  __type(value, __u8);
} aead_pids SEC(".maps");

/* Contexts already paired with a socket: paired once, until a new key. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct aead_key);
  __type(value, __u64); /* struct sock * */
} aead_paired SEC(".maps");

/* Sealed records of unpaired contexts, by where the record starts (5 bytes of
 * header before the ciphertext), until a socket write starts there. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct aead_key); /* .ctx = record address */
  __type(value, __u64);         /* the context */
} aead_sealed SEC(".maps");

/* The last TCP read of each thread: rustls reads and opens the records it
 * got in the same call, on the same thread. */
struct sock_read {
  __u64 sk;
  __u64 buf; /* where the bytes went; 0: not known (not a read-family syscall) */
  __u64 len;
  __u64 ts;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64); /* pid_tgid */
  __type(value, struct sock_read);
} last_sock_read SEC(".maps");

/* Without the buffer address, an opened record pairs with its thread's last
 * TCP read only if that read just happened. */
#define AEAD_READ_WINDOW_NS (10ull * 1000 * 1000)

/* Sockets that carry a paired context: their end ends the connection. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);   /* struct sock * */
  __type(value, __u32); /* the process: the socket may end in softirq, where current is anyone */
} aead_socks SEC(".maps");

static __always_inline bool is_aead_pid(__u32 tgid) { return bpf_map_lookup_elem(&aead_pids, &tgid) != NULL; }

static __always_inline void mark_aead_pid(__u32 tgid) {
  __u8 one = 1;
  if (!is_aead_pid(tgid)) bpf_map_update_elem(&aead_pids, &tgid, &one, BPF_ANY);
}

static __always_inline bool emit_alias(__u64 pid_tgid, __u64 ctx, __u64 sk, __u8 dir) {
  struct tt_alias_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
  if (!ev) {
    stat_add(TT_STAT_LOST_PROC_EVENTS, 1);
    return false;
  }
  event_header(&ev->hdr, TT_EV_ALIAS, pid_tgid);
  ev->conn = ctx;
  ev->sock = sk;
  ev->dir = dir;
  __builtin_memset(ev->_pad, 0, sizeof(ev->_pad));
  bpf_ringbuf_submit(ev, wakeup_flags());
  return true;
}

/* Marked paired only once userspace is sure to hear of it (a full ring buffer
 * leaves the context unpaired, to be tried again on its next record). */
static __always_inline void pair_aead(__u64 pid_tgid, __u64 ctx, __u64 sk, __u8 dir) {
  if (!emit_alias(pid_tgid, ctx, sk, dir)) return;
  struct aead_key k = {.ctx = ctx, .tgid = pid_tgid >> 32};
  bpf_map_update_elem(&aead_paired, &k, &sk, BPF_ANY);
  __u32 tgid = pid_tgid >> 32;
  bpf_map_update_elem(&aead_socks, &sk, &tgid, BPF_ANY);
}

static __always_inline bool aead_is_paired(__u64 ctx, __u32 tgid) {
  struct aead_key k = {.ctx = ctx, .tgid = tgid};
  return bpf_map_lookup_elem(&aead_paired, &k) != NULL;
}

/* A socket write starting where a sealed record starts pairs the record's
 * context with the socket. Seen at each pass of tcp_sendmsg_locked's loop
 * (the first one is where the call's data starts); had the kernel skipped a
 * pass, the context would pair on a later record: pairing is retried on each
 * sealed record until it succeeds, and userspace holds the records until then. */
static __always_inline void aead_pair_write(__u64 pid_tgid, __u64 at, __u64 sk) {
  struct aead_key k = {.ctx = at, .tgid = pid_tgid >> 32};
  __u64 *ctx = bpf_map_lookup_elem(&aead_sealed, &k);
  if (!ctx) return;
  __u64 owner = *ctx;
  bpf_map_delete_elem(&aead_sealed, &k);
  if (!aead_is_paired(owner, k.tgid)) pair_aead(pid_tgid, owner, sk, TT_DIR_WRITE);
}

/* Where the read that just finished put its bytes. sock_recv_length has no
 * msghdr, and tcp_recvmsg no tracepoint; but the task's user registers still
 * hold the syscall's arguments (x86-64 numbers). 0 when it was no read-family
 * syscall (io_uring, say): pairing then goes by recency alone. */
static __always_inline __u64 recv_buffer(void) {
#if defined(__TARGET_ARCH_x86)
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
  long nr = regs->orig_ax;
  __u64 arg = regs->si;
  if (nr == 0 || nr == 45) return arg; /* read, recvfrom(fd, buf, ...) */
  /* recvmsg(fd, msg, flags): struct user_msghdr has msg_iov at 16 */
  if (nr == 47 && bpf_probe_read_user(&arg, sizeof(arg), (void *)(arg + 16))) return 0;
  if (nr != 19 && nr != 47) return 0;
  __u64 base = 0; /* readv(fd, iov, n) / recvmsg: the first iovec's base */
  bpf_probe_read_user(&base, sizeof(base), (void *)arg);
  return base;
#else
  return 0;
#endif
}

static __always_inline void remember_read(__u64 pid_tgid, const struct sock *sk, __u64 len) {
  struct sock_read r = {.sk = (__u64)sk, .buf = recv_buffer(), .len = len, .ts = bpf_ktime_get_ns()};
  bpf_map_update_elem(&last_sock_read, &pid_tgid, &r, BPF_ANY);
}

/* The socket's connection is over: forget it, and end the connection a
 * paired AEAD context filed under it. */
static __always_inline void sock_ended(__u64 sk) {
  if (socket_fallback) bpf_map_delete_elem(&sock_state, &sk);
  if (!aead_hooks) return;
  __u32 *owner = bpf_map_lookup_elem(&aead_socks, &sk);
  if (!owner) return;
  __u32 tgid = *owner;
  if (bpf_map_delete_elem(&aead_socks, &sk) == 0) emit_close((__u64)tgid << 32 | tgid, sk);
}

SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(on_tcp_sendmsg, const struct sock *sk, const struct msghdr *msg, const struct sk_buff *skb,
             int size_goal) {
  if (!socket_fallback && !aead_hooks) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  if (!is_traced(tgid)) return 0;
  __u64 avail = 0;
  __u64 at = send_position(msg, &avail);
  if (aead_hooks && at && is_aead_pid(tgid)) aead_pair_write(pid_tgid, at, (__u64)sk);
  if (socket_fallback) sock_head(pid_tgid, sk, at, avail);
  return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_sock_send, struct sock *sk, int ret, int flags) {
  if (!socket_fallback || ret <= 0) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u16 family;
  if (!is_traced(pid_tgid >> 32) || !inet_tcp(sk, &family)) return 0;
  sock_bytes(pid_tgid, sk, family, ret, TT_DIR_WRITE);
  return 0;
}

/* MSG_PEEK reads are read again: not counted, not where records are opened from. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_sock_recv, struct sock *sk, int ret, int flags) {
  if ((!socket_fallback && !aead_hooks) || ret <= 0 || (flags & TT_MSG_PEEK)) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  __u16 family;
  if (!is_traced(tgid) || !inet_tcp(sk, &family)) return 0;
  if (aead_hooks && is_aead_pid(tgid)) remember_read(pid_tgid, sk, ret);
  if (socket_fallback) sock_bytes(pid_tgid, sk, family, ret, TT_DIR_READ);
  return 0;
}

/* The end of a socket: not TCP_CLOSE, which a socket reaches while its
 * receive queue still holds the end of a response to read (the peer's FIN
 * after our shutdown); destroy comes after the last read (close() purges the
 * queue). May run in softirq: keyed by the socket, the owner from the map. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_sock_destroy, struct sock *sk) {
  if (socket_fallback || aead_hooks) sock_ended((__u64)sk);
  return 0;
}

/* connect() on a socket that had a connection (connect(AF_UNSPEC) disconnects
 * without destroying it): a new connection on the same struct sock, whose first
 * bytes are a new head. Runs in the connecting task. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_sock_connect, const struct sock *sk, const int oldstate, const int newstate) {
  if (newstate != TT_TCP_SYN_SENT || (!socket_fallback && !aead_hooks)) return 0;
  if (sk->sk_protocol != TT_IPPROTO_TCP) return 0;
  sock_ended((__u64)sk);
  return 0;
}

/* EVP_AEAD_CTX_seal/open(ctx, out, out_len, max_out_len, nonce, nonce_len,
 * in, in_len, ad, ad_len): the last four arguments are on the stack at entry
 * ([rsp] is the return address). rustls authenticates the record header:
 * TLS 1.3 5 bytes (type always application data; the real type is the last
 * non-zero plaintext byte), TLS 1.2 sequence number + header (13 bytes). Only
 * application data is sent on; handshake messages and alerts are not HTTP. */
struct aead_args {
  __u64 in, in_len, ad, ad_len;
};

static __always_inline bool aead_stack_args(struct pt_regs *ctx, struct aead_args *a) {
  return bpf_probe_read_user(a, sizeof(*a), (void *)(ctx->sp + 8)) == 0;
}

/* 1: TLS 1.3 record, 2: TLS 1.2 application data, 0: neither. */
static __always_inline int aead_record_kind(__u64 ad, __u64 ad_len) {
  __u8 h[13] = {};
  if (ad_len == 5) {
    if (bpf_probe_read_user(h, 5, (void *)ad)) return 0;
    return h[0] == 0x17 && h[1] == 3 && h[2] == 3 ? 1 : 0;
  }
  if (ad_len == 13) {
    if (bpf_probe_read_user(h, 13, (void *)ad)) return 0;
    return h[8] == 0x17 && h[9] == 3 ? 2 : 0;
  }
  return 0;
}

/* TLS 1.3 inner plaintext: content, type byte, zero padding. Returns the
 * content length if the type is application data, else -1. Padding beyond 32
 * bytes (no stack here pads) counts as not application data. */
struct tail_scan {
  __u8 tail[32];
  __u32 n;   /* bytes of tail read, at its start */
  int type_at; /* index of the last non-zero byte, -1: none */
};

/* From the end back: one bpf_loop callback is verified once, where an
 * unrolled loop made each of the three AEAD probes take 10-20 ms to load. */
static long find_type_byte(__u32 i, void *data) {
  struct tail_scan *t = data;
  if (i >= t->n) return 1;
  __u32 at = t->n - 1 - i;
  if (!t->tail[at & 31]) return 0;
  t->type_at = (int)at;
  return 1;
}

static __always_inline long tls13_app_len(__u64 buf, __u64 len) {
  if (!len || len > 0x7fffffffull) return -1;
  struct tail_scan t = {.n = len < 32 ? (__u32)len : 32, .type_at = -1};
  if (bpf_probe_read_user(t.tail, bound_len(t.n, 32), (void *)(buf + len - t.n))) return -1;
  bpf_loop(32, find_type_byte, &t, 0);
  if (t.type_at < 0 || t.tail[t.type_at & 31] != 0x17) return -1;
  return (long)(len - t.n + t.type_at);
}

static __always_inline void remember_sealed(__u64 rec, __u32 tgid, __u64 *aead) {
  struct aead_key rk = {.ctx = rec, .tgid = tgid};
  bpf_map_update_elem(&aead_sealed, &rk, aead, BPF_ANY);
}

static __always_inline int aead_seal(struct pt_regs *ctx, __u64 out, __u64 in, __u64 in_len, __u64 ad,
                                     __u64 ad_len) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  mark_aead_pid(tgid);
  int kind = aead_record_kind(ad, ad_len);
  if (!kind) return 0;
  long n = kind == 1 ? tls13_app_len(in, in_len) : (in_len <= 0x7fffffffull ? (long)in_len : -1);
  if (n < 0) return 0;
  __u64 aead = PT_REGS_PARM1(ctx);
  if (!aead_is_paired(aead, tgid)) {
    /* The record goes out from its 5-byte header before the ciphertext, or,
     * in TLS 1.2 AES-GCM, before an 8-byte explicit nonce too. */
    remember_sealed(out - 5, tgid, &aead);
    if (kind == 2) remember_sealed(out - 13, tgid, &aead);
  }
  /* Sealing may work in place: the plaintext is only there now. */
  struct ssl_call call = {.ssl = aead, .buf = in, .lib = bpf_get_attach_cookie(ctx)};
  if (n > 0) emit_data(&call, (__u32)n, TT_DIR_WRITE, pid_tgid);
  return 0;
}

SEC("uprobe")
int aead_seal_entry(struct pt_regs *ctx) {
  if (!is_traced(bpf_get_current_pid_tgid() >> 32)) return 0;
  struct aead_args a;
  if (!aead_stack_args(ctx, &a)) return 0;
  return aead_seal(ctx, PT_REGS_PARM2(ctx), a.in, a.in_len, a.ad, a.ad_len);
}

/* EVP_AEAD_CTX_seal_scatter(ctx, out, out_tag, out_tag_len, max_out_tag_len,
 * nonce, nonce_len, in, in_len, extra_in, extra_in_len, ad, ad_len): rustls'
 * TLS 1.2 AES-GCM (the tag goes apart). Seven arguments on the stack. */
SEC("uprobe")
int aead_seal_scatter_entry(struct pt_regs *ctx) {
  if (!is_traced(bpf_get_current_pid_tgid() >> 32)) return 0;
  __u64 st[7];
  if (bpf_probe_read_user(st, sizeof(st), (void *)(ctx->sp + 8))) return 0;
  return aead_seal(ctx, PT_REGS_PARM2(ctx), st[1], st[2], st[5], st[6]);
}

struct aead_open_call {
  __u64 ctx;
  __u64 out;
  __u64 out_len_ptr;
  int kind;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u64); /* pid_tgid */
  __type(value, struct aead_open_call);
} aead_opens SEC(".maps");

SEC("uprobe")
int aead_open_entry(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  if (!is_traced(tgid)) return 0;
  mark_aead_pid(tgid);
  struct aead_args a;
  if (!aead_stack_args(ctx, &a)) return 0;
  int kind = aead_record_kind(a.ad, a.ad_len);
  if (!kind) return 0;
  __u64 aead = PT_REGS_PARM1(ctx);
  if (!aead_is_paired(aead, tgid)) {
    /* The record lies in (or just before: a record split across reads) what
     * this thread last read from a socket; where the read went is unknown,
     * that read must have just happened. */
    struct sock_read *r = bpf_map_lookup_elem(&last_sock_read, &pid_tgid);
    if (r && (r->buf ? a.in < r->buf + r->len && a.in + 16384 + 256 + 5 > r->buf
                     : bpf_ktime_get_ns() - r->ts < AEAD_READ_WINDOW_NS))
      pair_aead(pid_tgid, aead, r->sk, TT_DIR_READ);
  }
  struct aead_open_call c = {.ctx = aead, .out = PT_REGS_PARM2(ctx), .out_len_ptr = PT_REGS_PARM3(ctx), .kind = kind};
  if (bpf_map_update_elem(&aead_opens, &pid_tgid, &c, BPF_ANY)) stat_add(TT_STAT_MAP_FULL, 1);
  return 0;
}

SEC("uretprobe")
int aead_open_return(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct aead_open_call *c = bpf_map_lookup_elem(&aead_opens, &pid_tgid);
  if (!c) return 0;
  struct aead_open_call oc = *c;
  bpf_map_delete_elem(&aead_opens, &pid_tgid);
  if ((int)PT_REGS_RC(ctx) != 1) return 0; /* authentication failed: nothing was decrypted */
  __u64 len = 0;
  if (bpf_probe_read_user(&len, sizeof(len), (void *)oc.out_len_ptr)) return 0;
  long n = oc.kind == 1 ? tls13_app_len(oc.out, len) : (len <= 0x7fffffffull ? (long)len : -1);
  if (n <= 0) return 0;
  struct ssl_call call = {.ssl = oc.ctx, .buf = oc.out, .lib = bpf_get_attach_cookie(ctx)};
  emit_data(&call, (__u32)n, TT_DIR_READ, pid_tgid);
  return 0;
}

/* EVP_AEAD_CTX_init_with_direction(ctx, ...): a new key for this context. */
SEC("uprobe")
int aead_init_entry(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_traced(pid_tgid >> 32)) return 0;
  mark_aead_pid(pid_tgid >> 32);
  struct aead_key k = {.ctx = PT_REGS_PARM1(ctx), .tgid = pid_tgid >> 32};
  bpf_map_delete_elem(&aead_paired, &k);
  emit_alias(pid_tgid, k.ctx, 0, 0);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p) {
  __u32 tgid = BPF_CORE_READ(p, tgid);
  __u32 pid = BPF_CORE_READ(p, pid);
  if (pid != tgid) return 0; /* only the thread group leader ends the process */
  bpf_map_delete_elem(&link_counts, &tgid);
  if (bpf_map_delete_elem(&traced_pids, &tgid)) return 0;
  struct tt_proc_event *ev = proc_event(TT_EV_EXIT, tgid);
  if (!ev) return 0;
  ev->exit_code = BPF_CORE_READ(p, exit_code);
  ev->ppid = BPF_CORE_READ(p, real_parent, tgid);
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

/* Whole host: the first TCP connect of a process whose binary userspace has not
 * examined stops it (connect() has returned; no TLS byte is written yet) until
 * its binary and libraries are instrumented. Runs in the connecting task. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_connect_hold, const struct sock *sk, const int oldstate, const int newstate) {
  if (!hold_on_connect || newstate != 2 /* TCP_SYN_SENT */) return 0;
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (!tgid || bpf_map_lookup_elem(&traced_pids, &tgid)) return 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
  struct file *exe = BPF_CORE_READ(task, mm, exe_file);
  if (!exe) return 0;
  struct tt_inode_key k = {};
  inode_key(exe, &k);
  if (bpf_map_lookup_elem(&known_inodes, &k)) return 0;
  struct tt_proc_event *ev = proc_event(TT_EV_HOLD, tgid);
  if (!ev) return 0;
  ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
  if (!holds_off && bpf_send_signal(SIGSTOP) == 0) {
    ev->hdr.flags |= TT_F_STOPPED;
    stat_add(TT_STAT_HOLDS, 1);
  }
  bpf_ringbuf_submit(ev, BPF_RB_FORCE_WAKEUP);
  return 0;
}
