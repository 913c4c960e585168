// SPDX-License-Identifier: MPL-2.0
/*  wire: decoding within its memory budget. A crafted payload that would
    unpack to many times its size is refused (-EMSGSIZE), so is a report
    with more rows than a producer sends; the largest report a producer can
    send decodes.
*/
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyzer.h"
#include "wire.h"

//  A report header, then n copies of row (an encoded field, tag included).
static uint8_t *s_craft(const uint8_t *row, size_t row_len, size_t n, size_t *len)
{
    Tcpwin__Header header;
    tcpwin__header__init(&header);
    header.schema_major = TW_SCHEMA_MAJOR;
    header.producer_id = "crafted";
    header.sequence = 1;
    Tcpwin__Report report;
    tcpwin__report__init(&report);
    report.header = &header;
    size_t head_len;
    uint8_t *head = tw_wire_encode(&report.base, &head_len);
    assert_non_null(head);
    *len = head_len + n * row_len;
    uint8_t *payload = malloc(*len);
    assert_non_null(payload);
    memcpy(payload, head, head_len);
    for (size_t i = 0; i < n; i++)
        memcpy(payload + head_len + i * row_len, row, row_len);
    free(head);
    return payload;
}

//  Two bytes per empty host row on the wire, some 150 bytes once unpacked:
//  4 MB would take 600 MB. Refused at its budget.
static void test_amplifying_payload_is_refused(void **state)
{
    (void)state;
    static const uint8_t empty_host[] = {0x2a, 0x00};  // field 5, length 0
    size_t len;
    uint8_t *payload = s_craft(empty_host, sizeof empty_host, 2 * 1000 * 1000, &len);
    tw_message msg;
    assert_int_equal(tw_wire_decode(TW_TOPIC_REPORT, strlen(TW_TOPIC_REPORT), payload, len, &msg),
                     -EMSGSIZE);
    assert_null(msg.base);
    tw_message_free(&msg);  // harmless
    // A few such rows are a small payload within its budget: fine.
    free(payload);
    payload = s_craft(empty_host, sizeof empty_host, 100, &len);
    assert_int_equal(tw_wire_decode(TW_TOPIC_REPORT, strlen(TW_TOPIC_REPORT), payload, len, &msg),
                     0);
    assert_int_equal(msg.report->n_hosts, 100);
    tw_message_free(&msg);
    free(payload);
}

//  More stalled flows than --max-stalled allows, within the memory budget:
//  no producer sends that; refused.
static void test_more_rows_than_a_producer_sends_is_refused(void **state)
{
    (void)state;
    uint8_t stalled[2 + 2 + 40];
    stalled[0] = 0x3a, stalled[1] = 42;  // field 7, 42 bytes
    stalled[2] = 0x0a, stalled[3] = 40;  // src_ip, 40 bytes
    memset(stalled + 4, 0xab, 40);
    size_t len;
    uint8_t *payload = s_craft(stalled, sizeof stalled, TW_MAX_STALLED_ROWS + 1, &len);
    tw_message msg;
    assert_int_equal(tw_wire_decode(TW_TOPIC_REPORT, strlen(TW_TOPIC_REPORT), payload, len, &msg),
                     -EMSGSIZE);
    assert_null(msg.base);
    // One row fewer is the bound itself: decoded.
    assert_int_equal(tw_wire_decode(TW_TOPIC_REPORT, strlen(TW_TOPIC_REPORT), payload,
                                    len - sizeof stalled, &msg),
                     0);
    assert_int_equal(msg.report->n_stalled, TW_MAX_STALLED_ROWS);
    tw_message_free(&msg);
    free(payload);
}

//  The largest report a producer can send: every host row and stalled flow
//  it may list, IPv6, every field at its widest. Under the default message
//  limit, and decoded within the budget.
static void test_largest_producer_report_decodes(void **state)
{
    (void)state;
    uint8_t ip[16];
    memset(ip, 0xff, sizeof ip);
    Tcpwin__HostRow *rows = calloc(TW_MAX_HOSTS_LIMIT, sizeof *rows);
    Tcpwin__HostRow **row_pointers = calloc(TW_MAX_HOSTS_LIMIT, sizeof *row_pointers);
    Tcpwin__StalledFlow *flows = calloc(TW_MAX_STALLED_ROWS, sizeof *flows);
    Tcpwin__StalledFlow **flow_pointers = calloc(TW_MAX_STALLED_ROWS, sizeof *flow_pointers);
    assert_true(rows && row_pointers && flows && flow_pointers);
    for (size_t i = 0; i < TW_MAX_HOSTS_LIMIT; i++) {
        Tcpwin__HostRow *r = &rows[i];
        tcpwin__host_row__init(r);
        r->ip = r->worst_peer_ip = (ProtobufCBinaryData){sizeof ip, ip};
        r->pkt_tcp_cnt = UINT32_MAX, r->win_rel_th_cnt = 1.0f;
        r->flows_counted = r->tcp_packets = r->undershoot_packets = UINT64_MAX;
        r->worst_peer_port = r->worst_src_port = 65535, r->last_update_us = INT64_MAX;
        r->zero_window_adverts = r->flows_stalled = r->probes_received = UINT64_MAX;
        r->stall_us = INT64_MAX;
        row_pointers[i] = r;
    }
    for (size_t i = 0; i < TW_MAX_STALLED_ROWS; i++) {
        Tcpwin__StalledFlow *f = &flows[i];
        tcpwin__stalled_flow__init(f);
        f->src_ip = f->dst_ip = (ProtobufCBinaryData){sizeof ip, ip};
        f->src_port = f->dst_port = 65535, f->since_us = INT64_MAX;
        f->tcp_packets = f->undershoot_packets = UINT64_MAX;
        f->stalled_us = f->stall_since_us = INT64_MAX;
        f->probes = f->zero_window_adverts = UINT64_MAX, f->window_scale_unknown = 1;
        flow_pointers[i] = f;
    }
    Tcpwin__Header header;
    tcpwin__header__init(&header);
    header.schema_major = TW_SCHEMA_MAJOR;
    header.producer_id = "largest";
    Tcpwin__Counters counters;
    tcpwin__counters__init(&counters);
    Tcpwin__Report report;
    tcpwin__report__init(&report);
    report.header = &header;
    report.counters = &counters;
    report.hosts = row_pointers, report.n_hosts = TW_MAX_HOSTS_LIMIT;
    report.stalled = flow_pointers, report.n_stalled = TW_MAX_STALLED_ROWS;
    size_t len;
    uint8_t *payload = tw_wire_encode(&report.base, &len);
    assert_non_null(payload);
    print_message("largest report: %zu bytes; a row %zu, a stalled flow %zu\n", len,
                  protobuf_c_message_get_packed_size(&rows[0].base),
                  protobuf_c_message_get_packed_size(&flows[0].base));
    assert_true(len < TW_MAX_MESSAGE_BYTES);  // the subscribers' default limit
    tw_message msg;
    assert_int_equal(tw_wire_decode(TW_TOPIC_REPORT, strlen(TW_TOPIC_REPORT), payload, len, &msg),
                     0);
    assert_int_equal(msg.report->n_hosts, TW_MAX_HOSTS_LIMIT);
    assert_int_equal(msg.report->n_stalled, TW_MAX_STALLED_ROWS);
    tw_message_free(&msg);
    free(payload);
    free(rows), free(row_pointers), free(flows), free(flow_pointers);
}

//  The budget: proportional to the payload, with a floor and a ceiling.
static void test_budget(void **state)
{
    (void)state;
    assert_int_equal(tw_wire_decode_budget(0), TW_DECODE_SLACK_BYTES);
    assert_int_equal(tw_wire_decode_budget(1000),
                     1000 * TW_DECODE_BYTES_PER_BYTE + TW_DECODE_SLACK_BYTES);
    assert_int_equal(tw_wire_decode_budget(TW_MAX_MESSAGE_BYTES), TW_DECODE_BUDGET_MAX);
    assert_int_equal(tw_wire_decode_budget(SIZE_MAX), TW_DECODE_BUDGET_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amplifying_payload_is_refused),
        cmocka_unit_test(test_more_rows_than_a_producer_sends_is_refused),
        cmocka_unit_test(test_largest_producer_report_decodes),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
