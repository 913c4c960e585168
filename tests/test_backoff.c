// SPDX-License-Identifier: MPL-2.0
/*  test_backoff: the retry schedule shared by the stream writer's TCP
    reconnections and UDP send pauses. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

//  The bridge's schedule: 100 ms doubling to 5 s, then 5 s for ever.
static void test_doubles_to_the_ceiling_and_stays(void **state)
{
    (void)state;
    const int expected[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
    int delay = 100;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        assert_int_equal(delay, expected[i]);
        delay = tw_backoff_next(delay, 100, 5000);
    }
}

//  Below the floor (0: never waited yet) the floor comes first.
static void test_starts_at_the_floor(void **state)
{
    (void)state;
    assert_int_equal(tw_backoff_next(0, 100, 5000), 100);
    assert_int_equal(tw_backoff_next(-7, 100, 5000), 100);
    assert_int_equal(tw_backoff_next(99, 100, 5000), 100);
    assert_int_equal(tw_backoff_next(100, 100, 5000), 200);
}

//  Exactly half the ceiling doubles to it; a ceiling near INT_MAX does not
//  overflow.
static void test_edges(void **state)
{
    (void)state;
    assert_int_equal(tw_backoff_next(2500, 100, 5000), 5000);
    assert_int_equal(tw_backoff_next(2501, 100, 5000), 5000);
    assert_int_equal(tw_backoff_next(9000, 100, 5000), 5000);  // above the ceiling
    assert_int_equal(tw_backoff_next(INT_MAX / 2 + 1, 1, INT_MAX), INT_MAX);
    assert_int_equal(tw_backoff_next(INT_MAX, 1, INT_MAX), INT_MAX);
    assert_int_equal(tw_backoff_next(7, 7, 7), 7);  // a fixed delay
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_to_the_ceiling_and_stays),
        cmocka_unit_test(test_starts_at_the_floor),
        cmocka_unit_test(test_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
