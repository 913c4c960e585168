// SPDX-License-Identifier: MPL-2.0
/*  test_report_queue: the stream writer's queue of whole reports, without
    sockets: the bounds, which report a full queue drops, the counters, the
    report being written and the written ones never dropped, delivery only
    on acknowledgement, and a whole resend after a reset.
*/
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "report_queue.h"

//  Pushes report "R<n>:" padded with '.' to len bytes.
static void s_push(report_queue *queue, unsigned n, size_t len, int expect)
{
    char text[256];
    assert_true(len < sizeof text);
    memset(text, '.', len);
    char head[16];
    int used = snprintf(head, sizeof head, "R%u:", n);
    memcpy(text, head, (size_t)used < len ? (size_t)used : len);
    assert_int_equal(report_queue_push(queue, text, len), expect);
}

//  The number of the report report_queue_unwritten starts (at its first byte).
static unsigned s_next_number(report_queue *queue)
{
    size_t len = 0;
    const char *bytes = report_queue_unwritten(queue, &len);
    assert_non_null(bytes);
    unsigned n = 0;
    assert_int_equal(sscanf(bytes, "R%u:", &n), 1);
    return n;
}

//  Writes the whole next report and returns its number.
static unsigned s_write_one(report_queue *queue)
{
    unsigned n = s_next_number(queue);
    size_t len = 0;
    report_queue_unwritten(queue, &len);
    assert_int_equal(report_queue_wrote(queue, len), 1);
    return n;
}

static void test_bounds_by_count_and_bytes(void **state)
{
    (void)state;
    assert_null(report_queue_new(0, 100));
    assert_null(report_queue_new(3, 0));
    report_queue *queue = report_queue_new(3, 100);
    assert_non_null(queue);
    for (unsigned i = 0; i < 5; i++)
        s_push(queue, i, 10, 0);
    const report_queue_counters *c = report_queue_get_counters(queue);
    assert_int_equal(report_queue_count(queue), 3);  // the count bound
    assert_int_equal(c->dropped, 2);
    assert_int_equal(c->pushed, 5);
    assert_int_equal(s_next_number(queue), 2);  // 0 and 1, the oldest, went
    s_push(queue, 5, 90, 0);                    // the byte bound: 20 + 90 > 100
    assert_int_equal(c->dropped, 4);
    assert_int_equal(report_queue_count(queue), 2);  // 4 (10 bytes) and 5 (90 bytes)
    assert_int_equal(report_queue_waiting_bytes(queue), 100);
    assert_int_equal(s_next_number(queue), 4);
    s_push(queue, 6, 101, -EMSGSIZE);  // larger than the queue alone: refused, nothing dropped
    assert_int_equal(c->too_big, 1);
    assert_int_equal(c->dropped, 4);
    assert_int_equal(report_queue_count(queue), 2);
    assert_int_equal(report_queue_push(queue, "x", 0), -EINVAL);
    report_queue_destroy(&queue);
    assert_null(queue);
    report_queue_destroy(&queue);  // harmless twice
}

//  The report being written, and the written ones, are never dropped: the
//  oldest WAITING report goes.
static void test_current_and_written_reports_are_protected(void **state)
{
    (void)state;
    report_queue *queue = report_queue_new(2, 1000);
    assert_non_null(queue);
    for (unsigned i = 0; i < 3; i++)
        s_push(queue, i, 20, 0);              // 0 is dropped at once: 1, 2 wait
    assert_int_equal(s_write_one(queue), 1);  // 1 written, unacknowledged
    size_t len = 0;
    report_queue_unwritten(queue, &len);
    assert_int_equal(report_queue_wrote(queue, 5), 0);  // 2 is current, 5 bytes out
    for (unsigned i = 3; i < 8; i++)
        s_push(queue, i, 20, 0);
    // Waiting: at most 2 (6 and 7); 1 (written) and 2 (current) stay.
    assert_int_equal(report_queue_written(queue), 1);
    assert_int_equal(report_queue_waiting(queue), 2);
    assert_int_equal(report_queue_count(queue), 4);
    assert_int_equal(report_queue_get_counters(queue)->dropped, 4);  // 0, 3, 4, 5
    const char *rest = report_queue_unwritten(queue, &len);
    assert_int_equal(len, 15);  // the current report resumes where it stopped
    assert_memory_equal(rest, "...............", 15);
    assert_int_equal(report_queue_wrote(queue, len), 1);
    assert_int_equal(s_write_one(queue), 6);
    assert_int_equal(s_write_one(queue), 7);
    assert_null(report_queue_unwritten(queue, &len));
    assert_int_equal(len, 0);
    report_queue_destroy(&queue);
}

//  Written is not delivered: reports leave only as the bytes still held by
//  the kernel shrink past their end.
static void test_delivery_on_acknowledgement(void **state)
{
    (void)state;
    report_queue *queue = report_queue_new(10, 1000);
    assert_non_null(queue);
    for (unsigned i = 0; i < 4; i++)
        s_push(queue, i, 10, 0);
    for (unsigned i = 0; i < 3; i++)
        s_write_one(queue);
    size_t len = 0;
    report_queue_unwritten(queue, &len);
    report_queue_wrote(queue, 4);  // 34 bytes out: 0, 1, 2 whole, 4 bytes of 3
    assert_int_equal(report_queue_unacknowledged_bytes(queue), 34);
    assert_int_equal(report_queue_acknowledge(queue, 34), 0);  // all still held
    assert_int_equal(report_queue_acknowledge(queue, 25), 0);  // 9 bytes of report 0 gone
    assert_int_equal(report_queue_acknowledge(queue, 24), 1);  // report 0 gone
    assert_int_equal(report_queue_acknowledge(queue, 5), 1);   // 1 gone, 9 bytes of 2
    assert_int_equal(report_queue_acknowledge(queue, 4), 1);   // 2 gone: 3 is current
    assert_int_equal(report_queue_count(queue), 1);
    assert_int_equal(report_queue_acknowledge(queue, 0), 0);  // 3 is not whole yet
    report_queue_unwritten(queue, &len);
    assert_int_equal(report_queue_wrote(queue, len), 1);
    assert_int_equal(report_queue_acknowledge(queue, 0), 1);
    assert_int_equal(report_queue_count(queue), 0);
    const report_queue_counters *c = report_queue_get_counters(queue);
    assert_int_equal(c->delivered, 4);
    assert_int_equal(c->bytes_written, 40);
    report_queue_destroy(&queue);
}

//  A reset: every report not acknowledged comes again whole, from the
//  oldest, before the ones that were waiting; counted as rewound.
static void test_rewind_resends_whole_from_the_oldest(void **state)
{
    (void)state;
    report_queue *queue = report_queue_new(3, 1000);
    assert_non_null(queue);
    for (unsigned i = 0; i < 6; i++) {  // more than the waiting bound, over time
        s_push(queue, i, 30, 0);
        if (i < 3)
            s_write_one(queue);
    }
    size_t len = 0;
    report_queue_unwritten(queue, &len);
    report_queue_wrote(queue, 7);                              // 3 is cut
    assert_int_equal(report_queue_acknowledge(queue, 67), 1);  // 0 delivered; 1, 2 held
    assert_int_equal(report_queue_rewind(queue), 3);           // 1, 2 and the cut 3
    assert_int_equal(report_queue_written(queue), 0);
    assert_int_equal(report_queue_unacknowledged_bytes(queue), 0);
    assert_int_equal(report_queue_waiting(queue), 5);  // above the bound after a rewind
    assert_int_equal(report_queue_waiting_bytes(queue), 150);
    for (unsigned want = 1; want <= 5; want++) {
        report_queue_unwritten(queue, &len);
        assert_int_equal(len, 30);  // whole, from its first byte
        assert_int_equal(s_write_one(queue), want);
    }
    // A push now drops nothing written: the waiting ones are none.
    s_push(queue, 6, 30, 0);
    assert_int_equal(report_queue_count(queue), 6);
    assert_int_equal(report_queue_acknowledge(queue, 0), 5);
    const report_queue_counters *c = report_queue_get_counters(queue);
    assert_int_equal(c->rewound, 3);
    assert_int_equal(c->delivered, 6);
    assert_int_equal(c->dropped, 0);
    // A rewind after a rewind with nothing written changes nothing.
    assert_int_equal(report_queue_rewind(queue), 0);
    assert_int_equal(report_queue_rewind(queue), 0);
    assert_int_equal(s_next_number(queue), 6);
    report_queue_destroy(&queue);
}

//  A report the transport refuses (a datagram too large) is abandoned,
//  counted, and the next one starts clean; after a rewind the bound drops the
//  oldest waiting ones (the rewound reports included) when a new one comes.
static void test_abandon_and_drops_after_rewind(void **state)
{
    (void)state;
    report_queue *queue = report_queue_new(2, 1000);
    assert_non_null(queue);
    s_push(queue, 0, 40, 0);
    s_push(queue, 1, 40, 0);
    size_t len = 0;
    report_queue_unwritten(queue, &len);
    report_queue_wrote(queue, 10);
    assert_int_equal(report_queue_abandon(queue), 1);
    assert_int_equal(s_next_number(queue), 1);
    report_queue_unwritten(queue, &len);
    assert_int_equal(len, 40);
    assert_int_equal(report_queue_abandon(queue), 1);  // not started: abandoned as well
    assert_int_equal(report_queue_abandon(queue), 0);  // nothing left
    assert_int_equal(report_queue_get_counters(queue)->abandoned, 2);
    assert_int_equal(report_queue_waiting_bytes(queue), 0);

    for (unsigned i = 2; i < 5; i++) {  // grows past its first capacity with written ones
        s_push(queue, i, 40, 0);
        s_write_one(queue);
    }
    assert_int_equal(report_queue_rewind(queue), 3);
    s_push(queue, 5, 40, 0);  // waiting 2, 3, 4 (above the bound of 2): 2 and 3 go
    const report_queue_counters *c = report_queue_get_counters(queue);
    assert_int_equal(c->dropped, 2);
    assert_int_equal(s_next_number(queue), 4);
    assert_int_equal(report_queue_count(queue), 2);
    report_queue_destroy(&queue);
}

//  Many written reports held at once (a big send buffer): the ring grows
//  and keeps the order.
static void test_many_unacknowledged(void **state)
{
    (void)state;
    report_queue *queue = report_queue_new(4, 100000);
    assert_non_null(queue);
    for (unsigned i = 0; i < 1000; i++) {
        s_push(queue, i, 12, 0);
        assert_int_equal(s_write_one(queue), i);
    }
    assert_int_equal(report_queue_written(queue), 1000);
    assert_int_equal(report_queue_acknowledge(queue, 12 * 500), 500);
    assert_int_equal(report_queue_rewind(queue), 500);
    for (unsigned i = 500; i < 1000; i++)
        assert_int_equal(s_write_one(queue), i);
    assert_int_equal(report_queue_acknowledge(queue, 0), 500);
    assert_int_equal(report_queue_get_counters(queue)->dropped, 0);
    report_queue_destroy(&queue);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_by_count_and_bytes),
        cmocka_unit_test(test_current_and_written_reports_are_protected),
        cmocka_unit_test(test_delivery_on_acknowledgement),
        cmocka_unit_test(test_rewind_resends_whole_from_the_oldest),
        cmocka_unit_test(test_abandon_and_drops_after_rewind),
        cmocka_unit_test(test_many_unacknowledged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
