// SPDX-License-Identifier: MPL-2.0
/*  test_host_rows: reports built with kept host rows decode exactly like
    reports built row by row, and only changed rows are encoded again. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "host_rows.h"
#include "report.h"

//  A qualifying flow of host `host` (IPv4 10.0.x.y, or IPv6 for odd hosts
//  past 100) with a ratio that grows with `round`.
static tw_flow_record s_flow(uint32_t host, uint32_t round)
{
    tw_flow_record f;
    memset(&f, 0, sizeof f);
    f.key.ip_version = host > 100 && host % 2 ? 6 : 4;
    f.key.src[0] = f.key.ip_version == 6 ? 0x20 : 10;
    f.key.src[2] = (uint8_t)(host >> 8);
    f.key.src[3] = (uint8_t)host;
    f.key.dst[0] = 192;
    f.key.src_port = (uint16_t)(1000 + round);
    f.key.dst_port = 443;
    f.first_us = 1000000;
    f.last_us = 2000000 + round;
    f.tcp_packets = 100;
    f.undershoot_packets = 1 + round;
    f.end_reason = TW_END_FIN;
    return f;
}

//  The report packed and unpacked again.
static Tcpwin__Report *s_round_trip(const Tcpwin__Report *report)
{
    size_t len = protobuf_c_message_get_packed_size(&report->base);
    uint8_t *bytes = malloc(len ? len : 1);
    assert_non_null(bytes);
    assert_int_equal(protobuf_c_message_pack(&report->base, bytes), len);
    Tcpwin__Report *back = tcpwin__report__unpack(NULL, len, bytes);
    free(bytes);
    assert_non_null(back);
    return back;
}

//  Both reports decode to the same hosts, field by field (the packed rows
//  compared as bytes, which covers fields added later too).
static void s_assert_same_hosts(const Tcpwin__Report *a, const Tcpwin__Report *b)
{
    assert_int_equal(a->n_hosts, b->n_hosts);
    for (size_t i = 0; i < a->n_hosts; i++) {
        size_t la = protobuf_c_message_get_packed_size(&a->hosts[i]->base);
        size_t lb = protobuf_c_message_get_packed_size(&b->hosts[i]->base);
        assert_int_equal(la, lb);
        uint8_t *x = malloc(la + 1), *y = malloc(lb + 1);
        protobuf_c_message_pack(&a->hosts[i]->base, x);
        protobuf_c_message_pack(&b->hosts[i]->base, y);
        assert_memory_equal(x, y, la);
        free(x);
        free(y);
    }
}

//  The report with kept rows against the report built row by row.
static size_t s_check_report(tw_host_rows *rows, const tw_host_table *hosts, uint32_t round)
{
    tw_report_snapshot snapshot;
    memset(&snapshot, 0, sizeof snapshot);
    snapshot.hosts = hosts;
    snapshot.time_us = 5000000 * (int64_t)(round + 1);
    Tcpwin__Report *kept = tw_report_from_snapshot_rows(&snapshot, rows);
    Tcpwin__Report *fresh = tw_report_from_snapshot(&snapshot);
    assert_non_null(kept);
    assert_non_null(fresh);
    assert_int_equal(kept->n_hosts, 0);  // the rows are in the unknown fields
    assert_int_equal(kept->base.n_unknown_fields, tw_host_table_size(hosts));
    Tcpwin__Report *a = s_round_trip(kept);
    Tcpwin__Report *b = s_round_trip(fresh);
    assert_int_equal(a->n_hosts, tw_host_table_size(hosts));
    assert_int_equal(a->time_us, b->time_us);
    s_assert_same_hosts(a, b);
    tcpwin__report__free_unpacked(a, NULL);
    tcpwin__report__free_unpacked(b, NULL);
    tw_report_free(kept);
    tw_report_free(fresh);
    return tw_host_rows_encoded(rows);
}

static void test_only_changed_rows_are_encoded(void **state)
{
    (void)state;
    enum { HOSTS = 300 };
    tw_host_table *hosts = tw_host_table_new(HOSTS, 1, 0);
    tw_host_rows *rows = tw_host_rows_new();
    assert_non_null(rows);
    for (uint32_t h = 0; h < HOSTS; h++) {
        tw_flow_record f = s_flow(h, 0);
        assert_int_equal(tw_host_table_offer(hosts, &f), 1);
    }
    assert_int_equal(s_check_report(rows, hosts, 0), HOSTS);  // first report: all
    assert_int_equal(s_check_report(rows, hosts, 1), 0);      // nothing changed
    // Ten hosts get a worse flow, five a flow that only adds to the totals.
    for (uint32_t h = 0; h < 10; h++) {
        tw_flow_record f = s_flow(h * 7, 5);
        assert_int_equal(tw_host_table_offer(hosts, &f), 1);
    }
    for (uint32_t h = 0; h < 5; h++) {
        tw_flow_record f = s_flow(200 + h, 0);
        assert_int_equal(tw_host_table_offer(hosts, &f), 1);
    }
    assert_int_equal(s_check_report(rows, hosts, 2), 15);
    assert_int_equal(s_check_report(rows, hosts, 3), 0);
    tw_host_rows_destroy(&rows);
    tw_host_rows_destroy(&rows);  // harmless
    tw_host_table_destroy(&hosts);
}

//  A full table evicts rows and reuses their slots for new hosts: a new
//  host is never taken for the row that was in its slot.
static void test_evicted_rows_are_not_reused(void **state)
{
    (void)state;
    enum { HOSTS = 50 };
    tw_host_table *hosts = tw_host_table_new(HOSTS, 1, 0);
    tw_host_rows *rows = tw_host_rows_new();
    for (uint32_t h = 0; h < HOSTS; h++) {
        tw_flow_record f = s_flow(h, 0);
        assert_int_equal(tw_host_table_offer(hosts, &f), 1);
    }
    assert_int_equal(s_check_report(rows, hosts, 0), HOSTS);
    for (uint32_t h = 0; h < 20; h++) {
        tw_flow_record f = s_flow(1000 + h, 1);
        assert_int_equal(tw_host_table_offer(hosts, &f), 1);
    }
    assert_int_equal(tw_host_table_evicted(hosts), 20);
    assert_int_equal(s_check_report(rows, hosts, 1), 20);
    // An empty table, then rows again.
    tw_host_table *empty = tw_host_table_new(HOSTS, 1, 0);
    assert_int_equal(s_check_report(rows, empty, 2), 0);
    // Kept across it: a generation's bytes never change (the cache serves
    // one table, whose generations are unique).
    assert_int_equal(s_check_report(rows, hosts, 3), 0);
    tw_host_table_destroy(&empty);
    tw_host_rows_destroy(&rows);
    tw_host_table_destroy(&hosts);
}

//  The widest row there can be (every field at its widest: IPv6
//  addresses, the largest counters, a negative time) fits a kept row.
static void test_widest_row_fits(void **state)
{
    (void)state;
    tw_host host;
    memset(&host, 0xff, sizeof host);
    host.ip_version = 6;
    host.win_rel_th_cnt = 1.0f;
    host.last_update_us = INT64_MIN;
    host.stall_us = INT64_MIN;
    uint8_t scratch[16];
    ProtobufCBufferSimple out = PROTOBUF_C_BUFFER_SIMPLE_INIT(scratch);
    size_t len = tw_report_pack_host(&host, &out.base);
    PROTOBUF_C_BUFFER_SIMPLE_CLEAR(&out);
    assert_true(len >= 140);  // the widest, not some short row
    assert_true(len + 2 <= TW_HOST_ROW_MAX_BYTES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_changed_rows_are_encoded),
        cmocka_unit_test(test_widest_row_fits),
        cmocka_unit_test(test_evicted_rows_are_not_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
