#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# bench/run.sh: the tcpwin performance benchmark (not a test: it reports, it
# does not fail on a slow machine). See bench/README.md for what each section
# measures. One command from anywhere:
#
#   bench/run.sh [--packets N] [--runs N] [--seed N] [--quick]
#   BENCH_PACKETS=200000 bench/run.sh     # a small check that the script works
#
# Sections: build (Release), capture generation, file throughput against the
# bare pcap_next_ex floor, the traffic matrix (the performance issue's rows:
# producer / floor and / cat, packets/s, peak RSS), tshark comparison on a
# 1 M-packet capture, memory
# with 1 M concurrent connections, live capture on a veth pair in a private
# network namespace. A section whose tools or flags are missing prints
# "skipped: <why>" and the others still run.
set -euo pipefail
export LC_ALL=C

usage() {
    cat <<'EOF'
usage: bench/run.sh [--packets N] [--runs N] [--seed N] [--quick]
  --packets N   packets in the main capture and each matrix row (default 10000000,
                or $BENCH_PACKETS)
  --runs N      timed runs per program, alternating; the median is shown (default 5,
                or $BENCH_RUNS)
  --seed N      generator seed (default 1)
  --quick       1 M packets and 3 runs, unless given explicitly
Writes its captures to bench/out/ (kept between runs; regenerated when the
generator changes) and builds into build-bench/.
EOF
}

PACKETS=${BENCH_PACKETS:-}
RUNS=${BENCH_RUNS:-}
SEED=1
QUICK=0
while (($#)); do
    case $1 in
    --packets) PACKETS=${2:?--packets wants a number}; shift 2 ;;
    --runs) RUNS=${2:?--runs wants a number}; shift 2 ;;
    --seed) SEED=${2:?--seed wants a number}; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
if ((QUICK)); then
    PACKETS=${PACKETS:-1000000}
    RUNS=${RUNS:-3}
fi
PACKETS=${PACKETS:-10000000}
RUNS=${RUNS:-5}
for n in "$PACKETS" "$RUNS" "$SEED"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "bench/run.sh: '$n' is not a number" >&2; exit 2; }
done
((RUNS >= 1 && PACKETS >= 1)) || { echo "bench/run.sh: --runs and --packets must be >= 1" >&2; exit 2; }

SUBSET_PACKETS=$((PACKETS < 1000000 ? PACKETS : 1000000))
CONCURRENT=1000000
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
BUILD=$ROOT/build-bench
cd "$ROOT"
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/tcpwin-bench.XXXXXX)

# Every background process we start is recorded here and ended by its PID.
BG_PIDS=()
NETNS=""
cleanup() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $NETNS ]]; then
        ip netns del "$NETNS" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section() { printf '\n== %s ==\n' "$*"; }
note() { printf '%s\n' "$*"; }
skipped() { printf 'skipped: %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- tools
# Debian package for each command the benchmark uses.
declare -A PACKAGE_OF=(
    [cmake]=cmake [pkg-config]=pkg-config [cc]=gcc [jq]=jq [tcpdump]=tcpdump
    [tshark]=tshark [editcap]=wireshark-common [capinfos]=wireshark-common
    [tcpreplay]=tcpreplay [ip]=iproute2 [ss]=iproute2
)
install_missing_tools() {
    local missing=() cmd
    for cmd in "${!PACKAGE_OF[@]}"; do
        have "$cmd" || missing+=("${PACKAGE_OF[$cmd]}")
    done
    [[ -x /usr/bin/time ]] || missing+=(time)
    ((${#missing[@]})) || return 0
    local packages
    packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
    if [[ $EUID -ne 0 ]] || ! have apt-get; then
        note "missing tools ($packages) and cannot install them (needs root and apt-get);"
        note "the sections that need them will be skipped"
        return 0
    fi
    note "installing: $packages"
    # shellcheck disable=SC2086
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages; } \
        >"$TMP/apt.log" 2>&1; then
        note "apt-get failed (see below); the sections that need these tools will be skipped"
        tail -5 "$TMP/apt.log"
    fi
}

# ---------------------------------------------------------------- helpers
# timed NAME CMD...: runs CMD under /usr/bin/time -v with stdout/stderr in
# $TMP/NAME.{out,err}; sets T_SECONDS (wall clock, microsecond resolution)
# and T_RSS_KIB. Returns CMD's exit status.
T_SECONDS=0
T_RSS_KIB=0
timed() {
    local name=$1 start end rc=0
    shift
    start=$EPOCHREALTIME
    /usr/bin/time -v -o "$TMP/$name.time" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
    end=$EPOCHREALTIME
    T_SECONDS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f", b - a }')
    T_RSS_KIB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$TMP/$name.time")
    T_RSS_KIB=${T_RSS_KIB:-0}
    # CPU seconds of every thread (the producer reads a file on a second one).
    T_CPU=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.3f", s }' "$TMP/$name.time")
    return "$rc"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# A TCP port nobody listens on, in the current network namespace.
free_port() {
    local port i
    for ((i = 0; i < 100; i++)); do
        port=$((20000 + RANDOM % 40000))
        if ! ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then
            echo "$port"
            return 0
        fi
    done
    echo "bench/run.sh: no free TCP port found in 100 tries" >&2
    return 1
}

# wait_pid PID SECONDS: waits for a background process, killing it when it
# does not end in time. Returns its exit status.
wait_pid() {
    local pid=$1 limit=$2 i rc=0
    for ((i = 0; i < limit * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        note "warning: process $pid still running after ${limit} s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || rc=$?
    forget_pid "$pid"
    return "$rc"
}
# stop_pids PID...: SIGINT, then waits (and SIGKILL after 10 s).
stop_pids() {
    local pid
    for pid in "$@"; do
        kill -INT "$pid" 2>/dev/null || true
        wait_pid "$pid" 10 || true
    done
}
# Drops a PID that was waited for, so cleanup never signals a reused one.
forget_pid() {
    local kept=() p
    for p in "${BG_PIDS[@]}"; do
        [[ $p == "$1" ]] || kept+=("$p")
    done
    BG_PIDS=("${kept[@]}")
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
mpps() { awk -v p="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.2f", p / s / 1e6; else print "-" }'; }

table_header() {
    printf '%-34s %10s %10s %10s %12s %10s %8s\n' name "median s" "min s" "max s" "Mpackets/s" \
        "peak MiB" "ratio"
}
# table_row NAME PACKETS FLOOR_MEDIAN RSS_KIB SECONDS...
table_row() {
    local name=$1 packets=$2 floor=$3 rss=$4 med lo hi ratio
    shift 4
    med=$(median "$@")
    lo=$(printf '%s\n' "$@" | sort -g | head -1)
    hi=$(printf '%s\n' "$@" | sort -g | tail -1)
    ratio=$(awk -v a="$med" -v b="$floor" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')
    printf '%-34s %10.3f %10.3f %10.3f %12s %10s %8s\n' "$name" "$med" "$lo" "$hi" \
        "$(mpps "$packets" "$med")" "$(mib "$rss")" "$ratio"
}

# ---------------------------------------------------------------- build
section "setup"
install_missing_tools
for tool in cmake cc jq; do
    have "$tool" || { echo "bench/run.sh: '$tool' is required and missing" >&2; exit 1; }
done
[[ -x /usr/bin/time ]] || { echo "bench/run.sh: /usr/bin/time (package time) is required" >&2; exit 1; }
note "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo) x $(nproc)"
note "kernel: $(uname -r); packets: $PACKETS; runs: $RUNS; seed: $SEED"

section "build (Release)"
PRODUCER=$BUILD/tcpwin-producer
SUBSCRIBER=$BUILD/tcpwin-subscriber
PRODUCER_OK=0
mkdir -p "$BUILD"
if cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTCPWIN_TESTS=OFF -DTCPWIN_BENCH=ON \
    >"$BUILD/bench-configure.log" 2>&1 &&
    cmake --build "$BUILD" -j "$(nproc)" --target tcpwin-producer tcpwin-subscriber \
        >"$BUILD/bench-build.log" 2>&1; then
    PRODUCER_OK=1
    note "built $PRODUCER and $SUBSCRIBER"
else
    note "the project did not build (logs: $BUILD/bench-configure.log, $BUILD/bench-build.log):"
    tail -5 "$BUILD/bench-build.log" 2>/dev/null || tail -5 "$BUILD/bench-configure.log"
fi
# The bench tools come from the project build (TCPWIN_BENCH=ON adds bench/),
# otherwise from bench/ alone (it builds standalone).
TOOLS=$BUILD/bench
if ! { ((PRODUCER_OK)) && cmake --build "$BUILD" --target gen_capture pcap_floor flow_stall \
    >>"$BUILD/bench-build.log" 2>&1; }; then
    TOOLS=$BUILD-tools
    mkdir -p "$TOOLS"
    cmake -S "$ROOT/bench" -B "$TOOLS" -DCMAKE_BUILD_TYPE=Release >"$TOOLS/bench-configure.log" 2>&1 ||
        { cat "$TOOLS/bench-configure.log" >&2; exit 1; }
    cmake --build "$TOOLS" -j "$(nproc)" >"$TOOLS/bench-build.log" 2>&1 ||
        { cat "$TOOLS/bench-build.log" >&2; exit 1; }
fi
GEN=$TOOLS/gen_capture
FLOOR=$TOOLS/pcap_floor
note "built $GEN and $FLOOR"
if ((PRODUCER_OK)); then
    PRODUCER_HELP=$("$PRODUCER" --help 2>&1 || true)
else
    PRODUCER_HELP=""
fi
producer_has() { grep -q -- "$1" <<<"$PRODUCER_HELP"; }

# ---------------------------------------------------------------- captures
# generate FILE ARGS...: runs the generator unless FILE exists and is newer
# than the generator binary; its summary goes to FILE.gen.txt.
generate() {
    local file=$1
    shift
    if [[ -s $file && -s $file.gen.txt && $file -nt $GEN ]]; then
        note "reusing $file"
    else
        local start=$EPOCHREALTIME
        "$GEN" --seed "$SEED" --out "$file.tmp" "$@" 2>"$file.gen.txt"
        mv "$file.tmp" "$file"
        note "generated $file in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
    fi
    note "  $(sed 's/^gen_capture: //' "$file.gen.txt")"
}
gen_value() { grep -o "\\b$2=[0-9.]*" "$1.gen.txt" | cut -d= -f2; }

# The traffic matrix: one row per kind of traffic, as in the performance
# issue. NAME|GENERATOR ARGUMENTS|PRODUCER ARGUMENTS. The realistic mix is
# the main capture; the last row is the older uniform benchmark capture.
MATRIX=(
    "realistic mix|--model realistic|"
    "500,000 concurrent connections|--model realistic --flows 500000|"
    "half IPv6|--model realistic --ipv6-percent 50|"
    "half VLAN-tagged|--model realistic --vlan-percent 50|"
    "3,000 s of capture time|--model realistic --duration-s 3000|"
    "long flows (mean 1,000 packets)|--model realistic --mean-flow-packets 1000|"
    "many hosts (--min-pkts 1)|--model realistic --hosts 6000 --zero-window-percent 5 --duration-s 3000|--min-pkts 1"
    "old bench capture (uniform)|--model uniform|"
)
# matrix_file ROW: the capture of a matrix row.
matrix_file() { printf '%s/matrix-%s-%s-s%s.pcap' "$OUT" "$1" "$PACKETS" "$SEED"; }

section "captures"
CAP=$OUT/realistic-$PACKETS-s$SEED.pcap
SUBSET=$OUT/realistic-$SUBSET_PACKETS-s$SEED.pcap
CONC=$OUT/concurrent-$CONCURRENT-s$SEED.pcap
generate "$CAP" --model realistic --packets "$PACKETS"
[[ $SUBSET == "$CAP" ]] || generate "$SUBSET" --model realistic --packets "$SUBSET_PACKETS"
generate "$CONC" --concurrent-flows "$CONCURRENT"
for ((row = 1; row < ${#MATRIX[@]}; row++)); do
    IFS='|' read -r _ gen_args _ <<<"${MATRIX[row]}"
    # shellcheck disable=SC2086
    generate "$(matrix_file "$row")" --packets "$PACKETS" $gen_args
done
note "main capture: $(du -h "$CAP" | cut -f1), $(awk '/MemAvailable/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo) GiB memory available"

# warm FILE: reads it once so every timed run finds it in the page cache.
warm() { cat "$1" >/dev/null; }

# ---------------------------------------------------------------- producer runs
# observe NAME JSON PRODUCER-ARGS...: runs the producer with a JSON-printing
# subscriber on a private port and keeps everything the subscriber printed.
# The producer waits for the subscription, and reading a file it waits for a
# slow subscriber, so nothing is lost. Returns the producer's exit status.
observe() {
    local name=$1 json=$2 port sub rc=0
    shift 2
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final \
        >"$json" 2>"$TMP/$name.sub.err" &
    sub=$!
    BG_PIDS+=("$sub")
    "$PRODUCER" "$@" --publish "tcp://127.0.0.1:$port" --wait-subscribers 1 \
        >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
    # The subscriber exits after the final report; 30 s is a generous bound.
    wait_pid "$sub" 30 || note "warning: the subscriber failed ($name): $(tail -1 "$TMP/$name.sub.err")"
    return "$rc"
}
# The last report marked final, as one JSON object (null when missing).
final_report() {
    local line
    line=$(jq -c 'select(.topic == "tcpwin.report" and .final == true)' "$1" 2>/dev/null | tail -1) ||
        true
    echo "${line:-null}"
}
counter() { jq -r ".counters.$2 // \"?\"" <<<"$1"; }

# ---------------------------------------------------------------- file throughput
section "file throughput: $CAP"
FLOOR_S=() PRODUCER_S=() TCPDUMP_S=()
FLOOR_RSS=0 PRODUCER_RSS=0 TCPDUMP_RSS=0
PRODUCER_FAILED=""
if ((!PRODUCER_OK)); then
    skipped "tcpwin-producer did not build; only the floor and tcpdump are measured"
fi
warm "$CAP"
max() { ((${1:-0} > ${2:-0})) && echo "$1" || echo "${2:-0}"; }
for ((run = 1; run <= RUNS; run++)); do
    timed floor "$FLOOR" "$CAP" || { cat "$TMP/floor.err" >&2; exit 1; }
    FLOOR_S+=("$T_SECONDS")
    FLOOR_RSS=$(max "$T_RSS_KIB" "$FLOOR_RSS")
    if ((PRODUCER_OK)) && [[ -z $PRODUCER_FAILED ]]; then
        port=$(free_port)
        if timed producer "$PRODUCER" -r "$CAP" --publish "tcp://127.0.0.1:$port" --no-wait; then
            PRODUCER_S+=("$T_SECONDS")
            PRODUCER_RSS=$(max "$T_RSS_KIB" "$PRODUCER_RSS")
        else
            PRODUCER_FAILED="tcpwin-producer -r failed: $(tail -3 "$TMP/producer.err")"
        fi
    fi
    if have tcpdump; then
        timed tcpdump tcpdump -n -r "$CAP" -w /dev/null || { cat "$TMP/tcpdump.err" >&2; exit 1; }
        TCPDUMP_S+=("$T_SECONDS")
        TCPDUMP_RSS=$(max "$T_RSS_KIB" "$TCPDUMP_RSS")
    fi
    note "run $run/$RUNS: floor ${FLOOR_S[-1]} s${PRODUCER_S:+, producer ${PRODUCER_S[-1]} s}${TCPDUMP_S:+, tcpdump ${TCPDUMP_S[-1]} s}"
done
floor_packets=$(grep -o 'packets=[0-9]*' "$TMP/floor.out" | cut -d= -f2)
[[ $floor_packets == "$PACKETS" ]] ||
    note "warning: the floor read $floor_packets packets, the generator wrote $PACKETS"
FLOOR_MED=$(median "${FLOOR_S[@]}")
echo
table_header
table_row "pcap_next_ex floor" "$PACKETS" "$FLOOR_MED" "$FLOOR_RSS" "${FLOOR_S[@]}"
if ((${#PRODUCER_S[@]})) && [[ -z $PRODUCER_FAILED ]]; then
    table_row "tcpwin-producer -r" "$PACKETS" "$FLOOR_MED" "$PRODUCER_RSS" "${PRODUCER_S[@]}"
fi
((${#TCPDUMP_S[@]})) &&
    table_row "tcpdump -r -w /dev/null (ref)" "$PACKETS" "$FLOOR_MED" "$TCPDUMP_RSS" "${TCPDUMP_S[@]}"
echo "(median of $RUNS alternating runs; ratio = median / floor median; peak MiB = max over runs)"
[[ -n $PRODUCER_FAILED ]] && skipped "$PRODUCER_FAILED"
if ((${#PRODUCER_S[@]})) && [[ -z $PRODUCER_FAILED ]]; then
    PRODUCER_MED=$(median "${PRODUCER_S[@]}")
    awk -v p="$PRODUCER_MED" -v f="$FLOOR_MED" -v n="$PACKETS" 'BEGIN {
        r = p / f; pps = n / p
        printf "goal producer/floor <= 1.30: %s (%.3f)\n", (r <= 1.3 ? "met" : "NOT met"), r
        printf "goal producer >= 10 M packets/s: %s (%.2f M)\n", (pps >= 1e7 ? "met" : "NOT met"), pps / 1e6
    }'
    # One untimed run with a subscriber: did the producer see every packet?
    if observe main "$TMP/main.json" -r "$CAP"; then
        final=$(final_report "$TMP/main.json")
        note "final report: packets $(counter "$final" packets), tcpPackets $(counter "$final" tcpPackets)," \
            "flowsEnded $(counter "$final" flowsEnded), flowsEvicted $(counter "$final" flowsEvicted)," \
            "hosts $(jq '.hosts | length' <<<"$final" 2>/dev/null || echo '?')," \
            "malformed $(counter "$final" malformedPackets)"
        [[ $(counter "$final" packets) == "$PACKETS" ]] ||
            note "warning: the producer's final report does not count $PACKETS packets"
    else
        note "warning: the observed producer run failed: $(tail -3 "$TMP/main.err")"
    fi
fi

# ---------------------------------------------------------------- matrix
# matrix_row NAME FILE PRODUCER-ARGS...: RUNS alternating runs of the floor,
# cat and the producer on FILE; prints one row of medians.
matrix_row() {
    local name=$1 file=$2 run port floor_s=() cat_s=() prod_s=() cpu_s=() one_s=() rss=0 failed=""
    shift 2
    warm "$file"
    for ((run = 1; run <= RUNS; run++)); do
        timed floor "$FLOOR" "$file" || { cat "$TMP/floor.err" >&2; exit 1; }
        floor_s+=("$T_SECONDS")
        timed cat bash -c 'exec cat "$1" >/dev/null' cat "$file" ||
            { cat "$TMP/cat.err" >&2; exit 1; }
        cat_s+=("$T_SECONDS")
        port=$(free_port)
        if timed producer "$PRODUCER" -r "$file" --publish "tcp://127.0.0.1:$port" --no-wait "$@"; then
            prod_s+=("$T_SECONDS")
            cpu_s+=("$T_CPU")
            rss=$(max "$T_RSS_KIB" "$rss")
        else
            failed="failed: $(tail -1 "$TMP/producer.err")"
            break
        fi
        port=$(free_port)
        timed producer1 "$PRODUCER" -r "$file" --publish "tcp://127.0.0.1:$port" --no-wait \
            --single-thread "$@" ||
            { failed="--single-thread failed: $(tail -1 "$TMP/producer1.err")"; break; }
        one_s+=("$T_SECONDS")
    done
    if [[ -n $failed ]]; then
        printf '%-34s %s
' "$name" "$failed"
        return 0
    fi
    local packets f c p u o
    packets=$(grep -o 'packets=[0-9]*' "$TMP/floor.out" | cut -d= -f2)
    f=$(median "${floor_s[@]}") c=$(median "${cat_s[@]}") p=$(median "${prod_s[@]}")
    u=$(median "${cpu_s[@]}") o=$(median "${one_s[@]}")
    awk -v n="$name" -v k="$packets" -v f="$f" -v c="$c" -v p="$p" -v r="$rss" -v u="$u" \
        -v o="$o" 'BEGIN {
        printf "%-34s %10d %9.3f %9.3f %9.3f %8.2f %8.2f %9.2f %9.1f %8.2f %8.2f\n",
            n, k, f, c, p, p / f, (c > 0 ? p / c : 0), k / p / 1e6, r / 1024, u / f, o / f }'
}

section "traffic matrix ($PACKETS packets per row, median of $RUNS alternating runs)"
if ((!PRODUCER_OK)) || [[ -n $PRODUCER_FAILED ]]; then
    skipped "tcpwin-producer is not usable (see above)"
else
    printf '%-34s %10s %9s %9s %9s %8s %8s %9s %9s %8s %8s\n' traffic packets "floor s" "cat s" \
        "prod. s" "/floor" "/cat" "Mpkt/s" "peak MiB" "CPU/fl." "1thr/fl."
    for ((row = 0; row < ${#MATRIX[@]}; row++)); do
        IFS='|' read -r name _ prod_args <<<"${MATRIX[row]}"
        file=$CAP
        ((row == 0)) || file=$(matrix_file "$row")
        # shellcheck disable=SC2086
        matrix_row "$name" "$file" $prod_args
    done
    note "(/floor: producer median / pcap_next_ex floor median; /cat: producer / cat FILE >/dev/null;"
    note " goals: realistic mix <= 1.3, every row <= 1.6, long flows <= 1.0; peak MiB: the producer's;"
    note " CPU/fl.: the producer's CPU seconds, both threads, / floor; 1thr/fl.: --single-thread / floor)"
fi

# ---------------------------------------------------------------- tshark
section "tshark comparison: $SUBSET"
if ! have tshark; then
    skipped "tshark is not installed"
elif ((!PRODUCER_OK)) || [[ -n $PRODUCER_FAILED ]]; then
    skipped "tcpwin-producer is not usable (see above)"
else
    warm "$SUBSET"
    subset_s=()
    for ((run = 1; run <= RUNS; run++)); do
        port=$(free_port)
        timed producer "$PRODUCER" -r "$SUBSET" --publish "tcp://127.0.0.1:$port" --no-wait ||
            { cat "$TMP/producer.err" >&2; exit 1; }
        subset_s+=("$T_SECONDS")
    done
    producer_subset_s=$(median "${subset_s[@]}")
    # tshark takes tens of seconds on a million packets: one run.
    timed tshark bash -c "tshark -n -r '$SUBSET' -Y 'tcp.window_size_value == 0' -T fields -e frame.number | wc -l" ||
        { cat "$TMP/tshark.err" >&2; exit 1; }
    tshark_s=$T_SECONDS
    tshark_zero=$(tr -d ' ' <"$TMP/tshark.out")
    gen_zero=$(gen_value "$SUBSET" zero_window)
    # Every flow ends by the end of the capture, so the per-flow undershoot
    # counts (threshold 1: raw window 0) add up to the zero-window packets.
    if observe subset "$TMP/subset.json" -r "$SUBSET" --flows; then
        producer_zero=$(jq -s '[.[] | select(.topic == "tcpwin.flow")] | unique_by(.header.sequence)
            | map(.undershootPackets | tonumber) | add // 0' "$TMP/subset.json") || producer_zero="?"
        flow_records=$(jq -s '[.[] | select(.topic == "tcpwin.flow")] | unique_by(.header.sequence)
            | length' "$TMP/subset.json") || flow_records="?"
        flows_ended=$(counter "$(final_report "$TMP/subset.json")" flowsEnded)
    else
        producer_zero="? (producer failed: $(tail -1 "$TMP/subset.err"))"
        flow_records="?" flows_ended="?"
    fi
    printf '%-44s %10s %14s\n' name seconds "zero-window"
    printf '%-44s %10.3f %14s\n' "tshark -Y 'tcp.window_size_value == 0'" "$tshark_s" "$tshark_zero"
    printf '%-44s %10.3f %14s\n' "tcpwin-producer -r (median of $RUNS)" "$producer_subset_s" "$producer_zero"
    printf '%-44s %10s %14s\n' "gen_capture (written)" "-" "$gen_zero"
    note "flow records received: $flow_records (flowsEnded in the final report: $flows_ended)"
    awk -v t="$tshark_s" -v p="$producer_subset_s" 'BEGIN {
        printf "speed ratio tshark/producer: %.1f (the producer is %.1fx faster)\n", t / p, t / p }'
    if [[ $tshark_zero == "$gen_zero" && $producer_zero == "$gen_zero" ]]; then
        note "zero-window counts agree: $gen_zero"
    else
        note "zero-window counts DISAGREE: tshark $tshark_zero, producer $producer_zero, generator $gen_zero"
    fi
fi

# ---------------------------------------------------------------- growth stalls
section "flow table growth: the longest batch while 2,000,000 flows arrive"
if [[ ! -x $TOOLS/flow_stall ]]; then
    skipped "flow_stall is built only with the project (TCPWIN_BENCH=ON)"
else
    for ((run = 1; run <= RUNS; run++)); do
        "$TOOLS/flow_stall" --flows 2000000 || { echo "bench/run.sh: flow_stall failed" >&2; exit 1; }
    done
    note "(wall time of one tw_flow_table_packets batch of 128 new flows; a table that copies"
    note " itself to grow shows that copy as one long batch)"
fi

# ---------------------------------------------------------------- memory
section "memory: $CONCURRENT concurrent connections ($((2 * CONCURRENT)) one-directional flows)"
if ((!PRODUCER_OK)) || [[ -n $PRODUCER_FAILED ]]; then
    skipped "tcpwin-producer is not usable (see above)"
elif ! producer_has --max-flows; then
    skipped "tcpwin-producer has no --max-flows"
else
    warm "$CONC"
    # The documented cost of one flow, from README.md's "Memory bounds" table
    # ("| flows | ... | 128 + 17 (index), ...; + 104 for a flow with stall
    # figures"): the sum of the numbers before the first ';' (the stall entry
    # is paid only by the few flows that stall).
    per_flow=$(awk -F'|' '$2 ~ /^ *flows *$/ { cell = $4; sub(/;.*/, "", cell)
        n = split(cell, w, /[^0-9]+/); t = 0
        for (i = 1; i <= n; i++) t += w[i]; print t; exit }' "$ROOT/README.md" 2>/dev/null) || true
    [[ $per_flow =~ ^[1-9][0-9]*$ ]] || per_flow=""
    printf '%-24s %10s %16s %12s %12s %12s\n' run "peak MiB" "flow table MiB" "max active" \
        evicted "bytes/flow"
    for max_flows in $((2 * CONCURRENT)) $CONCURRENT; do
        port=$(free_port)
        timed memory "$PRODUCER" -r "$CONC" --max-flows "$max_flows" \
            --publish "tcp://127.0.0.1:$port" --no-wait ||
            { cat "$TMP/memory.err" >&2; exit 1; }
        rss=$T_RSS_KIB
        # Untimed, with a subscriber: how many flows were alive at once.
        active="?" evicted="?"
        if observe memory-observed "$TMP/memory.json" -r "$CONC" --max-flows "$max_flows"; then
            active=$(jq -s '[.[] | select(.topic == "tcpwin.report") | .counters.flowsActive
                | tonumber] | max // "?"' "$TMP/memory.json") || active="?"
            evicted=$(counter "$(final_report "$TMP/memory.json")" flowsEvicted)
        fi
        bound="?"
        [[ -n $per_flow ]] && bound=$(mib $((per_flow * max_flows / 1024)))
        printf '%-24s %10s %16s %12s %12s %12s\n' "--max-flows $max_flows" "$(mib "$rss")" \
            "$bound" "$active" "$evicted" \
            "$(awk -v r="$rss" -v m="$max_flows" 'BEGIN { printf "%.0f", r * 1024 / m }')"
    done
    note "(flow table MiB = --max-flows x ${per_flow:-?} bytes, the per-flow cost documented in"
    note " README.md; peak RSS adds the host table, ZeroMQ and the libraries; bytes/flow ="
    note " peak RSS / --max-flows)"
fi

# ---------------------------------------------------------------- live
section "live capture: tcpreplay --topspeed of $SUBSET on a veth pair"
live_skip=""
if [[ $EUID -ne 0 ]]; then
    live_skip="needs root (network namespace, veth pair, packet sockets)"
elif ! have ip || ! have ss; then
    live_skip="iproute2 (ip, ss) is not installed"
elif ! have tcpreplay; then
    live_skip="tcpreplay is not installed"
elif ! have tcpdump; then
    live_skip="tcpdump is not installed"
fi
if [[ -z $live_skip ]]; then
    NETNS=twb$$
    VETH_TX=twbtx$$
    VETH_RX=twbrx$$
    if ! ip netns add "$NETNS" 2>"$TMP/netns.err"; then
        live_skip="cannot create a network namespace: $(cat "$TMP/netns.err")"
        NETNS=""
    fi
fi
nsx() { ip netns exec "$NETNS" "$@"; }
if [[ -z $live_skip ]]; then
    # Everything happens inside the private namespace: both veth ends, the
    # capture, the replay and the ZeroMQ socket (on the namespace's own
    # loopback). IPv6 is off so the kernel adds no packets of its own.
    nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    nsx ip link set lo up
    nsx ip link add "$VETH_TX" type veth peer name "$VETH_RX"
    nsx ip link set "$VETH_TX" up
    nsx ip link set "$VETH_RX" up
fi

# wait_capture_ready PID: true once PID holds a packet socket in the namespace.
wait_capture_ready() {
    local i
    for ((i = 0; i < 100; i++)); do
        nsx ss -H -0p 2>/dev/null | grep -q "pid=$1," && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
# replay NAME: replays the subset into the namespace at top speed; sets
# R_SENT and R_PPS.
replay() {
    nsx tcpreplay --topspeed -i "$VETH_TX" "$SUBSET" >"$TMP/$1.replay" 2>&1 ||
        { cat "$TMP/$1.replay" >&2; return 1; }
    R_SENT=$(awk '/Successful packets:/ { print $3 }' "$TMP/$1.replay")
    R_PPS=$(awk '/Rated:/ { printf "%.0f", $(NF - 1) }' "$TMP/$1.replay")
}
# live_row NAME REPLAYED PPS CAPTURED DROPS LOST, in run $LIVE_RUN.
LIVE_RUN=1
live_row() {
    local name=$1
    shift
    printf '%-30s %4s %10s %12s %10s %12s %14s\n' "$name" "$LIVE_RUN" "$@"
}

# live_tcpdump NAME ARGS...: tcpdump -w /dev/null during one replay.
live_tcpdump() {
    local name=$1 pid captured drops
    shift
    # Started directly (not through nsx): ip netns exec execs the program, so
    # $! is its PID.
    ip netns exec "$NETNS" tcpdump -n -i "$VETH_RX" -w /dev/null "$@" \
        >"$TMP/$name.out" 2>"$TMP/$name.err" &
    pid=$!
    BG_PIDS+=("$pid")
    if ! wait_capture_ready "$pid"; then
        live_row "$name" "failed: $(tail -1 "$TMP/$name.err")"
        stop_pids "$pid"
        return 0
    fi
    sleep 0.5
    local replayed=1
    replay "$name" || replayed=0
    sleep 1  # let the capture drain before stopping it
    kill -INT "$pid" 2>/dev/null || true
    wait_pid "$pid" 30 || true
    ((replayed)) || { live_row "$name" "tcpreplay failed"; return 0; }
    captured=$(awk '/packets captured/ { print $1 }' "$TMP/$name.err")
    drops=$(awk '/packets dropped by kernel/ { print $1 }' "$TMP/$name.err")
    if [[ $captured =~ ^[0-9]+$ ]]; then
        live_row "$name" "$R_SENT" "$R_PPS" "$captured" "$drops" "$((R_SENT - captured))"
        LIVE_LOST[$name]+=" $((R_SENT - captured))"
    else
        live_row "$name" "$R_SENT" "$R_PPS" "no statistics" "-" "-"
    fi
}

# live_producer NAME ARGS...: the producer on the interface during one
# replay, stopped with SIGINT; its final report has the counters.
live_producer() {
    local name=$1 pid sub json=$TMP/$1.json final captured drops port=5556 i
    shift
    ip netns exec "$NETNS" "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json \
        --until-final >"$json" 2>"$TMP/$name.sub.err" &
    sub=$!
    BG_PIDS+=("$sub")
    ip netns exec "$NETNS" "$PRODUCER" -i "$VETH_RX" --publish "tcp://127.0.0.1:$port" \
        --wait-subscribers 1 "$@" \
        >"$TMP/$name.out" 2>"$TMP/$name.err" &
    pid=$!
    BG_PIDS+=("$pid")
    if ! wait_capture_ready "$pid"; then
        live_row "$name" "failed: $(tail -1 "$TMP/$name.err")"
        stop_pids "$pid" "$sub"
        return 0
    fi
    # The producer opens the interface before it waits for the subscriber.
    for ((i = 0; i < 100; i++)); do
        nsx ss -Htn state established "( sport = :$port )" 2>/dev/null | grep -q . && break
        sleep 0.1
    done
    sleep 0.5
    local replayed=1
    replay "$name" || replayed=0
    sleep 1  # let the capture drain before stopping it
    kill -INT "$pid" 2>/dev/null || true
    wait_pid "$pid" 30 || note "warning: $name exited with an error: $(tail -1 "$TMP/$name.err")"
    wait_pid "$sub" 15 || true
    ((replayed)) || { live_row "$name" "tcpreplay failed"; return 0; }
    final=$(final_report "$json")
    captured=$(counter "$final" packets)
    drops=$(counter "$final" captureDrops)
    if [[ $captured =~ ^[0-9]+$ ]]; then
        live_row "$name" "$R_SENT" "$R_PPS" "$captured" "$drops" "$((R_SENT - captured))"
        LIVE_LOST[$name]+=" $((R_SENT - captured))"
    else
        live_row "$name" "$R_SENT" "$R_PPS" "no final report" "-" "-"
    fi
}

declare -A LIVE_LOST=()
if [[ -n $live_skip ]]; then
    skipped "$live_skip"
else
    warm "$SUBSET"
    live_producer_skip=""
    if ((!PRODUCER_OK)) || [[ -n $PRODUCER_FAILED ]]; then
        live_producer_skip="tcpwin-producer is not usable (see above)"
    elif ! producer_has '--interface' || ! producer_has '--immediate'; then
        live_producer_skip="tcpwin-producer has no -i/--interface or --immediate"
    fi
    # Losses vary from one replay to the next on a busy machine, so each
    # capturer gets several replays, alternating, and the medians are compared.
    LIVE_RUNS=$((RUNS < 3 ? RUNS : 3))
    printf '%-30s %4s %10s %12s %10s %12s %14s\n' name run replayed "replay pps" captured \
        "kernel drops" "not captured"
    for ((LIVE_RUN = 1; LIVE_RUN <= LIVE_RUNS; LIVE_RUN++)); do
        live_tcpdump "tcpdump"
        live_tcpdump "tcpdump --immediate-mode" --immediate-mode
        if [[ -z $live_producer_skip ]]; then
            live_producer "tcpwin-producer (TPACKET_V3)"
            live_producer "tcpwin-producer --immediate" --immediate
        fi
    done
    [[ -n $live_producer_skip ]] && skipped "$live_producer_skip"
    note "(not captured = replayed - captured: kernel drops plus anything lost before the socket)"
    for pair in "tcpwin-producer (TPACKET_V3)|tcpdump" "tcpwin-producer --immediate|tcpdump --immediate-mode"; do
        p=${pair%%|*} t=${pair##*|}
        [[ -n ${LIVE_LOST[$p]:-} && -n ${LIVE_LOST[$t]:-} ]] || continue
        # shellcheck disable=SC2086
        lost_p=$(median ${LIVE_LOST[$p]}) lost_t=$(median ${LIVE_LOST[$t]})
        verdict="NOT met"
        awk -v a="$lost_p" -v b="$lost_t" 'BEGIN { exit !(a <= b) }' && verdict="met"
        note "goal $p loses no more than $t: $verdict (median not captured $lost_p vs $lost_t;" \
            "runs:${LIVE_LOST[$p]} vs${LIVE_LOST[$t]})"
    done
fi
echo
note "done"
