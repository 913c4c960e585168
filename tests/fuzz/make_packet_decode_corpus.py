#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Writes the seed corpus of fuzz_packet_decode: small valid frames, one per
link type and tunnel, in the fuzzer's input format

    byte 0: link type index (see LINK_TYPES in fuzz_packet_decode.c)
    byte 1: bytes the snap length cut off the frame, minus one
    rest:   the captured frame

Run it from anywhere; it rewrites tests/fuzz/corpus/packet_decode/."""
import os
import struct

EN10MB, SLL, SLL2, NULL, LOOP, RAW = 0, 1, 2, 3, 4, 5
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "packet_decode")


def ether(ethertype):
    return bytes.fromhex("020000000001020000000002") + struct.pack("!H", ethertype)


def tcp(flags=0x10, window=0, options=b""):
    options += b"\0" * (-len(options) % 4)
    offset = (5 + len(options) // 4) << 4
    return struct.pack("!HHIIBBHHH", 40000, 443, 1, 2, offset, flags, window, 0, 0) + options


def ipv4(proto, payload, options=b"", frag=0x4000):
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(payload)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, frag, 64, proto, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return header + options + payload


def ipv6(next_header, payload):
    src = bytes.fromhex("20010db8000000000000000000000001")
    dst = bytes.fromhex("20010db8000000000000000000000002")
    return struct.pack("!IHBB", 0x60000000, len(payload), next_header, 64) + src + dst + payload


SYN = tcp(0x02, 65535, bytes.fromhex("020405b4 0402 080a0000000100000000 01 030307".replace(" ", "")))
ACK0 = tcp(0x10, 0)

SEEDS = {
    "eth_ipv4_syn_wscale": (EN10MB, ether(0x0800) + ipv4(6, SYN)),
    "eth_vlan_ipv6_zero_window": (EN10MB, ether(0x8100) + struct.pack("!HH", 10, 0x86DD)
                                  + ipv6(6, ACK0)),
    "eth_qinq_padded": (EN10MB, ether(0x88A8) + struct.pack("!HHHH", 20, 0x8100, 10, 0x0800)
                        + ipv4(6, ACK0) + b"\0" * 6),
    "sll_ipv4": (SLL, bytes(14) + struct.pack("!H", 0x0800) + ipv4(6, ACK0)),
    "sll2_ipv6": (SLL2, struct.pack("!HHIHBB", 0x86DD, 0, 2, 1, 0, 6) + bytes(8) + ipv6(6, ACK0)),
    "null_le_ipv4": (NULL, struct.pack("<I", 2) + ipv4(6, ACK0)),
    "loop_ipv6": (LOOP, struct.pack("!I", 24) + ipv6(6, SYN)),
    "raw_ipv4_options": (RAW, ipv4(6, ACK0, options=b"\x01" * 8)),
    "eth_mpls2_ipv4": (EN10MB, ether(0x8847) + struct.pack("!II", 1000 << 12 | 64,
                                                             2000 << 12 | 0x100 | 64)
                       + ipv4(6, ACK0)),
    "eth_pppoe_ipv6": (EN10MB, ether(0x8864) + struct.pack("!BBHHH", 0x11, 0, 1, 2 + 60, 0x0057)
                       + ipv6(6, ACK0)),
    "eth_gre_key_csum_teb": (EN10MB, ether(0x0800) + ipv4(47, struct.pack("!BBHII", 0xA0, 0, 0x6558,
                                                                          0, 42)
                                                          + ether(0x0800) + ipv4(6, ACK0))),
    "eth_vxlan": (EN10MB, ether(0x86DD) + ipv6(17, struct.pack("!HHHH", 5555, 4789, 8 + 8 + 14 + 40,
                                                               0)
                                               + struct.pack("!II", 0x08000000, 0x100)
                                               + ether(0x0800) + ipv4(6, ACK0))),
    "eth_ipv6_ext_frag": (EN10MB, ether(0x86DD) + ipv6(0, bytes([43, 0]) + bytes(6)
                                                       + bytes([44, 0, 0, 0]) + bytes(4)
                                                       + struct.pack("!BBHI", 6, 0, 1, 7) + ACK0)),
    "raw_4in6": (RAW, ipv6(4, ipv4(6, SYN))),
    "raw_6in4": (RAW, ipv4(41, ipv6(6, ACK0))),
    "eth_ipv4_fragment": (EN10MB, ether(0x0800) + ipv4(6, bytes(20), frag=185)),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (link, frame) in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes([link, 0]) + frame)


if __name__ == "__main__":
    main()
