#include "capture/events.h"

#include <cstring>

namespace tt::capture {

std::string make_info_record(uint32_t kind, uint32_t pid, uint64_t ts_ns, std::string_view json) {
  tt_event_header h{};
  h.kind = kind;
  h.pid = pid;
  h.ts_ns = ts_ns;
  std::string out(reinterpret_cast<const char*>(&h), sizeof(h));
  out.append(json);
  return out;
}

const char* tls_library_name(uint8_t lib) {
  switch (lib) {
    case TT_LIB_OPENSSL: return "openssl";
    case TT_LIB_BORINGSSL: return "boringssl";
    case TT_LIB_GO_TLS: return "go";
    case TT_LIB_AWSLC: return "aws-lc";
    default: return "";
  }
}

static std::string cstr(const char* p, size_t max) { return std::string(p, strnlen(p, max)); }

ParsedEvent parse_event(const void* raw, size_t size) {
  ParsedEvent ev;
  if (size < sizeof(tt_event_header)) return ev;
  tt_event_header h;
  memcpy(&h, raw, sizeof(h));
  const auto* bytes = static_cast<const uint8_t*>(raw);
  switch (h.kind) {
    case TT_EV_DATA: {
      if (size < TT_DATA_EVENT_HDR_SIZE) return ev;
      tt_data_event_small d;  // header part only; payload referenced in place
      memcpy(&d, raw, TT_DATA_EVENT_HDR_SIZE);
      if (d.len > TT_CHUNK_MAX || TT_DATA_EVENT_HDR_SIZE + size_t{d.len} > size) return ev;
      ev.data = DataEvent{h.pid, h.tid, h.flags, h.ts_ns, d.conn, d.call_len, d.offset,
                          d.lost_before, d.dir, d.lib, d.hook,
                          std::string_view(reinterpret_cast<const char*>(bytes) + TT_DATA_EVENT_HDR_SIZE, d.len)};
      if (ev.data.dir > TT_DIR_READ) return ev;
      ev.status = ParseStatus::Data;
      return ev;
    }
    case TT_EV_SOCK: {
      if (size < TT_SOCK_EVENT_BASE) return ev;
      tt_sock_event se;
      memcpy(&se, raw, TT_SOCK_EVENT_BASE);
      if (se.head_len > TT_SOCK_HEAD || TT_SOCK_EVENT_BASE + size_t{se.head_len} > size || se.dir > TT_DIR_READ)
        return ev;
      ev.sock.pid = h.pid;
      ev.sock.ts_ns = h.ts_ns;
      ev.sock.sock = se.sock;
      ev.sock.bytes = se.bytes;
      ev.sock.dir = se.dir;
      ev.sock.family = se.family;
      ev.sock.dport = se.dport;
      memcpy(ev.sock.daddr, se.daddr, sizeof(se.daddr));
      ev.sock.head = std::string_view(reinterpret_cast<const char*>(bytes) + TT_SOCK_EVENT_BASE, se.head_len);
      ev.status = ParseStatus::Sock;
      return ev;
    }
    case TT_EV_ALIAS: {
      if (size < sizeof(tt_alias_event)) return ev;
      tt_alias_event a;
      memcpy(&a, raw, sizeof(a));
      if (a.dir > TT_DIR_READ) return ev;
      ev.alias = AliasEvent{h.pid, h.ts_ns, a.conn, a.sock, a.dir};
      ev.status = ParseStatus::Alias;
      return ev;
    }
    case TT_EV_CLOSE: {
      if (size < sizeof(tt_close_event)) return ev;
      tt_close_event c;
      memcpy(&c, raw, sizeof(c));
      ev.close = CloseEvent{h.pid, h.ts_ns, c.conn};
      ev.status = ParseStatus::Close;
      return ev;
    }
    case TT_EV_FORK:
    case TT_EV_EXEC:
    case TT_EV_EXIT:
    case TT_EV_DLOPEN:
    case TT_EV_HOLD:
    case TT_EV_SEEN: {
      if (size < sizeof(tt_proc_event)) return ev;
      tt_proc_event p;
      memcpy(&p, raw, sizeof(p));
      ev.proc.kind = h.kind;
      ev.proc.pid = h.pid;
      ev.proc.ppid = p.ppid;
      ev.proc.exit_code = p.exit_code;
      ev.proc.ts_ns = h.ts_ns;
      ev.proc.comm = cstr(p.comm, sizeof(p.comm));
      ev.proc.filename = cstr(p.filename, sizeof(p.filename));
      ev.status = ParseStatus::Proc;
      return ev;
    }
    case TT_EV_PROC_INFO:
    case TT_EV_RUN_INFO:
    case TT_EV_STATS:
    case TT_EV_CONFIG:
    case TT_EV_HEALTH:
    case TT_EV_TLS_HOOK:
      ev.info = InfoEvent{h.kind, h.pid, h.ts_ns,
                          std::string(reinterpret_cast<const char*>(bytes) + sizeof(h), size - sizeof(h))};
      ev.status = ParseStatus::Info;
      return ev;
    default:
      return ev;
  }
}

}  // namespace tt::capture
