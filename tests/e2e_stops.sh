#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# How a producer run ends when its input does not cooperate: a stop signal
# while a FIFO or standard input has no writer yet ends the run like any
# stop (exit 0, an empty final report to the subscribers), a stop while a
# regular file is read ahead says what it did not analyse, and a capture
# damaged inside its very first record is a damaged capture (exit 3, the
# final report published), as the README says.
source "$(dirname "$0")/lib.sh"
sample=$DATA/zeek__206_example_b.pcap

# stopped_while_opening NAME INPUT [redirect]: a producer on INPUT that
# nothing writes to, a subscriber waiting for the final report, SIGTERM.
stopped_while_opening() {
    local name=$1 input=$2 port producer sub
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final \
        >"$work/$name.json" 2>"$work/$name.sub.err" &
    sub=$!
    pids+=("$sub")
    if [ "$input" = - ]; then
        # Standard input that stays open and silent: a FIFO nobody writes to,
        # held open for writing by this script.
        mkfifo "$work/$name.stdin"
        exec 8<>"$work/$name.stdin"
        "$PRODUCER" -r - --publish "tcp://127.0.0.1:$port" <"$work/$name.stdin" 2>"$work/$name.err" &
    else
        "$PRODUCER" -r "$input" --publish "tcp://127.0.0.1:$port" 2>"$work/$name.err" &
    fi
    producer=$!
    pids+=("$producer")
    # The producer binds before it opens its input: the subscriber connects
    # while the input still waits (its subscription follows the handshake,
    # and the producer reads what arrived before it sends the final report).
    wait_listening "$port" 10
    wait_for 10 established "$port"
    kill -TERM "$producer"
    wait_pid "$producer" 10
    check "$name: SIGTERM while opening exits 0" [ $? -eq 0 ]
    check "$name: no error said" [ ! -s "$work/$name.err" ]
    wait_pid "$sub" 10
    check "$name: the subscriber got an empty final report" \
        jq -e 'select(.topic == "tcpwin.report" and .final == true and (.hosts | length) == 0)' \
        "$work/$name.json"
    exec 8<&- 2>/dev/null
}
# established PORT: a connection to PORT is established.
established() { [ -n "$(ss -Htn state established "dport = :$1" 2>/dev/null)" ]; }

mkfifo "$work/fifo"
stopped_while_opening fifo "$work/fifo"
stopped_while_opening stdin -

# A regular file is read ahead on a thread of its own: SIGUSR1 then SIGTERM
# once the first flow record arrived. Over 3,000 s of capture time flows end
# all along the file (idle), so the subscriber's pace holds the producer
# back (it waits for a slow subscriber) and the stop lands while it reads;
# over a short capture most flows end at its end, and a fast producer could
# be done before the signals came. Exit 0, the counters on SIGUSR1, the
# final report, and the packets read ahead but not analysed said, at most
# the ring's 4,096.
: "${GEN_CAPTURE:=$here/../build/tests/gen_capture}"
"$GEN_CAPTURE" --model realistic --packets 300000 --duration-s 3000 --out "$work/big.pcap" \
    2>/dev/null
port=$(free_port)
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final \
    >"$work/big.json" 2>"$work/big.sub.err" &
sub=$!
pids+=("$sub")
"$PRODUCER" -r "$work/big.pcap" --publish "tcp://127.0.0.1:$port" --wait-subscribers 1 \
    --flows --min-pkts 1 2>"$work/big.err" &
producer=$!
pids+=("$producer")
check "stop while reading ahead: the first flow record came" wait_line "$work/big.json" '"tcpwin.flow"' 20
kill -USR1 "$producer"  # taken before the stop even when both are pending
kill -TERM "$producer"
wait_pid "$producer" 20
check "stop while reading ahead: exit 0" [ $? -eq 0 ]
check "stop while reading ahead: SIGUSR1's counters and the summary" \
    [ "$(grep -c 'packets read, ' "$work/big.err")" -ge 2 ]
wait_pid "$sub" 20
check "stop while reading ahead: the final report was published" \
    jq -e 'select(.topic == "tcpwin.report" and .final == true)' "$work/big.json"
not_analysed=$(sed -n 's/.*stopped: \([0-9]*\) packets read ahead were not analysed$/\1/p' "$work/big.err")
# On one allowed CPU the file is read on the analysis thread: nothing read ahead.
if [ "$(nproc)" -ge 2 ]; then
    check "stop while reading ahead: said, at most the ring's 4,096 packets not analysed (${not_analysed:-none})" \
        [ "${not_analysed:-99999}" -le 4096 ]
fi
final_packets=$(jq -r 'select(.topic == "tcpwin.report" and .final == true) | .counters.packets' "$work/big.json")
check "stop while reading ahead: analysed ($final_packets) + not analysed <= 300,000" \
    [ "${final_packets:-0}" -gt 0 -a $((${final_packets:-0} + ${not_analysed:-0})) -le 300000 ]

# Damage inside the first record: a sound file header, then half a record.
head -c 40 "$sample" >"$work/first-record-cut.pcap"
replay "$work/first-record-cut.pcap" "$work/cut.json" json
check "first record cut: exit 3" [ "$producer_rc" -eq 3 ]
check "first record cut: says where" grep -q "damaged after 0 packets" "$work/cut.json.producer.err"
check "first record cut: the final report was published" \
    jq -e 'select(.topic == "tcpwin.report" and .final == true)' "$work/cut.json"
summary
