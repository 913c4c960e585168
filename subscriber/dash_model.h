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
    Of a report only what the page and /metrics show is kept: its host rows
    sorted once (the top-K order, dash_producer_top_hosts) and cut to the
    DASH_ROWS_MAX that stalled most, its first DASH_ROWS_MAX stalled flows
    and its counters; a 350,000-host report (75 MB decoded) keeps 1,000
    rows. What is kept is weighed (encoded size plus DASH_ROW_OVERHEAD per
    row: hostile rows may carry big fields); beyond DASH_BYTES_MAX in all,
    the producers heard of least lately are evicted (bytes_evicted), and a
    report that alone weighs more is refused (counted).
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
#define DASH_ROWS_MAX        1000
#define DASH_ROW_OVERHEAD    256
#define DASH_BYTES_MAX       (192u * 1024 * 1024)

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
    int64_t run_first_time_us;  // capture time of the current run's first report taken
    uint64_t sequence;          // of the latest report
    Tcpwin__Report *report;     // the latest report (owned, cut as above); never NULL
    size_t hosts_total;         // host rows the latest report had (report keeps the top ones)
    size_t stalled_total;       // stalled flows it listed (report keeps the first ones)
    uint64_t stalled_now;       // dash_report_stalled_now of the latest report, uncut
    size_t bytes;               // the weight of what is kept of the report
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
    uint64_t refused;            // messages that were no report, had no counters, or weighed
                                 // more than DASH_BYTES_MAX kept
    uint64_t bytes_evicted;      // of producers_evicted, those evicted for DASH_BYTES_MAX
    size_t bytes;                // the weight of every producer's kept report
} dash_model_counters;

//  Creates an empty model. Returns NULL when max_producers is 0 or out of
//  memory.
dash_model *dash_model_new(size_t max_producers);

//  Frees the model and the reports it holds; sets *self to NULL.
void dash_model_destroy(dash_model **self);

//  Offers one received message. A report that is taken over leaves *msg
//  zeroed (the model frees it later); otherwise *msg is left to the caller
//  (its report possibly cut already). Returns 1 when taken, 0 when ignored
//  (not a report, stale, or too heavy: counted), -ENOMEM.
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
//  address), most first: the first k of the rows sorted when the report
//  was taken, so a page costs k, not the report's size. Returns how many
//  were written (at most k, at most DASH_ROWS_MAX).
size_t dash_producer_top_hosts(const dash_producer *p, size_t k, const Tcpwin__HostRow **out);

//  Sets the bound of what all producers' kept reports weigh (DASH_BYTES_MAX
//  by default; tests lower it).
void dash_model_set_bytes_max(dash_model *self, size_t bytes_max);

//  The model's own counters.
const dash_model_counters *dash_model_get_counters(const dash_model *self);

#endif
