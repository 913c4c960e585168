// SPDX-License-Identifier: MPL-2.0
/*  test_top_model: what `top` shows, without a terminal: the orders of each
    key, "stalled for" from the producer or from since_us, the bound on
    producers and what it costs, restarts, pause, and a screen of any size
    that gets only printable ASCII, never wider or longer than itself, with
    a hostile producer id escaped. Reports go through the real encoder and
    decoder, as the receiver hands them over.
*/
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "top_model.h"
#include "wire.h"

#define MAX_ROWS 80

//  A screen as the layout emitted it.
typedef struct {
    int width;
    int rows;
    char line[MAX_ROWS][TOP_LINE_MAX + 1];
    top_line_kind kind[MAX_ROWS];
} screen;

static int s_emit(void *ctx, int row, top_line_kind kind, const char *text, size_t len)
{
    screen *s = ctx;
    assert_int_equal(row, s->rows);  // top to bottom, no row skipped
    assert_true(row < MAX_ROWS);
    assert_true(len <= (size_t)s->width);
    for (size_t i = 0; i < len; i++)
        assert_true(text[i] >= 0x20 && text[i] < 0x7f);
    memcpy(s->line[row], text, len);
    s->line[row][len] = '\0';
    s->kind[row] = kind;
    s->rows++;
    return 0;
}

static void s_layout(top_model *model, int height, int width, screen *s)
{
    memset(s, 0, sizeof *s);
    s->width = width;
    int rc = top_model_layout(model, NULL, height, width, 1000, s_emit, s);
    assert_int_equal(rc, s->rows);
    assert_true(rc <= height);
}

//  The row holding text, or -1.
static int s_find(const screen *s, const char *text)
{
    for (int i = 0; i < s->rows; i++)
        if (strstr(s->line[i], text))
            return i;
    return -1;
}

static uint8_t IP_A[4] = {10, 0, 0, 1};
static uint8_t IP_B[4] = {10, 0, 0, 2};
static uint8_t IP_C[4] = {192, 0, 2, 9};
static uint8_t IP_V6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static uint8_t IP_ODD[5] = {1, 2, 3, 4, 5};

#define BYTES(a) ((ProtobufCBinaryData){sizeof(a), (a)})

//  A report of producer id/run at time_us, with hosts and stalled flows,
//  through the encoder and the decoder.
static tw_message s_report(const char *id, uint64_t run, int64_t time_us, Tcpwin__HostRow **hosts,
                           size_t n_hosts, Tcpwin__StalledFlow **stalled, size_t n_stalled,
                           bool final)
{
    Tcpwin__Header header = TCPWIN__HEADER__INIT;
    header.schema_major = TW_SCHEMA_MAJOR;
    header.producer_id = (char *)id;
    header.run_id = run;
    header.sequence = 1;
    Tcpwin__Counters counters = TCPWIN__COUNTERS__INIT;
    counters.packets = 1234;
    counters.capture_drops = 7;
    counters.messages_dropped = 5;
    Tcpwin__Report report = TCPWIN__REPORT__INIT;
    report.header = &header;
    report.counters = &counters;
    report.time_us = time_us;
    report.interval_s = 5;
    report.threshold = 1;
    report.final = final;
    report.hosts = hosts;
    report.n_hosts = n_hosts;
    report.stalled = stalled;
    report.n_stalled = n_stalled;
    size_t len = 0;
    uint8_t *bytes = tw_wire_encode(&report.base, &len);
    assert_non_null(bytes);
    tw_message msg;
    assert_int_equal(tw_wire_decode(TW_TOPIC_REPORT, strlen(TW_TOPIC_REPORT), bytes, len, &msg), 0);
    free(bytes);
    return msg;
}

static tw_message s_empty_report(const char *id, uint64_t run, bool final)
{
    return s_report(id, run, 1000000, NULL, 0, NULL, 0, final);
}

static Tcpwin__HostRow s_host(ProtobufCBinaryData ip, float ratio, int64_t stall_us,
                              uint64_t zero_window)
{
    Tcpwin__HostRow h = TCPWIN__HOST_ROW__INIT;
    h.ip = ip;
    h.pkt_tcp_cnt = 100;
    h.win_rel_th_cnt = ratio;
    h.stall_us = stall_us;
    h.zero_window_adverts = zero_window;
    h.worst_peer_ip = BYTES(IP_C);
    h.worst_peer_port = 80;
    return h;
}

static void test_empty_screen_and_tiny_ones(void **state)
{
    (void)state;
    assert_null(top_model_new(0));
    assert_null(top_model_new(TOP_MAX_PRODUCERS_LIMIT + 1));
    top_model *model = top_model_new(4);
    assert_non_null(model);
    screen s;
    s_layout(model, 24, 80, &s);
    assert_int_equal(s.kind[0], TOP_LINE_TITLE);
    assert_true(s_find(&s, "sort: stall time") == 0);
    assert_true(s_find(&s, "waiting for a report") > 0);
    s_layout(model, 0, 80, &s);
    assert_int_equal(s.rows, 0);
    s_layout(model, 1, 1, &s);
    assert_int_equal(s.rows, 1);
    assert_string_equal(s.line[0], "t");
    top_model_destroy(&model);
    assert_null(model);
    top_model_destroy(&model);  // harmless
}

//  Hosts: stall time (then ratio), ratio, zero-window adverts, address;
//  the sorted column's heading is bracketed.
static void test_host_orders(void **state)
{
    (void)state;
    Tcpwin__HostRow a = s_host(BYTES(IP_A), 0.5f, 1000000, 3);
    Tcpwin__HostRow b = s_host(BYTES(IP_B), 0.9f, 0, 9);
    Tcpwin__HostRow c = s_host(BYTES(IP_C), 0.7f, 5000000, 0);
    Tcpwin__HostRow v6 = s_host(BYTES(IP_V6), NAN, 0, 0);  // a peer may send NaN
    Tcpwin__HostRow *hosts[] = {&v6, &a, &b, &c};
    top_model *model = top_model_new(4);
    tw_message msg = s_report("p", 1, 1000000, hosts, 4, NULL, 0, false);
    assert_int_equal(top_model_take(model, &msg, 0), 0);
    assert_null(msg.base);  // taken
    screen s;
    s_layout(model, 40, 200, &s);
    int ha = s_find(&s, "10.0.0.1 "), hb = s_find(&s, "10.0.0.2 "), hc = s_find(&s, "192.0.2.9 ");
    int hv6 = s_find(&s, "2001:db8::1 ");
    assert_true(hc > 0 && hc < ha && ha < hb && hb < hv6);  // 5 s, 1 s, then ratio 0.9, NaN
    assert_true(s_find(&s, "[STALL TIME]") > 0);
    assert_true(s_find(&s, "[STALLED FOR]") > 0);
    assert_true(strstr(s.line[hc], "5.0s") != NULL);
    assert_true(strstr(s.line[hc], "192.0.2.9:80") != NULL);  // the worst peer
    assert_true(strstr(s.line[ha], "     100  0.500000") != NULL);

    top_model_set_sort(model, TOP_SORT_RATIO);
    s_layout(model, 40, 200, &s);
    ha = s_find(&s, "10.0.0.1 "), hb = s_find(&s, "10.0.0.2 "), hc = s_find(&s, "192.0.2.9 ");
    hv6 = s_find(&s, "2001:db8::1 ");
    assert_true(hb < hc && hc < ha && ha < hv6);
    assert_true(s_find(&s, "sort: ratio") == 0);
    assert_true(s_find(&s, "[RATIO]") > 0);
    assert_int_equal(s_find(&s, "[STALL TIME]"), -1);

    top_model_set_sort(model, TOP_SORT_ZERO_WINDOW);
    s_layout(model, 40, 200, &s);
    ha = s_find(&s, "10.0.0.1 "), hb = s_find(&s, "10.0.0.2 "), hc = s_find(&s, "192.0.2.9 ");
    assert_true(hb < ha && ha < hc);
    assert_true(s_find(&s, "[ZERO-WIN]") > 0);

    top_model_set_sort(model, TOP_SORT_IP);
    assert_int_equal(top_model_get_sort(model), TOP_SORT_IP);
    s_layout(model, 40, 200, &s);
    ha = s_find(&s, "10.0.0.1 "), hb = s_find(&s, "10.0.0.2 "), hc = s_find(&s, "192.0.2.9 ");
    hv6 = s_find(&s, "2001:db8::1 ");
    assert_true(ha < hb && hb < hc && hc < hv6);
    assert_true(s_find(&s, "[HOST]") > 0);
    top_model_set_sort(model, TOP_SORT_COUNT);  // not an order: ignored
    assert_int_equal(top_model_get_sort(model), TOP_SORT_IP);
    assert_string_equal(top_sort_name(TOP_SORT_ZERO_WINDOW), "zero-window adverts");
    assert_string_equal(top_sort_name(TOP_SORT_COUNT), "?");
    top_model_destroy(&model);
}

//  "stalled for": the producer's stalled_us, else the report's time minus
//  since_us; who -> whom in one piece; an address of another length is "?".
static void test_stalled_rows(void **state)
{
    (void)state;
    Tcpwin__StalledFlow old = TCPWIN__STALLED_FLOW__INIT, recent = TCPWIN__STALLED_FLOW__INIT,
                        odd = TCPWIN__STALLED_FLOW__INIT;
    old.src_ip = BYTES(IP_A), old.src_port = 5001, old.dst_ip = BYTES(IP_B), old.dst_port = 40000;
    old.since_us = 88500000;  // stalled_us 0: from since_us, 11.5 s before the report
    old.tcp_packets = 10, old.undershoot_packets = 5;
    recent.src_ip = BYTES(IP_V6), recent.src_port = 443, recent.dst_ip = BYTES(IP_V6);
    recent.dst_port = 5555, recent.since_us = 1, recent.stalled_us = 2500000;  // the producer's
    recent.probes = 4, recent.zero_window_adverts = 6;
    odd.src_ip = BYTES(IP_ODD), odd.dst_ip = BYTES(IP_A);
    odd.since_us = 200000000;  // after the report's time: unknown
    Tcpwin__StalledFlow *stalled[] = {&recent, &odd, &old};
    top_model *model = top_model_new(1);
    tw_message msg = s_report("p", 1, 100000000, NULL, 0, stalled, 3, false);
    assert_int_equal(top_model_take(model, &msg, 0), 0);
    screen s;
    s_layout(model, 40, 200, &s);
    int r_old = s_find(&s, "10.0.0.1:5001 -> 10.0.0.2:40000");
    int r_recent = s_find(&s, "[2001:db8::1]:443 -> [2001:db8::1]:5555");
    int r_odd = s_find(&s, "?:0 -> 10.0.0.1:0");
    assert_true(r_old > 0 && r_old < r_recent && r_recent < r_odd);
    assert_true(strstr(s.line[r_old], "11.5s") != NULL);
    assert_true(strstr(s.line[r_old], "0.500000") != NULL);
    assert_true(strstr(s.line[r_recent], "2.5s       4          6") != NULL);
    assert_true(strstr(s.line[r_odd], "  -  ") != NULL);
    assert_true(s_find(&s, "stalled now 3") > 0);  // the counter is 0: listed + omitted
    assert_true(s_find(&s, "(no host in the table yet)") > 0);
    top_model_set_sort(model, TOP_SORT_ZERO_WINDOW);
    s_layout(model, 40, 200, &s);
    assert_true(s_find(&s, "[2001:db8::1]:443") < s_find(&s, "10.0.0.1:5001"));
    top_model_destroy(&model);
}

//  More rows than the screen: the last row of each table says how many
//  are hidden; no screen size gets a line too wide or too many.
static void test_rows_hidden_and_every_size(void **state)
{
    (void)state;
    enum { N = 30 };
    Tcpwin__HostRow rows[N], *hosts[N];
    Tcpwin__StalledFlow flows[N], *stalled[N];
    uint8_t ips[N][4];
    for (int i = 0; i < N; i++) {
        ips[i][0] = 10, ips[i][1] = 1, ips[i][2] = 0, ips[i][3] = (uint8_t)i;
        rows[i] = s_host((ProtobufCBinaryData){4, ips[i]}, (float)i / N, i, (uint64_t)i);
        hosts[i] = &rows[i];
        flows[i] = (Tcpwin__StalledFlow)TCPWIN__STALLED_FLOW__INIT;
        flows[i].src_ip = (ProtobufCBinaryData){4, ips[i]}, flows[i].src_port = (uint32_t)i;
        flows[i].dst_ip = BYTES(IP_C), flows[i].stalled_us = i + 1;
        stalled[i] = &flows[i];
    }
    top_model *model = top_model_new(2);
    tw_message msg = s_report("a", 1, 1000000, hosts, N, stalled, N, false);
    assert_int_equal(top_model_take(model, &msg, 0), 0);
    msg = s_report("b", 1, 1000000, hosts, N, stalled, N, false);
    assert_int_equal(top_model_take(model, &msg, 0), 0);
    screen s;
    s_layout(model, 30, 100, &s);
    assert_int_equal(s.rows, 30);
    assert_true(s_find(&s, "more stalled receiver(s)") > 0);
    assert_true(s_find(&s, "more host(s)") > 0);
    assert_true(s_find(&s, "shown 2 of 2") > 0);
    // Two sections do not fit in 10 rows: one is shown, and says so.
    s_layout(model, 10, 100, &s);
    assert_true(s_find(&s, "shown 1 of 2") > 0);
    for (int height = 1; height < MAX_ROWS; height += 3)
        for (int width = 1; width < 300; width += 7)
            s_layout(model, height, width, &s);  // s_emit checks each line
    top_model_destroy(&model);
}

//  The producer id is escaped; a log line noted is shown, made printable.
static void test_hostile_text(void **state)
{
    (void)state;
    top_model *model = top_model_new(2);
    tw_message msg = s_empty_report("evil\x1b[2J\nid\\", 7, false);
    assert_int_equal(top_model_take(model, &msg, 0), 0);
    top_model_note(model, "bad\x1b[31m line", 13);
    screen s;
    s_layout(model, 20, 200, &s);
    assert_true(s_find(&s, "producer evil\\x1b[2J\\x0aid\\x5c ") > 0);
    assert_true(s_find(&s, "log (1): bad?[31m line") > 0);
    assert_true(s_find(&s, "run 0000000000000007") > 0);
    assert_true(s_find(&s, "packets 1234  drops 7") > 0);
    s_layout(model, 20, 130, &s);  // the counters are not cut at 130 columns
    assert_true(s_find(&s, "stalls 0") > 0);
    assert_true(s_find(&s, "slow-subscriber drops 5") > 0);
    char long_id[300];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    msg = s_empty_report(long_id, 1, false);
    assert_int_equal(top_model_take(model, &msg, 0), 0);
    s_layout(model, 20, 200, &s);
    assert_true(s_find(&s, "xxx...  report") > 0);  // cut, and said so
    top_model_destroy(&model);
}

//  One section per (id, run): the same run is replaced in place, a new run
//  after a final report takes its place, a full table evicts the one
//  silent for longest and counts it.
static void test_producer_bound_and_runs(void **state)
{
    (void)state;
    top_model *model = top_model_new(2);
    tw_message msg = s_empty_report("a", 1, false);
    assert_int_equal(top_model_take(model, &msg, 100), 0);
    msg = s_empty_report("b", 1, false);
    assert_int_equal(top_model_take(model, &msg, 200), 0);
    msg = s_empty_report("a", 1, false);
    assert_int_equal(top_model_take(model, &msg, 300), 0);  // a is now the more recent
    const top_model_counters *c = top_model_get_counters(model);
    assert_int_equal(c->reports, 3);
    assert_int_equal(c->producers_seen, 2);
    screen s;
    s_layout(model, 40, 200, &s);
    assert_true(s_find(&s, "producer a ") > 0 &&
                s_find(&s, "producer a ") < s_find(&s, "producer b "));
    assert_true(strstr(s.line[s_find(&s, "producer a ")], "reports 2") != NULL);
    msg = s_empty_report("c", 1, false);  // full: b, silent longest, goes
    assert_int_equal(top_model_take(model, &msg, 400), 0);
    assert_int_equal(c->producers_evicted, 1);
    assert_int_equal(c->producers_seen, 3);
    s_layout(model, 40, 200, &s);
    assert_int_equal(s_find(&s, "producer b "), -1);
    assert_true(s_find(&s, "producer c ") > 0);
    assert_true(s_find(&s, "evicted 1") > 0);
    // a ends (final), then restarts: its new run takes the section.
    msg = s_empty_report("a", 1, true);
    assert_int_equal(top_model_take(model, &msg, 500), 0);
    s_layout(model, 40, 200, &s);
    assert_true(strstr(s.line[s_find(&s, "producer a ")], "(final)") != NULL);
    msg = s_empty_report("a", 2, false);
    assert_int_equal(top_model_take(model, &msg, 600), 0);
    assert_int_equal(c->producers_evicted, 1);
    s_layout(model, 40, 200, &s);
    assert_true(strstr(s.line[s_find(&s, "producer a ")], "run 0000000000000002") != NULL);
    assert_int_equal(s_find(&s, "(final)"), -1);
    // Another run of a, not final: both shown (two producers may share a name).
    msg = s_empty_report("a", 3, false);
    assert_int_equal(top_model_take(model, &msg, 700), 0);
    assert_int_equal(c->producers_evicted, 2);  // c went
    s_layout(model, 40, 200, &s);
    assert_true(s_find(&s, "run 0000000000000002") > 0);
    assert_true(s_find(&s, "run 0000000000000003") > 0);
    top_model_destroy(&model);
}

//  Paused: reports are counted, not applied; flow records are freed.
static void test_pause_and_other_messages(void **state)
{
    (void)state;
    top_model *model = top_model_new(2);
    tw_message msg = s_empty_report("a", 1, false);
    assert_int_equal(top_model_take(model, &msg, 0), 0);
    top_model_set_paused(model, true);
    assert_true(top_model_paused(model));
    msg = s_empty_report("b", 1, false);
    assert_int_equal(top_model_take(model, &msg, 0), 0);
    assert_null(msg.base);
    screen s;
    s_layout(model, 40, 200, &s);
    assert_true(s_find(&s, "PAUSED (1 held)") == 0);
    assert_int_equal(s_find(&s, "producer b "), -1);
    top_model_set_paused(model, false);
    s_layout(model, 40, 200, &s);
    assert_int_equal(s_find(&s, "PAUSED"), -1);

    Tcpwin__Header header = TCPWIN__HEADER__INIT;
    header.schema_major = TW_SCHEMA_MAJOR;
    Tcpwin__FlowRecord flow = TCPWIN__FLOW_RECORD__INIT;
    flow.header = &header;
    size_t len = 0;
    uint8_t *bytes = tw_wire_encode(&flow.base, &len);
    assert_int_equal(tw_wire_decode(TW_TOPIC_FLOW, strlen(TW_TOPIC_FLOW), bytes, len, &msg), 0);
    free(bytes);
    assert_int_equal(top_model_take(model, &msg, 0), 0);
    assert_null(msg.base);
    assert_int_equal(top_model_get_counters(model)->reports, 1);
    assert_int_equal(top_model_get_counters(model)->held_paused, 1);
    top_model_destroy(&model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_screen_and_tiny_ones),
        cmocka_unit_test(test_host_orders),
        cmocka_unit_test(test_stalled_rows),
        cmocka_unit_test(test_rows_hidden_and_every_size),
        cmocka_unit_test(test_hostile_text),
        cmocka_unit_test(test_producer_bound_and_runs),
        cmocka_unit_test(test_pause_and_other_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
