#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# The Wireshark-grade stall figures against tshark, per direction, from the
# JSON flow records of producer and subscriber:
#  - on every capture in tests/data, zeroWindowAdverts equals tshark's
#    tcp.analysis.zero_window (oracle.sh --extra, run live when tshark is
#    installed, else tests/data/expected/*.extra.txt) and windowProbes
#    equals tshark's tcp.analysis.zero_window_probe (tshark only);
#  - on a capture written here (a stall probed with 1-byte and Linux's
#    zero-length probes, then reopened; a RST close with window 0), the same
#    comparisons and the figures the crafted packets imply.
source "$(dirname "$0")/lib.sh"

have_tshark=0
command -v tshark >/dev/null 2>&1 && have_tshark=1

# json_directions FILE FIELD: "src sport dst dport sum" per direction, FIELD
# of the flow records summed, every direction listed.
json_directions() {
    jq -r --arg f "$2" 'select(.topic == "tcpwin.flow") | "\(.srcIp) \(.srcPort) \(.dstIp) \(.dstPort) \(.[$f] | tonumber)"' "$1" |
        awk '{k = $1 " " $2 " " $3 " " $4; n[k] += $5} END {for (k in n) print k, n[k]}' |
        LC_ALL=C sort -k1,1 -k2,2n -k3,3 -k4,4n
}

# nonzero: drops the lines whose last column is 0.
nonzero() { awk '$NF != 0'; }

# oracle_zero_windows CAPTURE: "src sport dst dport ws_zero_window" per direction.
oracle_zero_windows() {
    local name extra
    name=$(basename "$1")
    if [ "$have_tshark" = 1 ]; then
        extra=$("$DATA/oracle.sh" --extra "$1" 2>/dev/null)
    else
        extra=$(cat "$DATA/expected/$name.extra.txt")
    fi
    awk 'NF {print $1, $2, $3, $4, $7}' <<<"$extra"
}

# tshark_probes CAPTURE: "src sport dst dport count" of the frames tshark
# flags tcp.analysis.zero_window_probe, per direction (innermost addresses).
tshark_probes() {
    local cfg
    cfg=$(mktemp -d "$work/wsprof.XXXXXX")
    WIRESHARK_CONFIG_DIR="$cfg" tshark -n -r "$1" -o tcp.analyze_sequence_numbers:TRUE \
        -o tcp.desegment_tcp_streams:FALSE -Y 'tcp.analysis.zero_window_probe && !icmp && !icmpv6' \
        -T fields -E occurrence=l -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst -e tcp.srcport -e tcp.dstport 2>/dev/null |
        awk -F'\t' '{s = $3 != "" ? $3 : $1; d = $4 != "" ? $4 : $2; n[s " " $5 " " d " " $6]++}
                    END {for (k in n) print k, n[k]}' |
        LC_ALL=C sort -k1,1 -k2,2n -k3,3 -k4,4n
}

# compare NAME CAPTURE JSON: the two comparisons with tshark for one capture.
compare() {
    local name=$1 capture=$2 json=$3
    oracle_zero_windows "$capture" | LC_ALL=C sort -k1,1 -k2,2n -k3,3 -k4,4n >"$work/$name.want-zw"
    json_directions "$json" zeroWindowAdverts >"$work/$name.got-zw"
    if diff -u "$work/$name.want-zw" "$work/$name.got-zw"; then
        pass "$name: zero-window adverts of $(wc -l <"$work/$name.want-zw") directions equal tshark's ($(awk '{s += $5} END {print s + 0}' "$work/$name.want-zw") in all)"
    else
        fail "$name: zero-window adverts differ from tshark's tcp.analysis.zero_window"
    fi
    if [ "$have_tshark" = 1 ]; then
        tshark_probes "$capture" >"$work/$name.want-probes"
        json_directions "$json" windowProbes | nonzero >"$work/$name.got-probes"
        if diff -u "$work/$name.want-probes" "$work/$name.got-probes"; then
            pass "$name: 1-byte probes equal tshark's zero_window_probe ($(awk '{s += $5} END {print s + 0}' "$work/$name.want-probes") in all)"
        else
            fail "$name: 1-byte probes differ from tshark's tcp.analysis.zero_window_probe"
        fi
    fi
}

for capture in "$DATA"/*.pcap "$DATA"/*.pcapng; do
    name=$(basename "$capture")
    [ -f "$DATA/expected/$name.extra.txt" ] || continue
    replay "$capture" "$work/$name.json" json --flows --min-pkts 1
    if [ "$producer_rc" -ne 0 ] && [ "$producer_rc" -ne 3 ]; then
        # A file the producer refuses (e2e_captures checks why): nothing to count.
        check "$name: refused, and tshark counts nothing in it either" [ ! -s "$DATA/expected/$name.extra.txt" ]
        continue
    fi
    compare "$name" "$capture" "$work/$name.json"
done

# Linux's zero-length probes into a real stall, which Wireshark calls
# keep-alives; the keep-alives of a healthy connection are no probes.
dead=chrissanders-packets__tcp_zerowindowdead.pcapng
check "$dead: the sender's 3 zero-length probes (tshark's keep-alives into the stall)" \
    [ "$(json_directions "$work/$dead.json" zeroLengthProbes | nonzero)" = "195.81.202.68 80 172.31.136.85 38760 3" ]
check "ndpi__mining.pcapng: 6 keep-alives outside any stall are no probes" \
    [ -z "$(json_directions "$work/ndpi__mining.pcapng.json" zeroLengthProbes | nonzero)" ]

# --- a crafted stall --------------------------------------------------------
# hex_le32 N: N as 4 little-endian bytes, in hex.
hex_le32() { printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
hex_be16() { printf '%04x' $(($1 & 65535)); }
hex_be32() { printf '%08x' $(($1 & 0xffffffff)); }

# segment T_US SRC DST SPORT DPORT SEQ ACK FLAGS WINDOW PAYLOAD: one pcap
# record (raw IPv4, LINKTYPE_RAW) in hex; checksums are left 0 (tshark does
# not check them by default).
segment() {
    local t=$1 src=$2 dst=$3 sport=$4 dport=$5 seq=$6 ack=$7 flags=$8 window=$9 payload=${10}
    local len=$((40 + payload)) ip tcp data=""
    ip="4500$(hex_be16 $len)00004000400600000a0000$(printf %02x "$src")0a0000$(printf %02x "$dst")"
    tcp="$(hex_be16 "$sport")$(hex_be16 "$dport")$(hex_be32 "$seq")$(hex_be32 "$ack")50$(printf %02x "$flags")$(hex_be16 "$window")00000000"
    for ((i = 0; i < payload; i++)); do data+="61"; done
    printf '%s%s%s%s%s%s%s' "$(hex_le32 $((t / 1000000)))" "$(hex_le32 $((t % 1000000)))" \
        "$(hex_le32 $len)" "$(hex_le32 $len)" "$ip" "$tcp" "$data"
}

ACK=16 PSH_ACK=24 SYN=2 SYN_ACK=18 FIN_ACK=17 RST=4
{
    printf 'd4c3b2a1020004000000000000000000ffff000065000000'
    t=1700000000000000
    # Client 10.0.0.1:40000 sends to server 10.0.0.2:80, whose window closes.
    segment $t 1 2 40000 80 999 0 $SYN 64240 0
    segment $((t + 100)) 2 1 80 40000 6999 1000 $SYN_ACK 65535 0
    segment $((t + 200)) 1 2 40000 80 1000 7000 $ACK 502 0
    segment $((t + 1000)) 1 2 40000 80 1000 7000 $PSH_ACK 502 100
    segment $((t + 1100)) 2 1 80 40000 7000 1100 $ACK 0 0
    for i in 1 2 3; do  # 1-byte probes, as Windows and BSD send them
        segment $((t + i * 400000)) 1 2 40000 80 1100 7000 $ACK 502 1
        segment $((t + i * 400000 + 50)) 2 1 80 40000 7000 1100 $ACK 0 0
    done
    for i in 4 5; do  # zero-length probes at snd_una - 1, as Linux sends them
        segment $((t + i * 400000)) 1 2 40000 80 1099 7000 $ACK 502 0
        segment $((t + i * 400000 + 50)) 2 1 80 40000 7000 1100 $ACK 0 0
    done
    segment $((t + 3000000)) 2 1 80 40000 7000 1100 $ACK 65535 0
    segment $((t + 3000100)) 1 2 40000 80 1100 7000 $PSH_ACK 502 100
    segment $((t + 3000200)) 2 1 80 40000 7000 1200 $ACK 65535 0
    segment $((t + 3000300)) 1 2 40000 80 1200 7000 $FIN_ACK 502 0
    segment $((t + 3000400)) 2 1 80 40000 7000 1201 $FIN_ACK 65535 0
    segment $((t + 3000500)) 1 2 40000 80 1201 7001 $ACK 502 0
    # A healthy exchange closed by a RST with window 0: no stall.
    segment $((t + 4000000)) 3 2 40001 80 5000 9000 $PSH_ACK 502 10
    segment $((t + 4000100)) 2 3 80 40001 9000 5010 $ACK 65535 0
    segment $((t + 4000200)) 3 2 40001 80 5010 0 $RST 0 0
} | xxd -r -p >"$work/crafted.pcap"
replay "$work/crafted.pcap" "$work/crafted.json" json --flows --min-pkts 1
check "crafted: producer exit 0" [ "$producer_rc" -eq 0 ]
compare crafted "$work/crafted.pcap" "$work/crafted.json"
server=$(jq -c 'select(.topic == "tcpwin.flow" and .srcIp == "10.0.0.2" and .srcPort == 80 and .dstPort == 40000)' "$work/crafted.json")
client=$(jq -c 'select(.topic == "tcpwin.flow" and .srcIp == "10.0.0.1")' "$work/crafted.json")
rst=$(jq -c 'select(.topic == "tcpwin.flow" and .srcIp == "10.0.0.3")' "$work/crafted.json")
check "crafted: the server's one stall, 6 zero windows, reopened, 3.0 s minus 1100 us" \
    [ "$(jq -r '[.stalls, .zeroWindowAdverts, .windowReopenings, .stallUs] | join(" ")' <<<"$server")" = "1 6 1 2998900" ]
check "crafted: the client sent 3 one-byte and 2 zero-length probes" \
    [ "$(jq -r '[.windowProbes, .zeroLengthProbes] | join(" ")' <<<"$client")" = "3 2" ]
check "crafted: the RST with window 0 is an undershoot, not a stall" \
    [ "$(jq -r '[.undershootPackets, .zeroWindowAdverts, .stalls] | join(" ")' <<<"$rst")" = "1 0 0" ]
check "crafted: the final report's counters" \
    [ "$(jq -r 'select(.topic == "tcpwin.report" and .final) | .counters | [.zeroWindowAdverts, .stalls, .probes, .windowReopenings, .stallUs] | join(" ")' "$work/crafted.json")" = "6 1 5 1 2998900" ]
check "crafted: the server's host row sums its stall" \
    [ "$(jq -r 'select(.topic == "tcpwin.report" and .final) | .hosts[] | select(.ip == "10.0.0.2") | [.zeroWindowAdverts, .flowsStalled, .stallUs, .probesReceived] | join(" ")' "$work/crafted.json")" = "6 1 2998900 5" ]

[ "$have_tshark" = 1 ] || echo "note: tshark not installed: zero windows compared with tests/data/expected, probes only with the crafted figures"
summary
