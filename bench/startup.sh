#!/usr/bin/env bash
# tokentap profile -q -- true (target <= 0.15 s total), and a short Claude Code run
# (claude -p "say hi" against the test server, discovery cache warm): under profile (target <= 0.2 s
# added) and under the daemon (reported).
# Alternating rounds (untraced / tokentap daemon / bpftrace floor), medians: see bench/README.md.
# usage (root, from the repo root): bench/startup.sh [BUILD_DIR] (default ./build) [--rounds N] [--perf]
set -euo pipefail
source "$(dirname "$0")/hostbench.sh"
hostbench startup "$@"
