// SPDX-License-Identifier: MPL-2.0
/*  top_model: the producers' latest reports, sorted, laid out as text.

    Design: a report arrives every interval and the screen is drawn more
    often (each second, each key), so the sorting happens when a report is
    taken or the order changes, into an index of pointers per report; the
    layout then only walks the first rows of each index. The producers are
    kept in (producer id, run id) order, so sections do not jump around.

    Everything a peer chose is shown through tw_escape (its producer id) or
    formatted from numbers and address bytes (ip_text; an address of another
    length shows as "?"), so every byte handed to the terminal is printable
    ASCII, and every line is cut to the width of the screen here.

    The new stall figures (stalled_us, probes, zero-window adverts, ...)
    may be 0 from a producer that does not fill them yet: they are shown as
    they come, except "stalled for", which falls back to the report's time
    minus the start of the run of undershoots (since_us) when stalled_us is 0.
*/
#include "top_model.h"

#include "ip_text.h"
#include "program.h"
#include "tw_time.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Room for a producer id as shown: escaped, cut with "..." beyond.
#define ID_TEXT 48
//  Room for "[address]:port" and its NUL.
#define ENDPOINT_TEXT (TW_IP_TEXT_SIZE + 16)
//  The fewest rows a producer's section takes: its three lines, two column
//  headings with a row each, and the blank line after it.
#define SECTION_MIN 8

#define US_PER_MINUTE (INT64_C(60) * TW_US_PER_S)
#define US_PER_HOUR   (INT64_C(3600) * TW_US_PER_S)
#define US_PER_DAY    (INT64_C(86400) * TW_US_PER_S)

//  A stalled flow and its "stalled for", worked out once per report.
typedef struct {
    const Tcpwin__StalledFlow *row;
    int64_t stalled_us;  // -1 when unknown
} s_stalled;

typedef struct {
    tw_message msg;                 // the latest report (owned)
    char id[ID_TEXT];               // its producer id, escaped
    int64_t received_ms;            // when it came (monotonic clock)
    uint64_t reports;               // reports of this run taken
    const Tcpwin__HostRow **hosts;  // msg's hosts, in the model's order
    s_stalled *stalled;             // msg's stalled flows, in the model's order
} s_producer;

struct top_model {
    s_producer *producers;     // max_producers slots, the first n_producers used
    size_t n_producers;        // slots in use, in (producer id, run id) order
    size_t max_producers;      // the bound
    top_sort sort;             // order of every index
    bool paused;               // reports counted, not applied
    int64_t last_received_ms;  // when a report was last taken; 0: never
    char note[TOP_LINE_MAX];   // the latest log line, printable ASCII
    top_model_counters counters;
};

static const char *const s_sort_names[TOP_SORT_COUNT] = {"stall time", "ratio",
                                                         "zero-window adverts", "address"};

//  A report's header fields, whatever a test or a peer left out.
static const char *s_producer_id(const Tcpwin__Report *report)
{
    return report->header && report->header->producer_id ? report->header->producer_id : "";
}

static uint64_t s_run_id(const Tcpwin__Report *report)
{
    return report->header ? report->header->run_id : 0;
}

//  ---------------------------------------------------------------------
//  Orders. Each one ends on the address, so equal rows keep one order.

static int s_cmp_u64_desc(uint64_t a, uint64_t b)
{
    return a < b ? 1 : a > b ? -1 : 0;
}

static int s_cmp_i64_desc(int64_t a, int64_t b)
{
    return a < b ? 1 : a > b ? -1 : 0;
}

//  Highest first; a NaN (a peer may send one) after every number.
static int s_cmp_ratio_desc(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) - isnan(b);
    return a < b ? 1 : a > b ? -1 : 0;
}

//  IPv4 before IPv6, then byte order.
static int s_cmp_address(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    if (a.len != b.len)
        return a.len < b.len ? -1 : 1;
    return a.len ? memcmp(a.data, b.data, a.len) : 0;
}

static int s_cmp_u32(uint32_t a, uint32_t b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

static int s_host_compare(top_sort sort, const Tcpwin__HostRow *a, const Tcpwin__HostRow *b)
{
    int c = 0;
    if (sort == TOP_SORT_STALL)
        c = s_cmp_i64_desc(a->stall_us, b->stall_us);
    else if (sort == TOP_SORT_ZERO_WINDOW)
        c = s_cmp_u64_desc(a->zero_window_adverts, b->zero_window_adverts);
    if (!c && sort != TOP_SORT_IP)
        c = s_cmp_ratio_desc(a->win_rel_th_cnt, b->win_rel_th_cnt);
    if (!c)
        c = s_cmp_address(a->ip, b->ip);
    return c ? c : s_cmp_u32(a->worst_src_port, b->worst_src_port);
}

#define HOST_ORDER(name, sort)                                                                     \
    static int name(const void *a, const void *b)                                                  \
    {                                                                                              \
        return s_host_compare(sort, *(const Tcpwin__HostRow *const *)a,                            \
                              *(const Tcpwin__HostRow *const *)b);                                 \
    }
HOST_ORDER(s_host_by_stall, TOP_SORT_STALL)
HOST_ORDER(s_host_by_ratio, TOP_SORT_RATIO)
HOST_ORDER(s_host_by_zero_window, TOP_SORT_ZERO_WINDOW)
HOST_ORDER(s_host_by_address, TOP_SORT_IP)

static double s_flow_ratio(const Tcpwin__StalledFlow *f)
{
    return f->tcp_packets ? (double)f->undershoot_packets / (double)f->tcp_packets : 0.0;
}

static int s_stalled_compare(top_sort sort, const s_stalled *a, const s_stalled *b)
{
    int c = 0;
    if (sort == TOP_SORT_STALL)
        c = s_cmp_i64_desc(a->stalled_us, b->stalled_us);
    else if (sort == TOP_SORT_RATIO)
        c = s_cmp_ratio_desc(s_flow_ratio(a->row), s_flow_ratio(b->row));
    else if (sort == TOP_SORT_ZERO_WINDOW)
        c = s_cmp_u64_desc(a->row->zero_window_adverts, b->row->zero_window_adverts);
    if (!c)
        c = s_cmp_address(a->row->src_ip, b->row->src_ip);
    if (!c)
        c = s_cmp_u32(a->row->src_port, b->row->src_port);
    if (!c)
        c = s_cmp_address(a->row->dst_ip, b->row->dst_ip);
    return c ? c : s_cmp_u32(a->row->dst_port, b->row->dst_port);
}

#define STALLED_ORDER(name, sort)                                                                  \
    static int name(const void *a, const void *b)                                                  \
    {                                                                                              \
        return s_stalled_compare(sort, a, b);                                                      \
    }
STALLED_ORDER(s_stalled_by_stall, TOP_SORT_STALL)
STALLED_ORDER(s_stalled_by_ratio, TOP_SORT_RATIO)
STALLED_ORDER(s_stalled_by_zero_window, TOP_SORT_ZERO_WINDOW)
STALLED_ORDER(s_stalled_by_address, TOP_SORT_IP)

typedef int(s_order_fn)(const void *, const void *);
static s_order_fn *const s_host_orders[TOP_SORT_COUNT] = {s_host_by_stall, s_host_by_ratio,
                                                          s_host_by_zero_window, s_host_by_address};
static s_order_fn *const s_stalled_orders[TOP_SORT_COUNT] = {
    s_stalled_by_stall, s_stalled_by_ratio, s_stalled_by_zero_window, s_stalled_by_address};

//  ---------------------------------------------------------------------
//  Producers

//  How long the receiver has been stalled as of the report: the producer's
//  figure, or the report's time minus the start of the stall. -1: unknown.
static int64_t s_stalled_for(const Tcpwin__Report *report, const Tcpwin__StalledFlow *f)
{
    if (f->stalled_us > 0)
        return f->stalled_us;
    int64_t since = f->stall_since_us ? f->stall_since_us : f->since_us;
    if (since == 0)
        return -1;
    int64_t elapsed = tw_time_sub(report->time_us, since);
    return elapsed >= 0 ? elapsed : -1;
}

static void s_sort(s_producer *p, top_sort sort)
{
    const Tcpwin__Report *r = p->msg.report;
    if (r->n_hosts > 1)
        qsort(p->hosts, r->n_hosts, sizeof *p->hosts, s_host_orders[sort]);
    if (r->n_stalled > 1)
        qsort(p->stalled, r->n_stalled, sizeof *p->stalled, s_stalled_orders[sort]);
}

//  Builds p's indexes over its report. Returns 0 or -ENOMEM.
static int s_index(s_producer *p, top_sort sort)
{
    const Tcpwin__Report *r = p->msg.report;
    if (r->n_hosts && !(p->hosts = calloc(r->n_hosts, sizeof *p->hosts)))
        return -ENOMEM;
    if (r->n_stalled && !(p->stalled = calloc(r->n_stalled, sizeof *p->stalled)))
        return -ENOMEM;
    for (size_t i = 0; i < r->n_hosts; i++)
        p->hosts[i] = r->hosts[i];
    for (size_t i = 0; i < r->n_stalled; i++)
        p->stalled[i] = (s_stalled){r->stalled[i], s_stalled_for(r, r->stalled[i])};
    s_sort(p, sort);
    return 0;
}

static void s_producer_free(s_producer *p)
{
    tw_message_free(&p->msg);
    free(p->hosts);
    free(p->stalled);
    memset(p, 0, sizeof *p);
}

//  (producer id, run id) order.
static int s_producer_compare(const Tcpwin__Report *a, const Tcpwin__Report *b)
{
    int c = strcmp(s_producer_id(a), s_producer_id(b));
    if (c)
        return c;
    uint64_t ra = s_run_id(a), rb = s_run_id(b);
    return ra < rb ? -1 : ra > rb ? 1 : 0;
}

static void s_remove(top_model *self, size_t i)
{
    s_producer_free(&self->producers[i]);
    memmove(&self->producers[i], &self->producers[i + 1],
            (self->n_producers - i - 1) * sizeof *self->producers);
    self->n_producers--;
}

static void s_insert(top_model *self, const s_producer *fresh)
{
    size_t i = 0;
    while (i < self->n_producers &&
           s_producer_compare(self->producers[i].msg.report, fresh->msg.report) < 0)
        i++;
    memmove(&self->producers[i + 1], &self->producers[i],
            (self->n_producers - i) * sizeof *self->producers);
    self->producers[i] = *fresh;
    self->n_producers++;
}

//  The slot of this report's run, or of an earlier run of its producer id
//  that ended with a final report; -1 when none.
static ptrdiff_t s_find(const top_model *self, const Tcpwin__Report *report)
{
    ptrdiff_t ended = -1;
    for (size_t i = 0; i < self->n_producers; i++) {
        const Tcpwin__Report *held = self->producers[i].msg.report;
        if (s_producer_compare(held, report) == 0)
            return (ptrdiff_t)i;
        if (held->final && strcmp(s_producer_id(held), s_producer_id(report)) == 0)
            ended = (ptrdiff_t)i;
    }
    return ended;
}

//  The slot silent for longest.
static size_t s_oldest(const top_model *self)
{
    size_t oldest = 0;
    for (size_t i = 1; i < self->n_producers; i++)
        if (self->producers[i].received_ms < self->producers[oldest].received_ms)
            oldest = i;
    return oldest;
}

top_model *top_model_new(size_t max_producers)
{
    if (max_producers == 0 || max_producers > TOP_MAX_PRODUCERS_LIMIT)
        return NULL;
    top_model *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->producers = calloc(max_producers, sizeof *self->producers);
    if (!self->producers) {
        free(self);
        return NULL;
    }
    self->max_producers = max_producers;
    return self;
}

void top_model_destroy(top_model **self)
{
    if (!*self)
        return;
    for (size_t i = 0; i < (*self)->n_producers; i++)
        s_producer_free(&(*self)->producers[i]);
    free((*self)->producers);
    free(*self);
    *self = NULL;
}

int top_model_take(top_model *self, tw_message *msg, int64_t now_ms)
{
    s_producer fresh = {.msg = *msg, .received_ms = now_ms, .reports = 1};
    memset(msg, 0, sizeof *msg);
    if (fresh.msg.kind != TW_MSG_REPORT || !fresh.msg.report || self->paused) {
        if (fresh.msg.kind == TW_MSG_REPORT && fresh.msg.report)
            self->counters.held_paused++;
        tw_message_free(&fresh.msg);
        return 0;
    }
    if (s_index(&fresh, self->sort) != 0) {
        self->counters.no_memory++;
        s_producer_free(&fresh);
        return -ENOMEM;
    }
    tw_escape(s_producer_id(fresh.msg.report), fresh.id, sizeof fresh.id);
    ptrdiff_t slot = s_find(self, fresh.msg.report);
    if (slot >= 0 && s_producer_compare(self->producers[slot].msg.report, fresh.msg.report) == 0)
        fresh.reports = self->producers[slot].reports + 1;
    else
        self->counters.producers_seen++;
    if (slot >= 0)
        s_remove(self, (size_t)slot);
    else if (self->n_producers == self->max_producers) {
        s_remove(self, s_oldest(self));
        self->counters.producers_evicted++;
    }
    s_insert(self, &fresh);
    self->counters.reports++;
    self->last_received_ms = now_ms;
    return 0;
}

void top_model_set_sort(top_model *self, top_sort sort)
{
    if (sort >= TOP_SORT_COUNT || sort == self->sort)
        return;
    self->sort = sort;
    for (size_t i = 0; i < self->n_producers; i++)
        s_sort(&self->producers[i], sort);
}

top_sort top_model_get_sort(const top_model *self)
{
    return self->sort;
}

const char *top_sort_name(top_sort sort)
{
    return sort < TOP_SORT_COUNT ? s_sort_names[sort] : "?";
}

void top_model_set_paused(top_model *self, bool paused)
{
    self->paused = paused;
}

bool top_model_paused(const top_model *self)
{
    return self->paused;
}

void top_model_note(top_model *self, const char *text, size_t len)
{
    if (len >= sizeof self->note)
        len = sizeof self->note - 1;
    for (size_t i = 0; i < len; i++)
        self->note[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
    self->note[len] = '\0';
    self->counters.notes++;
}

const top_model_counters *top_model_get_counters(const top_model *self)
{
    return &self->counters;
}

//  ---------------------------------------------------------------------
//  Text

//  A duration: "850ms", "12.3s", "5m07s", "2h05m", "3d04h"; "-" when unknown.
static const char *s_duration(int64_t us, char *out, size_t size)
{
    if (us < 0)
        snprintf(out, size, "-");
    else if (us < TW_US_PER_S)
        snprintf(out, size, "%" PRId64 "ms", us / 1000);
    else if (us < US_PER_MINUTE)
        snprintf(out, size, "%" PRId64 ".%" PRId64 "s", us / TW_US_PER_S,
                 us / (TW_US_PER_S / 10) % 10);
    else if (us < US_PER_HOUR)
        snprintf(out, size, "%" PRId64 "m%02" PRId64 "s", us / (US_PER_MINUTE),
                 us / TW_US_PER_S % 60);
    else if (us < US_PER_DAY)
        snprintf(out, size, "%" PRId64 "h%02" PRId64 "m", us / (US_PER_HOUR),
                 us / (US_PER_MINUTE) % 60);
    else
        snprintf(out, size, "%" PRId64 "d%02" PRId64 "h", us / (US_PER_DAY),
                 us / (US_PER_HOUR) % 24);
    return out;
}

//  A capture time as "YYYY-MM-DD HH:MM:SS" (UTC); "?" for a time no
//  calendar of four-digit years holds (a peer may send any int64).
static const char *s_date(int64_t us, char *out, size_t size)
{
    time_t seconds = (time_t)(us / TW_US_PER_S);
    struct tm tm;
    if (us < 0 || !gmtime_r(&seconds, &tm) || tm.tm_year + 1900 > 9999 ||
        strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, size, "?");
    return out;
}

//  "address:port", "[IPv6]:port", or "?:port" for bytes of another length.
static const char *s_endpoint(ProtobufCBinaryData ip, uint32_t port, char *out, size_t size)
{
    char address[TW_IP_TEXT_SIZE];
    if (!tw_ip_format(ip.data, ip.len, address, sizeof address))
        snprintf(out, size, "?:%" PRIu32, port);
    else
        snprintf(out, size, ip.len == 16 ? "[%s]:%" PRIu32 : "%s:%" PRIu32, address, port);
    return out;
}

static const char *s_address(ProtobufCBinaryData ip, char *out, size_t size)
{
    if (!tw_ip_format(ip.data, ip.len, out, size))
        snprintf(out, size, "?");
    return out;
}

//  A column heading, bracketed when the rows are sorted on it.
static const char *s_column(const char *name, bool sorted, char *out, size_t size)
{
    snprintf(out, size, sorted ? "[%s]" : "%s", name);
    return out;
}

//  ---------------------------------------------------------------------
//  Layout

//  The rows being laid out: emit is called for rows below limit only.
typedef struct {
    int row;    // the next row
    int limit;  // rows at and past it are not drawn (the screen, or a section's end)
    int width;  // columns
    top_line_fn *emit;
    void *ctx;
    int status;  // the first negative emit returned, or 0
} s_screen;

static void s_line(s_screen *s, top_line_kind kind, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void s_line(s_screen *s, top_line_kind kind, const char *format, ...)
{
    if (s->status < 0 || s->row >= s->limit)
        return;
    char text[TOP_LINE_MAX + 1];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(text, sizeof text, format, args);
    va_end(args);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof text ? (size_t)n : sizeof text - 1;
    if (len > (size_t)s->width)
        len = (size_t)s->width;
    int rc = s->emit(s->ctx, s->row, kind, text, len);
    if (rc < 0)
        s->status = rc;
    else
        s->row++;
}

static void s_title(const top_model *self, s_screen *s)
{
    char paused[64] = "";
    if (self->paused)
        snprintf(paused, sizeof paused, "  PAUSED (%" PRIu64 " held)", self->counters.held_paused);
    s_line(s, TOP_LINE_TITLE, "tcpwin top  sort: %s  keys: 1-4 s S sort, p pause, q quit%s",
           top_sort_name(self->sort), paused);
}

static void s_summary(const top_model *self, const receiver_counters *rx, size_t shown,
                      int64_t now_ms, s_screen *s)
{
    const top_model_counters *c = &self->counters;
    char age[32] = "-";
    if (self->last_received_ms)
        s_duration((now_ms - self->last_received_ms) * 1000, age, sizeof age);
    char received[160] = "";
    if (rx)
        snprintf(received, sizeof received,
                 "  gaps %" PRIu64 " (lost %" PRIu64 ")  refused %" PRIu64 "  disconnects %" PRIu64,
                 rx->gaps, rx->lost,
                 rx->bad_frames + rx->bad_payloads + rx->bad_versions + rx->too_big +
                     rx->implausible,
                 rx->disconnects);
    s_line(s, TOP_LINE_TEXT,
           "reports %" PRIu64 "  last %s ago  producers seen %" PRIu64 " (shown %zu of %zu, "
           "evicted %" PRIu64 ")%s",
           c->reports, age, c->producers_seen, shown, self->n_producers, c->producers_evicted,
           received);
}

static void s_producer_lines(const s_producer *p, int64_t now_ms, s_screen *s)
{
    const Tcpwin__Report *r = p->msg.report;
    char date[32], age[32], stall[32];
    s_line(s, TOP_LINE_HEADING,
           "producer %s  report %s UTC%s  age %s  reports %" PRIu64 "  every %" PRIu32
           "s  threshold %" PRIu32 "%s  min-pkts %" PRIu32 "  run %016" PRIx64,
           p->id, s_date(r->time_us, date, sizeof date), r->final ? " (final)" : "",
           s_duration((now_ms - p->received_ms) * 1000, age, sizeof age), p->reports, r->interval_s,
           r->threshold, r->threshold_bytes ? " bytes" : "", r->min_pkts, s_run_id(r));
    static const Tcpwin__Counters none = TCPWIN__COUNTERS__INIT;
    const Tcpwin__Counters *c = r->counters ? r->counters : &none;
    uint64_t stalled_now =
        c->flows_stalled_now ? c->flows_stalled_now : (uint64_t)r->n_stalled + c->stalled_omitted;
    // Two lines, so that each fits 130 columns with ten-digit counts.
    s_line(s, TOP_LINE_TEXT,
           "  packets %" PRIu64 "  drops %" PRIu64 "  stalled now %" PRIu64
           "  zero-window adverts %" PRIu64 "  stall time %s  stalls %" PRIu64,
           c->packets, c->capture_drops, stalled_now, c->zero_window_adverts,
           s_duration(c->stall_us, stall, sizeof stall), c->stalls);
    s_line(s, TOP_LINE_TEXT,
           "  probes %" PRIu64 "  flows %" PRIu64 "  tcp %" PRIu64
           "  slow-subscriber drops %" PRIu64,
           c->probes, c->flows_active, c->tcp_packets, c->messages_dropped);
}

static void s_stalled_lines(const top_model *self, const s_producer *p, int rows, s_screen *s)
{
    char who[40], pair[2 * ENDPOINT_TEXT + 8], src[ENDPOINT_TEXT], dst[ENDPOINT_TEXT];
    char c_for[24], c_zw[24], c_ratio[24];
    s_line(s, TOP_LINE_HEADING, "  %-40s %13s %7s %10s %9s %9s",
           s_column("STALLED RECEIVER -> SENDER", self->sort == TOP_SORT_IP, who, sizeof who),
           s_column("STALLED FOR", self->sort == TOP_SORT_STALL, c_for, sizeof c_for), "PROBES",
           s_column("ZERO-WIN", self->sort == TOP_SORT_ZERO_WINDOW, c_zw, sizeof c_zw), "PKTS",
           s_column("RATIO", self->sort == TOP_SORT_RATIO, c_ratio, sizeof c_ratio));
    size_t n = p->msg.report->n_stalled;
    if (n == 0) {
        s_line(s, TOP_LINE_TEXT, "  (no receiver stalled)");
        return;
    }
    size_t fit = (size_t)rows < n ? (size_t)rows - 1 : n;  // the last row says what is hidden
    for (size_t i = 0; i < fit; i++) {
        const Tcpwin__StalledFlow *f = p->stalled[i].row;
        char stalled_for[32];
        snprintf(pair, sizeof pair, "%s -> %s", s_endpoint(f->src_ip, f->src_port, src, sizeof src),
                 s_endpoint(f->dst_ip, f->dst_port, dst, sizeof dst));
        s_line(s, TOP_LINE_TEXT, "  %-40s %13s %7" PRIu64 " %10" PRIu64 " %9" PRIu64 " %9.6f", pair,
               s_duration(p->stalled[i].stalled_us, stalled_for, sizeof stalled_for), f->probes,
               f->zero_window_adverts, f->tcp_packets, s_flow_ratio(f));
    }
    if (fit < n)
        s_line(s, TOP_LINE_TEXT, "  ... %zu more stalled receiver(s)", n - fit);
}

static void s_host_lines(const top_model *self, const s_producer *p, int rows, s_screen *s)
{
    char c_host[24], c_ratio[24], c_zw[24], c_stall[24];
    s_line(s, TOP_LINE_HEADING, "  %-24s %8s %9s %10s %8s %11s %8s  %s",
           s_column("HOST", self->sort == TOP_SORT_IP, c_host, sizeof c_host), "PKTS",
           s_column("RATIO", self->sort == TOP_SORT_RATIO, c_ratio, sizeof c_ratio),
           s_column("ZERO-WIN", self->sort == TOP_SORT_ZERO_WINDOW, c_zw, sizeof c_zw), "STALLED",
           s_column("STALL TIME", self->sort == TOP_SORT_STALL, c_stall, sizeof c_stall), "PROBES",
           "WORST PEER");
    size_t n = p->msg.report->n_hosts;
    if (n == 0) {
        s_line(s, TOP_LINE_TEXT, "  (no host in the table yet)");
        return;
    }
    size_t fit = (size_t)rows < n ? (size_t)rows - 1 : n;
    for (size_t i = 0; i < fit; i++) {
        const Tcpwin__HostRow *h = p->hosts[i];
        char host[TW_IP_TEXT_SIZE], peer[ENDPOINT_TEXT], stall[32];
        s_line(s, TOP_LINE_TEXT,
               "  %-24s %8" PRIu32 " %9.6f %10" PRIu64 " %8" PRIu64 " %11s %8" PRIu64 "  %s",
               s_address(h->ip, host, sizeof host), h->pkt_tcp_cnt, (double)h->win_rel_th_cnt,
               h->zero_window_adverts, h->flows_stalled,
               s_duration(h->stall_us, stall, sizeof stall), h->probes_received,
               h->worst_peer_ip.len
                   ? s_endpoint(h->worst_peer_ip, h->worst_peer_port, peer, sizeof peer)
                   : "-");
    }
    if (fit < n)
        s_line(s, TOP_LINE_TEXT, "  ... %zu more host(s)", n - fit);
}

//  One producer's section in budget rows: its lines, then the stalled
//  receivers and the hosts sharing what is left (the stalled ones get at
//  least half when they need it), then a blank line.
static void s_section(const top_model *self, const s_producer *p, int budget, int64_t now_ms,
                      s_screen *s)
{
    int screen_limit = s->limit;
    if (s->row + budget < s->limit)
        s->limit = s->row + budget;
    int rows = budget - 6;  // the three producer lines, two headings, the blank
    int n_stalled =
        p->msg.report->n_stalled > INT32_MAX ? INT32_MAX : (int)p->msg.report->n_stalled;
    int n_hosts = p->msg.report->n_hosts > INT32_MAX ? INT32_MAX : (int)p->msg.report->n_hosts;
    int want_stalled = n_stalled ? n_stalled : 1, want_hosts = n_hosts ? n_hosts : 1;
    int stalled_rows = rows / 2 > rows - want_hosts ? rows / 2 : rows - want_hosts;
    if (stalled_rows > want_stalled)
        stalled_rows = want_stalled;
    if (stalled_rows < 1)
        stalled_rows = 1;
    int host_rows = rows - stalled_rows < 1 ? 1 : rows - stalled_rows;
    s_producer_lines(p, now_ms, s);
    s_stalled_lines(self, p, stalled_rows, s);
    s_host_lines(self, p, host_rows, s);
    s_line(s, TOP_LINE_TEXT, "%s", "");
    s->limit = screen_limit;
}

int top_model_layout(top_model *self, const receiver_counters *rx, int height, int width,
                     int64_t now_ms, top_line_fn *emit, void *ctx)
{
    s_screen s = {.limit = height, .width = width, .emit = emit, .ctx = ctx};
    if (height <= 0 || width <= 0)
        return 0;
    int avail = height - 2 - (self->note[0] ? 1 : 0);
    size_t shown = self->n_producers;
    while (shown > 1 && avail / (int)shown < SECTION_MIN)
        shown--;
    s_title(self, &s);
    s_summary(self, rx, shown, now_ms, &s);
    if (self->note[0])
        s_line(&s, TOP_LINE_TEXT, "log (%" PRIu64 "): %s", self->counters.notes, self->note);
    if (self->n_producers == 0)
        s_line(&s, TOP_LINE_TEXT, "waiting for a report...");
    for (size_t i = 0; i < shown; i++) {
        int budget = avail / (int)shown + ((int)i < avail % (int)shown ? 1 : 0);
        s_section(self, &self->producers[i], budget, now_ms, &s);
    }
    return s.status < 0 ? s.status : s.row;
}
