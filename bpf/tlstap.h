/* Events shared between bpf/tlstap.bpf.c and userspace. Plain C, fixed-size
 * fields only; userspace static_asserts the layout (capture/events.h). */
#ifndef TOKENTAP_TLSTAP_H
#define TOKENTAP_TLSTAP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Plaintext is sent in chunks of at most TT_CHUNK_MAX bytes. Chunks of at most
 * TT_CHUNK_SMALL bytes use a small ring buffer record so small reads (SSE
 * events, headers) do not burn a whole 16 KiB slot. */
#define TT_CHUNK_MAX 16384
#define TT_CHUNK_SMALL 1024
#define TT_COMM_LEN 16
#define TT_PATH_LEN 256

enum tt_event_kind {
  TT_EV_DATA = 1,  /* TLS plaintext chunk */
  TT_EV_CLOSE = 2, /* SSL_free / SSL_shutdown */
  TT_EV_FORK = 3,  /* traced process created a child process */
  TT_EV_EXEC = 4,  /* traced process called exec */
  TT_EV_EXIT = 5,  /* traced process (thread group) exited */
  TT_EV_DLOPEN = 6, /* traced process loaded a library whose name has "ssl" in it, or a Node addon (.node) */
  TT_EV_SOCK = 7,   /* bytes a traced process moved over a TCP socket (fallback) */
  TT_EV_ALIAS = 8,  /* an AEAD context carries the records of a TCP socket (or, sock 0, a new key) */
  TT_EV_HOLD = 9,   /* whole host: a process whose binary userspace has not examined opened a TCP
                       connection and was stopped until it is instrumented */
  TT_EV_SEEN = 10,  /* whole host: the first TLS plaintext of a process (comm, parent: the
                       process may be gone before userspace reads /proc) */
};

enum tt_direction {
  TT_DIR_WRITE = 0, /* SSL_write: plaintext the process sent */
  TT_DIR_READ = 1,  /* SSL_read: plaintext the process received */
};

enum tt_tls_lib {
  TT_LIB_OPENSSL = 1,   /* exported SSL_* symbols (libssl, node) */
  TT_LIB_BORINGSSL = 2, /* entry points found in a stripped binary (Bun) */
  TT_LIB_GO_TLS = 3,    /* Go crypto/tls, by symbol */
  TT_LIB_AWSLC = 4,     /* aws-lc EVP_AEAD_CTX_seal/open under rustls: conn is the AEAD context */
};

/* A binary userspace has already looked at (attached or found nothing to
 * attach to). Keyed like the kernel sees the file: dev is the kernel's
 * encoding, MKDEV(major, minor) = major << 20 | minor. */
struct tt_inode_key {
  __u64 ino;
  __u32 dev;
  __u32 _pad;
};

struct tt_event_header {
  __u32 kind;   /* enum tt_event_kind */
  __u32 pid;    /* tgid */
  __u32 tid;
  __u32 flags;  /* TT_F_* */
  __u64 ts_ns;  /* bpf_ktime_get_ns() */
};

#define TT_F_CALL_OVER_CAP 1u /* the call had more bytes than the capture cap */
#define TT_F_STOPPED 2u       /* EXEC: the process was stopped until userspace instruments it */
#define TT_F_MIDSTREAM 4u     /* DATA: set by userspace on the first record of a connection that may
                                 have been open before capture started */
#define TT_F_UNKNOWN_EXE 8u   /* EXEC (whole host): the new binary was not examined yet */

struct tt_data_event {
  struct tt_event_header hdr;
  __u64 conn;        /* SSL* (unique per process while the connection lives) */
  __u64 call_seq;    /* per-CPU-unique id of the SSL_read/SSL_write call */
  __u32 call_len;    /* bytes the call transferred (return value) */
  __u32 offset;      /* offset of this chunk within the call */
  __u32 len;         /* bytes of data[] that are valid */
  __u32 lost_before; /* bytes of this connection+direction lost just before this chunk */
  __u8 dir;          /* enum tt_direction */
  __u8 lib;          /* enum tt_tls_lib */
  __u16 hook;        /* which hooked library (userspace's id, in the attach cookie); 0: unknown */
  __u32 _pad2;
  __u8 data[TT_CHUNK_MAX];
};

/* Same layout with a smaller payload; userspace reads hdr/len either way. */
struct tt_data_event_small {
  struct tt_event_header hdr;
  __u64 conn;
  __u64 call_seq;
  __u32 call_len;
  __u32 offset;
  __u32 len;
  __u32 lost_before;
  __u8 dir;
  __u8 lib;
  __u16 hook;
  __u32 _pad2;
  __u8 data[TT_CHUNK_SMALL];
};

#define TT_DATA_EVENT_HDR_SIZE 64

struct tt_close_event {
  struct tt_event_header hdr;
  __u64 conn;
};

struct tt_proc_event {
  struct tt_event_header hdr;
  __u32 ppid;      /* FORK: parent tgid; SEEN: the parent */
  __u32 child_pid; /* FORK: child tgid */
  __s32 exit_code; /* EXIT */
  __u32 uid;       /* SEEN: real uid (who, should the process be gone before /proc is read) */
  char comm[TT_COMM_LEN];
  union {
    char filename[TT_PATH_LEN]; /* EXEC: as exec'd; DLOPEN: the library */
    struct {                    /* SEEN: */
      __u64 cgroup_id;          /* its cgroup v2 id (the cgroup directory's inode number) */
      __u64 exe_ino;            /* its executable, as struct tt_inode_key (userspace knows the */
      __u32 exe_dev;            /* path of a binary it examined, should the process be gone) */
      __u32 _seen_pad;
    };
  };
};

/* Whole host: a process's argv as exec gave it, kept per process (harness
 * rules read the program and npm package from it; Node's process.title
 * overwrites what /proc/PID/cmdline shows before the first request). */
#define TT_ARGS_LEN 256
struct tt_exec_args {
  __u64 start_boottime; /* the task's, to tell a reused pid's stale entry */
  __u32 len;            /* bytes of args[] (NUL-separated, cut at TT_ARGS_LEN) */
  __u32 _pad;
  char args[TT_ARGS_LEN];
};

/* Socket fallback: what a send or receive call moved over a TCP socket, for
 * TLS stacks with no plaintext hook. A socket's first bytes (the ClientHello,
 * for its SNI) come once, in a record of their own: head set, bytes 0 (the
 * bytes of that write follow in the next record). */
#define TT_SOCK_HEAD 2048 /* a post-quantum ClientHello is ~1.5 KiB */

struct tt_sock_event {
  struct tt_event_header hdr;
  __u64 sock;      /* struct sock * (unique while the socket lives) */
  __u64 bytes;     /* bytes the call moved (0 in the head record) */
  __u8 dir;        /* enum tt_direction */
  __u8 family;     /* AF_INET / AF_INET6 */
  __u16 dport;     /* host order */
  __u32 head_len;  /* valid bytes of head[] (a socket's first record only) */
  __u8 daddr[16];  /* IPv4 in the first 4 bytes */
  __u8 head[TT_SOCK_HEAD]; /* only in records of sizeof(struct tt_sock_event) bytes */
};

#define TT_SOCK_EVENT_BASE 64 /* record size without head[] */

/* Whole host (no pid filter): BPF sends a socket's records only while it is
 * pending (its head record went out, no answer yet) or watched. Userspace
 * answers in the `sock_state` map (key: struct sock *); the bytes of ignored
 * sockets are only counted (TT_STAT_SOCK_UNWATCHED_BYTES). */
enum tt_sock_watch {
  TT_SOCK_PENDING = 0,
  TT_SOCK_WATCH = 1,
  TT_SOCK_IGNORE = 2,
};

struct tt_sock_state {
  __u64 head_ts; /* ts_ns of the head record: which life of the struct sock an answer is for */
  __u32 tgid;    /* the process that wrote first */
  __u8 watch;    /* enum tt_sock_watch */
  __u8 _pad[3];
};

/* The AEAD layer knows records, not sockets: each direction of a rustls
 * connection has its own context. BPF pairs a context with the socket whose
 * write carries a sealed record (or whose last read holds an opened one) and
 * says so once; userspace then files that context's plaintext under the
 * socket, so both directions meet on one connection. sock = 0: the context
 * got a new key and may now belong to another connection. */
struct tt_alias_event {
  struct tt_event_header hdr;
  __u64 conn; /* the AEAD context, as in tt_data_event.conn */
  __u64 sock; /* struct sock *, or 0 */
  __u8 dir;   /* enum tt_direction the context works in */
  __u8 _pad[7];
};

/* Counters in the per-CPU `stats` array. */
enum tt_stat {
  TT_STAT_EVENTS = 0,
  TT_STAT_BYTES = 1,
  TT_STAT_LOST_EVENTS = 2, /* ring buffer full */
  TT_STAT_LOST_BYTES = 3,
  TT_STAT_OVER_CAP_BYTES = 4,
  TT_STAT_LOST_PROC_EVENTS = 5,
  TT_STAT_READ_FAULTS = 6, /* bpf_probe_read_user failed (page not resident) */
  TT_STAT_MAP_FULL = 7,    /* a map update failed (call not stashed, process not followed...) */
  TT_STAT_MUTED_BYTES = 8, /* plaintext of connections userspace muted: counted, not copied */
  TT_STAT_HOLDS = 9,       /* processes stopped until instrumented (exec, dlopen, connect) */
  TT_STAT_SOCK_UNWATCHED_BYTES = 10, /* whole host: socket bytes of sockets not followed */
  TT_STAT_MAX = 16,
};

#endif
