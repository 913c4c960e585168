#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Inputs and command lines a user gets wrong or unusual: standard input (from
# cat and from a real tcpdump), a pcapng mixing interfaces, an empty capture,
# missing files and interfaces, bad flags, unusable endpoints, --help.
source "$(dirname "$0")/lib.sh"
sample=$DATA/zeek__206_example_b.pcap
row=$(printf '192.168.72.14\t460\t0.123913')

# stdin_replay OUT COMMAND...: like replay, with COMMAND's output as "-r -".
stdin_replay() {
    local out=$1
    shift
    local port
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --until-final >"$out" &
    local sub=$!
    "$@" | "$PRODUCER" -r - --publish "tcp://127.0.0.1:$port" --wait-subscribers 1
    producer_rc=$?
    wait_pid "$sub" 10
}

stdin_replay "$work/cat.txt" cat "$sample"
check "-r - from cat: exit 0" [ "$producer_rc" -eq 0 ]
check "-r - from cat: the sample's row" grep -qxF "$row" "$work/cat.txt"
stdin_replay "$work/tcpdump.txt" tcpdump -r "$sample" -U -w -
check "-r - from tcpdump -w -: the sample's row" grep -qxF "$row" "$work/tcpdump.txt"

# Standard input left non-blocking by whoever started us (perl here), from a
# writer that pauses: each pause is waited out, not an error.
port=$(free_port)
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --until-final >"$work/nonblock.txt" &
sub=$!
{ sleep 0.5; head -c 1000 "$sample"; sleep 1; tail -c +1001 "$sample"; } |
    perl -MFcntl -e 'fcntl(STDIN, F_SETFL, O_NONBLOCK) or die "fcntl: $!"; exec @ARGV' \
        "$PRODUCER" -r - --publish "tcp://127.0.0.1:$port" --wait-subscribers 1 2>"$work/nonblock.err"
producer_rc=$?
wait_pid "$sub" 10
check "-r - non-blocking, with pauses: exit 0" [ "$producer_rc" -eq 0 ]
check "-r - non-blocking, with pauses: the sample's row" grep -qxF "$row" "$work/nonblock.txt"

# A regular file is read and decoded on a reader thread (read_ahead), a pipe
# on the analysis thread: on a capture of many blocks, realistic traffic
# (short flows, both ends, stalls, IPv6, VLAN, noise), every report and flow
# record (run id aside) must be the same either way and with --single-thread,
# in the same order. (Where the test may run on one CPU only, the producer
# reads on one thread there too, and the comparison holds trivially.)
: "${GEN_CAPTURE:=$here/../build/tests/gen_capture}"
"$GEN_CAPTURE" --model realistic --packets 60000 --duration-s 60 --out "$work/realistic.pcap" \
    2>/dev/null
# every_message OUT INPUT PRODUCER-ARGS...: the JSON of every message, run ids removed.
every_message() {
    local out=$1 input=$2 port sub
    shift 2
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final \
        >"$out.raw" &
    sub=$!
    "$PRODUCER" -r "$input" --publish "tcp://127.0.0.1:$port" --wait-subscribers 1 -q \
        --flows --min-pkts 1 "$@" < <(cat "$work/realistic.pcap")  # a pipe, for "-"
    producer_rc=$?
    wait_pid "$sub" 30
    jq -c 'del(.header.runId)' "$out.raw" >"$out"
}
every_message "$work/threaded.json" "$work/realistic.pcap"
check "reader thread: exit 0" [ "$producer_rc" -eq 0 ]
every_message "$work/single.json" "$work/realistic.pcap" --single-thread
every_message "$work/stdin.json" -
check "reader thread: flow records and reports" [ "$(grep -c '"tcpwin.flow"' "$work/threaded.json")" -gt 1000 ]
check "reader thread: the same messages as --single-thread" cmp -s "$work/threaded.json" "$work/single.json"
check "reader thread: the same messages as standard input" cmp -s "$work/threaded.json" "$work/stdin.json"

# libpcap refuses a pcapng whose interfaces differ; our reader does not (the
# counts are e2e_mixed_captures.sh's).
mergecap -w "$work/mixed.pcapng" "$DATA/pcapplusplus__sll.pcap" "$DATA/zeek__206_example_b.pcap" \
    "$DATA/pcapplusplus__raw_ip.pcap"
"$PRODUCER" -r "$work/mixed.pcapng" --publish "tcp://127.0.0.1:$(free_port)" 2>"$work/mixed.err"
check "pcapng mixing interfaces: exit 0" [ $? -eq 0 ]
check "pcapng mixing interfaces: the start line names both link types" \
    grep -q "reading from file '$work/mixed.pcapng' (pcapng), link-types LINUX_SLL (Linux cooked v1), EN10MB (Ethernet), RAW (Raw IP), snapshot lengths 65535 to 262144$" "$work/mixed.err"
check "pcapng mixing interfaces: packets per interface" \
    grep -q "interface 1 (EN10MB (Ethernet), snapshot length 65535): 1556 packets" "$work/mixed.err"

replay "$DATA/DERIVED__zeek__206_example_b__header-only.pcap" "$work/empty.json" json
check "empty capture: exit 0 and a final report" \
    [ "$producer_rc" -eq 0 -a "$(jq -r 'select(.final) | .counters.packets' "$work/empty.json")" = 0 ]

# The producer binds before it opens its input (so subscribers can connect
# while a FIFO waits for its writer): with the default endpoint, any other
# tcpwin on the host (demo.sh, bench/run.sh and the compose stack all use
# 127.0.0.1:5556) turns these cases into "cannot bind", exit 1 as well. So
# they publish on a free port, and the checks ask for the input's own error.
"$PRODUCER" -r "$work/none.pcap" --publish "tcp://127.0.0.1:$(free_port)" 2>"$work/missing.err"
check "missing file: exit 1, one line" [ $? -eq 1 -a "$(wc -l <"$work/missing.err")" -eq 1 ]
check "missing file: names it" grep -qF "cannot open '$work/none.pcap'" "$work/missing.err"
"$PRODUCER" -i tcpwin-no-such0 --publish "tcp://127.0.0.1:$(free_port)" 2>"$work/iface.err"
rc=$?
# names_interface: the interface's own error, or show what was said instead.
names_interface() {
    grep -q "cannot open interface 'tcpwin-no-such0'" "$work/iface.err" || { cat "$work/iface.err" && false; }
}
check "missing interface: names it" names_interface
check "missing interface: exit 1" [ $rc -eq 1 ]
"$PRODUCER" -r "$sample" --publish "bogus://x" 2>"$work/bind.err"
rc=$?
check "bad endpoint: names it" grep -q "bogus://x" "$work/bind.err"
# A malformed endpoint is bad usage (exit 2), refused by the parser every
# endpoint option shares; an endpoint that cannot be bound is exit 1.
check "bad endpoint: exit 2" [ $rc -eq 2 ]
check "bad endpoint: says what is expected" grep -q "expected tcp://HOST:PORT" "$work/bind.err"
taken=$(free_port)
nc -l 127.0.0.1 "$taken" &
holder=$!
pids+=("$holder")
for _ in $(seq 1 50); do ss -ltn "sport = :$taken" | grep -q LISTEN && break; sleep 0.1; done
"$PRODUCER" -r "$sample" --publish "tcp://127.0.0.1:$taken" 2>"$work/bind2.err"
rc=$?
check "endpoint in use: names it" grep -q "cannot bind 'tcp://127.0.0.1:$taken'" "$work/bind2.err"
check "endpoint in use: exit 1" [ $rc -eq 1 ]
"$SUBSCRIBER" --connect "tcp://127.0.0.1:0" print 2>"$work/connect.err"
check "bad --connect: exit 2" [ $? -eq 2 ]
check "bad --connect: says why" grep -q "port must be 1 to 65535" "$work/connect.err"
"$PRODUCER" -r "$sample" -i lo 2>/dev/null
check "two inputs: exit 2" [ $? -eq 2 ]
"$PRODUCER" -r "$sample" --interval soon 2>/dev/null
check "bad number: exit 2" [ $? -eq 2 ]
"$PRODUCER" --bogus 2>/dev/null
check "unknown producer option: exit 2" [ $? -eq 2 ]
"$PRODUCER" >/dev/null 2>&1
check "producer without arguments: usage, exit 2" [ $? -eq 2 ]
"$SUBSCRIBER" >/dev/null 2>&1
check "subscriber without arguments: usage, exit 2" [ $? -eq 2 ]
"$SUBSCRIBER" dance 2>/dev/null
check "unknown mode: exit 2" [ $? -eq 2 ]
"$SUBSCRIBER" print --format xml 2>/dev/null
check "bad print format: exit 2" [ $? -eq 2 ]
check "producer --help" eval '"$PRODUCER" --help >/dev/null'
check "subscriber --help" eval '"$SUBSCRIBER" --help >/dev/null'
check "producer --version" eval '"$PRODUCER" --version >/dev/null'
check "subscriber print --help" eval '"$SUBSCRIBER" print --help >/dev/null'
check "subscriber forward --help" eval '"$SUBSCRIBER" forward --help >/dev/null'
summary
