#!/usr/bin/env bash
# Non-LLM TLS bulk transfer over loopback to a named host (bulk.test): 1 GiB through libssl
# (curl) and through Node, one GET and 64 keep-alive GETs of 16 MiB. Target: wall ratio <= 1.03.
# Alternating rounds (untraced / tokentap daemon / bpftrace floor), medians: see bench/README.md.
# usage (root, from the repo root): bench/tls_bulk.sh [BUILD_DIR] (default ./build) [--rounds N] [--perf]
set -euo pipefail
source "$(dirname "$0")/hostbench.sh"
hostbench tls_bulk "$@"
