// SPDX-License-Identifier: MPL-2.0
/*  status: the producer's start line, progress line and summary.

    Wording follows tcpdump, which operators already read: its start line
    word for word, and its end counts one per line ("N packets captured",
    "N packets dropped by kernel"). The progress line is rewritten at most
    every STATUS_PROGRESS_INTERVAL_US, so a fast read spends nothing on it
    and a terminal is not flooded; it is padded with spaces over a longer
    previous one rather than cleared with escape codes, which a dumb
    terminal would print.
*/
#include "status.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

//  snprintf at an offset that may already be past the end: keeps counting
//  what the whole text needs. Returns the new offset.
static size_t s_append(char *buf, size_t size, size_t at, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(at < size ? buf + at : NULL, at < size ? size - at : 0, format, args);
    va_end(args);
    return n > 0 ? at + (size_t)n : at;
}

int status_format_start(char *buf, size_t size, const status_start *start)
{
    if (!start->live && start->description)
        return (int)s_append(buf, size, 0, "reading from %s%s", start->from_stdin ? "" : "file ",
                             start->description);
    size_t at = start->live ? s_append(buf, size, 0, "listening on %s", start->source)
                            : s_append(buf, size, 0, "reading from file %s", start->source);
    if (start->details && start->details[0])
        at = s_append(buf, size, at, " (%s)", start->details);
    if (start->link_name)
        at = s_append(buf, size, at, ", link-type %s", start->link_name);
    else
        at = s_append(buf, size, at, ", link-type %d", start->link_type);
    if (start->link_description)
        at = s_append(buf, size, at, " (%s)", start->link_description);
    at = s_append(buf, size, at, ", snapshot length %d%s", start->snaplen,
                  start->live ? " bytes" : "");
    return (int)at;
}

//  "s" unless n is 1, as tcpdump's PLURAL_SUFFIX.
static const char *s_plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

int status_format_summary(char *buf, size_t size, const status_counters *c)
{
    size_t at = s_append(buf, size, 0, "%" PRIu64 " packet%s %s, %" PRIu64 " TCP\n", c->packets,
                         s_plural(c->packets), c->live ? "captured" : "read", c->tcp_packets);
    at = s_append(buf, size, at, "%" PRIu64 " flow%s, %" PRIu64 " host%s in table\n", c->flows,
                  s_plural(c->flows), c->hosts, s_plural(c->hosts));
    at = s_append(buf, size, at,
                  "%" PRIu64 " report%s published, %" PRIu64 " flow record%s published\n",
                  c->reports, s_plural(c->reports), c->flow_records, s_plural(c->flow_records));
    if (c->live)
        at = s_append(buf, size, at, "%" PRIu64 " packet%s dropped by kernel\n", c->kernel_drops,
                      s_plural(c->kernel_drops));
    at = s_append(buf, size, at, "%" PRIu64 " message%s dropped for slow subscribers\n",
                  c->messages_dropped, s_plural(c->messages_dropped));
    return (int)at;
}

//  Seconds as m:ss, or h:mm:ss from an hour on.
static size_t s_append_duration(char *buf, size_t size, size_t at, uint64_t s)
{
    if (s >= 3600)
        return s_append(buf, size, at, "%" PRIu64 ":%02u:%02u", s / 3600, (unsigned)(s / 60 % 60),
                        (unsigned)(s % 60));
    return s_append(buf, size, at, "%u:%02u", (unsigned)(s / 60), (unsigned)(s % 60));
}

int status_format_progress(char *buf, size_t size, const status_progress *p)
{
    size_t at = 0;
    bool sized = p->bytes_total > 0;
    uint64_t done = sized && p->bytes_done > p->bytes_total ? p->bytes_total : p->bytes_done;
    if (sized)
        at = s_append(buf, size, at, "%5.1f%% ", 100.0 * (double)done / (double)p->bytes_total);
    at = s_append(buf, size, at, "%" PRIu64 " packets", p->packets);
    if (p->elapsed_us <= 0)
        return (int)at;
    double seconds = (double)p->elapsed_us / 1e6;
    at = s_append(buf, size, at, ", %.0f packets/s", (double)p->packets / seconds);
    if (sized && done > 0) {
        // The rest at the rate so far, in bytes: packet sizes vary less
        // over a file than the time they take.
        double left = (double)(p->bytes_total - done) * seconds / (double)done;
        at = s_append(buf, size, at, ", ETA ");
        at = s_append_duration(buf, size, at, (uint64_t)(left + 0.5));
    }
    return (int)at;
}

void status_meter_init(status_meter *meter, FILE *out, bool wanted, int64_t now_us)
{
    memset(meter, 0, sizeof *meter);
    meter->out = out;
    meter->enabled = wanted && isatty(fileno(out));
    meter->last_us = now_us;  // no line in the first interval: no rate to show yet
}

void status_meter_update(status_meter *meter, const status_progress *progress, int64_t now_us)
{
    if (!meter->enabled || now_us - meter->last_us < STATUS_PROGRESS_INTERVAL_US)
        return;
    meter->last_us = now_us;
    char line[160];
    int n = status_format_progress(line, sizeof line, progress);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof line ? sizeof line - 1 : (size_t)n;
    // Spaces over what is left of a longer previous line.
    int pad = meter->shown > len ? (int)(meter->shown - len) : 0;
    fprintf(meter->out, "\r%s%*s", line, pad, "");
    fflush(meter->out);
    meter->shown = len;
}

void status_meter_clear(status_meter *meter)
{
    if (!meter->shown)
        return;
    fprintf(meter->out, "\r%*s\r", (int)meter->shown, "");
    fflush(meter->out);
    meter->shown = 0;
}
