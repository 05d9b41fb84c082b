#!/usr/bin/env bash
# The ASan+UBSan build (build-san: TOKENTAP_SANITIZE=ON, clang), then the unit
# tests under it; any sanitizer report fails. --build-only: just the build
# (scripts/fuzz.sh uses the same dir for the libFuzzer targets).
# Extra arguments go to the test binary, e.g. --gtest_filter='Sse*'.
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
if [ "${1:-}" = --build-only ]; then build_only=1; shift; fi
# -O1 and line tables only: half the compile time of -O2 -g on 2 cores, and
# still full stack traces in reports.
CC=clang CXX=clang++ cmake -S . -B build-san -DTOKENTAP_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" >/dev/null
cmake --build build-san -j"$(nproc)" --target tokentap tokentap_unit_tests fuzzers
((build_only)) && exit 0
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
build-san/tests/tokentap_unit_tests --gtest_brief=1 "$@"
