#!/usr/bin/env bash
# Many dashboards: 50 subscribers on one replay, a stalled subscriber among
# 10, a late joiner, a producer restart, CURVE, and a relay between 2
# producers and 3 subscribers. Figures are printed for the record.
source "$(dirname "$0")/lib.sh"
: "${GEN_CAPTURE:=$here/../build/tests/gen_capture}"
capture=$work/dash.pcap
"$GEN_CAPTURE" --packets 300000 --flows 2000 --duration-s 600 --out "$capture" 2>/dev/null

# report_sequences FILE: the report sequence numbers of a JSON output.
report_sequences() { jq -r 'select(.topic == "tcpwin.report") | .header.sequence' "$1"; }
# in_order FILE: sequences are 1, 2, 3, ... with nothing missing.
in_order() { report_sequences "$1" | awk '$1 != NR {exit 1} END {exit NR == 0}'; }

# --- 50 subscribers, every report in order --------------------------------
port=$(free_port)
subs=()
for i in $(seq 1 50); do
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final --stats \
        >"$work/fan$i.json" 2>"$work/fan$i.err" &
    subs+=($!)
done
pids+=("${subs[@]}")
"$PRODUCER" -r "$capture" --publish "tcp://127.0.0.1:$port" --wait-subscribers 50 --wait-timeout 30 --min-pkts 1 2>"$work/fan.producer.err"
check "50 subscribers: producer exit 0" [ $? -eq 0 ]
for pid in "${subs[@]}"; do wait_pid "$pid" 30; done
reports=$(report_sequences "$work/fan1.json" | wc -l)
complete=0
for i in $(seq 1 50); do
    in_order "$work/fan$i.json" && [ "$(report_sequences "$work/fan$i.json" | wc -l)" -eq "$reports" ] &&
        grep -q "gaps 0 (lost 0)" "$work/fan$i.err" && complete=$((complete + 1))
done
echo "50 subscribers: $complete received all $reports reports in order"
check "50 subscribers: every one got every report in order, no gap" [ "$complete" -eq 50 -a "$reports" -gt 100 ]

# --- one stalled subscriber among 10, --no-wait --------------------------
# The producer reads a FIFO fed at about 100 reports a second, a rate the
# healthy subscribers keep up with. All 10 are subscribed and one is frozen
# (SIGSTOP: not even its I/O thread reads) before data flows; its queue and
# socket buffers overflow within seconds, so the producer must drop for it.
port=$(free_port)
mkfifo "$work/feed"
"$PRODUCER" -r "$work/feed" --publish "tcp://127.0.0.1:$port" --wait-subscribers 10 --wait-timeout 30 \
    --no-wait --sndhwm 20 --interval 1 --min-pkts 1 2>"$work/stall.producer.err" &
producer=$!
pids+=($producer)
subs=()
for i in $(seq 1 10); do
    format=text
    [ "$i" -eq 1 ] && format=json
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format $format --until-final --stats \
        >"$work/stall$i.out" 2>"$work/stall$i.err" &
    subs+=($!)
done
pids+=("${subs[@]}")
sleep 1.5
kill -STOP "${subs[9]}"
start=$(date +%s.%N)
size=$(stat -c %s "$capture")
chunk=$((size / 60 + 1))
for i in $(seq 0 59); do
    dd if="$capture" bs="$chunk" skip="$i" count=1 status=none
    sleep 0.1
done >"$work/feed"
wait_pid "$producer" 60
check "stalled peer: the producer finishes (exit 0)" [ $? -eq 0 ]
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
healthy=0
for i in $(seq 1 9); do
    wait_pid "${subs[$((i - 1))]}" 20 && grep -q "gaps 0 (lost 0)" "$work/stall$i.err" && healthy=$((healthy + 1))
done
kill -CONT "${subs[9]}"
kill "${subs[9]}" 2>/dev/null
reports=$(report_sequences "$work/stall1.out" | wc -l)
dropped=$(jq -r 'select(.final == true) | .counters.messagesDropped' "$work/stall1.out")
echo "stalled peer: producer done in $elapsed s, $reports reports, $healthy of 9 without gap, ${dropped:-?} messages dropped for the stalled one"
check "stalled peer: the other 9 got every report, no gap" [ "$healthy" -eq 9 ]
check "stalled peer: reports in order" in_order "$work/stall1.out"
check "stalled peer: the stall really cost the stalled one messages" [ "${dropped:-0}" -gt 0 ]

# --- a late joiner gets the latest report at once ------------------------
port=$(free_port)
"$PRODUCER" -i lo -f "tcp port 9" --interval 5 --publish "tcp://127.0.0.1:$port" 2>/dev/null &
pids+=($!)
live=$!
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --count 1 >"$work/first.json" &
first=$!
wait_pid "$first" 10
first_time=$(jq -r '.timeUs' "$work/first.json")
start=$(date +%s%N)
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --count 1 >"$work/late.json" &
late=$!
wait_pid "$late" 4
late_ms=$((($(date +%s%N) - start) / 1000000))
echo "late joiner: got the report of $first_time after $late_ms ms (interval 5 s)"
check "late joiner: the latest report within 2 s" [ "$(jq -r '.timeUs' "$work/late.json")" = "$first_time" -a "$late_ms" -lt 2000 ]
kill -INT "$live"

# --- a restarted producer: one restart logged, the subscriber carries on --
port=$(free_port)
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json >"$work/restart.json" 2>"$work/restart.err" &
sub=$!
pids+=($sub)
for run in 1 2; do
    "$PRODUCER" -r "$DATA/zeek__206_example_b.pcap" --id same-host --publish "tcp://127.0.0.1:$port" \
        --wait-subscribers 1 --wait-timeout 10 2>/dev/null
done
sleep 0.5
kill -TERM "$sub"
wait_pid "$sub" 5
runs=$(jq -r 'select(.final == true) | .header.runId' "$work/restart.json" | sort -u | wc -l)
echo "restart: $(grep -c restarted "$work/restart.err") restart line(s), final reports of $runs runs"
check "restart: logged once" [ "$(grep -c "producer 'same-host' restarted" "$work/restart.err")" -eq 1 ]
check "restart: the subscriber carried on with the new run" [ "$runs" -eq 2 ]

# --- CURVE: the authorised subscriber only --------------------------------
keys=$work/keys
mkdir -p "$keys/allow"
for name in server dashboard stranger; do "$SUBSCRIBER" keygen "$keys/$name"; done
cp "$keys/dashboard" "$keys/allow/"
port=$(free_port)
# The refused ones first: they keep retrying for a second before the
# authorised one lets the replay start, so "logged once" is tested for real.
"$PRODUCER" -r "$DATA/zeek__206_example_b.pcap" --publish "tcp://127.0.0.1:$port" --curve-secret "$keys/server" \
    --curve-allow "$keys/allow" --wait-subscribers 1 --wait-timeout 20 2>"$work/curve.err" &
curve_producer=$!
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print >"$work/curve-plain.txt" &
plain=$!
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" --curve-secret "$keys/stranger" --curve-server "$keys/server" \
    print >"$work/curve-stranger.txt" &
stranger=$!
pids+=($curve_producer $plain $stranger)
sleep 1.5
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" --curve-secret "$keys/dashboard" --curve-server "$keys/server" \
    print --until-final >"$work/curve-ok.txt" &
ok=$!
pids+=($ok)
wait_pid "$ok" 20
wait_pid "$curve_producer" 10
sleep 0.5
kill "$plain" "$stranger" 2>/dev/null
echo "CURVE: producer log:"
cat "$work/curve.err"
check "CURVE: the authorised subscriber got the table" grep -qxF "$(printf '192.168.72.14\t460\t0.123913')" "$work/curve-ok.txt"
check "CURVE: the plaintext subscriber got nothing" [ ! -s "$work/curve-plain.txt" ]
check "CURVE: the unknown key got nothing" [ ! -s "$work/curve-stranger.txt" ]
check "CURVE: the unknown key was logged once" [ "$(grep -c "is not allowed" "$work/curve.err")" -eq 1 ]
check "CURVE: the plaintext peer was logged" grep -q "does not speak CURVE" "$work/curve.err"

# --- relay: 2 producers, 1 relay, 3 subscribers ---------------------------
p1=$(free_port)
p2=$(free_port)
relay=$(free_port)
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$p1" --connect "tcp://127.0.0.1:$p2" relay --bind "tcp://127.0.0.1:$relay" 2>/dev/null &
pids+=($!)
subs=()
for i in 1 2 3; do
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$relay" print --format json >"$work/relay$i.json" 2>"$work/relay$i.err" &
    subs+=($!)
done
pids+=("${subs[@]}")
"$PRODUCER" -r "$capture" --id producer-a --publish "tcp://127.0.0.1:$p1" --wait-subscribers 3 --wait-timeout 20 2>/dev/null &
a=$!
"$PRODUCER" -r "$DATA/zeek__206_example_b.pcap" --id producer-b --publish "tcp://127.0.0.1:$p2" --wait-subscribers 3 --wait-timeout 20 2>/dev/null
wait "$a"
sleep 1
kill "${subs[@]}"
wait "${subs[@]}" 2>/dev/null
want_a=$(report_sequences "$work/fan1.json" | wc -l)
first_run=$(jq -r 'select(.final == true) | .header.runId' "$work/restart.json" | head -1)
want_b=$(jq -r --arg run "$first_run" 'select(.topic == "tcpwin.report" and .header.runId == $run) | .header.sequence' "$work/restart.json" | wc -l)
got=0
for i in 1 2 3; do
    a_count=$(jq -r 'select(.header.producerId == "producer-a" and .topic == "tcpwin.report") | .header.sequence' "$work/relay$i.json" | awk '$1 == NR {n++} END {print n + 0}')
    b_count=$(jq -r 'select(.header.producerId == "producer-b" and .topic == "tcpwin.report") | .header.sequence' "$work/relay$i.json" | awk '$1 == NR {n++} END {print n + 0}')
    finals=$(jq -r 'select(.final == true) | .header.producerId' "$work/relay$i.json" | sort -u | wc -l)
    echo "relay subscriber $i: producer-a $a_count of $want_a reports in order, producer-b $b_count of $want_b, finals from $finals producers"
    [ "$finals" -eq 2 ] && [ "$a_count" -eq "$want_a" ] && [ "$b_count" -eq "$want_b" ] && ! grep -q "gap" "$work/relay$i.err" &&
        got=$((got + 1))
done
check "relay: every subscriber got every report of both producers" [ "$got" -eq 3 ]
summary
