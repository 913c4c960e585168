// SPDX-License-Identifier: MPL-2.0
/*  test_status: the producer's start line, summary and progress line, as
    plain text from plain values, and the meter's timing, padding and
    erasing (written to a memory stream, its terminal test forced).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "status.h"

static void test_start_line_reads_as_tcpdump(void **state)
{
    (void)state;
    char line[256];
    status_start file = {.source = "x.pcap",
                         .link_type = 1,
                         .link_name = "EN10MB",
                         .link_description = "Ethernet",
                         .snaplen = 65535};
    int n = status_format_start(line, sizeof line, &file);
    assert_string_equal(
        line, "reading from file x.pcap, link-type EN10MB (Ethernet), snapshot length 65535");
    assert_int_equal(n, (int)strlen(line));
    status_start live = {.live = true,
                         .source = "lo",
                         .link_type = 1,
                         .link_name = "EN10MB",
                         .link_description = "Ethernet",
                         .snaplen = 256};
    status_format_start(line, sizeof line, &live);
    assert_string_equal(line,
                        "listening on lo, link-type EN10MB (Ethernet), snapshot length 256 bytes");
    // The capture's details, and a link type libpcap has no name for.
    status_start odd = {.source = "-", .link_type = 4242, .snaplen = 9, .details = "pcapng, gzip"};
    status_format_start(line, sizeof line, &odd);
    assert_string_equal(line,
                        "reading from file - (pcapng, gzip), link-type 4242, snapshot length 9");
}

//  A file as the capture describes it (capture.h), from a path or stdin.
static void test_start_line_of_a_described_file(void **state)
{
    (void)state;
    char line[256];
    status_start file = {.source = "x.pcapng",
                         .description = "'x.pcapng' (pcapng, zstd), link-type EN10MB (Ethernet), "
                                        "snapshot length 262144",
                         .link_name = "ignored"};
    status_format_start(line, sizeof line, &file);
    assert_string_equal(line, "reading from file 'x.pcapng' (pcapng, zstd), link-type EN10MB "
                              "(Ethernet), snapshot length 262144");
    status_start in = {.source = "-", .from_stdin = true, .description = "standard input (pcap)"};
    status_format_start(line, sizeof line, &in);
    assert_string_equal(line, "reading from standard input (pcap)");
}

static void test_start_line_is_cut_to_fit(void **state)
{
    (void)state;
    char small[16];
    status_start file = {.source = "a-rather-long-name.pcap", .link_name = "EN10MB", .snaplen = 1};
    int n = status_format_start(small, sizeof small, &file);
    assert_true(n > (int)sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, "reading from fi", sizeof small);
}

static void test_summary_counts_and_plurals(void **state)
{
    (void)state;
    char text[512];
    status_counters file = {.packets = 1556,
                            .tcp_packets = 1500,
                            .flows = 4,
                            .hosts = 1,
                            .reports = 11,
                            .flow_records = 1,
                            .kernel_drops = 99,  // not a file's: not shown
                            .messages_dropped = 0};
    status_format_summary(text, sizeof text, &file);
    assert_string_equal(text, "1556 packets read, 1500 TCP\n"
                              "4 flows, 1 host in table\n"
                              "11 reports published, 1 flow record published\n"
                              "0 messages dropped for slow subscribers\n");
    status_counters live = {.live = true, .packets = 1, .kernel_drops = 1, .messages_dropped = 1};
    status_format_summary(text, sizeof text, &live);
    assert_string_equal(text, "1 packet captured, 0 TCP\n"
                              "0 flows, 0 hosts in table\n"
                              "0 reports published, 0 flow records published\n"
                              "1 packet dropped by kernel\n"
                              "1 message dropped for slow subscribers\n");
}

static void test_progress_with_and_without_size(void **state)
{
    (void)state;
    char line[160];
    status_progress half = {
        .bytes_done = 500, .bytes_total = 1000, .packets = 2000, .elapsed_us = 4000000};
    status_format_progress(line, sizeof line, &half);
    assert_string_equal(line, " 50.0% 2000 packets, 500 packets/s, ETA 0:04");
    // An hour and more left.
    status_progress slow = {
        .bytes_done = 1, .bytes_total = 1001, .packets = 10, .elapsed_us = 5000000};
    status_format_progress(line, sizeof line, &slow);
    assert_string_equal(line, "  0.1% 10 packets, 2 packets/s, ETA 1:23:20");
    // Standard input or a FIFO: no size, so no percent and no ETA.
    status_progress pipe = {.packets = 300, .elapsed_us = 1500000};
    status_format_progress(line, sizeof line, &pipe);
    assert_string_equal(line, "300 packets, 200 packets/s");
    // A file that grew while read is never past 100%.
    status_progress grown = {
        .bytes_done = 2000, .bytes_total = 1000, .packets = 1, .elapsed_us = 1000000};
    status_format_progress(line, sizeof line, &grown);
    assert_string_equal(line, "100.0% 1 packets, 1 packets/s, ETA 0:00");
}

static void test_meter_timing_padding_and_clear(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    status_meter meter;
    status_meter_init(&meter, out, true, 0);
    assert_false(meter.enabled);  // not a terminal
    status_progress p = {.packets = 123456, .elapsed_us = 1000000};
    status_meter_update(&meter, &p, STATUS_PROGRESS_INTERVAL_US);
    fflush(out);
    assert_int_equal(size, 0);
    meter.enabled = true;                                              // as on a terminal
    status_meter_update(&meter, &p, STATUS_PROGRESS_INTERVAL_US - 1);  // too early
    fflush(out);
    assert_int_equal(size, 0);
    status_meter_update(&meter, &p, STATUS_PROGRESS_INTERVAL_US);
    fflush(out);
    assert_string_equal(text, "\r123456 packets, 123456 packets/s");
    // A shorter line covers what is left of the longer one; too soon, none.
    status_progress q = {.packets = 7, .elapsed_us = 7000000};
    status_meter_update(&meter, &q, 2 * STATUS_PROGRESS_INTERVAL_US - 1);
    status_meter_update(&meter, &q, 2 * STATUS_PROGRESS_INTERVAL_US);
    fflush(out);
    assert_string_equal(text, "\r123456 packets, 123456 packets/s"
                              "\r7 packets, 1 packets/s          ");
    status_meter_clear(&meter);
    status_meter_clear(&meter);  // nothing shown: nothing written
    fflush(out);
    size_t before_clear = strlen("\r123456 packets, 123456 packets/s"
                                 "\r7 packets, 1 packets/s          ");
    // \r, spaces over the 22 characters of the line shown, \r.
    assert_int_equal(size, before_clear + 1 + 22 + 1);
    assert_int_equal(text[size - 1], '\r');
    fclose(out);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_line_reads_as_tcpdump),
        cmocka_unit_test(test_start_line_of_a_described_file),
        cmocka_unit_test(test_start_line_is_cut_to_fit),
        cmocka_unit_test(test_summary_counts_and_plurals),
        cmocka_unit_test(test_progress_with_and_without_size),
        cmocka_unit_test(test_meter_timing_padding_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
