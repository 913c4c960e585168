// SPDX-License-Identifier: MPL-2.0
/*  tcpwin-subscriber: receives tcpwin messages and prints or forwards them.

        tcpwin-subscriber [--connect EP]... [--topic PREFIX]... MODE [mode options]

    Options that choose producers and topics come before the mode word, the
    mode's own options after it. Each mode is one file: print.c, forward.c, top.c,
    serve.c, relay.c.
*/
#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "print.h"
#include "top.h"
#include "curve.h"
#include "endpoint.h"
#include "number.h"
#include "program.h"
#include "receiver.h"
#include "relay.h"
#include "serve.h"
#include "signals.h"

#define MAX_LIST 64

typedef struct {
    const char *endpoints[MAX_LIST];
    const char *topics[MAX_LIST];
    receiver_options receive;
} options;

typedef int(mode_fn)(receiver *rx, int argc, char **argv);
typedef int(setup_mode_fn)(const receiver_options *options, int argc, char **argv);

static void s_keygen_usage(FILE *out)
{
    fprintf(out, "Usage: tcpwin-subscriber keygen [--force] NAME\n"
                 "Writes a CURVE certificate pair in czmq's format: NAME_secret (mode 0600, keep\n"
                 "it) and NAME (public, mode 0644, give it to the other side). Refuses when\n"
                 "either file exists.\n"
                 "\n"
                 "  -f, --force  replace an existing pair (a symlink is replaced, never the\n"
                 "               file it points to)\n"
                 "  -h, --help   this text\n");
}

static int s_keygen_main(const receiver_options *options, int argc, char **argv)
{
    (void)options;
    bool force = false, options_done = false;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            s_keygen_usage(stdout);
            return 0;
        } else if (!options_done && (strcmp(arg, "--force") == 0 || strcmp(arg, "-f") == 0))
            force = true;
        else if (!options_done && strcmp(arg, "--") == 0)
            options_done = true;
        else if (!options_done && arg[0] == '-') {
            char text[256];
            tw_log("keygen: unknown option '%s'", tw_escape(arg, text, sizeof text));
            s_keygen_usage(stderr);
            return 2;
        } else if (name) {
            tw_log("keygen: one NAME only");
            s_keygen_usage(stderr);
            return 2;
        } else
            name = arg;
    }
    if (!name || !name[0]) {
        s_keygen_usage(stderr);
        return 2;
    }
    return tw_curve_keygen(name, force) == 0 ? 0 : 1;
}

//  A mode either reads through a receiver, or sets up its own sockets.
static const struct {
    const char *name;
    mode_fn *run;
    setup_mode_fn *run_with_options;
    const char *what;
} s_modes[] = {
    {"print", print_main, NULL, "print reports (legacy text) or every message (JSON lines)"},
    {"forward", forward_main, NULL, "forward reports as legacy text to a TCP or UDP port (nc)"},
    {"top", top_main, NULL, "a full-screen live view: stalled receivers, worst hosts (ncurses)"},
    {"serve", serve_main, NULL, "serve /metrics (Prometheus) and a live web view over HTTP"},
    {"relay", NULL, relay_main, "pass every message on to dashboards (many-to-many)"},
    {"keygen", NULL, s_keygen_main, "write a CURVE certificate pair"},
};

static void s_usage(FILE *out)
{
    fprintf(out,
            "Usage: tcpwin-subscriber [options] MODE [mode options]\n"
            "Receives tcpwin reports and flow records from one or more producers.\n"
            "\n"
            "Options:\n"
            "  -c, --connect ENDPOINT  a producer, repeatable (default %s)\n"
            "  -t, --topic PREFIX      subscribe to this topic prefix, repeatable\n"
            "                          (default tcpwin.: reports and flow records)\n"
            "      --max-message N     refuse messages larger than N bytes (default %d MiB)\n"
            "      --curve-secret CERT encrypt with CURVE: our certificate (keygen's NAME) ...\n"
            "      --curve-server KEY  ... and the producer's public key (Z85 or its certificate)\n"
            "  -h, --help              this text; MODE --help for a mode's options\n"
            "  -V, --version           the version\n"
            "\n"
            "Modes:\n",
            TW_DEFAULT_CONNECT, TW_MAX_MESSAGE_BYTES >> 20);
    for (size_t i = 0; i < sizeof s_modes / sizeof s_modes[0]; i++)
        fprintf(out, "  %-8s %s\n", s_modes[i].name, s_modes[i].what);
    fprintf(out,
            "\nExit status: 0 done (or stopped by SIGINT/SIGTERM, or the output pipe closed);\n"
            "1 runtime error; 2 bad usage (a --connect host name that does not resolve\n"
            "included); 3 print --until-final: the run ended without a final report reaching us.\n"
            "\n"
            "On stderr: after 3 s with nothing received, which endpoints it waits for; a\n"
            "producer of another schema major, once (its messages are skipped and counted).\n");
}

static bool s_append(const char **list, size_t *n, const char *value, const char *what)
{
    if (*n == MAX_LIST) {
        tw_log("too many %s (at most %d)", what, MAX_LIST);
        return false;
    }
    list[(*n)++] = value;
    return true;
}

//  A producer takes only prefixes of its topics, and cuts off a peer that
//  sends anything else: say so here rather than be cut off forever.
static bool s_check_topic(const char *prefix)
{
    if (tw_topic_subscription_ok(prefix, strlen(prefix)))
        return true;
    char shown[64];
    tw_log("--topic '%s': not a prefix of %s or %s", tw_escape(prefix, shown, sizeof shown),
           TW_TOPIC_REPORT, TW_TOPIC_FLOW);
    return false;
}

//  Returns -1 to go on, or an exit status; leaves optind at the mode word.
static int s_parse_global(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        {"connect", required_argument, NULL, 'c'},
        {"topic", required_argument, NULL, 't'},
        {"max-message", required_argument, NULL, 'm'},
        {"curve-secret", required_argument, NULL, 's'},
        {"curve-server", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "+c:t:hV", longs, NULL)) != -1) {
        bool ok = true;
        uint64_t n;
        if (opt == 'c')
            ok = tw_endpoint_option("connect", optarg, TW_ENDPOINT_ZMQ_CONNECT) &&
                 s_append(o->endpoints, &o->receive.n_endpoints, optarg, "--connect endpoints");
        else if (opt == 't')
            ok = s_check_topic(optarg) &&
                 s_append(o->topics, &o->receive.n_topics, optarg, "--topic prefixes");
        else if (opt == 'm')
            ok = tw_number_option("max-message", optarg, 1, INT32_MAX, &n) &&
                 ((o->receive.max_message_bytes = (int64_t)n), true);
        else if (opt == 's')
            o->receive.curve_cert = optarg;
        else if (opt == 'k')
            o->receive.curve_server_key = optarg;
        else if (opt == 'h') {
            s_usage(stdout);
            return 0;
        } else if (opt == 'V') {
            printf("tcpwin-subscriber %s\n", TCPWIN_VERSION);
            return 0;
        } else
            ok = false;
        if (!ok) {
            fprintf(stderr, "Try 'tcpwin-subscriber --help'.\n");
            return 2;
        }
    }
    return -1;
}

static int s_find_mode(const char *name)
{
    for (size_t i = 0; i < sizeof s_modes / sizeof s_modes[0]; i++)
        if (strcmp(s_modes[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int s_run_mode(int mode, const receiver_options *options, int argc, char **argv)
{
    if (s_modes[mode].run_with_options)
        return s_modes[mode].run_with_options(options, argc, argv);
    receiver *rx = receiver_new(options);
    if (!rx)
        return 1;
    int status = s_modes[mode].run(rx, argc, argv);
    receiver_destroy(&rx);
    return status;
}

int main(int argc, char **argv)
{
    tw_program_set_name(TW_SUBSCRIBER_NAME);
    options o = {0};
    o.receive.endpoints = o.endpoints;
    o.receive.topics = o.topics;
    if (argc == 1) {
        s_usage(stderr);
        return 2;
    }
    int status = s_parse_global(argc, argv, &o);
    if (status >= 0)
        return status;
    if (optind >= argc) {
        tw_log("missing MODE (print, forward, top, serve, relay, keygen)\nTry "
               "'tcpwin-subscriber --help'.");
        return 2;
    }
    int mode = s_find_mode(argv[optind]);
    // The bridge, top and serve show no flows: reports only, unless --topic says otherwise.
    if (mode >= 0 &&
        (s_modes[mode].run == forward_main || s_modes[mode].run == top_main ||
         s_modes[mode].run == serve_main) &&
        o.receive.n_topics == 0)
        o.topics[o.receive.n_topics++] = TW_TOPIC_REPORT;
    if (mode < 0) {
        tw_log("unknown mode '%s'\nTry 'tcpwin-subscriber --help'.", argv[optind]);
        return 2;
    }
    if (o.receive.n_endpoints == 0)
        o.endpoints[o.receive.n_endpoints++] = TW_DEFAULT_CONNECT;

    // A name that does not resolve would be retried by libzmq forever, silently.
    if (s_modes[mode].run_with_options != s_keygen_main && receiver_check_names(&o.receive) != 0)
        return 2;

    zsys_handler_set(NULL);
    tw_signals_install();
    return s_run_mode(mode, &o.receive, argc - optind, argv + optind);
}
