// SPDX-License-Identifier: MPL-2.0
/*  dash_json: the model as JSON, for /api/report (scripts) and /api/history
    (the web view's chart).

    /api/report:  {"producers":[{"reportAgeSeconds":1.5,"reportsReceived":"7",
                   "sequenceGaps":"0","reportsMissed":"0","restarts":"0",
                   "report":{...}}]}
    where "report" is the latest report exactly as `print --format json`
    writes it (common/wire/json_lines, without its "topic" member), but
    with at most max_rows hosts (those that stalled most, most first) and
    stalled flows (at most DASH_ROWS_MAX: all the model keeps); the
    envelope says how many rows were left out ("hostsOmitted",
    "stalledOmitted").
    /api/history: {"producers":[{"producerId":"h1","points":[[t,s,z],...]}]}
    with t the report's capture time in seconds, s the receivers stalled
    then, z the zero-window advertisements of that interval; oldest first.
    64-bit counts are strings, as in json_lines.
*/
#ifndef TW_DASH_JSON_H
#define TW_DASH_JSON_H

#include <stdint.h>
#include <stdio.h>

#include "dash_model.h"

//  Write the two documents to out. Return 0, or -EIO when a write failed.
int dash_json_write_reports(FILE *out, const dash_model *model, int64_t now_ms, size_t max_rows);
int dash_json_write_history(FILE *out, const dash_model *model);

//  Writes text as a JSON string: quote, backslash and control characters
//  escaped, bytes outside ASCII as U+FFFD (ids are host names).
void dash_json_string(FILE *out, const char *text);

#endif
