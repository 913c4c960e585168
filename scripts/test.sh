#!/usr/bin/env bash
# test.sh: installs what is missing, builds with warnings as errors and runs
# every test: unit and end-to-end (ctest), the same again under
# AddressSanitizer + UBSan, the fuzzers for a bounded time, and the
# container test (skip it with TCPWIN_SKIP_CONTAINER=1 on a machine without
# a Docker engine package; CI never skips it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh
jobs=$(nproc)

echo "== build (-Werror) and ctest"
scripts/build.sh build
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== AddressSanitizer + UBSan build and ctest"
scripts/build.sh build-asan -DTCPWIN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== fuzzers (${FUZZ_SECONDS:=30} s each)"
FUZZ_SECONDS=$FUZZ_SECONDS scripts/fuzz.sh

if [ "${TCPWIN_SKIP_CONTAINER:-0}" = 1 ] && [ "${CI:-}" != true ]; then
    echo "== container test skipped (TCPWIN_SKIP_CONTAINER=1)"
else
    echo "== container test"
    bash tests/container_test.sh
fi
echo "== all tests passed"
