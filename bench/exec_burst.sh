#!/usr/bin/env bash
# A make -j8 burst: 2,000 targets of /bin/true, 2,000 of sh -c :, 300 of curl to a local
# HTTPS server; with and without the daemon (ratio reported: it must not stall noticeably).
# Alternating rounds (untraced / tokentap daemon / bpftrace floor), medians: see bench/README.md.
# usage (root, from the repo root): bench/exec_burst.sh [BUILD_DIR] (default ./build) [--rounds N] [--perf]
set -euo pipefail
source "$(dirname "$0")/hostbench.sh"
hostbench exec_burst "$@"
