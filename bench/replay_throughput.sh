#!/usr/bin/env bash
# Pipeline throughput on large request bodies: `tokentap replay` of a synthetic
# capture (bench/replay/gen_capture.py), in MB of capture per CPU second.
#
# usage: bench/replay_throughput.sh [BUILD_DIR] (default ./build)
# env:   REQUESTS (1000), BODY_KB (100), RUNS (5), SEED (1), KEEP=1 keeps the files
#
# Checks that the replayed token totals, request count and body bytes equal what
# the generator put in: prints OK or MISMATCH and exits 1 on a mismatch, so a fast
# but wrong pipeline does not pass.
set -euo pipefail
source "$(dirname "$0")/replay/capture.sh"
replay_capture replay_throughput "${1:-}"

# Correctness first, on a run whose records are kept.
replay_check || exit 1

cat "$cap" >/dev/null  # page cache warm: the file is read from memory in every run
rates=()
TIMEFORMAT='%R %U %S'  # bash's time: wall, user, sys (ms resolution)
for ((i = 1; i <= runs; i++)); do
  t=$({ time "$bin" replay -q "$cap" >/dev/null; } 2>&1 | tail -1)
  read -r real user sys <<<"$t"
  cpu=$(bc -l <<<"$user + $sys")
  rate=$(bc -l <<<"$bytes / 1000000 / $cpu")
  rates+=("$rate")
  printf 'run %d: wall %.3f s, cpu %.3f s (user %.3f, sys %.3f): %.0f MB/s per core\n' \
    "$i" "$real" "$cpu" "$user" "$sys" "$rate"
done
sorted=($(printf '%s\n' "${rates[@]}" | sort -g))
printf 'median: %.0f MB/s per core, best: %.0f\n' "${sorted[$((runs / 2))]}" "${sorted[$((runs - 1))]}"
