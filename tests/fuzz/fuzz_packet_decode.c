// SPDX-License-Identifier: MPL-2.0
/*  fuzz_packet_decode: libFuzzer target for packet_decode.

    Input: byte 0 picks the link type (one of the supported ones, or one the
    decoder must refuse), byte 1 is how many bytes the snap length cut off the
    frame, the rest is the captured frame. libFuzzer's buffer ends exactly at
    the frame's end, so AddressSanitizer sees any read past caplen.

    Each frame is decoded twice, as a whole frame (caplen == wirelen) and as a
    snapped one (wirelen > caplen). The decoder may only read below the IP
    lengths and caplen, whatever wirelen says, so the two runs must agree
    except that a snapped frame's short header is TRUNCATED where the whole
    frame's is MALFORMED. A disagreement, or an impossible result, aborts.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/dlt.h>

#include "packet_decode.h"

static const int LINK_TYPES[] = {
    DLT_EN10MB,
    DLT_LINUX_SLL,
    276 /* SLL2 */,
    DLT_NULL,
    DLT_LOOP,
    DLT_RAW,
    12,
    14,
    101 /* LINKTYPE_RAW */,
    228 /* IPV4 */,
    229 /* IPV6 */,
    DLT_PPP /* unsupported */,
};
#define LINK_TYPE_COUNT (sizeof LINK_TYPES / sizeof LINK_TYPES[0])

static void s_check_packet(const tw_packet *p)
{
    static const uint8_t zeros[12] = {0};
    if (p->ip_version != 4 && p->ip_version != 6)
        abort();
    if (p->ip_version == 4 && (memcmp(p->src + 4, zeros, sizeof zeros) != 0 ||
                               memcmp(p->dst + 4, zeros, sizeof zeros) != 0))
        abort();
    if (p->window_scale < -1 || p->window_scale > 14)
        abort();
    if (p->window_scale != -1 && !(p->flags & TW_TCP_SYN))
        abort();
}

static int s_same_packet(const tw_packet *a, const tw_packet *b)
{
    return a->ip_version == b->ip_version && memcmp(a->src, b->src, sizeof a->src) == 0 &&
           memcmp(a->dst, b->dst, sizeof a->dst) == 0 && a->src_port == b->src_port &&
           a->dst_port == b->dst_port && a->window == b->window && a->flags == b->flags &&
           a->window_scale == b->window_scale && a->seq == b->seq && a->ack == b->ack;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int dlt = LINK_TYPES[data[0] % LINK_TYPE_COUNT];
    uint32_t cut = 1u + data[1];
    const uint8_t *frame = data + 2;
    uint32_t caplen = (uint32_t)(size - 2);

    tw_packet whole, snapped;
    memset(&whole, 0, sizeof whole);
    memset(&snapped, 0, sizeof snapped);
    tw_decode_status s_whole = tw_packet_decode(dlt, frame, caplen, caplen, &whole);
    tw_decode_status s_snapped = tw_packet_decode(dlt, frame, caplen, caplen + cut, &snapped);

    if (s_whole == TW_DECODE_TRUNCATED)
        abort();  // nothing was cut
    if (s_whole == TW_DECODE_MALFORMED && s_snapped == TW_DECODE_TRUNCATED)
        return 0;
    if (s_whole != s_snapped)
        abort();
    if (s_whole == TW_DECODE_OK) {
        s_check_packet(&whole);
        if (!s_same_packet(&whole, &snapped))
            abort();
    }
    if (!tw_link_supported(dlt) && s_whole != TW_DECODE_NOT_TCP)
        abort();
    return 0;
}
