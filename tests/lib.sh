# SPDX-License-Identifier: MPL-2.0
# tests/lib.sh: the one set of helpers of the test scripts (sourced, not
# run): checks and their summary, free ports, bounded waits on events (never
# a fixed sleep), and the cleanup of every process a test started.
#
# An end-to-end script sources it as is: it gets a scratch directory $work,
# the list pids of what to stop, and an EXIT trap that stops every child and
# removes $work. ctest sets PRODUCER, SUBSCRIBER, DATA and TESTS; run by hand,
# the defaults below point at build/. A script with its own life cycle (the
# container test) sets TCPWIN_LIB_HELPERS_ONLY=1 first and gets the
# functions and the counters only.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
passed=0
failed=0
pids=()

# descendants PID: prints the pids of every live process below PID, children
# before their own children are listed (a pipeline in a background subshell
# is such a grandchild).
descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        descendants "$child"
    done
}

# stop_all: ends every process this script started, whether listed in pids or
# not (SIGTERM, SIGCONT for stopped ones, SIGKILL after 5 s), so no child
# keeps ctest's output pipe open after the script is done.
stop_all() {
    local all pid
    all=$(descendants $$ | grep -vx "$BASHPID")
    all="${pids[*]:-} $all"
    for pid in $all; do kill -TERM "$pid" 2>/dev/null && kill -CONT "$pid" 2>/dev/null; done
    for _ in $(seq 1 50); do
        local alive=0
        for pid in $all; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for pid in $all; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
}

# cleanup: the EXIT trap: stops what is left, removes the scratch directory.
cleanup() {
    stop_all
    rm -rf "$work"
}

# pass NAME / fail NAME: count one check and print it.
pass() {
    passed=$((passed + 1))
    echo "ok: $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}

# check NAME COMMAND...: runs COMMAND, counts it as passed or failed, and
# returns its success (so `check ... || show_what_happened` works).
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name" && return 1; fi
}

# summary: prints the counts; true when nothing failed and something ran.
summary() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

# port_used PORT: true when a TCP or UDP socket on loopback (or any address)
# has PORT as its local port, in any state (TIME_WAIT included).
port_used() {
    [ -n "$(ss -Htuan "sport = :$1" 2>/dev/null)" ]
}

# free_port: prints a port that no TCP or UDP socket uses now, outside the
# kernel's ephemeral range (ip_local_port_range): a port inside it can be
# handed to another test's outgoing connection while ours waits for it, or
# to a connection to itself (a client retrying a port nobody listens on
# connects to itself when its source port is that port; e2e_forward's nc
# then failed with "Address already in use"). Below the range when there
# are 2,000 ports or more from 10000 up, else above it, else (a range that
# covers nearly everything) anywhere, said once.
free_port() {
    local port low=32768 high=60999 first last
    read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    if ((low - 10000 >= 2000)); then
        first=10000 last=$((low - 1))
    elif ((65535 - high >= 2000)); then
        first=$((high + 1)) last=65535
    else
        first=20000 last=60000
        if [[ -z ${FREE_PORT_WARNED:-} ]]; then
            echo "free_port: the ephemeral range $low-$high leaves no room: ports may clash" >&2
            FREE_PORT_WARNED=1
        fi
    fi
    for _ in $(seq 1 100); do
        port=$(shuf -i "$first-$last" -n 1)
        if ! port_used "$port"; then
            echo "$port"
            return 0
        fi
    done
    echo "free_port: no free port found" >&2
    return 1
}

# now_ms: the wall clock in milliseconds (no fork).
now_ms() {
    local us=${EPOCHREALTIME/[.,]/}
    echo $((us / 1000))
}

# wait_for SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds;
# after SECONDS says what it waited for and returns 1. The bound is a
# safety net: the wait ends on the event, so make it generous.
wait_for() {
    local limit=$1 deadline
    shift
    deadline=$(($(now_ms) + limit * 1000))
    until "$@"; do
        if [ "$(now_ms)" -ge "$deadline" ]; then
            echo "timeout after $limit s waiting for: $*" >&2
            return 1
        fi
        sleep 0.05
    done
}

# file_size FILE: its size in bytes, 0 when it does not exist.
file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# has_size FILE BYTES: true when FILE holds at least BYTES.
has_size() { [ "$(file_size "$1")" -ge "$2" ]; }

# wait_size FILE BYTES SECONDS: waits until FILE holds at least BYTES.
wait_size() {
    wait_for "$3" has_size "$1" "$2" ||
        { echo "  $1 has $(file_size "$1") of $2 bytes" >&2 && return 1; }
}

# count_lines FILE PATTERN: how many lines of FILE match the extended regex.
count_lines() { grep -cE -- "$2" "$1" 2>/dev/null || true; }

# has_lines FILE PATTERN [N]: true when at least N (default 1) lines match.
has_lines() { [ "$(count_lines "$1" "$2")" -ge "${3:-1}" ]; }

# wait_line FILE PATTERN SECONDS [N]: waits until N lines of FILE match.
wait_line() { wait_for "$3" has_lines "$1" "$2" "${4:-1}"; }

# listening PORT: true when a TCP socket listens on PORT.
listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# wait_listening PORT SECONDS: waits until something listens on TCP PORT.
wait_listening() { wait_for "$2" listening "$1"; }

# wait_pid PID SECONDS: waits for PID (a child) to exit and returns its
# status; kills it and returns 124 after SECONDS.
wait_pid() {
    local pid=$1 deadline
    deadline=$(($(now_ms) + $2 * 1000))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$(now_ms)" -ge "$deadline" ]; then
            kill "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            echo "timeout: pid $pid still running after $2 s" >&2
            return 124
        fi
        sleep 0.05
    done
    wait "$pid"
}

# wait_pids SECONDS PID...: waits for every PID (children) to exit, all
# within one bound of SECONDS; kills those still running then. Returns the
# number of them that did not exit 0 (at most 255).
wait_pids() {
    local deadline pid bad=0
    deadline=$(($(now_ms) + $1 * 1000))
    shift
    for pid in "$@"; do
        while kill -0 "$pid" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.05; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "timeout: pid $pid still running after the common bound" >&2
            kill "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null || bad=$((bad + 1))
    done
    [ "$bad" -gt 255 ] && bad=255
    return "$bad"
}

# replay CAPTURE OUT FORMAT [producer options...]: a subscriber printing
# FORMAT into OUT until the final report, fed by a producer reading CAPTURE.
# Sets producer_rc and subscriber_rc.
replay() {
    local capture=$1 out=$2 format=$3
    shift 3
    local port sub
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format "$format" --until-final >"$out" 2>"$out.err" &
    sub=$!
    "$PRODUCER" -r "$capture" --publish "tcp://127.0.0.1:$port" --wait-subscribers 1 --wait-timeout 10 "$@" 2>"$out.producer.err"
    producer_rc=$?
    if [ "$producer_rc" -eq 0 ] || [ "$producer_rc" -eq 3 ]; then
        wait_pid "$sub" 10
        subscriber_rc=$?
    else
        # The producer failed before publishing: nothing will come.
        kill "$sub" 2>/dev/null
        wait "$sub" 2>/dev/null
        subscriber_rc=-1
    fi
}

if [ "${TCPWIN_LIB_HELPERS_ONLY:-0}" != 1 ]; then
    : "${PRODUCER:=$here/../build/tcpwin-producer}"
    : "${SUBSCRIBER:=$here/../build/tcpwin-subscriber}"
    : "${DATA:=$here/data}"
    work=$(mktemp -d "${TMPDIR:-/tmp}/tcpwin-e2e.XXXXXX")
    trap cleanup EXIT
fi
