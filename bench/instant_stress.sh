#!/usr/bin/env bash
# Instant server (no pacing): 1,000 streamed requests of 100 KB (a Python and a Node client,
# 500 each). Targets: wall ratio <= 1.03; added CPU (client+server+daemon, traced minus untraced)
# <= 0.1 ms per request.
# Alternating rounds (untraced / tokentap daemon / bpftrace floor), medians: see bench/README.md.
# usage (root, from the repo root): bench/instant_stress.sh [BUILD_DIR] (default ./build) [--rounds N] [--perf]
set -euo pipefail
source "$(dirname "$0")/hostbench.sh"
hostbench instant_stress "$@"
