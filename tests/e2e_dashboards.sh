#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Many dashboards: 50 subscribers on one replay, a stalled subscriber among
# 10, a late joiner, a producer restart, CURVE (keygen's files, the allow
# directory, a key revoked under a live producer), and a relay between 2
# producers and 3 subscribers. Figures are printed for the record. Each
# section uses only the shared synthetic capture and its own outputs, so any
# of them runs alone: SECTIONS="relay curve" bash tests/e2e_dashboards.sh
source "$(dirname "$0")/lib.sh"
: "${GEN_CAPTURE:=$here/../build/tests/gen_capture}"
capture=$work/dash.pcap
"$GEN_CAPTURE" --packets 300000 --flows 2000 --duration-s 600 --out "$capture" 2>/dev/null

# report_sequences FILE: the report sequence numbers of a JSON output, read
# by jq (so every line must be valid JSON; nothing when one is not). jq
# reads FILE once, into FILE.seq: a pass over a fan-out output is seconds.
report_sequences() {
    if [ ! -e "$1.seq" ]; then
        jq -r 'select(.topic == "tcpwin.report") | .header.sequence' "$1" >"$1.seq.part" &&
            mv "$1.seq.part" "$1.seq" || return 1
    fi
    cat "$1.seq"
}
# in_order FILE: sequences are 1, 2, 3, ... with nothing missing.
in_order() { report_sequences "$1" | awk '$1 != NR {exit 1} END {exit NR == 0}'; }
# report_index FILE: "producerId runId sequence final" per report line, in
# one awk pass that reads only the head of each line (the header and the
# final flag come before the hosts), for the outputs of many megabytes.
report_index() {
    awk 'index($0, "{\"topic\":\"tcpwin.report\",") == 1 {
        head = substr($0, 1, index($0, "\"hosts\":"))
        match(head, /"producerId":"[^"]*"/); id = substr(head, RSTART + 14, RLENGTH - 15)
        match(head, /"runId":"[0-9]*"/); run = substr(head, RSTART + 9, RLENGTH - 10)
        match(head, /"sequence":"[0-9]*"/); seq = substr(head, RSTART + 12, RLENGTH - 13)
        print id, run, seq, (head ~ /"final":true/) ? "final" : "-"
    }' "$1"
}
# finals FILE: how many final reports FILE holds.
finals() { count_lines "$1" '"final":true'; }


# --- 50 subscribers, every report in order --------------------------------
# The first output is parsed whole by jq (valid JSON, reports 1..N in
# order); the other 49 must be byte-equal to it, which says the same of
# each at the cost of a compare instead of a JSON parse of 16 MB.
section_fanout() {
    local port i reports complete=0
    local subs=()
    port=$(free_port)
    for i in $(seq 1 50); do
        "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final --stats \
            >"$work/fan$i.json" 2>"$work/fan$i.err" &
        subs+=($!)
    done
    pids+=("${subs[@]}")
    "$PRODUCER" -r "$capture" --publish "tcp://127.0.0.1:$port" --wait-subscribers 50 --wait-timeout 30 \
        --min-pkts 1 2>"$work/fan.producer.err"
    check "50 subscribers: producer exit 0" [ $? -eq 0 ]
    wait_pids 60 "${subs[@]}"
    reports=$(report_sequences "$work/fan1.json" | wc -l)
    in_order "$work/fan1.json" && grep -q "gaps 0 (lost 0)" "$work/fan1.err" && complete=1
    for i in $(seq 2 50); do
        cmp -s "$work/fan1.json" "$work/fan$i.json" && grep -q "gaps 0 (lost 0)" "$work/fan$i.err" &&
            complete=$((complete + 1))
    done
    echo "50 subscribers: $complete received all $reports reports in order"
    check "50 subscribers: every one got every report in order, no gap" [ "$complete" -eq 50 -a "$reports" -gt 100 ]
}

# --- one stalled subscriber among 10, --no-wait --------------------------
# The producer reads a FIFO fed at about 100 reports a second, a rate the
# healthy subscribers keep up with. All 10 are subscribed and one is frozen
# (SIGSTOP: not even its I/O thread reads) once the producer has seen the
# 10 subscriptions; its queue and socket buffers overflow within seconds, so
# the producer must drop for it.
section_stalled() {
    local port i producer start size chunk elapsed healthy=0 reports dropped format
    local subs=()
    port=$(free_port)
    mkfifo "$work/feed"
    "$PRODUCER" -r "$work/feed" --publish "tcp://127.0.0.1:$port" --wait-subscribers 10 --wait-timeout 30 \
        --no-wait --sndhwm 20 --interval 1 --min-pkts 1 2>"$work/stall.producer.err" &
    producer=$!
    pids+=($producer)
    for i in $(seq 1 10); do
        format=text
        [ "$i" -eq 1 ] && format=json
        "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format $format --until-final --stats \
            >"$work/stall$i.out" 2>"$work/stall$i.err" &
        subs+=($!)
    done
    pids+=("${subs[@]}")
    start=$(date +%s.%N)
    size=$(stat -c %s "$capture")
    chunk=$((size / 60 + 1))
    exec 8<>"$work/feed" # read-write: opening does not wait for the producer
    # The first chunk is several times the pipe's 64 KiB: its write ends only
    # once the producer reads packets, that is after it saw the 10
    # subscriptions. Only then is one frozen.
    dd if="$capture" bs="$chunk" skip=0 count=1 status=none >&8
    kill -STOP "${subs[9]}"
    for i in $(seq 1 59); do
        sleep 0.1 # the feed's pace, not a wait for an event
        dd if="$capture" bs="$chunk" skip="$i" count=1 status=none
    done >&8
    exec 8>&-
    wait_pid "$producer" 60
    check "stalled peer: the producer finishes (exit 0)" [ $? -eq 0 ]
    elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
    for i in $(seq 1 9); do
        wait_pid "${subs[$((i - 1))]}" 20 && grep -q "gaps 0 (lost 0)" "$work/stall$i.err" && healthy=$((healthy + 1))
    done
    kill -CONT "${subs[9]}"
    kill "${subs[9]}" 2>/dev/null
    reports=$(report_sequences "$work/stall1.out" | wc -l)
    dropped=$(grep -F '"final":true' "$work/stall1.out" | jq -r '.counters.messagesDropped')
    echo "stalled peer: producer done in $elapsed s, $reports reports, $healthy of 9 without gap, ${dropped:-?} messages dropped for the stalled one"
    grep -q "subscribers after" "$work/stall.producer.err" && cat "$work/stall.producer.err"
    check "stalled peer: the other 9 got every report, no gap" [ "$healthy" -eq 9 ]
    check "stalled peer: reports in order" in_order "$work/stall1.out"
    check "stalled peer: the stall really cost the stalled one messages" [ "${dropped:-0}" -gt 0 ]
}

# --- a late joiner gets the latest report at once ------------------------
section_late_joiner() {
    local port live first first_time start late late_ms
    port=$(free_port)
    "$PRODUCER" -i lo -f "tcp port 9" --interval 5 --publish "tcp://127.0.0.1:$port" 2>/dev/null &
    live=$!
    pids+=($live)
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
    wait_pid "$live" 10
}

# --- a restarted producer: one restart logged, the subscriber carries on --
section_restart() {
    local port sub run runs
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json >"$work/restart.json" 2>"$work/restart.err" &
    sub=$!
    pids+=($sub)
    for run in 1 2; do
        "$PRODUCER" -r "$DATA/zeek__206_example_b.pcap" --id same-host --publish "tcp://127.0.0.1:$port" \
            --wait-subscribers 1 --wait-timeout 10 2>/dev/null
    done
    wait_line "$work/restart.json" '"final":true' 10 2
    kill -TERM "$sub"
    wait_pid "$sub" 5
    runs=$(jq -r 'select(.final == true) | .header.runId' "$work/restart.json" | sort -u | wc -l)
    echo "restart: $(grep -c restarted "$work/restart.err") restart line(s), final reports of $runs runs"
    check "restart: logged once" [ "$(grep -c "producer 'same-host' restarted" "$work/restart.err")" -eq 1 ]
    check "restart: the subscriber carried on with the new run" [ "$runs" -eq 2 ]
}

# closed_connections PORT: TCP connections to PORT closed in the last minute
# (TIME_WAIT: both ends are in this network namespace, so every closed
# loopback connection leaves one, whichever end closed first).
closed_connections() { ss -Htan state time-wait "( sport = :$1 or dport = :$1 )" | wc -l; }

# --- CURVE: the authorised subscriber only --------------------------------
# The allow directory also holds a backup copy and a symlink of the
# dashboard's certificate (czmq's zcertstore aborted on them, exit 134) and
# the stranger's certificate in revoked/ (zcertstore read subdirectories).
curve_refused() {
    local keys=$work/keys name port curve_producer plain stranger ok
    mkdir -p "$keys/allow/revoked"
    # Public certificates are public: the producer, once it has become
    # nobody, reads the allow directory again while it runs.
    chmod 0711 "$work"
    chmod 0755 "$keys" "$keys/allow" "$keys/allow/revoked"
    for name in server dashboard stranger; do "$SUBSCRIBER" keygen "$keys/$name"; done
    cp "$keys/dashboard" "$keys/allow/"
    cp "$keys/dashboard" "$keys/allow/dashboard.old"
    ln -s dashboard "$keys/allow/dashboard.link"
    cp "$keys/stranger" "$keys/allow/revoked/"
    port=$(free_port)
    # The refused ones first: they are logged and have retried several times
    # before the authorised one lets the replay start, so "logged once" is
    # tested for real.
    "$PRODUCER" -r "$DATA/zeek__206_example_b.pcap" --publish "tcp://127.0.0.1:$port" --curve-secret "$keys/server" \
        --curve-allow "$keys/allow" --wait-subscribers 1 --wait-timeout 20 2>"$work/curve.err" &
    curve_producer=$!
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print >"$work/curve-plain.txt" &
    plain=$!
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" --curve-secret "$keys/stranger" --curve-server "$keys/server" \
        print >"$work/curve-stranger.txt" &
    stranger=$!
    pids+=($curve_producer $plain $stranger)
    wait_line "$work/curve.err" "is not allowed" 10
    wait_line "$work/curve.err" "does not speak CURVE" 10
    # retried: the two refused peers have made 6 connections between them.
    retried() { [ "$(closed_connections "$port")" -ge 6 ]; }
    wait_for 10 retried
    echo "CURVE: $(closed_connections "$port") refused connections before the authorised subscriber"
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" --curve-secret "$keys/dashboard" --curve-server "$keys/server" \
        print --until-final >"$work/curve-ok.txt" &
    ok=$!
    pids+=($ok)
    wait_pid "$ok" 20
    wait_pid "$curve_producer" 10
    # The producer is gone: whatever it sent them has been written by now
    # or never will be; SIGTERM makes them flush and exit.
    kill "$plain" "$stranger" 2>/dev/null
    wait_pid "$plain" 5
    wait_pid "$stranger" 5
    echo "CURVE: producer log:"
    cat "$work/curve.err"
    check "CURVE: the authorised subscriber got the table" grep -qxF "$(printf '192.168.72.14\t460\t0.123913')" "$work/curve-ok.txt"
    check "CURVE: the plaintext subscriber got nothing" [ ! -s "$work/curve-plain.txt" ]
    check "CURVE: the unknown key got nothing" [ ! -s "$work/curve-stranger.txt" ]
    check "CURVE: the unknown key was logged once" [ "$(grep -c "is not allowed" "$work/curve.err")" -eq 1 ]
    check "CURVE: the plaintext peer was logged" grep -q "does not speak CURVE" "$work/curve.err"
    check "CURVE: the duplicates were a warning, once each" \
        [ "$(grep -c "holds the same key as 'dashboard'" "$work/curve.err")" -eq 2 ]
}

# got_report FILE: true when FILE holds a report (JSON line).
got_report() { has_lines "$1" '"topic":"tcpwin.report"'; }

# The allow directory changes under a live producer: a duplicate appears (the
# next handshake of any client made zcertstore abort), a key is moved to
# revoked/ (revoked means revoked: it gets nothing from then on), a key is
# added. Needs a live capture on lo, as the late joiner's section does.
curve_revoked() {
    local keys=$work/revoke name port live sub rc
    mkdir -p "$keys/allow/revoked"
    chmod 0711 "$work"  # as above: the allow directory, read as nobody
    chmod 0755 "$keys" "$keys/allow" "$keys/allow/revoked"
    for name in server dashboard revokee newcomer; do "$SUBSCRIBER" keygen "$keys/$name"; done
    cp "$keys/dashboard" "$keys/revokee" "$keys/allow/"
    port=$(free_port)
    "$PRODUCER" -i lo -f "tcp port 9" --interval 1 --publish "tcp://127.0.0.1:$port" --curve-secret "$keys/server" \
        --curve-allow "$keys/allow" 2>"$work/revoke.err" &
    live=$!
    pids+=($live)
    # subscribe NAME OUT: a subscriber with NAME's key printing one report.
    subscribe() {
        "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" --curve-secret "$keys/$1" --curve-server "$keys/server" \
            print --format json --count 1 >"$2" 2>/dev/null &
        sub=$!
        pids+=($sub)
    }
    subscribe revokee "$work/revoke-before.json"
    wait_pid "$sub" 10
    check "CURVE revoked: allowed at first, the key gets a report" got_report "$work/revoke-before.json"

    cp "$keys/allow/dashboard" "$keys/allow/dashboard.bak"
    ln -s dashboard "$keys/allow/dashboard.link"
    mv "$keys/allow/revokee" "$keys/allow/revoked/"
    cp "$keys/newcomer" "$keys/allow/"
    # The guard looks at the directory once a second and logs the change.
    wait_line "$work/revoke.err" "changed: 2 now" 10
    subscribe revokee "$work/revoke-after.json"
    local revoked=$sub
    wait_line "$work/revoke.err" "is not allowed" 10
    subscribe dashboard "$work/revoke-dashboard.json"
    wait_pid "$sub" 10
    check "CURVE revoked: after a duplicate appeared, the dashboard still gets a report" \
        got_report "$work/revoke-dashboard.json"
    subscribe newcomer "$work/revoke-newcomer.json"
    wait_pid "$sub" 10
    check "CURVE revoked: a key added later gets a report" got_report "$work/revoke-newcomer.json"
    check "CURVE revoked: the producer is still running" kill -0 "$live"
    kill -INT "$live"
    wait_pid "$live" 10
    rc=$?
    # Reports went out every second all along: the revoked one had its
    # chances, and the producer has now ended.
    kill "$revoked" 2>/dev/null
    wait_pid "$revoked" 5
    echo "CURVE revoked: producer exit $rc; producer log:"
    cat "$work/revoke.err"
    check "CURVE revoked: the producer exits 0 (not 134)" [ "$rc" -eq 0 ]
    check "CURVE revoked: the revoked key got nothing" [ ! -s "$work/revoke-after.json" ]
    check "CURVE revoked: the duplicate was a warning" grep -q "dashboard.bak' holds the same key" "$work/revoke.err"
}

# keygen's files: never through a symlink, never over a file without
# --force, the secret 0600 whatever the umask.
curve_keygen() {
    local keys=$work/keygen rc
    mkdir -p "$keys"
    echo precious >"$work/keygen-target"
    ln -s "$work/keygen-target" "$keys/k_secret"
    (umask 0277 && "$SUBSCRIBER" keygen "$keys/k") 2>"$work/keygen.err"
    rc=$?
    check "keygen: a symlinked NAME_secret is refused (exit 1)" [ "$rc" -eq 1 ]
    check "keygen: ... with a message naming it" grep -q "k_secret' exists: not overwriting it" "$work/keygen.err"
    check "keygen: ... and its target is untouched" [ "$(cat "$work/keygen-target")" = precious ]
    (umask 0277 && "$SUBSCRIBER" keygen --force "$keys/k") 2>>"$work/keygen.err"
    rc=$?
    check "keygen --force: exit 0" [ "$rc" -eq 0 ]
    check "keygen --force: the symlink is replaced by a 0600 file" \
        [ "$(stat -c %F:%a "$keys/k_secret")" = "regular file:600" ]
    check "keygen --force: the public one is 0644" [ "$(stat -c %a "$keys/k")" = 644 ]
    check "keygen --force: the symlink's target is untouched" [ "$(cat "$work/keygen-target")" = precious ]
    cp "$keys/k_secret" "$work/keygen-before"
    "$SUBSCRIBER" keygen "$keys/k" 2>>"$work/keygen.err"
    rc=$?
    check "keygen: an existing pair is refused (exit 1)" [ "$rc" -eq 1 ]
    check "keygen: ... and kept" cmp -s "$keys/k_secret" "$work/keygen-before"
    "$SUBSCRIBER" keygen 2>/dev/null
    check "keygen: no NAME is bad usage (exit 2)" [ $? -eq 2 ]
    check "keygen: nothing else was left in the directory" [ "$(ls -A "$keys" | wc -l)" -eq 2 ]
}

section_curve() {
    curve_keygen
    curve_refused
    if [ "$(id -u)" -eq 0 ]; then
        curve_revoked
    else
        echo "skipped: CURVE revocation under a live producer (live capture on lo needs root)"
    fi
}

# --- relay: 2 producers, 1 relay, 3 subscribers ---------------------------
# Every report of a producer is 1..N in order, N being the sequence of its
# final report (its last message); the 3 subscribers must also agree.
section_relay() {
    local p1 p2 relay a i got=0 producer want_a want_b a_count b_count nfinals
    local subs=()
    p1=$(free_port)
    p2=$(free_port)
    relay=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$p1" --connect "tcp://127.0.0.1:$p2" relay --bind "tcp://127.0.0.1:$relay" 2>/dev/null &
    pids+=($!)
    for i in 1 2 3; do
        "$SUBSCRIBER" --connect "tcp://127.0.0.1:$relay" print --format json >"$work/relay$i.json" 2>"$work/relay$i.err" &
        subs+=($!)
    done
    pids+=("${subs[@]}")
    # The producers see the relay only (its own subscription, and at most
    # one of a dashboard's a second): --wait-subscribers 3 was never met and
    # the 20 s bound ran out. So: each dashboard's connection to the relay
    # is up (it says so when nothing has come for 3 s; it subscribed at its
    # handshake), then each producer waits for the relay's subscription.
    for i in 1 2 3; do wait_line "$work/relay$i.err" "1 connection up" 10; done
    "$PRODUCER" -r "$capture" --id producer-a --publish "tcp://127.0.0.1:$p1" --wait-subscribers 1 --wait-timeout 20 2>/dev/null &
    a=$!
    "$PRODUCER" -r "$DATA/zeek__206_example_b.pcap" --id producer-b --publish "tcp://127.0.0.1:$p2" --wait-subscribers 1 --wait-timeout 20 2>/dev/null
    wait "$a"
    for i in 1 2 3; do wait_line "$work/relay$i.json" '"final":true' 20 2; done
    kill "${subs[@]}"
    wait "${subs[@]}" 2>/dev/null
    for i in 1 2 3; do report_index "$work/relay$i.json" >"$work/relay$i.index"; done
    # want PRODUCER FILE: the sequence of PRODUCER's final report in FILE.
    want() { awk -v p="$1" '$1 == p && $4 == "final" {print $3}' "$2" | head -1; }
    # in_sequence PRODUCER FILE: how many of PRODUCER's reports are 1, 2, 3...
    in_sequence() { awk -v p="$1" '$1 == p {if ($3 == ++n) k++} END {print k + 0}' "$2"; }
    want_a=$(want producer-a "$work/relay1.index")
    want_b=$(want producer-b "$work/relay1.index")
    for i in 1 2 3; do
        a_count=$(in_sequence producer-a "$work/relay$i.index")
        b_count=$(in_sequence producer-b "$work/relay$i.index")
        nfinals=$(awk '$4 == "final" {print $1}' "$work/relay$i.index" | sort -u | wc -l)
        echo "relay subscriber $i: producer-a $a_count of ${want_a:-?} reports in order, producer-b $b_count of ${want_b:-?}, finals from $nfinals producers"
        [ "$nfinals" -eq 2 ] && [ "$a_count" -eq "${want_a:-0}" ] && [ "$b_count" -eq "${want_b:-0}" ] &&
            [ "$(wc -l <"$work/relay$i.index")" -eq $((want_a + want_b)) ] &&
            ! grep -q "gap" "$work/relay$i.err" && got=$((got + 1))
    done
    check "relay: producer-a's run has more than 100 reports (${want_a:-none})" [ "${want_a:-0}" -gt 100 ]
    check "relay: every subscriber got every report of both producers" [ "$got" -eq 3 ]
}

for section in ${SECTIONS:-fanout stalled late_joiner restart curve relay}; do
    started=$(now_ms)
    "section_$section"
    echo "section $section: $(($(now_ms) - started)) ms"
done
summary
