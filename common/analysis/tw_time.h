// SPDX-License-Identifier: MPL-2.0
/*  tw_time: saturating arithmetic on capture times, in int64 microseconds.

    Capture times come from files, and files lie: pcapng's if_tsoffset and
    if_tsresol let a record carry a time near the ends of int64, and a
    capture may hold one packet dated decades away from its neighbours. Plain
    int64 arithmetic on such times is undefined behaviour (and, as it wraps
    in practice, a boundary that lands in the past, so a report per packet).
    Every addition or subtraction of times in the analysis goes through
    these helpers instead: a result that does not fit is clamped to
    INT64_MIN or INT64_MAX, which every comparison then treats as "very
    early" or "very late", never as its opposite.

    Header only (static inline): the per-packet path uses them, and each is
    an add or a subtract and a rarely taken branch.
*/
#ifndef TW_TIME_H
#define TW_TIME_H

#include <errno.h>
#include <stdint.h>

#define TW_US_PER_S 1000000

//  a + b, clamped to [INT64_MIN, INT64_MAX].
static inline int64_t tw_time_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

//  a - b, clamped to [INT64_MIN, INT64_MAX].
static inline int64_t tw_time_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

//  The duration from `from` to `to`: 0 when `to` is earlier (a duration is
//  never negative), at most INT64_MAX.
static inline int64_t tw_time_since(int64_t from, int64_t to)
{
    return to > from ? tw_time_sub(to, from) : 0;
}

//  A time of sec seconds and usec microseconds (usec may be outside
//  0..999999; both may be negative) in microseconds. Returns 0, or -ERANGE
//  when it does not fit an int64: *us is then clamped to INT64_MIN or
//  INT64_MAX.
static inline int tw_time_from_sec_usec(int64_t sec, int64_t usec, int64_t *us)
{
    int64_t whole;
    if (__builtin_mul_overflow(sec, (int64_t)TW_US_PER_S, &whole)) {
        *us = sec > 0 ? INT64_MAX : INT64_MIN;
        return -ERANGE;
    }
    if (__builtin_add_overflow(whole, usec, us)) {
        *us = usec > 0 ? INT64_MAX : INT64_MIN;
        return -ERANGE;
    }
    return 0;
}

#endif
