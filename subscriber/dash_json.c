// SPDX-License-Identifier: MPL-2.0
/*  dash_json: JSON documents of the dashboard model.

    The report itself goes through json_lines, the one JSON emitter of the
    project, so /api/report and `print --format json` cannot disagree on a
    field name; only the envelope is written here.
*/
#include "dash_json.h"

#include "json_lines.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

void dash_json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else if (*p >= 0x80)
            fputs("\\ufffd", out);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

//  Writes the report (its rows already cut to DASH_ROWS_MAX and sorted, the
//  hosts that stalled most first: dash_model), or a shallow copy of it with
//  at most max_rows hosts and stalled flows: json_lines walks the copy's
//  counts. Returns 0 or -EIO.
static int s_report(FILE *out, const Tcpwin__Report *r, size_t max_rows)
{
    Tcpwin__Report bounded = *r;
    if (bounded.n_hosts > max_rows)
        bounded.n_hosts = max_rows;
    if (bounded.n_stalled > max_rows)
        bounded.n_stalled = max_rows;
    return tw_json_write(out, NULL, &bounded.base) < 0 ? -EIO : 0;
}

static int s_report_entry(FILE *out, const dash_producer *p, int64_t now_ms, size_t max_rows)
{
    const Tcpwin__Report *r = p->report;
    size_t hosts_shown = r->n_hosts > max_rows ? max_rows : r->n_hosts;
    size_t stalled_shown = r->n_stalled > max_rows ? max_rows : r->n_stalled;
    int64_t age_ms = now_ms - p->received_ms;
    fprintf(out,
            "{\"reportAgeSeconds\":%.3f,\"reportsReceived\":\"%" PRIu64
            "\",\"sequenceGaps\":\"%" PRIu64 "\",\"reportsMissed\":\"%" PRIu64
            "\",\"restarts\":\"%" PRIu64 "\",\"hostsOmitted\":%zu,\"stalledOmitted\":%zu,"
            "\"report\":",
            age_ms > 0 ? (double)age_ms / 1e3 : 0.0, p->reports_received, p->sequence_gaps,
            p->reports_missed, p->restarts, p->hosts_total - hosts_shown,
            p->stalled_total - stalled_shown);
    int rc = s_report(out, r, max_rows);
    fputc('}', out);
    return rc;
}

int dash_json_write_reports(FILE *out, const dash_model *model, int64_t now_ms, size_t max_rows)
{
    int rc = 0;
    fputs("{\"producers\":[", out);
    for (size_t i = 0; i < dash_model_size(model) && rc == 0; i++) {
        if (i)
            fputc(',', out);
        rc = s_report_entry(out, dash_model_producer(model, i), now_ms, max_rows);
    }
    fputs("]}\n", out);
    return rc ? rc : ferror(out) ? -EIO : 0;
}

int dash_json_write_history(FILE *out, const dash_model *model)
{
    fputs("{\"producers\":[", out);
    for (size_t i = 0; i < dash_model_size(model); i++) {
        const dash_producer *p = dash_model_producer(model, i);
        fputs(i ? ",{\"producerId\":" : "{\"producerId\":", out);
        dash_json_string(out, p->id);
        fputs(",\"points\":[", out);
        const dash_point *point;
        for (size_t j = 0; (point = dash_producer_point(p, j)); j++)
            fprintf(out, "%s[%.6f,%" PRIu64 ",%" PRIu64 "]", j ? "," : "",
                    (double)point->time_us / 1e6, point->stalled_now, point->zero_window_adverts);
        fputs("]}", out);
    }
    fputs("]}\n", out);
    return ferror(out) ? -EIO : 0;
}
