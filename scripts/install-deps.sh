#!/usr/bin/env bash
# Installs every Debian package tokentap needs to build, test and run its demo.
# Idempotent: packages already present are skipped quickly by apt.
set -euo pipefail
PKGS=(
  # toolchain and BPF
  build-essential cmake pkg-config clang llvm libbpf-dev bpftool libelf-dev
  # userspace libraries
  libprotobuf-dev protobuf-compiler libcli11-dev nlohmann-json3-dev libhttp-parser-dev
  libsimdjson-dev
  # XXH3 hashes of the prompt's blocks (the request's prefix chain, without its text)
  libxxhash-dev
  # linear-time regular expressions for the harness rules (no backtracking on traffic)
  libre2-dev
  libnghttp2-dev
  # the daemon's configuration file (TOML, with line and column in its errors)
  libtomlplusplus-dev
  # the daemon's parser process runs under a seccomp filter
  libseccomp-dev
  # the daemon's /metrics (Prometheus exposition format); the server scrapes it in the e2e test
  prometheus-cpp-dev prometheus
  # OTLP/HTTP export (--otlp-endpoint, docs/otlp.md): HTTP/1.1 and TLS to any OpenTelemetry collector
  libcurl4-openssl-dev
  zlib1g-dev libbrotli-dev libzstd-dev
  # x86-64 decoder for finding TLS functions in stripped binaries (Bun, BoringSSL)
  libzydis-dev
  # the record store: SQLite (embedded default) and PostgreSQL (a team's), through their C APIs
  libsqlite3-dev libpq-dev
  # the collector protocol: daemons ship their spool over gRPC (the bad-input test speaks it from Python)
  libgrpc++-dev protobuf-compiler-grpc python3-grpcio
  # tests (libssl-dev's static libssl.a/libcrypto.a: the stripped static OpenSSL 3 that
  # discovery_test.cpp finds functions in)
  libgtest-dev libgmock-dev libssl-dev
  # a real PostgreSQL server for the store's tests (initdb + pg_ctl in a temporary directory)
  postgresql
  # ASan/UBSan runtimes and libFuzzer for clang (scripts/sanitize.sh, scripts/fuzz.sh)
  libclang-rt-14-dev
  # test LLM server, clients and demo
  python3 python3-h2 python3-httpx python3-brotli python3-zstandard python3-websockets openssl curl nodejs
  # a TLS client with no plaintext hook (GnuTLS), for the socket fallback test
  gnutls-bin
  # a terminal for `tokentap top`'s e2e test (its screen, read with capture-pane)
  tmux
  # headless Chromium opens the HTML report in its e2e test (the charts' data, no network, a screenshot)
  chromium
  # builds the Go crypto/tls test client (standard library only)
  golang-go
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then echo "install-deps: run as root (sudo) to install: ${missing[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
