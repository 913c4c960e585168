#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# fuzz.sh: builds the libFuzzer targets with clang in their own build directory
# and runs each for a bounded time over a scratch copy of its seed corpus.
#
#   scripts/fuzz.sh [target...]      (default: every target listed below)
#
# Environment: FUZZ_SECONDS (per target, default 60), BUILD_DIR (default
# build-fuzz at the repository root), CC_FUZZ (default clang), JOBS.
# The seed corpus of fuzz_<name> is tests/fuzz/corpus/<name>/ and is never
# modified; crash reproducers land in $BUILD_DIR/fuzz-artifacts/<target>/.
# Exits non-zero when a target crashes (or fails to build).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The fuzz targets are the files tests/fuzz/fuzz_*.c, as in its CMakeLists.txt.
ALL_TARGETS=()
for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
    name=${src##*/}
    ALL_TARGETS+=("${name%.c}")
done
BUILD_DIR=${BUILD_DIR:-$ROOT/build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CC_FUZZ=${CC_FUZZ:-clang}
JOBS=${JOBS:-$(nproc)}

if [[ ! $FUZZ_SECONDS =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz.sh: FUZZ_SECONDS '$FUZZ_SECONDS': not a positive number of seconds" >&2
    exit 2
fi
if [[ $# -gt 0 ]]; then
    TARGETS=("$@")
else
    TARGETS=("${ALL_TARGETS[@]}")
fi

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_C_COMPILER="$CC_FUZZ" -DTCPWIN_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
# Only the fuzz targets: they do not depend on the rest of the tree.
cmake --build "$BUILD_DIR" --parallel "$JOBS" --target "${TARGETS[@]}"

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/tcpwin-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

# run_target TARGET: one fuzzing run over a scratch copy of its seeds; its
# output goes to $SCRATCH/TARGET.log, printed when it ends.
run_target() {
    local target=$1
    local seeds="$ROOT/tests/fuzz/corpus/${target#fuzz_}"
    local corpus="$SCRATCH/$target"
    local artifacts="$BUILD_DIR/fuzz-artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    if [[ -d $seeds ]]; then
        cp -R "$seeds/." "$corpus/"
    else
        echo "fuzz.sh: $target: no seed corpus at $seeds, starting empty" >&2
    fi
    "$BUILD_DIR/tests/fuzz/$target" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$SCRATCH/$target.log" 2>&1
}

# The targets run side by side, JOBS at a time (libFuzzer runs are single
# threaded): on CI's 2 cores three targets take 2 x FUZZ_SECONDS, not 3 x.
failed=()
declare -A running=()
# reap_one: waits for one running target and records how it ended.
reap_one() {
    local done_pid target
    wait -n -p done_pid "${!running[@]}" && status=0 || status=$?
    target=${running[$done_pid]}
    unset "running[$done_pid]"
    cat "$SCRATCH/$target.log"
    if [[ $status -ne 0 ]]; then
        echo "fuzz.sh: $target: crashed (status $status), reproducers in $BUILD_DIR/fuzz-artifacts/$target" >&2
        failed+=("$target")
    fi
}
for target in "${TARGETS[@]}"; do
    while [[ ${#running[@]} -ge $JOBS ]]; do reap_one; done
    echo "fuzz.sh: running $target for ${FUZZ_SECONDS}s"
    run_target "$target" &
    running[$!]=$target
done
while [[ ${#running[@]} -gt 0 ]]; do reap_one; done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: all targets ran ${FUZZ_SECONDS}s without a crash"
