#!/usr/bin/env bash
# Runs the host-overhead benches (issue #8) one after another and prints their summary lines
# together at the end (details stay in each bench's output above).
#   bench/run_all.sh [BUILD_DIR] [--quick] [--perf]      (root, from the repo root)
#   --quick   skips the slow ones: concurrent_rss.sh and exec_burst.sh (~12 min -> ~6)
#   --perf    each bench adds a traced run under `perf record -a -g` and prints the top symbols
# env: ROUNDS (5) and each bench's own knobs (bench/README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=./build quick=0 opts=()
for a in "$@"; do
  case $a in
    --quick) quick=1 ;;
    --perf) opts+=(--perf) ;;
    -*) echo "run_all: unknown option $a" >&2; exit 2 ;;
    *) build=$a ;;
  esac
done
benches=(tls_bulk streaming instant_stress startup)
((quick)) || benches+=(concurrent_rss exec_burst)
log=$(mktemp /tmp/tokentap-run-all.XXXXXX)
trap 'rm -f "$log"' EXIT
status=0
for b in "${benches[@]}"; do
  echo "== bench/$b.sh $build ${opts[*]}"
  "$here/$b.sh" "$build" "${opts[@]}" 2>&1 | tee -a "$log" || status=1
done
echo
echo "== summary ($(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
grep -E '^name ' "$log" | head -1
grep -vE '^(#|name |floor:|==)' "$log" | grep -E ' (PASS|MISS|-)$' || true
grep -E '^# PROBLEM' "$log" || true
exit $status
