// SPDX-License-Identifier: MPL-2.0
/*  report_builder: one owner per field. The snapshot's run counters, hosts
    and stalled flows, the capture's drops and the publisher's counts all
    land in the Report, with or without the changed-rows cache; the header
    is left for the publisher. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report_builder.h"

static const report_edge_counters EDGES = {
    .capture_drops = 7, .messages_dropped = 5, .reports_lost = 3, .subscriptions_refused = 2};

static tw_flow_record s_flow(void)
{
    tw_flow_record f = {.tcp_packets = 40, .undershoot_packets = 10, .last_us = 99};
    f.key.ip_version = 4;
    f.key.src[0] = 10, f.key.src[3] = 1;
    f.key.dst[0] = 10, f.key.dst[3] = 2;
    f.key.src_port = 5555;
    f.key.dst_port = 80;
    return f;
}

//  What every build must carry, whichever way its rows were encoded, read
//  as a subscriber reads it (the cached rows are unknown fields until then).
static void s_check(const Tcpwin__Report *built, const tw_flow_record *f)
{
    assert_non_null(built);
    size_t size = protobuf_c_message_get_packed_size(&built->base);
    uint8_t *bytes = malloc(size);
    assert_non_null(bytes);
    assert_int_equal(protobuf_c_message_pack(&built->base, bytes), size);
    Tcpwin__Report *r = tcpwin__report__unpack(NULL, size, bytes);
    free(bytes);
    assert_non_null(r);
    assert_int_equal(r->time_us, 5000000);
    assert_int_equal(r->interval_s, 5);
    assert_true(r->final);
    // The analysis' counters...
    assert_int_equal(r->counters->packets, 1234);
    assert_int_equal(r->counters->tcp_packets, 1200);
    assert_int_equal(r->counters->stalls, 4);
    // ... and the producer's edges, each from its one owner.
    assert_int_equal(r->counters->capture_drops, 7);
    assert_int_equal(r->counters->messages_dropped, 5);
    assert_int_equal(r->counters->reports_lost, 3);
    assert_int_equal(r->counters->subscriptions_refused, 2);
    assert_int_equal(r->n_hosts, 1);
    assert_int_equal(r->hosts[0]->ip.len, 4);
    assert_memory_equal(r->hosts[0]->ip.data, f->key.src, 4);
    assert_int_equal(r->hosts[0]->pkt_tcp_cnt, 40);
    assert_int_equal(r->n_stalled, 1);
    assert_int_equal(r->stalled[0]->dst_port, 80);
    // The header is the publisher's: nothing of it filled here.
    assert_true(!r->header || (r->header->sequence == 0 && r->header->run_id == 0));
    tcpwin__report__free_unpacked(r, NULL);
}

static void test_every_owner_fills_its_fields(void **state)
{
    (void)state;
    tw_host_table *hosts = tw_host_table_new(4, 1, 0);
    assert_non_null(hosts);
    tw_flow_record f = s_flow();
    assert_int_equal(tw_host_table_offer(hosts, &f), 1);
    tw_report_snapshot snap = {.time_us = 5000000,
                               .interval_s = 5,
                               .final = true,
                               .hosts = hosts,
                               .stalled = &f,
                               .n_stalled = 1};
    snap.counters.packets = 1234;
    snap.counters.tcp_packets = 1200;
    snap.counters.stalls = 4;

    Tcpwin__Report *plain = report_build(&snap, &EDGES, NULL);
    s_check(plain, &f);
    tw_report_free(plain);

    tw_host_rows *rows = tw_host_rows_new();
    assert_non_null(rows);
    for (int i = 0; i < 2; i++) {  // the second time, the row comes from the cache
        Tcpwin__Report *cached = report_build(&snap, &EDGES, rows);
        s_check(cached, &f);
        assert_int_equal(tw_host_rows_encoded(rows), i == 0 ? 1 : 0);
        tw_report_free(cached);
    }
    tw_host_rows_destroy(&rows);
    tw_host_table_destroy(&hosts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_owner_fills_its_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
