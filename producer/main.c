// SPDX-License-Identifier: MPL-2.0
/*  tcpwin-producer: capture, window analysis, publishing.

    One loop: a file is read as fast as libpcap delivers it (the publisher
    only blocks when a subscriber that keeps up needs a moment); a live
    interface is polled together with the XPUB socket and the report timer.
    The analyzer hands over plain snapshots and ended flows; report_builder
    turns a snapshot into the published Report, the publisher sends it.
*/
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "analyzer.h"
#include "capture.h"
#include "endpoint.h"
#include "host_table.h"
#include "link_type.h"
#include "number.h"
#include "program.h"
#include "privileges.h"
#include "publisher.h"
#include "read_ahead.h"
#include "report_builder.h"
#include "signals.h"
#include "status.h"
#include "wire.h"
#include "tw_time.h"

enum { EXIT_USAGE = 2, EXIT_DAMAGED = 3 };

typedef struct {
    capture_options capture;
    tw_analyzer_config analysis;
    publisher_options publish;
    const char *endpoints[64];
    int wait_subscribers;
    int wait_timeout_s;
    bool no_wait;
    bool single_thread;  // --single-thread: no read_ahead
    bool quiet;          // -q: errors only on stderr
    const char *user;    // -Z: whom to become when started as root
} options;

typedef struct {
    capture *input;
    tw_analyzer *analyzer;
    publisher *output;
    uint64_t reports_lost;    // not published for want of memory
    tw_host_rows *host_rows;  // encoded host rows kept between reports (NULL: none)
    uint64_t reports_sent;    // published (for the summary)
    uint64_t flows_sent;
    uint64_t hosts;             // rows of the host table at the last report
    bool quiet;                 // -q
    status_meter meter;         // the progress line of a file on a terminal
    int64_t read_start_us;      // monotonic, when reading began (progress rate)
    read_ahead *ahead;          // the reader thread of a regular file, while it runs
    uint64_t ahead_bytes_done;  // where it stood after the block being analysed
    uint64_t ahead_bytes_total;
    uint64_t subscriptions_at;  // records read at the last look at subscriptions
    int64_t bound_ms;           // monotonic, when the publisher was bound
} producer;

static void s_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: tcpwin-producer (-r FILE | -i IFACE) [options]\n"
        "Tracks TCP flows, counts window advertisements below a threshold and publishes\n"
        "reports (topic tcpwin.report) and ended flows (tcpwin.flow) on ZeroMQ.\n"
        "\n"
        "Input:\n"
        "  -r, --read FILE           pcap or pcapng file, '-' for standard input; gzip,\n"
        "                            zstd and lz4 compressed ones are read as they are\n"
        "                            (zstd: windows up to 8 MiB, levels 1 to 19)\n"
        "  -i, --interface IFACE     live capture (needs CAP_NET_RAW, or root, only to\n"
        "                            open it; every privilege is dropped right after)\n"
        "  -f, --filter BPF          capture filter (both inputs; a link type of a file\n"
        "                            it cannot apply to ends the run, exit 1)\n"
        "  -s, --snaplen N           live snap length (default %d)\n"
        "  -B, --buffer-size BYTES   live capture buffer (default: libpcap's, 2 MiB)\n"
        "      --immediate           live: deliver every packet at once (low latency, more CPU)\n"
        "      --single-thread       read a regular file on the analysis thread (default,\n"
        "                            with 2 CPUs or more: a second thread reads and\n"
        "                            decodes it ahead)\n"
        "Analysis:\n"
        "      --interval S          report every S seconds of capture time (default %d)\n"
        "      --threshold N         undershoot: raw window < N (default %d)\n"
        "      --threshold-bytes N   undershoot: scaled window in bytes < N instead\n"
        "      --min-pkts N          packets a flow needs to enter the table (default %d)\n"
        "      --max-flows N         flow table bound (default %d): N flows in N/2\n"
        "                            connection entries, 112 bytes per flow, reserved\n"
        "                            up front, paid as connections arrive (a full\n"
        "                            default table: about 115 MiB resident)\n"
        "      --max-hosts N         host table bound (default %d)\n"
        "      --flow-timeout S      end flows idle this long (default %d; SYNs only or\n"
        "                            half-closed: 30 s, if shorter)\n"
        "      --stall-timeout S     ... but a receiver stalled (latest window below the\n"
        "                            threshold) and its prober, this long when longer:\n"
        "                            probes back off to 120 s (default %d)\n"
        "      --host-ttl S          forget hosts not updated this long (default: never)\n"
        "      --max-stalled N       stalled flows listed per report (default %d)\n"
        "Publishing:\n"
        "      --publish ENDPOINT    bind here, repeatable (default %s)\n"
        "      --id ID               producer id (default: host name)\n"
        "      --flows               also publish one record per ended flow\n"
        "      --wait-subscribers N  before reading, wait for N subscriptions (for\n"
        "                            subscribers that start after the producer)\n"
        "      --wait-timeout S      ... at most S seconds, then go on (default 10)\n"
        "                            Without it, a file or standard input waits %.1f s\n"
        "                            for subscribers already running (--no-wait: not)\n"
        "                            and at the end up to %d s for what is queued for\n"
        "                            them to go out\n"
        "      --send-timeout MS     file input: wait this long for a slow subscriber\n"
        "                            before dropping a message for it (default %d)\n"
        "      --no-wait             never wait for subscribers, at start or when slow\n"
        "                            (as live capture)\n"
        "                            (messagesDropped in the reports counts the times a\n"
        "                            subscriber's queue was found full: it loses that\n"
        "                            message, and those after it until it catches up; its\n"
        "                            own sequence gaps say how many)\n"
        "      --sndhwm N            messages queued per subscriber, at most (default %d)\n"
        "      --max-queue MIB       ... and about MIB MiB per subscriber: the bound in\n"
        "                            messages follows the largest report (default %d)\n"
        "      --curve-secret CERT   encrypt with CURVE, our certificate (keygen's NAME)\n"
        "      --curve-allow DIR     ... and let in only subscribers whose public\n"
        "                            certificates are in DIR (plaintext ones get nothing)\n"
        "  -q, --quiet               errors only: no start line, progress or summary\n"
        "                            (SIGUSR1 still prints the counters)\n"
        "  -Z, --user USER           when started as root, become USER once the input\n"
        "                            is open (default %s; 'root' stays root, without\n"
        "                            capabilities); --curve-allow's directory is read\n"
        "                            again while running, so USER must be able to read it\n"
        "  -h, --help                this text\n"
        "  -V, --version             the version\n"
        "\n"
        "Exit status: 0 done; 1 cannot open or read the input, or bind; 2 bad usage;\n"
        "3 the capture file is damaged or truncated (read up to the damage, final report sent).\n"
        "\n"
        "On stderr, as tcpdump: a start line; reading a file with stderr on a terminal, a\n"
        "progress line; at the end (and on SIGUSR1, which does not stop the producer) the\n"
        "counts of packets, flows, hosts, messages published and dropped.\n",
        CAPTURE_DEFAULT_SNAPLEN, TW_DEFAULT_INTERVAL_S, TW_DEFAULT_THRESHOLD, TW_DEFAULT_MIN_PKTS,
        TW_DEFAULT_MAX_FLOWS, TW_DEFAULT_MAX_HOSTS, TW_DEFAULT_FLOW_TIMEOUT_S,
        TW_DEFAULT_STALL_TIMEOUT_S, TW_DEFAULT_MAX_STALLED, TW_DEFAULT_PUBLISH,
        TW_REPLAY_START_WAIT_MS / 1000.0, PUBLISHER_FILE_LINGER_MS / 1000,
        PUBLISHER_DEFAULT_TIMEOUT_MS, PUBLISHER_DEFAULT_SNDHWM, PUBLISHER_DEFAULT_QUEUE_MIB,
        PRIVILEGES_DEFAULT_USER);
}

enum {
    OPT_IMMEDIATE = 256,
    OPT_SINGLE_THREAD,
    OPT_INTERVAL,
    OPT_THRESHOLD,
    OPT_THRESHOLD_BYTES,
    OPT_MIN_PKTS,
    OPT_MAX_FLOWS,
    OPT_MAX_HOSTS,
    OPT_FLOW_TIMEOUT,
    OPT_STALL_TIMEOUT,
    OPT_HOST_TTL,
    OPT_MAX_STALLED,
    OPT_PUBLISH,
    OPT_ID,
    OPT_FLOWS,
    OPT_WAIT_SUBSCRIBERS,
    OPT_WAIT_TIMEOUT,
    OPT_SEND_TIMEOUT,
    OPT_NO_WAIT,
    OPT_SNDHWM,
    OPT_MAX_QUEUE,
    OPT_CURVE_SECRET,
    OPT_CURVE_ALLOW,
};

static const struct option s_long_options[] = {
    {"read", required_argument, NULL, 'r'},
    {"interface", required_argument, NULL, 'i'},
    {"filter", required_argument, NULL, 'f'},
    {"snaplen", required_argument, NULL, 's'},
    {"buffer-size", required_argument, NULL, 'B'},
    {"immediate", no_argument, NULL, OPT_IMMEDIATE},
    {"single-thread", no_argument, NULL, OPT_SINGLE_THREAD},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"threshold", required_argument, NULL, OPT_THRESHOLD},
    {"threshold-bytes", required_argument, NULL, OPT_THRESHOLD_BYTES},
    {"min-pkts", required_argument, NULL, OPT_MIN_PKTS},
    {"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
    {"max-hosts", required_argument, NULL, OPT_MAX_HOSTS},
    {"flow-timeout", required_argument, NULL, OPT_FLOW_TIMEOUT},
    {"stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT},
    {"host-ttl", required_argument, NULL, OPT_HOST_TTL},
    {"max-stalled", required_argument, NULL, OPT_MAX_STALLED},
    {"publish", required_argument, NULL, OPT_PUBLISH},
    {"id", required_argument, NULL, OPT_ID},
    {"flows", no_argument, NULL, OPT_FLOWS},
    {"wait-subscribers", required_argument, NULL, OPT_WAIT_SUBSCRIBERS},
    {"wait-timeout", required_argument, NULL, OPT_WAIT_TIMEOUT},
    {"send-timeout", required_argument, NULL, OPT_SEND_TIMEOUT},
    {"no-wait", no_argument, NULL, OPT_NO_WAIT},
    {"sndhwm", required_argument, NULL, OPT_SNDHWM},
    {"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
    {"curve-secret", required_argument, NULL, OPT_CURVE_SECRET},
    {"curve-allow", required_argument, NULL, OPT_CURVE_ALLOW},
    {"user", required_argument, NULL, 'Z'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

//  Options that take a number: where it goes, its name and its range.
static bool s_parse_numeric_option(int opt, const char *arg, options *o)
{
    uint64_t v;
    const uint64_t day = 86400;
    tw_analyzer_config *a = &o->analysis;
    switch (opt) {
    case 's':
        return tw_number_option("snaplen", arg, 64, 262144, &v) &&
               ((o->capture.snaplen = (int)v), 1);
    case 'B':
        return tw_number_option("buffer-size", arg, 1, INT_MAX, &v) &&
               ((o->capture.buffer_bytes = (int)v), 1);
    case OPT_INTERVAL:
        return tw_number_option("interval", arg, 1, day, &v) && ((a->interval_s = (uint32_t)v), 1);
    case OPT_THRESHOLD:
        return tw_number_option("threshold", arg, 0, 65536, &v) &&
               ((a->threshold = (uint32_t)v), 1);
    case OPT_THRESHOLD_BYTES:
        a->threshold_bytes = true;
        return tw_number_option("threshold-bytes", arg, 0, UINT32_MAX, &v) &&
               ((a->threshold = (uint32_t)v), 1);
    case OPT_MIN_PKTS:
        return tw_number_option("min-pkts", arg, 1, UINT32_MAX, &v) &&
               ((a->min_pkts = (uint32_t)v), 1);
    case OPT_MAX_FLOWS:
        return tw_number_option("max-flows", arg, 1, 100000000, &v) && ((a->max_flows = v), 1);
    case OPT_MAX_HOSTS:
        return tw_number_option("max-hosts", arg, 1, TW_MAX_HOSTS_LIMIT, &v) &&
               ((a->max_hosts = v), 1);
    case OPT_FLOW_TIMEOUT:
        return tw_number_option("flow-timeout", arg, 1, day, &v) &&
               ((a->flow_timeout_us = (int64_t)v * 1000000), 1);
    case OPT_STALL_TIMEOUT:
        return tw_number_option("stall-timeout", arg, 1, day, &v) &&
               ((a->stall_timeout_us = (int64_t)v * 1000000), 1);
    case OPT_HOST_TTL:
        return tw_number_option("host-ttl", arg, 0, 365 * day, &v) &&
               ((a->host_ttl_us = (int64_t)v * 1000000), 1);
    case OPT_MAX_STALLED:
        return tw_number_option("max-stalled", arg, 0, TW_MAX_STALLED_ROWS, &v) &&
               ((a->max_stalled = v), 1);
    case OPT_WAIT_SUBSCRIBERS:
        return tw_number_option("wait-subscribers", arg, 0, 100000, &v) &&
               ((o->wait_subscribers = (int)v), 1);
    case OPT_WAIT_TIMEOUT:
        return tw_number_option("wait-timeout", arg, 0, day, &v) &&
               ((o->wait_timeout_s = (int)v), 1);
    case OPT_SEND_TIMEOUT:
        return tw_number_option("send-timeout", arg, 0, 3600000, &v) &&
               ((o->publish.send_timeout_ms = (int)v), 1);
    case OPT_SNDHWM:
        return tw_number_option("sndhwm", arg, 1, 10000000, &v) &&
               ((o->publish.sndhwm = (int)v), 1);
    case OPT_MAX_QUEUE:
        return tw_number_option("max-queue", arg, 1, 1024 * 1024, &v) &&
               ((o->publish.max_queue_bytes = (size_t)v << 20), 1);
    }
    return false;
}

static bool s_add_endpoint(options *o, const char *endpoint)
{
    if (o->publish.n_endpoints == sizeof o->endpoints / sizeof o->endpoints[0]) {
        tw_log("too many --publish endpoints (at most 64)");
        return false;
    }
    if (!tw_endpoint_option("publish", endpoint, TW_ENDPOINT_ZMQ_BIND))
        return false;
    o->endpoints[o->publish.n_endpoints++] = endpoint;
    return true;
}

//  Returns -1 to go on, or the exit status.
static int s_parse_options(int argc, char **argv, options *o)
{
    int opt;
    while ((opt = getopt_long(argc, argv, "r:i:f:s:B:Z:qhV", s_long_options, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'r':
            o->capture.file = optarg;
            break;
        case 'i':
            o->capture.interface = optarg;
            break;
        case 'f':
            o->capture.filter = optarg;
            break;
        case OPT_IMMEDIATE:
            o->capture.immediate = true;
            break;
        case OPT_SINGLE_THREAD:
            o->single_thread = true;
            break;
        case 'Z':
            o->user = optarg;
            break;
        case 'q':
            o->quiet = true;
            break;
        case OPT_PUBLISH:
            ok = s_add_endpoint(o, optarg);
            break;
        case OPT_ID:
            o->publish.producer_id = optarg;
            break;
        case OPT_FLOWS:
            o->analysis.flows = true;
            break;
        case OPT_NO_WAIT:
            o->no_wait = true;
            break;
        case OPT_CURVE_SECRET:
            o->publish.curve_cert = optarg;
            break;
        case OPT_CURVE_ALLOW:
            o->publish.curve_allow_dir = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return EXIT_SUCCESS;
        case 'V':
            printf("tcpwin-producer %s\n", TCPWIN_VERSION);
            return EXIT_SUCCESS;
        case '?':
            ok = false;
            break;
        default:
            ok = s_parse_numeric_option(opt, optarg, o);
        }
        if (!ok) {
            fprintf(stderr, "Try 'tcpwin-producer --help'.\n");
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        tw_log("unexpected argument '%s'\nTry 'tcpwin-producer --help'.", argv[optind]);
        return EXIT_USAGE;
    }
    if (!o->publish.curve_cert != !o->publish.curve_allow_dir) {
        tw_log("CURVE needs both --curve-secret and --curve-allow");
        return EXIT_USAGE;
    }
    if (!o->capture.file == !o->capture.interface) {
        tw_log("give exactly one input, -r FILE or -i IFACE\n"
               "Try 'tcpwin-producer --help'.");
        return EXIT_USAGE;
    }
    return -1;
}

static void s_on_report(const tw_report_snapshot *snapshot, void *arg)
{
    producer *p = arg;
    report_edge_counters edges = {
        .capture_drops = p->input ? capture_drops(p->input) : 0,
        .messages_dropped = publisher_dropped(p->output),
        .reports_lost = p->reports_lost,
        .subscriptions_refused = publisher_refused(p->output),
    };
    if (!p->host_rows)
        p->host_rows = tw_host_rows_new();  // without it, every row is encoded
    Tcpwin__Report *report = report_build(snapshot, &edges, p->host_rows);
    int rc = report ? publisher_send_report(p->output, report) : -ENOMEM;
    if (rc == -ENOMEM)
        p->reports_lost++;
    else if (rc == 0)
        p->reports_sent++;
    p->hosts = tw_host_table_size(snapshot->hosts);
    tw_report_free(report);
}

static void s_on_flow(const tw_flow_record *flow, void *arg)
{
    producer *p = arg;
    tw_flow_message message;
    tw_flow_message_init(&message, flow);
    // A full queue is counted in messagesDropped; a failed send or encoding
    // is logged by the publisher.
    if (publisher_send_flow(p->output, &message.record) == 0)
        p->flows_sent++;
}

//  The packet's capture time; pcapng timestamp offsets can put it past
//  int64 microseconds, where it is clamped (the analyzer counts the jump).
static int64_t s_packet_time_us(const struct pcap_pkthdr *header)
{
    int64_t us;
    (void)tw_time_from_sec_usec(header->ts.tv_sec, header->ts.tv_usec, &us);
    return us;
}

static int64_t s_wall_clock_us(void)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    return (int64_t)now.tv_sec * 1000000 + now.tv_usec;
}

//  The start line, as tcpdump's (status.h), unless -q: for a file, the
//  capture's description of it as it opened (format, compression, link
//  types, snapshot lengths).
static void s_say_start(producer *p, const options *o)
{
    if (p->quiet)
        return;
    int dlt = capture_datalink(p->input);
    bool live = capture_is_live(p->input);
    status_start start = {
        .live = live,
        .source = live ? o->capture.interface : o->capture.file,
        .from_stdin = !live && strcmp(o->capture.file, "-") == 0,
        .description = live ? NULL : capture_opening_description(p->input),
        .link_type = dlt,
        .link_name = pcap_datalink_val_to_name(dlt),
        .link_description = pcap_datalink_val_to_description(dlt),
        .snaplen = capture_snaplen(p->input),
    };
    char line[1024];
    (void)status_format_start(line, sizeof line, &start);
    fprintf(stderr, "%s\n", line);
}

//  The counters (status.h), at the end and on SIGUSR1; even with -q when
//  asked by SIGUSR1 (asked is asked).
static void s_say_counters(producer *p)
{
    tw_run_counters run = tw_analyzer_counters(p->analyzer);
    status_counters counters = {
        .live = capture_is_live(p->input),
        .packets = run.packets,
        .tcp_packets = run.tcp_packets,
        .flows = run.flows_ended + run.flows_active,
        .hosts = p->hosts,
        .reports = p->reports_sent,
        .flow_records = p->flows_sent,
        .kernel_drops = capture_drops(p->input),
        .messages_dropped = publisher_dropped(p->output),
    };
    char text[1024];
    (void)status_format_summary(text, sizeof text, &counters);
    status_meter_clear(&p->meter);
    fputs(text, stderr);
}

//  Rewrites the progress line when one is due (status.h).
static void s_show_progress(producer *p, uint64_t packets)
{
    status_progress progress = {.packets = packets};
    if (p->ahead) {  // the capture is the reader thread's: its figures came with the block
        progress.bytes_done = p->ahead_bytes_done;
        progress.bytes_total = p->ahead_bytes_total;
    } else {
        capture_progress(p->input, &progress.bytes_done, &progress.bytes_total);
    }
    int64_t now = zclock_usecs();
    progress.elapsed_us = now - p->read_start_us;
    status_meter_update(&p->meter, &progress, now);
}

//  SIGUSR1 prints the counters; returns true on a stop.
__attribute__((noinline)) static bool s_on_signal_in_read(producer *p)
{
    if (tw_signals_take_usr1())
        s_say_counters(p);
    return tw_signals_stop_requested();
}

//  The rare work of the file loops (every 1,024 packets, each block read
//  ahead, a stretch of records a sparse -f filter threw away), out of line
//  (noinline) so that the loop stays a few instructions a packet: the
//  progress line looks at the clock (and writes at most 4 times a second),
//  and late joiners are answered every 65,536 records read (filtered out or
//  not: such a filter still reads the file) while a long file is read.
__attribute__((noinline)) static void s_rare_work(producer *p, uint64_t analysed,
                                                  uint64_t records_read)
{
    if (p->meter.enabled)
        s_show_progress(p, analysed);
    if (records_read >> 16 != p->subscriptions_at >> 16) {
        p->subscriptions_at = records_read;
        publisher_process_subscriptions(p->output, 0);
    }
}

//  The file read on this thread: every packet to tw_analyzer_queue_link
//  with its interface's link type. Returns what ended it, as capture_next.
static int s_read_here(producer *p)
{
    capture_record r;
    uint64_t count = 0;
    int rc;
    while ((rc = capture_next_limited(p->input, &r, READ_AHEAD_MAX_FILTERED_OUT)) == 1 ||
           rc == -EINTR || rc == -EAGAIN) {
        // One test per packet for both signals, and one per stretch of
        // records a sparse -f filter throws away; a read interrupted by a
        // signal that is no stop goes on.
        if (tw_signals_pending() && s_on_signal_in_read(p))
            break;
        if (rc != 1) {
            if (rc == -EAGAIN)
                s_rare_work(p, count, capture_packets_read(p->input));
            continue;
        }
        int64_t us;
        (void)tw_time_from_sec_usec(r.ts_sec, r.ts_usec, &us);
        tw_analyzer_queue_link(p->analyzer, (int)r.link_type, r.data, r.caplen, r.len, us);
        if ((++count & 0x3FF) == 0)
            s_rare_work(p, count, capture_packets_read(p->input));
    }
    return rc;
}

//  The file read and decoded on the reader thread (read_ahead.h), analysed
//  here block by block. Signals are looked at between blocks, and at least
//  every READ_AHEAD_WAIT_MS while waiting for one. Returns what ended the
//  reading, as capture_next (1: a stop).
#define READ_AHEAD_WAIT_MS 100
static int s_read_ahead(producer *p)
{
    uint64_t count = 0;
    for (;;) {
        if (tw_signals_pending() && s_on_signal_in_read(p))
            break;
        const read_ahead_block *block = read_ahead_next(p->ahead, READ_AHEAD_WAIT_MS);
        if (!block) {
            if (read_ahead_ended(p->ahead))
                break;
            publisher_process_subscriptions(p->output, 0);
            continue;
        }
        p->ahead_bytes_done = block->bytes_done;
        p->ahead_bytes_total = block->bytes_total;
        for (size_t i = 0; i < block->count; i++) {
            const read_ahead_packet *x = &block->packets[i];
            tw_analyzer_queue_decoded(p->analyzer, x->link_type, (tw_decode_status)x->status,
                                      &x->packet, x->ts_us);
        }
        count += block->count;
        s_rare_work(p, count, block->records_read);
        read_ahead_release(p->ahead);
    }
    uint64_t not_analysed;
    int rc = read_ahead_finish(&p->ahead, &not_analysed);
    status_meter_clear(&p->meter);  // a line of its own, not after the progress line
    if (not_analysed && !p->quiet)
        tw_log("stopped: %llu packets read ahead were not analysed",
               (unsigned long long)not_analysed);
    return rc;
}

//  Reads the whole file: on a reader thread when it is a regular file and
//  the process may run on two CPUs (unless --single-thread), else here. Returns 0, EXIT_DAMAGED at
//  damage (the packets before it were analysed; the final report follows), the first record
//  included: the file header was sound (or compressed data was cut before it came out), so it is a
//  damaged capture, not a file that is not one (that fails at capture_open); EXIT_FAILURE when out
//  of memory or when an interface met late has a link type the filter cannot apply to (as one met
//  first fails capture_open).
static int s_read_file(producer *p, const options *o)
{
    p->read_start_us = p->meter.last_us;
    if (!o->single_thread && capture_is_regular_file(p->input) && read_ahead_worthwhile())
        p->ahead = read_ahead_start(p->input);  // NULL: no thread, read here
    int rc = p->ahead ? s_read_ahead(p) : s_read_here(p);
    status_meter_clear(&p->meter);
    if (rc == -ENOTSUP)  // a link type refuses the filter: said, and no more, as at the start
        return EXIT_FAILURE;
    capture_log_interfaces(p->input, p->quiet);
    // A stop ends the reading with 1, -EINTR (a read it interrupted) or
    // -EAGAIN (during a sparse filter's stretch): exit 0. Damage met before
    // the stop keeps its status, read ahead or not.
    if (rc >= 0 || rc == -EINTR || rc == -EAGAIN)
        return 0;
    if (rc == -ENOMEM) {
        tw_log("out of memory reading %s", capture_name(p->input));
        return EXIT_FAILURE;
    }
    tw_log("%s is damaged after %llu packets: %s", capture_name(p->input),
           (unsigned long long)capture_packets_read(p->input), capture_error(p->input));
    return EXIT_DAMAGED;
}

static void s_on_live_packet(u_char *arg, const struct pcap_pkthdr *header, const u_char *data)
{
    tw_analyzer_queue((tw_analyzer *)arg, data, header->caplen, header->len,
                      s_packet_time_us(header));
}

static int s_poll_timeout_ms(producer *p)
{
    int64_t left = tw_analyzer_next_boundary(p->analyzer) - s_wall_clock_us();
    if (left < 0)
        return 0;
    return left > 1000000 ? 1000 : (int)(left / 1000) + 1;
}

//  Polls the interface, the XPUB socket and the report timer until a signal.
static int s_read_live(producer *p)
{
    zmq_pollitem_t items[2] = {
        {.fd = capture_fd(p->input), .events = ZMQ_POLLIN},
        {.socket = publisher_socket(p->output), .events = ZMQ_POLLIN},
    };
    tw_analyzer_tick(p->analyzer, s_wall_clock_us());
    while (!tw_signals_stop_requested()) {
        int rc = zmq_poll(items, 2, s_poll_timeout_ms(p));
        if (rc == -1 && errno != EINTR) {
            tw_log("poll failed: %s", zmq_strerror(errno));
            return EXIT_FAILURE;
        }
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN) &&
            pcap_dispatch(capture_handle(p->input), -1, s_on_live_packet, (u_char *)p->analyzer) ==
                PCAP_ERROR) {
            tw_log("%s: %s", capture_name(p->input), pcap_geterr(capture_handle(p->input)));
            return EXIT_FAILURE;
        }
        tw_analyzer_flush(p->analyzer);  // a live batch ends with its dispatch
        if (rc > 0 && (items[1].revents & ZMQ_POLLIN))
            publisher_process_subscriptions(p->output, 0);
        int64_t now = s_wall_clock_us();
        if (now >= tw_analyzer_next_boundary(p->analyzer))
            tw_analyzer_tick(p->analyzer, now);
        if (tw_signals_take_usr1())
            s_say_counters(p);
    }
    return EXIT_SUCCESS;
}

static void s_finish(producer *p)
{
    int64_t end_us;
    bool live = capture_is_live(p->input);
    if (live || !tw_analyzer_last_packet(p->analyzer, &end_us))
        end_us = s_wall_clock_us();
    tw_analyzer_finish(p->analyzer, end_us);
}

//  Waits for `count` subscriptions until deadline_ms (monotonic), through
//  SIGUSR1 (which prints the counters). Returns the number seen, or -EINTR
//  on a stop.
static int s_wait_until(producer *p, int count, int64_t deadline_ms)
{
    int seen;
    for (;;) {
        int64_t left = deadline_ms - zclock_mono();
        seen = publisher_wait_subscribers(p->output, count, left > 0 ? (int)left : 0);
        if (seen >= 0 || tw_signals_stop_requested())
            return seen;
        if (tw_signals_take_usr1())
            s_say_counters(p);
    }
}

//  A file is read in milliseconds, before a subscriber already running has
//  retried its connection (every TW_RECONNECT_IVL_MS): without a wait it
//  would get nothing. So, unless --no-wait or --wait-subscribers, a file
//  waits TW_REPLAY_START_WAIT_MS from the bind for those subscribers
//  (a live capture loses nothing: its reports come every interval).
static void s_wait_subscribers(producer *p, const options *o)
{
    if (o->wait_subscribers > 0) {
        int64_t deadline = zclock_mono() + (int64_t)o->wait_timeout_s * 1000;
        if (!p->quiet)
            fprintf(stderr, "waiting for %d subscriber(s), at most %d s\n", o->wait_subscribers,
                    o->wait_timeout_s);
        int seen = s_wait_until(p, o->wait_subscribers, deadline);
        if (seen >= 0 && seen < o->wait_subscribers)
            tw_log("warning: %d of %d subscribers after %d s, going on", seen, o->wait_subscribers,
                   o->wait_timeout_s);
        return;
    }
    if (o->no_wait || capture_is_live(p->input))
        return;
    int64_t deadline = p->bound_ms + TW_REPLAY_START_WAIT_MS;
    if (!p->quiet && deadline > zclock_mono())
        fprintf(stderr, "waiting %.1f s for subscribers already running (--no-wait: don't)\n",
                (deadline - zclock_mono()) / 1000.0);
    (void)s_wait_until(p, INT32_MAX, deadline);
}

static int s_run(producer *p, const options *o)
{
    s_say_start(p, o);
    s_wait_subscribers(p, o);
    bool live = capture_is_live(p->input);
    status_meter_init(&p->meter, stderr, !live && !o->quiet, zclock_usecs());
    int status = live ? s_read_live(p) : s_read_file(p, o);
    if (live || status != EXIT_FAILURE) {
        s_finish(p);
        if (!o->quiet)
            s_say_counters(p);
    }
    return status;
}

//  A stop that came while the input was still opening (a FIFO or standard
//  input whose writer has sent nothing yet) ends the run like any stop: an
//  empty final report, exit 0.
static int s_stop_before_input(producer *p, const options *o, tw_analyzer_sink sink)
{
    p->analyzer = tw_analyzer_new(&o->analysis, TW_LINK_ETHERNET, sink);
    if (!p->analyzer)
        return EXIT_FAILURE;
    // Subscribers that connected while we waited may have their
    // subscriptions still in flight: give them a moment to land.
    (void)publisher_process_subscriptions(p->output, 250);
    tw_analyzer_finish(p->analyzer, s_wall_clock_us());
    return EXIT_SUCCESS;
}

//  As root, the file to read is opened before the switch of user, which
//  then comes right after the publisher's bind, before anything is read. A
//  FIFO is opened without waiting for its writer (O_NONBLOCK); capture_open
//  waits for its first bytes later, unprivileged and bound. A file that
//  cannot be opened here is left to capture_open, which says why.
static void s_open_file_early(capture_options *capture)
{
    if (strcmp(capture->file, "-") == 0)
        return;
    int fd = open(capture->file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)))) {
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        return;
    capture->file_open = true;
    capture->file_fd = fd;
}

//  Opens the input and binds the publisher, in the order least privilege
//  needs. A live interface is opened first, with CAP_NET_RAW. Then, when
//  the drop is a switch of user (root), which applies to every thread: the
//  file is opened (not read), the publisher binds (it reads the CURVE
//  secret and starts libzmq's threads), the switch, and only then the
//  capture starts reading, so that subscribers can connect while a FIFO
//  waits for its writer and no byte from outside is handled as root.
//  Otherwise clearing capabilities applies to this thread only, so it comes
//  before any thread starts: the drop, then the publisher and the file.
//  Returns 0, or -1 (the reason printed).
static int s_open_edges(producer *p, const options *o)
{
    bool live = o->capture.interface != NULL;
    bool switching = privileges_will_switch(o->user);
    if (privileges_prepare() != 0)
        return -1;
    if (live) {
        (void)privileges_raise_capture();  // without it, libpcap says "permission denied"
        if (!(p->input = capture_open(&o->capture)))
            return -1;
    }
    capture_options capture = o->capture;
    if (!live && switching)
        s_open_file_early(&capture);
    if (!switching && privileges_drop(o->user) != 0)
        return -1;
    p->output = publisher_new(&o->publish);
    p->bound_ms = zclock_mono();
    if (p->output && switching && privileges_drop(o->user) != 0)
        return -1;
    if (p->output && !live)
        p->input = capture_open(&capture);
    // A stop while the input was opening is handled by main, not an error.
    return p->output && (p->input || tw_signals_stop_requested()) ? 0 : -1;
}

static void s_default_options(options *o, char *hostname, size_t size)
{
    memset(o, 0, sizeof *o);
    o->analysis = tw_analyzer_defaults();
    o->publish.endpoints = o->endpoints;
    o->publish.send_timeout_ms = PUBLISHER_DEFAULT_TIMEOUT_MS;
    o->wait_timeout_s = 10;
    o->user = PRIVILEGES_DEFAULT_USER;
    if (gethostname(hostname, size) != 0)
        snprintf(hostname, size, "unknown");
    hostname[size - 1] = '\0';
    o->publish.producer_id = hostname;
}

int main(int argc, char **argv)
{
    tw_program_set_name(TW_PRODUCER_NAME);
    char hostname[256];
    options o;
    s_default_options(&o, hostname, sizeof hostname);
    if (argc == 1) {
        s_usage(stderr);
        return EXIT_USAGE;
    }
    int status = s_parse_options(argc, argv, &o);
    if (status >= 0)
        return status;
    if (o.publish.n_endpoints == 0)
        o.endpoints[o.publish.n_endpoints++] = TW_DEFAULT_PUBLISH;
    // Live capture never waits for a subscriber: the packets would be lost.
    if (o.no_wait || o.capture.interface)
        o.publish.send_timeout_ms = 0;
    else
        o.publish.linger_ms = PUBLISHER_FILE_LINGER_MS;  // a file's end waits for its subscribers

    zsys_handler_set(NULL);
    tw_signals_install();  // SIGUSR1: the counters, see s_say_counters
    producer p = {.quiet = o.quiet};
    if (s_open_edges(&p, &o) != 0) {
        publisher_destroy(&p.output);
        capture_close(&p.input);
        return EXIT_FAILURE;
    }
    tw_analyzer_sink sink = {s_on_report, o.analysis.flows ? s_on_flow : NULL, &p};
    if (p.input)
        p.analyzer = tw_analyzer_new(&o.analysis, capture_datalink(p.input), sink);
    status = EXIT_FAILURE;
    if (p.analyzer)
        status = s_run(&p, &o);
    else if (p.input)
        tw_log("out of memory");
    else if (p.output && tw_signals_stop_requested())
        status = s_stop_before_input(&p, &o, sink);
    tw_analyzer_destroy(&p.analyzer);
    publisher_destroy(&p.output);
    tw_host_rows_destroy(&p.host_rows);
    capture_close(&p.input);
    return status;
}
