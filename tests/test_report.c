// SPDX-License-Identifier: MPL-2.0
/*  report: messages built from the analysis' snapshots and flows, and the
    size bound that keeps a report under the subscribers' default message
    limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer.h"
#include "report.h"

#include "wire.h"

static tw_flow_record s_worst_case_flow(uint32_t i)
{
    tw_flow_record f = {.tcp_packets = UINT64_MAX / 3,
                        .undershoot_packets = UINT64_MAX / 7,
                        .last_us = INT64_MAX / 2};
    f.key.ip_version = 6;
    memset(f.key.src, 0xff, 16);
    memset(f.key.dst, 0xff, 16);
    memcpy(f.key.src, &i, sizeof i);
    f.key.src_port = f.key.dst_port = 65535;
    // The stall figures too, as wide as they get (a row sums them).
    f.zero_window_adverts = UINT64_MAX / 3;
    f.stalls = 1;
    f.stall_us = INT64_MAX / 2;
    f.stall_since_us = INT64_MAX / 2;
    f.stalled_us = INT64_MAX / 2;
    f.probes_received = UINT64_MAX / 5;
    f.stall_probes = UINT64_MAX / 5;
    f.window_scale_unknown = true;
    return f;
}

static void test_largest_report_fits_the_default_message_limit(void **state)
{
    (void)state;
    tw_host_table *hosts = tw_host_table_new(TW_MAX_HOSTS_LIMIT, 1, 0);
    for (uint32_t i = 0; i < TW_MAX_HOSTS_LIMIT; i++) {
        tw_flow_record f = s_worst_case_flow(i);
        assert_int_equal(tw_host_table_offer(hosts, &f), 1);
    }
    tw_flow_record stalled[TW_DEFAULT_MAX_STALLED];
    for (int i = 0; i < TW_DEFAULT_MAX_STALLED; i++)
        stalled[i] = s_worst_case_flow((uint32_t)i);
    tw_report_snapshot input = {.time_us = INT64_MAX,
                                .interval_s = UINT32_MAX,
                                .final = true,
                                .hosts = hosts,
                                .stalled = stalled,
                                .n_stalled = TW_DEFAULT_MAX_STALLED};
    memset(&input.counters, 0xff, sizeof input.counters);  // the largest varints
    Tcpwin__Report *report = tw_report_from_snapshot(&input);
    assert_non_null(report);
    report->header->producer_id = "a-producer-id-of-sixty-four-characters-which-is-long-enough-ok";
    report->header->run_id = UINT64_MAX;
    report->header->sequence = UINT64_MAX;
    size_t size = protobuf_c_message_get_packed_size(&report->base);
    print_message("%d IPv6 hosts: %zu bytes\n", TW_MAX_HOSTS_LIMIT, size);
    assert_true(size < TW_MAX_MESSAGE_BYTES);
    tw_report_free(report);
    tw_host_table_destroy(&hosts);
}

static void test_rows_and_stalled_flows_carry_their_fields(void **state)
{
    (void)state;
    tw_host_table *hosts = tw_host_table_new(4, 1, 0);
    tw_flow_record f = {
        .tcp_packets = 460, .undershoot_packets = 57, .last_us = 99, .episode_start_us = 42};
    f.key.ip_version = 4;
    f.key.src[0] = 192, f.key.src[1] = 168, f.key.src[2] = 72, f.key.src[3] = 14;
    f.key.dst[0] = 65, f.key.dst[3] = 206;
    f.key.src_port = 3254;
    f.key.dst_port = 80;
    tw_host_table_offer(hosts, &f);
    tw_report_snapshot input = {
        .time_us = 5, .interval_s = 5, .hosts = hosts, .stalled = &f, .n_stalled = 1};
    input.counters.packets = 7;
    input.counters.stalled_omitted = 3;
    input.counters.time_jumps = 2;
    Tcpwin__Report *r = tw_report_from_snapshot(&input);
    assert_int_equal(r->counters->packets, 7);
    assert_int_equal(r->counters->stalled_omitted, 3);
    assert_int_equal(r->counters->time_jumps, 2);
    assert_int_equal(r->counters->capture_drops, 0);  // the producer's to fill
    assert_int_equal(r->n_hosts, 1);
    assert_int_equal(r->hosts[0]->ip.len, 4);
    assert_memory_equal(r->hosts[0]->ip.data, f.key.src, 4);
    assert_int_equal(r->hosts[0]->pkt_tcp_cnt, 460);
    assert_true(r->hosts[0]->win_rel_th_cnt == (float)57 / 460);
    assert_int_equal(r->hosts[0]->worst_peer_port, 80);
    assert_int_equal(r->hosts[0]->worst_src_port, 3254);
    assert_int_equal(r->n_stalled, 1);
    assert_int_equal(r->stalled[0]->since_us, 42);
    assert_int_equal(r->stalled[0]->dst_ip.len, 4);
    tw_report_free(r);
    tw_host_table_destroy(&hosts);
}

static void test_flow_message_points_into_itself(void **state)
{
    (void)state;
    tw_flow_record f = {.tcp_packets = 9, .undershoot_packets = 2, .end_reason = TW_END_RST};
    f.key.ip_version = 6;
    memset(f.key.src, 0x20, 16);
    memset(f.key.dst, 0xfe, 16);
    tw_flow_message m;
    tw_flow_message_init(&m, &f);
    assert_ptr_equal(m.record.header, &m.header);
    assert_int_equal(m.record.src_ip.len, 16);
    assert_memory_equal(m.record.src_ip.data, f.key.src, 16);
    assert_memory_equal(m.record.dst_ip.data, f.key.dst, 16);
    assert_int_equal(m.record.end_reason, TCPWIN__END_REASON__END_REASON_RST);
    assert_int_equal(m.record.tcp_packets, 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_largest_report_fits_the_default_message_limit),
        cmocka_unit_test(test_rows_and_stalled_flows_carry_their_fields),
        cmocka_unit_test(test_flow_message_points_into_itself),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
