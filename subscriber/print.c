// SPDX-License-Identifier: MPL-2.0
/*  print: legacy text or JSON lines on standard output.

    --until-final cannot count on the final report: a slow subscriber of a
    producer run with --no-wait loses it like any other. So a run is also
    over when its producer's connection went away and nothing came for
    UNTIL_FINAL_QUIET_MS (libzmq reconnects within its 100 ms interval and
    the receiver within 1 s, so a producer still there is connected again
    well before), or when a report of a new run of a producer arrives (a
    restart: the earlier run is over). print then says so and exits with
    EXIT_NO_FINAL.
*/
#include "print.h"
#include "program.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "json_lines.h"
#include "legacy_text.h"
#include "number.h"
#include "signals.h"

#define UNTIL_FINAL_QUIET_MS 2000
//  --until-final: the run ended, but its final report never reached us.
#define EXIT_NO_FINAL 3

typedef struct {
    bool json;
    uint64_t count;    // reports to print before exiting, 0: forever
    bool until_final;  // exit after a final report
    bool stats;        // print the counters at exit
} print_options;

static void s_usage(FILE *out)
{
    fprintf(out,
            "Usage: tcpwin-subscriber [global options] print [--format text|json]\n"
            "       [--count N] [--until-final] [--stats]\n"
            "  --format text   the legacy tcpWinSink table per non-empty report (default)\n"
            "  --format json   one JSON object per line per report and flow record\n"
            "  --count N       exit after N reports (empty ones included)\n"
            "  --until-final   exit after a report marked final (end of a producer's run);\n"
            "                  when that report was lost, exit with status 3 once the run is\n"
            "                  over anyway: the producer's connection went away and nothing\n"
            "                  came for %d s, or a report of a new run of it arrived (not\n"
            "                  printed)\n"
            "  --stats         print the receive counters on stderr at exit (also on SIGUSR1)\n"
            "Exit status: 0 done; 1 runtime error; 2 bad usage; 3 --until-final: the run\n"
            "ended without a final report reaching us.\n",
            UNTIL_FINAL_QUIET_MS / 1000);
}

//  Returns -1 to go on, or an exit status.
static int s_parse(int argc, char **argv, print_options *o)
{
    static const struct option longs[] = {
        {"format", required_argument, NULL, 'f'}, {"count", required_argument, NULL, 'c'},
        {"until-final", no_argument, NULL, 'u'},  {"stats", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (opt == 'h') {
            s_usage(stdout);
            return 0;
        } else if (opt == 's') {
            o->stats = true;
        } else if (opt == 'u') {
            o->until_final = true;
        } else if (opt == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "text") == 0)) {
            o->json = strcmp(optarg, "json") == 0;
        } else if (opt == 'c' && tw_number_option("count", optarg, 0, UINT64_MAX, &o->count)) {
            continue;
        } else {
            if (opt == 'f')
                tw_log("print: bad value '%s' for --format", optarg);
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        tw_log("print: unexpected argument '%s'", argv[optind]);
        return 2;
    }
    return -1;
}

//  Writes and flushes one message. Returns 0, or the negative errno of the
//  failed write (-EPIPE: the reader went away).
static int s_write(const print_options *o, const tw_message *msg)
{
    errno = 0;
    int rc = 0;
    if (o->json)
        rc = tw_json_write(stdout, tw_message_topic(msg->kind), msg->base);
    else if (msg->kind == TW_MSG_REPORT)
        rc = tw_legacy_text_write(stdout, msg->report);
    if (rc >= 0 && fflush(stdout) != 0)
        rc = -EIO;
    // stdio leaves the cause in errno; the writers only say -EIO.
    return rc >= 0 ? 0 : errno ? -errno : rc;
}

static void s_print_counters(const receiver *rx)
{
    const receiver_counters *c = receiver_get_counters(rx);
    fprintf(
        stderr,
        "tcpwin-subscriber: received %llu, gaps %llu (lost %llu), duplicates %llu, restarts %llu, "
        "bad frames %llu, bad payloads %llu, bad versions %llu, disconnects %llu, "
        "implausible %llu, too big %llu\n",
        (unsigned long long)c->received, (unsigned long long)c->gaps, (unsigned long long)c->lost,
        (unsigned long long)c->duplicates, (unsigned long long)c->restarts,
        (unsigned long long)c->bad_frames, (unsigned long long)c->bad_payloads,
        (unsigned long long)c->bad_versions, (unsigned long long)c->disconnects,
        (unsigned long long)c->implausible, (unsigned long long)c->too_big);
}

//  --until-final: the run is over without its final report (says so).
//  Returns -1 to go on, or EXIT_NO_FINAL.
static int s_run_over(receiver *rx, uint64_t restarts_before)
{
    const receiver_counters *c = receiver_get_counters(rx);
    if (c->restarts > restarts_before) {
        tw_log("a producer restarted: its run ended without a final report reaching us "
               "(%" PRIu64 " message(s) lost in gaps before, and its last ones)",
               c->lost);
        return EXIT_NO_FINAL;
    }
    if (receiver_producer_gone(rx, UNTIL_FINAL_QUIET_MS)) {
        tw_log("the producer's run ended without a final report reaching us (its connection "
               "went away, nothing came for %d s; %" PRIu64
               " message(s) lost in gaps before, and its last ones)",
               UNTIL_FINAL_QUIET_MS / 1000, c->lost);
        return EXIT_NO_FINAL;
    }
    return -1;
}

//  Handles one received message. Returns -1 to go on, or an exit status.
static int s_handle(const print_options *o, const tw_message *msg, unsigned long long *reports)
{
    int rc = s_write(o, msg);
    if (rc == -EPIPE)
        return 0;  // the reader went away: that is how `| head` ends
    if (rc < 0) {
        tw_log("cannot write to standard output: %s", strerror(-rc));
        return 1;
    }
    if (msg->kind == TW_MSG_REPORT && o->count && ++*reports >= o->count)
        return 0;
    if (msg->kind == TW_MSG_REPORT && o->until_final && msg->report->final)
        return 0;
    return -1;
}

int print_main(receiver *rx, int argc, char **argv)
{
    print_options o = {0};
    int status = s_parse(argc, argv, &o);
    unsigned long long reports = 0;
    uint64_t restarts_before = receiver_get_counters(rx)->restarts;
    zmq_pollitem_t item = {.socket = receiver_socket(rx), .events = ZMQ_POLLIN};
    while (status < 0 && !tw_signals_stop_requested()) {
        if (tw_signals_take_usr1())
            s_print_counters(rx);
        receiver_poll_events(rx);
        if (zmq_poll(&item, 1, o.until_final ? 200 : 1000) == -1 && errno != EINTR) {
            tw_log("poll failed: %s", zmq_strerror(errno));
            return 1;
        }
        tw_message msg;
        int rc = 0;
        while (status < 0 && (rc = receiver_recv(rx, &msg)) == 1) {
            if (o.until_final)
                status = s_run_over(rx, restarts_before);
            if (status < 0)
                status = s_handle(&o, &msg, &reports);
            tw_message_free(&msg);
        }
        if (status < 0 && o.until_final)
            status = s_run_over(rx, restarts_before);
        if (status < 0 && rc < 0 && rc != -EINTR) {
            tw_log("cannot receive: %s", zmq_strerror(-rc));
            status = 1;
        }
    }
    const receiver_counters *c = receiver_get_counters(rx);
    if (o.stats || c->gaps || c->bad_frames || c->bad_payloads || c->bad_versions)
        s_print_counters(rx);
    return status < 0 ? 0 : status;
}
