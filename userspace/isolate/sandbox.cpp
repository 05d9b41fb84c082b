#include "isolate/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

namespace tt::isolate {

namespace {

Error sys_error(const std::string& what) { return make_error(what + ": " + strerror(errno)); }

struct CapData {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
};

bool capget_all(CapData& c) { return syscall(SYS_capget, &c.hdr, c.data) == 0; }

}  // namespace

Identity unprivileged_identity() {
  if (const passwd* pw = getpwnam("nobody")) return {pw->pw_uid, pw->pw_gid};
  return {65534, 65534};
}

Result<void> close_fds_except(std::vector<int> keep) {
  keep.insert(keep.end(), {0, 1, 2});
  std::sort(keep.begin(), keep.end());
  unsigned lo = 0;
  for (int fd : keep) {
    if (fd < 0) continue;
    if (static_cast<unsigned>(fd) > lo && close_range(lo, fd - 1, 0) != 0) return sys_error("close_range");
    lo = std::max(lo, static_cast<unsigned>(fd) + 1);
  }
  if (close_range(lo, ~0u, 0) != 0) return sys_error("close_range");
  return {};
}

// The skeleton's global data (.bss, .data: shared and writable) and the ring
// buffer's pages stay mapped after their fds are closed: writing them would
// change what BPF does or where the parent reads. /proc/self/maps names them.
Result<void> unmap_bpf_objects() {
  std::ifstream maps("/proc/self/maps");
  if (!maps) return make_error("cannot read /proc/self/maps");
  std::vector<std::pair<uintptr_t, uintptr_t>> bpf;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("anon_inode:bpf") == std::string::npos) continue;
    uintptr_t lo = 0, hi = 0;
    if (sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2) bpf.emplace_back(lo, hi);
  }
  for (auto [lo, hi] : bpf)
    if (munmap(reinterpret_cast<void*>(lo), hi - lo) != 0) return sys_error("munmap");
  return {};
}

Result<void> drop_user(Identity id) {
  if (geteuid() != 0) return {};  // nothing to give up (replay run by a user)
  // The bounding set first: dropping it needs CAP_SETPCAP, gone after setuid.
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap) >= 0; ++cap)
    if (prctl(PR_CAPBSET_DROP, cap) != 0) return sys_error("PR_CAPBSET_DROP");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return sys_error("PR_CAP_AMBIENT");
  if (setgroups(0, nullptr) != 0) return sys_error("setgroups");
  if (setresgid(id.gid, id.gid, id.gid) != 0) return sys_error("setresgid");
  if (setresuid(id.uid, id.uid, id.uid) != 0) return sys_error("setresuid");
  if (setuid(0) == 0 || geteuid() != id.uid) return make_error("still able to become root after setresuid");
  return {};
}

Result<void> drop_capabilities() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sys_error("PR_SET_NO_NEW_PRIVS");
  CapData none;
  if (syscall(SYS_capset, &none.hdr, none.data) != 0) return sys_error("capset");
  CapData now;
  if (!capget_all(now)) return sys_error("capget");
  for (const auto& d : now.data)
    if (d.effective || d.permitted || d.inheritable) return make_error("capabilities left after dropping them");
  return {};
}

namespace {

using Filter = std::unique_ptr<void, void (*)(scmp_filter_ctx)>;

int allow(scmp_filter_ctx f, int nr) { return seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0); }

template <class... Args>
int allow_if(scmp_filter_ctx f, int nr, Args... cmp) {
  return seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, sizeof...(cmp), cmp...);
}

// Serving GET /metrics (metrics/server.cpp) and `tokentap top` (top/server.cpp):
// accepting on their listening sockets, non-blocking; then recv and send, in
// the shapes both servers use.
// Their fd is not checked (accepted fds take any free number): on a pipe or
// file they fail (ENOTSOCK); the only other socket the process may hold is
// stderr under systemd, which it may write already.
int add_server_rules(scmp_filter_ctx f, const std::vector<int>& listen_fds) {
  constexpr scmp_datum_t kAcceptFlags = SOCK_NONBLOCK | SOCK_CLOEXEC;
  int rc = 0;
  for (int fd : listen_fds)
    if (!rc)
      rc = allow_if(f, SCMP_SYS(accept4), SCMP_A0(SCMP_CMP_EQ, scmp_datum_t(fd)), SCMP_A1(SCMP_CMP_EQ, 0),
                    SCMP_A3(SCMP_CMP_EQ, kAcceptFlags));
  if (!rc) rc = allow_if(f, SCMP_SYS(recvfrom), SCMP_A3(SCMP_CMP_EQ, MSG_DONTWAIT), SCMP_A4(SCMP_CMP_EQ, 0));
  if (!rc)
    rc = allow_if(f, SCMP_SYS(sendto), SCMP_A3(SCMP_CMP_EQ, MSG_DONTWAIT | MSG_NOSIGNAL), SCMP_A4(SCMP_CMP_EQ, 0));
  return rc;
}

// The spool (sink/spool.cpp): new segments created in its directory (never an
// existing file opened), written at an offset, synced, the oldest deleted.
// The directory is the process's root (enter_sandbox), so "../" in a name
// cannot reach anything else; pwrite64 and fsync act on fds it holds only.
int add_spool_rules(scmp_filter_ctx f, int dir_fd) {
  constexpr scmp_datum_t kCreate = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int rc = allow_if(f, SCMP_SYS(openat), SCMP_A0(SCMP_CMP_EQ, scmp_datum_t(dir_fd)), SCMP_A2(SCMP_CMP_EQ, kCreate));
  if (!rc) rc = allow_if(f, SCMP_SYS(unlinkat), SCMP_A0(SCMP_CMP_EQ, scmp_datum_t(dir_fd)), SCMP_A2(SCMP_CMP_EQ, 0));
  for (int nr : {SCMP_SYS(pwrite64), SCMP_SYS(fsync), SCMP_SYS(fdatasync)})
    if (!rc) rc = allow(f, nr);
  return rc;
}

// Rotation (sink/rotate.h): a file the parent opened arrives on the
// back-channel and takes an output's fd number, so the write rules keep
// holding by number. No path is ever opened.
int add_file_passing_rules(scmp_filter_ctx f, int from_fd, const std::vector<int>& onto) {
  constexpr scmp_datum_t kRecv = MSG_CMSG_CLOEXEC | MSG_DONTWAIT;
  int rc = allow_if(f, SCMP_SYS(recvmsg), SCMP_A0(SCMP_CMP_EQ, scmp_datum_t(from_fd)), SCMP_A2(SCMP_CMP_EQ, kRecv));
  for (int fd : onto)
    if (!rc) rc = allow_if(f, SCMP_SYS(dup3), SCMP_A1(SCMP_CMP_EQ, scmp_datum_t(fd)), SCMP_A2(SCMP_CMP_EQ, O_CLOEXEC));
  return rc;
}

// Each allowed call and why (docs/security.md lists them too).
int add_rules(scmp_filter_ctx f, const SandboxSpec& spec) {
  int rc = 0;
  auto add = [&rc](int r) { rc = rc ? rc : r; };
  add(allow_if(f, SCMP_SYS(read), SCMP_A0(SCMP_CMP_EQ, scmp_datum_t(spec.read_fd))));  // records
  for (int fd : spec.write_fds) add(allow_if(f, SCMP_SYS(write), SCMP_A0(SCMP_CMP_EQ, scmp_datum_t(fd))));  // out, requests
  for (int nr : {SCMP_SYS(poll), SCMP_SYS(ppoll)}) add(allow(f, nr));  // wait for records, up to the next tick
  // stdio asks the size of a file once, before its first write; by fd only.
  add(allow(f, SCMP_SYS(fstat)));
  add(allow_if(f, SCMP_SYS(newfstatat), SCMP_A3(SCMP_CMP_EQ, AT_EMPTY_PATH)));
  // ... and, for a character device (a terminal, /dev/null), whether it is a terminal.
  add(allow_if(f, SCMP_SYS(ioctl), SCMP_A1(SCMP_CMP_EQ, scmp_datum_t(TCGETS))));
  add(allow(f, SCMP_SYS(close)));  // closing the output files at the end
  // Memory (malloc, large bodies), never executable.
  for (int nr : {SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise)}) add(allow(f, nr));
  for (int nr : {SCMP_SYS(mmap), SCMP_SYS(mprotect)})
    add(allow_if(f, nr, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)));
  add(allow(f, SCMP_SYS(futex)));  // stdio and allocator locks
  for (int nr : {SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday)}) add(allow(f, nr));  // vDSO fallback
  // Ending: normally, or abort() raising SIGABRT at itself (a failed assert).
  for (int nr : {SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
                 SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(restart_syscall)})
    add(allow(f, nr));
  add(allow_if(f, SCMP_SYS(tgkill), SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(getpid()))));
  // The sanitizer runtimes (the CI's ASan/UBSan build) switch the alternate
  // signal stack; it only concerns the calling thread's own signals.
  add(allow(f, SCMP_SYS(sigaltstack)));
  if (!spec.listen_fds.empty()) add(add_server_rules(f, spec.listen_fds));
  if (spec.spool_dir_fd >= 0) add(add_spool_rules(f, spec.spool_dir_fd));
  if (spec.files_from_fd >= 0) add(add_file_passing_rules(f, spec.files_from_fd, spec.replaceable_fds));
  return rc;
}

}  // namespace

// Any other call kills the process (not EPERM): a parser that tries one is
// not doing its job any more, and the parent stops when it dies.
Result<void> load_seccomp_filter(const SandboxSpec& spec) {
  Filter f(seccomp_init(SCMP_ACT_KILL_PROCESS), seccomp_release);
  if (!f) return make_error("seccomp_init failed");
  seccomp_attr_set(f.get(), SCMP_FLTATR_CTL_LOG, 1);  // the kernel log names a killing call
  if (int rc = add_rules(f.get(), spec); rc != 0) return make_error("seccomp rule: " + std::string(strerror(-rc)));
  if (int rc = seccomp_load(f.get()); rc != 0) return make_error("seccomp_load: " + std::string(strerror(-rc)));
  return {};
}

// The spool's directory becomes the root (while root may still chroot): names
// the parser resolves there can reach nothing outside it.
Result<void> root_in(int dir_fd) {
  if (dir_fd < 0) return {};
  if (fchdir(dir_fd) != 0 || chroot(".") != 0) return sys_error("chroot to the spool");
  return {};
}

Result<void> enter_sandbox(const SandboxSpec& spec, Identity ident) {
  std::vector<int> keep = spec.write_fds;
  keep.push_back(spec.read_fd);
  keep.insert(keep.end(), spec.listen_fds.begin(), spec.listen_fds.end());
  keep.push_back(spec.spool_dir_fd);
  Result<void> r = close_fds_except(keep);
  if (r) r = unmap_bpf_objects();
  if (r && geteuid() == 0) r = root_in(spec.spool_dir_fd);
  if (r) r = drop_user(ident);
  if (r) r = drop_capabilities();
  if (r) r = load_seccomp_filter(spec);
  return r;
}

}  // namespace tt::isolate
