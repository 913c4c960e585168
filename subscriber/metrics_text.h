// SPDX-License-Identifier: MPL-2.0
/*  metrics_text: the model as Prometheus text exposition (format 0.0.4).

        metrics_context c = {.receiver = counters, .top_k = 20, .now_ms = now};
        char *page = metrics_text_render(model, &c, &len);

    Naming follows Prometheus' rules: a tcpwin_ prefix, base units (seconds),
    _total on counters and only on them. The one label of the run figures
    is `producer` (its id); the per-host gauges add `host`, for the top_k
    hosts by stall time of each producer's latest report only, so a scan of
    a million addresses cannot become a million series (the rest is counted
    in tcpwin_host_series_omitted). Every family is written on every page
    (HELP and TYPE even with no producer yet), and every producer has every
    series from its first report on, at 0 when the figure is 0.
*/
#ifndef TW_METRICS_TEXT_H
#define TW_METRICS_TEXT_H

#include <stdint.h>
#include <stdio.h>

#include "dash_model.h"
#include "receiver.h"

//  The Content-Type Prometheus expects for this format.
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

//  The longest label value written; longer producer ids are cut there.
#define METRICS_MAX_LABEL 128

typedef struct {
    const receiver_counters *receiver;  // the subscriber's receive counters, or NULL
    uint64_t http_requests;             // requests the server answered
    uint64_t http_errors;               // of those, answered with a 4xx or 5xx status
    uint64_t http_cut_off;              // connections cut off by the request deadline
    uint64_t http_busy;                 // requests answered 503 for the bytes in flight
    size_t top_k;                       // per-host series per producer
    int64_t now_ms;                     // the clock of dash_model_add, for report ages
} metrics_context;

//  Writes the page to out. Returns 0, or -EIO when a write failed.
int metrics_text_write(FILE *out, const dash_model *model, const metrics_context *context);

//  The page in a new malloc'd, NUL-terminated string of *len bytes.
//  Returns NULL when out of memory.
char *metrics_text_render(const dash_model *model, const metrics_context *context, size_t *len);

//  Writes text as the inside of a label value: \ " and newline escaped,
//  valid UTF-8 as it is, other bytes and control characters as '?', at
//  most METRICS_MAX_LABEL bytes of text (never half a character). Two ids
//  alike once written keep only the first producer's series on a page
//  (tcpwin_duplicate_series_dropped), as does a host listed twice.
void metrics_text_label(FILE *out, const char *text);

#endif
