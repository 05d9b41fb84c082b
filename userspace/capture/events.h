// C++ view of the records that come out of the BPF ring buffer (bpf/tlstap.h),
// plus the userspace-only records a capture file adds so replay has the same
// facts the live run had. One raw record = one event; parse_event() checks sizes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tlstap.h"

namespace tt::capture {

static_assert(sizeof(tt_event_header) == 24);
static_assert(offsetof(tt_data_event, data) == TT_DATA_EVENT_HDR_SIZE);
static_assert(offsetof(tt_data_event_small, data) == TT_DATA_EVENT_HDR_SIZE);
static_assert(offsetof(tt_data_event, lost_before) == offsetof(tt_data_event_small, lost_before));
static_assert(offsetof(tt_data_event, dir) == 56);
static_assert(sizeof(tt_close_event) == 32);
static_assert(sizeof(tt_proc_event) == 24 + 16 + TT_COMM_LEN + TT_PATH_LEN);
static_assert(offsetof(tt_sock_event, head) == TT_SOCK_EVENT_BASE);
static_assert(offsetof(tt_sock_event, daddr) == 48);
static_assert(offsetof(tt_data_event, lib) == 57);
static_assert(sizeof(tt_alias_event) == 48);

// Userspace-only record kinds (never produced by BPF).
enum : uint32_t {
  TT_EV_PROC_INFO = 100,  // what /proc said about a process: exe, cmdline
  TT_EV_RUN_INFO = 101,   // run id, command, clock offset
  TT_EV_STATS = 102,      // BPF loss counters at the end of the run
  TT_EV_CONFIG = 103,     // daemon reload: api_hosts (the whole set), summary_interval_ns, session_idle_ns
  TT_EV_HEALTH = 104,     // the same meanwhile, and the daemon's CPU and memory (--metrics-listen)
  TT_EV_TLS_HOOK = 105,   // a binary examined for TLS: what discovery found, hooked or why not
};

// tokentap's name for a data record's enum tt_tls_lib ("" for none or unknown).
const char* tls_library_name(uint8_t lib);

struct DataEvent {
  uint32_t pid = 0, tid = 0, flags = 0;
  uint64_t ts_ns = 0;
  uint64_t conn = 0;
  uint32_t call_len = 0, offset = 0, lost_before = 0;
  uint8_t dir = 0;
  uint8_t lib = 0;  // enum tt_tls_lib
  uint16_t hook = 0;  // the hooked library it came through (TT_EV_TLS_HOOK's "hook"); 0: unknown
  std::string_view data;
};

// An AEAD context (TT_LIB_AWSLC data's conn) carries the records of a TCP
// socket; sock 0: the context has a new key and is no longer paired.
struct AliasEvent {
  uint32_t pid = 0;
  uint64_t ts_ns = 0;
  uint64_t conn = 0;
  uint64_t sock = 0;
  uint8_t dir = 0;
};

// Bytes a syscall moved over a TCP socket (the fallback for TLS stacks with
// no plaintext hook). `head` is set on a socket's first write only.
struct SockEvent {
  uint32_t pid = 0;
  uint64_t ts_ns = 0;
  uint64_t sock = 0;
  uint64_t bytes = 0;
  uint8_t dir = 0;
  uint8_t family = 0;
  uint16_t dport = 0;
  uint8_t daddr[16] = {};
  std::string_view head;
};

struct CloseEvent {
  uint32_t pid = 0;
  uint64_t ts_ns = 0;
  uint64_t conn = 0;
};

struct ProcEvent {
  uint32_t kind = 0;  // TT_EV_FORK / EXEC / EXIT
  uint32_t pid = 0, ppid = 0;
  int32_t exit_code = 0;
  uint64_t ts_ns = 0;
  std::string comm;
  std::string filename;
};

// Text records (PROC_INFO, RUN_INFO, STATS): header + JSON payload, so the
// format can grow without breaking old captures.
struct InfoEvent {
  uint32_t kind = 0;
  uint32_t pid = 0;
  uint64_t ts_ns = 0;
  std::string json;
};

// Serialises an info record into the raw form (header + JSON bytes).
std::string make_info_record(uint32_t kind, uint32_t pid, uint64_t ts_ns, std::string_view json);

enum class ParseStatus { Data, Close, Proc, Info, Sock, Alias, Malformed };

struct ParsedEvent {
  ParseStatus status = ParseStatus::Malformed;
  DataEvent data;
  CloseEvent close;
  ProcEvent proc;
  InfoEvent info;
  SockEvent sock;
  AliasEvent alias;
};

// Validates and decodes one raw record. Never reads past size.
ParsedEvent parse_event(const void* raw, size_t size);

}  // namespace tt::capture
