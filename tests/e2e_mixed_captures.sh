#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Captures libpcap cannot read, built here with mergecap from the samples in
# tests/data, read plain and compressed (gzip, zstd, lz4; from a file and
# from standard input): the per-direction TCP packet and zero-window counts,
# summed from the JSON flow records, equal tshark's on the same file
# (tests/data/oracle.sh), and the start line says what was read.
#  - link types: Linux cooked v1 and v2, Ethernet and raw IP in one pcapng,
#    with snap lengths 65535 and 262144;
#  - timestamps: a nanosecond and a microsecond capture in one pcapng;
#  - pcapng inputs merged with classic ones.
source "$(dirname "$0")/lib.sh"
for tool in mergecap gzip zstd lz4 tshark jq; do
    command -v "$tool" >/dev/null || { echo "skip: no $tool"; exit 77; }
done

# Per-direction lines "src sport dst dport packets zero" from JSON flow records.
directions_from_json() {
    jq -r 'select(.topic == "tcpwin.flow") | "\(.srcIp) \(.srcPort) \(.dstIp) \(.dstPort) \(.tcpPackets) \(.undershootPackets)"' "$1" |
        awk '{k = $1 " " $2 " " $3 " " $4; n[k] += $5; z[k] += $6} END {for (k in n) print k, n[k], z[k]}' |
        LC_ALL=C sort -k1,1 -k2,2n -k3,3 -k4,4n
}

# stdin_replay CAPTURE OUT: replay with CAPTURE's bytes on standard input.
stdin_replay() {
    local port sub
    port=$(free_port)
    "$SUBSCRIBER" --connect "tcp://127.0.0.1:$port" print --format json --until-final >"$2" 2>"$2.err" &
    sub=$!
    "$PRODUCER" -r - --publish "tcp://127.0.0.1:$port" --wait-subscribers 1 --wait-timeout 10 \
        --flows --min-pkts 1 <"$1" 2>"$2.producer.err"
    producer_rc=$?
    wait_pid "$sub" 10
}

mergecap -w "$work/links.pcapng" "$DATA/pcapplusplus__sll.pcap" "$DATA/zeek__206_example_b.pcap" \
    "$DATA/pcapplusplus__raw_ip.pcap" "$DATA/lwerdna-filesamples__simple_http_sll2.pcap"
mergecap -w "$work/nano.pcapng" "$DATA/pcapplusplus__nanosecs_big_endian.pcap" \
    "$DATA/zeek__irc-starttls.pcap"
mergecap -w "$work/pcapng-inputs.pcapng" "$DATA/chrissanders-packets__tcp_zerowindowdead.pcapng" \
    "$DATA/ndpi__mining.pcapng" "$DATA/suricata-verify__mqtt-limit-2__input.pcap"

# What libpcap says of the first: the reason this reader exists.
if tcpdump -r "$work/links.pcapng" -c 1 >/dev/null 2>"$work/tcpdump.err"; then
    echo "note: this libpcap reads mixed link types"
else
    check "libpcap refuses the mixed file" grep -q "different from the type" "$work/tcpdump.err"
fi

start_line="reading from file '$work/links.pcapng' (pcapng), link-types LINUX_SLL (Linux cooked v1), EN10MB (Ethernet), RAW (Raw IP), LINUX_SLL2 (Linux cooked v2), snapshot lengths 65535 to 262144"
check "links: the start line names every link type" grep -qx "$start_line" \
    <("$PRODUCER" -r "$work/links.pcapng" --publish "tcp://127.0.0.1:$(free_port)" 2>&1)

for mixed in links nano pcapng-inputs; do
    file=$work/$mixed.pcapng
    bash "$DATA/oracle.sh" "$file" >"$work/$mixed.want"
    check "$mixed: tshark sees TCP directions" [ -s "$work/$mixed.want" ]
    gzip -c "$file" >"$file.gz"
    zstd -q -c "$file" >"$file.zst"
    lz4 -q -c "$file" >"$file.lz4"
    for variant in "" .gz .zst .lz4; do
        name=$mixed.pcapng$variant
        replay "$file$variant" "$work/$name.json" json --flows --min-pkts 1
        check "$name: exit 0" [ "$producer_rc" -eq 0 ]
        directions_from_json "$work/$name.json" >"$work/$name.got"
        if diff -u "$work/$mixed.want" "$work/$name.got"; then
            pass "$name: $(wc -l <"$work/$mixed.want") directions match tshark"
        else
            fail "$name: directions differ from tshark"
        fi
    done
    stdin_replay "$file.zst" "$work/$mixed.stdin.json"
    check "$mixed: zstd on standard input: exit 0" [ "$producer_rc" -eq 0 ]
    check "$mixed: zstd on standard input: the start line says so" \
        grep -q "reading from standard input (pcapng, zstd)" "$work/$mixed.stdin.json.producer.err"
    directions_from_json "$work/$mixed.stdin.json" >"$work/$mixed.stdin.got"
    check "$mixed: zstd on standard input: directions match tshark" \
        diff -u "$work/$mixed.want" "$work/$mixed.stdin.got"
done

# -q: a file of several interfaces read quietly says nothing (no line per
# interface), as README and --help promise.
replay "$work/links.pcapng.lz4" "$work/quiet.json" json -q
check "-q on several interfaces: exit 0" [ "$producer_rc" -eq 0 ]
check "-q on several interfaces: nothing on stderr" [ ! -s "$work/quiet.json.producer.err" ]
check "without -q: a line per interface" grep -q "interface 3 (LINUX_SLL2" "$work/links.pcapng.lz4.json.producer.err"

# nano: the nanosecond interface keeps its resolution in the merged file.
check "nano: one interface in nanoseconds" \
    bash -c "tshark -r '$work/nano.pcapng' -T fields -e frame.interface_id -e frame.time_epoch 2>/dev/null | grep -q '^0	[0-9]*\.[0-9]*[1-9][0-9][0-9]$'"

# A compressed file cut short: damage (exit 3), the packets before it analysed.
head -c 30000 "$work/links.pcapng.gz" >"$work/cut.pcapng.gz"
replay "$work/cut.pcapng.gz" "$work/cut.json" json
check "cut gzip: exit 3" [ "$producer_rc" -eq 3 ]
check "cut gzip: says where" grep -q "is damaged after [1-9][0-9]* packets: at byte" "$work/cut.json.producer.err"
check "cut gzip: the final report counts the packets before the cut" \
    [ "$(jq -r 'select(.final) | .counters.packets' "$work/cut.json")" -gt 0 ]

# An lz4 file of default (4 MiB) blocks cut inside its first block: nothing
# came out of the decompressor, yet it is damage as above (exit 3, where,
# 0 packets, a final report), not "cannot open".
lz4 -q -c "$work/links.pcapng" | head -c 20000 >"$work/cut.pcapng.lz4"
replay "$work/cut.pcapng.lz4" "$work/cut-lz4.json" json
check "lz4 cut before any output: exit 3" [ "$producer_rc" -eq 3 ]
check "lz4 cut before any output: says where and why" grep -q \
    "is damaged after 0 packets: at byte 0: the compressed data ends in the middle of a frame" \
    "$work/cut-lz4.json.producer.err"
check "lz4 cut before any output: a final report of 0 packets" \
    [ "$(jq -r 'select(.final) | .counters.packets' "$work/cut-lz4.json")" = 0 ]

# Padding after the last gzip member ends the file as gzip -d ends it: zeros
# silently, other bytes with one warning; the same directions either way.
for trailer in zeros garbage; do
    cp "$work/links.pcapng.gz" "$work/$trailer.pcapng.gz"
    if [ "$trailer" = zeros ]; then head -c 4096 /dev/zero; else echo "not gzip"; fi >>"$work/$trailer.pcapng.gz"
    replay "$work/$trailer.pcapng.gz" "$work/$trailer.json" json --flows --min-pkts 1
    check "gzip and $trailer after it: exit 0" [ "$producer_rc" -eq 0 ]
    directions_from_json "$work/$trailer.json" >"$work/$trailer.got"
    check "gzip and $trailer after it: directions match tshark" diff -u "$work/links.want" "$work/$trailer.got"
done
check "gzip and zeros after it: no warning" [ "$(grep -c "is not gzip" "$work/zeros.json.producer.err")" -eq 0 ]
check "gzip and garbage after it: one warning" \
    [ "$(grep -c "is not gzip: ignored, as gzip -d does" "$work/garbage.json.producer.err")" -eq 1 ]

# A filter on a file with several link types: compiled for each.
replay "$work/links.pcapng.lz4" "$work/filtered.json" json --flows --min-pkts 1 -f "tcp port 80"
check "filter across link types: exit 0" [ "$producer_rc" -eq 0 ]
awk '$2 == 80 || $4 == 80' "$work/links.want" >"$work/filtered.want"
directions_from_json "$work/filtered.json" >"$work/filtered.got"
check "filter across link types: port 80's directions match tshark" \
    diff -u "$work/filtered.want" "$work/filtered.got"
# Three Ethernet interfaces share one compiled filter.
replay "$work/pcapng-inputs.pcapng.gz" "$work/shared.json" json --flows --min-pkts 1 \
    -f "tcp port 1883 or tcp port 9999"
check "filter shared by interfaces: exit 0" [ "$producer_rc" -eq 0 ]
awk '$2 == 1883 || $4 == 1883 || $2 == 9999 || $4 == 9999' "$work/pcapng-inputs.want" >"$work/shared.want"
directions_from_json "$work/shared.json" >"$work/shared.got"
check "filter shared by interfaces: some directions pass" [ -s "$work/shared.want" ]
check "filter shared by interfaces: their directions match tshark" \
    diff -u "$work/shared.want" "$work/shared.got"

"$PRODUCER" -r "$work/links.pcapng" -f "tcp port" --publish "tcp://127.0.0.1:$(free_port)" 2>"$work/badfilter.err"
check "bad filter on a file: exit 1" [ $? -eq 1 ]
check "bad filter on a file: says why" grep -q "bad filter 'tcp port' for link type" "$work/badfilter.err"

# pcapng blocks written by hand (little-endian), for what mergecap cannot make.
le16() { printf '%b' "$(printf '\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)))"; }
le32() { le16 $(($1 & 65535)); le16 $(($1 >> 16 & 65535)); }
pcapng_section() { le32 0x0A0D0D0A; le32 28; le32 0x1A2B3C4D; le16 1; le16 0; le32 -1; le32 -1; le32 28; }
pcapng_interface() { le32 1; le32 20; le16 "$1"; le16 0; le32 65535; le32 20; }

# A filter is compiled once per link type and a refusal said once, however
# many interfaces and link types come before (65 link types that take
# "len > 0", then two interfaces of one that does not).
{
    pcapng_section
    for link in $(seq 150 214) 1000 1000; do pcapng_interface "$link"; done
} >"$work/many-links.pcapng"
"$PRODUCER" -r "$work/many-links.pcapng" -f "len > 0" --publish "tcp://127.0.0.1:$(free_port)" \
    2>"$work/many-links.err"
check "a link type refusing the filter, past 64 link types: exit 1" [ $? -eq 1 ]
check "a link type refusing the filter, past 64 link types: said once" \
    [ "$(grep -c "bad filter 'len > 0' for link type 1000" "$work/many-links.err")" -eq 1 ]

# One rule wherever the interface of a refusing link type is (here USER0,
# which "tcp" cannot apply to): before the first packet or after packets
# (a second section), the run ends with exit 1 and one line naming it.
editcap -T user0 "$DATA/zeek__irc-starttls.pcap" "$work/user0-only.pcap"
mergecap -w "$work/user0-only.pcapng" "$work/user0-only.pcap"
mergecap -w "$work/ether-only.pcapng" "$DATA/zeek__irc-starttls.pcap"
cat "$work/user0-only.pcapng" "$work/ether-only.pcapng" >"$work/refused-first.pcapng"
cat "$work/ether-only.pcapng" "$work/user0-only.pcapng" >"$work/refused-late.pcapng"
# The same read on the analysis thread (--single-thread), as a pipe is.
for order in first late; do
    for thread in read-ahead single-thread; do
        flag=()
        [ "$thread" = single-thread ] && flag=(--single-thread)
        "$PRODUCER" -r "$work/refused-$order.pcapng" -f tcp --publish "tcp://127.0.0.1:$(free_port)" \
            "${flag[@]}" 2>"$work/refused-$order.err"
        check "filter refused by a link type met $order ($thread): exit 1" [ $? -eq 1 ]
        check "filter refused by a link type met $order ($thread): one line names it" \
            [ "$(grep -c "bad filter 'tcp' for link type 147 (no name known to libpcap) ('$work/refused-$order.pcapng', interface [01])" "$work/refused-$order.err")" -eq 1 ]
    done
done

# A link type the decoder does not know (LINKTYPE_USER0 here): named once,
# its packets counted apart, the other interface's analysed.
editcap -T user0 "$DATA/zeek__irc-starttls.pcap" "$work/user0.pcap"
mergecap -w "$work/unknown.pcapng" "$work/user0.pcap" "$DATA/pcapplusplus__raw_ip.pcap"
replay "$work/unknown.pcapng" "$work/unknown.json" json --flows --min-pkts 1
check "unknown link type: exit 0" [ "$producer_rc" -eq 0 ]
check "unknown link type: named once" \
    [ "$(grep -c "interface 0 has link type 147 (no name known to libpcap), which the decoder does not know" "$work/unknown.json.producer.err")" -eq 1 ]
check "unknown link type: its packets at the end, per link type" \
    grep -q "20 packets of link type 147 (no name known to libpcap), not analysed" "$work/unknown.json.producer.err"
check "unknown link type: its 20 packets counted apart" \
    jq -e 'select(.final == true) | .counters.unknownLinkTypePackets == "20" and .counters.malformedPackets == "0"' "$work/unknown.json" >/dev/null
bash "$DATA/oracle.sh" "$DATA/pcapplusplus__raw_ip.pcap" >"$work/raw.want"
directions_from_json "$work/unknown.json" >"$work/unknown.got"
check "unknown link type: the other interface's directions match tshark" \
    diff -u "$work/raw.want" "$work/unknown.got"
summary
