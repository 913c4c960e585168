// SPDX-License-Identifier: MPL-2.0
/*  backoff: doubling with a floor and a ceiling, nothing else (no jitter: a
    single bridge reconnecting to a single sink has no herd to spread). */
#include "backoff.h"

int tw_backoff_next(int current_ms, int min_ms, int max_ms)
{
    if (current_ms < min_ms)
        return min_ms;
    // Compare before doubling, so a ceiling near INT_MAX cannot overflow.
    if (current_ms > max_ms / 2)
        return max_ms;
    return current_ms * 2;
}
