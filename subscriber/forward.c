// SPDX-License-Identifier: MPL-2.0
/*  forward: ZeroMQ in, legacy text out to a raw TCP/UDP port.

    The loop is the netcat readwrite() loop turned inside out: one zmq_poll
    over the SUB socket (always POLLIN: reading never waits on the sink) and
    the stream writer's descriptor with the events and timeout the writer
    asks for. The writer owns every network decision (backoff, queue,
    splitting); this file only renders, enqueues, counts and stops.
*/
#include "forward.h"
#include "program.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "endpoint.h"
#include "legacy_text.h"
#include "number.h"
#include "signals.h"
#include "stream_writer.h"

#define PROGRAM    "tcpwin-subscriber"
#define RECV_BATCH 1000  // messages taken per turn, so the sink gets its turn too
// SIGUSR1 prints the counters once the sink acknowledged what was written
// (its kernel may delay an ACK by 40 ms), or after this long.
#define USR1_SETTLE_MS 200

typedef struct {
    const char *to;
    size_t queue_reports;
    size_t queue_bytes;
    size_t max_datagram;
    long grace_ms;
} forward_options;

//  What happened to the messages the receiver handed over.
typedef struct {
    uint64_t reports;        // reports received
    uint64_t empty;          // of those, with an empty host table: not forwarded
    uint64_t flows;          // flow records: not forwarded
    uint64_t render_failed;  // out of memory while rendering: not forwarded
} forward_counters;

static void s_usage(FILE *out)
{
    fprintf(out,
            "Usage: tcpwin-subscriber [global options] forward [--to ENDPOINT]\n"
            "       [--queue-reports N] [--queue-bytes N] [--max-datagram N] [--grace-ms N]\n"
            "Forwards each non-empty report as the legacy tcpWinSink text to a raw port.\n"
            "  --to ENDPOINT      tcp://HOST:PORT or udp://HOST:PORT, IPv6 as tcp://[::1]:5555\n"
            "                     (default %s); names are resolved at each connection\n"
            "  --queue-reports N  reports held while the sink is slow or away (default %d)\n"
            "  --queue-bytes N    bytes held likewise (default %u); past either limit the\n"
            "                     oldest whole reports are dropped and counted\n"
            "  --max-datagram N   UDP: largest datagram, split at line ends (default %d, at\n"
            "                     most %d); a longer line is cut at the limit. nc -u -l\n"
            "                     loses data from datagrams larger than 8192 sent back to back\n"
            "  --grace-ms N       on SIGINT/SIGTERM, time to flush the queue (default %d);\n"
            "                     a second signal stops at once\n"
            "  --help             this text\n"
            "TCP reconnects with backoff (100 ms doubling to 5 s); a report cut by a lost\n"
            "connection is sent again whole. SIGUSR1 prints the counters on stderr.\n",
            FORWARD_DEFAULT_TO, STREAM_WRITER_MAX_REPORTS, STREAM_WRITER_MAX_BYTES,
            STREAM_WRITER_MAX_DATAGRAM, STREAM_WRITER_DATAGRAM_LIMIT, FORWARD_DEFAULT_GRACE_MS);
}

//  One option with its value. Returns false after printing why.
static bool s_set_option(forward_options *o, int opt, const char *value)
{
    uint64_t n = 0;
    switch (opt) {
    case 't':
        o->to = value;
        return true;
    case 'r':
        return tw_number_option("queue-reports", value, 1, SIZE_MAX / 2, &n) &&
               ((o->queue_reports = (size_t)n), true);
    case 'b':
        return tw_number_option("queue-bytes", value, 1, SIZE_MAX / 2, &n) &&
               ((o->queue_bytes = (size_t)n), true);
    case 'd':
        return tw_number_option("max-datagram", value, 1, STREAM_WRITER_DATAGRAM_LIMIT, &n) &&
               ((o->max_datagram = (size_t)n), true);
    case 'g':
        return tw_number_option("grace-ms", value, 0, INT_MAX, &n) &&
               ((o->grace_ms = (long)n), true);
    }
    return false;
}

//  Returns -1 to go on, or an exit status.
static int s_parse(int argc, char **argv, forward_options *o)
{
    static const struct option longs[] = {{"to", required_argument, NULL, 't'},
                                          {"queue-reports", required_argument, NULL, 'r'},
                                          {"queue-bytes", required_argument, NULL, 'b'},
                                          {"max-datagram", required_argument, NULL, 'd'},
                                          {"grace-ms", required_argument, NULL, 'g'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (opt == 'h') {
            s_usage(stdout);
            return 0;
        }
        if (opt == '?' || !s_set_option(o, opt, optarg)) {
            fprintf(stderr, "Try 'tcpwin-subscriber forward --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        tw_log("forward: unexpected argument '%s'", argv[optind]);
        return 2;
    }
    return -1;
}

static void s_print_counters(receiver *rx, stream_writer *sw, const forward_counters *fc)
{
    const receiver_counters *rc = receiver_get_counters(rx);
    fprintf(stderr,
            PROGRAM ": forward: reports received %llu (empty, not forwarded: %llu), flow records "
                    "ignored %llu, render failures %llu; zmq gaps %llu (lost %llu), restarts %llu, "
                    "bad messages %llu\n",
            (unsigned long long)fc->reports, (unsigned long long)fc->empty,
            (unsigned long long)fc->flows, (unsigned long long)fc->render_failed,
            (unsigned long long)rc->gaps, (unsigned long long)rc->lost,
            (unsigned long long)rc->restarts,
            (unsigned long long)(rc->bad_frames + rc->bad_payloads + rc->bad_versions));
    stream_writer_print_counters(sw, stderr);
}

static void s_forward_message(stream_writer *sw, const tw_message *msg, forward_counters *fc)
{
    if (msg->kind != TW_MSG_REPORT) {
        fc->flows++;
        return;
    }
    fc->reports++;
    if (msg->report->n_hosts == 0) {
        fc->empty++;
        return;
    }
    size_t len = 0;
    char *text = tw_legacy_text_render(msg->report, &len);
    if (!text) {
        fc->render_failed++;
        tw_log("forward: cannot render a report: out of memory");
        return;
    }
    stream_writer_enqueue(sw, text, len);  // drops are counted and logged by the writer
    free(text);
}

//  Takes what the SUB socket has, up to a batch. Returns 0, or the negative
//  errno of a socket failure other than a signal.
static int s_take_messages(receiver *rx, stream_writer *sw, forward_counters *fc)
{
    for (int i = 0; i < RECV_BATCH && !tw_signals_stop_requested(); i++) {
        tw_message msg;
        int rc = receiver_recv(rx, &msg);
        if (rc == 0)
            return 0;
        if (rc == -EINTR)
            return 0;
        if (rc < 0) {
            tw_log("forward: cannot receive: %s", zmq_strerror(-rc));
            return rc;
        }
        s_forward_message(sw, &msg, fc);
        tw_message_free(&msg);
    }
    return 0;
}

static short s_to_zmq_events(short events)
{
    return (short)(((events & POLLIN) ? ZMQ_POLLIN : 0) | ((events & POLLOUT) ? ZMQ_POLLOUT : 0));
}

static short s_from_zmq_events(short revents)
{
    return (short)(((revents & ZMQ_POLLIN) ? POLLIN : 0) | ((revents & ZMQ_POLLOUT) ? POLLOUT : 0) |
                   ((revents & ZMQ_POLLERR) ? POLLERR : 0));
}

//  The loop until a stop signal. Returns -1 when stopped, 1 on a failure of
//  ZeroMQ itself.
static int s_run(receiver *rx, stream_writer *sw, forward_counters *fc)
{
    int64_t print_by = 0;  // a SIGUSR1 waits for the counters to settle until then
    while (!tw_signals_stop_requested()) {
        if (tw_signals_take_usr1() && print_by == 0)
            print_by = zclock_mono() + USR1_SETTLE_MS;
        if (print_by && (stream_writer_unacknowledged(sw) == 0 || zclock_mono() >= print_by)) {
            s_print_counters(rx, sw, fc);
            print_by = 0;
        }
        receiver_poll_events(rx);
        zmq_pollitem_t items[2] = {{.socket = receiver_socket(rx), .events = ZMQ_POLLIN}};
        int count = 1;
        if (stream_writer_fd(sw) >= 0) {
            items[1].fd = stream_writer_fd(sw);
            items[1].events = s_to_zmq_events(stream_writer_events(sw));
            count = 2;
        }
        // Bounded, so a stop signal that lands just before the poll is seen.
        long timeout = stream_writer_next_timeout_ms(sw, zclock_mono());
        if (timeout < 0 || timeout > 1000)
            timeout = 1000;
        if (print_by && timeout > print_by - zclock_mono())
            timeout = print_by > zclock_mono() ? (long)(print_by - zclock_mono()) : 0;
        if (zmq_poll(items, count, timeout) < 0) {
            if (errno == EINTR)
                continue;
            tw_log("forward: poll failed: %s", zmq_strerror(errno));
            return 1;
        }
        if ((items[0].revents & ZMQ_POLLIN) && s_take_messages(rx, sw, fc) < 0)
            return 1;
        short revents = count == 2 ? s_from_zmq_events(items[1].revents) : 0;
        stream_writer_handle(sw, revents, zclock_mono());
    }
    return -1;
}

//  Gives the writer up to grace_ms to empty its queue, or until a second
//  SIGINT/SIGTERM; says what is left.
static void s_flush(stream_writer *sw, long grace_ms)
{
    if (stream_writer_queue_empty(sw))
        return;
    tw_log("forward: flushing %zu reports (up to %ld ms)", stream_writer_queued(sw), grace_ms);
    int64_t deadline = zclock_mono() + grace_ms;
    for (int64_t now = zclock_mono();
         !stream_writer_queue_empty(sw) && now < deadline && !signals_stop_insisted();
         now = zclock_mono()) {
        struct pollfd item = {.fd = stream_writer_fd(sw), .events = stream_writer_events(sw)};
        int timeout = stream_writer_next_timeout_ms(sw, now);
        if (timeout < 0 || timeout > deadline - now)
            timeout = (int)(deadline - now);
        int rc = poll(&item, 1, timeout);  // a descriptor of -1 is ignored: a plain wait
        if (rc < 0 && errno != EINTR) {
            tw_log("forward: poll failed: %s", strerror(errno));
            break;
        }
        stream_writer_handle(sw, rc > 0 ? item.revents : 0, zclock_mono());
    }
    if (!stream_writer_queue_empty(sw) && signals_stop_insisted())
        tw_log("forward: second signal: %zu reports not sent: lost", stream_writer_queued(sw));
    else if (!stream_writer_queue_empty(sw))
        tw_log("forward: %zu reports not sent within %ld ms: lost", stream_writer_queued(sw),
               grace_ms);
}

//  Returns the writer, or NULL with *status set to the exit status.
static stream_writer *s_new_writer(const forward_options *o, int *status)
{
    tw_endpoint endpoint;
    const char *why = NULL;
    int rc = tw_endpoint_parse(o->to, &endpoint, &why);
    if (rc != 0) {
        tw_log("forward: bad --to '%s': %s", o->to, rc == -EINVAL ? why : strerror(-rc));
        *status = rc == -EINVAL ? 2 : 1;
        return NULL;
    }
    stream_writer_options options = {
        .endpoint = &endpoint,
        .max_reports = o->queue_reports,
        .max_bytes = o->queue_bytes,
        .max_datagram = o->max_datagram,
        .program = PROGRAM,
    };
    stream_writer *sw = stream_writer_new(&options);
    tw_endpoint_clear(&endpoint);
    *status = 1;
    return sw;
}

int forward_main(receiver *rx, int argc, char **argv)
{
    forward_options o = {.to = FORWARD_DEFAULT_TO, .grace_ms = FORWARD_DEFAULT_GRACE_MS};
    int status = s_parse(argc, argv, &o);
    if (status >= 0)
        return status;
    stream_writer *sw = s_new_writer(&o, &status);
    if (!sw)
        return status;
    forward_counters fc = {0};
    status = s_run(rx, sw, &fc);
    s_flush(sw, o.grace_ms);
    s_print_counters(rx, sw, &fc);
    stream_writer_destroy(&sw);
    return status < 0 ? 0 : status;
}
