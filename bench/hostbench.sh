# Sourced by the host-overhead benches (tls_bulk.sh, streaming.sh, ...): checks, then hands over to
# hostbench.py, which starts and stops everything of the bench and cleans up on exit or signal.
#   hostbench BENCH [BUILD_DIR] [hostbench.py options...]
hostbench() {
  local bench=$1 build=./build
  shift
  if (($#)) && [[ $1 != -* ]]; then build=$1; shift; fi
  [[ $(id -u) == 0 ]] || { echo "$bench: run as root (tokentap and bpftrace load BPF)" >&2; exit 2; }
  [[ -x $build/tokentap ]] || { echo "$bench: no tokentap at $build/tokentap (build first, or pass the build dir)" >&2; exit 2; }
  if ! command -v bpftrace >/dev/null; then
    echo "$bench: installing bpftrace (the floor)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null
  fi
  exec /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/hostbench.py" "$bench" --build "$build" "$@"
}
