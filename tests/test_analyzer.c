/*  analyzer: crafted Ethernet/IPv4/TCP frames through decode, flows, hosts
    and report boundaries. */
#include <pcap/dlt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer.h"

#define SECOND 1000000LL

typedef struct {
    int64_t time_us[16];
    bool final[16];
    size_t hosts[16];
    uint32_t first_pkt_tcp_cnt[16];
    float first_ratio[16];
    uint64_t tcp_packets[16], malformed[16], truncated[16];
    int n;
    int flows;
    uint64_t flow_undershoots;
} sink_log;

static void s_on_report(Tcpwin__Report *report, void *arg)
{
    sink_log *log = arg;
    int i = log->n++;
    assert_true(i < 16);
    log->time_us[i] = report->time_us;
    log->final[i] = report->final;
    log->hosts[i] = report->n_hosts;
    log->first_pkt_tcp_cnt[i] = report->n_hosts ? report->hosts[0]->pkt_tcp_cnt : 0;
    log->first_ratio[i] = report->n_hosts ? report->hosts[0]->win_rel_th_cnt : 0;
    log->tcp_packets[i] = report->counters->tcp_packets;
    log->malformed[i] = report->counters->malformed_packets;
    log->truncated[i] = report->counters->truncated_packets;
}

static void s_on_flow(Tcpwin__FlowRecord *record, void *arg)
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
    return tw_analyzer_new(&config, DLT_EN10MB, (tw_analyzer_sink){s_on_report, s_on_flow, log});
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_silence_yields_one_report_at_last_boundary),
        cmocka_unit_test(test_flow_under_minimum_never_enters_the_table),
        cmocka_unit_test(test_window_zero_counts_on_syn_fin_rst_and_data_but_one_does_not),
        cmocka_unit_test(test_malformed_and_truncated_are_counted_apart),
        cmocka_unit_test(test_tick_crosses_boundaries_without_packets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
