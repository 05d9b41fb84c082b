#!/usr/bin/env bash
# The test command: installs what is missing, builds, then runs every test with ctest. Unit tests need
# nothing special; end-to-end tests (label e2e) load BPF and need root.
# Pass ctest arguments through, e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure "$@"
