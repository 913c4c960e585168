// SPDX-License-Identifier: MPL-2.0
/*  receiver: hostile and unusual input from a real PUB socket on loopback.
    Wrong frame counts, undecodable payloads, foreign topics and majors are
    counted and skipped; sequences give gaps, duplicates and restarts; an
    oversized message costs the connection (counted), which then recovers. */
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "receiver.h"

#define MAX_MESSAGE 4096

typedef struct {
    zsock_t *pub;
    receiver *rx;
} fixture;

static void s_send_report(zsock_t *pub, const char *producer, uint64_t run, uint64_t sequence,
                          uint32_t major)
{
    Tcpwin__Header header;
    tcpwin__header__init(&header);
    header.schema_major = major;
    header.producer_id = (char *)producer;
    header.run_id = run;
    header.sequence = sequence;
    Tcpwin__Report report;
    tcpwin__report__init(&report);
    report.header = &header;
    size_t len;
    uint8_t *payload = tw_wire_encode(&report.base, &len);
    zsock_send(pub, "sb", TW_TOPIC_REPORT, payload, len);
    free(payload);
}

//  Reads until `received` messages were handed over and `until` holds, or
//  timeout_ms passed.
static uint64_t s_read_for(fixture *f, uint64_t received, bool (*until)(const receiver_counters *),
                           int timeout_ms)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    zmq_pollitem_t item = {.socket = receiver_socket(f->rx), .events = ZMQ_POLLIN};
    while (zclock_mono() < deadline) {
        const receiver_counters *c = receiver_get_counters(f->rx);
        if (c->received >= received && (!until || until(c)))
            break;
        zmq_poll(&item, 1, 50);
        tw_message msg;
        while (receiver_recv(f->rx, &msg) == 1)
            tw_message_free(&msg);
    }
    return receiver_get_counters(f->rx)->received;
}

static uint64_t s_read(fixture *f, uint64_t received, bool (*until)(const receiver_counters *))
{
    return s_read_for(f, received, until, 3000);
}

static int s_setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->pub = zsock_new(ZMQ_PUB);
    int port = zsock_bind(f->pub, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    const char *endpoints[] = {endpoint};
    receiver_options options = {
        .endpoints = endpoints, .n_endpoints = 1, .max_message_bytes = MAX_MESSAGE};
    f->rx = receiver_new(&options);
    assert_non_null(f->rx);
    // Until the subscription has travelled, PUB drops: probe until one lands.
    for (int i = 1; i <= 100 && receiver_get_counters(f->rx)->received == 0; i++) {
        s_send_report(f->pub, "probe", 1, (uint64_t)i, TW_SCHEMA_MAJOR);
        s_read_for(f, 1, NULL, 50);
    }
    assert_int_equal(receiver_get_counters(f->rx)->received, 1);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture *f = *state;
    receiver_destroy(&f->rx);
    zsock_destroy(&f->pub);
    free(f);
    return 0;
}

static bool s_three_bad(const receiver_counters *c)
{
    return c->bad_frames == 2 && c->bad_payloads == 3 && c->bad_versions == 1;
}

static void test_hostile_messages_are_counted_and_skipped(void **state)
{
    fixture *f = *state;
    zstr_send(f->pub, "tcpwin.report");                                    // one frame
    zstr_sendx(f->pub, "tcpwin.report", "a", "b", NULL);                   // three frames
    zsock_send(f->pub, "sb", TW_TOPIC_REPORT, "\xff\xff\xff", (size_t)3);  // not protobuf
    zstr_sendx(f->pub, "tcpwin.zzz", "", NULL);                            // a topic not ours
    zstr_sendx(f->pub, "tcpwin.report", "", NULL);                         // no header
    s_send_report(f->pub, "p", 7, 1, TW_SCHEMA_MAJOR + 1);                 // another major
    s_send_report(f->pub, "p", 7, 1, TW_SCHEMA_MAJOR);                     // fine
    assert_int_equal(s_read(f, 2, s_three_bad), 2);
    const receiver_counters *c = receiver_get_counters(f->rx);
    assert_int_equal(c->bad_frames, 2);
    assert_int_equal(c->bad_payloads, 3);
    assert_int_equal(c->bad_versions, 1);
}

static bool s_restarted(const receiver_counters *c)
{
    return c->restarts == 1;
}

static void test_sequences_gaps_duplicates_restarts(void **state)
{
    fixture *f = *state;
    const uint64_t sequence[] = {1, 2, 2, 1, 5, 6};  // duplicate, older, gap of 2
    for (size_t i = 0; i < 6; i++)
        s_send_report(f->pub, "host", 42, sequence[i], TW_SCHEMA_MAJOR);
    s_send_report(f->pub, "host", 43, 1, TW_SCHEMA_MAJOR);  // the producer restarted
    s_send_report(f->pub, "host", 42, 7, TW_SCHEMA_MAJOR);  // a second producer, same name
    assert_int_equal(s_read(f, 1 + 6, s_restarted), 1 + 6);
    const receiver_counters *c = receiver_get_counters(f->rx);
    assert_int_equal(c->duplicates, 2);
    assert_int_equal(c->gaps, 1);
    assert_int_equal(c->lost, 2);
    assert_int_equal(c->restarts, 1);
}

static void test_oversized_message_costs_the_connection_then_recovers(void **state)
{
    fixture *f = *state;
    uint8_t *big = calloc(1, MAX_MESSAGE * 2);
    zsock_send(f->pub, "sb", TW_TOPIC_REPORT, big, (size_t)(MAX_MESSAGE * 2));
    free(big);
    // After libzmq reconnects (100 ms), messages flow again.
    for (int i = 2; i < 100 && receiver_get_counters(f->rx)->received < 2; i++) {
        s_send_report(f->pub, "probe", 1, (uint64_t)i, TW_SCHEMA_MAJOR);
        s_read_for(f, 2, NULL, 100);
    }
    receiver_poll_events(f->rx);
    const receiver_counters *c = receiver_get_counters(f->rx);
    assert_int_equal(c->received, 2);
    assert_true(c->disconnects >= 1);
    assert_int_equal(c->bad_payloads, 0);
}

int main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_messages_are_counted_and_skipped, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_sequences_gaps_duplicates_restarts, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_message_costs_the_connection_then_recovers,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
