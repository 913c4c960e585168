#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# fresh_machine.sh [RUNS [REV]]: runs the README's test command RUNS times
# (default 5), each in a new, clean debian:bookworm-slim container, as a
# newcomer would on a fresh machine: nothing installed, the committed tree
# only (git archive REV, default HEAD), as root. Stops at the first failure
# and keeps its log. Each run's wall time is printed, the installation of
# packages included, and the test command's own phases are in its log.
#
# The engine is a private dockerd (like tests/container_test.sh: its own
# socket and data root, no bridge, no iptables); containers use the host's
# network (loopback tests, apt's mirror) with Docker's default capabilities
# (NET_RAW among them, for the live-capture test on lo). The container test itself is skipped inside
# (TCPWIN_SKIP_CONTAINER=1): it needs an engine of its own, and CI runs it.
#
# Environment: TCPWIN_BASE_TARBALL (default ../shared/images/...).
# Logs: /var/tmp/tcpwin-fresh.*/run-N.log. Run as root.
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-5}
REV=${2:-HEAD}
BASE_TARBALL=${TCPWIN_BASE_TARBALL:-$REPO/../shared/images/debian-bookworm-slim-rootfs.tar.gz}
BASE_IMAGE=debian:bookworm-slim

[ "$(id -u)" = 0 ] || { echo "fresh_machine.sh: run as root" >&2; exit 2; }
command -v dockerd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends docker.io >/dev/null
if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=$(command -v docker); fi

WORK=$(mktemp -d /var/tmp/tcpwin-fresh.XXXXXX)
export DOCKER_HOST=unix://$WORK/docker.sock DOCKER_CONFIG=$WORK/client
dockerd --host "$DOCKER_HOST" --data-root "$WORK/data" --exec-root "$WORK/exec" \
    --pidfile "$WORK/dockerd.pid" --iptables=false --bridge=none >"$WORK/dockerd.log" 2>&1 &
dockerd_pid=$!
cleanup() {
    kill "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    rm -rf "$WORK/data" "$WORK/exec"
}
trap cleanup EXIT
for _ in $(seq 1 120); do
    "$DOCKER" version >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.5
done
"$DOCKER" version >/dev/null 2>&1 || { tail "$WORK/dockerd.log"; echo "dockerd did not start" >&2; exit 1; }
"$DOCKER" import - "$BASE_IMAGE" <"$BASE_TARBALL" >/dev/null || exit 1

passed=0
for run in $(seq 1 "$RUNS"); do
    log=$WORK/run-$run.log
    start=$(date +%s)
    git -C "$REPO" archive --format=tar "$REV" |
        "$DOCKER" run --rm -i --network host -e TCPWIN_SKIP_CONTAINER=1 \
            "$BASE_IMAGE" bash -c 'mkdir -p /work/tcpwin && cd /work/tcpwin && tar -x &&
                                  time ./scripts/test.sh' >"$log" 2>&1
    rc=$?
    seconds=$(($(date +%s) - start))
    if [ "$rc" -ne 0 ]; then
        grep -E "FAIL|Failed|failed" "$log" | head -20
        echo "fresh_machine.sh: run $run failed after $seconds s (exit $rc); log: $log"
        echo "$passed passed, 1 failed"
        exit 1
    fi
    passed=$((passed + 1))
    echo "fresh_machine.sh: run $run passed in $seconds s (log: $log)"
done
echo "$passed passed, 0 failed"
