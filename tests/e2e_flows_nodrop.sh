#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Reading a file, a subscriber that keeps reading loses nothing, even with
# --flows on a capture of a million flows: the producer's XPUB NODROP makes
# it wait for the subscriber instead of dropping. Every flow record arrives,
# in sequence, and the producer counts no dropped message.
source "$(dirname "$0")/lib.sh"
: "${GEN_CAPTURE:=$here/../build/tests/gen_capture}"
connections=${CONNECTIONS:-500000}
"$GEN_CAPTURE" --concurrent-flows "$connections" --out "$work/many.pcap" 2>"$work/gen.err"
directions=$((connections * 2))

port=$(free_port)
"$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final --stats \
    2>"$work/sub.err" | awk '/"topic":"tcpwin.flow"/ {f++} /"final":true/ {print} END {print f + 0 > "/dev/stderr"}' \
    >"$work/final.json" 2>"$work/flows.count" &
pids+=($!)
start=$(date +%s.%N)
"$PRODUCER" -r "$work/many.pcap" --publish "tcp://127.0.0.1:$port" --wait-subscribers 1 --flows \
    --max-flows $((directions + 1000)) --min-pkts 1
check "producer exit 0" [ $? -eq 0 ]
wait "${pids[@]}"
end=$(date +%s.%N)
flows=$(cat "$work/flows.count")
ended=$(jq -r '.counters.flowsEnded' "$work/final.json")
dropped=$(jq -r '.counters.messagesDropped' "$work/final.json")
echo "directions $directions, flow records received $flows, flowsEnded $ended, messagesDropped $dropped, $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s"
cat "$work/sub.err"
check "every flow record arrived" [ "$flows" = "$directions" ]
check "the producer ended that many flows" [ "$ended" = "$directions" ]
check "the producer dropped nothing" [ "$dropped" = 0 ]
check "the subscriber saw no gap" grep -q "gaps 0 (lost 0)" "$work/sub.err"
summary
