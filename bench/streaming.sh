#!/usr/bin/env bash
# Paced streaming LLM workload: 40 requests of 400 KB bodies, 4 concurrent clients (2 Python,
# 2 Node), SSE with 20 ms between events (~0.8 s a request). Target: wall ratio <= 1.01; the daemon's CPU per request
# (utime+stime from /proc/PID/stat over the run / requests) is reported.
# Alternating rounds (untraced / tokentap daemon / bpftrace floor), medians: see bench/README.md.
# usage (root, from the repo root): bench/streaming.sh [BUILD_DIR] (default ./build) [--rounds N] [--perf]
set -euo pipefail
source "$(dirname "$0")/hostbench.sh"
hostbench streaming "$@"
