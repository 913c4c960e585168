// SPDX-License-Identifier: MPL-2.0
/*  test_stream_tracker: which messages are new, per (topic, run id,
    producer id), without sockets: baselines, duplicates, gaps and their
    lost counts, restarts, and the bound of the tables.
*/
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "stream_tracker.h"

#define REPORT "tcpwin.report"
#define FLOW   "tcpwin.flow"

static stream_tracker_event s_check_from(stream_tracker *tracker, const char *topic,
                                         const char *origin, const char *producer, uint64_t run,
                                         uint64_t sequence)
{
    stream_tracker_event event;
    assert_int_equal(stream_tracker_check(tracker, topic, origin, producer, run, sequence, &event),
                     0);
    return event;
}

static stream_tracker_event s_check(stream_tracker *tracker, const char *topic,
                                    const char *producer, uint64_t run, uint64_t sequence)
{
    return s_check_from(tracker, topic, NULL, producer, run, sequence);
}

//  The first message of a stream is its baseline, whatever its sequence (a
//  late joiner starts at the replayed latest report); then one by one.
static void test_new_stream_is_a_baseline(void **state)
{
    (void)state;
    stream_tracker *tracker = stream_tracker_new(0);
    assert_non_null(tracker);
    stream_tracker_event e = s_check(tracker, REPORT, "a", 7, 42);
    assert_int_equal(e.verdict, STREAM_TRACKER_NEW);
    assert_false(e.restarted);
    assert_false(e.reset);
    for (uint64_t s = 43; s < 50; s++)
        assert_int_equal(s_check(tracker, REPORT, "a", 7, s).verdict, STREAM_TRACKER_NEXT);
    const stream_tracker_counters *c = stream_tracker_get_counters(tracker);
    assert_int_equal(c->gaps + c->lost + c->duplicates + c->restarts + c->resets, 0);
    assert_int_equal(stream_tracker_size(tracker), 1);
    stream_tracker_destroy(&tracker);
    assert_null(tracker);
    stream_tracker_destroy(&tracker);  // harmless twice
}

//  A replay or a repeat (at or below the last sequence) is a duplicate, and
//  does not move the stream back.
static void test_duplicates(void **state)
{
    (void)state;
    stream_tracker *tracker = stream_tracker_new(0);
    assert_non_null(tracker);
    s_check(tracker, REPORT, "a", 1, 1);
    s_check(tracker, REPORT, "a", 1, 2);
    s_check(tracker, REPORT, "a", 1, 3);
    assert_int_equal(s_check(tracker, REPORT, "a", 1, 3).verdict, STREAM_TRACKER_DUPLICATE);
    assert_int_equal(s_check(tracker, REPORT, "a", 1, 1).verdict, STREAM_TRACKER_DUPLICATE);
    assert_int_equal(s_check(tracker, REPORT, "a", 1, 4).verdict, STREAM_TRACKER_NEXT);
    const stream_tracker_counters *c = stream_tracker_get_counters(tracker);
    assert_int_equal(c->duplicates, 2);
    assert_int_equal(c->gaps, 0);
    stream_tracker_destroy(&tracker);
}

//  A jump forward is a gap: the event says how many are missing after which
//  sequence; the counters add them up; the stream goes on from the new one.
static void test_gaps_and_lost_counts(void **state)
{
    (void)state;
    stream_tracker *tracker = stream_tracker_new(0);
    assert_non_null(tracker);
    s_check(tracker, REPORT, "a", 1, 10);
    stream_tracker_event e = s_check(tracker, REPORT, "a", 1, 14);
    assert_int_equal(e.verdict, STREAM_TRACKER_GAP);
    assert_int_equal(e.missing, 3);
    assert_int_equal(e.last, 10);
    assert_int_equal(s_check(tracker, REPORT, "a", 1, 15).verdict, STREAM_TRACKER_NEXT);
    e = s_check(tracker, REPORT, "a", 1, 115);
    assert_int_equal(e.verdict, STREAM_TRACKER_GAP);
    assert_int_equal(e.missing, 99);
    assert_int_equal(e.last, 15);
    assert_int_equal(s_check(tracker, REPORT, "a", 1, 100).verdict, STREAM_TRACKER_DUPLICATE);
    const stream_tracker_counters *c = stream_tracker_get_counters(tracker);
    assert_int_equal(c->gaps, 2);
    assert_int_equal(c->lost, 102);
    assert_int_equal(c->duplicates, 1);
    stream_tracker_destroy(&tracker);
}

//  Streams are apart by topic, by producer id (two producers on one host)
//  and by run id; a new run id of a known (topic, producer id) is a
//  restart, a new producer id is not.
static void test_streams_apart_and_restarts(void **state)
{
    (void)state;
    stream_tracker *tracker = stream_tracker_new(0);
    assert_non_null(tracker);
    s_check(tracker, REPORT, "host/1", 0xaa, 5);
    assert_int_equal(s_check(tracker, FLOW, "host/1", 0xaa, 900).verdict, STREAM_TRACKER_NEW);
    stream_tracker_event e = s_check(tracker, REPORT, "host/2", 0xbb, 5);
    assert_int_equal(e.verdict, STREAM_TRACKER_NEW);
    assert_false(e.restarted);  // another producer, not a restart
    assert_int_equal(s_check(tracker, REPORT, "host/1", 0xaa, 6).verdict, STREAM_TRACKER_NEXT);
    assert_int_equal(s_check(tracker, REPORT, "host/2", 0xbb, 6).verdict, STREAM_TRACKER_NEXT);

    e = s_check(tracker, REPORT, "host/1", 0xcc, 1);  // host/1 restarted: a new baseline
    assert_int_equal(e.verdict, STREAM_TRACKER_NEW);
    assert_true(e.restarted);
    assert_int_equal(e.previous_run, 0xaa);
    assert_int_equal(s_check(tracker, REPORT, "host/1", 0xcc, 2).verdict, STREAM_TRACKER_NEXT);
    // A late message of the old run is still judged in its own stream.
    assert_int_equal(s_check(tracker, REPORT, "host/1", 0xaa, 6).verdict, STREAM_TRACKER_DUPLICATE);
    const stream_tracker_counters *c = stream_tracker_get_counters(tracker);
    assert_int_equal(c->restarts, 1);
    assert_int_equal(c->gaps, 0);
    assert_int_equal(stream_tracker_size(tracker), 4);
    stream_tracker_destroy(&tracker);
}

//  At the bound both tables are cleared before the next message (counted,
//  said in its event): every stream then starts a new baseline, and a
//  restart across the clearing is not seen as one.
static void test_bound_resets_the_tables(void **state)
{
    (void)state;
    stream_tracker *tracker = stream_tracker_new(8);
    assert_non_null(tracker);
    for (uint64_t run = 1; run <= 8; run++) {  // a flood of run ids of one producer
        stream_tracker_event e = s_check(tracker, REPORT, "p", run, 1);
        assert_int_equal(e.verdict, STREAM_TRACKER_NEW);
        assert_false(e.reset);
        assert_int_equal(e.restarted, run > 1);
    }
    assert_int_equal(stream_tracker_size(tracker), 8);
    stream_tracker_event e = s_check(tracker, REPORT, "p", 8, 1);  // known before the reset
    assert_true(e.reset);
    assert_int_equal(e.verdict, STREAM_TRACKER_NEW);  // forgotten: a baseline again
    assert_false(e.restarted);
    assert_int_equal(stream_tracker_size(tracker), 1);
    const stream_tracker_counters *c = stream_tracker_get_counters(tracker);
    assert_int_equal(c->resets, 1);
    assert_int_equal(c->restarts, 7);
    assert_int_equal(c->duplicates, 0);

    // Many producers, one run each: the runs table is bounded the same way.
    stream_tracker *many = stream_tracker_new(4);
    assert_non_null(many);
    char name[16];
    int resets_seen = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "p%d", i);
        resets_seen += s_check(many, FLOW, name, 1, 1).reset;
    }
    assert_int_equal(resets_seen, 4);  // before the 5th, 9th, 13th and 17th
    assert_int_equal(stream_tracker_get_counters(many)->resets, 4);
    assert_true(stream_tracker_size(many) <= 4);
    stream_tracker_destroy(&many);
    stream_tracker_destroy(&tracker);
}

//  One message claiming sequence 2^64-1 (or any jump over the bound) is
//  counted and dropped; the real producer's next messages go on as before.
static void test_absurd_jump_does_not_poison_the_stream(void **state)
{
    (void)state;
    stream_tracker *tracker = stream_tracker_new(0);
    assert_non_null(tracker);
    s_check(tracker, REPORT, "victim", 9, 1);
    s_check(tracker, REPORT, "victim", 9, 2);
    stream_tracker_event e = s_check(tracker, REPORT, "victim", 9, UINT64_MAX);
    assert_int_equal(e.verdict, STREAM_TRACKER_IMPLAUSIBLE);
    assert_false(stream_tracker_is_new(&e));
    assert_int_equal(e.last, 2);
    e = s_check(tracker, REPORT, "victim", 9, 3);
    assert_int_equal(e.verdict, STREAM_TRACKER_NEXT);
    assert_true(stream_tracker_is_new(&e));
    // Just inside the bound is a gap; just over it is not.
    assert_int_equal(s_check(tracker, REPORT, "victim", 9, 3 + STREAM_TRACKER_MAX_JUMP).verdict,
                     STREAM_TRACKER_GAP);
    assert_int_equal(
        s_check(tracker, REPORT, "victim", 9, 3 + 2 * STREAM_TRACKER_MAX_JUMP + 1).verdict,
        STREAM_TRACKER_IMPLAUSIBLE);
    // Far backwards is implausible too; a near one is a duplicate.
    assert_int_equal(s_check(tracker, REPORT, "victim", 9, 1).verdict, STREAM_TRACKER_IMPLAUSIBLE);
    assert_int_equal(s_check(tracker, REPORT, "victim", 9, 2 + STREAM_TRACKER_MAX_JUMP).verdict,
                     STREAM_TRACKER_DUPLICATE);
    assert_int_equal(s_check(tracker, REPORT, "victim", 9, 4 + STREAM_TRACKER_MAX_JUMP).verdict,
                     STREAM_TRACKER_NEXT);
    const stream_tracker_counters *c = stream_tracker_get_counters(tracker);
    assert_int_equal(c->implausible, 3);
    assert_int_equal(c->gaps, 1);
    assert_int_equal(c->lost, STREAM_TRACKER_MAX_JUMP - 1);  // never 2^64 - something
    assert_int_equal(c->duplicates, 1);
    assert_int_equal(c->rebases, 0);
    stream_tracker_destroy(&tracker);
}

//  Scattered absurd sequences never move a stream; a consistent run of them
//  (a producer really past the bound, or a baseline that was the hostile
//  message) is followed after STREAM_TRACKER_ADOPT_AFTER messages.
static void test_consistent_run_of_jumps_is_followed(void **state)
{
    (void)state;
    stream_tracker *tracker = stream_tracker_new(0);
    assert_non_null(tracker);
    s_check(tracker, REPORT, "p", 1, UINT64_MAX);  // a hostile baseline
    for (int i = 0; i < 10; i++)                   // absurd, but not following each other
        assert_int_equal(s_check(tracker, REPORT, "p", 1, (uint64_t)i % 2 ? 7 : 1 << 30).verdict,
                         STREAM_TRACKER_IMPLAUSIBLE);
    assert_int_equal(s_check(tracker, REPORT, "p", 1, 8).verdict, STREAM_TRACKER_IMPLAUSIBLE);
    stream_tracker_event e = s_check(tracker, REPORT, "p", 1, 9);
    assert_int_equal(e.verdict, STREAM_TRACKER_NEW);  // 7, 8, 9: the real producer
    assert_true(e.rebased);
    assert_true(stream_tracker_is_new(&e));
    assert_int_equal(s_check(tracker, REPORT, "p", 1, 10).verdict, STREAM_TRACKER_NEXT);
    const stream_tracker_counters *c = stream_tracker_get_counters(tracker);
    assert_int_equal(c->implausible, 11);
    assert_int_equal(c->rebases, 1);
    assert_int_equal(c->lost, 0);
    stream_tracker_destroy(&tracker);
}

//  A message from one origin never touches a stream seen from another, even
//  under the same producer id and run id; nor is it a restart of it.
static void test_origins_are_apart(void **state)
{
    (void)state;
    stream_tracker *tracker = stream_tracker_new(0);
    assert_non_null(tracker);
    s_check_from(tracker, REPORT, "10.0.0.1", "victim", 5, 100);
    stream_tracker_event e = s_check_from(tracker, REPORT, "10.0.0.2", "victim", 5, 1000);
    assert_int_equal(e.verdict, STREAM_TRACKER_NEW);
    e = s_check_from(tracker, REPORT, "10.0.0.2", "victim", 6, 1);
    assert_true(e.restarted);  // a restart on its own origin only
    assert_int_equal(s_check_from(tracker, REPORT, "10.0.0.1", "victim", 5, 101).verdict,
                     STREAM_TRACKER_NEXT);
    // The origin's length is part of the key: no origin text can collide.
    assert_int_equal(s_check_from(tracker, REPORT, "10.0.0.1|", "victim", 5, 101).verdict,
                     STREAM_TRACKER_NEW);
    const stream_tracker_counters *c = stream_tracker_get_counters(tracker);
    assert_int_equal(c->restarts, 1);
    assert_int_equal(c->duplicates + c->gaps + c->implausible, 0);
    stream_tracker_destroy(&tracker);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_stream_is_a_baseline),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_gaps_and_lost_counts),
        cmocka_unit_test(test_streams_apart_and_restarts),
        cmocka_unit_test(test_bound_resets_the_tables),
        cmocka_unit_test(test_absurd_jump_does_not_poison_the_stream),
        cmocka_unit_test(test_consistent_run_of_jumps_is_followed),
        cmocka_unit_test(test_origins_are_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
