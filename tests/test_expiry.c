// SPDX-License-Identifier: MPL-2.0
/*  flow_table's expiry: the timer wheel looks only at the flows whose time
    has come (not the whole table at every report boundary), the stalled
    list follows stalls, and the state-aware timeouts (SYNs only,
    half-closed) end flows early without ever ending a stall before
    --stall-timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow_table.h"

#define SECOND ((int64_t)1000000)

typedef struct {
    int n;
    int by_reason[TW_END_EVICTED + 1];
    tw_flow_key last_key;
} ended_log;

static void s_on_end(const tw_flow_record *record, void *arg)
{
    ended_log *log = arg;
    log->n++;
    log->by_reason[record->end_reason]++;
    log->last_key = record->key;
}

//  10.<host / 256>.<host % 256>.1:<port> -> 10.0.0.<to>:80 (from_server swaps them).
static tw_packet s_packet(uint32_t host, uint16_t port, bool from_server, uint16_t window,
                          uint8_t flags)
{
    tw_packet p = {.ip_version = 4, .window = window, .flags = flags, .window_scale = -1};
    uint8_t client[4] = {10, (uint8_t)(host >> 8), (uint8_t)host, 1}, server[4] = {10, 0, 0, 9};
    memcpy(from_server ? p.src : p.dst, server, 4);
    memcpy(from_server ? p.dst : p.src, client, 4);
    p.src_port = from_server ? 80 : port;
    p.dst_port = from_server ? port : 80;
    return p;
}

static void s_send(tw_flow_table *table, uint32_t host, bool from_server, uint16_t window,
                   uint8_t flags, int64_t ts_us)
{
    tw_packet p = s_packet(host, 40000, from_server, window, flags);
    assert_int_equal(tw_flow_table_packet(table, &p, ts_us), 0);
}

static tw_flow_config s_config(void)
{
    return (tw_flow_config){.threshold = 1,
                            .max_flows = 100000,
                            .idle_timeout_us = 60 * SECOND,
                            .stall_timeout_us = 600 * SECOND,
                            .linger_us = 2 * SECOND,
                            .syn_timeout_us = 10 * SECOND,
                            .half_closed_timeout_us = 20 * SECOND};
}

static uint64_t s_checks(const tw_flow_table *table)
{
    return tw_flow_table_counters(table).expiry_checks;
}

//  20,000 live flows and a report boundary every second: no flow is looked
//  at until its timeout comes; then each is looked at once and ends.
static void test_expiry_looks_only_at_flows_due(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    for (uint32_t host = 0; host < 20000; host++)
        s_send(table, host, false, 1000, TW_TCP_ACK, host * 50);  // within the first second
    for (int64_t t = 1; t <= 59; t++)  // buckets are 1.05 s: 59 s is before every deadline's
        tw_flow_table_expire(table, t * SECOND);
    assert_int_equal(s_checks(table), 0);
    assert_int_equal(log.n, 0);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_expire(table, 62 * SECOND);
    assert_int_equal(log.n, 20000);
    assert_int_equal(log.by_reason[TW_END_IDLE], 20000);
    assert_int_equal(s_checks(table), 20000);
    assert_int_equal(tw_flow_table_counters(table).active, 0);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  A flow kept alive by a packet every 10 s is looked at about once per
//  timeout (filed again for its new deadline), and ends one timeout after
//  its last packet, not earlier, not later than the next boundary.
static void test_busy_flow_is_filed_again_and_ends_on_time(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    for (int64_t t = 0; t <= 300; t++) {
        if (t % 10 == 0)
            s_send(table, 1, false, 1000, TW_TCP_ACK, t * SECOND);
        tw_flow_table_expire(table, t * SECOND + SECOND / 2);
    }
    assert_int_equal(log.n, 0);
    assert_in_range(s_checks(table), 4, 6);  // 300 s / 60 s
    tw_flow_table_expire(table, 359 * SECOND);
    assert_int_equal(log.n, 0);
    tw_flow_table_expire(table, 360 * SECOND + 1);
    assert_int_equal(log.n, 1);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  An unanswered SYN (and its retransmission) ends after the SYN timeout;
//  a flow that went on past its SYN keeps the idle timeout.
static void test_syn_only_flow_ends_after_syn_timeout(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    s_send(table, 1, false, 1000, TW_TCP_SYN, 0);
    s_send(table, 1, false, 1000, TW_TCP_SYN, 1 * SECOND);  // retransmitted
    s_send(table, 2, false, 1000, TW_TCP_SYN, 0);
    s_send(table, 2, false, 1000, TW_TCP_ACK, 1 * SECOND);
    tw_flow_table_expire(table, 11 * SECOND);
    assert_int_equal(log.n, 0);
    tw_flow_table_expire(table, 11 * SECOND + 1);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.by_reason[TW_END_IDLE], 1);
    assert_int_equal(log.last_key.src[2], 1);
    tw_flow_table_expire(table, 61 * SECOND + 1);
    assert_int_equal(log.n, 2);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  A FIN one way only: both directions end after the half-closed timeout
//  of silence; an open connection beside it does not.
static void test_half_closed_connection_ends_after_its_timeout(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    for (uint32_t host = 1; host <= 2; host++) {
        s_send(table, host, false, 1000, TW_TCP_ACK, 0);
        s_send(table, host, true, 1000, TW_TCP_ACK, 0);
    }
    s_send(table, 1, false, 1000, TW_TCP_FIN | TW_TCP_ACK, 5 * SECOND);
    // The server's side, silent since 0 s, is half-closed from the
    // client's FIN on: 20 s after its last packet.
    tw_flow_table_expire(table, 20 * SECOND);
    assert_int_equal(log.n, 0);
    tw_flow_table_expire(table, 20 * SECOND + 1);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.last_key.src_port, 80);
    // The client's side, 20 s after its FIN.
    tw_flow_table_expire(table, 25 * SECOND);
    assert_int_equal(log.n, 1);
    tw_flow_table_expire(table, 25 * SECOND + 1);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.by_reason[TW_END_IDLE], 2);
    assert_int_equal(tw_flow_table_counters(table).active, 2);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  A half-closed connection whose receiver stalls: neither the stalled side
//  nor its prober ends before the stall timeout, and the stalled list has
//  it until then.
static void test_stall_outlives_half_close_and_syn_timeouts(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    s_send(table, 1, false, 1000, TW_TCP_ACK, 0);
    s_send(table, 1, true, 1000, TW_TCP_FIN | TW_TCP_ACK, 1 * SECOND);  // the server is done
    s_send(table, 1, false, 0, TW_TCP_ACK, 2 * SECOND);                 // the client stalls
    assert_int_equal(tw_flow_table_counters(table).stalled_now, 1);
    for (int64_t t = 3; t <= 601; t++)  // the prober's last packet was at 1 s
        tw_flow_table_expire(table, t * SECOND);
    assert_int_equal(log.n, 0);
    tw_flow_record stalled[2];
    assert_int_equal(tw_flow_table_stalled(table, 601 * SECOND, stalled, 2, NULL), 1);
    assert_int_equal(stalled[0].stalled_us, 599 * SECOND);
    tw_flow_table_expire(table, 602 * SECOND + 1);
    assert_int_equal(log.n, 2);
    assert_int_equal(tw_flow_table_counters(table).stalled_now, 0);
    assert_int_equal(tw_flow_table_stalled(table, 603 * SECOND, stalled, 2, NULL), 0);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  The stalled list is kept as stalls begin and end, oldest stall first.
static void test_stalled_list_follows_stalls_oldest_first(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    for (uint32_t host = 1; host <= 5; host++)
        s_send(table, host, false, 0, TW_TCP_ACK, host * SECOND);
    s_send(table, 2, false, 1000, TW_TCP_ACK, 10 * SECOND);  // reopens
    s_send(table, 2, false, 0, TW_TCP_ACK, 11 * SECOND);     // stalls again: now the newest
    tw_flow_record out[5];
    assert_int_equal(tw_flow_table_stalled(table, 12 * SECOND, out, 5, NULL), 5);
    const uint8_t order[] = {1, 3, 4, 5, 2};
    for (int i = 0; i < 5; i++)
        assert_int_equal(out[i].key.src[2], order[i]);
    assert_int_equal(tw_flow_table_stalled(table, 12 * SECOND, out, 2, NULL), 5);
    assert_int_equal(out[1].key.src[2], 3);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  A timeout longer than the wheel (1,024 buckets) still ends the flow on
//  time, and a long gap between two expiries walks each bucket once.
static void test_timeout_beyond_the_wheel(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    config.idle_timeout_us = 3000 * SECOND;
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    s_send(table, 1, false, 1000, TW_TCP_ACK, 0);
    s_send(table, 2, false, 1000, TW_TCP_ACK, 0);
    for (int64_t t = 0; t <= 3000; t += 5)
        tw_flow_table_expire(table, t * SECOND);
    assert_int_equal(log.n, 0);
    assert_in_range(s_checks(table), 2, 8);  // each flow looked at about every 1,024 buckets
    tw_flow_table_expire(table, 100000 * SECOND);
    assert_int_equal(log.n, 2);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  A packet from an address and port to themselves is its own reverse
//  flow: its FIN or RST files the new flow while it is being created.
static void test_flow_that_is_its_own_reverse(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    const uint8_t kinds[] = {TW_TCP_FIN, TW_TCP_RST, TW_TCP_SYN, TW_TCP_FIN | TW_TCP_ACK,
                             TW_TCP_ACK};  // the last one stalls, its own prober
    for (size_t i = 0; i < sizeof kinds; i++) {
        tw_packet p = {.ip_version = 4, .window = 0, .flags = kinds[i], .window_scale = -1};
        p.src[0] = p.dst[0] = 10, p.src[3] = p.dst[3] = (uint8_t)(i + 1);
        p.src_port = p.dst_port = 7;
        assert_int_equal(tw_flow_table_packet(table, &p, (int64_t)i * SECOND), 0);
        assert_int_equal(tw_flow_table_packet(table, &p, (int64_t)i * SECOND + 1), 0);
        assert_int_equal(tw_flow_table_check(table), 0);
    }
    tw_packet reopen = {.ip_version = 4, .window = 1000, .flags = TW_TCP_ACK, .window_scale = -1};
    reopen.src[0] = reopen.dst[0] = 10, reopen.src[3] = reopen.dst[3] = (uint8_t)sizeof kinds;
    reopen.src_port = reopen.dst_port = 7;
    assert_int_equal(tw_flow_table_counters(table).stalled_now, 1);
    assert_int_equal(tw_flow_table_packet(table, &reopen, 10 * SECOND), 0);
    assert_int_equal(tw_flow_table_counters(table).stalled_now, 0);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_expire(table, 100 * SECOND);
    assert_int_equal(tw_flow_table_counters(table).active, 0);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  Random traffic with every kind of end and expiries in between keeps the
//  wheel's lists, the stalled list and the index consistent while entries
//  move, and everything ends once every timeout has passed.
static void test_random_churn_keeps_the_wheel_consistent(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    config.max_flows = 3000;  // evictions too
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    uint64_t x = 88172645463325252ULL;
    const uint8_t kinds[] = {TW_TCP_ACK, TW_TCP_ACK, TW_TCP_ACK,
                             TW_TCP_SYN, TW_TCP_FIN, TW_TCP_RST};
    int64_t t = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        t += (int64_t)(x % 2000);
        uint16_t window = (x >> 20) % 16 == 0 ? 0 : 1000;
        s_send(table, (uint32_t)(x >> 32) % 4000, (x >> 12) & 1, window,
               kinds[(x >> 16) % sizeof kinds], t);
        if (i % 5000 == 0) {
            tw_flow_table_expire(table, t);
            assert_int_equal(tw_flow_table_check(table), 0);
        }
    }
    tw_flow_table_expire(table, t + 601 * SECOND);
    assert_int_equal(tw_flow_table_counters(table).active, 0);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  A full table that evicts a connection for nearly every packet (a scan:
//  new keys at 40,000 packets/s) keeps its wheel records bounded by its
//  entries: an evicted connection's record serves the next one in its
//  entry. Records made per packet grew with the rate and the timeout.
static void test_wheel_records_follow_entries_not_packets(void **state)
{
    (void)state;
    tw_flow_config config = s_config();
    config.max_flows = 1000;  // 500 entries
    config.idle_timeout_us = 120 * SECOND;
    tw_flow_table *table = tw_flow_table_new(&config, NULL, NULL);
    uint64_t most = 0;
    for (uint32_t i = 0; i < 400000; i++) {
        int64_t t = (int64_t)i * 25;
        tw_packet p = s_packet(i % 60000, (uint16_t)(1024 + i / 60000), false, 1000, TW_TCP_ACK);
        assert_int_equal(tw_flow_table_packet(table, &p, t), 0);
        if (i % 200000 == 0)
            tw_flow_table_expire(table, t);
        uint64_t records = tw_flow_table_counters(table).wheel_records;
        most = records > most ? records : most;
    }
    assert_true(tw_flow_table_counters(table).evicted > 390000);
    assert_true(most <= 5 * 500);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  Stalls that end and begin again, with a flow timeout far shorter than
//  the stall timeout: each walk files a stalled connection far ahead, each
//  reopening files it near again, leaving a record behind. The stale
//  records are dropped before they pass about 4 per live connection.
static void test_toggling_stalls_keep_wheel_records_bounded(void **state)
{
    (void)state;
    tw_flow_config config = s_config();
    config.idle_timeout_us = 2 * SECOND;
    config.stall_timeout_us = 1000 * SECOND;
    config.syn_timeout_us = config.half_closed_timeout_us = 0;
    tw_flow_table *table = tw_flow_table_new(&config, NULL, NULL);
    enum { HOSTS = 2000 };
    uint64_t most = 0;
    for (int64_t step = 0; step < 1200; step++) {  // 600 s, every 0.5 s
        int64_t t = step * SECOND / 2;
        for (uint32_t host = 0; host < HOSTS; host++) {
            s_send(table, host, true, 1000, TW_TCP_ACK, t + host);  // the sender
            s_send(table, host, false, step % 2 ? 1000 : 0, TW_TCP_ACK, t + host);
        }
        tw_flow_table_expire(table, t + SECOND / 4);
        uint64_t records = tw_flow_table_counters(table).wheel_records;
        most = records > most ? records : most;
    }
    assert_int_equal(tw_flow_table_counters(table).active, 2 * HOSTS);
    assert_true(most <= 4 * HOSTS + 2 * 4096 + 2 * HOSTS);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  Short connections seen mid-stream (an ACK, then the peer's RST), as a
//  scan and its backscatter make them, with a report every 5 s: each walk
//  frees entries that the next connections take, and each starts a new
//  chain of records while the old ones wait in later buckets (23 records
//  per entry were measured without the compaction). The records stay
//  within 4 per live entry plus the slack.
static void test_short_connections_keep_wheel_records_bounded(void **state)
{
    (void)state;
    tw_flow_config config = s_config();
    config.idle_timeout_us = 120 * SECOND;
    config.syn_timeout_us = config.half_closed_timeout_us = 0;
    tw_flow_table *table = tw_flow_table_new(&config, NULL, NULL);
    enum { HOSTS = 3000 };
    uint64_t most = 0;
    for (uint32_t round = 0; round < 200; round++) {  // 1,000 s
        int64_t t = (int64_t)round * 5 * SECOND;
        for (uint32_t host = 0; host < HOSTS; host++) {
            tw_packet ack = s_packet(host, (uint16_t)(1024 + round), false, 1000, TW_TCP_ACK);
            tw_packet rst = s_packet(host, (uint16_t)(1024 + round), true, 0, TW_TCP_RST);
            assert_int_equal(tw_flow_table_packet(table, &ack, t + host), 0);
            assert_int_equal(tw_flow_table_packet(table, &rst, t + host + 1), 0);
        }
        tw_flow_table_expire(table, t + 4 * SECOND);
        uint64_t records = tw_flow_table_counters(table).wheel_records;
        most = records > most ? records : most;
        assert_int_equal(tw_flow_table_check_expired(table, t + 4 * SECOND), 0);
    }
    assert_true(most <= 5 * HOSTS + 4096);
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wheel_records_follow_entries_not_packets),
        cmocka_unit_test(test_toggling_stalls_keep_wheel_records_bounded),
        cmocka_unit_test(test_short_connections_keep_wheel_records_bounded),
        cmocka_unit_test(test_expiry_looks_only_at_flows_due),
        cmocka_unit_test(test_busy_flow_is_filed_again_and_ends_on_time),
        cmocka_unit_test(test_syn_only_flow_ends_after_syn_timeout),
        cmocka_unit_test(test_half_closed_connection_ends_after_its_timeout),
        cmocka_unit_test(test_stall_outlives_half_close_and_syn_timeouts),
        cmocka_unit_test(test_stalled_list_follows_stalls_oldest_first),
        cmocka_unit_test(test_timeout_beyond_the_wheel),
        cmocka_unit_test(test_flow_that_is_its_own_reverse),
        cmocka_unit_test(test_random_churn_keeps_the_wheel_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
