#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Every capture in tests/data through producer and subscriber, compared with
# tshark's per-direction counts in tests/data/expected/ (made by oracle.sh):
#  - with --flows, the per-direction TCP packet and zero-window counts, summed
#    per address/port pair from the JSON flow records, equal tshark's;
#  - the final legacy table equals the table derived from tshark's counts
#    (per source IP the direction with the highest zero/packets ratio);
#  - damaged inputs: a cut file is read up to the cut (exit 3, final report),
#    a file that is not a capture is refused (exit 1, nothing published).
source "$(dirname "$0")/lib.sh"

# Per-direction lines "src sport dst dport packets zero" from JSON flow records.
directions_from_json() {
    jq -r 'select(.topic == "tcpwin.flow") | "\(.srcIp) \(.srcPort) \(.dstIp) \(.dstPort) \(.tcpPackets) \(.undershootPackets)"' "$1" |
        awk '{k = $1 " " $2 " " $3 " " $4; n[k] += $5; z[k] += $6} END {for (k in n) print k, n[k], z[k]}' |
        LC_ALL=C sort -k1,1 -k2,2n -k3,3 -k4,4n
}

# The legacy rows tshark's counts imply with --min-pkts 1, sorted.
table_from_oracle() {
    awk '$6 > 0 {r = $6 / $5; if (!($1 in best) || r > best[$1]) {best[$1] = r; pk[$1] = $5}}
         END {for (ip in best) printf "%s\t%u\t%f\n", ip, pk[ip], best[ip]}' "$1" | LC_ALL=C sort
}

# The rows of the last table in a legacy text output, sorted.
last_table() {
    awk '/^# IP\t/ {n = 0; delete rows; next} /^#/ || /^$/ {next} {rows[++n] = $0}
         END {for (i = 1; i <= n; i++) print rows[i]}' "$1" | LC_ALL=C sort
}

for capture in "$DATA"/*.pcap "$DATA"/*.pcapng; do
    name=$(basename "$capture")
    expected="$DATA/expected/$name.txt"
    [ -f "$expected" ] || continue
    oracle_rc=$(cat "$DATA/expected/$name.rc")
    replay "$capture" "$work/$name.json" json --flows --min-pkts 1
    if [ "$name" = debian-pcapfix__test_without_pcap_header.pcap ]; then
        check "$name: refused with exit 1" [ "$producer_rc" -eq 1 ]
        check "$name: one clear error line" grep -q "cannot open.*unknown file format" "$work/$name.json.producer.err"
        check "$name: nothing published" [ ! -s "$work/$name.json" ]
        continue
    fi
    want_rc=0
    [ "$oracle_rc" = 2 ] && want_rc=3
    check "$name: producer exit $want_rc" [ "$producer_rc" -eq "$want_rc" ]
    check "$name: subscriber got the final report" [ "$subscriber_rc" -eq 0 ]
    directions_from_json "$work/$name.json" >"$work/$name.directions"
    if diff -u "$expected" "$work/$name.directions"; then
        pass "$name: $(wc -l <"$expected") directions match tshark"
    else
        fail "$name: directions differ from tshark"
    fi
    replay "$capture" "$work/$name.txt" text --min-pkts 1
    table_from_oracle "$expected" >"$work/$name.want-table"
    last_table "$work/$name.txt" >"$work/$name.got-table"
    if diff -u "$work/$name.want-table" "$work/$name.got-table"; then
        pass "$name: final legacy table ($(wc -l <"$work/$name.want-table") rows) matches tshark's counts"
    else
        fail "$name: final legacy table differs"
    fi
done

# The bundled sample with the defaults: the tutorial's one row, byte for byte.
replay "$DATA/zeek__206_example_b.pcap" "$work/sample.txt" text
printf '192.168.72.14\t460\t0.123913\n' >"$work/sample.want"
last_table "$work/sample.txt" >"$work/sample.got"
check "sample: final table is the tutorial's row" diff -u "$work/sample.want" "$work/sample.got"
check "sample: every block is header, rows, empty line" \
    awk 'BEGIN {s = 0} s == 0 && /^# [A-Z][a-z][a-z] [0-9][0-9] [A-Z][a-z][a-z] [0-9]{4} [0-9:]{8}$/ {s = 1; next}
         s == 1 && $0 == "# IP\tpktTcpCnt\twinRelThCnt" {s = 2; next}
         s == 2 && /^[0-9.]+\t[0-9]+\t[0-9]+\.[0-9]{6}$/ {next}
         s == 2 && $0 == "" {s = 0; next} {exit 1} END {exit s != 0}' "$work/sample.txt"

summary
