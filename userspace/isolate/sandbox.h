// The parser process's confinement, entered once after fork and before the
// first record is read (docs/security.md, "Privilege split"):
//   - every file descriptor closed but the record pipe, the back-channel, the
//     output files and stdio; the BPF objects' shared mappings unmapped;
//   - as root: the `nobody` user and group, no supplementary groups, an
//     empty capability bounding set;
//   - no_new_privs, no capabilities (checked), and a seccomp filter that
//     allows reading the record pipe, writing the given fds, memory, clocks
//     and exit, and kills the process on any other system call.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.h"

namespace tt::isolate {

struct SandboxSpec {
  int read_fd = -1;            // the record pipe
  std::vector<int> write_fds;  // the back-channel, the output files, stderr
  std::vector<int> listen_fds; // listening sockets to serve (metrics, top)
  int spool_dir_fd = -1;       // the spool's directory: made the root, files created and deleted there only
  int files_from_fd = -1;      // a socket the parent hands new output files on (rotation)
  std::vector<int> replaceable_fds;  // outputs a received file may replace (dup3 onto them)
};

// The unprivileged user: `nobody` from the user database, else 65534.
struct Identity {
  uid_t uid;
  gid_t gid;
};
Identity unprivileged_identity();

// Closes every fd but stdio and the spec's; unmaps what the BPF objects had
// mapped; drops to `ident` if root; no_new_privs; no capabilities; seccomp.
// The seccomp filter is last: after it, none of the calls before would work.
Result<void> enter_sandbox(const SandboxSpec& spec, Identity ident);

// Each step alone (tests check them one by one; enter_sandbox runs them all).
Result<void> close_fds_except(std::vector<int> keep);
Result<void> unmap_bpf_objects();
Result<void> drop_user(Identity ident);
Result<void> drop_capabilities();
Result<void> load_seccomp_filter(const SandboxSpec& spec);

}  // namespace tt::isolate
