// SPDX-License-Identifier: MPL-2.0
/*  test_dash_model: serve's model without sockets: counters never lowered
    within a run and started again by a new run, stragglers of a replaced
    run ignored, sequence gaps, the history ring's bounds (points and one
    hour), zero-window advertisements per interval, the top-K hosts, and the
    producer table's bound. Reports go through the real wire encoding and
    decoding, as the receiver hands them over.
*/
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dash_model.h"

//  What a test report carries.
typedef struct {
    const char *id;
    uint64_t run;
    uint64_t sequence;
    int64_t time_us;
    uint64_t packets;
    uint64_t flows_active;
    uint64_t zero_window_adverts;
    uint64_t stalled_now;
    size_t n_hosts;
    const int64_t *host_stall_us;  // n_hosts values, or NULL
} s_spec;

//  Encodes and decodes a report of spec, as the receiver would hand it.
static tw_message s_message(const s_spec *spec)
{
    Tcpwin__Header header = TCPWIN__HEADER__INIT;
    header.schema_major = TW_SCHEMA_MAJOR;
    header.producer_id = (char *)spec->id;
    header.run_id = spec->run;
    header.sequence = spec->sequence;
    Tcpwin__Counters counters = TCPWIN__COUNTERS__INIT;
    counters.packets = spec->packets;
    counters.flows_active = spec->flows_active;
    counters.zero_window_adverts = spec->zero_window_adverts;
    counters.flows_stalled_now = spec->stalled_now;
    Tcpwin__Report report = TCPWIN__REPORT__INIT;
    report.header = &header;
    report.counters = &counters;
    report.time_us = spec->time_us;
    report.interval_s = 5;
    Tcpwin__HostRow *rows = calloc(spec->n_hosts + 1, sizeof *rows);
    Tcpwin__HostRow **row_pointers = calloc(spec->n_hosts + 1, sizeof *row_pointers);
    uint8_t *ips = calloc(spec->n_hosts + 1, 4);
    assert_non_null(rows);
    assert_non_null(row_pointers);
    assert_non_null(ips);
    for (size_t i = 0; i < spec->n_hosts; i++) {
        tcpwin__host_row__init(&rows[i]);
        uint8_t *ip = ips + 4 * i;
        ip[0] = 10;
        ip[2] = (uint8_t)(i >> 8);
        ip[3] = (uint8_t)i;
        rows[i].ip.data = ip;
        rows[i].ip.len = 4;
        rows[i].stall_us = spec->host_stall_us ? spec->host_stall_us[i] : 0;
        rows[i].undershoot_packets = i;
        row_pointers[i] = &rows[i];
    }
    report.n_hosts = spec->n_hosts;
    report.hosts = row_pointers;
    size_t len = 0;
    uint8_t *bytes = tw_wire_encode(&report.base, &len);
    assert_non_null(bytes);
    tw_message msg;
    assert_int_equal(tw_wire_decode(TW_TOPIC_REPORT, strlen(TW_TOPIC_REPORT), bytes, len, &msg), 0);
    free(bytes);
    free(rows);
    free(row_pointers);
    free(ips);
    return msg;
}

//  Offers a report of spec at now_ms; returns what dash_model_add did.
static int s_add(dash_model *model, const s_spec *spec, int64_t now_ms)
{
    tw_message msg = s_message(spec);
    int rc = dash_model_add(model, &msg, now_ms);
    if (rc == 1)
        assert_null(msg.base);  // taken over
    tw_message_free(&msg);
    return rc;
}

static void test_counters_rise_within_a_run_and_reset_with_a_new_one(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    assert_non_null(model);
    s_spec spec = {.id = "h1", .run = 7, .sequence = 1, .packets = 100, .flows_active = 9};
    assert_int_equal(s_add(model, &spec, 1000), 1);
    const dash_producer *p = dash_model_producer(model, 0);
    assert_string_equal(p->id, "h1");
    assert_int_equal(p->counters.packets, 100);

    // A report whose counter went down (a buggy or hostile producer) does
    // not lower it; the gauge follows.
    spec.sequence = 2, spec.packets = 50, spec.flows_active = 3;
    assert_int_equal(s_add(model, &spec, 2000), 1);
    assert_int_equal(p->counters.packets, 100);
    assert_int_equal(p->counters.flows_active, 3);
    assert_int_equal(p->received_ms, 2000);

    // A duplicate (same sequence) is stale.
    assert_int_equal(s_add(model, &spec, 2500), 0);
    assert_int_equal(p->stale_reports, 1);

    // A new run starts from its own figures: a counter reset.
    s_spec restart = {.id = "h1", .run = 8, .sequence = 1, .packets = 10};
    assert_int_equal(s_add(model, &restart, 3000), 1);
    assert_int_equal(p->counters.packets, 10);
    assert_int_equal(p->restarts, 1);
    assert_int_equal(p->reports_received, 3);

    // A straggler of the replaced run is ignored: the runs cannot take turns.
    spec.sequence = 3, spec.packets = 200;
    assert_int_equal(s_add(model, &spec, 3500), 0);
    assert_int_equal(p->counters.packets, 10);
    assert_int_equal(p->stale_reports, 2);
    assert_int_equal(dash_model_size(model), 1);
    dash_model_destroy(&model);
    assert_null(model);
}

static void test_sequence_gaps_are_counted(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    s_spec spec = {.id = "h1", .run = 1, .sequence = 1};
    assert_int_equal(s_add(model, &spec, 0), 1);
    spec.sequence = 5;
    assert_int_equal(s_add(model, &spec, 0), 1);
    const dash_producer *p = dash_model_producer(model, 0);
    assert_int_equal(p->sequence_gaps, 1);
    assert_int_equal(p->reports_missed, 3);
    dash_model_destroy(&model);
}

static void test_history_per_interval_and_bounds(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    s_spec spec = {.id = "h1", .run = 1};
    // Zero-window advertisements are cumulative on the wire, per interval
    // in the chart; the stalled count falls back on the listed flows.
    for (uint64_t i = 1; i <= 3; i++) {
        spec.sequence = i, spec.time_us = (int64_t)i * 1000000;
        spec.zero_window_adverts = i * i, spec.stalled_now = i;
        assert_int_equal(s_add(model, &spec, 0), 1);
    }
    const dash_producer *p = dash_model_producer(model, 0);
    assert_int_equal(p->history_len, 3);
    assert_int_equal(dash_producer_point(p, 0)->zero_window_adverts, 1);
    assert_int_equal(dash_producer_point(p, 1)->zero_window_adverts, 3);
    assert_int_equal(dash_producer_point(p, 2)->zero_window_adverts, 5);
    assert_int_equal(dash_producer_point(p, 2)->stalled_now, 3);
    assert_null(dash_producer_point(p, 3));

    // One report a second for two hours: at most DASH_HISTORY_MAX points,
    // none older than an hour before the latest, oldest first.
    for (uint64_t i = 4; i <= 7200; i++) {
        spec.sequence = i, spec.time_us = (int64_t)i * 1000000;
        assert_int_equal(s_add(model, &spec, 0), 1);
    }
    assert_true(p->history_len <= DASH_HISTORY_MAX);
    assert_true(p->history_len >= DASH_HISTORY_MAX - 1);
    const dash_point *first = dash_producer_point(p, 0);
    const dash_point *last = dash_producer_point(p, p->history_len - 1);
    assert_int_equal(last->time_us, 7200LL * 1000000);
    assert_true(last->time_us - first->time_us <= DASH_HISTORY_SPAN_US);
    for (size_t i = 1; i < p->history_len; i++)
        assert_true(dash_producer_point(p, i)->time_us > dash_producer_point(p, i - 1)->time_us);

    // A report a day later: the hour before it is empty.
    spec.sequence = 7201, spec.time_us = 90000LL * 1000000;
    assert_int_equal(s_add(model, &spec, 0), 1);
    assert_int_equal(p->history_len, 1);

    // The clock stepping back starts the chart again rather than draw a
    // line backwards.
    spec.sequence = 7202, spec.time_us = 10LL * 1000000;
    assert_int_equal(s_add(model, &spec, 0), 1);
    assert_int_equal(p->history_len, 1);
    assert_int_equal(dash_producer_point(p, 0)->time_us, 10LL * 1000000);
    dash_model_destroy(&model);
}

static void test_top_hosts_by_stall(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    const int64_t stall[] = {5, 900, 0, 700, 900, 3};
    s_spec spec = {.id = "h1", .run = 1, .sequence = 1, .n_hosts = 6, .host_stall_us = stall};
    assert_int_equal(s_add(model, &spec, 0), 1);
    const dash_producer *p = dash_model_producer(model, 0);
    const Tcpwin__HostRow *top[6];
    assert_int_equal(dash_producer_top_hosts(p, 3, top), 3);
    // Equal stall: more undershoots first (row 4 has 4, row 1 has 1).
    assert_int_equal(top[0]->ip.data[3], 4);
    assert_int_equal(top[1]->ip.data[3], 1);
    assert_int_equal(top[2]->ip.data[3], 3);
    assert_int_equal(dash_producer_top_hosts(p, 10, top), 6);
    assert_int_equal(top[5]->stall_us, 0);
    assert_int_equal(dash_producer_top_hosts(p, 0, top), 0);
    dash_model_destroy(&model);
}

//  stall_us[i] = i for n hosts, in table order (so the worst come last).
static int64_t *s_rising(size_t n)
{
    int64_t *stall = calloc(n, sizeof *stall);
    assert_non_null(stall);
    for (size_t i = 0; i < n; i++)
        stall[i] = (int64_t)i;
    return stall;
}

static void test_a_report_keeps_its_top_rows_sorted(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    size_t n = DASH_ROWS_MAX * 3;
    int64_t *stall = s_rising(n);
    s_spec spec = {.id = "h1", .run = 1, .sequence = 1, .n_hosts = n, .host_stall_us = stall};
    assert_int_equal(s_add(model, &spec, 0), 1);
    const dash_producer *p = dash_model_producer(model, 0);
    assert_int_equal(p->hosts_total, n);
    assert_int_equal(p->report->n_hosts, DASH_ROWS_MAX);
    for (size_t i = 0; i < DASH_ROWS_MAX; i++)
        assert_int_equal(p->report->hosts[i]->stall_us, (int64_t)(n - 1 - i));
    const Tcpwin__HostRow *top[5];
    assert_int_equal(dash_producer_top_hosts(p, 5, top), 5);
    assert_int_equal(top[0]->stall_us, (int64_t)n - 1);
    assert_int_equal(top[4]->stall_us, (int64_t)n - 5);
    // What is kept is weighed: about the kept rows, not the report's.
    size_t bytes = dash_model_get_counters(model)->bytes;
    assert_true(bytes >= DASH_ROWS_MAX * DASH_ROW_OVERHEAD);
    assert_true(bytes < DASH_ROWS_MAX * (DASH_ROW_OVERHEAD + 64) + 4096);
    free(stall);
    dash_model_destroy(&model);
}

static void test_history_takes_hostile_times(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    s_spec spec = {.id = "h1", .run = 1, .sequence = 1, .time_us = INT64_MIN};
    assert_int_equal(s_add(model, &spec, 0), 1);
    spec.sequence = 2, spec.time_us = INT64_MAX;  // the span overflows int64_t
    assert_int_equal(s_add(model, &spec, 0), 1);
    const dash_producer *p = dash_model_producer(model, 0);
    assert_int_equal(p->history_len, 1);
    assert_int_equal(dash_producer_point(p, 0)->time_us, INT64_MAX);
    dash_model_destroy(&model);
}

static void test_byte_bound(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    int64_t *stall = s_rising(100);
    s_spec a = {.id = "a", .run = 1, .sequence = 1, .n_hosts = 100, .host_stall_us = stall};
    s_spec b = {.id = "b", .run = 1, .sequence = 1, .n_hosts = 100, .host_stall_us = stall};
    assert_int_equal(s_add(model, &a, 100), 1);
    size_t one = dash_model_get_counters(model)->bytes;
    dash_model_set_bytes_max(model, one * 3 / 2);
    // b does not fit beside a: a, heard of least lately, goes.
    assert_int_equal(s_add(model, &b, 200), 1);
    assert_int_equal(dash_model_size(model), 1);
    assert_string_equal(dash_model_producer(model, 0)->id, "b");
    assert_int_equal(dash_model_get_counters(model)->bytes_evicted, 1);
    assert_int_equal(dash_model_get_counters(model)->producers_evicted, 1);
    assert_int_equal(dash_model_get_counters(model)->bytes, one);
    // A report heavier than the bound alone is refused, b kept.
    dash_model_set_bytes_max(model, one / 2);
    b.sequence = 2;
    assert_int_equal(s_add(model, &b, 300), 0);
    assert_int_equal(dash_model_get_counters(model)->refused, 1);
    assert_int_equal(dash_model_producer(model, 0)->sequence, 1);
    free(stall);
    dash_model_destroy(&model);
}

static void test_producer_table_bound(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(2);
    s_spec a = {.id = "a", .run = 1, .sequence = 1};
    s_spec b = {.id = "b", .run = 1, .sequence = 1};
    s_spec c = {.id = "c", .run = 1, .sequence = 1};
    assert_int_equal(s_add(model, &a, 100), 1);
    assert_int_equal(s_add(model, &b, 50), 1);
    assert_int_equal(s_add(model, &c, 200), 1);
    // b was heard of least lately.
    assert_int_equal(dash_model_size(model), 2);
    assert_string_equal(dash_model_producer(model, 0)->id, "a");
    assert_string_equal(dash_model_producer(model, 1)->id, "c");
    assert_int_equal(dash_model_get_counters(model)->producers_evicted, 1);
    assert_null(dash_model_producer(model, 2));

    // A flow record is no report: refused, left to the caller.
    tw_message flow = {.kind = TW_MSG_FLOW};
    assert_int_equal(dash_model_add(model, &flow, 0), 0);
    assert_int_equal(dash_model_get_counters(model)->refused, 1);
    dash_model_destroy(&model);
    assert_null(dash_model_new(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_rise_within_a_run_and_reset_with_a_new_one),
        cmocka_unit_test(test_sequence_gaps_are_counted),
        cmocka_unit_test(test_history_per_interval_and_bounds),
        cmocka_unit_test(test_top_hosts_by_stall),
        cmocka_unit_test(test_producer_table_bound),
        cmocka_unit_test(test_a_report_keeps_its_top_rows_sorted),
        cmocka_unit_test(test_history_takes_hostile_times),
        cmocka_unit_test(test_byte_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
