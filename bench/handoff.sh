#!/usr/bin/env bash
# The cost of the daemon's privilege split: records handed to a confined parser
# process through a pipe (frames, a fork, the sandbox) against the same records
# parsed in process. Both read the synthetic capture of replay_throughput.sh;
# `tokentap replay --isolate` runs the parser exactly as the daemon does.
#
# usage: bench/handoff.sh [BUILD_DIR] (default ./build)
# env:   REQUESTS (1000), BODY_KB (100), RUNS (7), SEED (1), KEEP=1 keeps the files
#
# CPU is user + sys of tokentap and its reaped children (bash's time), so the
# parser process's time is counted. Prints MB/s per core for each mode and the
# added CPU per request; checks both modes give the generator's totals.
set -euo pipefail
source "$(dirname "$0")/replay/capture.sh"
replay_capture handoff "${1:-}" 7
echo "as $(id -un)$([[ $(id -u) == 0 ]] && echo ": the parser drops to nobody" || true)"
for mode in "" --isolate; do  # the same records either way
  replay_check $mode >/dev/null || { echo "handoff: replay $mode gave other totals" >&2; exit 1; }
done

cat "$cap" >/dev/null
TIMEFORMAT='%R %U %S'
declare -A cpus
for ((i = 1; i <= runs; i++)); do
  for mode in inproc isolate; do  # alternating, so neither always runs first
    flag=$([[ $mode == isolate ]] && echo --isolate || true)
    t=$({ time "$bin" replay -q $flag "$cap" >/dev/null; } 2>&1 | tail -1)
    read -r real user sys <<<"$t"
    cpus[$mode]+="$(bc -l <<<"$user + $sys") "
  done
done
median() { printf '%s\n' $1 | sort -g | sed -n "$(((runs + 1) / 2))p"; }
for mode in inproc isolate; do
  m=$(median "${cpus[$mode]}")
  printf '%-8s cpu median %.3f s (runs: %s): %.0f MB/s per core\n' "$mode" "$m" "${cpus[$mode]% }" \
    "$(bc -l <<<"$bytes / 1000000 / $m")"
done
a=$(median "${cpus[inproc]}") b=$(median "${cpus[isolate]}")
printf 'hand-off: %+.1f%% CPU, %+.1f us per request, %+.2f ms per 100 MB\n' \
  "$(bc -l <<<"($b - $a) * 100 / $a")" "$(bc -l <<<"($b - $a) * 1000000 / $requests")" \
  "$(bc -l <<<"($b - $a) * 1000 * 100000000 / $bytes")"
