# tests/lib.sh: shared helpers of the end-to-end scripts (sourced, not run).
# ctest sets PRODUCER, SUBSCRIBER, DATA and TESTS; run by hand, the defaults
# below point at build/.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${PRODUCER:=$here/../build/tcpwin-producer}"
: "${SUBSCRIBER:=$here/../build/tcpwin-subscriber}"
: "${DATA:=$here/data}"
passed=0
failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/tcpwin-e2e.XXXXXX")
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# check NAME COMMAND...: runs COMMAND, counts it as passed or failed.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

# A TCP port nobody listens on right now, on loopback.
free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$(shuf -i 20000-60000 -n 1)
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# wait_pid PID SECONDS: waits for PID to exit; kills it and fails after SECONDS.
wait_pid() {
    local pid=$1 limit=$(($2 * 10))
    for _ in $(seq 1 "$limit"); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid"; return $?; }
        sleep 0.1
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "timeout: pid $pid still running after $2 s" >&2
    return 124
}

# replay CAPTURE OUT FORMAT [producer options...]: a subscriber printing
# FORMAT into OUT until the final report, fed by a producer reading CAPTURE.
# Sets producer_rc and subscriber_rc.
replay() {
    local capture=$1 out=$2 format=$3
    shift 3
    local port
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format "$format" --until-final >"$out" 2>"$out.err" &
    local sub=$!
    "$PRODUCER" -r "$capture" --publish "tcp://127.0.0.1:$port" --wait-subscribers 1 --wait-timeout 10 "$@" 2>"$out.producer.err"
    producer_rc=$?
    if [ "$producer_rc" -eq 0 ] || [ "$producer_rc" -eq 3 ]; then
        wait_pid "$sub" 10
        subscriber_rc=$?
    else
        sleep 0.3
        kill "$sub" 2>/dev/null
        wait "$sub" 2>/dev/null
        subscriber_rc=-1
    fi
}

summary() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
