#!/usr/bin/env bash
# 100 concurrent streams (100 Python clients, keep-alive, paced SSE, 400 KB bodies): the
# daemon's VmRSS sampled every 0.25 s; steady = the middle half of the run. Target: < 64 MB.
# Alternating rounds (untraced / tokentap daemon / bpftrace floor), medians: see bench/README.md.
# usage (root, from the repo root): bench/concurrent_rss.sh [BUILD_DIR] (default ./build) [--rounds N] [--perf]
set -euo pipefail
source "$(dirname "$0")/hostbench.sh"
hostbench concurrent_rss "$@"
