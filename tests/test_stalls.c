// SPDX-License-Identifier: MPL-2.0
/*  Stalls through the whole analysis: crafted raw-IP and Ethernet frames
    through tw_analyzer, down to the stalled list, flow records, host rows
    and run counters. A stall lasts as long as its receiver advertises a
    window below the threshold, however far apart the sender's persist
    probes are; probes of both kinds, zero-window advertisements as
    Wireshark counts them, window reopenings and the scale-unknown flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer.h"
#include "link_type.h"

#define SECOND 1000000LL
#define MINUTE (60 * SECOND)

//  One direction of a connection: 10.0.0.<from>:<sport> -> 10.0.0.<to>:<dport>.
typedef struct {
    uint8_t from, to;
    uint16_t sport, dport;
} s_dir;

static const s_dir SENDER = {1, 2, 5000, 6000};    // pushes data, probes
static const s_dir RECEIVER = {2, 1, 6000, 5000};  // advertises the windows

typedef struct {
    uint32_t seq, ack, payload;
    uint16_t window;
    uint8_t flags;
    int8_t window_scale;  // a SYN's option, -1 for none
} s_segment;

static void s_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#define MAX_FRAME 256

//  An IPv4 + TCP packet (no link header) into f, which has room for
//  MAX_FRAME - 14 bytes; returns its length.
static size_t s_ip_packet(uint8_t *f, const s_dir *d, const s_segment *s)
{
    size_t tcp_len = s->window_scale >= 0 ? 24 : 20;
    size_t len = 20 + tcp_len + s->payload;
    assert_true(len <= MAX_FRAME - 14);
    memset(f, 0, len);
    f[0] = 0x45, f[2] = (uint8_t)(len >> 8), f[3] = (uint8_t)len, f[8] = 64, f[9] = 6;
    f[12] = 10, f[15] = d->from, f[16] = 10, f[19] = d->to;
    uint8_t *tcp = f + 20;
    tcp[0] = (uint8_t)(d->sport >> 8), tcp[1] = (uint8_t)d->sport;
    tcp[2] = (uint8_t)(d->dport >> 8), tcp[3] = (uint8_t)d->dport;
    s_put32(tcp + 4, s->seq);
    s_put32(tcp + 8, s->ack);
    tcp[12] = (uint8_t)(tcp_len / 4 << 4), tcp[13] = s->flags;
    tcp[14] = (uint8_t)(s->window >> 8), tcp[15] = (uint8_t)s->window;
    if (s->window_scale >= 0)
        tcp[20] = 1, tcp[21] = 3, tcp[22] = 3, tcp[23] = (uint8_t)s->window_scale;
    return len;
}

//  What the tests look at: every report's stalled list and counters, kept
//  by the sink, and the flow records.
typedef struct {
    tw_flow_record records[16];
    int n_records;
    int n_reports;
    // Checked in on_report for the long stall:
    bool check_stall;
    int64_t stall_start_us, stall_end_us;
    const uint64_t *probes_before;  // probes sent before each report boundary
    const int64_t *probe_times;
    size_t n_probes;
    int reports_inside;
    // Every report: the highest Counters.stall_us so far, and how often a
    // report's was below it (a counter must never go down).
    int64_t max_stall_us;
    int stall_us_decreases;
    // The last report:
    tw_run_counters counters;
    size_t n_stalled;
    tw_flow_record stalled[4];
    tw_host host;
    size_t n_hosts;
} s_log;

static bool s_is_receiver(const tw_flow_key *key)
{
    return key->src[3] == RECEIVER.from && key->src_port == RECEIVER.sport;
}

static uint64_t s_probes_before(const s_log *log, int64_t t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < log->n_probes; i++)
        n += log->probe_times[i] < t;
    return n;
}

//  Inside the stall, a report lists the receiver as stalled since its start,
//  for exactly the time since then, with every probe sent before the report.
static void s_check_long_stall(s_log *log, const tw_report_snapshot *r)
{
    if (r->final)
        return;
    if (r->time_us > log->stall_start_us && r->time_us <= log->stall_end_us) {
        log->reports_inside++;
        assert_int_equal(r->n_stalled, 1);
        assert_int_equal(r->counters.flows_stalled_now, 1);
        assert_true(s_is_receiver(&r->stalled[0].key));
        assert_int_equal(r->stalled[0].stall_since_us, log->stall_start_us);
        assert_int_equal(r->stalled[0].stalled_us, r->time_us - log->stall_start_us);
        assert_int_equal(r->stalled[0].stall_probes, s_probes_before(log, r->time_us));
        assert_int_equal(r->stalled[0].stalls, 1);
        assert_int_equal(r->counters.stall_us, r->time_us - log->stall_start_us);
        assert_int_equal(r->counters.stalls, 1);
    } else if (r->time_us > log->stall_end_us) {
        assert_int_equal(r->n_stalled, 0);
        assert_int_equal(r->counters.stall_us, log->stall_end_us - log->stall_start_us);
    }
}

static void s_on_report(const tw_report_snapshot *r, void *arg)
{
    s_log *log = arg;
    log->n_reports++;
    if (log->check_stall)
        s_check_long_stall(log, r);
    if (r->counters.stall_us < log->max_stall_us)
        log->stall_us_decreases++;
    else
        log->max_stall_us = r->counters.stall_us;
    log->counters = r->counters;
    log->n_stalled = r->n_stalled;
    for (size_t i = 0; i < r->n_stalled && i < 4; i++)
        log->stalled[i] = r->stalled[i];
    log->n_hosts = tw_host_table_size(r->hosts);
    const tw_host *first = tw_host_table_first(r->hosts);
    if (first)
        log->host = *first;
}

static void s_on_flow(const tw_flow_record *record, void *arg)
{
    s_log *log = arg;
    assert_true(log->n_records < 16);
    log->records[log->n_records++] = *record;
}

static tw_analyzer *s_new(s_log *log, tw_analyzer_config config, int dlt)
{
    config.flows = true;
    tw_analyzer *a = tw_analyzer_new(&config, dlt, (tw_analyzer_sink){s_on_report, s_on_flow, log});
    assert_non_null(a);
    return a;
}

static void s_send_raw(tw_analyzer *a, const s_dir *d, s_segment s, int64_t t)
{
    uint8_t f[MAX_FRAME];
    size_t len = s_ip_packet(f, d, &s);
    tw_analyzer_packet(a, f, (uint32_t)len, (uint32_t)len, t);
}

static void s_send_ethernet(tw_analyzer *a, const s_dir *d, s_segment s, int64_t t)
{
    uint8_t f[MAX_FRAME] = {0};
    f[12] = 0x08;  // ethertype IPv4
    size_t len = 14 + s_ip_packet(f + 14, d, &s);
    tw_analyzer_packet(a, f, (uint32_t)len, (uint32_t)len, t);
}

static const tw_flow_record *s_record_of(const s_log *log, const s_dir *d)
{
    const tw_flow_record *found = NULL;
    for (int i = 0; i < log->n_records; i++)
        if (log->records[i].key.src[3] == d->from && log->records[i].key.src_port == d->sport) {
            assert_null(found);  // one flow per direction
            found = &log->records[i];
        }
    assert_non_null(found);
    return found;
}

//  Linux's persist timer: 200 ms doubling up to TCP_RTO_MAX (120 s), here
//  with up to +-0.5 s of jitter once capped, so some gaps exceed 120 s.
static int64_t s_probe_gap(int k, uint64_t *rng)
{
    int64_t base = k < 10 ? (200000LL << k) : 120 * SECOND;
    base = base > 120 * SECOND ? 120 * SECOND : base;
    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t jitter = (int64_t)((*rng >> 33) % 1000001) - 500000;  // +-0.5 s
    return base + (base == 120 * SECOND ? jitter : jitter / 100);
}

//  A 30-minute stall probed at Linux's backoff: one flow per direction, one
//  stall and one legacy episode, listed in every report dated inside it,
//  its time to the microsecond.
static void s_thirty_minute_stall(int64_t flow_timeout_us)
{
    static s_log log;
    memset(&log, 0, sizeof log);
    static int64_t probe_times[64];
    tw_analyzer_config config = tw_analyzer_defaults();
    config.flow_timeout_us = flow_timeout_us;
    tw_analyzer *a = s_new(&log, config, TW_LINK_RAW);
    const int64_t t0 = 1000 * SECOND + 123457;  // the stall begins
    const int64_t t_end = t0 + 30 * MINUTE + 654321;
    log.check_stall = true;
    log.stall_start_us = t0;
    log.stall_end_us = t_end;
    log.probe_times = probe_times;

    s_send_raw(a, &SENDER, (s_segment){1000, 7000, 100, 512, TW_TCP_ACK | TW_TCP_PSH, -1},
               t0 - 1000);
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_ACK, -1}, t0);
    uint64_t rng = 42;
    int64_t t = t0;
    for (int k = 0;; k++) {
        t += s_probe_gap(k, &rng);
        if (t >= t_end - 1000)
            break;
        assert_true(log.n_probes < 64);
        probe_times[log.n_probes++] = t;
        // Linux's zero-length probe at snd_una - 1, answered with window 0.
        s_send_raw(a, &SENDER, (s_segment){1099, 7000, 0, 512, TW_TCP_ACK, -1}, t);
        s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_ACK, -1}, t + 40);
    }
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 65535, TW_TCP_ACK, -1}, t_end);
    s_send_raw(a, &SENDER, (s_segment){1100, 7000, 100, 512, TW_TCP_ACK | TW_TCP_PSH, -1},
               t_end + 100);
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1200, 0, 65535, TW_TCP_ACK, -1}, t_end + 200);
    tw_analyzer_finish(a, t_end + SECOND);
    tw_analyzer_destroy(&a);

    assert_true(log.n_probes > 20);
    assert_true(log.reports_inside >= 20);  // about one per probe gap over 5 s
    assert_int_equal(log.n_records, 2);
    const tw_flow_record *r = s_record_of(&log, &RECEIVER);
    assert_int_equal(r->end_reason, TW_END_END_OF_CAPTURE);
    assert_int_equal(r->stalls, 1);
    assert_int_equal(r->episodes, 1);
    assert_int_equal(r->stall_us, t_end - t0);
    assert_int_equal(r->zero_window_us, t_end - t0);
    assert_int_equal(r->zero_window_adverts, 1 + log.n_probes);
    assert_int_equal(r->probes_received, log.n_probes);
    assert_int_equal(r->window_reopenings, 1);
    const tw_flow_record *s = s_record_of(&log, &SENDER);
    assert_int_equal(s->zero_length_probes, log.n_probes);
    assert_int_equal(s->window_probes, 0);
    assert_int_equal(s->stalls, 0);
    assert_int_equal(log.counters.stall_us, t_end - t0);
    assert_int_equal(log.counters.probes, log.n_probes);
    assert_int_equal(log.counters.window_reopenings, 1);
    assert_int_equal(log.counters.flows_stalled_now, 0);
}

static void test_thirty_minute_stall_is_one_stall_at_the_defaults(void **state)
{
    (void)state;
    s_thirty_minute_stall(TW_DEFAULT_FLOW_TIMEOUT_S * SECOND);
}

//  The case: --flow-timeout 5 cut a 40 s pause into pieces.
static void test_thirty_minute_stall_survives_a_short_flow_timeout(void **state)
{
    (void)state;
    s_thirty_minute_stall(5 * SECOND);
}

//  A sender that stops probing: both flows end as idle after the stall
//  timeout, and the stall lasted until the receiver's last advertisement.
static void test_a_dead_stall_ends_after_the_stall_timeout(void **state)
{
    (void)state;
    static s_log log;
    memset(&log, 0, sizeof log);
    tw_analyzer_config config = tw_analyzer_defaults();
    config.flow_timeout_us = 5 * SECOND;
    config.stall_timeout_us = 300 * SECOND;
    tw_analyzer *a = s_new(&log, config, TW_LINK_RAW);
    int64_t t0 = 10 * SECOND + 1;
    s_send_raw(a, &SENDER, (s_segment){1000, 7000, 100, 512, TW_TCP_ACK, -1}, t0 - 10);
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_ACK, -1}, t0);
    s_send_raw(a, &SENDER, (s_segment){1099, 7000, 0, 512, TW_TCP_ACK, -1}, t0 + 200000);
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_ACK, -1}, t0 + 200040);
    tw_analyzer_tick(a, t0 + 290 * SECOND);
    assert_int_equal(log.n_records, 0);  // past the flow timeout, within the stall's
    assert_int_equal(log.n_stalled, 1);
    tw_analyzer_tick(a, t0 + 310 * SECOND);
    assert_int_equal(log.n_records, 2);
    const tw_flow_record *r = s_record_of(&log, &RECEIVER);
    assert_int_equal(r->end_reason, TW_END_IDLE);
    assert_int_equal(r->stall_us, 200040);
    assert_int_equal(r->probes_received, 1);
    assert_int_equal(s_record_of(&log, &SENDER)->end_reason, TW_END_IDLE);
    assert_int_equal(log.n_stalled, 0);
    tw_analyzer_destroy(&a);
}

//  Windows-style 1-byte probes at the next sequence number, on Ethernet:
//  counted while the receiver's window is 0, not at another sequence
//  number, not once the window reopened. Host row and run counters too.
static void test_one_byte_probes_and_the_window_update(void **state)
{
    (void)state;
    static s_log log;
    memset(&log, 0, sizeof log);
    tw_analyzer_config config = tw_analyzer_defaults();
    config.min_pkts = 1;
    tw_analyzer *a = s_new(&log, config, TW_LINK_ETHERNET);
    int64_t t = 100 * SECOND;
    s_send_ethernet(a, &SENDER, (s_segment){1000, 7000, 100, 512, TW_TCP_ACK, -1}, t);
    s_send_ethernet(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_ACK, -1}, t + 100);
    for (int i = 0; i < 3; i++) {  // the probe does not advance the next sequence number
        t += (200000 << i);
        s_send_ethernet(a, &SENDER, (s_segment){1100, 7000, 1, 512, TW_TCP_ACK, -1}, t);
        s_send_ethernet(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_ACK, -1}, t + 50);
    }
    // Not a probe: one byte past the next sequence number.
    s_send_ethernet(a, &SENDER, (s_segment){1101, 7000, 1, 512, TW_TCP_ACK, -1}, t + 1000);
    s_send_ethernet(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_ACK, -1}, t + 1050);
    int64_t reopened = t + 2 * SECOND;
    s_send_ethernet(a, &RECEIVER, (s_segment){7000, 1100, 0, 8000, TW_TCP_ACK, -1}, reopened);
    // Not a probe either: the window is open again.
    s_send_ethernet(a, &SENDER, (s_segment){1100, 7000, 1, 512, TW_TCP_ACK, -1}, reopened + 10);
    // Nor a keep-alive-looking segment outside a stall.
    s_send_ethernet(a, &SENDER, (s_segment){1100, 7000, 0, 512, TW_TCP_ACK, -1}, reopened + 20);
    tw_analyzer_finish(a, reopened + SECOND);
    tw_analyzer_destroy(&a);

    const tw_flow_record *s = s_record_of(&log, &SENDER);
    assert_int_equal(s->window_probes, 3);
    assert_int_equal(s->zero_length_probes, 0);
    const tw_flow_record *r = s_record_of(&log, &RECEIVER);
    assert_int_equal(r->probes_received, 3);
    assert_int_equal(r->stalls, 1);
    assert_int_equal(r->window_reopenings, 1);
    assert_int_equal(r->zero_window_adverts, 5);
    assert_int_equal(r->stall_us, reopened - (100 * SECOND + 100));
    assert_false(r->window_scale_unknown);  // only with --threshold-bytes
    // The host row of the receiver: legacy columns and the stall figures.
    assert_int_equal(log.n_hosts, 1);
    assert_int_equal(log.host.ip[3], RECEIVER.from);
    assert_int_equal(log.host.zero_window_adverts, 5);
    assert_int_equal(log.host.flows_stalled, 1);
    assert_int_equal(log.host.stall_us, r->stall_us);
    assert_int_equal(log.host.probes_received, 3);
    assert_int_equal(log.counters.zero_window_adverts, 5);
    assert_int_equal(log.counters.stalls, 1);
    assert_int_equal(log.counters.probes, 3);
    assert_int_equal(log.counters.window_reopenings, 1);
    assert_int_equal(log.counters.stall_us, r->stall_us);
}

//  Linux closes with RST and window 0, and a FIN may say 0 too: undershoots
//  for the legacy rule, but neither a zero-window advertisement nor a stall.
static void test_rst_and_fin_with_window_zero_are_not_stalls(void **state)
{
    (void)state;
    static s_log log;
    memset(&log, 0, sizeof log);
    tw_analyzer *a = s_new(&log, tw_analyzer_defaults(), TW_LINK_RAW);
    int64_t t = 50 * SECOND;
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_SYN, -1}, t);
    s_send_raw(a, &RECEIVER, (s_segment){7001, 1100, 0, 1000, TW_TCP_ACK, -1}, t + 10);
    s_send_raw(a, &RECEIVER, (s_segment){7001, 1100, 0, 0, TW_TCP_FIN | TW_TCP_ACK, -1}, t + 20);
    s_send_raw(a, &RECEIVER, (s_segment){7002, 1100, 0, 0, TW_TCP_RST, -1}, t + 30);
    tw_analyzer_tick(a, t + 1 * SECOND);  // lingering: not in the stalled list
    assert_int_equal(log.n_stalled, 0);
    tw_analyzer_finish(a, t + 10 * SECOND);
    tw_analyzer_destroy(&a);
    const tw_flow_record *r = s_record_of(&log, &RECEIVER);
    assert_int_equal(r->undershoot_packets, 3);  // the legacy rule, unchanged
    assert_int_equal(r->episodes, 2);
    assert_int_equal(r->zero_window_adverts, 0);
    assert_int_equal(r->stalls, 0);
    assert_int_equal(r->stall_us, 0);
    assert_int_equal(log.counters.stalls, 0);
}

//  A capture that starts inside a stall: the receiver's zero window comes
//  before any packet of the sender, whose first packet is already a probe.
static void test_a_prober_seen_after_the_stall_began(void **state)
{
    (void)state;
    static s_log log;
    memset(&log, 0, sizeof log);
    tw_analyzer *a = s_new(&log, tw_analyzer_defaults(), TW_LINK_RAW);
    int64_t t = 20 * SECOND;
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_ACK, -1}, t);
    s_send_raw(a, &SENDER, (s_segment){1099, 7000, 0, 512, TW_TCP_ACK, -1}, t + SECOND);
    s_send_raw(a, &SENDER, (s_segment){1099, 7000, 0, 512, TW_TCP_ACK, -1}, t + 3 * SECOND);
    tw_analyzer_finish(a, t + 4 * SECOND);
    tw_analyzer_destroy(&a);
    assert_int_equal(s_record_of(&log, &SENDER)->zero_length_probes, 2);
    const tw_flow_record *r = s_record_of(&log, &RECEIVER);
    assert_int_equal(r->probes_received, 2);
    assert_int_equal(r->stall_us, 0);  // no later advertisement: the flow's last packet
}

//  A RST or FIN at or above the threshold does not reopen a stall (nor
//  does Wireshark count it a window update): the stall ends with the flow,
//  measured to its last packet, and no reopening is counted. A lone FIN
//  leaves the flow stalled in the reports.
static void s_control_after_a_stall(uint8_t flags)
{
    static s_log log;
    memset(&log, 0, sizeof log);
    tw_analyzer *a = s_new(&log, tw_analyzer_defaults(), TW_LINK_RAW);
    int64_t t0 = 1 * SECOND + 10000, t_control = 3 * SECOND;
    s_send_raw(a, &SENDER, (s_segment){1000, 7000, 100, 512, TW_TCP_ACK, -1}, t0 - 10000);
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_ACK, -1}, t0);
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 8192, flags, -1}, t_control);
    if (!(flags & TW_TCP_RST)) {
        tw_analyzer_tick(a, 5 * SECOND);
        assert_int_equal(log.n_stalled, 1);
        assert_true(s_is_receiver(&log.stalled[0].key));
    }
    tw_analyzer_finish(a, 6 * SECOND);
    tw_analyzer_destroy(&a);
    const tw_flow_record *r = s_record_of(&log, &RECEIVER);
    assert_int_equal(r->stalls, 1);
    assert_int_equal(r->window_reopenings, 0);
    assert_true(r->stalled);  // at its end
    assert_int_equal(r->stall_us, t_control - t0);
    assert_int_equal(log.counters.window_reopenings, 0);
    assert_int_equal(log.counters.stalls, 1);
}

static void test_a_rst_or_fin_does_not_reopen_a_stall(void **state)
{
    (void)state;
    s_control_after_a_stall(TW_TCP_RST | TW_TCP_ACK);
    s_control_after_a_stall(TW_TCP_FIN | TW_TCP_ACK);
}

//  Counters.stall_us is a counter (tcpwin_stall_seconds_total): a stall
//  counted up to a report stays counted when it ends earlier, as a flow's
//  stall does, at its last packet. The scenarios of a stall at t0 (10 s);
//  each returns what the final report must say, the last report's count.
static int64_t s_stall_ends_idle(tw_analyzer *a, int64_t t0)
{
    for (int64_t t = t0; t < t0 + 700 * SECOND; t += 5 * SECOND)
        tw_analyzer_tick(a, t);  // ends at 615 s, idle for the 600 s stall timeout
    tw_analyzer_finish(a, t0 + 700 * SECOND);
    return 610 * SECOND - t0;
}

static int64_t s_stall_ends_by_rst(tw_analyzer *a, int64_t t0)
{
    s_send_raw(a, &SENDER, (s_segment){1100, 7000, 0, 0, TW_TCP_RST, -1}, t0 + 100 * SECOND);
    for (int64_t t = t0; t < t0 + 200 * SECOND; t += SECOND)
        tw_analyzer_tick(a, t);  // both directions end at 115 s, after the linger
    tw_analyzer_finish(a, t0 + 200 * SECOND);
    return 110 * SECOND - t0;
}

static int64_t s_stall_ends_with_the_capture(tw_analyzer *a, int64_t t0)
{
    for (int64_t t = t0; t < t0 + 100 * SECOND; t += 5 * SECOND)
        tw_analyzer_tick(a, t);
    tw_analyzer_finish(a, t0 + 100 * SECOND);  // after the 105 s report, before 110 s
    return 105 * SECOND - t0;
}

//  The reopening comes 3 s late, after the 15 s report counted the stall.
static int64_t s_stall_reopens_late(tw_analyzer *a, int64_t t0)
{
    s_send_raw(a, &SENDER, (s_segment){1099, 7000, 0, 512, TW_TCP_ACK, -1}, 15 * SECOND + 500000);
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 65535, TW_TCP_ACK, -1}, 12 * SECOND);
    s_send_raw(a, &SENDER, (s_segment){1100, 7000, 0, 512, TW_TCP_ACK, -1}, 20 * SECOND + 1);
    tw_analyzer_finish(a, 21 * SECOND);
    return 15 * SECOND - t0;
}

static void s_stall_counter_never_decreases(int64_t (*scenario)(tw_analyzer *, int64_t),
                                            int64_t flow_stall_us)
{
    static s_log log;
    memset(&log, 0, sizeof log);
    tw_analyzer *a = s_new(&log, tw_analyzer_defaults(), TW_LINK_RAW);
    int64_t t0 = 10 * SECOND + 1;
    s_send_raw(a, &SENDER, (s_segment){1000, 7000, 100, 512, TW_TCP_ACK, -1}, t0 - 10);
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_ACK, -1}, t0);
    int64_t counted_us = scenario(a, t0);
    tw_analyzer_destroy(&a);
    assert_true(log.n_reports >= 2);
    assert_int_equal(log.stall_us_decreases, 0);
    assert_int_equal(log.counters.stall_us_holds, 0);  // the table's sum did not go down
    assert_int_equal(log.counters.stall_us, counted_us);
    assert_int_equal(log.counters.stalls, 1);
    // The flow's own figure is measured to its last packet.
    assert_int_equal(s_record_of(&log, &RECEIVER)->stall_us, flow_stall_us);
}

static void test_the_stall_counter_never_decreases(void **state)
{
    (void)state;
    s_stall_counter_never_decreases(s_stall_ends_idle, 0);
    s_stall_counter_never_decreases(s_stall_ends_by_rst, 0);
    s_stall_counter_never_decreases(s_stall_ends_with_the_capture, 0);
    s_stall_counter_never_decreases(s_stall_reopens_late, 2 * SECOND - 1);
}

//  Ticks carry the reports of a stray stretch (+10 h) a minute past its
//  only packet, and the clock comes back: the next reports count the live
//  stall on a flow clock a minute short of them, and hold the mark instead,
//  until the stall (reopened at 100 s) passes it.
static void test_the_stall_counter_holds_when_a_clock_goes_back(void **state)
{
    (void)state;
    static s_log log;
    memset(&log, 0, sizeof log);
    tw_analyzer *a = s_new(&log, tw_analyzer_defaults(), TW_LINK_RAW);
    const s_dir stray = {3, 4, 5001, 6001};
    int64_t t0 = 1000 * SECOND + 1, away = t0 + 10 * 3600 * SECOND;
    s_send_raw(a, &SENDER, (s_segment){1000, 7000, 100, 512, TW_TCP_ACK, -1}, t0 - 10);
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 0, TW_TCP_ACK, -1}, t0);
    tw_analyzer_tick(a, t0 + 5 * SECOND);
    s_send_raw(a, &stray, (s_segment){1, 1, 100, 512, TW_TCP_ACK, -1}, away);
    for (int64_t t = away; t <= away + 60 * SECOND; t += 5 * SECOND)
        tw_analyzer_tick(a, t);
    int64_t mark = log.max_stall_us;
    assert_int_equal(mark, 60 * SECOND - 1);  // the report at +10 h 60 s
    for (int64_t t = t0 + 6 * SECOND; t < t0 + 100 * SECOND; t += 5 * SECOND)
        s_send_raw(a, &SENDER, (s_segment){1099, 7000, 0, 512, TW_TCP_ACK, -1}, t);
    s_send_raw(a, &RECEIVER, (s_segment){7000, 1100, 0, 65535, TW_TCP_ACK, -1}, t0 + 100 * SECOND);
    tw_analyzer_finish(a, t0 + 101 * SECOND);
    tw_analyzer_destroy(&a);
    assert_int_equal(log.counters.time_jumps, 2);
    assert_int_equal(log.stall_us_decreases, 0);
    assert_true(log.counters.stall_us_holds >= 5);  // the reports up to the mark
    assert_true(log.counters.stall_us > mark);
    assert_int_equal(s_record_of(&log, &RECEIVER)->stall_us, 100 * SECOND);
}

//  Half an hour dated 10 h ahead, in which a stall begins, then the capture
//  goes back to where it was: the flow clock must not go back by the
//  stretch's length, or the stall began in the future (stalled 0, the
//  counter down) and the stretch's flows could not go idle.
static void test_a_stall_begun_in_a_stray_stretch_goes_on_after_it(void **state)
{
    (void)state;
    static s_log log;
    memset(&log, 0, sizeof log);
    tw_analyzer *a = s_new(&log, tw_analyzer_defaults(), TW_LINK_RAW);
    const s_dir sender = {3, 4, 5001, 6001}, receiver = {4, 3, 6001, 5001};
    int64_t t0 = 1000 * SECOND, away = t0 + 10 * 3600 * SECOND;
    s_send_raw(a, &SENDER, (s_segment){1000, 7000, 100, 512, TW_TCP_ACK, -1}, t0);
    s_send_raw(a, &sender, (s_segment){1, 1, 100, 512, TW_TCP_ACK, -1}, away);
    int64_t t = away + 1;
    for (; t < away + 30 * MINUTE; t += 5 * SECOND)
        s_send_raw(a, &receiver, (s_segment){1, 101, 0, 0, TW_TCP_ACK, -1}, t);
    int64_t stalled_us = t - 5 * SECOND - (away + 1);  // up to its last advertisement
    int64_t mark = log.max_stall_us;
    assert_true(mark > 29 * MINUTE);
    for (t = t0 + SECOND; t < t0 + 60 * SECOND; t += SECOND)
        s_send_raw(a, &SENDER, (s_segment){1100, 7000, 0, 512, TW_TCP_ACK, -1}, t);
    assert_int_equal(log.counters.time_jumps, 2);
    assert_int_equal(log.n_stalled, 1);
    assert_int_equal(log.stalled[0].key.src[3], receiver.from);
    assert_true(log.stalled[0].stalled_us >= stalled_us);
    assert_true(log.counters.stall_us > mark);
    // Both flows of the stretch end idle at the stall timeout (600 s).
    for (; t < t0 + 700 * SECOND; t += 5 * SECOND)
        s_send_raw(a, &SENDER, (s_segment){1100, 7000, 0, 512, TW_TCP_ACK, -1}, t);
    assert_int_equal(log.n_stalled, 0);
    tw_analyzer_finish(a, t);
    tw_analyzer_destroy(&a);
    assert_int_equal(log.stall_us_decreases, 0);
    assert_int_equal(log.counters.stall_us_holds, 0);
    assert_int_equal(s_record_of(&log, &receiver)->end_reason, TW_END_IDLE);
    assert_int_equal(s_record_of(&log, &receiver)->stall_us, stalled_us);
    assert_int_equal(s_record_of(&log, &sender)->end_reason, TW_END_IDLE);
}

static void s_send_scaled(tw_analyzer *a, bool handshake, uint8_t host, uint16_t window, int64_t t)
{
    s_dir client = {host, 50, 4000, 80}, server = {50, host, 80, 4000};
    if (handshake) {
        s_send_raw(a, &client, (s_segment){1, 0, 0, 64240, TW_TCP_SYN, 7}, t);
        s_send_raw(a, &server, (s_segment){1, 2, 0, 65160, TW_TCP_SYN | TW_TCP_ACK, 7}, t + 10);
    }
    s_send_raw(a, &server, (s_segment){2, 2, 0, window, TW_TCP_ACK, -1}, t + 20);
}

//  With the threshold in bytes, a verdict on an unknown scale is flagged.
static void test_threshold_bytes_flags_an_unknown_window_scale(void **state)
{
    (void)state;
    static s_log log;
    memset(&log, 0, sizeof log);
    tw_analyzer_config config = tw_analyzer_defaults();
    config.threshold_bytes = true;
    config.threshold = 1000;
    tw_analyzer *a = s_new(&log, config, TW_LINK_RAW);
    s_send_scaled(a, true, 1, 5, 30 * SECOND);    // 5 << 7 = 640 bytes: stalled, scale known
    s_send_scaled(a, false, 2, 10, 30 * SECOND);  // 10, unscaled: stalled, scale unknown
    s_send_scaled(a, true, 3, 8, 30 * SECOND);    // 8 << 7 = 1024: not stalled
    tw_analyzer_tick(a, 35 * SECOND);
    assert_int_equal(log.n_stalled, 2);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(log.stalled[i].window_scale_unknown, log.stalled[i].key.dst[3] == 2);
    tw_analyzer_finish(a, 36 * SECOND);
    tw_analyzer_destroy(&a);
    int unknown = 0, stalls = 0;
    for (int i = 0; i < log.n_records; i++) {
        const tw_flow_record *r = &log.records[i];
        bool handshake = r->key.src[3] != 2 && r->key.dst[3] != 2;
        assert_int_equal(r->window_scale_unknown, !handshake);
        unknown += r->window_scale_unknown;
        stalls += (int)r->stalls;
    }
    assert_int_equal(unknown, 1);  // the server side only: no client packet was seen
    assert_int_equal(stalls, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thirty_minute_stall_is_one_stall_at_the_defaults),
        cmocka_unit_test(test_thirty_minute_stall_survives_a_short_flow_timeout),
        cmocka_unit_test(test_a_dead_stall_ends_after_the_stall_timeout),
        cmocka_unit_test(test_one_byte_probes_and_the_window_update),
        cmocka_unit_test(test_rst_and_fin_with_window_zero_are_not_stalls),
        cmocka_unit_test(test_a_prober_seen_after_the_stall_began),
        cmocka_unit_test(test_a_rst_or_fin_does_not_reopen_a_stall),
        cmocka_unit_test(test_the_stall_counter_never_decreases),
        cmocka_unit_test(test_the_stall_counter_holds_when_a_clock_goes_back),
        cmocka_unit_test(test_a_stall_begun_in_a_stray_stretch_goes_on_after_it),
        cmocka_unit_test(test_threshold_bytes_flags_an_unknown_window_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
