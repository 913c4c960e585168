// SPDX-License-Identifier: MPL-2.0
/*  dash_model: what `serve` knows, without sockets: the latest report per
    producer, a ring of per-report figures for the chart, and the top hosts.

        dash_model *model = dash_model_new(DASH_MAX_PRODUCERS);
        dash_model_add(model, &msg, now_ms);      // takes the report over
        for (size_t i = 0; i < dash_model_size(model); i++)
            const dash_producer *p = dash_model_producer(model, i);
        dash_model_destroy(&model);

    A producer is its id (Header.producer_id). Its counters are those of its
    current run, raised field by field (never lowered) within the run, so a
    metric taken from them never decreases within a run; a report of a new
    run id starts them again from that report (a counter reset, which
    Prometheus handles). A report of the run just replaced is a straggler
    and is ignored (counted), so two runs cannot take turns.

    Bounds: at most max_producers producers (the one whose latest report is
    the oldest makes room, counted in producers_evicted); per producer at
    most DASH_HISTORY_MAX points, and none older than DASH_HISTORY_SPAN_US
    of capture time before the latest (one hour at one report a second).
*/
#ifndef TW_DASH_MODEL_H
#define TW_DASH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define DASH_MAX_PRODUCERS   256
#define DASH_HISTORY_MAX     3600
#define DASH_HISTORY_SPAN_US (3600LL * 1000000)

typedef struct dash_model dash_model;

//  One report's figures for the chart.
typedef struct {
    int64_t time_us;               // the report's capture time
    uint64_t stalled_now;          // receivers stalled at that time
    uint64_t zero_window_adverts;  // advertisements since the run's previous report
} dash_point;

typedef struct {
    char *id;                   // Header.producer_id, as sent
    uint64_t run_id;            // the current run
    uint64_t sequence;          // of the latest report
    Tcpwin__Report *report;     // the latest report (owned); never NULL
    Tcpwin__Counters counters;  // the run's counters, never lowered within it
    int64_t received_ms;        // the caller's clock when the latest arrived
    uint64_t reports_received;  // reports taken, every run
    uint64_t sequence_gaps;     // jumps in the report sequence within a run
    uint64_t reports_missed;    // reports missing inside those jumps
    uint64_t restarts;          // new run ids after the first
    uint64_t stale_reports;     // reports of the replaced run, or older ones, ignored
    dash_point *history;        // ring of DASH_HISTORY_MAX points
    size_t history_head;        // index of the oldest point
    size_t history_len;         // points held
} dash_producer;

typedef struct {
    uint64_t producers_evicted;  // producers forgotten to make room for a new one
    uint64_t refused;            // messages that were no report, or had no counters
} dash_model_counters;

//  Creates an empty model. Returns NULL when max_producers is 0 or out of
//  memory.
dash_model *dash_model_new(size_t max_producers);

//  Frees the model and the reports it holds; sets *self to NULL.
void dash_model_destroy(dash_model **self);

//  Offers one received message. A report that is taken over leaves *msg
//  zeroed (the model frees it later); otherwise *msg is left to the caller.
//  Returns 1 when taken, 0 when ignored (not a report, or stale: counted),
//  -ENOMEM.
int dash_model_add(dash_model *self, tw_message *msg, int64_t now_ms);

//  The number of producers held, and the i-th of them (in order of their
//  first report; NULL past the end).
size_t dash_model_size(const dash_model *self);
const dash_producer *dash_model_producer(const dash_model *self, size_t i);

//  The i-th point of a producer's history, oldest first (NULL past the end).
const dash_point *dash_producer_point(const dash_producer *p, size_t i);

//  Receivers stalled at the latest report: the producer's whole count, or
//  the listed ones plus those omitted when a producer does not fill it.
uint64_t dash_report_stalled_now(const Tcpwin__Report *report);

//  Fills out[0..k) with the latest report's hosts that stalled most (stall
//  time, then zero-window advertisements, then undershoot packets, then
//  address), most first. Returns how many were written (at most k).
size_t dash_producer_top_hosts(const dash_producer *p, size_t k, const Tcpwin__HostRow **out);

//  The model's own counters.
const dash_model_counters *dash_model_get_counters(const dash_model *self);

#endif
