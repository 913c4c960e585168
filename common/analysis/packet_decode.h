// SPDX-License-Identifier: MPL-2.0
/*  packet_decode: captured bytes -> the TCP facts the window analysis needs.

    Pure: no I/O, no allocation, no global state. Give it the link type of the
    capture (a libpcap DLT_* value, as pcap_datalink() returns) and one captured
    frame; it walks the link layer, any tunnels, IPv4/IPv6 and stops at the
    innermost TCP header. It never reads past caplen.

    A frame that is cut by the snap length before the fields we need is
    TW_DECODE_TRUNCATED; a frame whose headers contradict themselves is
    TW_DECODE_MALFORMED. The two are counted separately by the caller.
*/
#ifndef TW_PACKET_DECODE_H
#define TW_PACKET_DECODE_H

#include <stdbool.h>
#include <stdint.h>

enum {
    TW_TCP_FIN = 0x01,
    TW_TCP_SYN = 0x02,
    TW_TCP_RST = 0x04,
    TW_TCP_PSH = 0x08,
    TW_TCP_ACK = 0x10,
};

typedef enum {
    TW_DECODE_OK = 0,     // *out holds an innermost TCP header
    TW_DECODE_NOT_TCP,    // well-formed, but not TCP (ARP, UDP, ICMP, ...)
    TW_DECODE_FRAGMENT,   // a non-first IP fragment: no TCP header in it
    TW_DECODE_TRUNCATED,  // cut by the snap length before the TCP window
    TW_DECODE_MALFORMED,  // inconsistent header (bad length, version, ...)
} tw_decode_status;

typedef struct {
    uint8_t ip_version;  // 4 or 6
    uint8_t src[16];     // IPv4: first 4 bytes, the rest zero
    uint8_t dst[16];
    uint16_t src_port;  // host byte order
    uint16_t dst_port;
    uint16_t window;      // raw 16-bit window field, host byte order
    uint8_t flags;        // TCP flags byte (TW_TCP_*)
    int8_t window_scale;  // SYN's window scale option shift, -1 if absent
    uint32_t seq;         // sequence and acknowledgment numbers, host byte order
    uint32_t ack;
    uint32_t payload_len;  // TCP payload bytes per the IP length (the wire's, not caplen's)
} tw_packet;

//  True when tw_packet_decode understands frames of this libpcap link type.
bool tw_link_supported(int dlt);

//  Decodes one frame. Returns TW_DECODE_OK and fills *out, or another status
//  and leaves *out unspecified. caplen is the captured length, wirelen the
//  length on the wire (caplen < wirelen means the snap length cut the frame).
//  A link type tw_link_supported() rejects gives TW_DECODE_NOT_TCP: check it
//  once per capture, not per frame.
tw_decode_status tw_packet_decode(int dlt, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                                  tw_packet *out);

#endif
