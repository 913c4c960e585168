#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# test.sh: installs what is missing, builds with warnings as errors and runs
# every test: unit and end-to-end (ctest), the same again under
# AddressSanitizer + UBSan, the reader thread's under ThreadSanitizer, the
# fuzzers for a bounded time, and the
# container test (skip it with TCPWIN_SKIP_CONTAINER=1 on a machine without
# a Docker engine package; CI never skips it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh
jobs=$(nproc)

# phase_done NAME: says how long the phase since the previous one took.
phase_start=$SECONDS
phase_done() {
    echo "== $1: $((SECONDS - phase_start)) s"
    phase_start=$SECONDS
}

echo "== build (-Werror) and ctest"
scripts/build.sh build
# Unit tests run beside the e2e tests; the e2e tests of volume or with
# deadlines of their own one at a time (a resource lock in
# tests/CMakeLists.txt), the others beside them.
ctest --test-dir build --output-on-failure -j"$jobs"
phase_done "build and ctest"

echo "== AddressSanitizer + UBSan build and ctest (unit tests, e2e tests labelled sanitize)"
scripts/build.sh build-asan -DTCPWIN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
# Under the sanitizers: every unit test, and the e2e tests that feed parsing
# and queues (captures, inputs, forward; see tests/CMakeLists.txt). The
# others (dashboards, flows_nodrop, live) are volume and timing tests of the
# same decode, report and receive code (fan-out to 50, a million flow
# records, a live capture) that cost minutes under ASan. What only they run,
# relay and CURVE (e2e_dashboards), is not sanitized.
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j"$jobs" -L 'unit|sanitize'
phase_done "ASan + UBSan build and ctest"

echo "== ThreadSanitizer build and ctest (tests labelled thread: the producer's reader thread)"
scripts/build.sh build-tsan -DTCPWIN_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
TSAN_OPTIONS="halt_on_error=1 suppressions=$root/tests/tsan.supp" \
    ctest --test-dir build-tsan --output-on-failure -j"$jobs" -L thread
phase_done "ThreadSanitizer build and ctest"

# 20 s each: on 2 cores fuzz_packet_decode reaches its full edge coverage
# after about 13 s (7 million runs) and fuzz_subscriber_decode within its
# first second; past that, 10 s more per target found no new edge. The
# targets run side by side, one per core (scripts/fuzz.sh).
echo "== fuzzers (${FUZZ_SECONDS:=20} s each)"
FUZZ_SECONDS=$FUZZ_SECONDS scripts/fuzz.sh
phase_done "fuzzers"

if [ "${TCPWIN_SKIP_CONTAINER:-0}" = 1 ] && [ "${CI:-}" != true ]; then
    echo "== container test skipped (TCPWIN_SKIP_CONTAINER=1)"
else
    echo "== container test"
    bash tests/container_test.sh
    phase_done "container test"
fi
echo "== all tests passed"
