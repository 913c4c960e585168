// SPDX-License-Identifier: MPL-2.0
/*  gen_capture: writes a deterministic synthetic TCP capture for the benchmark.

    The same options and seed always give the same bytes, so figures measured
    on two machines or two commits compare the same input. The capture is a
    classic pcap file (microsecond timestamps, Ethernet) written directly with
    buffered fwrite: the generator must make ten million packets in seconds,
    so it builds each frame in place instead of going through a library.

    Model: a fixed number of connection slots, each holding one live TCP
    connection. Every packet picks a slot at random and emits that
    connection's next packet: SYN, SYN-ACK (both with a window scale option),
    ACK, then data and ACK packets in both directions, then FIN/FIN/ACK, a RST,
    or nothing at all (the connection goes idle and is never closed). A slot
    whose connection is over starts a new connection with a new 5-tuple.
    Some connections have a slow client that advertises zero windows in
    episodes, sized so that about --zero-window-percent of all packets carry
    a raw window of 0. Frames carry headers and at most 16 payload bytes.

    --concurrent-flows N opens N connections first (all SYNs, then all
    SYN-ACKs, then all ACKs) and never ends one, so N connections (2N
    one-directional flows) are alive at once: the memory check.

    --model realistic is traffic as real networks carry it (the performance
    issue's mix): flow lengths from a Pareto law (alpha 1.5) around
    --mean-flow-packets (default 9: most connections are a handful of
    packets, a few carry most of them); handshakes of which some SYNs are
    never answered; endings by FIN in both directions, by a FIN in one
    direction then silence (half-closed), by a RST advertising window 0, or
    by silence (abandoned); a zero-window episode makes the server send
    persist probes (one byte past the window) and ACKs; --hosts distinct
    client addresses picked at random (servers: one per 64 clients, at
    least 16); and --noise-percent of frames that are not TCP (UDP, ICMP,
    ARP). The default (--model uniform) is the older benchmark capture,
    kept so that figures compare with earlier ones and the tests keep
    their input.

    A summary with the exact counts written goes to stderr as key=value pairs.
*/
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRAM "gen_capture"

//  Of a connection's packets, the share the client sends: the server sends
//  60 % of the data packets, the handshake and the endings are about even.
static const double CLIENT_SHARE = 0.40;

enum {
    PCAP_MAGIC_US = 0xa1b2c3d4,
    PCAP_SNAPLEN = 65535,
    DLT_EN10MB = 1,
    ETHERTYPE_IPV4 = 0x0800,
    ETHERTYPE_IPV6 = 0x86dd,
    ETHERTYPE_VLAN = 0x8100,
    IPPROTO_TCP_NUM = 6,
    TCP_FIN = 0x01,
    TCP_SYN = 0x02,
    TCP_RST = 0x04,
    TCP_PSH = 0x08,
    TCP_ACK = 0x10,
    CLIENT_HOSTS = 65536,  // distinct client addresses (the zero-window senders)
    SERVER_HOSTS = 1024,   // distinct server addresses
    MAX_PAYLOAD = 16,      // headers-only frames: 54..94 bytes
    MAX_FRAME = 14 + 4 + 40 + 28 + MAX_PAYLOAD,
    OUT_BUFFER = 8 << 20,
    FIRST_EPOCH_S = 1700000000,
    WINDOW_SCALE = 7,
    EPISODE_STAY_PERCENT = 80,  // percent: chance a zero-window episode goes on
    SYN_WINDOW = 64240,
    LONG_PERCENT = 10,   // connections with 100..699 data packets, the rest 1..60
    MAX_DATA = 1000000,  // realistic model: the Pareto tail is cut here
    ETHERTYPE_ARP = 0x0806,
    IPPROTO_ICMP_NUM = 1,
    IPPROTO_UDP_NUM = 17,
};

//  Realistic model: what becomes of a connection, in percent (the rest is
//  abandoned: it goes silent and waits for the producer's idle timeout).
enum {
    FATE_SYN_LOST = 8,   // a SYN (and one retransmission) never answered
    FATE_FIN_BOTH = 52,  // FIN, FIN, ACK
    FATE_FIN_ONE = 12,   // one FIN, its ACK, then nothing: half-closed
    FATE_RST = 13,       // a RST, window 0
};
//  Pareto shape of the flow lengths: a heavy tail with a finite mean.
static const double PARETO_ALPHA = 1.5;

typedef enum {
    END_FIN,
    END_RST,
    END_IDLE,
    END_NEVER,
    END_HALF,      // realistic: one FIN, then silence
    END_SYN_LOST,  // realistic: the SYN is never answered
} end_kind;

typedef enum {
    ST_SYN,
    ST_SYN_ACK,
    ST_ACK,
    ST_DATA,
    ST_FIN_FIRST,
    ST_FIN_SECOND,
    ST_FIN_LAST_ACK,
    ST_RST,
    ST_SYN_RETRY,  // realistic: the unanswered SYN once more, then silence
    ST_HALF_ACK,   // realistic: the ACK of a lone FIN, then silence
    ST_DONE,
} conn_state;

//  One TCP connection; side 0 is the client, side 1 the server.
typedef struct {
    uint8_t addr[2][16];
    uint32_t next_seq[2];
    uint32_t data_left;
    uint16_t port[2];
    uint16_t window[2];
    uint16_t vlan_id;  // 0: untagged
    uint8_t ipv6;
    uint8_t state;
    uint8_t end;
    uint8_t stalling;  // the client advertises zero windows in episodes
    uint8_t in_episode;
    uint8_t fin_side;  // the side that sends the first FIN, or the RST
} conn;

typedef struct {
    uint64_t packets;
    uint64_t seed;
    uint64_t flows;
    uint64_t concurrent;  // 0: normal mode
    double ipv6_percent;
    double vlan_percent;
    double zero_window_percent;
    double duration_s;
    const char *out;
    bool packets_given;
    bool duration_given;
    bool realistic;  // --model realistic
    double mean_flow_packets;
    uint64_t hosts;  // realistic: distinct client addresses
    double noise_percent;
} options;

typedef struct {
    uint64_t packets;
    uint64_t bytes;
    uint64_t zero_window;
    uint64_t ipv6_packets;
    uint64_t vlan_packets;
    uint64_t connections;
    uint64_t ended_fin;
    uint64_t ended_rst;
    uint64_t ended_idle;
    uint64_t syn_packets;
    uint64_t rst_packets;
    uint64_t fin_packets;
    uint64_t noise_packets;
    uint64_t probe_packets;
    uint64_t ended_half;
    uint64_t syn_lost;
    uint64_t connection_packets;  // TCP packets of connections, for the mean
} totals;

typedef struct {
    uint64_t rng;
    uint64_t serial;           // connections started so far
    uint32_t stall_per_mille;  // connections with a slow client
    uint32_t episode_start;    // per 2^32: chance a stalling client starts an episode
    uint32_t episode_share;    // per 2^32: share of its packets a stalling client stalls
    uint32_t ipv6_per_2_32;
    uint32_t vlan_per_2_32;
    bool never_end;
    bool realistic;
    double pareto_scale;  // realistic: x_m of the data packet count
    uint32_t client_hosts;
    uint32_t server_hosts;
    uint32_t noise_per_2_32;
    uint16_t ip_id;
    totals sum;
} generator;

//  splitmix64: small, fast, and the same sequence on every platform.
static uint64_t s_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

//  A value in [0, bound) without division (Lemire's multiply-shift).
static uint32_t s_rand_below(uint64_t *state, uint32_t bound)
{
    return (uint32_t)(((s_rand(state) >> 32) * (uint64_t)bound) >> 32);
}

static bool s_chance(uint64_t *state, uint32_t per_2_32)
{
    return (uint32_t)(s_rand(state) >> 32) < per_2_32;
}

static uint32_t s_percent_to_2_32(double percent)
{
    double p = percent / 100.0 * 4294967296.0;
    if (p <= 0)
        return 0;
    if (p >= 4294967295.0)
        return UINT32_MAX;
    return (uint32_t)p;
}

static void s_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void s_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t s_sum16(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t s_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

//  Addresses and ports come from the connection's serial number, so no two
//  connections alive at once share a 5-tuple (the client port changes every
//  CLIENT_HOSTS connections and repeats only after 4 billion).
//  The realistic model picks the client at random among --hosts (up to 2^24
//  addresses) and its port from the serial: two live connections share a
//  5-tuple only when their serials differ by a multiple of 64,000 and they
//  drew the same client, server and service, which real traffic also does
//  now and then (port reuse).
static void s_conn_addresses(const generator *g, conn *c, uint64_t serial, uint64_t mixed)
{
    static const uint16_t server_ports[] = {80, 443, 8443, 8080, 5201, 3306, 6379, 25};
    uint32_t client = (uint32_t)(serial % CLIENT_HOSTS);
    uint32_t server = (uint32_t)(mixed % SERVER_HOSTS);
    if (g->realistic) {
        client = (uint32_t)((mixed >> 40) % g->client_hosts);
        server = (uint32_t)(mixed % g->server_hosts);
    }
    memset(c->addr, 0, sizeof c->addr);
    if (c->ipv6) {
        static const uint8_t prefix[2][8] = {{0xfd, 0, 0, 0, 0, 0, 0, 1},
                                             {0xfd, 0, 0, 0, 0, 0, 0, 2}};
        memcpy(c->addr[0], prefix[0], 8);
        memcpy(c->addr[1], prefix[1], 8);
        s_put16(c->addr[0] + 14, (uint16_t)client);
        s_put16(c->addr[1] + 14, (uint16_t)server);
        c->addr[0][13] = (uint8_t)(1 + (client >> 16));  // non-zero interface id
        c->addr[1][13] = (uint8_t)(1 + (server >> 16));
    } else {
        c->addr[0][0] = 10;
        c->addr[0][1] = 1;
        c->addr[0][1] = (uint8_t)(1 + (client >> 16));
        s_put16(c->addr[0] + 2, (uint16_t)client);
        c->addr[1][0] = 172;
        c->addr[1][1] = (uint8_t)(16 + (server >> 16));
        s_put16(c->addr[1] + 2, (uint16_t)server);
    }
    c->port[0] = (uint16_t)(1024 + (g->realistic ? serial : serial / CLIENT_HOSTS) % 64000);
    c->port[1] = server_ports[(mixed >> 32) % (sizeof server_ports / sizeof server_ports[0])];
}

//  A heavy-tailed count of data packets: Pareto (x_m, alpha) rounded down,
//  cut at MAX_DATA.
static uint32_t s_pareto_data(generator *g)
{
    double u = ((double)(s_rand(&g->rng) >> 11) + 1.0) / 9007199254740993.0;  // (0, 1]
    double x = g->pareto_scale * pow(u, -1.0 / PARETO_ALPHA);
    return x >= MAX_DATA ? MAX_DATA : (uint32_t)x;
}

//  Realistic model: the connection's length and how it ends.
static void s_realistic_fate(generator *g, conn *c)
{
    c->data_left = s_pareto_data(g);
    uint32_t r = s_rand_below(&g->rng, 100);
    uint32_t fin_both = FATE_SYN_LOST + FATE_FIN_BOTH, fin_one = fin_both + FATE_FIN_ONE;
    c->end = r < FATE_SYN_LOST        ? END_SYN_LOST
             : r < fin_both           ? END_FIN
             : r < fin_one            ? END_HALF
             : r < fin_one + FATE_RST ? END_RST
                                      : END_IDLE;
}

static void s_conn_start(generator *g, conn *c)
{
    uint64_t serial = g->serial++;
    uint64_t mixed = s_rand(&g->rng);
    c->ipv6 = s_chance(&g->rng, g->ipv6_per_2_32);
    c->vlan_id = s_chance(&g->rng, g->vlan_per_2_32) ? (uint16_t)(100 + serial % 16) : 0;
    s_conn_addresses(g, c, serial, mixed);
    c->next_seq[0] = (uint32_t)s_rand(&g->rng);
    c->next_seq[1] = (uint32_t)s_rand(&g->rng);
    c->window[0] = (uint16_t)(64 + s_rand_below(&g->rng, 2000));
    c->window[1] = (uint16_t)(64 + s_rand_below(&g->rng, 2000));
    // Mostly short connections, and a tail of long ones whose client side
    // passes the producer's --min-pkts (50) and so reaches the host table.
    c->data_left = s_rand_below(&g->rng, 100) < LONG_PERCENT ? 100 + s_rand_below(&g->rng, 600)
                                                             : 1 + s_rand_below(&g->rng, 60);
    c->state = ST_SYN;
    c->stalling = s_rand_below(&g->rng, 1000) < g->stall_per_mille;
    // Start in the stationary state, so short connections stall as often as long ones.
    c->in_episode = c->stalling && s_chance(&g->rng, g->episode_share);
    c->fin_side = (uint8_t)s_rand_below(&g->rng, 2);
    if (g->realistic) {
        s_realistic_fate(g, c);
    } else if (g->never_end) {
        c->end = END_NEVER;
    } else {
        uint32_t r = s_rand_below(&g->rng, 100);
        c->end = r < 60 ? END_FIN : r < 80 ? END_RST : END_IDLE;
    }
    g->sum.connections++;
}

//  The window a side advertises in its next packet: the slow client's zero
//  windows come in episodes (a run of packets), like a real stalled reader.
static uint16_t s_conn_window(generator *g, conn *c, int side, uint8_t flags)
{
    if (flags & TCP_SYN)
        return SYN_WINDOW;  // a handshake never starts stalled
    if ((flags & TCP_RST) && g->realistic)
        return 0;  // as most stacks send it
    if (side != 0 || !c->stalling)
        return c->window[side];
    if (c->in_episode)
        c->in_episode = s_rand_below(&g->rng, 100) < EPISODE_STAY_PERCENT;
    else
        c->in_episode = s_chance(&g->rng, g->episode_start);
    return c->in_episode ? 0 : c->window[0];
}

typedef struct {
    int side;
    uint8_t flags;
    uint32_t payload;
    bool syn_options;
    bool probe;  // a persist probe: its byte is sent again, seq does not advance
} segment;

//  The state after the handshake or the last data packet.
static uint8_t s_state_after_data(generator *g, const conn *c)
{
    switch (c->end) {
    case END_FIN:
    case END_HALF:
        return ST_FIN_FIRST;
    case END_RST:
        return ST_RST;
    default:
        g->sum.ended_idle++;
        return ST_DONE;
    }
}

//  Advances the connection and says which segment it sends next.
static segment s_conn_next(generator *g, conn *c)
{
    segment s = {.side = 0, .flags = TCP_ACK, .payload = 0, .syn_options = false};
    switch (c->state) {
    case ST_SYN:
        s = (segment){0, TCP_SYN, 0, true, false};
        c->state = c->end == END_SYN_LOST ? ST_SYN_RETRY : ST_SYN_ACK;
        break;
    case ST_SYN_RETRY:
        s = (segment){0, TCP_SYN, 0, true, false};
        c->next_seq[0]--;  // the same SYN again
        c->state = ST_DONE;
        g->sum.syn_lost++;
        break;
    case ST_HALF_ACK:
        s = (segment){!c->fin_side, TCP_ACK, 0, false, false};
        c->state = ST_DONE;
        g->sum.ended_half++;
        break;
    case ST_SYN_ACK:
        s = (segment){1, TCP_SYN | TCP_ACK, 0, true, false};
        c->state = ST_ACK;
        break;
    case ST_ACK:
        c->state = g->realistic && c->data_left == 0 ? s_state_after_data(g, c) : ST_DATA;
        break;
    case ST_DATA:
        s.side = s_rand_below(&g->rng, 100) < 60 ? 1 : 0;
        // A server facing a zero window sends only ACKs and window probes.
        if (!(s.side == 1 && c->in_episode)) {
            s.payload = s_rand_below(&g->rng, MAX_PAYLOAD + 1);
            s.flags = s.payload ? TCP_PSH | TCP_ACK : TCP_ACK;
        } else if (g->realistic && s_rand_below(&g->rng, 2)) {
            s = (segment){1, TCP_ACK, 1, false, true};  // zero-window probe
            g->sum.probe_packets++;
        }
        if (c->end != END_NEVER && --c->data_left == 0) {
            if (g->realistic) {
                c->state = s_state_after_data(g, c);
            } else {
                c->state = c->end == END_FIN ? ST_FIN_FIRST : c->end == END_RST ? ST_RST : ST_DONE;
                g->sum.ended_idle += c->end == END_IDLE;
            }
        }
        break;
    case ST_FIN_FIRST:
        s = (segment){c->fin_side, TCP_FIN | TCP_ACK, 0, false, false};
        c->state = c->end == END_HALF ? ST_HALF_ACK : ST_FIN_SECOND;
        break;
    case ST_FIN_SECOND:
        s = (segment){!c->fin_side, TCP_FIN | TCP_ACK, 0, false, false};
        c->state = ST_FIN_LAST_ACK;
        break;
    case ST_FIN_LAST_ACK:
        s = (segment){c->fin_side, TCP_ACK, 0, false, false};
        c->state = ST_DONE;
        g->sum.ended_fin++;
        break;
    case ST_RST:
        s = (segment){c->fin_side, TCP_RST | TCP_ACK, 0, false, false};
        c->state = ST_DONE;
        g->sum.ended_rst++;
        break;
    default:
        break;
    }
    return s;
}

static size_t s_write_ethernet(uint8_t *p, const conn *c, int side)
{
    static const uint8_t mac_prefix[2][4] = {{0x02, 0, 0, 0}, {0x02, 0, 1, 0}};
    const uint8_t *src = c->addr[side];
    const uint8_t *dst = c->addr[!side];
    size_t low = c->ipv6 ? 14 : 2;  // the host number sits there in both families
    memcpy(p, mac_prefix[!side], 4);
    memcpy(p + 4, dst + low, 2);
    memcpy(p + 6, mac_prefix[side], 4);
    memcpy(p + 10, src + low, 2);
    size_t n = 12;
    if (c->vlan_id) {
        s_put16(p + n, ETHERTYPE_VLAN);
        s_put16(p + n + 2, c->vlan_id);
        n += 4;
    }
    s_put16(p + n, c->ipv6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
    return n + 2;
}

//  Writes the IP header for a TCP segment of tcp_len bytes and returns the
//  TCP pseudo-header sum.
static size_t s_write_ip(generator *g, uint8_t *p, const conn *c, int side, size_t tcp_len,
                         uint32_t *pseudo_sum)
{
    const uint8_t *src = c->addr[side];
    const uint8_t *dst = c->addr[!side];
    if (c->ipv6) {
        s_put32(p, 0x60000000);
        s_put16(p + 4, (uint16_t)tcp_len);
        p[6] = IPPROTO_TCP_NUM;
        p[7] = 64;
        memcpy(p + 8, src, 16);
        memcpy(p + 24, dst, 16);
        *pseudo_sum = s_sum16(p + 8, 32, IPPROTO_TCP_NUM + (uint32_t)tcp_len);
        return 40;
    }
    p[0] = 0x45;
    p[1] = 0;
    s_put16(p + 2, (uint16_t)(20 + tcp_len));
    s_put16(p + 4, g->ip_id++);
    s_put16(p + 6, 0x4000);  // don't fragment
    p[8] = 64;
    p[9] = IPPROTO_TCP_NUM;
    s_put16(p + 10, 0);
    memcpy(p + 12, src, 4);
    memcpy(p + 16, dst, 4);
    s_put16(p + 10, s_fold(s_sum16(p, 20, 0)));
    *pseudo_sum = s_sum16(p + 12, 8, IPPROTO_TCP_NUM + (uint32_t)tcp_len);
    return 20;
}

//  Builds one frame for the connection's next segment; returns its length.
static size_t s_build_frame(generator *g, conn *c, uint8_t *frame)
{
    segment s = s_conn_next(g, c);
    int side = s.side;
    uint16_t window = s_conn_window(g, c, side, s.flags);
    size_t options = s.syn_options ? 8 : 0;
    size_t tcp_len = 20 + options + s.payload;
    size_t n = s_write_ethernet(frame, c, side);
    uint32_t sum;
    n += s_write_ip(g, frame + n, c, side, tcp_len, &sum);

    uint8_t *tcp = frame + n;
    s_put16(tcp, c->port[side]);
    s_put16(tcp + 2, c->port[!side]);
    s_put32(tcp + 4, c->next_seq[side]);
    s_put32(tcp + 8, (s.flags & TCP_ACK) ? c->next_seq[!side] : 0);
    tcp[12] = (uint8_t)((20 + options) / 4 << 4);
    tcp[13] = s.flags;
    s_put16(tcp + 14, window);
    s_put16(tcp + 16, 0);
    s_put16(tcp + 18, 0);
    if (s.syn_options) {
        static const uint8_t syn_options[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, WINDOW_SCALE};
        memcpy(tcp + 20, syn_options, 8);
    }
    memset(tcp + 20 + options, 0x5a, s.payload);
    s_put16(tcp + 16, s_fold(s_sum16(tcp, tcp_len, sum)));

    // SYN and FIN take one sequence number, data its length; a RST none; a
    // probe's byte is refused by the zero window, so it is sent again.
    if (!s.probe)
        c->next_seq[side] += s.payload + ((s.flags & (TCP_SYN | TCP_FIN)) ? 1 : 0);
    g->sum.connection_packets++;

    g->sum.zero_window += window == 0;
    g->sum.ipv6_packets += c->ipv6;
    g->sum.vlan_packets += c->vlan_id != 0;
    g->sum.syn_packets += (s.flags & TCP_SYN) != 0;
    g->sum.fin_packets += (s.flags & TCP_FIN) != 0;
    g->sum.rst_packets += (s.flags & TCP_RST) != 0;
    return n + tcp_len;
}

//  A frame that is not TCP (realistic model): a DNS-sized UDP datagram, an
//  ICMP echo request or an ARP request, between random hosts; returns its
//  length.
static size_t s_build_noise(generator *g, uint8_t *frame)
{
    uint32_t kind = s_rand_below(&g->rng, 10);
    uint32_t host = s_rand_below(&g->rng, g->client_hosts);
    static const uint8_t mac[6] = {0x02, 0, 2, 0, 0, 1};
    memset(frame, 0xff, 6);  // broadcast for ARP, harmless for the others
    memcpy(frame + 6, mac, 6);
    if (kind == 0) {
        s_put16(frame + 12, ETHERTYPE_ARP);
        static const uint8_t arp[8] = {0, 1, 8, 0, 6, 4, 0, 1};  // Ethernet/IPv4 request
        memcpy(frame + 14, arp, 8);
        memcpy(frame + 22, mac, 6);
        uint8_t ips[4] = {10, (uint8_t)(1 + (host >> 16)), (uint8_t)(host >> 8), (uint8_t)host};
        memcpy(frame + 28, ips, 4);
        memset(frame + 32, 0, 6);
        uint8_t target[4] = {10, 1, 0, 1};
        memcpy(frame + 38, target, 4);
        return 42;
    }
    bool udp = kind >= 3;
    size_t l4 = udp ? 8 + 32 : 8 + 16;
    s_put16(frame + 12, ETHERTYPE_IPV4);
    uint8_t *ip = frame + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    s_put16(ip + 2, (uint16_t)(20 + l4));
    s_put16(ip + 4, g->ip_id++);
    s_put16(ip + 6, 0);
    ip[8] = 64;
    ip[9] = udp ? IPPROTO_UDP_NUM : IPPROTO_ICMP_NUM;
    s_put16(ip + 10, 0);
    uint8_t src[4] = {10, (uint8_t)(1 + (host >> 16)), (uint8_t)(host >> 8), (uint8_t)host};
    uint8_t dst[4] = {172, 16, 0, 53};
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    s_put16(ip + 10, s_fold(s_sum16(ip, 20, 0)));
    uint8_t *p = ip + 20;
    memset(p, 0x33, l4);
    if (udp) {
        s_put16(p, (uint16_t)(1024 + s_rand_below(&g->rng, 64000)));
        s_put16(p + 2, 53);
        s_put16(p + 4, (uint16_t)l4);
        s_put16(p + 6, 0);  // no checksum: allowed for UDP over IPv4
    } else {
        p[0] = 8;  // echo request
        p[1] = 0;
        s_put16(p + 2, 0);
        s_put16(p + 2, s_fold(s_sum16(p, l4, 0)));
    }
    return 14 + 20 + l4;
}

//  The connection the next packet belongs to. A finished one (or one that
//  went idle after its data) is replaced by a new connection in its slot.
static conn *s_pick(generator *g, conn *slots, uint64_t nslots, uint64_t index)
{
    conn *c;
    if (g->never_end && index < 3 * nslots)
        c = &slots[index % nslots];  // open them all before any data
    else
        c = &slots[s_rand_below(&g->rng, (uint32_t)nslots)];
    if (c->state == ST_DONE)
        s_conn_start(g, c);
    return c;
}

typedef struct {
    FILE *file;
    uint8_t *buf;
    size_t used;
} output;

static int s_flush(output *o)
{
    if (o->used && fwrite(o->buf, 1, o->used, o->file) != o->used)
        return -errno;
    o->used = 0;
    return 0;
}

static void s_put_le32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);  // pcap headers are in the writer's byte order
}

static void s_write_global_header(output *o)
{
    uint8_t *p = o->buf + o->used;
    uint32_t magic = PCAP_MAGIC_US;
    uint16_t major = 2, minor = 4;
    uint32_t zero = 0, snaplen = PCAP_SNAPLEN, link = DLT_EN10MB;
    memcpy(p, &magic, 4);
    memcpy(p + 4, &major, 2);
    memcpy(p + 6, &minor, 2);
    memcpy(p + 8, &zero, 4);
    memcpy(p + 12, &zero, 4);
    memcpy(p + 16, &snaplen, 4);
    memcpy(p + 20, &link, 4);
    o->used += 24;
}

static int s_generate(const options *opt, output *o)
{
    uint64_t nslots = opt->concurrent ? opt->concurrent : opt->flows;
    conn *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    generator g = {.rng = opt->seed, .never_end = opt->concurrent != 0};
    if (opt->realistic && !g.never_end) {
        // A connection is about 5 packets besides its data (handshake and
        // ending), rounding the Pareto draw down loses half a packet, and
        // the Pareto mean is alpha x_m / (alpha - 1).
        double data_mean = opt->mean_flow_packets - 4.0;
        if (data_mean < 0.5)
            data_mean = 0.5;
        g.realistic = true;
        g.pareto_scale = data_mean * (PARETO_ALPHA - 1.0) / PARETO_ALPHA;
        g.client_hosts = (uint32_t)opt->hosts;
        g.server_hosts = g.client_hosts / 64 < 16 ? 16 : g.client_hosts / 64;
        g.noise_per_2_32 = s_percent_to_2_32(opt->noise_percent);
    }
    g.ipv6_per_2_32 = s_percent_to_2_32(opt->ipv6_percent);
    g.vlan_per_2_32 = s_percent_to_2_32(opt->vlan_percent);

    // A stalling client sends about CLIENT_SHARE of its connection's packets
    // and is in an episode for a fraction f of them, so the zero-window share
    // is stall_share * f * CLIENT_SHARE. Aim for f = 0.3 and raise f only when
    // every connection already stalls. Episodes go on with p =
    // EPISODE_STAY_PERCENT, so a stationary f needs start = f * (1 - p) / (1 - f).
    double target = opt->zero_window_percent / 100.0;
    double stall_share = target / (CLIENT_SHARE * 0.3);
    double f = 0.3;
    if (stall_share > 1.0) {
        stall_share = 1.0;
        f = target / CLIENT_SHARE < 1.0 ? target / CLIENT_SHARE : 1.0;
    }
    double stay = EPISODE_STAY_PERCENT / 100.0;
    double start = f >= 0.999 ? 1.0 : f * (1.0 - stay) / (1.0 - f);
    g.stall_per_mille = (uint32_t)(stall_share * 1000.0 + 0.5);
    g.episode_start = s_percent_to_2_32(start * 100.0);
    g.episode_share = s_percent_to_2_32(f * 100.0);

    // Every slot starts its first connection when it is first picked, so
    // the connection count only holds connections that sent something.
    for (uint64_t i = 0; i < nslots; i++)
        slots[i].state = ST_DONE;

    s_write_global_header(o);
    uint64_t duration_us = (uint64_t)(opt->duration_s * 1e6);
    uint64_t first_us = (uint64_t)FIRST_EPOCH_S * 1000000u;
    int rc = 0;
    for (uint64_t i = 0; i < opt->packets && rc == 0; i++) {
        if (o->used + 16 + MAX_FRAME > OUT_BUFFER)
            rc = s_flush(o);
        // Evenly spread, so timestamps never go backwards.
        uint64_t ts = first_us + (opt->packets > 1 ? i * duration_us / (opt->packets - 1) : 0);
        uint8_t *rec = o->buf + o->used;
        size_t len;
        if (g.noise_per_2_32 && s_chance(&g.rng, g.noise_per_2_32)) {
            len = s_build_noise(&g, rec + 16);
            g.sum.noise_packets++;
        } else {
            len = s_build_frame(&g, s_pick(&g, slots, nslots, i), rec + 16);
        }
        s_put_le32(rec, (uint32_t)(ts / 1000000u));
        s_put_le32(rec + 4, (uint32_t)(ts % 1000000u));
        s_put_le32(rec + 8, (uint32_t)len);
        s_put_le32(rec + 12, (uint32_t)len);
        o->used += 16 + len;
        g.sum.packets++;
        g.sum.bytes += len;
    }
    if (rc == 0)
        rc = s_flush(o);

    uint64_t open = 0;
    for (uint64_t i = 0; i < nslots; i++)
        open += slots[i].state != ST_DONE;
    totals *t = &g.sum;
    fprintf(stderr,
            PROGRAM ": packets=%" PRIu64 " bytes=%" PRIu64 " zero_window=%" PRIu64
                    " zero_window_percent=%.3f ipv6_packets=%" PRIu64 " vlan_packets=%" PRIu64
                    " syn=%" PRIu64 " fin=%" PRIu64 " rst=%" PRIu64 " connections=%" PRIu64
                    " ended_fin=%" PRIu64 " ended_rst=%" PRIu64 " ended_idle=%" PRIu64
                    " open_at_end=%" PRIu64 " slots=%" PRIu64 " seed=%" PRIu64 " noise=%" PRIu64
                    " probes=%" PRIu64 " ended_half=%" PRIu64 " syn_lost=%" PRIu64
                    " mean_connection_packets=%.2f\n",
            t->packets, t->bytes, t->zero_window,
            t->packets ? 100.0 * (double)t->zero_window / (double)t->packets : 0.0, t->ipv6_packets,
            t->vlan_packets, t->syn_packets, t->fin_packets, t->rst_packets, t->connections,
            t->ended_fin, t->ended_rst, t->ended_idle, open, nslots, opt->seed, t->noise_packets,
            t->probe_packets, t->ended_half, t->syn_lost,
            t->connections ? (double)t->connection_packets / (double)t->connections : 0.0);
    free(slots);
    return rc;
}

static void s_usage(FILE *f)
{
    fprintf(f, "usage: " PROGRAM " [options]\n"
               "Writes a deterministic synthetic TCP capture (classic pcap, Ethernet).\n"
               "  --out FILE                 output file, '-' for stdout (default -)\n"
               "  --packets N                packets to write (default 10000000;\n"
               "                             with --concurrent-flows, 4 per connection)\n"
               "  --flows N                  connections alive at once (default 50000)\n"
               "  --concurrent-flows N       open N connections first and never end one\n"
               "                             (2N one-directional flows alive at once)\n"
               "  --seed N                   PRNG seed (default 1)\n"
               "  --ipv6-percent P           share of IPv6 connections (default 30)\n"
               "  --vlan-percent P           share of 802.1Q-tagged connections (default 10)\n"
               "  --zero-window-percent P    share of zero-window packets, 0..30 (default 3)\n"
               "  --duration-s S             capture time span (default 300;\n"
               "                             10 with --concurrent-flows)\n"
               "  --model uniform|realistic  uniform (default): the older benchmark capture;\n"
               "                             realistic: heavy-tailed flows, handshakes, FIN in\n"
               "                             one or both directions, RST window 0, abandoned\n"
               "                             flows, persist probes, non-TCP noise\n"
               "  --mean-flow-packets M      realistic: mean packets per connection (default 9)\n"
               "  --hosts N                  realistic: distinct client addresses, 16..16777216\n"
               "                             (default 65536; servers: N / 64, at least 16)\n"
               "  --noise-percent P          realistic: share of non-TCP frames (default 2)\n"
               "  --help                     this text\n"
               "A summary of what was written goes to stderr as key=value pairs.\n");
}

static int s_parse_u64(const char *name, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-') {
        fprintf(stderr, PROGRAM ": invalid %s '%s': not a non-negative integer\n", name, text);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int s_parse_double(const char *name, const char *text, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, PROGRAM ": invalid %s '%s': not a number in [%g, %g]\n", name, text, lo,
                hi);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int s_parse_args(int argc, char **argv, options *opt)
{
    *opt = (options){.packets = 10000000,
                     .seed = 1,
                     .flows = 50000,
                     .ipv6_percent = 30,
                     .vlan_percent = 10,
                     .zero_window_percent = 3,
                     .duration_s = 300,
                     .out = "-",
                     .mean_flow_packets = 9,
                     .hosts = CLIENT_HOSTS,
                     .noise_percent = 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, PROGRAM ": unknown option or missing value: '%s'\n", a);
            return -EINVAL;
        }
        const char *v = argv[++i];
        int rc;
        if (!strcmp(a, "--out"))
            opt->out = v, rc = 0;
        else if (!strcmp(a, "--packets"))
            rc = s_parse_u64(a, v, &opt->packets), opt->packets_given = true;
        else if (!strcmp(a, "--flows"))
            rc = s_parse_u64(a, v, &opt->flows);
        else if (!strcmp(a, "--concurrent-flows"))
            rc = s_parse_u64(a, v, &opt->concurrent);
        else if (!strcmp(a, "--seed"))
            rc = s_parse_u64(a, v, &opt->seed);
        else if (!strcmp(a, "--ipv6-percent"))
            rc = s_parse_double(a, v, 0, 100, &opt->ipv6_percent);
        else if (!strcmp(a, "--vlan-percent"))
            rc = s_parse_double(a, v, 0, 100, &opt->vlan_percent);
        else if (!strcmp(a, "--zero-window-percent"))
            rc = s_parse_double(a, v, 0, 30, &opt->zero_window_percent);
        else if (!strcmp(a, "--model")) {
            rc = 0;
            if (!strcmp(v, "realistic"))
                opt->realistic = true;
            else if (!strcmp(v, "uniform"))
                opt->realistic = false;
            else {
                fprintf(stderr, PROGRAM ": invalid --model '%s': uniform or realistic\n", v);
                rc = -EINVAL;
            }
        } else if (!strcmp(a, "--mean-flow-packets"))
            rc = s_parse_double(a, v, 1, 1000000, &opt->mean_flow_packets);
        else if (!strcmp(a, "--hosts")) {
            rc = s_parse_u64(a, v, &opt->hosts);
            if (rc == 0 && (opt->hosts < 16 || opt->hosts > (1u << 24))) {
                fprintf(stderr, PROGRAM ": --hosts must be in [16, 16777216]\n");
                rc = -EINVAL;
            }
        } else if (!strcmp(a, "--noise-percent"))
            rc = s_parse_double(a, v, 0, 50, &opt->noise_percent);
        else if (!strcmp(a, "--duration-s"))
            rc = s_parse_double(a, v, 0, 86400.0 * 365, &opt->duration_s),
            opt->duration_given = true;
        else {
            fprintf(stderr, PROGRAM ": unknown option '%s' (see --help)\n", a);
            return -EINVAL;
        }
        if (rc)
            return rc;
    }
    if (opt->concurrent) {
        if (!opt->packets_given)
            opt->packets = 4 * opt->concurrent;
        if (!opt->duration_given)
            opt->duration_s = 10;
        if (opt->packets < 3 * opt->concurrent) {
            fprintf(stderr,
                    PROGRAM ": --packets %" PRIu64 " cannot open %" PRIu64
                            " connections: needs at least 3 per connection\n",
                    opt->packets, opt->concurrent);
            return -EINVAL;
        }
    }
    if (opt->flows == 0 || opt->flows > 100000000 || opt->concurrent > 100000000) {
        fprintf(stderr, PROGRAM ": --flows and --concurrent-flows must be in [1, 100000000]\n");
        return -EINVAL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options opt;
    if (s_parse_args(argc, argv, &opt))
        return 2;
    output o = {.file = stdout};
    if (strcmp(opt.out, "-")) {
        o.file = fopen(opt.out, "wb");
        if (!o.file) {
            fprintf(stderr, PROGRAM ": cannot open '%s': %s\n", opt.out, strerror(errno));
            return 1;
        }
    }
    o.buf = malloc(OUT_BUFFER);
    if (!o.buf) {
        fprintf(stderr, PROGRAM ": cannot allocate the output buffer: %s\n", strerror(ENOMEM));
        return 1;
    }
    int rc = s_generate(&opt, &o);
    if (rc == 0 && fflush(o.file))
        rc = -errno;
    if (o.file != stdout && fclose(o.file) && rc == 0)
        rc = -errno;
    free(o.buf);
    if (rc) {
        fprintf(stderr, PROGRAM ": cannot write '%s': %s\n", opt.out, strerror(-rc));
        return 1;
    }
    return 0;
}
