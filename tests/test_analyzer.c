// SPDX-License-Identifier: MPL-2.0
/*  analyzer: crafted Ethernet/IPv4/TCP frames through decode, flows, hosts
    and report boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer.h"
#include "link_type.h"

#define SECOND 1000000LL

typedef struct {
    int64_t time_us[16];
    bool final[16];
    size_t hosts[16];
    uint32_t first_pkt_tcp_cnt[16];
    float first_ratio[16];
    uint64_t tcp_packets[16], malformed[16], truncated[16], unknown_link[16];
    int n;
    int flows;
    uint64_t flow_undershoots;
} sink_log;

static void s_on_report(const tw_report_snapshot *report, void *arg)
{
    sink_log *log = arg;
    int i = log->n++;
    assert_true(i < 16);
    const tw_host *first = tw_host_table_first(report->hosts);
    log->time_us[i] = report->time_us;
    log->final[i] = report->final;
    log->hosts[i] = tw_host_table_size(report->hosts);
    log->first_pkt_tcp_cnt[i] = first ? first->pkt_tcp_cnt : 0;
    log->first_ratio[i] = first ? first->win_rel_th_cnt : 0;
    log->tcp_packets[i] = report->counters.tcp_packets;
    log->malformed[i] = report->counters.malformed_packets;
    log->truncated[i] = report->counters.truncated_packets;
    log->unknown_link[i] = report->counters.unknown_link_type_packets;
}

static void s_on_flow(const tw_flow_record *record, void *arg)
{
    sink_log *log = arg;
    log->flows++;
    log->flow_undershoots += record->undershoot_packets;
}

//  An Ethernet + IPv4 + TCP frame from 10.0.0.<from> to 10.0.0.<to>.
static size_t s_frame(uint8_t *f, uint8_t from, uint8_t to, uint16_t window, uint8_t flags)
{
    memset(f, 0, 54);
    f[12] = 0x08;  // ethertype IPv4
    uint8_t *ip = f + 14;
    ip[0] = 0x45, ip[3] = 40, ip[8] = 64, ip[9] = 6;
    ip[12] = 10, ip[15] = from, ip[16] = 10, ip[19] = to;
    uint8_t *tcp = ip + 20;
    tcp[0] = 0x9c, tcp[1] = from;  // ports 40000 + from ...
    tcp[2] = 0, tcp[3] = 80;       // ... to 80
    tcp[12] = 0x50, tcp[13] = flags;
    tcp[14] = (uint8_t)(window >> 8), tcp[15] = (uint8_t)window;
    return 54;
}

static tw_analyzer *s_new(sink_log *log, uint32_t min_pkts, bool flows)
{
    tw_analyzer_config config = tw_analyzer_defaults();
    config.min_pkts = min_pkts;
    config.flows = flows;
    return tw_analyzer_new(&config, TW_LINK_ETHERNET,
                           (tw_analyzer_sink){s_on_report, s_on_flow, log});
}

static void s_send(tw_analyzer *a, uint8_t from, uint16_t window, uint8_t flags, int64_t t)
{
    uint8_t f[64];
    size_t len = s_frame(f, from, 99, window, flags);
    tw_analyzer_packet(a, f, (uint32_t)len, (uint32_t)len, t);
}

static void test_long_silence_yields_one_report_at_last_boundary(void **state)
{
    (void)state;
    sink_log log = {0};
    tw_analyzer *a = s_new(&log, 1, false);
    s_send(a, 1, 100, 0x10, 1 * SECOND);
    s_send(a, 1, 100, 0x10, 4 * SECOND + 999999);  // no boundary crossed yet
    assert_int_equal(log.n, 0);
    s_send(a, 1, 100, 0x10, 3601 * SECOND + 7);  // an hour later: one report
    assert_int_equal(log.n, 1);
    assert_int_equal(log.time_us[0], 3600 * SECOND);
    assert_false(log.final[0]);
    assert_int_equal(log.tcp_packets[0], 2);  // dated before the crossing packet
    s_send(a, 1, 100, 0x10, 3605 * SECOND);   // exactly on a boundary
    assert_int_equal(log.n, 2);
    assert_int_equal(log.time_us[1], 3605 * SECOND);
    tw_analyzer_finish(a, 3605 * SECOND);
    assert_int_equal(log.n, 3);
    assert_true(log.final[2]);
    assert_int_equal(log.time_us[2], 3605 * SECOND);
    tw_analyzer_destroy(&a);
}

static void test_flow_under_minimum_never_enters_the_table(void **state)
{
    (void)state;
    sink_log log = {0};
    tw_analyzer *a = s_new(&log, 50, false);
    for (int i = 0; i < 49; i++)
        s_send(a, 1, 0, 0x10, i);
    for (int i = 0; i < 50; i++)
        s_send(a, 2, i < 10 ? 0 : 500, 0x10, i);
    tw_analyzer_finish(a, 100);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.hosts[0], 1);
    assert_int_equal(log.first_pkt_tcp_cnt[0], 50);
    assert_true(log.first_ratio[0] == 0.2f);
    tw_analyzer_destroy(&a);
}

static void test_window_zero_counts_on_syn_fin_rst_and_data_but_one_does_not(void **state)
{
    (void)state;
    sink_log log = {0};
    tw_analyzer *a = s_new(&log, 1, true);
    s_send(a, 1, 0, 0x02, 0);  // SYN
    s_send(a, 1, 0, 0x18, 1);  // PSH+ACK data
    s_send(a, 1, 1, 0x10, 2);  // window 1: not below threshold 1
    s_send(a, 1, 0, 0x11, 3);  // FIN+ACK
    s_send(a, 1, 0, 0x04, 4);  // RST
    tw_analyzer_finish(a, 5);
    assert_int_equal(log.flows, 1);
    assert_int_equal(log.flow_undershoots, 4);
    assert_int_equal(log.first_pkt_tcp_cnt[0], 5);
    assert_true(log.first_ratio[0] == 0.8f);
    tw_analyzer_destroy(&a);
}

static void test_malformed_and_truncated_are_counted_apart(void **state)
{
    (void)state;
    sink_log log = {0};
    tw_analyzer *a = s_new(&log, 1, false);
    uint8_t f[64];
    size_t len = s_frame(f, 1, 2, 0, 0x10);
    tw_analyzer_packet(a, f, 40, (uint32_t)len, 0);  // cut by the snap length
    f[14] = 0x43;                                    // IHL 3: impossible
    tw_analyzer_packet(a, f, (uint32_t)len, (uint32_t)len, 1);
    tw_analyzer_finish(a, 2);
    assert_int_equal(log.tcp_packets[0], 0);
    assert_int_equal(log.truncated[0], 1);
    assert_int_equal(log.malformed[0], 1);
    tw_analyzer_destroy(&a);
}

//  Each frame is decoded with its own link type (a pcapng file's interfaces
//  differ); one the decoder does not know is counted apart, not malformed.
static void test_per_packet_link_type_and_unknown_ones(void **state)
{
    (void)state;
    sink_log log = {0};
    tw_analyzer *a = s_new(&log, 1, false);
    uint8_t f[64];
    size_t len = s_frame(f, 1, 2, 0, 0x10);
    tw_analyzer_queue_link(a, TW_LINK_ETHERNET, f, (uint32_t)len, (uint32_t)len, 0);
    // The same TCP/IP frame without its Ethernet header, as raw IP.
    tw_analyzer_queue_link(a, TW_LINK_RAW, f + 14, (uint32_t)len - 14, (uint32_t)len - 14, 1);
    tw_analyzer_queue_link(a, 147, f, (uint32_t)len, (uint32_t)len, 2);  // LINKTYPE_USER0
    tw_analyzer_queue_link(a, 147, f, (uint32_t)len, (uint32_t)len, 3);
    tw_analyzer_finish(a, 4);
    assert_int_equal(log.tcp_packets[0], 2);
    assert_int_equal(log.unknown_link[0], 2);
    assert_int_equal(log.malformed[0], 0);
    tw_analyzer_destroy(&a);
}

static void test_tick_crosses_boundaries_without_packets(void **state)
{
    (void)state;
    sink_log log = {0};
    tw_analyzer *a = s_new(&log, 1, false);
    tw_analyzer_tick(a, 12 * SECOND);
    assert_int_equal(tw_analyzer_next_boundary(a), 15 * SECOND);
    tw_analyzer_tick(a, 15 * SECOND + 1);
    tw_analyzer_tick(a, 20 * SECOND);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.time_us[0], 15 * SECOND);
    assert_int_equal(log.time_us[1], 20 * SECOND);
    tw_analyzer_destroy(&a);
}

//  The analyzer gives the flow table the state-aware timeouts: a flow of
//  SYNs only ends after TW_DEFAULT_SYN_TIMEOUT_US (30 s), an open one after
//  --flow-timeout (120 s).
static void test_syn_only_flow_ends_before_the_flow_timeout(void **state)
{
    (void)state;
    sink_log log = {0};
    tw_analyzer_config config = tw_analyzer_defaults();
    config.min_pkts = 1;
    config.flows = true;
    config.interval_s = 40;
    tw_analyzer *a = tw_analyzer_new(&config, TW_LINK_ETHERNET,
                                     (tw_analyzer_sink){s_on_report, s_on_flow, &log});
    assert_non_null(a);
    s_send(a, 1, 100, 0x02, 1 * SECOND);  // a SYN, never answered
    s_send(a, 2, 100, 0x10, 1 * SECOND);  // an ACK
    tw_analyzer_tick(a, 41 * SECOND);     // boundary at 40 s: the SYN's 30 s have passed
    assert_int_equal(log.flows, 1);
    tw_analyzer_tick(a, 121 * SECOND);  // boundary at 120 s: 119 s of silence
    assert_int_equal(log.flows, 1);
    tw_analyzer_tick(a, 161 * SECOND);
    assert_int_equal(log.flows, 2);
    tw_analyzer_destroy(&a);
}

//  Every value an analyzer emitted, in order, as (kind, FNV-1a of its
//  fields), for comparing two runs.
typedef struct {
    uint64_t *digests;
    size_t n, cap;
    size_t reports, flows;
} message_log;

static uint64_t s_fnv1a(const uint8_t *bytes, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ bytes[i]) * 0x100000001b3ull;
    return h;
}

static void s_log_digest(message_log *log, uint64_t digest)
{
    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 1024;
        log->digests = realloc(log->digests, sizeof *log->digests * log->cap);
        assert_non_null(log->digests);
    }
    log->digests[log->n++] = digest;
}

#define HASH(h, field) ((h) = s_fnv1a((const uint8_t *)&(field), sizeof(field), (h)))

static uint64_t s_hash_flow(const tw_flow_record *f, uint64_t h)
{
    HASH(h, f->key);  // zero-padded, so its bytes are its value
    HASH(h, f->first_us), HASH(h, f->last_us), HASH(h, f->tcp_packets);
    HASH(h, f->undershoot_packets), HASH(h, f->episodes), HASH(h, f->zero_window_us);
    HASH(h, f->episode_start_us), HASH(h, f->min_window), HASH(h, f->window_scale);
    HASH(h, f->end_reason);
    return h;
}

static uint64_t s_hash_host(const tw_host *r, uint64_t h)
{
    HASH(h, r->ip), HASH(h, r->ip_version), HASH(h, r->pkt_tcp_cnt), HASH(h, r->win_rel_th_cnt);
    HASH(h, r->flows_counted), HASH(h, r->tcp_packets), HASH(h, r->undershoot_packets);
    HASH(h, r->worst_peer_ip), HASH(h, r->worst_peer_port), HASH(h, r->worst_src_port);
    HASH(h, r->last_update_us);
    return h;
}

static void s_log_report(const tw_report_snapshot *report, void *arg)
{
    message_log *log = arg;
    uint64_t h = 0xcbf29ce484222325ull ^ 1;
    HASH(h, report->time_us), HASH(h, report->final), HASH(h, report->counters);
    for (const tw_host *r = tw_host_table_first(report->hosts); r;
         r = tw_host_table_next(report->hosts, r))
        h = s_hash_host(r, h);
    for (size_t i = 0; i < report->n_stalled; i++)
        h = s_hash_flow(&report->stalled[i], h);
    s_log_digest(log, h);
    log->reports++;
}

static void s_log_flow(const tw_flow_record *record, void *arg)
{
    message_log *log = arg;
    s_log_digest(log, s_hash_flow(record, 0xcbf29ce484222325ull ^ 2));
    log->flows++;
}

//  Connection c between 10.1.<c>.<c> and 10.9.0.1:80, in either direction.
static size_t s_conn_frame(uint8_t *f, uint32_t c, bool reverse, uint16_t window, uint8_t flags)
{
    size_t len = s_frame(f, 0, 0, window, flags);
    uint8_t *ip = f + 14, *tcp = ip + 20;
    uint8_t client[4] = {10, 1, (uint8_t)(c >> 8), (uint8_t)c}, server[4] = {10, 9, 0, 1};
    uint16_t client_port = (uint16_t)(20000 + c), server_port = 80;
    memcpy(ip + 12, reverse ? server : client, 4);
    memcpy(ip + 16, reverse ? client : server, 4);
    uint16_t sport = reverse ? server_port : client_port,
             dport = reverse ? client_port : server_port;
    tcp[0] = (uint8_t)(sport >> 8), tcp[1] = (uint8_t)sport;
    tcp[2] = (uint8_t)(dport >> 8), tcp[3] = (uint8_t)dport;
    return len;
}

static uint64_t s_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

//  Queued frames must give the very messages, in the very order, that
//  frames analysed one at a time give: reports at the same boundaries with
//  the same hosts and counters, flow records before the report that follows
//  them, through closes, idle ends, evictions, ticks and the finish.
static void test_queued_frames_give_the_same_messages(void **state)
{
    (void)state;
    tw_analyzer_config config = tw_analyzer_defaults();
    config.min_pkts = 3;
    config.max_flows = 150;
    config.max_hosts = 40;
    config.max_stalled = 5;
    config.flows = true;
    message_log one = {0}, queued = {0};
    tw_analyzer *a = tw_analyzer_new(&config, TW_LINK_ETHERNET,
                                     (tw_analyzer_sink){s_log_report, s_log_flow, &one});
    tw_analyzer *b = tw_analyzer_new(&config, TW_LINK_ETHERNET,
                                     (tw_analyzer_sink){s_log_report, s_log_flow, &queued});
    assert_non_null(a);
    assert_non_null(b);
    uint64_t rng = 42;
    int64_t t = 1700000000 * SECOND;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = s_rand(&rng);
        // Milliseconds apart; now and then across report boundaries, rarely
        // past the flow timeout; sometimes a tick of the wall clock.
        t += (r % 5000 == 0) ? 130 * SECOND : (r % 300 == 0) ? 7 * SECOND : (int64_t)(r % 4000);
        if (r % 1000 == 1) {
            tw_analyzer_tick(a, t);
            tw_analyzer_tick(b, t);
        }
        uint32_t kind = (uint32_t)((r >> 20) % 100);
        uint8_t flags = kind < 3 ? 0x02 : kind < 6 ? 0x11 : kind < 8 ? 0x04 : 0x10;
        uint32_t w = (uint32_t)((r >> 30) % 8);
        uint16_t window = w < 2 ? 0 : (uint16_t)(r >> 40);
        uint8_t f[64];
        size_t len = s_conn_frame(f, (uint32_t)((r >> 8) % 200), (r >> 16) & 1, window, flags);
        uint32_t caplen = (r >> 56) == 0 ? 40 : (uint32_t)len;  // a few cut by the snap length
        tw_analyzer_packet(a, f, caplen, (uint32_t)len, t);
        tw_analyzer_queue(b, f, caplen, (uint32_t)len, t);
    }
    tw_analyzer_finish(a, t);
    tw_analyzer_finish(b, t);
    assert_true(one.reports > 100);
    assert_true(one.flows > 10000);
    assert_int_equal(one.n, queued.n);
    assert_int_equal(one.reports, queued.reports);
    for (size_t i = 0; i < one.n; i++)
        assert_int_equal(one.digests[i], queued.digests[i]);
    tw_run_counters ca = tw_analyzer_counters(a), cb = tw_analyzer_counters(b);
    assert_true(ca.flows_evicted > 0 && ca.hosts_evicted > 0 && ca.truncated_packets > 0);
    assert_int_equal(ca.flows_evicted, cb.flows_evicted);
    assert_int_equal(ca.flows_ended, cb.flows_ended);
    tw_analyzer_destroy(&a);
    tw_analyzer_destroy(&b);
    free(one.digests);
    free(queued.digests);
}

//  A queued frame reaches the flow table at the latest at a flush.
static void test_flush_puts_queued_frames_through(void **state)
{
    (void)state;
    sink_log log = {0};
    tw_analyzer *a = s_new(&log, 1, true);
    uint8_t f[64];
    size_t len = s_frame(f, 1, 2, 0, 0x10);
    tw_analyzer_queue(a, f, (uint32_t)len, (uint32_t)len, 0);
    assert_int_equal(tw_analyzer_counters(a).tcp_packets, 1);
    assert_int_equal(tw_analyzer_counters(a).flows_active, 0);  // queued
    tw_analyzer_flush(a);
    assert_int_equal(tw_analyzer_counters(a).flows_active, 1);
    len = s_frame(f, 1, 2, 0, 0x04);
    tw_analyzer_queue(a, f, (uint32_t)len, (uint32_t)len, 1);
    tw_analyzer_finish(a, 1);  // flushes first: the RST is counted
    assert_int_equal(log.flows, 1);
    assert_int_equal(log.flow_undershoots, 2);
    tw_analyzer_destroy(&a);
}

//  The clock tests: reports, flow ends and durations over many reports.
typedef struct {
    int reports;
    int64_t last_report_us;
    int64_t report_us[64];  // the first 64 report times
    uint64_t time_jumps;    // as of the last report
    int flows, idle_flows;
    int64_t min_zero_window_us, max_last_us;
} clock_log;

static void s_clock_report(const tw_report_snapshot *report, void *arg)
{
    clock_log *log = arg;
    if (log->reports < 64)
        log->report_us[log->reports] = report->time_us;
    log->reports++;
    log->last_report_us = report->time_us;
    log->time_jumps = report->counters.time_jumps;
}

static void s_clock_flow(const tw_flow_record *record, void *arg)
{
    clock_log *log = arg;
    log->flows++;
    log->idle_flows += record->end_reason == TW_END_IDLE;
    if (record->zero_window_us < log->min_zero_window_us)
        log->min_zero_window_us = record->zero_window_us;
    if (record->last_us > log->max_last_us)
        log->max_last_us = record->last_us;
}

static tw_analyzer *s_clock_new(clock_log *log, int64_t max_time_jump_us)
{
    *log = (clock_log){.max_last_us = INT64_MIN};
    tw_analyzer_config config = tw_analyzer_defaults();
    config.min_pkts = 1;
    config.flows = true;
    if (max_time_jump_us)
        config.max_time_jump_us = max_time_jump_us;
    return tw_analyzer_new(&config, TW_LINK_ETHERNET,
                           (tw_analyzer_sink){s_clock_report, s_clock_flow, log});
}

#define T2011 (1294817626LL * SECOND)  // Wed 12 Jan 2011 07:33:46
#define T2038 (2145916800LL * SECOND)  // Fri 01 Jan 2038

//  60 s of 2011 traffic, 4 flows, a packet every 100 ms (some zero
//  windows); with `stray`, packet 300 is dated 2038 instead.
static void s_2011_stream(tw_analyzer *a, bool stray)
{
    for (int i = 0; i < 600; i++) {
        int64_t t = T2011 + i * (SECOND / 10);
        s_send(a, (uint8_t)(1 + i % 4), i % 7 == 0 ? 0 : 500, 0x10, stray && i == 300 ? T2038 : t);
    }
    tw_analyzer_finish(a, T2011 + 600 * (SECOND / 10));
}

static void test_stray_packet_in_2038_keeps_the_cadence(void **state)
{
    (void)state;
    clock_log plain, stray;
    tw_analyzer *a = s_clock_new(&plain, 0);
    s_2011_stream(a, false);
    tw_analyzer_destroy(&a);
    a = s_clock_new(&stray, 0);
    s_2011_stream(a, true);
    tw_analyzer_destroy(&a);
    // 12 boundaries crossed in 60 s, then the final report: the same reports
    // at the same times, the stray packet or not.
    assert_int_equal(plain.reports, 13);
    assert_int_equal(stray.reports, plain.reports);
    assert_memory_equal(stray.report_us, plain.report_us, sizeof plain.report_us);
    assert_int_equal(plain.time_jumps, 0);
    assert_int_equal(stray.time_jumps, 2);  // away and back
    // No flow ended as idle; the stray packet counted at its flow's time.
    assert_int_equal(stray.flows, 4);
    assert_int_equal(stray.idle_flows, 0);
    assert_true(stray.min_zero_window_us >= 0);
    assert_true(stray.max_last_us < T2038);
}

//  A real step of the clock, two hours on, then on: reports go on at the new
//  time, at the usual cadence, and no flow ends as idle because of the step.
static void test_clock_step_reanchors_the_reports(void **state)
{
    (void)state;
    clock_log log;
    tw_analyzer *a = s_clock_new(&log, 0);
    int64_t step = 7200 * SECOND;
    for (int i = 0; i < 200; i++)
        s_send(a, (uint8_t)(1 + i % 2), 500, 0x10,
               T2011 + i * (SECOND / 10) + (i >= 100 ? step : 0));
    assert_int_equal(log.time_jumps, 1);
    // Boundaries (multiples of 5 s) at +4 s and +9 s before the step; the
    // step makes no report, then +14 s and +19 s on the new clock.
    assert_int_equal(log.reports, 4);
    assert_int_equal(log.report_us[0], T2011 + 4 * SECOND);
    assert_int_equal(log.report_us[1], T2011 + 9 * SECOND);
    assert_int_equal(log.report_us[2], T2011 + 14 * SECOND + step);
    assert_int_equal(log.report_us[3], T2011 + 19 * SECOND + step);
    tw_analyzer_finish(a, T2011 + 200 * (SECOND / 10) + step);
    assert_int_equal(log.idle_flows, 0);
    assert_int_equal(log.flows, 2);
    assert_int_equal(log.max_last_us, T2011 + 199 * (SECOND / 10) + step);
    tw_analyzer_destroy(&a);
}

//  Going back within the bound (out of order, 1393 s here: not a jump, and
//  no negative duration), then by two hours (a jump: the reports follow the
//  clock back at once).
static void test_time_going_back(void **state)
{
    (void)state;
    clock_log log;
    tw_analyzer *a = s_clock_new(&log, 0);
    s_send(a, 1, 0, 0x10, T2011 + 2000 * SECOND);   // zero window ...
    s_send(a, 1, 500, 0x10, T2011 + 607 * SECOND);  // ... ended 1393 s "earlier"
    s_send(a, 1, 0, 0x10, T2011 + 609 * SECOND);
    s_send(a, 1, 500, 0x10, T2011 + 608 * SECOND);
    assert_int_equal(log.reports, 0);
    assert_int_equal(tw_analyzer_counters(a).time_jumps, 0);
    int64_t back = T2011 - 7200 * SECOND;
    for (int i = 0; i <= 100; i++)
        s_send(a, 1, i % 2 ? 0 : 500, 0x10, back + i * (SECOND / 10));
    assert_int_equal(tw_analyzer_counters(a).time_jumps, 1);
    assert_int_equal(log.reports, 2);  // 10 s on the clock set back
    assert_int_equal(log.last_report_us, back + 9 * SECOND);
    tw_analyzer_finish(a, back + 10 * SECOND);
    assert_int_equal(log.flows, 1);
    assert_int_equal(log.idle_flows, 0);
    assert_true(log.min_zero_window_us >= 0);
    tw_analyzer_destroy(&a);
}

//  60 packets with absurd times: a bounded number of reports, and no
//  undefined behaviour at the ends of int64 (run under UBSan).
static void test_absurd_times_give_bounded_reports(void **state)
{
    (void)state;
    clock_log log;
    tw_analyzer *a = s_clock_new(&log, 0);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 60; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64: anywhere in int64
        s_send(a, (uint8_t)(1 + i % 3), i % 2 ? 0 : 500, 0x10, (int64_t)x);
    }
    tw_analyzer_finish(a, INT64_MIN);
    assert_true(log.reports <= 2);  // the final one, and a jump back may cross one
    assert_true(log.time_jumps >= 55);
    assert_true(log.min_zero_window_us >= 0);
    tw_analyzer_destroy(&a);

    const int64_t ends[] = {INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1};
    for (size_t e = 0; e < sizeof ends / sizeof ends[0]; e++) {
        a = s_clock_new(&log, 0);
        for (int i = 0; i < 60; i++)
            s_send(a, 1, i % 2 ? 0 : 500, 0x10, ends[e]);
        tw_analyzer_tick(a, ends[e]);
        tw_analyzer_finish(a, ends[e]);
        assert_int_equal(log.reports, 1);  // the final one
        assert_int_equal(log.time_jumps, 0);
        assert_int_equal(log.flows, 1);
        tw_analyzer_destroy(&a);
    }

    // Up to INT64_MAX a second at a time: the boundaries saturate, no storm.
    a = s_clock_new(&log, 0);
    for (int i = 59; i >= 0; i--)
        s_send(a, 1, 500, 0x10, INT64_MAX - i * SECOND);
    tw_analyzer_finish(a, INT64_MAX);
    assert_true(log.reports <= 13);  // 60 s: at most 12 boundaries, and the final
    assert_int_equal(log.time_jumps, 0);
    tw_analyzer_destroy(&a);
}

static void test_max_time_jump_must_be_positive(void **state)
{
    (void)state;
    tw_analyzer_config config = tw_analyzer_defaults();
    assert_int_equal(config.max_time_jump_us, TW_DEFAULT_MAX_TIME_JUMP_US);
    config.max_time_jump_us = 0;
    assert_null(tw_analyzer_new(&config, TW_LINK_ETHERNET, (tw_analyzer_sink){0}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_silence_yields_one_report_at_last_boundary),
        cmocka_unit_test(test_flow_under_minimum_never_enters_the_table),
        cmocka_unit_test(test_window_zero_counts_on_syn_fin_rst_and_data_but_one_does_not),
        cmocka_unit_test(test_malformed_and_truncated_are_counted_apart),
        cmocka_unit_test(test_per_packet_link_type_and_unknown_ones),
        cmocka_unit_test(test_tick_crosses_boundaries_without_packets),
        cmocka_unit_test(test_syn_only_flow_ends_before_the_flow_timeout),
        cmocka_unit_test(test_queued_frames_give_the_same_messages),
        cmocka_unit_test(test_flush_puts_queued_frames_through),
        cmocka_unit_test(test_stray_packet_in_2038_keeps_the_cadence),
        cmocka_unit_test(test_clock_step_reanchors_the_reports),
        cmocka_unit_test(test_time_going_back),
        cmocka_unit_test(test_absurd_times_give_bounded_reports),
        cmocka_unit_test(test_max_time_jump_must_be_positive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
