#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Captures whose clock lies: pcapng files written here, at run time, with an
# interface timestamp offset (if_tsoffset, which libpcap applies) or packet
# times that jump. The producer must not overflow, storm reports, end every
# flow as idle, stop reporting, or publish a negative duration; a jump of
# capture time beyond the bound (1 hour) is counted in timeJumps.
source "$(dirname "$0")/lib.sh"

# le BYTES VALUE: appends VALUE, little-endian in BYTES bytes, to buf as
# printf escapes; raw ESCAPES: appends bytes already written as escapes.
# Both without a fork (printf -v): a command substitution per byte made
# writing the 600-packet captures below take 50 s of this test's 53.
le() {
    local n=$1 v=$2 i byte
    for ((i = 0; i < n; i++)); do
        printf -v byte '\\x%02x' $(((v >> (8 * i)) & 255))
        buf+=$byte
    done
}
raw() { buf+=$1; }
# write_pcapng OUT TSOFFSET_S TIME_US...: a pcapng (Ethernet, microseconds)
# whose interface has if_tsoffset TSOFFSET_S, with one TCP packet per time:
# flows 10.0.0.N:4000N -> 10.0.0.99:80, N cycling 1..4, every 7th a zero window.
write_pcapng() {
    local out=$1 tsoffset=$2 i=0 t from window buf=
    shift 2
    raw '\x0a\x0d\x0d\x0a' && le 4 28
    raw '\x4d\x3c\x2b\x1a\x01\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff' && le 4 28
    le 4 1 && le 4 36 && le 2 1 && le 2 0 && le 4 65535 && le 2 14 && le 2 8 && le 8 "$tsoffset"
    le 4 0 && le 4 36
    for t in "$@"; do
        from=$((1 + i % 4))
        window=$((i % 7 == 0 ? 0 : 500))
        le 4 6 && le 4 88 && le 4 0 && le 4 $((t >> 32)) && le 4 $((t & 0xffffffff))
        le 4 54 && le 4 54
        le 6 0 && le 6 0
        raw '\x08\x00\x45\x00\x00\x28\x00\x00\x00\x00\x40\x06\x00\x00\x0a\x00\x00'
        le 1 "$from" && raw '\x0a\x00\x00\x63'
        raw '\x9c' && le 1 "$from" && raw '\x00\x50' && le 4 0 && le 4 0 && raw '\x50\x10'
        le 1 $((window >> 8)) && le 1 $((window & 255)) && raw '\x00\x00\x00\x00'
        raw '\x00\x00' && le 4 88
        i=$((i + 1))
    done
    printf "$buf" >"$out"
}

T2011=1294817000  # Wed 12 Jan 2011, seconds
US=1000000
# times START_S STEP_US N: N times in microseconds from START_S, STEP_US apart.
times() {
    local start=$1 step=$2 n=$3 i
    for ((i = 0; i < n; i++)); do echo $((start * US + i * step)); done
}
# reports FILE: reports published; flows_ended_as FILE REASON: flow records
# with that end reason; final_counter FILE NAME: a counter of the final report.
reports() { jq -r 'select(.topic == "tcpwin.report") | .timeUs' "$1" | wc -l; }
flows_ended_as() { jq -r --arg r "$2" 'select(.topic == "tcpwin.flow" and .endReason == $r) | 1' "$1" | wc -l; }
final_counter() { jq -r --arg c "$2" 'select(.topic == "tcpwin.report" and .final) | .counters[$c]' "$1"; }
min_zero_window_us() {
    jq -s '[.[] | select(.topic == "tcpwin.flow") | (.zeroWindowUs | tonumber)] | min' "$1"
}

# 600 packets, 0.1 s apart, in 2011: 60 s of capture, 12 boundaries crossed.
mapfile -t plain < <(times "$T2011" 100000 600)
write_pcapng "$work/plain.pcapng" 0 "${plain[@]}"
replay "$work/plain.pcapng" "$work/plain.json" json --flows --min-pkts 1
check "plain: exit 0" [ "$producer_rc" -eq 0 ]
plain_reports=$(reports "$work/plain.json")
check "plain: a report per 5 s and the final one ($plain_reports)" [ "$plain_reports" -ge 12 ]

# The same with packet 300 dated 2038: a stray clock must not end every flow
# as idle nor silence the reports after it.
stray=("${plain[@]}")
stray[300]=$((2145916800 * US))
write_pcapng "$work/stray.pcapng" 0 "${stray[@]}"
replay "$work/stray.pcapng" "$work/stray.json" json --flows --min-pkts 1
check "stray 2038 packet: exit 0" [ "$producer_rc" -eq 0 ]
check "stray 2038 packet: as many reports as without it" \
    [ "$(reports "$work/stray.json")" -eq "$plain_reports" ]
check "stray 2038 packet: no flow ended as idle" [ "$(flows_ended_as "$work/stray.json" END_REASON_IDLE)" -eq 0 ]
check "stray 2038 packet: the jumps are counted" [ "$(final_counter "$work/stray.json" timeJumps)" -ge 1 ]

# 60 packets a second apart, shifted by an offset that carries them across
# the largest time in microseconds a signed 64-bit number holds (at about
# 9,223,372,036,854 s: the offset plus 1,294,817,629 s), 30 s in. Before: a
# report for most packets; now at most one per 5 s of the 60 and the final.
mapfile -t straddle < <(times 1294817600 "$US" 60)
write_pcapng "$work/straddle.pcapng" 9222077219225 "${straddle[@]}"
replay "$work/straddle.pcapng" "$work/straddle.json" json --flows --min-pkts 1
check "int64 overflow: exit 0" [ "$producer_rc" -eq 0 ]
check "int64 overflow: no report per packet ($(reports "$work/straddle.json") reports)" \
    [ "$(reports "$work/straddle.json")" -le 13 ]
check "int64 overflow: no negative time in a flow record" \
    [ "$(jq -s '[.[] | select(.topic == "tcpwin.flow") | (.lastUs | tonumber)] | min >= 0' "$work/straddle.json")" = true ]

# A zero window at +2000 s, then the same flow at +607 s: time going back
# never makes a negative duration.
mapfile -t back < <(for s in 2000 2001 2002 2003 607 608 609 610; do echo $(((T2011 + s) * US)); done)
write_pcapng "$work/back.pcapng" 0 "${back[@]}"
replay "$work/back.pcapng" "$work/back.json" json --flows --min-pkts 1
check "time going back: exit 0" [ "$producer_rc" -eq 0 ]
check "time going back: no negative zeroWindowUs ($(min_zero_window_us "$work/back.json"))" \
    [ "$(min_zero_window_us "$work/back.json")" -ge 0 ]
summary
