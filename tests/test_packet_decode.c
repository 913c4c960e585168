// SPDX-License-Identifier: MPL-2.0
/*  test_packet_decode: packet_decode against frames crafted here, layer by
    layer, for every link type, tunnel and failure the decoder distinguishes.

    Each frame is copied into a heap buffer of exactly caplen bytes before it is
    decoded, so AddressSanitizer catches any read past the captured length.
    IP header number n (1 = outermost) gets addresses 10.n.0.1 -> 10.n.0.2 or
    2001:db8:n::1 -> 2001:db8:n::2, so a test can see which header was used.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pcap/dlt.h>

#include "link_type.h"
#include "packet_decode.h"

// The analysis defines the link-type numbers itself (link_type.h) so that it
// needs no libpcap header; they must be libpcap's (this test only includes
// <pcap/dlt.h>, it does not link libpcap).
_Static_assert(TW_LINK_NULL == DLT_NULL, "DLT_NULL");
_Static_assert(TW_LINK_ETHERNET == DLT_EN10MB, "DLT_EN10MB");
_Static_assert(TW_LINK_RAW_DLT == DLT_RAW, "DLT_RAW (Linux)");
_Static_assert(TW_LINK_LOOP == DLT_LOOP, "DLT_LOOP");
_Static_assert(TW_LINK_LINUX_SLL == DLT_LINUX_SLL, "DLT_LINUX_SLL");
#ifdef DLT_LINUX_SLL2
_Static_assert(TW_LINK_LINUX_SLL2 == DLT_LINUX_SLL2, "DLT_LINUX_SLL2");
#endif
#ifdef DLT_IPV4
_Static_assert(TW_LINK_IPV4 == DLT_IPV4, "DLT_IPV4");
_Static_assert(TW_LINK_IPV6 == DLT_IPV6, "DLT_IPV6");
#endif

#define MAX_FRAME       1024
#define MAX_FIXUPS      16
#define SPORT           40000
#define DPORT           443
#define WINDOW          0x1234
#define LINKTYPE_RAW    101
#define DLT_RAW_LINUX   12
#define DLT_RAW_OPENBSD 14

enum { ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd, ETH_ARP = 0x0806, ETH_VLAN = 0x8100 };
enum { ETH_QINQ = 0x88a8, ETH_QINQ_OLD = 0x9100, ETH_MPLS = 0x8847, ETH_PPPOE = 0x8864 };
enum { ETH_TEB = 0x6558 };
enum { P_ICMP = 1, P_IPIP = 4, P_TCP = 6, P_UDP = 17, P_IPV6 = 41, P_GRE = 47 };
enum { P_HOPOPTS = 0, P_ROUTING = 43, P_FRAGMENT = 44, P_AH = 51, P_NONE = 59, P_DSTOPTS = 60 };
enum { P_ICMPV6 = 58 };

//  A frame under construction; IP and UDP lengths are patched by f_done().
typedef struct {
    uint8_t b[MAX_FRAME];
    size_t len;
    size_t ipv4_at[MAX_FIXUPS];  // offsets of IPv4 headers, to set total length
    size_t n_ipv4;
    size_t ipv6_at[MAX_FIXUPS];  // offsets of IPv6 headers, to set payload length
    size_t n_ipv6;
    size_t udp_at[MAX_FIXUPS];  // offsets of UDP headers, to set their length
    size_t n_udp;
    uint8_t ip_count;  // IP headers so far, numbers their addresses
    size_t tcp_at;     // offset of the (innermost) TCP header
} frame;

static void put8(frame *f, unsigned v)
{
    assert_true(f->len < MAX_FRAME);
    f->b[f->len++] = (uint8_t)v;
}

static void put16(frame *f, unsigned v)
{
    put8(f, v >> 8);
    put8(f, v);
}

static void put32(frame *f, uint32_t v)
{
    put16(f, v >> 16);
    put16(f, v & 0xffff);
}

static void put_zeros(frame *f, size_t n)
{
    while (n--)
        put8(f, 0);
}

static void set16(frame *f, size_t at, unsigned v)
{
    f->b[at] = (uint8_t)(v >> 8);
    f->b[at + 1] = (uint8_t)v;
}

static void f_ether(frame *f, unsigned ethertype)
{
    static const uint8_t macs[12] = {0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02};
    for (size_t i = 0; i < sizeof macs; i++)
        put8(f, macs[i]);
    put16(f, ethertype);
}

//  A VLAN tag's TCI and the ethertype after it (the TPID came before).
static void f_tag(frame *f, unsigned vid, unsigned next_ethertype)
{
    put16(f, vid & 0x0fff);
    put16(f, next_ethertype);
}

static void f_mpls(frame *f, uint32_t label, bool bottom)
{
    put32(f, label << 12 | (bottom ? 0x100u : 0) | 64);
}

static void f_pppoe(frame *f, unsigned ppp_protocol)
{
    put8(f, 0x11);  // version 1, type 1
    put8(f, 0x00);  // session data
    put16(f, 0x4242);
    put16(f, 0);  // length, not read by the decoder
    put16(f, ppp_protocol);
}

static void f_ipv4_options(frame *f, unsigned protocol, unsigned option_words)
{
    uint8_t n = ++f->ip_count;
    f->ipv4_at[f->n_ipv4++] = f->len;
    put8(f, 0x40 | (5 + option_words));
    put8(f, 0);
    put16(f, 0);       // total length, patched
    put16(f, 0x1111);  // id
    put16(f, 0x4000);  // don't fragment
    put8(f, 64);
    put8(f, protocol);
    put16(f, 0);  // checksum, not checked
    put32(f, 0x0a000001u | (uint32_t)n << 16);
    put32(f, 0x0a000002u | (uint32_t)n << 16);
    for (unsigned i = 0; i < option_words; i++)
        put32(f, 0x01010101);  // NOPs
}

static void f_ipv4(frame *f, unsigned protocol)
{
    f_ipv4_options(f, protocol, 0);
}

static void f_ipv6_address(frame *f, uint8_t n, uint8_t host)
{
    put16(f, 0x2001);
    put16(f, 0x0db8);
    put16(f, n);
    put_zeros(f, 9);
    put8(f, host);
}

static void f_ipv6(frame *f, unsigned next_header)
{
    uint8_t n = ++f->ip_count;
    f->ipv6_at[f->n_ipv6++] = f->len;
    put32(f, 0x60000000);
    put16(f, 0);  // payload length, patched
    put8(f, next_header);
    put8(f, 64);
    f_ipv6_address(f, n, 1);
    f_ipv6_address(f, n, 2);
}

//  A hop-by-hop, routing or destination options header of (units + 1) * 8 bytes.
static void f_ipv6_extension(frame *f, unsigned next_header, unsigned units)
{
    put8(f, next_header);
    put8(f, units);
    put_zeros(f, 6 + units * 8);
}

static void f_ipv6_fragment(frame *f, unsigned next_header, unsigned offset, bool more)
{
    put8(f, next_header);
    put8(f, 0);
    put16(f, (offset << 3) | (more ? 1 : 0));
    put32(f, 0xabcdef01);
}

static void f_udp(frame *f, unsigned sport, unsigned dport)
{
    f->udp_at[f->n_udp++] = f->len;
    put16(f, sport);
    put16(f, dport);
    put16(f, 0);  // length, patched
    put16(f, 0);
}

static void f_vxlan(frame *f)
{
    put32(f, 0x08000000);
    put32(f, 0x00123400);  // VNI 0x1234
}

//  A GRE header; key and sequence/checksum fields follow when flagged.
static void f_gre(frame *f, unsigned flags, unsigned protocol)
{
    put8(f, flags);
    put8(f, 0);
    put16(f, protocol);
    if (flags & 0x80)
        put32(f, 0xc0c00000);  // checksum + reserved
    if (flags & 0x20)
        put32(f, 0x0000beef);  // key
    if (flags & 0x10)
        put32(f, 7);  // sequence
}

//  A TCP header with the given options, padded to a 4-byte multiple.
static void f_tcp_options(frame *f, unsigned flags, const uint8_t *options, size_t options_len)
{
    size_t words = (options_len + 3) / 4;
    f->tcp_at = f->len;
    put16(f, SPORT);
    put16(f, DPORT);
    put32(f, 1000);  // seq
    put32(f, 2000);  // ack
    put8(f, (unsigned)(5 + words) << 4);
    put8(f, flags);
    put16(f, WINDOW);
    put16(f, 0);  // checksum
    put16(f, 0);  // urgent
    for (size_t i = 0; i < words * 4; i++)
        put8(f, i < options_len ? options[i] : 0);
}

static void f_tcp(frame *f, unsigned flags)
{
    f_tcp_options(f, flags, NULL, 0);
}

static void f_done(frame *f)
{
    for (size_t i = 0; i < f->n_ipv4; i++)
        set16(f, f->ipv4_at[i] + 2, (unsigned)(f->len - f->ipv4_at[i]));
    for (size_t i = 0; i < f->n_ipv6; i++)
        set16(f, f->ipv6_at[i] + 4, (unsigned)(f->len - f->ipv6_at[i] - 40));
    for (size_t i = 0; i < f->n_udp; i++)
        set16(f, f->udp_at[i] + 4, (unsigned)(f->len - f->udp_at[i]));
}

//  Decodes the first caplen bytes of f, on the wire wirelen bytes long, from a
//  buffer of exactly caplen bytes.
static tw_decode_status decode_cut(int dlt, const frame *f, size_t caplen, size_t wirelen,
                                   tw_packet *out)
{
    uint8_t *copy = malloc(caplen ? caplen : 1);
    assert_non_null(copy);
    memcpy(copy, f->b, caplen);
    tw_decode_status status = tw_packet_decode(dlt, copy, (uint32_t)caplen, (uint32_t)wirelen, out);
    free(copy);
    return status;
}

static tw_decode_status decode(int dlt, const frame *f, tw_packet *out)
{
    return decode_cut(dlt, f, f->len, f->len, out);
}

static void assert_ipv4_layer(const tw_packet *p, uint8_t n)
{
    const uint8_t src[16] = {10, n, 0, 1};
    const uint8_t dst[16] = {10, n, 0, 2};
    assert_int_equal(p->ip_version, 4);
    assert_memory_equal(p->src, src, 16);
    assert_memory_equal(p->dst, dst, 16);
}

static void assert_ipv6_layer(const tw_packet *p, uint8_t n)
{
    const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, n, [15] = 1};
    const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, n, [15] = 2};
    assert_int_equal(p->ip_version, 6);
    assert_memory_equal(p->src, src, 16);
    assert_memory_equal(p->dst, dst, 16);
}

static void assert_tcp_fields(const tw_packet *p, unsigned flags)
{
    assert_int_equal(p->src_port, SPORT);
    assert_int_equal(p->dst_port, DPORT);
    assert_int_equal(p->window, WINDOW);
    assert_int_equal(p->flags, flags);
}

//  Decodes f as dlt, expects OK and TCP inside IPv4 header number n.
static void assert_ok_ipv4(int dlt, const frame *f, uint8_t n)
{
    tw_packet p;
    memset(&p, 0xa5, sizeof p);  // the zeroed address tails must be written
    assert_int_equal(decode(dlt, f, &p), TW_DECODE_OK);
    assert_ipv4_layer(&p, n);
    assert_tcp_fields(&p, TW_TCP_ACK);
    assert_int_equal(p.window_scale, -1);
}

static void assert_ok_ipv6(int dlt, const frame *f, uint8_t n)
{
    tw_packet p;
    assert_int_equal(decode(dlt, f, &p), TW_DECODE_OK);
    assert_ipv6_layer(&p, n);
    assert_tcp_fields(&p, TW_TCP_ACK);
}

static void assert_status(int dlt, const frame *f, tw_decode_status expected)
{
    tw_packet p;
    assert_int_equal(decode(dlt, f, &p), expected);
}

//  ---- link types -----------------------------------------------------------

static void test_ethernet_ipv4(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_EN10MB, &f, 1);
}

static void test_ethernet_ipv6(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV6);
    f_ipv6(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_EN10MB, &f, 1);
}

static void test_ethernet_flags_and_zero_window(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_FIN | TW_TCP_PSH | TW_TCP_ACK | 0x80);
    f.b[f.len - 6] = 0;  // window
    f.b[f.len - 5] = 0;
    f_done(&f);
    tw_packet p;
    assert_int_equal(decode(DLT_EN10MB, &f, &p), TW_DECODE_OK);
    assert_int_equal(p.flags, TW_TCP_FIN | TW_TCP_PSH | TW_TCP_ACK | 0x80);
    assert_int_equal(p.window, 0);
}

static void test_linux_sll(void **state)
{
    (void)state;
    frame f = {0};
    put16(&f, 0);  // packet type: to us
    put16(&f, 1);  // ARPHRD_ETHER
    put16(&f, 6);
    put_zeros(&f, 8);
    put16(&f, ETH_IPV6);
    f_ipv6(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_LINUX_SLL, &f, 1);
}

static void test_linux_sll2(void **state)
{
    (void)state;
    frame f = {0};
    put16(&f, ETH_IPV4);
    put16(&f, 0);
    put32(&f, 2);  // interface index
    put16(&f, 1);  // ARPHRD_ETHER
    put8(&f, 0);
    put8(&f, 6);
    put_zeros(&f, 8);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_LINUX_SLL2, &f, 1);
}

static void test_linux_sll_vlan(void **state)
{
    (void)state;
    frame f = {0};
    put_zeros(&f, 14);
    put16(&f, ETH_VLAN);
    f_tag(&f, 7, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_LINUX_SLL, &f, 1);
}

static void put_family(frame *f, uint32_t family, bool big_endian)
{
    if (big_endian) {
        put32(f, family);
    } else {
        put8(f, family);
        put_zeros(f, 3);
    }
}

static void test_bsd_null_both_byte_orders(void **state)
{
    (void)state;
    for (int big = 0; big <= 1; big++) {
        frame f = {0};
        put_family(&f, 2, big);
        f_ipv4(&f, P_TCP);
        f_tcp(&f, TW_TCP_ACK);
        f_done(&f);
        assert_ok_ipv4(DLT_NULL, &f, 1);

        const uint32_t inet6[] = {10, 24, 28, 30};
        for (size_t i = 0; i < sizeof inet6 / sizeof inet6[0]; i++) {
            frame g = {0};
            put_family(&g, inet6[i], big);
            f_ipv6(&g, P_TCP);
            f_tcp(&g, TW_TCP_ACK);
            f_done(&g);
            assert_ok_ipv6(DLT_NULL, &g, 1);
        }
    }
}

static void test_bsd_null_unknown_family(void **state)
{
    (void)state;
    frame f = {0};
    put_family(&f, 7, false);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_status(DLT_NULL, &f, TW_DECODE_NOT_TCP);
}

static void test_loop_network_order(void **state)
{
    (void)state;
    frame f = {0};
    put_family(&f, 24, true);
    f_ipv6(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_LOOP, &f, 1);

    frame g = {0};
    put_family(&g, 2, true);
    f_ipv4(&g, P_TCP);
    f_tcp(&g, TW_TCP_ACK);
    f_done(&g);
    assert_ok_ipv4(DLT_LOOP, &g, 1);

    frame h = {0};  // host order is not DLT_LOOP's
    put_family(&h, 2, false);
    f_ipv4(&h, P_TCP);
    f_tcp(&h, TW_TCP_ACK);
    f_done(&h);
    assert_status(DLT_LOOP, &h, TW_DECODE_NOT_TCP);
}

static void test_raw_ip_all_values(void **state)
{
    (void)state;
    const int raw[] = {DLT_RAW, DLT_RAW_LINUX, DLT_RAW_OPENBSD, LINKTYPE_RAW};
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        assert_true(tw_link_supported(raw[i]));
        frame f = {0};
        f_ipv4(&f, P_TCP);
        f_tcp(&f, TW_TCP_ACK);
        f_done(&f);
        assert_ok_ipv4(raw[i], &f, 1);

        frame g = {0};
        f_ipv6(&g, P_TCP);
        f_tcp(&g, TW_TCP_ACK);
        f_done(&g);
        assert_ok_ipv6(raw[i], &g, 1);
    }
}

static void test_raw_ip_bad_version_is_malformed(void **state)
{
    (void)state;
    frame f = {0};
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    f.b[0] = 0x55;
    assert_status(DLT_RAW, &f, TW_DECODE_MALFORMED);
}

static void test_dlt_ipv4_and_ipv6(void **state)
{
    (void)state;
    frame f = {0};
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_IPV4, &f, 1);
    assert_status(DLT_IPV6, &f, TW_DECODE_MALFORMED);

    frame g = {0};
    f_ipv6(&g, P_TCP);
    f_tcp(&g, TW_TCP_ACK);
    f_done(&g);
    assert_ok_ipv6(DLT_IPV6, &g, 1);
    assert_status(DLT_IPV4, &g, TW_DECODE_MALFORMED);
}

static void test_unsupported_link_type(void **state)
{
    (void)state;
    const int supported[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL,
                             DLT_LOOP,   DLT_RAW,       DLT_IPV4,       DLT_IPV6};
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++)
        assert_true(tw_link_supported(supported[i]));
    assert_false(tw_link_supported(DLT_IEEE802_11_RADIO));
    assert_false(tw_link_supported(DLT_PPP));
    assert_false(tw_link_supported(-1));

    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_status(DLT_IEEE802_11_RADIO, &f, TW_DECODE_NOT_TCP);
}

//  ---- VLAN, MPLS, PPPoE ----------------------------------------------------

static void test_vlan(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_VLAN);
    f_tag(&f, 100, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_EN10MB, &f, 1);
}

static void test_qinq(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_QINQ);
    f_tag(&f, 200, ETH_VLAN);
    f_tag(&f, 100, ETH_IPV6);
    f_ipv6(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_EN10MB, &f, 1);
}

static void test_old_qinq_three_tags(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_QINQ_OLD);
    f_tag(&f, 300, ETH_QINQ);
    f_tag(&f, 200, ETH_VLAN);
    f_tag(&f, 100, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_EN10MB, &f, 1);
}

static void test_mpls_one_label(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_MPLS);
    f_mpls(&f, 1000, true);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_EN10MB, &f, 1);
}

static void test_mpls_two_labels_ipv6(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_MPLS);
    f_mpls(&f, 1000, false);
    f_mpls(&f, 2000, true);
    f_ipv6(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_EN10MB, &f, 1);
}

static void test_mpls_pseudowire_is_not_tcp(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_MPLS);
    f_mpls(&f, 1000, true);
    put32(&f, 0);  // pseudowire control word, Ethernet would follow
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_status(DLT_EN10MB, &f, TW_DECODE_NOT_TCP);
}

static void test_pppoe(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_PPPOE);
    f_pppoe(&f, 0x0021);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_EN10MB, &f, 1);

    frame g = {0};
    f_ether(&g, ETH_PPPOE);
    f_pppoe(&g, 0x0057);
    f_ipv6(&g, P_TCP);
    f_tcp(&g, TW_TCP_ACK);
    f_done(&g);
    assert_ok_ipv6(DLT_EN10MB, &g, 1);

    frame h = {0};
    f_ether(&h, ETH_PPPOE);
    f_pppoe(&h, 0xc021);  // LCP
    put_zeros(&h, 20);
    f_done(&h);
    assert_status(DLT_EN10MB, &h, TW_DECODE_NOT_TCP);
}

//  ---- IP tunnels -----------------------------------------------------------

static void test_4in4(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_IPIP);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_EN10MB, &f, 2);
}

static void test_6in4(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_IPV6);
    f_ipv6(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_EN10MB, &f, 2);
}

static void test_4in6(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV6);
    f_ipv6(&f, P_IPIP);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_EN10MB, &f, 2);
}

static void test_6in6(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV6);
    f_ipv6(&f, P_IPV6);
    f_ipv6(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_EN10MB, &f, 2);
}

static void test_ip_in_ip_wrong_inner_version(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_IPIP);  // says IPv4 inside, has IPv6
    f_ipv6(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_status(DLT_EN10MB, &f, TW_DECODE_MALFORMED);
}

static void nest_ipv4(frame *f, int depth)
{
    for (int i = 1; i < depth; i++)
        f_ipv4(f, P_IPIP);
    f_ipv4(f, P_TCP);
    f_tcp(f, TW_TCP_ACK);
    f_done(f);
}

static void test_nesting_depth_bounded(void **state)
{
    (void)state;
    frame f = {0};
    nest_ipv4(&f, 8);
    assert_ok_ipv4(DLT_RAW, &f, 8);

    frame g = {0};
    nest_ipv4(&g, 9);
    assert_status(DLT_RAW, &g, TW_DECODE_MALFORMED);

    frame h = {0};
    for (int i = 0; i < 9; i++)
        f_ipv6(&h, i < 8 ? P_IPV6 : P_TCP);
    f_tcp(&h, TW_TCP_ACK);
    f_done(&h);
    assert_status(DLT_RAW, &h, TW_DECODE_MALFORMED);
}

static void test_gre_plain(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_GRE);
    f_gre(&f, 0, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_EN10MB, &f, 2);
}

static void test_gre_key_and_checksum(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_GRE);
    f_gre(&f, 0x80 | 0x20, ETH_IPV6);
    f_ipv6(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_EN10MB, &f, 2);

    frame g = {0};  // all three optional fields, over IPv6
    f_ether(&g, ETH_IPV6);
    f_ipv6(&g, P_GRE);
    f_gre(&g, 0x80 | 0x20 | 0x10, ETH_IPV4);
    f_ipv4(&g, P_TCP);
    f_tcp(&g, TW_TCP_ACK);
    f_done(&g);
    assert_ok_ipv4(DLT_EN10MB, &g, 2);
}

static void test_gre_ethernet_bridging(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_GRE);
    f_gre(&f, 0x20, ETH_TEB);
    f_ether(&f, ETH_VLAN);
    f_tag(&f, 5, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_EN10MB, &f, 2);
}

static void test_gre_mpls(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_GRE);
    f_gre(&f, 0, ETH_MPLS);
    f_mpls(&f, 16, true);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_EN10MB, &f, 2);
}

static void test_gre_version_1_is_not_tcp(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_GRE);
    put8(&f, 0x30);
    put8(&f, 0x81);  // PPTP enhanced GRE
    put16(&f, 0x880b);
    put32(&f, 0);
    put32(&f, 1);
    f_done(&f);
    assert_status(DLT_EN10MB, &f, TW_DECODE_NOT_TCP);
}

static void test_vxlan(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_UDP);
    f_udp(&f, 54321, 4789);
    f_vxlan(&f);
    f_ether(&f, ETH_IPV6);
    f_ipv6(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_EN10MB, &f, 2);
}

//  ---- IPv4 and IPv6 details --------------------------------------------------

static void test_ipv4_options(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4_options(&f, P_TCP, 3);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv4(DLT_EN10MB, &f, 1);
}

static void test_ipv6_extension_headers(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV6);
    f_ipv6(&f, P_HOPOPTS);
    f_ipv6_extension(&f, P_ROUTING, 0);
    f_ipv6_extension(&f, P_DSTOPTS, 2);
    f_ipv6_extension(&f, P_TCP, 1);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_EN10MB, &f, 1);
}

static void test_ipv6_authentication_header(void **state)
{
    (void)state;
    frame f = {0};
    f_ipv6(&f, P_AH);
    put8(&f, P_TCP);
    put8(&f, 4);  // (4 + 2) * 4 = 24 bytes
    put_zeros(&f, 22);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_RAW, &f, 1);
}

static void test_ipv6_no_next_header(void **state)
{
    (void)state;
    frame f = {0};
    f_ipv6(&f, P_DSTOPTS);
    f_ipv6_extension(&f, P_NONE, 0);
    f_done(&f);
    assert_status(DLT_RAW, &f, TW_DECODE_NOT_TCP);
}

static void test_ipv6_first_fragment_decoded(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV6);
    f_ipv6(&f, P_FRAGMENT);
    f_ipv6_fragment(&f, P_TCP, 0, true);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_ok_ipv6(DLT_EN10MB, &f, 1);
}

static void test_ipv6_later_fragment_skipped(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV6);
    f_ipv6(&f, P_FRAGMENT);
    f_ipv6_fragment(&f, P_TCP, 185, false);
    put_zeros(&f, 24);
    f_done(&f);
    assert_status(DLT_EN10MB, &f, TW_DECODE_FRAGMENT);
}

static void test_ipv4_fragments(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    set16(&f, 14 + 6, 0x2000);  // more fragments, offset 0: the first
    assert_ok_ipv4(DLT_EN10MB, &f, 1);

    set16(&f, 14 + 6, 0x2000 | 185);  // offset 1480 bytes
    assert_status(DLT_EN10MB, &f, TW_DECODE_FRAGMENT);
    set16(&f, 14 + 6, 185);  // the last one
    assert_status(DLT_EN10MB, &f, TW_DECODE_FRAGMENT);
}

static void test_ipv4_tso_zero_total_length(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    set16(&f, 14 + 2, 0);
    assert_ok_ipv4(DLT_EN10MB, &f, 1);
}

//  ---- TCP window scale ---------------------------------------------------------

static const uint8_t SYN_OPTIONS[] = {
    2, 4,  0x05, 0xb4,                    // MSS 1460
    4, 2,                                 // SACK permitted
    8, 10, 0,    0,    0, 1, 0, 0, 0, 0,  // timestamps
    1,                                    // NOP
    3, 3,  7,                             // window scale 7
};

static void syn_frame(frame *f, unsigned flags, const uint8_t *options, size_t len)
{
    f_ether(f, ETH_IPV4);
    f_ipv4(f, P_TCP);
    f_tcp_options(f, flags, options, len);
    f_done(f);
}

static void test_window_scale_on_syn(void **state)
{
    (void)state;
    frame f = {0};
    syn_frame(&f, TW_TCP_SYN, SYN_OPTIONS, sizeof SYN_OPTIONS);
    tw_packet p;
    assert_int_equal(decode(DLT_EN10MB, &f, &p), TW_DECODE_OK);
    assert_int_equal(p.flags, TW_TCP_SYN);
    assert_int_equal(p.window_scale, 7);

    frame g = {0};
    syn_frame(&g, TW_TCP_SYN | TW_TCP_ACK, SYN_OPTIONS, sizeof SYN_OPTIONS);
    assert_int_equal(decode(DLT_EN10MB, &g, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, 7);
}

//  A whole SYN frame of the common layouts takes the fast path; a frame
//  that claims one more byte on the wire takes the general one. Both give
//  every field alike, the window scale included.
static void test_syn_fast_path_agrees_with_general_decoder(void **state)
{
    (void)state;
    for (int layout = 0; layout < 3; layout++) {
        frame f = {0};
        if (layout == 0) {
            f_ether(&f, ETH_IPV4);
            f_ipv4(&f, P_TCP);
        } else if (layout == 1) {
            f_ether(&f, ETH_IPV6);
            f_ipv6(&f, P_TCP);
        } else {
            f_ether(&f, ETH_VLAN);
            f_tag(&f, 7, ETH_IPV4);
            f_ipv4(&f, P_TCP);
        }
        f_tcp_options(&f, TW_TCP_SYN | TW_TCP_ACK, SYN_OPTIONS, sizeof SYN_OPTIONS);
        put_zeros(&f, 5);  // a payload (TCP Fast Open)
        f_done(&f);
        tw_packet fast, general;
        memset(&fast, 0xa5, sizeof fast);
        memset(&general, 0xa5, sizeof general);
        assert_int_equal(decode_cut(DLT_EN10MB, &f, f.len, f.len, &fast), TW_DECODE_OK);
        assert_int_equal(decode_cut(DLT_EN10MB, &f, f.len, f.len + 1, &general), TW_DECODE_OK);
        assert_int_equal(fast.window_scale, 7);
        assert_int_equal(fast.payload_len, 5);
        assert_memory_equal(&fast, &general, sizeof fast);
    }
}

static void test_window_scale_not_on_non_syn(void **state)
{
    (void)state;
    frame f = {0};
    syn_frame(&f, TW_TCP_ACK, SYN_OPTIONS, sizeof SYN_OPTIONS);
    tw_packet p;
    assert_int_equal(decode(DLT_EN10MB, &f, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, -1);
}

static void test_window_scale_absent_on_syn(void **state)
{
    (void)state;
    frame f = {0};
    syn_frame(&f, TW_TCP_SYN, SYN_OPTIONS, 16);  // up to before the scale
    tw_packet p;
    assert_int_equal(decode(DLT_EN10MB, &f, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, -1);
}

static void test_window_scale_clamped_to_14(void **state)
{
    (void)state;
    const uint8_t options[] = {3, 3, 200};
    frame f = {0};
    syn_frame(&f, TW_TCP_SYN, options, sizeof options);
    tw_packet p;
    assert_int_equal(decode(DLT_EN10MB, &f, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, 14);
}

static void test_window_scale_bad_option_length(void **state)
{
    (void)state;
    const uint8_t options[] = {2, 0, 3, 3, 7};  // length 0 would loop forever
    frame f = {0};
    syn_frame(&f, TW_TCP_SYN, options, sizeof options);
    tw_packet p;
    assert_int_equal(decode(DLT_EN10MB, &f, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, -1);

    const uint8_t one[] = {2, 1, 3, 3, 7};  // length 1 cannot hold kind and length
    frame h = {0};
    syn_frame(&h, TW_TCP_SYN, one, sizeof one);
    assert_int_equal(decode(DLT_EN10MB, &h, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, -1);

    const uint8_t end[] = {1, 0, 3, 3, 7};  // end of option list comes first
    frame e = {0};
    syn_frame(&e, TW_TCP_SYN, end, sizeof end);
    assert_int_equal(decode(DLT_EN10MB, &e, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, -1);

    const uint8_t overrun[] = {1, 1, 8, 40, 3, 3, 7};  // length past the header
    frame g = {0};
    syn_frame(&g, TW_TCP_SYN, overrun, sizeof overrun);
    assert_int_equal(decode(DLT_EN10MB, &g, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, -1);
}

static void test_window_scale_cut_by_snaplen(void **state)
{
    (void)state;
    frame f = {0};
    syn_frame(&f, TW_TCP_SYN, SYN_OPTIONS, sizeof SYN_OPTIONS);
    tw_packet p;
    // Cut in the middle of the window scale option: the window is there.
    assert_int_equal(decode_cut(DLT_EN10MB, &f, f.len - 2, f.len, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, -1);
    assert_int_equal(p.window, WINDOW);
    assert_int_equal(decode_cut(DLT_EN10MB, &f, f.len - 1, f.len, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, -1);
    assert_int_equal(decode_cut(DLT_EN10MB, &f, f.len, f.len + 1, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, 7);
    // Cut right after the window field.
    assert_int_equal(decode_cut(DLT_EN10MB, &f, 14 + 20 + 16, f.len, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, -1);
}

static void test_ethernet_padding_not_read_as_options(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_SYN);
    f_done(&f);
    f.b[14 + 20 + 12] = 6 << 4;  // claims 4 option bytes; IP says there are none
    put8(&f, 3);                 // padding that looks like a window scale
    put8(&f, 3);
    put8(&f, 9);
    put8(&f, 0);
    tw_packet p;
    assert_int_equal(decode(DLT_EN10MB, &f, &p), TW_DECODE_OK);
    assert_int_equal(p.window_scale, -1);
}

//  ---- sequence numbers and payload length (persist probes) --------------------

//  An Ethernet frame of payload bytes after a TCP header, over IPv4 or IPv6.
static void payload_frame(frame *f, bool ipv6, size_t payload)
{
    f_ether(f, ipv6 ? ETH_IPV6 : ETH_IPV4);
    if (ipv6)
        f_ipv6(f, P_TCP);
    else
        f_ipv4(f, P_TCP);
    f_tcp(f, TW_TCP_ACK);
    for (size_t i = 0; i < payload; i++)
        put8(f, 'x');
    f_done(f);
}

//  Both paths (the fast one takes whole frames, the general one the others)
//  give seq, ack and the payload length of the IP length.
static void test_seq_ack_and_payload_length(void **state)
{
    (void)state;
    for (int ipv6 = 0; ipv6 <= 1; ipv6++) {
        const size_t payloads[] = {0, 1, 100};
        for (size_t i = 0; i < 3; i++) {
            frame f = {0};
            payload_frame(&f, ipv6, payloads[i]);
            tw_packet p;
            assert_int_equal(decode(DLT_EN10MB, &f, &p), TW_DECODE_OK);  // fast path
            assert_int_equal(p.seq, 1000);
            assert_int_equal(p.ack, 2000);
            assert_int_equal(p.payload_len, payloads[i]);
            // Snapped after the TCP header: the wire's payload all the same.
            size_t headers = f.len - payloads[i];
            assert_int_equal(decode_cut(DLT_EN10MB, &f, headers, f.len, &p), TW_DECODE_OK);
            assert_int_equal(p.seq, 1000);
            assert_int_equal(p.ack, 2000);
            assert_int_equal(p.payload_len, payloads[i]);
        }
    }
}

//  Ethernet pads a short frame to 60 bytes: padding is not payload.
static void test_ethernet_padding_is_not_payload(void **state)
{
    (void)state;
    frame f = {0};
    payload_frame(&f, false, 1);
    put_zeros(&f, 60 - f.len);
    tw_packet p;
    assert_int_equal(decode(DLT_EN10MB, &f, &p), TW_DECODE_OK);
    assert_int_equal(p.payload_len, 1);
    assert_int_equal(decode_cut(DLT_EN10MB, &f, f.len, f.len + 4, &p), TW_DECODE_OK);
    assert_int_equal(p.payload_len, 1);  // the general path, snapped
}

//  A data offset past the IP length leaves no payload, not a negative one.
static void test_header_past_ip_length_has_no_payload(void **state)
{
    (void)state;
    frame f = {0};
    payload_frame(&f, false, 0);
    f.b[14 + 20 + 12] = 15 << 4;  // 60 bytes of TCP header; IP says 20
    tw_packet p;
    assert_int_equal(decode_cut(DLT_EN10MB, &f, f.len, f.len + 8, &p), TW_DECODE_OK);
    assert_int_equal(p.payload_len, 0);
}

//  ---- truncated vs malformed ------------------------------------------------

static void test_truncated_by_snaplen(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    tw_packet p;
    const size_t cuts[] = {0, 10, 14, 20, 33, 34, 40, 49};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        assert_int_equal(decode_cut(DLT_EN10MB, &f, cuts[i], f.len, &p), TW_DECODE_TRUNCATED);
        // The same bytes as the whole frame: a frame too short to be right.
        assert_int_equal(decode_cut(DLT_EN10MB, &f, cuts[i], cuts[i], &p), TW_DECODE_MALFORMED);
    }
    assert_int_equal(decode_cut(DLT_EN10MB, &f, 50, f.len, &p), TW_DECODE_OK);
}

//  Frames of every layout, to be cut at every length.
static int b_sll(frame *f)
{
    put_zeros(f, 14);
    put16(f, ETH_IPV4);
    f_ipv4(f, P_TCP);
    return DLT_LINUX_SLL;
}

static int b_sll2(frame *f)
{
    put16(f, ETH_IPV6);
    put_zeros(f, 18);
    f_ipv6(f, P_TCP);
    return DLT_LINUX_SLL2;
}

static int b_null(frame *f)
{
    put_family(f, 30, false);
    f_ipv6(f, P_TCP);
    return DLT_NULL;
}

static int b_loop(frame *f)
{
    put_family(f, 2, true);
    f_ipv4(f, P_TCP);
    return DLT_LOOP;
}

static int b_raw_6in4_options(frame *f)
{
    f_ipv4_options(f, P_IPV6, 2);
    f_ipv6(f, P_TCP);
    return DLT_RAW;
}

static int b_qinq(frame *f)
{
    f_ether(f, ETH_QINQ);
    f_tag(f, 2, ETH_VLAN);
    f_tag(f, 1, ETH_IPV4);
    f_ipv4(f, P_TCP);
    return DLT_EN10MB;
}

static int b_mpls(frame *f)
{
    f_ether(f, ETH_MPLS);
    f_mpls(f, 1, false);
    f_mpls(f, 2, true);
    f_ipv6(f, P_TCP);
    return DLT_EN10MB;
}

static int b_pppoe_4in6(frame *f)
{
    f_ether(f, ETH_PPPOE);
    f_pppoe(f, 0x0057);
    f_ipv6(f, P_IPIP);
    f_ipv4(f, P_TCP);
    return DLT_EN10MB;
}

static int b_gre_teb(frame *f)
{
    f_ether(f, ETH_IPV6);
    f_ipv6(f, P_GRE);
    f_gre(f, 0x80 | 0x20 | 0x10, ETH_TEB);
    f_ether(f, ETH_IPV4);
    f_ipv4(f, P_TCP);
    return DLT_EN10MB;
}

static int b_gre_mpls(frame *f)
{
    f_ipv4(f, P_GRE);
    f_gre(f, 0, ETH_MPLS);
    f_mpls(f, 3, true);
    f_ipv4(f, P_TCP);
    return DLT_IPV4;
}

static int b_vxlan(frame *f)
{
    f_ether(f, ETH_IPV4);
    f_ipv4(f, P_UDP);
    f_udp(f, 1, 4789);
    f_vxlan(f);
    f_ether(f, ETH_IPV6);
    f_ipv6(f, P_TCP);
    return DLT_EN10MB;
}

static int b_ipv6_extensions(frame *f)
{
    f_ipv6(f, P_HOPOPTS);
    f_ipv6_extension(f, P_FRAGMENT, 0);
    f_ipv6_fragment(f, P_AH, 0, true);
    put8(f, P_DSTOPTS);
    put8(f, 1);  // AH of 12 bytes
    put_zeros(f, 10);
    f_ipv6_extension(f, P_TCP, 1);
    return DLT_IPV6;
}

static void test_every_cut_of_every_layout(void **state)
{
    (void)state;
    int (*const builders[])(frame *) = {
        b_sll,        b_sll2,    b_null,     b_loop,  b_raw_6in4_options, b_qinq, b_mpls,
        b_pppoe_4in6, b_gre_teb, b_gre_mpls, b_vxlan, b_ipv6_extensions,
    };
    for (size_t i = 0; i < sizeof builders / sizeof builders[0]; i++) {
        frame f = {0};
        int dlt = builders[i](&f);
        f_tcp_options(&f, TW_TCP_SYN, SYN_OPTIONS, sizeof SYN_OPTIONS);
        f_done(&f);
        size_t window_end = f.tcp_at + 16;
        for (size_t cut = 0; cut <= f.len; cut++) {
            tw_packet p;
            tw_decode_status snapped = decode_cut(dlt, &f, cut, f.len, &p);
            tw_decode_status whole = decode_cut(dlt, &f, cut, cut, &p);
            if (cut < window_end) {
                assert_int_equal(snapped, TW_DECODE_TRUNCATED);
                assert_int_equal(whole, TW_DECODE_MALFORMED);
            } else {
                assert_int_equal(snapped, TW_DECODE_OK);
                assert_int_equal(whole, TW_DECODE_OK);
                assert_int_equal(p.window_scale, cut == f.len ? 7 : -1);
                assert_int_equal(p.window, WINDOW);
                assert_int_equal(p.src_port, SPORT);
            }
        }
    }
}

static void test_truncated_in_tunnel_and_extensions(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV6);
    f_ipv6(&f, P_HOPOPTS);
    f_ipv6_extension(&f, P_TCP, 2);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    tw_packet p;
    assert_int_equal(decode_cut(DLT_EN10MB, &f, 14 + 40 + 10, f.len, &p), TW_DECODE_TRUNCATED);

    frame g = {0};
    f_ether(&g, ETH_IPV4);
    f_ipv4(&g, P_UDP);
    f_udp(&g, 1, 4789);
    f_vxlan(&g);
    f_ether(&g, ETH_IPV4);
    f_ipv4(&g, P_TCP);
    f_tcp(&g, TW_TCP_ACK);
    f_done(&g);
    assert_int_equal(decode_cut(DLT_EN10MB, &g, 14 + 20 + 12, g.len, &p), TW_DECODE_TRUNCATED);
    assert_int_equal(decode_cut(DLT_EN10MB, &g, g.len - 5, g.len, &p), TW_DECODE_TRUNCATED);
}

static void test_malformed_bad_ihl(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    f.b[14] = 0x44;
    assert_status(DLT_EN10MB, &f, TW_DECODE_MALFORMED);
    f.b[14] = 0x65;  // IPv6 version behind an IPv4 ethertype
    assert_status(DLT_EN10MB, &f, TW_DECODE_MALFORMED);
}

static void test_malformed_bad_tcp_offset(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    f.b[14 + 20 + 12] = 4 << 4;
    assert_status(DLT_EN10MB, &f, TW_DECODE_MALFORMED);
}

static void test_malformed_total_length(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    tw_packet p;
    set16(&f, 14 + 2, 19);  // smaller than the header
    assert_status(DLT_EN10MB, &f, TW_DECODE_MALFORMED);
    // Room for 8 bytes of TCP: even a snapped capture cannot hold the window.
    set16(&f, 14 + 2, 28);
    assert_status(DLT_EN10MB, &f, TW_DECODE_MALFORMED);
    assert_int_equal(decode_cut(DLT_EN10MB, &f, 14 + 20 + 4, f.len + 100, &p), TW_DECODE_MALFORMED);
}

static void test_malformed_ipv6_payload_length(void **state)
{
    (void)state;
    frame f = {0};
    f_ipv6(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    set16(&f, 4, 10);
    assert_status(DLT_RAW, &f, TW_DECODE_MALFORMED);
}

static void test_empty_frame(void **state)
{
    (void)state;
    frame f = {0};
    tw_packet p;
    assert_int_equal(decode_cut(DLT_EN10MB, &f, 0, 0, &p), TW_DECODE_MALFORMED);
    assert_int_equal(decode_cut(DLT_RAW, &f, 0, 60, &p), TW_DECODE_TRUNCATED);
}

//  ---- not TCP -----------------------------------------------------------------

static void test_not_tcp_udp(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_UDP);
    f_udp(&f, 5353, 53);
    put_zeros(&f, 12);
    f_done(&f);
    assert_status(DLT_EN10MB, &f, TW_DECODE_NOT_TCP);
}

static void test_not_tcp_icmp_quoting_tcp(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_IPV4);
    f_ipv4(&f, P_ICMP);
    put8(&f, 3);  // destination unreachable
    put8(&f, 3);
    put16(&f, 0);
    put32(&f, 0);
    f_ipv4(&f, P_TCP);
    f_tcp(&f, TW_TCP_ACK);
    f_done(&f);
    assert_status(DLT_EN10MB, &f, TW_DECODE_NOT_TCP);

    frame g = {0};
    f_ipv6(&g, P_ICMPV6);
    put32(&g, 0x80000000);
    f_done(&g);
    assert_status(DLT_RAW, &g, TW_DECODE_NOT_TCP);
}

static void test_not_tcp_arp(void **state)
{
    (void)state;
    frame f = {0};
    f_ether(&f, ETH_ARP);
    put16(&f, 1);
    put16(&f, ETH_IPV4);
    put8(&f, 6);
    put8(&f, 4);
    put16(&f, 1);
    put_zeros(&f, 20);
    assert_status(DLT_EN10MB, &f, TW_DECODE_NOT_TCP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ethernet_ipv4),
        cmocka_unit_test(test_ethernet_ipv6),
        cmocka_unit_test(test_ethernet_flags_and_zero_window),
        cmocka_unit_test(test_linux_sll),
        cmocka_unit_test(test_linux_sll2),
        cmocka_unit_test(test_linux_sll_vlan),
        cmocka_unit_test(test_bsd_null_both_byte_orders),
        cmocka_unit_test(test_bsd_null_unknown_family),
        cmocka_unit_test(test_loop_network_order),
        cmocka_unit_test(test_raw_ip_all_values),
        cmocka_unit_test(test_raw_ip_bad_version_is_malformed),
        cmocka_unit_test(test_dlt_ipv4_and_ipv6),
        cmocka_unit_test(test_unsupported_link_type),
        cmocka_unit_test(test_vlan),
        cmocka_unit_test(test_qinq),
        cmocka_unit_test(test_old_qinq_three_tags),
        cmocka_unit_test(test_mpls_one_label),
        cmocka_unit_test(test_mpls_two_labels_ipv6),
        cmocka_unit_test(test_mpls_pseudowire_is_not_tcp),
        cmocka_unit_test(test_pppoe),
        cmocka_unit_test(test_4in4),
        cmocka_unit_test(test_6in4),
        cmocka_unit_test(test_4in6),
        cmocka_unit_test(test_6in6),
        cmocka_unit_test(test_ip_in_ip_wrong_inner_version),
        cmocka_unit_test(test_nesting_depth_bounded),
        cmocka_unit_test(test_gre_plain),
        cmocka_unit_test(test_gre_key_and_checksum),
        cmocka_unit_test(test_gre_ethernet_bridging),
        cmocka_unit_test(test_gre_mpls),
        cmocka_unit_test(test_gre_version_1_is_not_tcp),
        cmocka_unit_test(test_vxlan),
        cmocka_unit_test(test_ipv4_options),
        cmocka_unit_test(test_ipv6_extension_headers),
        cmocka_unit_test(test_ipv6_authentication_header),
        cmocka_unit_test(test_ipv6_no_next_header),
        cmocka_unit_test(test_ipv6_first_fragment_decoded),
        cmocka_unit_test(test_ipv6_later_fragment_skipped),
        cmocka_unit_test(test_ipv4_fragments),
        cmocka_unit_test(test_ipv4_tso_zero_total_length),
        cmocka_unit_test(test_window_scale_on_syn),
        cmocka_unit_test(test_syn_fast_path_agrees_with_general_decoder),
        cmocka_unit_test(test_window_scale_not_on_non_syn),
        cmocka_unit_test(test_window_scale_absent_on_syn),
        cmocka_unit_test(test_window_scale_clamped_to_14),
        cmocka_unit_test(test_window_scale_bad_option_length),
        cmocka_unit_test(test_window_scale_cut_by_snaplen),
        cmocka_unit_test(test_ethernet_padding_not_read_as_options),
        cmocka_unit_test(test_seq_ack_and_payload_length),
        cmocka_unit_test(test_ethernet_padding_is_not_payload),
        cmocka_unit_test(test_header_past_ip_length_has_no_payload),
        cmocka_unit_test(test_truncated_by_snaplen),
        cmocka_unit_test(test_truncated_in_tunnel_and_extensions),
        cmocka_unit_test(test_every_cut_of_every_layout),
        cmocka_unit_test(test_malformed_bad_ihl),
        cmocka_unit_test(test_malformed_bad_tcp_offset),
        cmocka_unit_test(test_malformed_total_length),
        cmocka_unit_test(test_malformed_ipv6_payload_length),
        cmocka_unit_test(test_empty_frame),
        cmocka_unit_test(test_not_tcp_udp),
        cmocka_unit_test(test_not_tcp_icmp_quoting_tcp),
        cmocka_unit_test(test_not_tcp_arp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
