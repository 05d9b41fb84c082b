#!/usr/bin/env bash
# What tokentap costs the rest of the host (issue #8): a syscall-heavy process
# that is NOT traced (dd copying one byte per read and write: 6 M syscalls),
# timed alone and beside `tokentap profile -- sleep 30` (default options, so
# the socket fallback is on), alternating, ROUNDS times; prints the medians and
# their ratio, which must stay <= 1.02 (a per-syscall BPF program made it ~1.9).
# The ratio is of dd's CPU time (user + system): what a slower syscall path
# costs it, and steady on a machine whose other work makes wall time jump; the
# wall-time ratio is printed beside it.
#
# Then what it costs a traced process's own socket I/O: a loopback TCP
# ping-pong of 64-byte messages between two processes (bench/socket_pingpong.c),
# under profile and not, in CPU time per round trip (4 socket calls). Both are
# pinned to CPU 0 and tokentap to CPU 1: where the kernel puts the two
# processes changes a round trip by 3x, far more than what is measured.
#
# usage (root, from the repo root): bench/syscall_heavy.sh [BUILD_DIR] (default ./build)
# env:   ROUNDS (7), DD_COUNT (3000000), PINGS (50000), PING_ROUNDS (5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-./build}
bin=$build/tokentap
[[ -x $bin ]] || { echo "syscall_heavy: no tokentap at $bin (build first, or pass the build dir)" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "syscall_heavy: run as root (tokentap loads BPF)" >&2; exit 2; }
rounds=${ROUNDS:-7} count=${DD_COUNT:-3000000} pings=${PINGS:-50000} ping_rounds=${PING_ROUNDS:-5}

work=$(mktemp -d /tmp/tokentap-bench.XXXXXX)
cc -O2 -o "$work/pingpong" "$here/socket_pingpong.c"
tt_pid="" sleep_pid=""
cleanup() {
  [[ -n $sleep_pid ]] && kill "$sleep_pid" 2>/dev/null || true
  [[ -n $tt_pid ]] && wait "$tt_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# "CPU_MS WALL_MS" of one dd.
dd_ms() {
  local TIMEFORMAT='%3U %3S %3R' t
  t=$( { time dd if=/dev/zero of=/dev/null bs=1 count="$count" 2>/dev/null; } 2>&1)
  awk '{printf "%d %d\n", ($1 + $2) * 1000, $3 * 1000}' <<<"$t"
}

# Starts `tokentap profile -- sleep 30` and returns once the sleep runs: the
# traced command only starts after every BPF program is attached.
start_profile() {
  local ready=$work/ready
  rm -f "$ready"
  "$bin" profile -q -- /bin/sh -c 'echo $$ > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 30' sh "$ready" &
  tt_pid=$!
  for _ in $(seq 1 200); do
    [[ -s $ready ]] && break
    sleep 0.05
  done
  [[ -s $ready ]] || { echo "syscall_heavy: tokentap profile did not start" >&2; exit 1; }
  sleep_pid=$(cat "$ready")
}

stop_profile() {
  kill "$sleep_pid" 2>/dev/null || true
  wait "$tt_pid" 2>/dev/null || true
  tt_pid="" sleep_pid=""
}

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

alone=() beside=() alone_wall=() beside_wall=()
for r in $(seq 1 "$rounds"); do
  read -r a aw < <(dd_ms)
  start_profile
  read -r b bw < <(dd_ms)
  stop_profile
  alone+=("$a") beside+=("$b") alone_wall+=("$aw") beside_wall+=("$bw")
  printf 'round %d: dd alone %d ms CPU (%d ms wall), beside tokentap profile %d ms CPU (%d ms wall)\n' \
    "$r" "$a" "$aw" "$b" "$bw"
done
ma=$(printf '%s\n' "${alone[@]}" | median) mb=$(printf '%s\n' "${beside[@]}" | median)
maw=$(printf '%s\n' "${alone_wall[@]}" | median) mbw=$(printf '%s\n' "${beside_wall[@]}" | median)
printf 'dd bs=1 count=%d (%d syscalls), median of %d: alone %s ms CPU (%s wall), beside tokentap profile %s ms CPU (%s wall)\n' \
  "$count" $((2 * count)) "$rounds" "$ma" "$maw" "$mb" "$mbw"
printf 'wall ratio %.3f\n' "$(bc -l <<<"$mbw / $maw")"
printf 'ratio %.3f\n' "$(bc -l <<<"$mb / $ma")"

# A traced process's own socket I/O: 4 socket calls per round trip, all traced.
plain=() traced=()
for r in $(seq 1 "$ping_rounds"); do
  read -r p pw < <(taskset -c 0 "$work/pingpong" "$pings")
  read -r t tw < <(taskset -c 1 "$bin" profile -q -- taskset -c 0 "$work/pingpong" "$pings")
  plain+=("$p") traced+=("$t")
  printf 'round %d: ping-pong %d ns CPU a round trip (%d wall), under tokentap profile %d ns (%d wall)\n' \
    "$r" "$p" "$pw" "$t" "$tw"
done
mp=$(printf '%s\n' "${plain[@]}" | median) mt=$(printf '%s\n' "${traced[@]}" | median)
printf 'loopback TCP ping-pong (64 B, %d round trips), median of %d: %s ns CPU a round trip alone, %s traced (+%s ns, ratio %.3f)\n' \
  "$pings" "$ping_rounds" "$mp" "$mt" "$(bc <<<"$mt - $mp")" "$(bc -l <<<"$mt / $mp")"
