// SPDX-License-Identifier: MPL-2.0
/*  metrics_text: Prometheus text exposition of the dashboard model.

    The families are tables (name, help, where the value is), walked family
    by family: the format wants every sample of a family together, after
    its HELP and TYPE lines. Values are exact integers where the wire has
    integers; microseconds become seconds with six decimals.
*/
#include "metrics_text.h"

#include "ip_text.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_COUNTER, S_GAUGE } s_type;

//  A run figure taken from the producer's (monotonic) Counters.
typedef struct {
    const char *name;
    s_type type;
    size_t offset;  // in Tcpwin__Counters, a uint64_t (or int64_t microseconds when us)
    bool us;        // microseconds on the wire, seconds here
    const char *help;
} s_counter_family;

#define C(field) offsetof(Tcpwin__Counters, field)
static const s_counter_family s_counter_families[] = {
    {"tcpwin_packets_total", S_COUNTER, C(packets), false, "Packets the capture delivered."},
    {"tcpwin_tcp_packets_total", S_COUNTER, C(tcp_packets), false, "Packets analysed as TCP."},
    {"tcpwin_malformed_packets_total", S_COUNTER, C(malformed_packets), false,
     "Packets with inconsistent headers."},
    {"tcpwin_truncated_packets_total", S_COUNTER, C(truncated_packets), false,
     "Packets cut by the snap length before the TCP window."},
    {"tcpwin_capture_drops_total", S_COUNTER, C(capture_drops), false,
     "Packets the kernel or interface dropped."},
    {"tcpwin_messages_dropped_total", S_COUNTER, C(messages_dropped), false,
     "Messages the producer dropped for a slow subscriber."},
    {"tcpwin_flows_active", S_GAUGE, C(flows_active), false, "Flows in the flow table."},
    {"tcpwin_flows_ended_total", S_COUNTER, C(flows_ended), false, "Flows ended."},
    {"tcpwin_flows_evicted_total", S_COUNTER, C(flows_evicted), false,
     "Flows ended early because the flow table was full."},
    {"tcpwin_hosts_evicted_total", S_COUNTER, C(hosts_evicted), false,
     "Hosts dropped from or not added to the host table."},
    {"tcpwin_fragments_skipped_total", S_COUNTER, C(fragments_skipped), false,
     "Non-first IP fragments skipped."},
    {"tcpwin_packets_untracked_total", S_COUNTER, C(packets_untracked), false,
     "Packets not analysed for lack of memory."},
    {"tcpwin_reports_lost_total", S_COUNTER, C(reports_lost), false,
     "Reports the producer could not build for lack of memory."},
    {"tcpwin_subscriptions_refused_total", S_COUNTER, C(subscriptions_refused), false,
     "Subscriptions the producer refused."},
    {"tcpwin_time_jumps_total", S_COUNTER, C(time_jumps), false,
     "Steps of the capture clock by more than an hour."},
    {"tcpwin_unknown_link_type_packets_total", S_COUNTER, C(unknown_link_type_packets), false,
     "Frames of a link type the decoder does not know."},
    {"tcpwin_zero_window_adverts_total", S_COUNTER, C(zero_window_adverts), false,
     "Zero-window advertisements (tcp.analysis.zero_window)."},
    {"tcpwin_stall_seconds_total", S_COUNTER, C(stall_us), true,
     "Time receivers spent stalled, ended and ongoing stalls."},
    {"tcpwin_stalls_total", S_COUNTER, C(stalls), false, "Stalls begun."},
    {"tcpwin_persist_probes_total", S_COUNTER, C(probes), false, "Persist probes seen."},
    {"tcpwin_window_reopenings_total", S_COUNTER, C(window_reopenings), false,
     "Window updates that ended a stall."},
    {"tcpwin_stalled_flows_omitted", S_GAUGE, C(stalled_omitted), false,
     "Stalled flows the latest report did not list (its bound)."},
};
#undef C

//  A figure of the producer's entry or latest report, computed.
typedef struct {
    const char *name;
    s_type type;
    const char *help;
} s_entry_family;

enum {
    E_RECEIVERS_STALLED,
    E_HOSTS,
    E_HOST_SERIES_OMITTED,
    E_REPORT_AGE,
    E_REPORT_TIME,
    E_RUN_FIRST_TIME,
    E_REPORT_FINAL,
    E_REPORTS_RECEIVED,
    E_SEQUENCE_GAPS,
    E_REPORTS_MISSED,
    E_RESTARTS,
    E_STALE,
    E_COUNT
};
static const s_entry_family s_entry_families[E_COUNT] = {
    {"tcpwin_receivers_stalled", S_GAUGE, "Receivers stalled at the latest report."},
    {"tcpwin_hosts", S_GAUGE, "Rows of the host table in the latest report."},
    {"tcpwin_host_series_omitted", S_GAUGE, "Hosts of the latest report beyond --metrics-top."},
    {"tcpwin_report_age_seconds", S_GAUGE, "Seconds since the latest report arrived."},
    {"tcpwin_report_time_seconds", S_GAUGE, "Capture time of the latest report (Unix time)."},
    {"tcpwin_run_first_report_time_seconds", S_GAUGE,
     "Capture time of the current run's first report received (moves at a restart)."},
    {"tcpwin_report_final", S_GAUGE, "1 when the latest report ended its run."},
    {"tcpwin_reports_received_total", S_COUNTER, "Reports received from the producer."},
    {"tcpwin_report_sequence_gaps_total", S_COUNTER, "Jumps in the report sequence of a run."},
    {"tcpwin_reports_missed_total", S_COUNTER, "Reports missing inside those jumps."},
    {"tcpwin_producer_restarts_total", S_COUNTER, "New run ids of the producer."},
    {"tcpwin_stale_reports_total", S_COUNTER, "Reports of a replaced run ignored."},
};

//  A per-host gauge of the top-K rows.
typedef struct {
    const char *name;
    const char *help;
} s_host_family;

enum {
    H_STALL,
    H_ZWA,
    H_FLOWS_STALLED,
    H_PROBES,
    H_UNDERSHOOTS,
    H_TCP_PACKETS,
    H_FLOWS_COUNTED,
    H_WORST_PACKETS,
    H_WORST_RATIO,
    H_COUNT
};
static const s_host_family s_host_families[H_COUNT] = {
    {"tcpwin_host_stall_seconds", "Stall time of the host's flows as receiver."},
    {"tcpwin_host_zero_window_adverts", "Zero-window advertisements of the host."},
    {"tcpwin_host_flows_stalled", "Flows of the host that stalled at least once."},
    {"tcpwin_host_probes_received", "Persist probes the host's flows received while stalled."},
    {"tcpwin_host_undershoot_packets", "Undershoot packets of the host's qualifying flows."},
    {"tcpwin_host_tcp_packets", "TCP packets of the host's qualifying flows."},
    {"tcpwin_host_flows_counted", "Qualifying flows of the host."},
    {"tcpwin_host_worst_flow_packets", "Legacy pktTcpCnt: packets of the host's worst flow."},
    {"tcpwin_host_worst_flow_undershoot_ratio",
     "Legacy winRelThCnt: undershoots per packet of the host's worst flow."},
};

//  The length of the valid UTF-8 character at p (1 to 4), or 0 for a byte
//  that begins none (overlong forms, surrogates, beyond U+10FFFF, cut).
static size_t s_utf8_length(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || p[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;  // a NUL ends the text here too
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
        return 0;
    return n;
}

void metrics_text_label(FILE *out, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t used = 0;
    while (*p) {
        size_t n = s_utf8_length(p);
        if (used + (n ? n : 1) > METRICS_MAX_LABEL)
            break;  // never half a character
        if (*p == '\\' || *p == '"')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (n == 0 || *p < 0x20 || *p == 0x7f)
            fputc('?', out);  // the format is UTF-8; control bytes would only hurt readers
        else
            fwrite(p, 1, n, out);
        p += n ? n : 1;
        used += n ? n : 1;
    }
}

//  A float as the format spells it: NaN, +Inf, -Inf, or %.9g.
static void s_float(FILE *out, double v)
{
    if (isnan(v))
        fputs("NaN\n", out);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf\n" : "-Inf\n", out);
    else
        fprintf(out, "%.9g\n", v);
}

static void s_header(FILE *out, const char *name, s_type type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
            type == S_COUNTER ? "counter" : "gauge");
}

//  What a page is written from: each producer's label found once (NULL
//  for one whose label is an earlier one's: escaping and the length bound
//  can make two ids alike, and Prometheus refuses a page with a series
//  twice), and its top hosts with no address twice.
typedef struct {
    const dash_model *model;
    char **labels;                 // per producer: the escaped id, or NULL
    const Tcpwin__HostRow **rows;  // k per producer, producer after producer
    size_t *n;                     // rows kept per producer
    size_t k;                      // --metrics-top
    uint64_t duplicates;           // series left out for a duplicate label
} s_page;

static void s_producer_sample(FILE *out, const char *name, const char *label)
{
    fprintf(out, "%s{producer=\"%s\"} ", name, label);
}

static void s_counter_families_write(FILE *out, const s_page *page)
{
    size_t n = sizeof s_counter_families / sizeof s_counter_families[0];
    for (size_t f = 0; f < n; f++) {
        const s_counter_family *family = &s_counter_families[f];
        s_header(out, family->name, family->type, family->help);
        for (size_t i = 0; i < dash_model_size(page->model); i++) {
            if (!page->labels[i])
                continue;
            const dash_producer *p = dash_model_producer(page->model, i);
            const char *at = (const char *)&p->counters + family->offset;
            s_producer_sample(out, family->name, page->labels[i]);
            if (family->us) {
                int64_t us;
                memcpy(&us, at, sizeof us);
                fprintf(out, "%.6f\n", (double)us / 1e6);
            } else {
                uint64_t value;
                memcpy(&value, at, sizeof value);
                fprintf(out, "%" PRIu64 "\n", value);
            }
        }
    }
}

static void s_entry_value(FILE *out, int family, const dash_producer *p,
                          const metrics_context *context)
{
    const Tcpwin__Report *r = p->report;
    uint64_t shown = r->n_hosts < context->top_k ? r->n_hosts : context->top_k;
    int64_t age_ms = context->now_ms - p->received_ms;
    switch (family) {
    case E_RECEIVERS_STALLED:
        fprintf(out, "%" PRIu64 "\n", p->stalled_now);
        break;
    case E_HOSTS:
        fprintf(out, "%zu\n", p->hosts_total);
        break;
    case E_HOST_SERIES_OMITTED:
        fprintf(out, "%" PRIu64 "\n", (uint64_t)(p->hosts_total - shown));
        break;
    case E_REPORT_AGE:
        fprintf(out, "%.3f\n", age_ms > 0 ? (double)age_ms / 1e3 : 0.0);
        break;
    case E_REPORT_TIME:
        fprintf(out, "%.6f\n", (double)r->time_us / 1e6);
        break;
    case E_RUN_FIRST_TIME:
        fprintf(out, "%.6f\n", (double)p->run_first_time_us / 1e6);
        break;
    case E_REPORT_FINAL:
        fprintf(out, "%d\n", r->final ? 1 : 0);
        break;
    case E_REPORTS_RECEIVED:
        fprintf(out, "%" PRIu64 "\n", p->reports_received);
        break;
    case E_SEQUENCE_GAPS:
        fprintf(out, "%" PRIu64 "\n", p->sequence_gaps);
        break;
    case E_REPORTS_MISSED:
        fprintf(out, "%" PRIu64 "\n", p->reports_missed);
        break;
    case E_RESTARTS:
        fprintf(out, "%" PRIu64 "\n", p->restarts);
        break;
    default:
        fprintf(out, "%" PRIu64 "\n", p->stale_reports);
    }
}

static void s_entry_families_write(FILE *out, const s_page *page, const metrics_context *context)
{
    for (int f = 0; f < E_COUNT; f++) {
        const s_entry_family *family = &s_entry_families[f];
        s_header(out, family->name, family->type, family->help);
        for (size_t i = 0; i < dash_model_size(page->model); i++) {
            if (!page->labels[i])
                continue;
            s_producer_sample(out, family->name, page->labels[i]);
            s_entry_value(out, f, dash_model_producer(page->model, i), context);
        }
    }
}

static void s_host_value(FILE *out, int family, const Tcpwin__HostRow *row)
{
    uint64_t v = 0;
    switch (family) {
    case H_STALL:
        fprintf(out, "%.6f\n", (double)row->stall_us / 1e6);
        return;
    case H_WORST_RATIO:
        s_float(out, (double)row->win_rel_th_cnt);
        return;
    case H_ZWA:
        v = row->zero_window_adverts;
        break;
    case H_FLOWS_STALLED:
        v = row->flows_stalled;
        break;
    case H_PROBES:
        v = row->probes_received;
        break;
    case H_UNDERSHOOTS:
        v = row->undershoot_packets;
        break;
    case H_TCP_PACKETS:
        v = row->tcp_packets;
        break;
    case H_FLOWS_COUNTED:
        v = row->flows_counted;
        break;
    default:
        v = row->pkt_tcp_cnt;
    }
    fprintf(out, "%" PRIu64 "\n", v);
}

//  The producer's id as a label value, in a new string (NULL: no memory).
static char *s_label_text(const char *id)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    metrics_text_label(out, id);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

//  True when row's address is that of one of rows[0..n).
static bool s_listed(const Tcpwin__HostRow *const *rows, size_t n, const Tcpwin__HostRow *row)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i]->ip.len == row->ip.len &&
            (row->ip.len == 0 || memcmp(rows[i]->ip.data, row->ip.data, row->ip.len) == 0))
            return true;
    return false;
}

//  The top hosts of producer i, without an address twice (a hostile or
//  buggy producer may list one twice; the first, the worse, is kept).
//  k is at most SERVE_MAX_TOP (1,000): the quadratic look-up is bounded.
static void s_page_hosts(s_page *page, size_t i)
{
    const dash_producer *p = dash_model_producer(page->model, i);
    const Tcpwin__HostRow **out = page->rows + i * page->k;
    size_t n = 0;
    for (size_t j = 0; j < p->report->n_hosts && n < page->k; j++) {
        const Tcpwin__HostRow *row = p->report->hosts[j];
        if (s_listed(out, n, row))
            page->duplicates++;
        else
            out[n++] = row;
    }
    page->n[i] = n;
}

static int s_page_find(s_page *page, const dash_model *model, size_t k)
{
    size_t producers = dash_model_size(model);
    *page = (s_page){.model = model, .k = k};
    page->labels = calloc(producers + 1, sizeof *page->labels);
    page->rows = calloc(producers * k + 1, sizeof *page->rows);
    page->n = calloc(producers + 1, sizeof *page->n);
    if (!page->labels || !page->rows || !page->n)
        return -ENOMEM;
    for (size_t i = 0; i < producers; i++) {
        page->labels[i] = s_label_text(dash_model_producer(model, i)->id);
        if (!page->labels[i])
            return -ENOMEM;
        for (size_t j = 0; j < i; j++)
            if (page->labels[j] && strcmp(page->labels[j], page->labels[i]) == 0) {
                free(page->labels[i]);
                page->labels[i] = NULL;
                page->duplicates++;
                break;
            }
        if (page->labels[i])
            s_page_hosts(page, i);
    }
    return 0;
}

static void s_page_free(s_page *page)
{
    for (size_t i = 0; page->labels && i < dash_model_size(page->model); i++)
        free(page->labels[i]);
    free(page->labels);
    free(page->rows);
    free(page->n);
}

static void s_host_families_write(FILE *out, const s_page *page)
{
    for (int f = 0; f < H_COUNT; f++) {
        s_header(out, s_host_families[f].name, S_GAUGE, s_host_families[f].help);
        for (size_t i = 0; i < dash_model_size(page->model); i++) {
            for (size_t j = 0; page->labels[i] && j < page->n[i]; j++) {
                const Tcpwin__HostRow *row = page->rows[i * page->k + j];
                char ip[TW_IP_TEXT_SIZE];
                // An address of another length than 4 or 16 bytes (no producer
                // of ours sends one) still gets a series of its own.
                if (!tw_ip_format(row->ip.data, row->ip.len, ip, sizeof ip))
                    snprintf(ip, sizeof ip, "invalid-%zu", j + 1);
                fprintf(out, "%s{producer=\"%s\",host=\"%s\"} ", s_host_families[f].name,
                        page->labels[i], ip);
                s_host_value(out, f, row);
            }
        }
    }
}

static void s_subscriber_write(FILE *out, const s_page *page, const metrics_context *c)
{
    const dash_model *model = page->model;
    static const receiver_counters zero;
    const receiver_counters *r = c->receiver ? c->receiver : &zero;
    const struct {
        const char *name;
        uint64_t value;
        const char *help;
    } rows[] = {
        {"tcpwin_subscriber_messages_received_total", r->received, "Messages received."},
        {"tcpwin_subscriber_duplicates_total", r->duplicates, "Replays and repeats dropped."},
        {"tcpwin_subscriber_sequence_gaps_total", r->gaps, "Gaps in any message sequence."},
        {"tcpwin_subscriber_messages_lost_total", r->lost, "Messages missing inside gaps."},
        {"tcpwin_subscriber_bad_messages_total",
         r->bad_frames + r->bad_payloads + r->bad_versions + r->implausible + r->too_big,
         "Messages refused: frames, payload, schema, sequence or size."},
        {"tcpwin_subscriber_disconnects_total", r->disconnects, "Producer connections lost."},
        {"tcpwin_subscriber_producers_evicted_total",
         dash_model_get_counters(model)->producers_evicted,
         "Producers forgotten to make room (bound 256, or the bytes kept)."},
        {"tcpwin_http_requests_total", c->http_requests, "HTTP requests answered."},
        {"tcpwin_http_errors_total", c->http_errors, "HTTP requests answered with an error."},
        {"tcpwin_http_requests_cut_off_total", c->http_cut_off,
         "HTTP connections closed without a whole request within the deadline (10 s)."},
        {"tcpwin_http_busy_total", c->http_busy,
         "HTTP requests answered 503: too many bytes of answers in flight."},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        s_header(out, rows[i].name, S_COUNTER, rows[i].help);
        fprintf(out, "%s %" PRIu64 "\n", rows[i].name, rows[i].value);
    }
    s_header(out, "tcpwin_duplicate_series_dropped", S_GAUGE,
             "Series left off this page: a producer id alike an earlier one's once escaped "
             "and cut, or a host listed twice (the first is kept).");
    fprintf(out, "tcpwin_duplicate_series_dropped %" PRIu64 "\n", page->duplicates);
    s_header(out, "tcpwin_subscriber_producers", S_GAUGE, "Producers heard of.");
    fprintf(out, "tcpwin_subscriber_producers %zu\n", dash_model_size(model));
}

int metrics_text_write(FILE *out, const dash_model *model, const metrics_context *context)
{
    s_page page;
    int rc = s_page_find(&page, model, context->top_k);
    if (rc == 0) {
        s_counter_families_write(out, &page);
        s_entry_families_write(out, &page, context);
        s_host_families_write(out, &page);
        s_subscriber_write(out, &page, context);
        rc = ferror(out) ? -EIO : 0;
    }
    s_page_free(&page);
    return rc;
}

char *metrics_text_render(const dash_model *model, const metrics_context *context, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        return NULL;
    int rc = metrics_text_write(out, model, context);
    if (fclose(out) != 0 || rc != 0) {
        free(text);
        return NULL;
    }
    *len = size;
    return text;
}
