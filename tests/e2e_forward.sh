#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# The forward bridge against the real nc (netcat-openbsd), on loopback:
#  1. TCP: every non-empty report of a capture reaches `nc -l` byte-equal
#     with what `print` shows (96 reports), no NUL byte, counters agree;
#  2. a reader taking 1 KiB/s behind nc still gets it all, byte-equal, and the
#     producer is not held back by it;
#  3. the sink is killed and restarted: the bridge logs the loss once,
#     reconnects, and the next run's reports arrive whole on the new sink;
#  4. the sink is absent for 10 s: reports wait in the queue, one log line,
#     then everything is delivered when nc appears;
#  5. UDP: a 26 KB report (1200 hosts) reaches `nc -u -l` byte-equal, in
#     datagrams nc reads whole;
#  6. SIGTERM with the sink away: exit 0 within the grace period, the lost
#     reports are said;
#  7. a second SIGTERM during a long grace period stops at once.
source "$(dirname "$0")/lib.sh"

capture="$DATA/ndpi__mining.pcapng"

# start_forward NAME ZMQ_PORT TO [forward options]: the bridge in the
# background; sets fwd_pid, logs to $work/NAME.err.
start_forward() {
    local name=$1 zport=$2 to=$3
    shift 3
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$zport" --topic tcpwin.report forward --to "$to" "$@" \
        2>"$work/$name.err" &
    fwd_pid=$!
    pids+=("$fwd_pid")
}

# produce ZMQ_PORT CAPTURE [producer options]: one producer run for one subscriber.
produce() {
    local zport=$1 input=$2
    shift 2
    "$PRODUCER" -r "$input" --publish "tcp://127.0.0.1:$zport" --wait-subscribers 1 \
        --wait-timeout 10 "$@" 2>>"$work/producer.err"
}

# received N: asks the bridge for its counters (SIGUSR1); true when the new
# counter line of its writer says it received N reports.
received() {
    local pattern="received [0-9]+, forwarded" before
    before=$(count_lines "$err_file" "$pattern")
    kill -USR1 "$fwd_pid"
    wait_for 2 has_lines "$err_file" "$pattern" $((before + 1)) &&
        grep -E "$pattern" "$err_file" | tail -n 1 | grep -q "received $1, forwarded"
}

# wait_received NAME N SECONDS: waits until bridge NAME received N reports.
wait_received() {
    err_file=$work/$1.err
    wait_for "$3" received "$2"
}

# udp_bound PORT: true when a UDP socket is bound to PORT.
udp_bound() { [ -n "$(ss -Hlun "sport = :$1" 2>/dev/null)" ]; }

# show_log NAME: prints bridge NAME's log, for a failed check.
show_log() { sed "s/^/    $1.err: /" "$work/$1.err"; }

# stop_forward NAME: SIGTERM, expect exit 0 within 5 s.
stop_forward() {
    kill -TERM "$fwd_pid"
    wait_pid "$fwd_pid" 5
    check "$1: bridge exits 0 on SIGTERM" [ $? -eq 0 ]
}

# A capture of N one-packet flows, each from its own source address (10.1.x.y)
# advertising a zero window, so the final report has N rows.
make_many_hosts_pcap() {
    local n=$1 i usec ts src
    printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00'
    for ((i = 0; i < n; i++)); do
        usec=$((i * 100))
        printf -v ts '\\x%02x\\x%02x\\x%02x\\x00' $((usec & 255)) $(((usec >> 8) & 255)) $((usec >> 16))
        printf -v src '\\x0a\\x01\\x%02x\\x%02x' $((i >> 8)) $((i & 255))
        # record header (ts 1600000000), Ethernet, IPv4, TCP ACK with window 0
        printf '\x00\x10\x5e\x5f'"$ts"'\x36\x00\x00\x00\x36\x00\x00\x00'
        printf '\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00'
        printf '\x45\x00\x00\x28\x00\x01\x00\x00\x40\x06\x00\x00'"$src"'\xc0\x00\x02\x01'
        printf '\x9c\x40\x15\xb3\x00\x00\x00\x01\x00\x00\x00\x00\x50\x10\x00\x00\x00\x00\x00\x00'
    done
}

# The references: what `print` shows for the same producer runs.
replay "$capture" "$work/ref5.txt" text --interval 5 --min-pkts 1
replay "$capture" "$work/ref7.txt" text --interval 7 --min-pkts 1
ref5_size=$(stat -c %s "$work/ref5.txt")
ref5_reports=$(grep -c '^# IP' "$work/ref5.txt")
ref7_size=$(stat -c %s "$work/ref7.txt")
check "references: at least 20 reports from print ($ref5_reports)" [ "$ref5_reports" -ge 20 ]

# 1. TCP, byte-equal with print.
zport=$(free_port)
nport=$(free_port)
nc -d -l 127.0.0.1 "$nport" >"$work/t1.nc" &
nc_pid=$!
pids+=("$nc_pid")
wait_listening "$nport" 10
start_forward t1 "$zport" "tcp://127.0.0.1:$nport"
produce "$zport" "$capture" --interval 5 --min-pkts 1
wait_size "$work/t1.nc" "$ref5_size" 10
kill -USR1 "$fwd_pid"
check "1: SIGUSR1 prints the counters" wait_line "$work/t1.err" "forwarded $ref5_reports, dropped 0, reconnects 0" 10
stop_forward 1
wait_pid "$nc_pid" 5
check "1: nc saw the bridge close the connection" [ $? -eq 0 ]
check "1: $ref5_reports reports through nc byte-equal with print ($ref5_size bytes)" \
    cmp "$work/ref5.txt" "$work/t1.nc"
check "1: no NUL byte on the wire" [ "$(tr -cd '\000' <"$work/t1.nc" | wc -c)" -eq 0 ]
check "1: connected logged once" [ "$(grep -c ': connected$' "$work/t1.err")" -eq 1 ]

# 2. A slow reader: 1 KiB per 0.25 s behind nc. nc itself reads at once:
# the reports (10 KiB) fit in the pipe to the reader (64 KiB), so the pace
# only has to outlast the producer: when it exits, the reader must not have
# everything yet (at 1 KiB a second, this section waited 10 s for it).
slow_reader() {
    while :; do
        dd bs=1024 count=1 status=none of="$work/t2.chunk" || return 1
        [ -s "$work/t2.chunk" ] || return 0
        cat "$work/t2.chunk" >>"$work/t2.nc"
        sleep 0.25 # the reader's pace, not a wait for an event
    done
}
zport=$(free_port)
nport=$(free_port)
: >"$work/t2.nc"
nc -d -l 127.0.0.1 "$nport" | slow_reader &
reader_pid=$!
pids+=("$reader_pid")
wait_listening "$nport" 10
start_forward t2 "$zport" "tcp://127.0.0.1:$nport"
started=$(date +%s)
produce "$zport" "$capture" --interval 5 --min-pkts 1
producer_seconds=$(($(date +%s) - started))
reader_had=$(file_size "$work/t2.nc")
check "2: the producer finished in ${producer_seconds} s, not held back by the reader" \
    [ "$producer_seconds" -le 5 ]
check "2: ... before the reader had it all ($reader_had of $ref5_size bytes)" \
    [ "$reader_had" -lt "$ref5_size" ]
wait_size "$work/t2.nc" "$ref5_size" 30
stop_forward 2
wait_pid "$reader_pid" 5 >/dev/null
check "2: slow reader got every report byte-equal" cmp "$work/ref5.txt" "$work/t2.nc"
check "2: nothing dropped" grep -q "forwarded $ref5_reports, dropped 0" "$work/t2.err"

# 3. The sink is killed, then restarted on the same port.
zport=$(free_port)
nport=$(free_port)
nc -d -l 127.0.0.1 "$nport" >"$work/t3a.nc" &
nc_pid=$!
pids+=("$nc_pid")
wait_listening "$nport" 10
start_forward t3 "$zport" "tcp://127.0.0.1:$nport"
produce "$zport" "$capture" --interval 5 --min-pkts 1
wait_size "$work/t3a.nc" "$ref5_size" 10
kill -KILL "$nc_pid"
wait "$nc_pid" 2>/dev/null
wait_line "$work/t3.err" 'connection lost' 10
check "3: the loss is logged once" [ "$(grep -c 'connection lost' "$work/t3.err")" -eq 1 ]
produce "$zport" "$capture" --interval 7 --min-pkts 1 # while nobody listens
# The bridge holds the second run and has found the sink refusing.
wait_received t3 $((ref5_reports + $(grep -c '^# IP' "$work/ref7.txt"))) 10
wait_line "$work/t3.err" 'cannot connect' 10
nc -d -l 127.0.0.1 "$nport" >"$work/t3b.nc" &
nc_pid=$!
pids+=("$nc_pid")
wait_size "$work/t3b.nc" "$ref7_size" 30
stop_forward 3
wait_pid "$nc_pid" 5 >/dev/null
check "3: first sink got the first run whole" cmp "$work/ref5.txt" "$work/t3a.nc"
check "3: restarted sink got the second run whole" cmp "$work/ref7.txt" "$work/t3b.nc" || show_log t3
check "3: one reconnection, nothing dropped" grep -q "dropped 0, reconnects 1" "$work/t3.err"
check "3: refused retries logged once" [ "$(grep -c 'cannot connect' "$work/t3.err")" -eq 1 ]

# 4. No sink for 10 s, then one appears.
zport=$(free_port)
nport=$(free_port)
start_forward t4 "$zport" "tcp://127.0.0.1:$nport"
produce "$zport" "$capture" --interval 5 --min-pkts 1
sleep 10
check "4: still running after 10 s without a sink" kill -0 "$fwd_pid"
nc -d -l 127.0.0.1 "$nport" >"$work/t4.nc" &
nc_pid=$!
pids+=("$nc_pid")
wait_size "$work/t4.nc" "$ref5_size" 10 # the backoff tops out at 5 s
stop_forward 4
wait_pid "$nc_pid" 5 >/dev/null
check "4: every report delivered after the wait" cmp "$work/ref5.txt" "$work/t4.nc"
check "4: refused attempts logged once" [ "$(grep -c 'cannot connect' "$work/t4.err")" -eq 1 ]
check "4: nothing dropped, first connection" grep -q "dropped 0, reconnects 0" "$work/t4.err"

# 5. UDP, a report larger than nc's 16 KiB buffer.
make_many_hosts_pcap 1200 >"$work/many.pcap"
replay "$work/many.pcap" "$work/ref-many.txt" text --min-pkts 1
many_size=$(stat -c %s "$work/ref-many.txt")
check "5: the reference report is larger than 16 KiB ($many_size bytes)" [ "$many_size" -gt 16384 ]
zport=$(free_port)
nport=$(free_port)
nc -u -l 127.0.0.1 "$nport" >"$work/t5.nc" &
nc_pid=$!
pids+=("$nc_pid")
wait_for 10 udp_bound "$nport" # a datagram before nc binds would be refused
start_forward t5 "$zport" "udp://127.0.0.1:$nport"
produce "$zport" "$work/many.pcap" --min-pkts 1
wait_size "$work/t5.nc" "$many_size" 10
stop_forward 5
kill "$nc_pid" 2>/dev/null
wait "$nc_pid" 2>/dev/null
check "5: nc -u -l got the report byte-equal" cmp "$work/ref-many.txt" "$work/t5.nc"

# 6. SIGTERM while the sink is away: the grace period, then the loss is said.
zport=$(free_port)
nport=$(free_port)
start_forward t6 "$zport" "tcp://127.0.0.1:$nport" --grace-ms 500
produce "$zport" "$capture" --interval 5 --min-pkts 1
wait_received t6 "$ref5_reports" 10 # every report is in the bridge's queue
started=$(date +%s%N)
stop_forward 6
stop_ms=$((($(date +%s%N) - started) / 1000000))
check "6: stopped within the grace period and a margin (${stop_ms} ms)" [ "$stop_ms" -lt 2000 ]
check "6: the unsent reports are said" grep -q "$ref5_reports reports not sent within 500 ms" "$work/t6.err"

# 7. A second SIGTERM while flushing for up to 30 s: out at once, the loss said.
zport=$(free_port)
nport=$(free_port)
start_forward t7 "$zport" "tcp://127.0.0.1:$nport" --grace-ms 30000
produce "$zport" "$capture" --interval 5 --min-pkts 1
wait_received t7 "$ref5_reports" 10
started=$(date +%s%N)
kill -TERM "$fwd_pid"
wait_line "$work/t7.err" "flushing" 5
kill -TERM "$fwd_pid"
wait_pid "$fwd_pid" 10
rc=$?
stop_ms=$((($(date +%s%N) - started) / 1000000))
check "7: a second signal exits 0 at once, not after 30 s (${stop_ms} ms)" \
    [ "$rc" -eq 0 ] && [ "$stop_ms" -lt 5000 ]
check "7: the reports it gave up are said" grep -q "second signal: $ref5_reports reports not sent" "$work/t7.err"

summary
