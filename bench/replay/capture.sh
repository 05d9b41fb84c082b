# Sourced by replay_throughput.sh and handoff.sh: the synthetic capture they
# replay. Sets bin, work, cap, bytes, requests, runs (env: REQUESTS, BODY_KB,
# RUNS, SEED, KEEP=1 keeps the files). usage: replay_capture NAME [BUILD_DIR] [DEFAULT_RUNS]
replay_capture() {
  local name=$1 build=${2:-./build} here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  bin=$build/tokentap
  [[ -x $bin ]] || { echo "$name: no tokentap at $bin (build first, or pass the build dir)" >&2; exit 2; }
  requests=${REQUESTS:-1000} runs=${RUNS:-${3:-5}}
  work=$(mktemp -d /tmp/tokentap-bench.XXXXXX)
  [[ ${KEEP:-0} == 1 ]] && echo "files kept in $work" || trap 'rm -rf "$work"' EXIT
  cap=$work/bench.cap
  python3 "$here/gen_capture.py" "$cap" "$work/expected.json" \
    --requests "$requests" --body-kb "${BODY_KB:-100}" --seed "${SEED:-1}"
  bytes=$(stat -c %s "$cap")
  printf 'capture: %s requests, %.1f MB (%s)\n' "$requests" "$(bc -l <<<"$bytes/1000000")" "$cap"
}

# Replays the capture (extra args before it) keeping the records, and checks
# them against what the generator put in.
replay_check() {
  "$bin" replay -q "$@" --json "$work/records.jsonl" "$cap"
  python3 "$(dirname "${BASH_SOURCE[0]}")/check_run.py" "$work/expected.json" "$work/records.jsonl"
}
