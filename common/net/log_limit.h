// SPDX-License-Identifier: MPL-2.0
/*  log_limit: at most a few log lines of one kind per window, and a count
    of those held back.

        tw_log_limit limit = {0};
        uint64_t n = tw_log_limit_take_suppressed(&limit, now_ms);
        if (n) tw_log("... %llu similar lines suppressed", n);
        if (tw_log_limit_allow(&limit, now_ms)) tw_log("the line");

    A remote peer decides how often we would log (every new run id is a
    "restarted" line, every gap a "gap" line): without a bound, 5,000 run
    ids are 5,000 lines on stderr. Each kind of line gets its own
    tw_log_limit: TW_LOG_LIMIT_LINES lines per TW_LOG_LIMIT_WINDOW_MS, then
    silence, counted; once that window is over the caller says how many
    lines it held back, in one line. Pure: the caller passes the time (any
    monotonic clock in milliseconds), so a test drives it without waiting.
*/
#ifndef TW_LOG_LIMIT_H
#define TW_LOG_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define TW_LOG_LIMIT_LINES     10
#define TW_LOG_LIMIT_WINDOW_MS 10000

//  One kind of line; zero it to start (no window open yet).
typedef struct {
    int64_t window_start;  // when the current window opened (ms)
    unsigned lines;        // lines allowed in the current window
    bool open;             // a window was opened
    uint64_t suppressed;   // lines held back in the current window
    uint64_t due;          // lines held back in windows now over, not yet said
} tw_log_limit;

//  True when one more line may be written at now_ms; false when the window's
//  lines are used up (the line is counted as suppressed).
bool tw_log_limit_allow(tw_log_limit *self, int64_t now_ms);

//  The number of lines held back in a window that is over at now_ms (0 when
//  none, or while their window lasts); they are forgotten once returned.
//  Pass INT64_MAX at exit to take every one.
uint64_t tw_log_limit_take_suppressed(tw_log_limit *self, int64_t now_ms);

#endif
