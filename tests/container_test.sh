#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# container_test.sh: builds the tcpwin image from docker/Dockerfile on a
# private Docker engine, runs the docker/compose.yml stack on it, and checks
# what the sink and the dashboards received. Run as root (it installs
# packages and starts dockerd); takes about three minutes.
#
#   sudo bash tests/container_test.sh
#
# The engine is its own: a dockerd on a private socket, data root and exec
# root under a temporary directory, without iptables or a bridge network, so
# it neither needs nor touches a system Docker. The base image
# debian:bookworm-slim is imported from ../shared/images (beside the
# repository), or made with debootstrap when that tarball is missing: Docker
# Hub is not reachable. The stack runs on host networking with ports of its
# own (15556 for ZeroMQ, 15555 for the sink by default) so that it can run
# beside the other tests, which use 5555/5556 and random ports.
#
# Environment: TCPWIN_TEST_PUB_PORT, TCPWIN_TEST_SINK_PORT (ports),
# TCPWIN_TEST_KEEP=1 (keep the temporary directory: engine log, build log,
# received output), TCPWIN_BASE_TARBALL (another base image tarball).
#
# Prints one line per check, then "N passed, N failed"; exits non-zero on any
# failure. A machine where dockerd cannot start fails loudly.

set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE_TARBALL=${TCPWIN_BASE_TARBALL:-$REPO/../shared/images/debian-bookworm-slim-rootfs.tar.gz}
BASE_IMAGE=debian:bookworm-slim
IMAGE=tcpwin:container-test
PROJECT=tcpwinctest$$
SAMPLE=$REPO/tests/data/zeek__206_example_b.pcap
EXPECTED_ROW=$'192.168.72.14\t460\t0.123913'
EXPECTED_HEADER=$'# IP\tpktTcpCnt\twinRelThCnt'

WORK=
DOCKERD_PID=
STACK_UP=

# check, pass, fail, wait_for, listening: the helpers all tests share; this
# script keeps its own life cycle (finish below), so only the functions.
# shellcheck source=tests/lib.sh
TCPWIN_LIB_HELPERS_ONLY=1 source "$REPO/tests/lib.sh"

# say TEXT...: prints one line.
say() { printf '%s\n' "$*"; }
# loud NAME REASON: a failure that stops the test (the trap still cleans up).
loud() {
    fail "$1"
    say "######################################################################"
    say "# container_test: $1"
    say "# $2"
    say "######################################################################"
    exit 1
}

# ---------------------------------------------------------------- teardown

compose() {
    timeout 300 docker-compose -f "$REPO/docker/compose.yml" -p "$PROJECT" "$@"
}

stop_pid() { # stop_pid PID SECONDS: TERM, wait, then KILL
    local pid=$1 waited=0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$(($2 * 10))" ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "container_test: pid $pid ignored SIGTERM for $2 s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

finish() {
    trap - EXIT INT TERM
    if [ -n "$STACK_UP" ]; then
        compose down --remove-orphans --timeout 10 >>"$WORK/compose.log" 2>&1 ||
            say "container_test: compose down failed (see $WORK/compose.log)" >&2
    fi
    if [ -n "$DOCKERD_PID" ]; then
        stop_pid "$DOCKERD_PID" 30
        # dockerd stops the containerd it started; this covers a dockerd that
        # had to be killed.
        local cpid
        cpid=$(cat "$WORK/exec/containerd/containerd.pid" 2>/dev/null || true)
        if [ -n "$cpid" ] && grep -qs "$WORK" "/proc/$cpid/cmdline"; then
            stop_pid "$cpid" 10
        fi
    fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        # Mounts left by a killed engine must go before the directory does.
        awk -v w="$WORK" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r |
            while read -r m; do umount -l "$m" 2>/dev/null; done
        if [ "${TCPWIN_TEST_KEEP:-0}" = 1 ] || [ "$failed" -gt 0 ]; then
            say "container_test: logs and outputs kept in $WORK"
        fi
        if [ "${TCPWIN_TEST_KEEP:-0}" != 1 ]; then
            # The engine's data (images, layers) is large; keep only the logs.
            rm -rf "$WORK/data" "$WORK/exec" "$WORK/rootfs"
            [ "$failed" -gt 0 ] || rm -rf "$WORK"
        fi
    fi
    say "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] && exit 0
    exit 1
}
trap finish EXIT
trap 'fail "interrupted by a signal"; exit 1' INT TERM

# ---------------------------------------------------------------- setup

[ "$(id -u)" = 0 ] || loud "must run as root" "it installs packages and starts its own dockerd"

install_missing() {
    local need=()
    command -v dockerd >/dev/null || need+=(docker.io)
    [ -x /usr/bin/docker ] || command -v docker >/dev/null || need+=(docker.io)
    command -v docker-compose >/dev/null || need+=(docker-compose)
    command -v debootstrap >/dev/null || need+=(debootstrap)
    command -v jq >/dev/null || need+=(jq)
    command -v curl >/dev/null || need+=(curl)
    command -v ss >/dev/null || need+=(iproute2)
    [ "${#need[@]}" -eq 0 ] && return 0
    say "container_test: installing ${need[*]}"
    apt-get update -q >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" \
        >/dev/null
}
install_missing || loud "cannot install docker.io docker-compose debootstrap jq" "apt-get install failed"

# The client of the engine we start (docker.io's), before any other on PATH.
if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=$(command -v docker); fi
docker() { timeout 600 "$DOCKER" "$@"; }

WORK=$(mktemp -d /var/tmp/tcpwin-container-test.XXXXXX) || loud "cannot create a temporary directory" "mktemp failed"
chmod 0711 "$WORK"
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
export DOCKER_HOST=unix://$WORK/docker.sock
export DOCKER_CONFIG=$WORK/client
# The classic builder: BuildKit may not be installed with Debian's engine.
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
# Only what this test sets may configure the stack.
unset TCPWIN_INPUT TCPWIN_IFACE TCPWIN_FILTER TCPWIN_SNAPLEN TCPWIN_ID TCPWIN_INTERVAL \
    TCPWIN_THRESHOLD TCPWIN_MIN_PKTS TCPWIN_FLOWS TCPWIN_WAIT_SUBSCRIBERS TCPWIN_WAIT_TIMEOUT \
    TCPWIN_PRODUCER_RESTART

# pick_port PORT: PORT, or the first of PORT+100, PORT+200... that is free.
pick_port() {
    local p=$1
    while listening "$p"; do p=$((p + 100)); done
    say "$p"
}
PUB_PORT=$(pick_port "${TCPWIN_TEST_PUB_PORT:-15556}")
SINK_PORT=$(pick_port "${TCPWIN_TEST_SINK_PORT:-15555}")
LIVE_PORT=$(pick_port 15557)
SERVE_PORT=$(pick_port 19105)
PROM_PORT=$(pick_port 19090)

say "container_test: dockerd on $DOCKER_HOST, data in $WORK"
dockerd --host "$DOCKER_HOST" --data-root "$WORK/data" --exec-root "$WORK/exec" \
    --pidfile "$WORK/dockerd.pid" --iptables=false --bridge=none \
    >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
# dockerd_settled: true once the engine answers, or its process is gone.
dockerd_settled() {
    ! kill -0 "$DOCKERD_PID" 2>/dev/null || "$DOCKER" version >/dev/null 2>&1
}
wait_for 60 dockerd_settled
if ! "$DOCKER" version >/dev/null 2>&1; then
    tail -n 30 "$WORK/dockerd.log"
    kill -0 "$DOCKERD_PID" 2>/dev/null || DOCKERD_PID=
    loud "dockerd did not start on this machine" \
        "no container test was run; the engine's log is above and in $WORK/dockerd.log"
fi
pass "dockerd started ($("$DOCKER" version -f '{{.Server.Version}}'), private socket, no bridge, no iptables)"

# The mirror apt uses here, for debootstrap: sources.list(.d) one-line or
# deb822 entries for bookworm.
debian_mirror() {
    local m
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++;
             if ($(i + 1) == "bookworm") { print $i; exit } }')
    [ -n "$m" ] || m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk 'function flush() { if (s ~ /(^| )bookworm( |$)/ && u != "") { print u; done = 1; exit } u = s = "" }
             /^[ \t]*$/ { flush(); next }
             /^URIs:/ { u = $2 } /^Suites:/ { $1 = ""; s = $0 }
             END { if (!done) flush() }')
    say "${m:-http://deb.debian.org/debian}"
}

import_base() {
    if [ -r "$BASE_TARBALL" ]; then
        say "container_test: importing $BASE_IMAGE from $BASE_TARBALL"
        docker import - "$BASE_IMAGE" <"$BASE_TARBALL" >/dev/null
        return
    fi
    local mirror
    mirror=$(debian_mirror)
    say "container_test: $BASE_TARBALL is missing; debootstrap bookworm from $mirror"
    timeout 1200 debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" \
        >"$WORK/debootstrap.log" 2>&1 || {
        tail -n 20 "$WORK/debootstrap.log"
        return 1
    }
    rm -rf "$WORK"/rootfs/var/lib/apt/lists/* "$WORK"/rootfs/var/cache/apt/archives/*.deb
    tar -C "$WORK/rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
}
import_base || loud "cannot make the base image $BASE_IMAGE" "neither the tarball nor debootstrap worked"
pass "base image $BASE_IMAGE imported"

# ---------------------------------------------------------------- the image

say "container_test: building $IMAGE (log: $WORK/build.log)"
build_start=$(date +%s)
if ! docker build --network=host -f "$REPO/docker/Dockerfile" -t "$IMAGE" "$REPO" \
    >"$WORK/build.log" 2>&1; then
    tail -n 40 "$WORK/build.log"
    loud "docker build failed" "the end of the build log is above"
fi
build_seconds=$(($(date +%s) - build_start))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
image_size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
base_size=$(docker image inspect -f '{{.Size}}' "$BASE_IMAGE")
pass "image built"
say "container_test: build time ${build_seconds} s (unit tests included, no cache)"
say "container_test: image size $(mib "$image_size") ($image_size bytes; base $BASE_IMAGE $(mib "$base_size"))"
check "build stage ran the unit tests, all passed" grep -q '100% tests passed' "$WORK/build.log"

run() { docker run --rm --network host "$@"; }
quiet() { "$@" >/dev/null 2>&1; }
# Live capture as the user tcpwin: NET_RAW in the bounding set, nothing else.
caps=(--cap-drop ALL --cap-add NET_RAW)
# Live capture as root the way compose runs it: NET_RAW alone, no new privileges.
root_caps=(--user root --cap-drop ALL --cap-add NET_RAW --security-opt no-new-privileges:true)
# ... and given what a switch of user takes, which it then drops too.
root_switch=("${root_caps[@]}" --cap-add SETUID --cap-add SETGID)
none=(--cap-drop ALL --security-opt no-new-privileges:true)

check "image runs as the non-root user tcpwin" \
    test "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" = tcpwin
check "processes in the container have a non-zero uid" \
    test "$(run "$IMAGE" id -u)" != 0
check "both programs are on PATH" \
    quiet run "${caps[@]}" "$IMAGE" sh -c 'command -v tcpwin-producer && command -v tcpwin-subscriber'
check "tcpwin-subscriber --help exits 0" quiet run "$IMAGE" tcpwin-subscriber --help
check "tcpwin-producer --help exits 0 with no capability at all" \
    quiet run "${none[@]}" "$IMAGE" tcpwin-producer --help
check "the sample capture is /usr/share/tcpwin/zeek__206_example_b.pcap, unchanged" \
    test "$(run "$IMAGE" sha256sum /usr/share/tcpwin/zeek__206_example_b.pcap | cut -d' ' -f1)" \
    = "$(sha256sum "$SAMPLE" | cut -d' ' -f1)"
check "the licence notices are in /usr/share/doc/tcpwin" \
    run "$IMAGE" test -s /usr/share/doc/tcpwin/LICENSE -a -s /usr/share/doc/tcpwin/LICENSES.md \
    -a -s /usr/share/doc/tcpwin/SOURCES.md
check "no compiler, no build tools, no apt lists in the runtime image" \
    run "$IMAGE" sh -c '! command -v cc && ! command -v cmake && ! command -v setcap &&
        [ -z "$(find /var/lib/apt/lists -type f ! -name lock)" ]'
check "netcat-openbsd for the sink" run "$IMAGE" sh -c 'nc -h 2>&1 | grep -q OpenBSD'

# A file replay with no capability at all: the producer's file capability
# is permitted only, never effective, so the kernel runs it anyway.
replay_without_caps() {
    run "${none[@]}" "$IMAGE" tcpwin-producer -r /usr/share/tcpwin/zeek__206_example_b.pcap \
        --publish "tcp://127.0.0.1:$LIVE_PORT" >"$WORK/nocaps.out" 2>&1
}
check "a file replay needs no capability (cap-drop ALL, no-new-privileges)" replay_without_caps

# Live capture: it must open and keep running until timeout stops it (exit
# 124; a permission error exits at once), and once the interface is open the
# producer holds no capability and, started as root, runs as the user tcpwin.
# live_capture NAME RUN-OPTIONS...: prints the producer's uid and capability
# sets, seen from its own /proc, two seconds in. A shell with no capability
# cannot signal a producer that became another user (no CAP_KILL): then the
# container's end stops it.
live_capture() {
    local name=$1 rc
    shift
    run "$@" "$IMAGE" sh -c "tcpwin-producer -i lo -f 'tcp port $LIVE_PORT' -Z tcpwin \
        --publish tcp://127.0.0.1:$LIVE_PORT & pid=\$!; sleep 2;
        grep -E '^(Uid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/\$pid/status;
        kill -INT \$pid 2>/dev/null && wait \$pid; exit 0" >"$WORK/live-$name.out" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] && ! grep -qi 'permission\|not permitted' "$WORK/live-$name.out"
}
holds_nothing() { # FILE: no capability in any set but the bounding one
    grep -Eq '^CapPrm:\s+0+$' "$1" && grep -Eq '^CapEff:\s+0+$' "$1" &&
        grep -Eq '^CapAmb:\s+0+$' "$1"
}
tcpwin_uid=$(run "$IMAGE" id -u tcpwin)
if live_capture user "${caps[@]}" && holds_nothing "$WORK/live-user.out"; then
    pass "live capture on lo as user tcpwin with NET_RAW alone; no capability once open"
else
    fail "live capture on lo as user tcpwin with NET_RAW alone; no capability once open"
    sed 's/^/    /' "$WORK/live-user.out"
fi
if live_capture root "${root_caps[@]}" && holds_nothing "$WORK/live-root.out" &&
    grep -q "staying uid 0, with no capability" "$WORK/live-root.out"; then
    pass "live capture as root with NET_RAW alone (compose): no capability once open, and says so"
else
    fail "live capture as root with NET_RAW alone (compose): no capability once open, and says so"
    sed 's/^/    /' "$WORK/live-root.out"
fi
if live_capture switch "${root_switch[@]}" && holds_nothing "$WORK/live-switch.out" &&
    grep -Eq "^Uid:\s+$tcpwin_uid\s+$tcpwin_uid\s+$tcpwin_uid\s+$tcpwin_uid$" "$WORK/live-switch.out"; then
    pass "live capture as root with NET_RAW, SETUID, SETGID: becomes tcpwin ($tcpwin_uid), no capability"
else
    fail "live capture as root with NET_RAW, SETUID, SETGID: becomes tcpwin ($tcpwin_uid), no capability"
    sed 's/^/    /' "$WORK/live-switch.out"
fi

# Prometheus of the stack (docker/prometheus.Dockerfile), from Debian's package.
PROM_IMAGE=tcpwin-prometheus:container-test
if ! docker build --network=host -f "$REPO/docker/prometheus.Dockerfile" -t "$PROM_IMAGE" "$REPO" \
    >"$WORK/build-prometheus.log" 2>&1; then
    tail -n 40 "$WORK/build-prometheus.log"
    loud "docker build of the Prometheus image failed" "the end of its build log is above"
fi
pass "Prometheus image built"

# ---------------------------------------------------------------- the stack

export TCPWIN_IMAGE=$IMAGE
export TCPWIN_ENDPOINT=tcp://127.0.0.1:$PUB_PORT
export TCPWIN_SINK=tcp://127.0.0.1:$SINK_PORT
export TCPWIN_SERVE_LISTEN=127.0.0.1:$SERVE_PORT
export TCPWIN_PROMETHEUS_IMAGE=$PROM_IMAGE
export TCPWIN_PROMETHEUS_LISTEN=127.0.0.1:$PROM_PORT
export TCPWIN_SCRAPE_INTERVAL=1s
say "container_test: stack $PROJECT on $TCPWIN_ENDPOINT, sink $TCPWIN_SINK"
STACK_UP=1
if ! compose up -d --no-build >"$WORK/compose.log" 2>&1; then
    cat "$WORK/compose.log"
    loud "docker-compose up failed" "the compose log is above"
fi
pass "docker-compose up (sink healthy before the bridge started)"

# Container ids, looked up once: restart and start keep a container's id.
declare -A CIDS=()
for service in sink bridge dashboard-a dashboard-b serve prometheus producer; do
    CIDS[$service]=$(compose ps -q "$service" 2>/dev/null | head -n 1)
done
cid() { say "${CIDS[$1]}"; }
state() { docker inspect -f "$2" "$(cid "$1")" 2>/dev/null; }
stdout_of() { docker logs "$(cid "$1")" 2>/dev/null; }

producer_exited() { [ "$(state producer '{{.State.Status}}')" = exited ]; }
wait_for 90 producer_exited
check "producer replayed the capture and exited 0" \
    test "$(state producer '{{.State.Status}} {{.State.ExitCode}}')" = "exited 0"

last_row_is_expected() {
    stdout_of sink >"$WORK/sink.out"
    [ "$(grep -v '^$' "$WORK/sink.out" | tail -n 1)" = "$EXPECTED_ROW" ]
}
wait_for 30 last_row_is_expected
check "sink: the last row is the sample's final row" last_row_is_expected
check "sink: tables open with '# <date>' and the legacy column header" \
    awk -v h="$EXPECTED_HEADER" 'NR == 1 && !/^# ./ { bad = 1 }
        $0 == h { heads++; if (prev !~ /^# ./) bad = 1 } { prev = $0 }
        END { exit bad || heads < 1 }' "$WORK/sink.out"
check "sink: the table ends with an empty line" \
    test "$(tail -c 2 "$WORK/sink.out" | od -An -c | tr -d ' ')" = '\n\n'

dashboard_ok() { # dashboard_ok SERVICE: JSON lines, one final report with the sample's host
    stdout_of "$1" >"$WORK/$1.out"
    jq -e -s --arg ip 192.168.72.14 '
        length > 0
        and ([.[] | select(.final == true)] | length == 1)
        and (last.final == true)
        and (last.hosts | any(.ip == $ip and .pktTcpCnt == 460))
    ' "$WORK/$1.out" >/dev/null 2>&1
}
wait_for 10 dashboard_ok dashboard-a
check "dashboard-a: JSON lines ending in the final report (192.168.72.14, pktTcpCnt 460)" \
    dashboard_ok dashboard-a
check "dashboard-b: JSON lines ending in the final report (192.168.72.14, pktTcpCnt 460)" \
    dashboard_ok dashboard-b

# serve's /metrics, and the stack's Prometheus scraping it: the sample's
# 1556 packets both ways.
serve_metrics_ok() {
    curl -sf -m 2 "http://$TCPWIN_SERVE_LISTEN/metrics" >"$WORK/metrics.txt" &&
        grep -Eq '^tcpwin_packets_total\{producer="[^"]*"\} 1556$' "$WORK/metrics.txt"
}
wait_for 10 serve_metrics_ok
check "serve: /metrics through the stack gives the sample's 1556 packets" serve_metrics_ok
prometheus_ok() {
    curl -sf -m 2 -G "http://$TCPWIN_PROMETHEUS_LISTEN/api/v1/query" \
        --data-urlencode 'query=tcpwin_packets_total' | jq -e '.data.result[0].value[1] == "1556"' >/dev/null
}
wait_for 60 prometheus_ok
check "prometheus: scraped serve, tcpwin_packets_total is 1556" prometheus_ok

check "sink health check reports healthy" test "$(state sink '{{.State.Health.Status}}')" = healthy
for service in bridge dashboard-a dashboard-b serve prometheus sink; do
    check "$service still running" test "$(state "$service" '{{.State.Status}}')" = running
done

# The bridge must find a restarted sink again: restart the sink, replay once
# more, and the new sink process must receive the table.
rows_before=$(grep -cFx "$EXPECTED_ROW" "$WORK/sink.out")
compose restart -t 5 sink >>"$WORK/compose.log" 2>&1
sink_healthy() { [ "$(state sink '{{.State.Health.Status}}')" = healthy ]; }
wait_for 30 sink_healthy
compose start producer >>"$WORK/compose.log" 2>&1
more_rows() {
    stdout_of sink >"$WORK/sink.out"
    [ "$(grep -cFx "$EXPECTED_ROW" "$WORK/sink.out")" -gt "$rows_before" ]
}
wait_for 90 more_rows
check "bridge reconnected to a restarted sink and forwarded the next run" more_rows
wait_for 30 producer_exited
check "second replay exited 0" \
    test "$(state producer '{{.State.Status}} {{.State.ExitCode}}')" = "exited 0"

# Live capture configured through the environment: the producer, recreated
# with TCPWIN_IFACE=lo, captures real TCP traffic on loopback until stopped,
# then publishes a final report with what it counted.
replay_run_id=$(tail -n 1 "$WORK/dashboard-a.out" | jq -r .header.runId)
TCPWIN_IFACE=lo TCPWIN_FILTER="tcp port $LIVE_PORT" TCPWIN_PRODUCER_RESTART=unless-stopped \
    compose up -d --no-build producer >>"$WORK/compose.log" 2>&1
CIDS[producer]=$(compose ps -q producer 2>/dev/null | head -n 1)
producer_healthy() { [ "$(state producer '{{.State.Health.Status}}')" = healthy ]; }
wait_for 30 producer_healthy
check "live producer (TCPWIN_IFACE=lo) running and healthy" producer_healthy
# In the container: a listener, a bounded wait until it listens (read from
# /proc, no probe connection), one short connection, the listener's exit.
quiet run "$IMAGE" sh -c "nc -l 127.0.0.1 $LIVE_PORT >/dev/null & i=0
    until tcpwin-listening tcp://127.0.0.1:$LIVE_PORT; do
        i=\$((i + 1)); [ \$i -lt 200 ] || exit 1; sleep 0.05
    done
    echo tcpwin | nc -N 127.0.0.1 $LIVE_PORT; wait"
# The live producer has counted the connection: a report of its run (one
# per interval by the wall clock) shows TCP packets.
live_counted() {
    stdout_of dashboard-a | jq -e --arg replay "$replay_run_id" '
        select(.header.runId != $replay and (.counters.tcpPackets | tonumber) > 0)' >/dev/null 2>&1
}
wait_for 30 live_counted
compose stop -t 10 producer >>"$WORK/compose.log" 2>&1
live_final() {
    stdout_of dashboard-a | tail -n 1 >"$WORK/live-final.json"
    jq -e --arg replay "$replay_run_id" '
        .final == true and .header.runId != $replay and (.counters.tcpPackets | tonumber) > 0
    ' "$WORK/live-final.json" >/dev/null 2>&1
}
wait_for 10 live_final
check "live capture: stopping the producer sent a final report with the loopback packets" live_final
check "live producer exited 0 on SIGTERM" \
    test "$(state producer '{{.State.Status}} {{.State.ExitCode}}')" = "exited 0"

say "container_test: the sink received ($(wc -l <"$WORK/sink.out") lines; last table):"
awk '/^# [^I]/ { t = "" } { t = t "    " $0 "\n" } END { printf "%s", t }' "$WORK/sink.out"
say "container_test: dashboard-a's final report of the replay:"
tail -n 1 "$WORK/dashboard-a.out" | cut -c 1-400 | sed 's/^/    /'

if compose down --remove-orphans --timeout 10 >>"$WORK/compose.log" 2>&1; then
    STACK_UP=
    pass "docker-compose down"
else
    fail "docker-compose down"
fi
check "no container left" test -z "$(docker ps -aq)"
if [ "$failed" -gt 0 ]; then
    say "container_test: compose log:"
    sed 's/^/    /' "$WORK/compose.log" | tail -n 40
fi
