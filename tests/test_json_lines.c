// SPDX-License-Identifier: MPL-2.0
/*  test_json_lines: the descriptor-driven JSON emitter, asserted byte for byte.

    The exact strings below are the contract with dashboards: every field
    present, lowerCamelCase names, 64-bit integers as strings, IP text, enum
    names, escaping. jq (the consumer the brief names) then re-reads the
    same output to prove it is valid JSON that keeps 64-bit values exact.
*/
#define _GNU_SOURCE  // asprintf
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>

#include <cmocka.h>

#include "json_lines.h"
#include "tcpwin.pb-c.h"

static uint8_t IPV4[4] = {192, 0, 2, 1};
static uint8_t IPV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static uint8_t IPV6_PEER[16] = {0xfe, 0x80, 0,    0,    0,    0,    0,    0,
                                0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55};
static uint8_t ODD[5] = {1, 2, 3, 4, 5};

//  A producer id that needs every kind of escaping: quote, backslash,
//  newline, a control character, DEL, a stray continuation byte, a valid
//  two-byte character, an overlong form and a truncated sequence at the end.
static const char HOSTILE_ID[] = "a\"b\\c\nd\x01"
                                 "e\x7f\xff\xc3\xa9\xc0\xaf\xe2\x82";
static const char HOSTILE_ID_JSON[] =
    "\"a\\\"b\\\\c\\nd\\u0001e\\u007f\\ufffd\xc3\xa9\\ufffd\\ufffd"
    "\\ufffd\\ufffd\"";

static char *s_render(const char *topic, const ProtobufCMessage *msg)
{
    size_t len = 0;
    char *text = tw_json_render(topic, msg, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    return text;
}

static void test_default_report_has_every_field(void **state)
{
    (void)state;
    Tcpwin__Report report = TCPWIN__REPORT__INIT;
    char *text = s_render(NULL, &report.base);
    assert_string_equal(text, "{\"header\":null,\"timeUs\":\"0\",\"intervalS\":0,\"final\":false,"
                              "\"hosts\":[],\"counters\":null,\"stalled\":[],\"threshold\":0,"
                              "\"minPkts\":0,\"thresholdBytes\":false}\n");
    free(text);
}

static void test_flow_record_exact(void **state)
{
    (void)state;
    Tcpwin__Header header = TCPWIN__HEADER__INIT;
    header.schema_major = 1;
    header.producer_id = "p1";
    header.run_id = 9007199254740993ULL;  // 2^53 + 1: a double would round it
    header.sequence = UINT64_MAX;
    Tcpwin__FlowRecord flow = TCPWIN__FLOW_RECORD__INIT;
    flow.header = &header;
    flow.src_ip = (ProtobufCBinaryData){sizeof IPV4, IPV4};
    flow.dst_ip = (ProtobufCBinaryData){sizeof IPV6, IPV6};
    flow.src_port = 443;
    flow.dst_port = 51000;
    flow.ip_version = 4;
    flow.first_us = -1700000000123456LL;
    flow.last_us = INT64_MAX;
    flow.tcp_packets = UINT64_MAX;
    flow.undershoot_packets = 3;
    flow.min_window = 0;
    flow.end_reason = TCPWIN__END_REASON__END_REASON_FIN;
    flow.zero_window_episodes = 2;
    flow.zero_window_us = 1500;
    flow.window_scale = -1;
    flow.zero_window_adverts = 7;
    flow.stalls = 1;
    flow.stall_us = 1800000000;
    flow.window_probes = 2;
    flow.zero_length_probes = 3;
    flow.window_reopenings = 1;
    flow.window_scale_unknown = 1;
    char *text = s_render("tcpwin.flow", &flow.base);
    assert_string_equal(
        text, "{\"topic\":\"tcpwin.flow\",\"header\":{\"schemaMajor\":1,\"producerId\":\"p1\","
              "\"runId\":\"9007199254740993\",\"sequence\":\"18446744073709551615\"},"
              "\"srcIp\":\"192.0.2.1\",\"dstIp\":\"2001:db8::1\",\"srcPort\":443,"
              "\"dstPort\":51000,\"ipVersion\":4,\"firstUs\":\"-1700000000123456\","
              "\"lastUs\":\"9223372036854775807\",\"tcpPackets\":\"18446744073709551615\","
              "\"undershootPackets\":\"3\",\"minWindow\":0,\"endReason\":\"END_REASON_FIN\","
              "\"zeroWindowEpisodes\":\"2\",\"zeroWindowUs\":\"1500\",\"windowScale\":-1,"
              "\"zeroWindowAdverts\":\"7\",\"stalls\":\"1\",\"stallUs\":\"1800000000\","
              "\"windowProbes\":\"2\",\"zeroLengthProbes\":\"3\",\"windowReopenings\":\"1\","
              "\"windowScaleUnknown\":true}\n");
    free(text);

    // A default flow record: empty addresses are "" (base64 of nothing), enum 0 by name.
    Tcpwin__FlowRecord empty = TCPWIN__FLOW_RECORD__INIT;
    text = s_render(NULL, &empty.base);
    assert_string_equal(text, "{\"header\":null,\"srcIp\":\"\",\"dstIp\":\"\",\"srcPort\":0,"
                              "\"dstPort\":0,\"ipVersion\":0,\"firstUs\":\"0\",\"lastUs\":\"0\","
                              "\"tcpPackets\":\"0\",\"undershootPackets\":\"0\",\"minWindow\":0,"
                              "\"endReason\":\"END_REASON_UNSPECIFIED\",\"zeroWindowEpisodes\":"
                              "\"0\",\"zeroWindowUs\":\"0\",\"windowScale\":0,"
                              "\"zeroWindowAdverts\":\"0\",\"stalls\":\"0\",\"stallUs\":\"0\","
                              "\"windowProbes\":\"0\",\"zeroLengthProbes\":\"0\","
                              "\"windowReopenings\":\"0\",\"windowScaleUnknown\":false}\n");
    free(text);

    // A value the schema does not know (a newer producer) stays a number.
    empty.end_reason = (Tcpwin__EndReason)99;
    text = s_render(NULL, &empty.base);
    assert_non_null(strstr(text, "\"endReason\":99,"));
    free(text);
}

//  The full report used by the exact test and the jq test. Everything it
//  points to is static so the caller can keep the message.
static Tcpwin__Report *s_full_report(void)
{
    static Tcpwin__Header header = TCPWIN__HEADER__INIT;
    static Tcpwin__HostRow row4 = TCPWIN__HOST_ROW__INIT, row6 = TCPWIN__HOST_ROW__INIT,
                           odd = TCPWIN__HOST_ROW__INIT;
    static Tcpwin__HostRow *rows[3];
    static Tcpwin__Counters counters = TCPWIN__COUNTERS__INIT;
    static Tcpwin__StalledFlow stalled = TCPWIN__STALLED_FLOW__INIT;
    static Tcpwin__StalledFlow *stalled_list[1];
    static Tcpwin__Report report = TCPWIN__REPORT__INIT;

    header.schema_major = 1;
    header.producer_id = (char *)HOSTILE_ID;
    header.run_id = 18446744073709551557ULL;  // the largest 64-bit prime
    header.sequence = 9007199254740993ULL;

    row4.ip = (ProtobufCBinaryData){sizeof IPV4, IPV4};
    row4.pkt_tcp_cnt = 460;
    row4.win_rel_th_cnt = 0.123913f;
    row4.flows_counted = 1;
    row4.tcp_packets = 460;
    row4.undershoot_packets = 57;
    row4.worst_peer_ip = (ProtobufCBinaryData){sizeof IPV6, IPV6};
    row4.worst_peer_port = 80;
    row4.worst_src_port = 33000;
    row4.last_update_us = 1072958405000000LL;

    row6.ip = (ProtobufCBinaryData){sizeof IPV6_PEER, IPV6_PEER};
    row6.pkt_tcp_cnt = 4294967295u;
    row6.win_rel_th_cnt = 1.0f;
    row6.flows_counted = 9007199254740993ULL;

    odd.ip = (ProtobufCBinaryData){sizeof ODD, ODD};
    odd.win_rel_th_cnt = NAN;
    rows[0] = &row4;
    rows[1] = &row6;
    rows[2] = &odd;

    counters.packets = 10000000000ULL;
    counters.tcp_packets = 9999999999ULL;
    counters.stalled_omitted = 12;
    counters.zero_window_adverts = 4;
    counters.stall_us = 1800000001;
    counters.stalls = 1;
    counters.probes = 21;
    counters.window_reopenings = 0;
    counters.flows_stalled_now = 1;
    counters.unknown_link_type_packets = 3;

    stalled.src_ip = (ProtobufCBinaryData){sizeof IPV4, IPV4};
    stalled.dst_ip = (ProtobufCBinaryData){sizeof IPV6, IPV6};
    stalled.src_port = 1;
    stalled.dst_port = 65535;
    stalled.since_us = 9007199254740993LL;
    stalled.tcp_packets = 5;
    stalled.undershoot_packets = 4;
    stalled.stalled_us = 1800000001;
    stalled.probes = 21;
    stalled.zero_window_adverts = 4;
    stalled.window_scale_unknown = 1;
    stalled.stall_since_us = 9007199254740993LL;
    stalled_list[0] = &stalled;

    report.header = &header;
    report.time_us = 1072958405000000LL;
    report.interval_s = 5;
    report.final = 1;
    report.n_hosts = 3;
    report.hosts = rows;
    report.counters = &counters;
    report.n_stalled = 1;
    report.stalled = stalled_list;
    report.threshold = 1;
    report.min_pkts = 10;
    report.threshold_bytes = 0;
    return &report;
}

static void test_full_report_exact(void **state)
{
    (void)state;
    char *text = s_render("tcpwin.report", &s_full_report()->base);
    const char *expected =
        "{\"topic\":\"tcpwin.report\",\"header\":{\"schemaMajor\":1,\"producerId\":%s,"
        "\"runId\":\"18446744073709551557\",\"sequence\":\"9007199254740993\"},"
        "\"timeUs\":\"1072958405000000\",\"intervalS\":5,\"final\":true,\"hosts\":["
        "{\"ip\":\"192.0.2.1\",\"pktTcpCnt\":460,\"winRelThCnt\":0.123913,\"flowsCounted\":\"1\","
        "\"tcpPackets\":\"460\",\"undershootPackets\":\"57\",\"worstPeerIp\":\"2001:db8::1\","
        "\"worstPeerPort\":80,\"worstSrcPort\":33000,\"lastUpdateUs\":\"1072958405000000\","
        "\"zeroWindowAdverts\":\"0\",\"flowsStalled\":\"0\",\"stallUs\":\"0\","
        "\"probesReceived\":\"0\"},"
        "{\"ip\":\"fe80::211:22ff:fe33:4455\",\"pktTcpCnt\":4294967295,\"winRelThCnt\":1,"
        "\"flowsCounted\":\"9007199254740993\",\"tcpPackets\":\"0\",\"undershootPackets\":\"0\","
        "\"worstPeerIp\":\"\",\"worstPeerPort\":0,\"worstSrcPort\":0,\"lastUpdateUs\":\"0\","
        "\"zeroWindowAdverts\":\"0\",\"flowsStalled\":\"0\",\"stallUs\":\"0\","
        "\"probesReceived\":\"0\"},"
        "{\"ip\":\"AQIDBAU=\",\"pktTcpCnt\":0,\"winRelThCnt\":\"NaN\",\"flowsCounted\":\"0\","
        "\"tcpPackets\":\"0\",\"undershootPackets\":\"0\",\"worstPeerIp\":\"\",\"worstPeerPort\":0,"
        "\"worstSrcPort\":0,\"lastUpdateUs\":\"0\",\"zeroWindowAdverts\":\"0\","
        "\"flowsStalled\":\"0\",\"stallUs\":\"0\",\"probesReceived\":\"0\"}],"
        "\"counters\":{\"packets\":\"10000000000\",\"tcpPackets\":\"9999999999\","
        "\"malformedPackets\":\"0\",\"truncatedPackets\":\"0\",\"flowsActive\":\"0\","
        "\"flowsEnded\":\"0\",\"flowsEvicted\":\"0\",\"hostsEvicted\":\"0\",\"captureDrops\":\"0\","
        "\"fragmentsSkipped\":\"0\",\"messagesDropped\":\"0\",\"stalledOmitted\":\"12\","
        "\"packetsUntracked\":\"0\",\"reportsLost\":\"0\",\"subscriptionsRefused\":\"0\","
        "\"timeJumps\":\"0\",\"zeroWindowAdverts\":\"4\",\"stallUs\":\"1800000001\","
        "\"stalls\":\"1\",\"probes\":\"21\",\"windowReopenings\":\"0\","
        "\"flowsStalledNow\":\"1\",\"unknownLinkTypePackets\":\"3\"},"
        "\"stalled\":[{\"srcIp\":\"192.0.2.1\",\"dstIp\":\"2001:db8::1\",\"srcPort\":1,"
        "\"dstPort\":65535,\"sinceUs\":\"9007199254740993\",\"tcpPackets\":\"5\","
        "\"undershootPackets\":\"4\",\"stalledUs\":\"1800000001\",\"probes\":\"21\","
        "\"zeroWindowAdverts\":\"4\",\"windowScaleUnknown\":true,"
        "\"stallSinceUs\":\"9007199254740993\"}],\"threshold\":1,\"minPkts\":10,\"thresholdBytes\":"
        "false}\n";
    char *want = NULL;
    assert_true(asprintf(&want, expected, HOSTILE_ID_JSON) > 0);
    assert_string_equal(text, want);
    free(want);
    free(text);
}

static void test_reals_round_trip(void **state)
{
    (void)state;
    const float values[] = {0.0f,   -0.0f,       0.1f,     1e-10f, 3.4028235e38f, 1.17549435e-38f,
                            1e-45f, 16777216.0f, 0.123913f};
    const char *texts[] = {
        "0",     "-0",       "0.1",     "1e-10", "3.4028235e+38", "1.1754944e-38",
        "1e-45", "16777216", "0.123913"};
    Tcpwin__HostRow row = TCPWIN__HOST_ROW__INIT;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        row.win_rel_th_cnt = values[i];
        char *text = s_render(NULL, &row.base);
        char *want = NULL;
        assert_true(asprintf(&want, "\"winRelThCnt\":%s,", texts[i]) > 0);
        assert_non_null(strstr(text, want));
        const char *number = strstr(text, "\"winRelThCnt\":") + strlen("\"winRelThCnt\":");
        assert_true(strtof(number, NULL) == values[i]);
        free(want);
        free(text);
    }
    row.win_rel_th_cnt = INFINITY;
    char *text = s_render(NULL, &row.base);
    assert_non_null(strstr(text, "\"winRelThCnt\":\"Infinity\","));
    free(text);
    row.win_rel_th_cnt = -INFINITY;
    text = s_render(NULL, &row.base);
    assert_non_null(strstr(text, "\"winRelThCnt\":\"-Infinity\","));
    free(text);
}

static void test_string_escaping(void **state)
{
    (void)state;
    struct {
        const char *raw;
        const char *json;
    } cases[] = {
        {"", "\"\""},
        {"plain host-1.example", "\"plain host-1.example\""},
        {"\b\f\r\t\x1f", "\"\\b\\f\\r\\t\\u001f\""},
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},             // a UTF-16 surrogate
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},  // above U+10FFFF
        {"\xf0\x9f\x98\x80 \xe2\x82\xac", "\"\xf0\x9f\x98\x80 \xe2\x82\xac\""},  // valid 4 and 3
        {"\xe2\x80\xa8\xe2\x80\xa9", "\"\\u2028\\u2029\""},
        {HOSTILE_ID, HOSTILE_ID_JSON},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Tcpwin__Header header = TCPWIN__HEADER__INIT;
        header.producer_id = (char *)cases[i].raw;
        char *text = s_render(NULL, &header.base);
        char *want = NULL;
        assert_true(asprintf(&want,
                             "{\"schemaMajor\":0,\"producerId\":%s,\"runId\":\"0\","
                             "\"sequence\":\"0\"}\n",
                             cases[i].json) > 0);
        assert_string_equal(text, want);
        free(want);
        free(text);
    }
    // A topic is escaped like any string.
    Tcpwin__Header header = TCPWIN__HEADER__INIT;
    char *text = s_render("a\"b", &header.base);
    assert_true(strncmp(text, "{\"topic\":\"a\\\"b\",\"schemaMajor\":0,", 31) == 0);
    free(text);
}

static void test_write_counts_bytes_and_reports_errors(void **state)
{
    (void)state;
    char *buffer = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buffer, &size);
    assert_non_null(out);
    Tcpwin__Report report = TCPWIN__REPORT__INIT;
    int first = tw_json_write(out, "tcpwin.report", &report.base);
    int second = tw_json_write(out, NULL, &s_full_report()->base);
    assert_int_equal(fclose(out), 0);
    assert_true(first > 0 && second > 0);
    assert_int_equal(size, (size_t)first + (size_t)second);
    // Exactly two lines, each ending in its own newline.
    assert_int_equal(buffer[first - 1], '\n');
    assert_int_equal(buffer[size - 1], '\n');
    assert_null(memchr(buffer, '\n', (size_t)first - 1));
    assert_null(memchr(buffer + first, '\n', (size_t)second - 1));
    free(buffer);

    FILE *read_only = fopen("/dev/null", "r");
    assert_non_null(read_only);
    assert_int_equal(tw_json_write(read_only, NULL, &report.base), -EIO);
    fclose(read_only);
}

//  Runs a jq filter over the file and returns its raw output (malloc'd).
static char *s_jq(const char *path, const char *filter, size_t *len)
{
    char *command = NULL;
    assert_true(asprintf(&command, "jq -j '%s' '%s'", filter, path) > 0);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    char *output = NULL;
    size_t size = 0;
    FILE *collect = open_memstream(&output, &size);
    assert_non_null(collect);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, pipe)) > 0)
        assert_int_equal(fwrite(chunk, 1, n, collect), n);
    assert_int_equal(fclose(collect), 0);
    assert_int_equal(pclose(pipe), 0);  // jq exits non-zero on invalid JSON
    free(command);
    *len = size;
    return output;
}

static void test_jq_reads_it_back(void **state)
{
    (void)state;
    if (system("jq --version >/dev/null 2>&1") != 0)
        skip();
    char path[] = "/tmp/test_json_lines.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *out = fdopen(fd, "w");
    assert_non_null(out);
    assert_true(tw_json_write(out, "tcpwin.report", &s_full_report()->base) > 0);
    Tcpwin__FlowRecord flow = TCPWIN__FLOW_RECORD__INIT;
    assert_true(tw_json_write(out, "tcpwin.flow", &flow.base) > 0);
    assert_int_equal(fclose(out), 0);

    size_t len = 0;
    char *id = s_jq(path, "select(.topic == \"tcpwin.report\") | .header.producerId", &len);
    // What jq decodes is the producer id with each invalid byte as U+FFFD.
    const char decoded[] = "a\"b\\c\nd\x01"
                           "e\x7f\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                           "\xef\xbf\xbd";
    assert_int_equal(len, sizeof decoded - 1);
    assert_memory_equal(id, decoded, len);
    free(id);

    char *fields = s_jq(path,
                        "select(.topic == \"tcpwin.report\") | [.header.runId, "
                        ".header.sequence, .hosts[0].ip, .hosts[1].ip, .hosts[0].winRelThCnt, "
                        ".stalled[0].sinceUs] | map(tostring) | join(\" \")",
                        &len);
    assert_string_equal(fields, "18446744073709551557 9007199254740993 192.0.2.1 "
                                "fe80::211:22ff:fe33:4455 0.123913 9007199254740993");
    free(fields);

    char *topics = s_jq(path, "[.topic, (keys | length | tostring)] | join(\":\") + \",\"", &len);
    assert_string_equal(topics, "tcpwin.report:11,tcpwin.flow:23,");
    free(topics);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_report_has_every_field),
        cmocka_unit_test(test_flow_record_exact),
        cmocka_unit_test(test_full_report_exact),
        cmocka_unit_test(test_reals_round_trip),
        cmocka_unit_test(test_string_escaping),
        cmocka_unit_test(test_write_counts_bytes_and_reports_errors),
        cmocka_unit_test(test_jq_reads_it_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
