// SPDX-License-Identifier: MPL-2.0
/*  number and program: the strict number parser every option uses, and the
    escaping of outside text before it is logged. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "number.h"
#include "program.h"

static void s_expect(const char *text, uint64_t min, uint64_t max, int rc, uint64_t value)
{
    uint64_t out = 777;
    int got = tw_number_parse(text, min, max, &out);
    if (got != rc || (rc == 0 && out != value) || (rc != 0 && out != 777))
        fail_msg("'%s' in [%llu, %llu]: rc %d, value %llu", text ? text : "(null)",
                 (unsigned long long)min, (unsigned long long)max, got, (unsigned long long)out);
}

static void test_accepts_decimal_numbers_in_range(void **state)
{
    (void)state;
    s_expect("0", 0, 10, 0, 0);
    s_expect("10", 0, 10, 0, 10);
    s_expect("007", 0, 10, 0, 7);
    s_expect("18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX);
}

static void test_refuses_everything_else(void **state)
{
    (void)state;
    s_expect("", 0, 10, -EINVAL, 0);
    s_expect(NULL, 0, 10, -EINVAL, 0);
    s_expect("-1", 0, 10, -EINVAL, 0);  // strtoull would wrap it to 2^64-1
    s_expect("+1", 0, 10, -EINVAL, 0);
    s_expect(" 1", 0, 10, -EINVAL, 0);
    s_expect("1 ", 0, 10, -EINVAL, 0);
    s_expect("0x10", 0, 100, -EINVAL, 0);
    s_expect("1e3", 0, 10000, -EINVAL, 0);
    s_expect("5s", 0, 10, -EINVAL, 0);
    s_expect("11", 0, 10, -ERANGE, 0);
    s_expect("0", 1, 10, -ERANGE, 0);
    s_expect("18446744073709551616", 0, UINT64_MAX, -ERANGE, 0);
    s_expect("99999999999999999999999999", 0, UINT64_MAX, -ERANGE, 0);
    s_expect("99999999999999999999999999x", 0, UINT64_MAX, -EINVAL, 0);
}

static void test_escape_defuses_control_characters(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(tw_escape("plain id-1", out, sizeof out), "plain id-1");
    assert_string_equal(tw_escape("a\nb", out, sizeof out), "a\\x0ab");
    assert_string_equal(tw_escape("\x1b[31mred", out, sizeof out), "\\x1b[31mred");
    assert_string_equal(tw_escape("back\\slash", out, sizeof out), "back\\x5cslash");
    assert_string_equal(tw_escape("\xff", out, sizeof out), "\\xff");
    char small[8];
    assert_string_equal(tw_escape("abcdefghijkl", small, sizeof small), "abcd...");
    assert_string_equal(tw_escape("\n\n\n\n", small, sizeof small), "\\x0a...");
    assert_true(strlen(tw_escape("", small, sizeof small)) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_decimal_numbers_in_range),
        cmocka_unit_test(test_refuses_everything_else),
        cmocka_unit_test(test_escape_defuses_control_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
