// SPDX-License-Identifier: MPL-2.0
/*  test_log_limit: at most TW_LOG_LIMIT_LINES lines per kind per window, the
    rest counted and said once the window is over; driven by a fake clock.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log_limit.h"

//  5,000 lines in one burst: a bounded number written, the rest counted.
static void test_burst_is_bounded_and_counted(void **state)
{
    (void)state;
    tw_log_limit limit = {0};
    int written = 0;
    for (int i = 0; i < 5000; i++)
        written += tw_log_limit_allow(&limit, 1000 + i / 10);  // 500 ms of lines
    assert_int_equal(written, TW_LOG_LIMIT_LINES);
    // Not said while the window lasts, then once.
    assert_int_equal(tw_log_limit_take_suppressed(&limit, 1000 + TW_LOG_LIMIT_WINDOW_MS - 1), 0);
    assert_int_equal(tw_log_limit_take_suppressed(&limit, 1000 + TW_LOG_LIMIT_WINDOW_MS),
                     5000 - TW_LOG_LIMIT_LINES);
    assert_int_equal(tw_log_limit_take_suppressed(&limit, 1000 + TW_LOG_LIMIT_WINDOW_MS), 0);
}

//  A new window gives new lines; rare lines are never suppressed.
static void test_windows_and_rare_lines(void **state)
{
    (void)state;
    tw_log_limit limit = {0};
    for (int i = 0; i < TW_LOG_LIMIT_LINES + 3; i++)
        tw_log_limit_allow(&limit, 0);
    assert_true(tw_log_limit_allow(&limit, TW_LOG_LIMIT_WINDOW_MS));
    assert_int_equal(tw_log_limit_take_suppressed(&limit, TW_LOG_LIMIT_WINDOW_MS), 3);
    tw_log_limit rare = {0};
    for (int64_t t = 0; t < 100 * TW_LOG_LIMIT_WINDOW_MS; t += TW_LOG_LIMIT_WINDOW_MS / 2)
        assert_true(tw_log_limit_allow(&rare, t));
    assert_int_equal(tw_log_limit_take_suppressed(&rare, INT64_MAX), 0);
}

//  At exit every held-back line is taken, its window over or not.
static void test_exit_takes_everything(void **state)
{
    (void)state;
    tw_log_limit limit = {0};
    for (int i = 0; i < TW_LOG_LIMIT_LINES + 7; i++)
        tw_log_limit_allow(&limit, 5);
    assert_int_equal(tw_log_limit_take_suppressed(&limit, 6), 0);
    assert_int_equal(tw_log_limit_take_suppressed(&limit, INT64_MAX), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_is_bounded_and_counted),
        cmocka_unit_test(test_windows_and_rare_lines),
        cmocka_unit_test(test_exit_takes_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
