#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz/) for SECONDS_PER_TARGET (default 20) from
# seeds made out of the test data, two at a time; any crash, leak, timeout or
# sanitizer report fails. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [libFuzzer args...]
#   TOKENTAP_FUZZ_TARGETS="sse websocket"  only these targets
# Found inputs go to build-san/fuzz-corpus/<target> (kept between runs), crash
# files to build-san/fuzz-crashes/<target>/, logs to build-san/fuzz-logs/.
# Reproduce one: build-san/fuzz/fuzz_<target> FILE
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
shift || true
scripts/sanitize.sh --build-only
b=build-san
rm -rf "$b/fuzz-seeds"
python3 fuzz/make_seeds.py "$b/fuzz-seeds" "$b"
targets=${TOKENTAP_FUZZ_TARGETS:-$(cd "$b/fuzz" && ls fuzz_* | sed 's/^fuzz_//')}
mkdir -p "$b/fuzz-logs"
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

run_one() {  # target seconds args...
  local t=$1 s=$2
  shift 2
  mkdir -p "$b/fuzz-corpus/$t" "$b/fuzz-crashes/$t" "$b/fuzz-seeds/$t"
  # New inputs land in the first dir (the corpus); the seeds are read only.
  if "$b/fuzz/fuzz_$t" "$b/fuzz-corpus/$t" "$b/fuzz-seeds/$t" -max_total_time="$s" -rss_limit_mb=2560 \
      -timeout=20 -max_len=65536 -print_final_stats=1 -artifact_prefix="$b/fuzz-crashes/$t/" "$@" \
      >"$b/fuzz-logs/$t.log" 2>&1; then
    echo "fuzz $t: ok, $(grep -o 'stat::number_of_executed_units: [0-9]*' "$b/fuzz-logs/$t.log" | tail -1 | cut -d' ' -f2) runs, corpus $(ls "$b/fuzz-corpus/$t" | wc -l)"
  else
    echo "fuzz $t: FAILED (log $b/fuzz-logs/$t.log, crash files $b/fuzz-crashes/$t/)"
    grep -A30 -m1 'ERROR: \|runtime error\|==ERROR\|Deadly\|timeout' "$b/fuzz-logs/$t.log" | head -40
    return 1
  fi
}

# Two at a time (2-core CI machine); the script fails if any target failed.
fail=0
running=0
for t in $targets; do
  run_one "$t" "$secs" "$@" &
  if ((++running >= $(nproc))); then
    wait -n || fail=1
    ((running--))
  fi
done
while ((running > 0)); do
  wait -n || fail=1
  ((running--))
done
exit $fail
