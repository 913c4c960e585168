/*  dash_json: JSON documents of the dashboard model.

    The report itself goes through json_lines, the one JSON emitter of the
    project, so /api/report and `print --format json` cannot disagree on a
    field name; only the envelope is written here.
*/
#include "dash_json.h"

#include "json_lines.h"

#include <errno.h>
#include <inttypes.h>

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

static void s_report_entry(FILE *out, const dash_producer *p, int64_t now_ms)
{
    int64_t age_ms = now_ms - p->received_ms;
    fprintf(out,
            "{\"reportAgeSeconds\":%.3f,\"reportsReceived\":\"%" PRIu64
            "\",\"sequenceGaps\":\"%" PRIu64 "\",\"reportsMissed\":\"%" PRIu64
            "\",\"restarts\":\"%" PRIu64 "\",\"report\":",
            age_ms > 0 ? (double)age_ms / 1e3 : 0.0, p->reports_received, p->sequence_gaps,
            p->reports_missed, p->restarts);
    if (tw_json_write(out, NULL, &p->report->base) < 0)
        return;  // ferror(out) tells the caller
    fputc('}', out);
}

int dash_json_write_reports(FILE *out, const dash_model *model, int64_t now_ms)
{
    fputs("{\"producers\":[", out);
    for (size_t i = 0; i < dash_model_size(model); i++) {
        if (i)
            fputc(',', out);
        s_report_entry(out, dash_model_producer(model, i), now_ms);
    }
    fputs("]}\n", out);
    return ferror(out) ? -EIO : 0;
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
