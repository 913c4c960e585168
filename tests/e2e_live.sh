#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Live capture on loopback: a real TCP connection whose receiver stops
# reading makes the kernel advertise a zero window. tcpwin-producer -i lo
# must list that direction as stalled while it lasts, report the host once
# the connection ends, keep reporting by the wall clock when no packet comes,
# and on SIGINT publish a final report and exit 0. Needs root (CI is root).
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
    echo "skipped: live capture on lo needs root"
    exit 77
fi

port=$(free_port)
zport=$(free_port)
out=$work/live.json
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$zport" print --format json >"$out" 2>"$work/sub.err" &
pids+=($!)
"$PRODUCER" -i lo -f "tcp port $port" --interval 1 --min-pkts 1 --publish "tcp://127.0.0.1:$zport" \
    2>"$work/producer.err" &
producer=$!
pids+=($producer)

# matches JQ_FILTER: true once a line of the output yields something non-empty.
matches() { [ -n "$(jq -c "$1 // empty" "$out" 2>/dev/null)" ]; }

check "reports come by the wall clock with no traffic" \
    wait_for 5 matches 'select(.topic == "tcpwin.report") | .timeUs'

# Least privilege: once the interface is open, the producer (started as
# root) runs as nobody with no capability in any of its threads.
# unprivileged PID: every thread of PID has uid 65534 and no capability.
unprivileged() {
    local task
    for task in /proc/"$1"/task/*; do
        grep -Eq '^Uid:\s+65534\s+65534\s+65534\s+65534$' "$task/status" &&
            grep -Eq '^CapPrm:\s+0+$' "$task/status" && grep -Eq '^CapEff:\s+0+$' "$task/status" &&
            grep -Eq '^CapAmb:\s+0+$' "$task/status" || return 1
    done
    grep -Eq '^NoNewPrivs:\s+1$' "/proc/$1/status"
}
check "started as root: nobody, no capability, once capturing" unprivileged "$producer"
# Started unprivileged with CAP_NET_RAW alone (no NET_ADMIN): it captures,
# then holds nothing.
rawport=$(free_port)
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+net_raw \
    --ambient-caps=-all,+net_raw "$PRODUCER" -i lo -f "tcp port $rawport" \
    --publish "tcp://127.0.0.1:$rawport" 2>"$work/raw.err" &
raw=$!
pids+=($raw)
check "CAP_NET_RAW alone is enough to capture" wait_for 10 unprivileged "$raw"
kill -INT "$raw"
wait_pid "$raw" 10
check "... and it exits 0 on SIGINT" [ $? -eq 0 ]

# A receiver that never reads: nc writes into a FIFO nobody drains (this
# script holds it open for reading, so nc does not block on open), so its
# socket buffer fills and the kernel advertises window 0. No process of the
# connection writes to ctest's pipe, and each is ended by its pid.
mkfifo "$work/undrained"
exec 7<>"$work/undrained"
nc -l 127.0.0.1 "$port" >"$work/undrained" 2>"$work/receiver.err" </dev/null &
receiver=$!
pids+=($receiver)
check "the receiver listens" wait_listening "$port" 10
nc 127.0.0.1 "$port" </dev/zero >/dev/null 2>"$work/sender.err" &
sender=$!
pids+=($sender)

stalled='select(.topic == "tcpwin.report") | .stalled[] | select(.srcIp == "127.0.0.1" and .srcPort == '"$port"')'
check "the zero-window direction is listed as stalled" wait_for 15 matches "$stalled"

# End the connection: the receiver closes with unread data, so a RST goes
# out; the sender then fails its next write and exits.
kill "$receiver"
wait "$receiver" 2>/dev/null
exec 7<&-
host='select(.topic == "tcpwin.report") | .hosts[] | select(.ip == "127.0.0.1" and (.undershootPackets | tonumber) > 0)'
check "once it ends, the host is in the table" wait_for 15 matches "$host"
wait_pid "$sender" 10 >/dev/null 2>&1

kill -INT "$producer"
wait_pid "$producer" 10
check "SIGINT: producer exits 0" [ $? -eq 0 ]
check "SIGINT: a final report was published" \
    wait_for 5 matches 'select(.topic == "tcpwin.report" and .final == true)'
echo "stalled since: $(jq -r "$stalled | .sinceUs" "$out" | head -1), host row: $(jq -c "$host | [.pktTcpCnt, .winRelThCnt]" "$out" | tail -1)"
summary
