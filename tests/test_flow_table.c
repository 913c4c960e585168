/*  flow_table: counting, episodes, end rules, eviction and window scaling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "flow_table.h"

#define SECOND 1000000

typedef struct {
    tw_flow_record ended[64];
    int n;
} ended_log;

static void s_on_end(const tw_flow_record *record, void *arg)
{
    ended_log *log = arg;
    if (log->n < 64)
        log->ended[log->n] = *record;
    log->n++;
}

static tw_packet s_packet(uint8_t from, uint8_t to, uint16_t window, uint8_t flags)
{
    tw_packet p = {.ip_version = 4, .window = window, .flags = flags, .window_scale = -1};
    p.src[0] = 10, p.src[3] = from;
    p.dst[0] = 10, p.dst[3] = to;
    p.src_port = 1000 + from;
    p.dst_port = 1000 + to;
    return p;
}

static tw_flow_config s_config(void)
{
    return (tw_flow_config){
        .threshold = 1, .max_flows = 100, .idle_timeout_us = 60 * SECOND, .linger_us = 2 * SECOND};
}

static void test_counts_zero_windows_on_every_kind_of_packet(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    const uint8_t kinds[] = {TW_TCP_SYN, TW_TCP_ACK, TW_TCP_ACK | TW_TCP_PSH,
                             TW_TCP_FIN | TW_TCP_ACK};
    for (size_t i = 0; i < sizeof kinds; i++) {
        tw_packet p = s_packet(1, 2, 0, kinds[i]);
        assert_int_equal(tw_flow_table_packet(table, &p, (int64_t)i), 0);
    }
    tw_packet not_under = s_packet(1, 2, 1, TW_TCP_ACK);  // window 1 is not < 1
    tw_flow_table_packet(table, &not_under, 10);
    tw_packet rst = s_packet(1, 2, 0, TW_TCP_RST);
    tw_flow_table_packet(table, &rst, 11);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.ended[0].tcp_packets, 6);
    assert_int_equal(log.ended[0].undershoot_packets, 5);
    assert_int_equal(log.ended[0].min_window, 0);
    assert_int_equal(log.ended[0].episodes, 2);
    assert_int_equal(log.ended[0].first_us, 0);
    assert_int_equal(log.ended[0].last_us, 11);
    tw_flow_table_destroy(&table);
    assert_null(table);
}

static void test_episode_duration_runs_until_first_packet_after(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    const struct {
        int64_t t;
        uint16_t w;
    } seq[] = {{0, 500}, {100, 0}, {200, 0}, {350, 10}, {400, 0}, {470, 0}};
    for (size_t i = 0; i < 6; i++) {
        tw_packet p = s_packet(1, 2, seq[i].w, TW_TCP_ACK);
        tw_flow_table_packet(table, &p, seq[i].t);
    }
    tw_flow_record stalled[4];
    assert_int_equal(tw_flow_table_stalled(table, stalled, 4), 1);
    assert_int_equal(stalled[0].episode_start_us, 400);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    assert_int_equal(log.ended[0].episodes, 2);
    assert_int_equal(log.ended[0].zero_window_us, (350 - 100) + (470 - 400));
    assert_int_equal(log.ended[0].end_reason, TW_END_END_OF_CAPTURE);
    tw_flow_table_destroy(&table);
}

static void test_fin_both_ways_ends_both_after_linger(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet a = s_packet(1, 2, 100, TW_TCP_FIN | TW_TCP_ACK);
    tw_packet b = s_packet(2, 1, 100, TW_TCP_FIN | TW_TCP_ACK);
    tw_packet last_ack = s_packet(1, 2, 100, TW_TCP_ACK);
    tw_flow_table_packet(table, &a, 0);
    tw_flow_table_packet(table, &b, SECOND);
    tw_flow_table_packet(table, &last_ack, SECOND + 10);  // inside the linger: counted
    tw_flow_table_expire(table, 2 * SECOND);
    assert_int_equal(log.n, 0);
    tw_flow_table_expire(table, 3 * SECOND + 1);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.ended[0].end_reason, TW_END_FIN);
    assert_int_equal(log.ended[1].end_reason, TW_END_FIN);
    assert_int_equal(log.ended[0].tcp_packets + log.ended[1].tcp_packets, 3);
    assert_int_equal(tw_flow_table_counters(table).active, 0);
    tw_flow_table_destroy(&table);
}

static void test_packet_after_close_starts_a_new_flow(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet rst = s_packet(1, 2, 0, TW_TCP_RST);
    tw_packet reverse = s_packet(2, 1, 100, TW_TCP_ACK);
    tw_flow_table_packet(table, &reverse, 0);
    tw_flow_table_packet(table, &rst, 1);
    tw_packet again = s_packet(1, 2, 100, TW_TCP_SYN);
    tw_flow_table_packet(table, &again, 5 * SECOND);
    assert_int_equal(log.n, 2);  // the RST flow and its reverse, together
    assert_int_equal(log.ended[0].end_reason, TW_END_RST);
    assert_int_equal(log.ended[1].end_reason, TW_END_RST);
    assert_int_equal(tw_flow_table_counters(table).active, 1);
    tw_flow_table_destroy(&table);
}

static void test_idle_flow_ends(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet p = s_packet(1, 2, 100, TW_TCP_ACK);
    tw_flow_table_packet(table, &p, 0);
    tw_flow_table_expire(table, 60 * SECOND);
    assert_int_equal(log.n, 0);
    tw_flow_table_packet(table, &p, 121 * SECOND);  // idle 121 s: old flow ends, new one starts
    assert_int_equal(log.n, 1);
    assert_int_equal(log.ended[0].end_reason, TW_END_IDLE);
    assert_int_equal(log.ended[0].tcp_packets, 1);
    tw_flow_table_destroy(&table);
}

static void test_full_table_evicts_and_counts(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    config.max_flows = 3;
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    for (uint8_t i = 0; i < 5; i++) {
        tw_packet p = s_packet(i, 200, 100, TW_TCP_ACK);
        tw_flow_table_packet(table, &p, i);
    }
    tw_flow_counters counters = tw_flow_table_counters(table);
    assert_int_equal(counters.active, 3);
    assert_int_equal(counters.evicted, 2);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.ended[0].end_reason, TW_END_EVICTED);
    assert_int_equal(log.ended[0].key.src[3], 0);  // the least recently seen first
    tw_flow_table_destroy(&table);
}

static void test_many_flows_grow_the_table(void **state)
{
    (void)state;
    tw_flow_config config = s_config();
    config.max_flows = 100000;
    tw_flow_table *table = tw_flow_table_new(&config, NULL, NULL);
    for (uint32_t i = 0; i < 50000; i++) {
        tw_packet p = s_packet(1, 2, 100, TW_TCP_ACK);
        p.src_port = (uint16_t)i;
        p.dst_port = (uint16_t)(i >> 16);
        tw_flow_table_packet(table, &p, i);
        tw_flow_table_packet(table, &p, i + 1);
    }
    assert_int_equal(tw_flow_table_counters(table).active, 50000);
    tw_flow_table_destroy(&table);
}

static void test_threshold_bytes_uses_window_scale_from_both_syns(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    config.threshold = 1000;
    config.threshold_bytes = true;
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet syn = s_packet(1, 2, 64, TW_TCP_SYN);  // 64 < 1000: a SYN's window is never scaled
    syn.window_scale = 7;
    tw_packet synack = s_packet(2, 1, 65535, TW_TCP_SYN | TW_TCP_ACK);
    synack.window_scale = 2;
    tw_packet scaled = s_packet(1, 2, 64, TW_TCP_ACK);  // 64 << 7 = 8192: not under
    tw_packet small = s_packet(1, 2, 7, TW_TCP_ACK);    // 7 << 7 = 896: under
    tw_flow_table_packet(table, &syn, 0);
    tw_flow_table_packet(table, &synack, 1);
    tw_flow_table_packet(table, &scaled, 2);
    tw_flow_table_packet(table, &small, 3);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    const tw_flow_record *a = log.ended[0].key.src[3] == 1 ? &log.ended[0] : &log.ended[1];
    assert_int_equal(a->tcp_packets, 3);
    assert_int_equal(a->undershoot_packets, 2);
    assert_int_equal(a->window_scale, 7);
    tw_flow_table_destroy(&table);
}

static void test_threshold_bytes_without_handshake_compares_raw(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    config.threshold = 1000;
    config.threshold_bytes = true;
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet p = s_packet(1, 2, 999, TW_TCP_ACK);
    tw_flow_table_packet(table, &p, 0);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    assert_int_equal(log.ended[0].undershoot_packets, 1);
    tw_flow_table_destroy(&table);
}

static void test_ipv6_keys_are_distinct(void **state)
{
    (void)state;
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, NULL, NULL);
    tw_packet v4 = s_packet(1, 2, 100, TW_TCP_ACK);
    tw_packet v6 = v4;
    v6.ip_version = 6;
    v6.src[15] = 9;
    tw_flow_table_packet(table, &v4, 0);
    tw_flow_table_packet(table, &v6, 0);
    assert_int_equal(tw_flow_table_counters(table).active, 2);
    tw_flow_table_destroy(&table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_zero_windows_on_every_kind_of_packet),
        cmocka_unit_test(test_episode_duration_runs_until_first_packet_after),
        cmocka_unit_test(test_fin_both_ways_ends_both_after_linger),
        cmocka_unit_test(test_packet_after_close_starts_a_new_flow),
        cmocka_unit_test(test_idle_flow_ends),
        cmocka_unit_test(test_full_table_evicts_and_counts),
        cmocka_unit_test(test_many_flows_grow_the_table),
        cmocka_unit_test(test_threshold_bytes_uses_window_scale_from_both_syns),
        cmocka_unit_test(test_threshold_bytes_without_handshake_compares_raw),
        cmocka_unit_test(test_ipv6_keys_are_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
