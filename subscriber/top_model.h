// SPDX-License-Identifier: MPL-2.0
/*  top_model: what `tcpwin-subscriber top` shows, without a terminal.

        top_model *model = top_model_new(16);
        top_model_take(model, &msg, now_ms);      // each report received
        top_model_set_sort(model, TOP_SORT_RATIO);  // a key pressed
        top_model_layout(model, &rx_counters, rows, cols, now_ms, draw_line, ctx);
        top_model_destroy(&model);

    The model keeps the latest report of each producer run, sorts its rows
    for the chosen key, and lays the whole screen out as lines of printable
    ASCII no wider than the screen; top.c only hands those lines to ncurses.
    So sorting, formatting, clipping and the escaping of what a peer chose
    are tested here without a terminal (tests/test_top_model.c).

    Bounds: one report per producer run, at most max_producers of them; a
    new producer past the bound replaces the one silent for longest
    (counted in producers_evicted). A report holds at most the rows a
    producer sends (the receiver refuses more), so the memory is at most
    max_producers decoded reports and one sorted index per report.

    Producers are told apart by (producer id, run id): two producers that
    share a host name stay two sections. A new run of an id whose latest
    report was final replaces it (a clean restart); a producer that died
    without a final report stays on screen, its report age growing, until
    evicted.
*/
#ifndef TW_TOP_MODEL_H
#define TW_TOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "receiver.h"
#include "wire.h"

//  The default and the largest --max-producers.
#define TOP_MAX_PRODUCERS_DEFAULT 16
#define TOP_MAX_PRODUCERS_LIMIT   1024

//  The widest line the layout makes (a wider screen shows blank beyond it).
#define TOP_LINE_MAX 512

//  How the stalled receivers and the hosts are ordered; keys 1 to 4.
typedef enum {
    TOP_SORT_STALL,        // stalled for / host stall time, longest first
    TOP_SORT_RATIO,        // undershoots per packet (legacy winRelThCnt), highest first
    TOP_SORT_ZERO_WINDOW,  // zero-window adverts, most first
    TOP_SORT_IP,           // address then port, ascending
    TOP_SORT_COUNT
} top_sort;

//  What a line is, so the drawing can set it apart.
typedef enum { TOP_LINE_TITLE, TOP_LINE_HEADING, TOP_LINE_TEXT } top_line_kind;

//  Called once per screen row, top to bottom, with len <= width bytes of
//  printable ASCII (no NUL needed). Returns 0, or a negative errno that ends
//  the layout.
typedef int(top_line_fn)(void *ctx, int row, top_line_kind kind, const char *text, size_t len);

typedef struct {
    uint64_t reports;            // reports taken and shown
    uint64_t producers_seen;     // producer runs that got a section
    uint64_t producers_evicted;  // sections given up at the max_producers bound
    uint64_t held_paused;        // reports not applied while paused
    uint64_t no_memory;          // reports dropped for lack of memory
    uint64_t notes;              // log lines noted (the latest is shown)
} top_model_counters;

typedef struct top_model top_model;

//  Returns an empty model for at most max_producers producer runs (1 to
//  TOP_MAX_PRODUCERS_LIMIT), or NULL (bad bound, out of memory).
top_model *top_model_new(size_t max_producers);

//  Frees the model and every report it holds; sets *self to NULL.
void top_model_destroy(top_model **self);

//  Takes a received message: a report becomes its producer's latest (or,
//  while paused, is counted and freed); anything else is freed. Leaves
//  *msg zeroed either way. now_ms is a monotonic clock, for report ages.
//  Returns 0, or -ENOMEM (the report was dropped and counted).
int top_model_take(top_model *self, tw_message *msg, int64_t now_ms);

//  Sets the order of the rows (re-sorting what is held).
void top_model_set_sort(top_model *self, top_sort sort);

//  The order in use.
top_sort top_model_get_sort(const top_model *self);

//  The name of an order, as the title shows it.
const char *top_sort_name(top_sort sort);

//  Pauses (reports are then counted but not applied) or resumes.
void top_model_set_paused(top_model *self, bool paused);

//  True while paused.
bool top_model_paused(const top_model *self);

//  Keeps a line of our own log (stderr is the screen while the view runs)
//  to show under the counters: len bytes, bytes outside printable ASCII
//  shown as '?', cut at TOP_LINE_MAX.
void top_model_note(top_model *self, const char *text, size_t len);

//  Counters so far.
const top_model_counters *top_model_get_counters(const top_model *self);

//  Lays out a screen of height rows and width columns as of now_ms: calls
//  emit for rows 0, 1, ... (at most height of them, each at most width
//  bytes). rx may be NULL (no receive counters shown). Returns the number
//  of rows emitted, or the first negative value emit returned.
int top_model_layout(top_model *self, const receiver_counters *rx, int height, int width,
                     int64_t now_ms, top_line_fn *emit, void *ctx);

#endif
