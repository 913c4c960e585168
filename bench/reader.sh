#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# reader.sh: the capture-file reader against libpcap's bare loop and cat, and
# the producer, on one generated capture, in the same run (issue 13).
#
#   bench/reader.sh                    wall times: 5 alternating runs each
#   bench/reader.sh --callgrind        instructions per packet (valgrind), a
#                                      figure a loaded machine does not skew
#   options: --packets N (default 3000000; 300000 with --callgrind)
#            --runs R (default 5) --seed S (default 1)
#
# Programs, each reading the same file (warm page cache):
#   cat FILE > /dev/null            the physical floor: read() and nothing else
#   pcap_floor FILE                 libpcap's bare pcap_next_ex loop
#   reader_floor FILE               capture_file alone
#   reader_floor --decode FILE      capture_file + tw_packet_decode: the goal is
#                                   at most 0.7x pcap_floor
#   tcpwin-producer -r FILE         the whole producer (no subscriber)
# Timed runs alternate (cat, floor, reader, decode, producer, cat, ...), so a
# machine that slows down mid-run slows all of them alike. Prints the median
# wall time of each and its ratio to pcap_floor's median. Builds Release into
# build-bench/ (-DTCPWIN_BENCH=ON) and writes captures to bench/out/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out
BUILD=$ROOT/build-bench
PACKETS=
RUNS=5
SEED=1
CALLGRIND=0
while [[ $# -gt 0 ]]; do
    case $1 in
    --packets) PACKETS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --callgrind) CALLGRIND=1; shift ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "reader.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done
[[ -n $PACKETS ]] || PACKETS=$((CALLGRIND ? 300000 : 3000000))
for n in "$PACKETS" "$RUNS" "$SEED"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "reader.sh: '$n' is not a positive number" >&2; exit 2; }
done

mkdir -p "$OUT" "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTCPWIN_TESTS=OFF -DTCPWIN_BENCH=ON \
    >"$BUILD/reader-configure.log" 2>&1 || { cat "$BUILD/reader-configure.log" >&2; exit 1; }
cmake --build "$BUILD" --target tcpwin-producer gen_capture pcap_floor reader_floor \
    >"$BUILD/reader-build.log" 2>&1 || { tail -20 "$BUILD/reader-build.log" >&2; exit 1; }
CAP=$OUT/reader-$PACKETS-s$SEED.pcap
if [[ ! -s $CAP || $BUILD/bench/gen_capture -nt $CAP ]]; then
    "$BUILD/bench/gen_capture" --seed "$SEED" --packets "$PACKETS" --out "$CAP.tmp" 2>"$CAP.gen.txt"
    mv "$CAP.tmp" "$CAP"
fi
echo "capture: $CAP ($(stat -c %s "$CAP") bytes, $PACKETS packets)"

PORT=$((20000 + RANDOM % 20000))
NAMES=(cat pcap_floor reader_floor "reader_floor --decode" tcpwin-producer)
command_of() {  # command_of INDEX: sets CMD to program INDEX's command line
    case $1 in
    0) CMD=(cat "$CAP") ;;
    1) CMD=("$BUILD/bench/pcap_floor" "$CAP") ;;
    2) CMD=("$BUILD/bench/reader_floor" "$CAP") ;;
    3) CMD=("$BUILD/bench/reader_floor" --decode "$CAP") ;;
    4) CMD=("$BUILD/tcpwin-producer" -r "$CAP" --publish "tcp://127.0.0.1:$PORT" --no-wait) ;;
    esac
}
run_one() {  # run_one INDEX: runs program INDEX on the capture, its output discarded
    command_of "$1"
    "${CMD[@]}" >/dev/null 2>&1
}

if ((CALLGRIND)); then
    command -v valgrind >/dev/null || { echo "reader.sh: valgrind is needed for --callgrind" >&2; exit 1; }
    printf '%-24s %16s %12s %10s\n' program instructions per-packet "x floor"
    floor=
    for i in 1 0 2 3 4; do
        log=$OUT/reader-callgrind-$i.log
        command_of "$i"
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "${CMD[@]}" >/dev/null 2>"$log" || true
        ir=$(grep -o 'Collected : [0-9]*' "$log" | awk '{ print $3 }')
        [[ $i == 1 ]] && floor=$ir
        printf '%-24s %16s %12.1f %10.2f\n' "${NAMES[$i]}" "$ir" "$(bc -l <<<"$ir / $PACKETS")" \
            "$(bc -l <<<"$ir / $floor")"
    done
    exit 0
fi

for i in 0 1 2 3 4; do run_one "$i"; done  # warm the page cache and the binaries
declare -A times
for ((r = 0; r < RUNS; r++)); do
    for i in 0 1 2 3 4; do
        start=$EPOCHREALTIME
        run_one "$i"
        times[$i]+="$(bc -l <<<"$EPOCHREALTIME - $start") "
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
floor=$(median <<<"${times[1]}")
printf '%-24s %10s %10s %12s\n' program "median s" "x floor" "packets/s"
for i in 0 1 2 3 4; do
    m=$(median <<<"${times[$i]}")
    printf '%-24s %10.3f %10.2f %12.0f\n' "${NAMES[$i]}" "$m" "$(bc -l <<<"$m / $floor")" \
        "$(bc -l <<<"$PACKETS / $m")"
done
decode=$(median <<<"${times[3]}")
if (($(bc -l <<<"$decode / $floor <= 0.7"))); then
    echo "goal met: reading + decoding <= 0.7x libpcap's bare loop"
else
    echo "goal missed: reading + decoding > 0.7x libpcap's bare loop"
fi
