// SPDX-License-Identifier: MPL-2.0
/*  log_limit: a fixed window per kind of line; no clock read here. */
#include "log_limit.h"

static bool s_window_over(const tw_log_limit *self, int64_t now_ms)
{
    return !self->open || now_ms - self->window_start >= TW_LOG_LIMIT_WINDOW_MS ||
           now_ms < self->window_start;
}

bool tw_log_limit_allow(tw_log_limit *self, int64_t now_ms)
{
    if (s_window_over(self, now_ms)) {
        self->open = true;
        self->window_start = now_ms;
        self->lines = 0;
        self->due += self->suppressed;
        self->suppressed = 0;
    }
    if (self->lines < TW_LOG_LIMIT_LINES) {
        self->lines++;
        return true;
    }
    self->suppressed++;
    return false;
}

uint64_t tw_log_limit_take_suppressed(tw_log_limit *self, int64_t now_ms)
{
    if (now_ms == INT64_MAX || s_window_over(self, now_ms)) {
        self->due += self->suppressed;
        self->suppressed = 0;
    }
    uint64_t n = self->due;
    self->due = 0;
    return n;
}
