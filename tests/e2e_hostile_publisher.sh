#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# A hostile or unlucky publisher against the real subscriber, on loopback
# (tests/hostile_publisher.c is the peer):
#   poison   another endpoint claims a producer's id with sequences 1000 and
#            2^64-1, and the producer's own endpoint carries one 2^64-6: the
#            producer's later reports, final included, still arrive.
#   inject   producer ids with a newline and terminal escapes never reach
#            stderr raw; 5,000 run ids give a bounded number of log lines.
#   amplify  a 20 MB payload of empty host rows is refused within its decode
#            budget (counted), not unpacked to gigabytes.
#   nofinal  print --until-final whose producer goes away without a final
#            report ends (status 3) and says so.
source "$(dirname "$0")/lib.sh"
: "${HOSTILE:=$here/../build/tests/hostile_publisher}"

section_poison() {
    local real hostile sub
    real=$(free_port)
    hostile=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$real" --connect "tcp://127.0.0.2:$hostile" \
        print --format json --until-final --stats >"$work/poison.json" 2>"$work/poison.err" &
    sub=$!
    "$HOSTILE" poison "tcp://127.0.0.1:$real" "tcp://127.0.0.2:$hostile"
    check "poison: the publisher sent everything" [ $? -eq 0 ]
    wait_pid "$sub" 10
    check "poison: the subscriber got the victim's final report (exit 0)" [ $? -eq 0 ]
    local sequences
    sequences=$(jq -r 'select(.header.producerId == "victim") | .header.sequence' "$work/poison.json" | tr '\n' ' ')
    echo "poison: victim's sequences printed: $sequences"
    cat "$work/poison.err"
    # 1000 is the hostile endpoint's own stream (a new origin: its baseline).
    check "poison: every real report arrived, in order" [ "$sequences" = "1 2 1000 3 4 5 " ]
    check "poison: no absurd loss count" grep -q "gaps 0 (lost 0)" "$work/poison.err"
    check "poison: the absurd sequences were counted" grep -q "implausible 2," "$work/poison.err"
}

section_inject() {
    local port sub lines
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --count 5004 \
        >"$work/inject.json" 2>"$work/inject.err" &
    sub=$!
    "$HOSTILE" inject "tcp://127.0.0.1:$port"
    check "inject: the publisher sent everything" [ $? -eq 0 ]
    wait_pid "$sub" 20
    check "inject: the subscriber printed all 5,004 reports (exit 0)" [ $? -eq 0 ]
    lines=$(wc -l <"$work/inject.err")
    echo "inject: $lines stderr line(s) for a gap, 5,001 restarts; the first and last lines:"
    head -n 3 "$work/inject.err"
    tail -n 3 "$work/inject.err"
    check "inject: no escape byte on stderr" bash -c "! grep -q $'\x1b' '$work/inject.err'"
    check "inject: no forged line on stderr" bash -c "! grep -q '^tcpwin-subscriber: FORGED' '$work/inject.err'"
    check "inject: the producer id is shown escaped" grep -q 'evil\\x0atcpwin-subscriber: FORGED line \\x1b\[31mred' "$work/inject.err"
    check "inject: at most 30 lines" [ "$lines" -le 30 ]
    check "inject: the suppressed lines are counted" grep -q "similar restart line(s) suppressed" "$work/inject.err"
}

section_amplify() {
    local port sub rss
    port=$(free_port)
    /usr/bin/time -f "%M" -o "$work/amplify.rss" "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" \
        print --format json --until-final --stats >"$work/amplify.json" 2>"$work/amplify.err" &
    sub=$!
    "$HOSTILE" amplify "tcp://127.0.0.1:$port" 20
    check "amplify: the publisher sent everything" [ $? -eq 0 ]
    wait_pid "$sub" 60
    check "amplify: the subscriber got the final report after it (exit 0)" [ $? -eq 0 ]
    rss=$(tail -n 1 "$work/amplify.rss")
    echo "amplify: a 20 MB payload of empty host rows, subscriber's peak RSS ${rss} KiB"
    cat "$work/amplify.err"
    check "amplify: the payload was refused and counted" grep -q "too big 1" "$work/amplify.err"
    check "amplify: peak RSS under 400 MiB" [ "${rss:-999999999}" -lt $((400 * 1024)) ]
}

section_nofinal() {
    local port sub rc started
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final \
        >"$work/nofinal.json" 2>"$work/nofinal.err" &
    sub=$!
    "$HOSTILE" nofinal "tcp://127.0.0.1:$port"
    check "nofinal: the publisher sent everything" [ $? -eq 0 ]
    started=$(now_ms)
    wait_pid "$sub" 15
    rc=$?
    echo "nofinal: exit $rc $(($(now_ms) - started)) ms after the publisher ended"
    cat "$work/nofinal.err"
    check "nofinal: print --until-final ended with status 3" [ "$rc" -eq 3 ]
    check "nofinal: both reports were printed" [ "$(wc -l <"$work/nofinal.json")" -eq 2 ]
    check "nofinal: it said why" grep -q "run ended without a final report reaching us" "$work/nofinal.err"
}

for section in ${SECTIONS:-poison inject amplify nofinal}; do
    started=$(now_ms)
    "section_$section"
    echo "section $section: $(($(now_ms) - started)) ms"
done
summary
