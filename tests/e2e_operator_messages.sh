#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# What the programs say about themselves on stderr (issue 12, items 4 and 5):
#   start     the producer's start line is tcpdump's own, with the file's
#             format (and compression) after its quoted name; its
#             summary counts the capture's packets as tshark does, and the
#             reports the subscriber received; no progress line off a
#             terminal; -q says nothing at all.
#   order     a subscriber started first says once that it waits, and for
#             what; a producer replaying a file with no flags still delivers
#             every report to it (sequences 1..N, the last one final).
#   usr1      SIGUSR1 to a producer reading a FIFO prints the counters and it
#             goes on: the rest is read, the final report arrives, exit 0.
#   live      on lo (root only): "listening on lo", SIGUSR1 counters, and on
#             SIGINT the summary with the kernel's drops.
#   progress  in a terminal (script), a FIFO read gives a progress line
#             rewritten with \r: packets and rate, no percent.
#   resolve   a --connect host name that does not resolve: exit 2, said.
#   major     producers of another schema major are named once each, and
#             their messages counted.
source "$(dirname "$0")/lib.sh"
: "${HOSTILE:=$here/../build/tests/hostile_publisher}"
: "${GEN_CAPTURE:=$here/../build/tests/gen_capture}"
sample=$DATA/zeek__206_example_b.pcap

# summary_count FILE WORDS: the number before WORDS in FILE's last such line.
summary_count() { grep -oE "^[0-9]+ $2" "$1" | tail -n 1 | cut -d' ' -f1; }

section_start() {
    replay "$sample" "$work/start.json" json
    local err=$work/start.json.producer.err expected packets tcp reports
    check "start: exit 0" [ "$producer_rc" -eq 0 ]
    # tcpdump's line, with the name quoted and the file's format after it.
    expected=$(tcpdump -r "$sample" -c 1 2>&1 >/dev/null | head -n 1)
    echo "start: tcpdump says: $expected"
    expected="reading from file '$sample' (pcap)${expected#reading from file "$sample"}"
    check "start: the start line is tcpdump's, with the format" [ "$(head -n 1 "$err")" = "$expected" ]
    packets=$(tshark -r "$sample" 2>/dev/null | wc -l)
    tcp=$(tshark -r "$sample" -Y tcp 2>/dev/null | wc -l)
    reports=$(jq -s '[.[] | select(.topic == "tcpwin.report")] | length' "$work/start.json")
    sed 's/^/start: producer: /' "$err"
    check "start: packets read as tshark counts them ($packets)" \
        grep -qx "$packets packets read, $tcp TCP" "$err"
    check "start: reports published as received ($reports)" \
        [ "$(summary_count "$err" "reports? published")" = "$reports" ]
    check "start: no kernel drops line for a file" bash -c "! grep -q 'dropped by kernel' '$err'"
    check "start: no progress line off a terminal" bash -c "! grep -q $'\r' '$err'"

    replay "$sample" "$work/quiet.json" json -q
    check "-q: exit 0 and the final report" \
        [ "$producer_rc" -eq 0 -a "$(jq -s 'map(select(.final)) | length' "$work/quiet.json")" = 1 ]
    check "-q: nothing on stderr" [ ! -s "$work/quiet.json.producer.err" ]
}

section_order() {
    local port sub reports sequences expected
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final \
        >"$work/order.json" 2>"$work/order.err" &
    sub=$!
    check "order: the subscriber says it waits, and for what" \
        wait_line "$work/order.err" "waiting for a producer at tcp://127.0.0.1:$port \(nothing received for 3 s, 0 connections up\)" 10
    # No flag: neither --wait-subscribers nor anything else.
    "$PRODUCER" -r "$sample" --publish "tcp://127.0.0.1:$port" 2>"$work/order.producer.err"
    check "order: the producer exits 0" [ $? -eq 0 ]
    check "order: the producer says it waits" grep -q "waiting 0.5 s for subscribers" "$work/order.producer.err"
    wait_pid "$sub" 10
    check "order: the subscriber got the final report (exit 0)" [ $? -eq 0 ]
    reports=$(summary_count "$work/order.producer.err" "reports? published")
    sequences=$(jq -r 'select(.topic == "tcpwin.report") | .header.sequence' "$work/order.json" | tr '\n' ' ')
    expected="$(seq -s ' ' 1 "$reports") "
    echo "order: $reports published; received: $sequences"
    check "order: every report arrived, 1..$reports" [ "$reports" -gt 1 -a "$sequences" = "$expected" ]
    check "order: the last one is final" [ "$(jq -s 'last | .final' "$work/order.json")" = true ]
    check "order: the waiting line said once" [ "$(count_lines "$work/order.err" waiting)" -eq 1 ]
}

section_usr1() {
    local port sub producer fifo=$work/usr1.fifo half total
    port=$(free_port)
    total=$(tshark -r "$sample" 2>/dev/null | wc -l)
    # Two halves of the sample: the second is written after SIGUSR1.
    editcap -F pcap -r "$sample" "$work/first.pcap" 1-1300 && editcap -F pcap -r "$sample" "$work/second.pcap" 1301-"$total" ||
        { fail "usr1: editcap" && return; }
    tail -c +25 "$work/second.pcap" >"$work/second.records"  # no file header
    mkfifo "$fifo"
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final \
        >"$work/usr1.json" 2>"$work/usr1.sub.err" &
    sub=$!
    "$PRODUCER" -r "$fifo" --publish "tcp://127.0.0.1:$port" --wait-subscribers 1 \
        2>"$work/usr1.err" &
    producer=$!
    pids+=("$producer")
    exec 8>"$fifo"
    cat "$work/first.pcap" >&8
    # A report is out: it left at packet 1294 (20 s of capture time), so the
    # first part is read, or nearly.
    wait_size "$work/usr1.json" 1 10
    kill -USR1 "$producer"
    sleep 0.2
    check "usr1: the producer survives SIGUSR1" kill -0 "$producer"
    cat "$work/second.records" >&8
    exec 8>&-
    wait_pid "$producer" 10
    check "usr1: exit 0 after reading the rest" [ $? -eq 0 ]
    wait_pid "$sub" 10
    check "usr1: the final report arrived" [ "$(jq -s 'last | .final' "$work/usr1.json")" = true ]
    sed 's/^/usr1: producer: /' "$work/usr1.err"
    half=$(grep -oE '^[0-9]+ packets read' "$work/usr1.err" | head -n 1 | cut -d' ' -f1)
    check "usr1: two summaries (SIGUSR1 and the end)" [ "$(count_lines "$work/usr1.err" 'packets read')" -eq 2 ]
    check "usr1: the first counted part of the file ($half)" [ "${half:-0}" -ge 1294 -a "${half:-0}" -lt "$total" ]
    check "usr1: the last counted all of it" [ "$(summary_count "$work/usr1.err" 'packets read')" = "$total" ]
    check "usr1: no read error" bash -c "! grep -qi 'error\|damaged' '$work/usr1.err'"
}

section_live() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "live: skipped (needs root)"
        return
    fi
    local port sub producer
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final \
        >"$work/live.json" 2>/dev/null &
    sub=$!
    "$PRODUCER" -i lo -f "tcp port $port" --interval 1 --publish "tcp://127.0.0.1:$port" \
        2>"$work/live.err" &
    producer=$!
    pids+=("$producer")
    check "live: listening on lo, as tcpdump" \
        wait_line "$work/live.err" "^listening on lo, link-type EN10MB \(Ethernet\), snapshot length 256 bytes$" 10
    wait_size "$work/live.json" 1 10  # a report: the ZeroMQ traffic itself was captured
    kill -USR1 "$producer"
    check "live: SIGUSR1 prints the counters" wait_line "$work/live.err" "packets captured" 5
    check "live: ... with the kernel's drops" grep -q "packets dropped by kernel" "$work/live.err"
    check "live: the producer goes on" kill -0 "$producer"
    kill -INT "$producer"
    wait_pid "$producer" 10
    check "live: SIGINT: exit 0" [ $? -eq 0 ]
    wait_pid "$sub" 10
    check "live: the final report arrived" [ "$(jq -s 'last | .final' "$work/live.json")" = true ]
    check "live: the end summary too" [ "$(count_lines "$work/live.err" 'packets captured')" -eq 2 ]
}

section_progress() {
    if ! command -v script >/dev/null; then
        echo "progress: skipped (no script(1))"
        return
    fi
    local fifo=$work/progress.fifo capture=$work/progress.pcap port
    port=$(free_port)
    "$GEN_CAPTURE" --packets 20000 --flows 50 --duration-s 60 --out "$capture" 2>/dev/null ||
        { fail "progress: gen_capture" && return; }
    mkfifo "$fifo"
    # A pause in the middle: the read lasts longer than the first interval.
    { head -c 600000 "$capture"; sleep 1; tail -c +600001 "$capture"; } >"$fifo" &
    script -qec "'$PRODUCER' -r '$fifo' --no-wait --publish tcp://127.0.0.1:$port" /dev/null \
        >"$work/progress.tty" 2>&1
    check "progress: exit 0 in a terminal" [ $? -eq 0 ]
    tr '\r' '\n' <"$work/progress.tty" | sed -n 's/^/progress: /p' | head -n 8
    check "progress: a line rewritten in place (\\r), packets and rate" \
        grep -qaE $'\r[0-9]+ packets, [0-9]+ packets/s' "$work/progress.tty"
    check "progress: no percent for a FIFO" bash -c "! grep -qa '%' '$work/progress.tty'"
    check "progress: then the summary" grep -qa "20000 packets read" "$work/progress.tty"
}

section_resolve() {
    "$SUBSCRIBER" --connect tcp://127.0.0.1:5556 --connect tcp://no-such-host.invalid:5556 print \
        >/dev/null 2>"$work/resolve.err"
    check "resolve: exit 2" [ $? -eq 2 ]
    cat "$work/resolve.err"
    check "resolve: names the host and says why" \
        grep -q "cannot resolve 'no-such-host.invalid'" "$work/resolve.err"
    "$SUBSCRIBER" --connect tcp://localhost:1 print --count 1 >/dev/null 2>"$work/localhost.err" &
    local sub=$!
    sleep 0.5
    check "resolve: a name that resolves (localhost) runs" kill -0 "$sub"
    kill "$sub" 2>/dev/null
    wait "$sub" 2>/dev/null
}

section_major() {
    local port sub
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final --stats \
        >"$work/major.json" 2>"$work/major.err" &
    sub=$!
    "$HOSTILE" major "tcp://127.0.0.1:$port"
    check "major: the publisher sent everything" [ $? -eq 0 ]
    wait_pid "$sub" 10
    check "major: our final report still arrives (exit 0)" [ $? -eq 0 ]
    cat "$work/major.err"
    check "major: 'future' named once" [ "$(count_lines "$work/major.err" "producer 'future' .*speaks schema major")" -eq 1 ]
    check "major: an IPv4 producer's address in the plain form" \
        grep -q "producer 'future' at 127\.0\.0\.1 speaks" "$work/major.err"
    check "major: 'later' named once" [ "$(count_lines "$work/major.err" "producer 'later' .*speaks schema major")" -eq 1 ]
    check "major: the five counted" grep -q "bad versions 5," "$work/major.err"
    check "major: none printed" [ "$(jq -s 'length' "$work/major.json")" -eq 1 ]
}

section_start
section_order
section_usr1
section_live
section_progress
section_resolve
section_major
summary
