// SPDX-License-Identifier: MPL-2.0
/*  legacy_text: byte-for-byte the tcpWinSink format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "legacy_text.h"

static char *s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = calloc(1, 4096);
    *len = fread(text, 1, 4095, f);
    fclose(f);
    return text;
}

static void test_known_report_matches_checked_in_text(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    uint8_t v4[] = {192, 168, 72, 14}, v4b[] = {10, 0, 0, 7};
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    Tcpwin__HostRow rows[3];
    Tcpwin__HostRow *pointers[3] = {&rows[0], &rows[1], &rows[2]};
    for (int i = 0; i < 3; i++)
        tcpwin__host_row__init(&rows[i]);
    rows[0].ip = (ProtobufCBinaryData){4, v4};
    rows[0].pkt_tcp_cnt = 460;
    rows[0].win_rel_th_cnt = (float)57 / (float)460;
    rows[1].ip = (ProtobufCBinaryData){16, v6};
    rows[1].pkt_tcp_cnt = 10;
    rows[1].win_rel_th_cnt = 0.5f;
    rows[2].ip = (ProtobufCBinaryData){4, v4b};
    rows[2].pkt_tcp_cnt = UINT32_MAX;
    rows[2].win_rel_th_cnt = 1.0f;
    Tcpwin__Report report;
    tcpwin__report__init(&report);
    report.time_us = 1072958405LL * 1000000 + 999999;  // the date shows whole seconds
    report.hosts = pointers;
    report.n_hosts = 3;

    size_t len, expected_len;
    char *text = tw_legacy_text_render(&report, &len);
    char *expected = s_read_file(TEST_DATA_DIR "/legacy_report.txt", &expected_len);
    assert_non_null(text);
    assert_int_equal(len, expected_len);
    assert_memory_equal(text, expected, len);
    assert_null(memchr(text, '\0', len));  // no NUL goes on the wire
    free(text);
    free(expected);
}

static void test_empty_table_renders_nothing(void **state)
{
    (void)state;
    Tcpwin__Report report;
    tcpwin__report__init(&report);
    size_t len = 99;
    char *text = tw_legacy_text_render(&report, &len);
    assert_non_null(text);
    assert_int_equal(len, 0);
    free(text);
}

static void test_local_time_zone_is_respected(void **state)
{
    (void)state;
    setenv("TZ", "CET-1", 1);  // POSIX form: needs no zoneinfo files
    tzset();
    uint8_t ip[] = {1, 2, 3, 4};
    Tcpwin__HostRow row;
    tcpwin__host_row__init(&row);
    row.ip = (ProtobufCBinaryData){4, ip};
    Tcpwin__HostRow *pointers[] = {&row};
    Tcpwin__Report report;
    tcpwin__report__init(&report);
    report.time_us = 1072958405LL * 1000000;
    report.hosts = pointers;
    report.n_hosts = 1;
    size_t len;
    char *text = tw_legacy_text_render(&report, &len);
    assert_string_equal(
        text, "# Thu 01 Jan 2004 13:00:05\n# IP\tpktTcpCnt\twinRelThCnt\n1.2.3.4\t0\t0.000000\n\n");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_report_matches_checked_in_text),
        cmocka_unit_test(test_empty_table_renders_nothing),
        cmocka_unit_test(test_local_time_zone_is_respected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
