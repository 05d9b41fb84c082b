#!/usr/bin/env bash
# The test command: installs what is missing, builds, then runs every test with ctest. Unit tests need
# nothing special; end-to-end tests (label e2e) load BPF and need root.
# The OTLP e2e test's receiver decodes with the official OpenTelemetry definitions, from the npm
# registry into build/otlp-node (scripts/install-otlp-receiver.sh; cached there).
# The real agent harnesses for the e2e.harness tests come from the npm registry, cached under
# /var/cache/tokentap/harnesses (TOKENTAP_SKIP_HARNESSES=1: neither installed nor tested).
# Then the unit tests under ASan+UBSan and every fuzz target for a bounded time
# (scripts/sanitize.sh, scripts/fuzz.sh; TOKENTAP_SKIP_SANITIZE=1: skipped,
# TOKENTAP_FUZZ_SECONDS: seconds per target, default 20).
# Pass ctest arguments through, e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ "${TOKENTAP_SKIP_HARNESSES:-}" != 1 ]; then
  scripts/install-harnesses.sh
fi
scripts/build.sh
scripts/install-otlp-receiver.sh
(cd build && ctest --output-on-failure "$@")
if [ "${TOKENTAP_SKIP_SANITIZE:-}" != 1 ]; then
  scripts/sanitize.sh
  scripts/fuzz.sh "${TOKENTAP_FUZZ_SECONDS:-20}"
fi
