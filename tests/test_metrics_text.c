// SPDX-License-Identifier: MPL-2.0
/*  test_metrics_text: serve's pages without sockets: every family from the
    first page (HELP and TYPE, no producer yet), every series of a producer
    at 0 from its first report, units (seconds), per-host series for the
    top K only with the rest counted, label escaping, the report age; and
    the JSON documents (the report through json_lines, the history).
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

#include "dash_json.h"
#include "dash_model.h"
#include "metrics_text.h"

//  The legacy ratio of every host row s_add makes, and whether all its rows
//  have one address (a hostile producer's report).
static float s_ratio = 0.123913f;
static bool s_one_address = false;

//  Offers a decoded report of producer id with n_hosts hosts, host i having
//  stalled i ms, and 2.5 s of stall time in the run counters.
static void s_add(dash_model *model, const char *id, uint64_t sequence, size_t n_hosts,
                  int64_t now_ms)
{
    Tcpwin__Header header = TCPWIN__HEADER__INIT;
    header.schema_major = TW_SCHEMA_MAJOR;
    header.producer_id = (char *)id;
    header.run_id = 42;
    header.sequence = sequence;
    Tcpwin__Counters counters = TCPWIN__COUNTERS__INIT;
    counters.packets = 1555;
    counters.stall_us = 2500000;
    Tcpwin__Report report = TCPWIN__REPORT__INIT;
    report.header = &header;
    report.counters = &counters;
    report.time_us = 1294817625000000;
    Tcpwin__HostRow rows[64];
    Tcpwin__HostRow *pointers[64];
    uint8_t ips[64][4];
    assert_true(n_hosts <= 64);
    for (size_t i = 0; i < n_hosts; i++) {
        tcpwin__host_row__init(&rows[i]);
        memcpy(ips[i], (uint8_t[]){192, 168, 72, s_one_address ? 0 : (uint8_t)i}, 4);
        rows[i].ip.data = ips[i];
        rows[i].ip.len = 4;
        rows[i].stall_us = (int64_t)i * 1000;
        rows[i].pkt_tcp_cnt = 460;
        rows[i].win_rel_th_cnt = s_ratio;
        pointers[i] = &rows[i];
    }
    report.n_hosts = n_hosts;
    report.hosts = pointers;
    size_t len;
    uint8_t *bytes = tw_wire_encode(&report.base, &len);
    assert_non_null(bytes);
    tw_message msg;
    assert_int_equal(tw_wire_decode(TW_TOPIC_REPORT, strlen(TW_TOPIC_REPORT), bytes, len, &msg), 0);
    free(bytes);
    assert_int_equal(dash_model_add(model, &msg, now_ms), 1);
    tw_message_free(&msg);
}

static char *s_page(const dash_model *model, size_t top_k, int64_t now_ms)
{
    receiver_counters rc = {.received = 3};
    metrics_context c = {.receiver = &rc, .top_k = top_k, .now_ms = now_ms, .http_requests = 2};
    size_t len = 0;
    char *page = metrics_text_render(model, &c, &len);
    assert_non_null(page);
    assert_int_equal(strlen(page), len);
    return page;
}

static size_t s_count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_every_family_from_the_first_page(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    char *page = s_page(model, 20, 0);
    assert_non_null(strstr(page, "# TYPE tcpwin_packets_total counter\n"));
    assert_non_null(strstr(page, "# TYPE tcpwin_stall_seconds_total counter\n"));
    assert_non_null(strstr(page, "# TYPE tcpwin_report_age_seconds gauge\n"));
    assert_non_null(strstr(page, "# TYPE tcpwin_host_stall_seconds gauge\n"));
    assert_non_null(strstr(page, "\ntcpwin_subscriber_messages_received_total 3\n"));
    assert_non_null(strstr(page, "\ntcpwin_http_requests_total 2\n"));
    assert_non_null(strstr(page, "\ntcpwin_subscriber_producers 0\n"));
    assert_null(strstr(page, "producer=\""));
    // Counters, and only counters, end in _total.
    for (const char *p = page; (p = strstr(p, "# TYPE ")); p++) {
        char name[128], type[16];
        assert_int_equal(sscanf(p, "# TYPE %127s %15s", name, type), 2);
        size_t n = strlen(name);
        bool total = n > 6 && strcmp(name + n - 6, "_total") == 0;
        assert_int_equal(total, strcmp(type, "counter") == 0);
    }
    free(page);
    dash_model_destroy(&model);
}

static void test_series_of_a_producer(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    s_add(model, "h\"1\\\n", 1, 0, 1000);
    char *page = s_page(model, 20, 3500);
    const char *label = "{producer=\"h\\\"1\\\\\\n\"}";
    char want[256];
    snprintf(want, sizeof want, "\ntcpwin_packets_total%s 1555\n", label);
    assert_non_null(strstr(page, want));
    snprintf(want, sizeof want, "\ntcpwin_stall_seconds_total%s 2.500000\n", label);
    assert_non_null(strstr(page, want));
    snprintf(want, sizeof want, "\ntcpwin_zero_window_adverts_total%s 0\n", label);
    assert_non_null(strstr(page, want));
    snprintf(want, sizeof want, "\ntcpwin_report_age_seconds%s 2.500\n", label);
    assert_non_null(strstr(page, want));
    snprintf(want, sizeof want, "\ntcpwin_reports_received_total%s 1\n", label);
    assert_non_null(strstr(page, want));
    snprintf(want, sizeof want, "\ntcpwin_run_first_report_time_seconds%s 1294817625.000000\n",
             label);
    assert_non_null(strstr(page, want));
    // Every family but the 9 per-host and the 13 of the subscriber itself
    // has the producer's series, even at 0.
    assert_int_equal(s_count(page, "# TYPE tcpwin_"), s_count(page, label) + 9 + 13);
    free(page);
    dash_model_destroy(&model);
}

static void test_host_series_bounded_by_top_k(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    s_add(model, "h1", 1, 50, 0);
    char *page = s_page(model, 3, 0);
    assert_int_equal(s_count(page, "\ntcpwin_host_stall_seconds{"), 3);
    assert_int_equal(s_count(page, "\ntcpwin_host_worst_flow_packets{"), 3);
    assert_non_null(strstr(
        page, "\ntcpwin_host_stall_seconds{producer=\"h1\",host=\"192.168.72.49\"} 0.049000\n"));
    assert_non_null(strstr(
        page, "\ntcpwin_host_worst_flow_undershoot_ratio{producer=\"h1\",host=\"192.168.72.48\"} "
              "0.12391"));
    assert_null(strstr(page, "host=\"192.168.72.46\""));
    assert_non_null(strstr(page, "\ntcpwin_host_series_omitted{producer=\"h1\"} 47\n"));
    assert_non_null(strstr(page, "\ntcpwin_hosts{producer=\"h1\"} 50\n"));
    free(page);
    page = s_page(model, 0, 0);
    assert_int_equal(s_count(page, "host=\""), 0);
    free(page);
    dash_model_destroy(&model);
}

static void test_label_escaping(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    metrics_text_label(out, "a\"b\\c\nd\te\xc3\xa9\xff");
    char long_id[300];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    fputc('|', out);
    metrics_text_label(out, long_id);
    assert_int_equal(fclose(out), 0);
    // Valid UTF-8 passes (é), a control character and a stray byte do not.
    assert_string_equal(strtok(text, "|"), "a\\\"b\\\\c\\nd?e\xc3\xa9?");
    assert_int_equal(strlen(strtok(NULL, "|")), METRICS_MAX_LABEL);
    free(text);

    // The length bound never cuts a character in half.
    char cut[METRICS_MAX_LABEL + 2];
    memset(cut, 'x', METRICS_MAX_LABEL - 1);
    memcpy(cut + METRICS_MAX_LABEL - 1, "\xc3\xa9", 3);
    out = open_memstream(&text, &len);
    assert_non_null(out);
    metrics_text_label(out, cut);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(len, METRICS_MAX_LABEL - 1);
    free(text);
}

static void test_nan_and_infinities_as_the_format_spells_them(void **state)
{
    (void)state;
    const struct {
        float ratio;
        const char *text;
    } cases[] = {{NAN, "} NaN\n"}, {INFINITY, "} +Inf\n"}, {-INFINITY, "} -Inf\n"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dash_model *model = dash_model_new(4);
        s_ratio = cases[i].ratio;
        s_add(model, "h1", 1, 1, 0);
        s_ratio = 0.123913f;
        char *page = s_page(model, 20, 0);
        char want[128];
        snprintf(want, sizeof want,
                 "\ntcpwin_host_worst_flow_undershoot_ratio{producer=\"h1\","
                 "host=\"192.168.72.0\"%s",
                 cases[i].text);
        assert_non_null(strstr(page, want));
        free(page);
        dash_model_destroy(&model);
    }
}

static void test_no_series_twice(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    // Two ids alike once escaped: the first keeps its series.
    s_add(model, "a\x01", 1, 2, 0);
    s_add(model, "a\x02", 1, 0, 0);
    // Distinct UTF-8 ids stay distinct.
    s_add(model, "caf\xc3\xa9", 1, 0, 0);
    s_one_address = true;
    s_add(model, "twice", 1, 3, 0);
    s_one_address = false;
    char *page = s_page(model, 20, 0);
    assert_int_equal(s_count(page, "\ntcpwin_packets_total{producer=\"a?\"}"), 1);
    assert_int_equal(s_count(page, "\ntcpwin_host_stall_seconds{producer=\"a?\""), 2);
    assert_int_equal(s_count(page, "\ntcpwin_packets_total{producer=\"caf\xc3\xa9\"}"), 1);
    assert_int_equal(s_count(page, "\ntcpwin_host_stall_seconds{producer=\"twice\""), 1);
    // One producer and two host rows left off.
    assert_non_null(strstr(page, "\ntcpwin_duplicate_series_dropped 3\n"));
    free(page);
    dash_model_destroy(&model);
}

static void test_json_documents(void **state)
{
    (void)state;
    dash_model *model = dash_model_new(4);
    s_add(model, "h1", 1, 1, 0);
    s_add(model, "h1", 2, 1, 1500);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_int_equal(dash_json_write_reports(out, model, 2000, DASH_ROWS_MAX), 0);
    assert_int_equal(fclose(out), 0);
    assert_non_null(strstr(text, "{\"producers\":[{\"reportAgeSeconds\":0.500,"));
    assert_non_null(strstr(text, "\"reportsReceived\":\"2\""));
    assert_non_null(
        strstr(text, "\"report\":{\"header\":{\"schemaMajor\":1,\"producerId\":\"h1\""));
    assert_non_null(strstr(text, "\"hosts\":[{\"ip\":\"192.168.72.0\",\"pktTcpCnt\":460,"));
    free(text);

    // A row bound: the hosts that stalled most, the rest counted.
    s_add(model, "h1", 3, 50, 1500);
    out = open_memstream(&text, &len);
    assert_int_equal(dash_json_write_reports(out, model, 2000, 2), 0);
    assert_int_equal(fclose(out), 0);
    assert_non_null(strstr(text, "\"hostsOmitted\":48,\"stalledOmitted\":0,"));
    assert_non_null(strstr(text, "\"hosts\":[{\"ip\":\"192.168.72.49\","));
    assert_int_equal(s_count(text, "\"pktTcpCnt\""), 2);
    free(text);

    out = open_memstream(&text, &len);
    assert_int_equal(dash_json_write_history(out, model), 0);
    assert_int_equal(fclose(out), 0);
    assert_string_equal(text, "{\"producers\":[{\"producerId\":\"h1\",\"points\":[[1294817625."
                              "000000,0,0],[1294817625.000000,0,0],[1294817625.000000,0,0]]}]}\n");
    free(text);
    dash_model_destroy(&model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_family_from_the_first_page),
        cmocka_unit_test(test_series_of_a_producer),
        cmocka_unit_test(test_host_series_bounded_by_top_k),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_nan_and_infinities_as_the_format_spells_them),
        cmocka_unit_test(test_no_series_twice),
        cmocka_unit_test(test_json_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
