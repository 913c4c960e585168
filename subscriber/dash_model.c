// SPDX-License-Identifier: MPL-2.0
/*  dash_model: latest report, run counters, history ring and top hosts per
    producer.

    The counters are raised field by field through the Counters descriptor,
    so a field added to the schema is kept monotonic without touching this
    file; only the gauges (flows_active, flows_stalled_now, stalled_omitted) are copied as
    they come. Producers are few (one per --connect, or behind a relay), so
    they sit in an array searched linearly.
*/
#include "dash_model.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

struct dash_model {
    dash_producer **producers;  // max_producers slots, the first n used
    size_t n;                   // producers held
    size_t max_producers;       // bound of the table
    size_t bytes_max;           // bound of counters.bytes (DASH_BYTES_MAX)
    dash_model_counters counters;
};

//  The run a producer had before its current one, kept to ignore stragglers.
typedef struct {
    dash_producer public;  // first, so a dash_producer * is a s_entry *
    uint64_t previous_run_id;
    bool has_previous;
} s_entry;

dash_model *dash_model_new(size_t max_producers)
{
    if (max_producers == 0)
        return NULL;
    dash_model *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->producers = calloc(max_producers, sizeof *self->producers);
    if (!self->producers) {
        free(self);
        return NULL;
    }
    self->max_producers = max_producers;
    self->bytes_max = DASH_BYTES_MAX;
    return self;
}

static void s_producer_free(dash_producer *p)
{
    if (!p)
        return;
    if (p->report)
        protobuf_c_message_free_unpacked(&p->report->base, NULL);
    free(p->history);
    free(p->id);
    free(p);
}

void dash_model_destroy(dash_model **self)
{
    if (!self || !*self)
        return;
    for (size_t i = 0; i < (*self)->n; i++)
        s_producer_free((*self)->producers[i]);
    free((*self)->producers);
    free(*self);
    *self = NULL;
}

static bool s_is_gauge(const char *field)
{
    return strcmp(field, "flows_active") == 0 || strcmp(field, "flows_stalled_now") == 0 ||
           strcmp(field, "stalled_omitted") == 0;
}

//  Raises every counter field of into to at least the one of from; gauges
//  are copied.
static void s_raise_counters(Tcpwin__Counters *into, const Tcpwin__Counters *from)
{
    const ProtobufCMessageDescriptor *d = &tcpwin__counters__descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *dst = (char *)into + f->offset;
        const char *src = (const char *)from + f->offset;
        if (f->type == PROTOBUF_C_TYPE_UINT64) {
            uint64_t a, b;
            memcpy(&a, dst, sizeof a);
            memcpy(&b, src, sizeof b);
            if (b > a || s_is_gauge(f->name))
                memcpy(dst, &b, sizeof b);
        } else if (f->type == PROTOBUF_C_TYPE_INT64) {
            int64_t a, b;
            memcpy(&a, dst, sizeof a);
            memcpy(&b, src, sizeof b);
            if (b > a || s_is_gauge(f->name))
                memcpy(dst, &b, sizeof b);
        }
    }
}

uint64_t dash_report_stalled_now(const Tcpwin__Report *report)
{
    const Tcpwin__Counters *c = report->counters;
    uint64_t listed = report->n_stalled + (c ? c->stalled_omitted : 0);
    uint64_t whole = c ? c->flows_stalled_now : 0;
    return whole > listed ? whole : listed;
}

//  Negative when a stalled more than b (comes first).
static int s_compare_hosts(const Tcpwin__HostRow *a, const Tcpwin__HostRow *b)
{
    if (a->stall_us != b->stall_us)
        return a->stall_us > b->stall_us ? -1 : 1;
    if (a->zero_window_adverts != b->zero_window_adverts)
        return a->zero_window_adverts > b->zero_window_adverts ? -1 : 1;
    if (a->undershoot_packets != b->undershoot_packets)
        return a->undershoot_packets > b->undershoot_packets ? -1 : 1;
    if (a->ip.len != b->ip.len)
        return a->ip.len < b->ip.len ? -1 : 1;
    return a->ip.len ? memcmp(a->ip.data, b->ip.data, a->ip.len) : 0;
}

static int s_compare_host_pointers(const void *a, const void *b)
{
    return s_compare_hosts(*(const Tcpwin__HostRow *const *)a, *(const Tcpwin__HostRow *const *)b);
}

//  Frees the rows of a repeated field past keep and shrinks its array (a
//  350,000-row report's pointers alone are 2.7 MB). Rows were unpacked
//  with malloc (tw_message_decode), so each is freed on its own.
static void s_cut_rows(ProtobufCMessage **rows, size_t *n, size_t keep, void **array)
{
    if (*n <= keep)
        return;
    for (size_t i = keep; i < *n; i++)
        protobuf_c_message_free_unpacked(rows[i], NULL);
    *n = keep;
    void *smaller = realloc(*array, (keep ? keep : 1) * sizeof *rows);
    if (smaller)
        *array = smaller;  // else the larger array is kept: still valid
}

//  Rows freed by a cut beyond which the freed memory is handed back.
#define DASH_TRIM_ROWS 10000

//  What is kept of a report, measured before it was cut.
typedef struct {
    size_t hosts_total;
    size_t stalled_total;
    uint64_t stalled_now;
    size_t bytes;
} s_kept;

//  Sorts the report's hosts in the top-K order once, keeps the first
//  DASH_ROWS_MAX of them and of its stalled flows, and weighs the rest.
static s_kept s_cut(Tcpwin__Report *r)
{
    s_kept kept = {.hosts_total = r->n_hosts,
                   .stalled_total = r->n_stalled,
                   .stalled_now = dash_report_stalled_now(r)};
    if (r->n_hosts > 1)
        qsort(r->hosts, r->n_hosts, sizeof *r->hosts, s_compare_host_pointers);
    s_cut_rows((ProtobufCMessage **)r->hosts, &r->n_hosts, DASH_ROWS_MAX, (void **)&r->hosts);
    s_cut_rows((ProtobufCMessage **)r->stalled, &r->n_stalled, DASH_ROWS_MAX, (void **)&r->stalled);
#ifdef __GLIBC__
    // The kept rows lie scattered among the freed ones, so glibc cannot
    // shrink the heap by itself: a 340,000-host report left serve at 82 MB
    // resident, 15 MB after this.
    if (kept.hosts_total + kept.stalled_total > DASH_TRIM_ROWS)
        malloc_trim(0);
#endif
    kept.bytes = protobuf_c_message_get_packed_size(&r->base) +
                 (1 + r->n_hosts + r->n_stalled) * (size_t)DASH_ROW_OVERHEAD;
    return kept;
}

static void s_history_push(dash_producer *p, dash_point point)
{
    // The capture clock may step back (a new run, a lying capture): the
    // chart's points stay in time order by starting again.
    if (p->history_len > 0) {
        const dash_point *last = dash_producer_point(p, p->history_len - 1);
        if (point.time_us < last->time_us)
            p->history_len = 0;
    }
    if (p->history_len == DASH_HISTORY_MAX) {
        p->history_head = (p->history_head + 1) % DASH_HISTORY_MAX;
        p->history_len--;
    }
    p->history[(p->history_head + p->history_len) % DASH_HISTORY_MAX] = point;
    p->history_len++;
    // Hostile capture times may be anywhere in int64_t: the span saturates.
    int64_t span;
    while (p->history_len > 1 &&
           (__builtin_sub_overflow(point.time_us, p->history[p->history_head].time_us, &span) ||
            span > DASH_HISTORY_SPAN_US)) {
        p->history_head = (p->history_head + 1) % DASH_HISTORY_MAX;
        p->history_len--;
    }
}

static dash_producer *s_find(const dash_model *self, const char *id)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->producers[i]->id, id) == 0)
            return self->producers[i];
    return NULL;
}

//  Forgets the producer heard of least lately, other than keep.
static void s_evict_oldest(dash_model *self, const dash_producer *keep)
{
    size_t oldest = self->n;
    for (size_t i = 0; i < self->n; i++)
        if (self->producers[i] != keep &&
            (oldest == self->n ||
             self->producers[i]->received_ms < self->producers[oldest]->received_ms))
            oldest = i;
    if (oldest == self->n)
        return;
    self->counters.bytes -= self->producers[oldest]->bytes;
    s_producer_free(self->producers[oldest]);
    memmove(&self->producers[oldest], &self->producers[oldest + 1],
            (self->n - oldest - 1) * sizeof *self->producers);
    self->n--;
    self->counters.producers_evicted++;
}

static dash_producer *s_create(dash_model *self, const char *id)
{
    s_entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->public.id = strdup(id);
    e->public.history = calloc(DASH_HISTORY_MAX, sizeof *e->public.history);
    if (!e->public.id || !e->public.history) {
        s_producer_free(&e->public);
        return NULL;
    }
    if (self->n == self->max_producers)
        s_evict_oldest(self, NULL);
    self->producers[self->n++] = &e->public;
    return &e->public;
}

//  Decides what a report of run_id and sequence means for p. Returns 1 for
//  a report of the current run, 2 for a new run, 0 for a stale one.
static int s_classify(const dash_producer *p, uint64_t run_id, uint64_t sequence)
{
    const s_entry *e = (const s_entry *)p;
    if (!p->report)
        return 2;
    if (run_id == p->run_id)
        return sequence > p->sequence ? 1 : 0;
    if (e->has_previous && run_id == e->previous_run_id)
        return 0;
    return 2;
}

//  Evicts the producers heard of least lately, other than p, until p's
//  report of the given weight fits in bytes_max.
static void s_make_room(dash_model *self, const dash_producer *p, size_t bytes)
{
    while (self->n > 1 && self->counters.bytes - p->bytes + bytes > self->bytes_max) {
        s_evict_oldest(self, p);
        self->counters.bytes_evicted++;
    }
}

static void s_take(dash_model *self, dash_producer *p, Tcpwin__Report *report, int kind,
                   const s_kept *kept, int64_t now_ms)
{
    s_entry *e = (s_entry *)p;
    const Tcpwin__Header *h = report->header;
    uint64_t previous_zwa = p->counters.zero_window_adverts;
    if (kind == 2) {
        if (p->report) {
            e->previous_run_id = p->run_id;
            e->has_previous = true;
            p->restarts++;
        }
        tcpwin__counters__init(&p->counters);
        previous_zwa = 0;
        p->run_id = h->run_id;
        p->run_first_time_us = report->time_us;
    } else if (h->sequence > p->sequence + 1) {
        p->sequence_gaps++;
        p->reports_missed += h->sequence - p->sequence - 1;
    }
    s_raise_counters(&p->counters, report->counters);
    if (p->report)
        protobuf_c_message_free_unpacked(&p->report->base, NULL);
    p->report = report;
    p->hosts_total = kept->hosts_total;
    p->stalled_total = kept->stalled_total;
    p->stalled_now = kept->stalled_now;
    self->counters.bytes = self->counters.bytes - p->bytes + kept->bytes;
    p->bytes = kept->bytes;
    p->sequence = h->sequence;
    p->received_ms = now_ms;
    p->reports_received++;
    s_history_push(
        p, (dash_point){.time_us = report->time_us,
                        .stalled_now = kept->stalled_now,
                        .zero_window_adverts = p->counters.zero_window_adverts - previous_zwa});
}

int dash_model_add(dash_model *self, tw_message *msg, int64_t now_ms)
{
    if (msg->kind != TW_MSG_REPORT || !msg->report || !msg->report->header ||
        !msg->report->counters) {
        self->counters.refused++;
        return 0;
    }
    s_kept kept = s_cut(msg->report);
    if (kept.bytes > self->bytes_max) {
        self->counters.refused++;
        return 0;
    }
    const Tcpwin__Header *h = msg->report->header;
    const char *id = h->producer_id ? h->producer_id : "";
    dash_producer *p = s_find(self, id);
    if (!p && !(p = s_create(self, id)))
        return -ENOMEM;
    int kind = s_classify(p, h->run_id, h->sequence);
    if (kind == 0) {
        p->stale_reports++;
        return 0;
    }
    s_make_room(self, p, kept.bytes);
    s_take(self, p, msg->report, kind, &kept, now_ms);
    msg->report = NULL;
    return 1;
}

size_t dash_model_size(const dash_model *self)
{
    return self->n;
}

const dash_producer *dash_model_producer(const dash_model *self, size_t i)
{
    return i < self->n ? self->producers[i] : NULL;
}

const dash_point *dash_producer_point(const dash_producer *p, size_t i)
{
    return i < p->history_len ? &p->history[(p->history_head + i) % DASH_HISTORY_MAX] : NULL;
}

size_t dash_producer_top_hosts(const dash_producer *p, size_t k, const Tcpwin__HostRow **out)
{
    size_t n = k < p->report->n_hosts ? k : p->report->n_hosts;
    for (size_t i = 0; i < n; i++)
        out[i] = p->report->hosts[i];
    return n;
}

void dash_model_set_bytes_max(dash_model *self, size_t bytes_max)
{
    self->bytes_max = bytes_max;
}

const dash_model_counters *dash_model_get_counters(const dash_model *self)
{
    return &self->counters;
}
