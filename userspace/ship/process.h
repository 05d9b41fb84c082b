// The shipper's process. Forked by the daemon's privileged side before BPF is
// loaded; it keeps only the spool directory and stdio, becomes the spool's
// user (`nobody`) with no capabilities and no_new_privs, and ships until
// SIGTERM (docs/security.md, "The shipper"). It has no seccomp filter: gRPC's
// threads and resolver need more calls than a short list would allow; it
// holds nothing but the spool, which is that user's anyway.
#pragma once
#include <sys/types.h>

#include "common/result.h"
#include "isolate/sandbox.h"
#include "ship/shipper.h"

namespace tt::ship {

class ShipperProcess {
 public:
  ~ShipperProcess();
  Result<void> start(const ShipperOptions& opts, int spool_dir_fd, isolate::Identity who);
  // SIGTERM; it ships what is left for up to a few seconds. Its exit code, or
  // -1 if it had to be killed.
  int stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// What the daemon reads for it, as root, before the fork: the CA, the token
// (the first non-empty line of token_file) and an optional client certificate.
Result<ShipperOptions> shipper_options(const std::string& target, const std::string& ca_file,
                                       const std::string& token_file, const std::string& cert_file,
                                       const std::string& key_file);

}  // namespace tt::ship
