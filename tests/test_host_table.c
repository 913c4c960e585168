// SPDX-License-Identifier: MPL-2.0
/*  host_table: qualification, the ratio-only-rises rule, order, LRU and TTL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "host_table.h"

static tw_flow_record s_flow(uint8_t host, uint64_t packets, uint64_t under, int64_t last_us)
{
    tw_flow_record f = {.tcp_packets = packets, .undershoot_packets = under, .last_us = last_us};
    f.key.ip_version = 4;
    f.key.src[0] = 192, f.key.src[3] = host;
    f.key.dst[0] = 10, f.key.dst[3] = 1;
    f.key.src_port = 40000;
    f.key.dst_port = 80;
    return f;
}

static void test_flow_under_minimum_or_without_undershoot_never_enters(void **state)
{
    (void)state;
    tw_host_table *table = tw_host_table_new(10, 50, 0);
    tw_flow_record short_flow = s_flow(1, 49, 10, 0);
    tw_flow_record clean_flow = s_flow(2, 500, 0, 0);
    assert_int_equal(tw_host_table_offer(table, &short_flow), 0);
    assert_int_equal(tw_host_table_offer(table, &clean_flow), 0);
    assert_int_equal(tw_host_table_size(table), 0);
    assert_null(tw_host_table_first(table));
    tw_flow_record exactly = s_flow(3, 50, 1, 0);
    assert_int_equal(tw_host_table_offer(table, &exactly), 1);
    assert_int_equal(tw_host_table_size(table), 1);
    tw_host_table_destroy(&table);
}

static tw_flow_record s_stalled_flow(uint8_t host, uint64_t packets, int64_t stall_us)
{
    tw_flow_record f = s_flow(host, packets, packets, 0);
    f.zero_window_adverts = packets;
    f.stalls = 1;
    f.stall_us = stall_us;
    f.probes_received = 2;
    return f;
}

//  The stall figures: summed over every ended flow of a host with a row,
//  qualifying or not; a host without a qualifying flow gets no row, so the
//  rows (and the legacy text) are exactly the legacy ones.
static void test_stall_figures_sum_on_rows_only(void **state)
{
    (void)state;
    tw_host_table *table = tw_host_table_new(10, 50, 0);
    tw_flow_record short_stall = s_stalled_flow(1, 3, 1000);
    assert_int_equal(tw_host_table_offer(table, &short_stall), 0);
    assert_int_equal(tw_host_table_size(table), 0);  // no row for a non-qualifying stall
    tw_flow_record qualifying = s_stalled_flow(1, 60, 5000);
    assert_int_equal(tw_host_table_offer(table, &qualifying), 1);
    uint64_t generation = tw_host_table_first(table)->generation;
    assert_int_equal(tw_host_table_offer(table, &short_stall), 0);  // now on the row
    // ... which changed it: a report must not send its old encoding
    assert_true(tw_host_table_first(table)->generation != generation);
    tw_flow_record clean = s_flow(1, 500, 0, 0);
    assert_int_equal(tw_host_table_offer(table, &clean), 0);
    const tw_host *h = tw_host_table_first(table);
    assert_int_equal(h->flows_counted, 1);  // the legacy totals: qualifying flows only
    assert_int_equal(h->tcp_packets, 60);
    assert_int_equal(h->pkt_tcp_cnt, 60);
    assert_int_equal(h->zero_window_adverts, 63);
    assert_int_equal(h->flows_stalled, 2);
    assert_int_equal(h->stall_us, 6000);
    assert_int_equal(h->probes_received, 4);
    tw_host_table_destroy(&table);
}

static void test_ratio_only_rises_and_keeps_that_flows_count(void **state)
{
    (void)state;
    tw_host_table *table = tw_host_table_new(10, 1, 0);
    tw_flow_record first = s_flow(1, 460, 57, 1);   // 0.123913
    tw_flow_record lower = s_flow(1, 100, 1, 2);    // 0.01: ignored for the worst flow
    tw_flow_record equal = s_flow(1, 920, 114, 3);  // same float ratio: not strictly greater
    tw_host_table_offer(table, &first);
    tw_host_table_offer(table, &lower);
    tw_host_table_offer(table, &equal);
    const tw_host *h = tw_host_table_first(table);
    assert_int_equal(h->pkt_tcp_cnt, 460);
    assert_true(h->win_rel_th_cnt == (float)57 / (float)460);
    assert_int_equal(h->flows_counted, 3);
    assert_int_equal(h->tcp_packets, 460 + 100 + 920);
    assert_int_equal(h->undershoot_packets, 57 + 1 + 114);
    tw_flow_record higher = s_flow(1, 10, 5, 4);
    tw_host_table_offer(table, &higher);
    assert_int_equal(h->pkt_tcp_cnt, 10);
    assert_true(h->win_rel_th_cnt == 0.5f);
    assert_int_equal(h->last_update_us, 4);
    tw_host_table_destroy(&table);
}

static void test_rows_keep_insertion_order(void **state)
{
    (void)state;
    tw_host_table *table = tw_host_table_new(10, 1, 0);
    const uint8_t order[] = {5, 3, 9, 3, 5};
    for (size_t i = 0; i < sizeof order; i++) {
        tw_flow_record f = s_flow(order[i], 10, 1, (int64_t)i);
        tw_host_table_offer(table, &f);
    }
    const uint8_t expected[] = {5, 3, 9};
    size_t n = 0;
    for (const tw_host *h = tw_host_table_first(table); h; h = tw_host_table_next(table, h))
        assert_int_equal(h->ip[3], expected[n++]);
    assert_int_equal(n, 3);
    tw_host_table_destroy(&table);
}

static void test_full_table_evicts_least_recently_updated(void **state)
{
    (void)state;
    tw_host_table *table = tw_host_table_new(2, 1, 0);
    tw_flow_record a = s_flow(1, 10, 1, 1), b = s_flow(2, 10, 1, 2), a2 = s_flow(1, 10, 1, 3);
    tw_flow_record c = s_flow(3, 10, 1, 4);
    tw_host_table_offer(table, &a);
    tw_host_table_offer(table, &b);
    tw_host_table_offer(table, &a2);  // a is now the most recently updated
    tw_host_table_offer(table, &c);   // evicts b
    assert_int_equal(tw_host_table_size(table), 2);
    assert_int_equal(tw_host_table_evicted(table), 1);
    const tw_host *h = tw_host_table_first(table);
    assert_int_equal(h->ip[3], 1);
    assert_int_equal(tw_host_table_next(table, h)->ip[3], 3);
    tw_host_table_destroy(&table);
}

static void test_ttl_forgets_old_hosts(void **state)
{
    (void)state;
    tw_host_table *table = tw_host_table_new(10, 1, 100);
    tw_flow_record a = s_flow(1, 10, 1, 0), b = s_flow(2, 10, 1, 150);
    tw_host_table_offer(table, &a);
    tw_host_table_offer(table, &b);
    tw_host_table_expire(table, 200);
    assert_int_equal(tw_host_table_size(table), 1);
    assert_int_equal(tw_host_table_first(table)->ip[3], 2);
    assert_int_equal(tw_host_table_evicted(table), 1);
    tw_host_table_offer(table, &a);  // comes back at the end
    assert_int_equal(tw_host_table_next(table, tw_host_table_first(table))->ip[3], 1);
    tw_host_table_destroy(&table);
}

static void test_many_hosts_grow_and_recycle(void **state)
{
    (void)state;
    tw_host_table *table = tw_host_table_new(1000, 1, 0);
    for (int i = 0; i < 5000; i++) {
        tw_flow_record f = s_flow((uint8_t)i, 10, 1, i);
        f.key.src[2] = (uint8_t)(i >> 8);
        tw_host_table_offer(table, &f);
    }
    assert_int_equal(tw_host_table_size(table), 1000);
    assert_int_equal(tw_host_table_evicted(table), 4000);
    tw_host_table_destroy(&table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_under_minimum_or_without_undershoot_never_enters),
        cmocka_unit_test(test_stall_figures_sum_on_rows_only),
        cmocka_unit_test(test_ratio_only_rises_and_keeps_that_flows_count),
        cmocka_unit_test(test_rows_keep_insertion_order),
        cmocka_unit_test(test_full_table_evicts_least_recently_updated),
        cmocka_unit_test(test_ttl_forgets_old_hosts),
        cmocka_unit_test(test_many_hosts_grow_and_recycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
