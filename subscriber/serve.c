// SPDX-License-Identifier: MPL-2.0
/*  serve: Prometheus metrics, a JSON API and a live web view, in one loop.

    Reports are read first at each turn of the loop, at most SERVE_BATCH of
    them, then the HTTP server runs: a flood of reports cannot starve the
    pages, and pages cannot starve the reports (each answer is rendered from
    memory, at once).
*/
#include "serve.h"

#include "dash_json.h"
#include "dash_model.h"
#include "endpoint.h"
#include "http_server.h"
#include "metrics_text.h"
#include "number.h"
#include "program.h"
#include "signals.h"
#include "web_assets.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define SERVE_BATCH 1000

typedef struct {
    const char *listen;
    uint64_t top_k;
} serve_options;

typedef struct {
    dash_model *model;
    receiver *rx;
    http_server *server;
    size_t top_k;
} serve_state;

static void s_usage(FILE *out)
{
    fprintf(out,
            "Usage: tcpwin-subscriber [global options] serve [--listen HOST:PORT]\n"
            "       [--metrics-top K]\n"
            "Serves the latest reports over HTTP:\n"
            "  /metrics      Prometheus text format (scrape it; see README, Dashboards)\n"
            "  /             a live web view: stalled receivers, hosts, a chart of the last\n"
            "                hour, run counters, producers and the age of their reports\n"
            "  /api/report   the latest report per producer as JSON (print --format json's\n"
            "                field names), at most 1,000 hosts (those that stalled most)\n"
            "                and stalled flows each; ?rows=N (1 to 1,000): at most N;\n"
            "                /api/history the chart's figures\n"
            "\n"
            "  --listen HOST:PORT  where to listen (default %s; [::1]:PORT for IPv6)\n"
            "  --metrics-top K     per-host series for the K hosts of each producer that\n"
            "                      stalled most (default %d, at most %d): a scan of a million\n"
            "                      addresses cannot become a million Prometheus series\n"
            "                      (tcpwin_host_series_omitted counts the rest)\n"
            "\n"
            "The view and the metrics have NO authentication and no TLS. The default\n"
            "listens on loopback only; --listen 0.0.0.0:9105 shows them to the network:\n"
            "put them behind a reverse proxy with authentication and TLS (nginx, Caddy)\n"
            "listening on loopback, or reach them through an SSH tunnel\n"
            "(ssh -L 9105:127.0.0.1:9105 HOST). At most %d connections (%d per client\n"
            "address, so behind a proxy all share its %d), closed after %d s idle or\n"
            "without a whole request within %d s; request headers up to %d KiB; beyond\n"
            "%u MiB of answers in flight, 503. Per producer, the %d hosts that\n"
            "stalled most and %d stalled flows of its latest report are kept.\n",
            SERVE_DEFAULT_LISTEN, SERVE_DEFAULT_TOP, SERVE_MAX_TOP, SERVE_MAX_CONNECTIONS,
            SERVE_MAX_PER_ADDRESS, SERVE_MAX_PER_ADDRESS, SERVE_CONNECTION_TIMEOUT,
            SERVE_REQUEST_DEADLINE, HTTP_SERVER_MEMORY_LIMIT / 1024,
            HTTP_SERVER_MAX_IN_FLIGHT / (1024 * 1024), DASH_ROWS_MAX, DASH_ROWS_MAX);
}

//  True when text is HOST:PORT as the endpoint parser reads tcp://HOST:PORT;
//  otherwise says why.
static bool s_listen_ok(const char *text)
{
    char endpoint_text[300];
    tw_endpoint endpoint;
    const char *reason = "too long";
    int n = snprintf(endpoint_text, sizeof endpoint_text, "tcp://%s", text);
    if (n > 0 && (size_t)n < sizeof endpoint_text &&
        tw_endpoint_parse(endpoint_text, &endpoint, &reason) == 0) {
        tw_endpoint_clear(&endpoint);
        return true;
    }
    char shown[128];
    tw_log("serve: bad --listen '%s': %s", tw_escape(text, shown, sizeof shown), reason);
    return false;
}

//  Returns -1 to go on, or an exit status.
static int s_parse(int argc, char **argv, serve_options *o)
{
    static const struct option longs[] = {{"listen", required_argument, NULL, 'l'},
                                          {"metrics-top", required_argument, NULL, 'k'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (opt == 'h') {
            s_usage(stdout);
            return 0;
        } else if (opt == 'l') {
            if (!s_listen_ok(optarg))
                return 2;
            o->listen = optarg;
        } else if (opt == 'k' &&
                   tw_number_option("metrics-top", optarg, 0, SERVE_MAX_TOP, &o->top_k)) {
            continue;
        } else {
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        tw_log("serve: unexpected argument '%s'", argv[optind]);
        return 2;
    }
    return -1;
}

static void s_text(http_reply *reply, unsigned status, const char *text)
{
    *reply = (http_reply){.status = status, .body = text, .len = strlen(text)};
}

//  A document written by fn into memory, or a 500.
static void s_document(http_reply *reply, const char *type, char *text, size_t len, int rc)
{
    if (rc != 0 || !text) {
        free(text);
        s_text(reply, 500, "cannot render the page\n");
        return;
    }
    *reply = (http_reply){
        .status = 200, .content_type = type, .body = text, .len = len, .must_free = true};
}

static void s_metrics(serve_state *s, http_reply *reply)
{
    const http_server_counters *h = http_server_get_counters(s->server);
    metrics_context c = {.receiver = receiver_get_counters(s->rx),
                         .http_requests = h->requests,
                         .http_errors = h->errors,
                         .http_cut_off = h->cut_off,
                         .http_busy = h->busy,
                         .top_k = s->top_k,
                         .now_ms = zclock_mono()};
    size_t len = 0;
    char *text = metrics_text_render(s->model, &c, &len);
    s_document(reply, METRICS_CONTENT_TYPE, text, len, text ? 0 : -ENOMEM);
}

//  /api/report?rows=N: at most N hosts and stalled flows per producer, N
//  from 1 to DASH_ROWS_MAX (all the model keeps, and the default). Returns
//  N, or 0 for a bad value (answered 400: a typo should not cost a page of
//  every row).
_Static_assert(DASH_ROWS_MAX == 1000, "the answer to a bad rows= names the bound");
static size_t s_rows_wanted(void *request)
{
    const char *text = http_server_query(request, "rows");
    if (!text)
        return DASH_ROWS_MAX;
    uint64_t n;
    if (tw_number_parse(text, 1, DASH_ROWS_MAX, &n) != 0)
        return 0;
    return (size_t)n;
}

static void s_json(serve_state *s, http_reply *reply, bool history, size_t rows)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        s_text(reply, 500, "out of memory\n");
        return;
    }
    int rc = history ? dash_json_write_history(out, s->model)
                     : dash_json_write_reports(out, s->model, zclock_mono(), rows);
    if (fclose(out) != 0)
        rc = -EIO;
    s_document(reply, "application/json", text, len, rc);
}

static bool s_asset(const char *path, http_reply *reply)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < web_assets_count; i++)
        if (strcmp(web_assets[i].path, path) == 0) {
            *reply = (http_reply){.status = 200,
                                  .content_type = web_assets[i].content_type,
                                  .cache_control = "no-cache",
                                  .body = web_assets[i].data,
                                  .len = web_assets[i].size};
            return true;
        }
    return false;
}

static void s_route(void *arg, const char *path, void *request, http_reply *reply)
{
    serve_state *s = arg;
    size_t rows = 0;
    if (strcmp(path, "/metrics") == 0)
        s_metrics(s, reply);
    else if (strcmp(path, "/api/report") == 0 && !(rows = s_rows_wanted(request)))
        s_text(reply, 400, "rows: a whole number from 1 to 1000\n");
    else if (strcmp(path, "/api/report") == 0)
        s_json(s, reply, false, rows);
    else if (strcmp(path, "/api/history") == 0)
        s_json(s, reply, true, 0);
    else if (!s_asset(path, reply))
        s_text(reply, 404, "not found\n");
}

//  Reads what arrived, at most SERVE_BATCH messages. Returns 0, or the
//  exit status of a failure.
static int s_receive(serve_state *s)
{
    for (int i = 0; i < SERVE_BATCH; i++) {
        tw_message msg;
        int rc = receiver_recv(s->rx, &msg);
        if (rc == 0 || rc == -EINTR)
            return 0;
        if (rc < 0) {
            tw_log("cannot receive: %s", zmq_strerror(-rc));
            return 1;
        }
        rc = dash_model_add(s->model, &msg, zclock_mono());
        tw_message_free(&msg);
        if (rc < 0) {
            tw_log("serve: out of memory for a report");
            return 1;
        }
    }
    return 0;
}

static int s_loop(serve_state *s)
{
    zmq_pollitem_t items[2] = {
        {.socket = receiver_socket(s->rx), .events = ZMQ_POLLIN},
        {.fd = http_server_fd(s->server), .events = ZMQ_POLLIN},
    };
    int status = 0;
    while (status == 0 && !tw_signals_stop_requested()) {
        receiver_poll_events(s->rx);
        long timeout = http_server_timeout_ms(s->server, 1000);
        if (zmq_poll(items, 2, timeout) == -1 && errno != EINTR) {
            tw_log("poll failed: %s", zmq_strerror(errno));
            return 1;
        }
        status = s_receive(s);
        if (status == 0 && http_server_run(s->server) != 0) {
            tw_log("serve: the HTTP server failed");
            status = 1;
        }
    }
    return status;
}

int serve_main(receiver *rx, int argc, char **argv)
{
    serve_options o = {.listen = SERVE_DEFAULT_LISTEN, .top_k = SERVE_DEFAULT_TOP};
    int status = s_parse(argc, argv, &o);
    if (status >= 0)
        return status;
    serve_state s = {.rx = rx, .top_k = (size_t)o.top_k};
    s.model = dash_model_new(DASH_MAX_PRODUCERS);
    http_server_options h = {.listen = o.listen,
                             .max_connections = SERVE_MAX_CONNECTIONS,
                             .max_per_address = SERVE_MAX_PER_ADDRESS,
                             .timeout_s = SERVE_CONNECTION_TIMEOUT,
                             .request_deadline_s = SERVE_REQUEST_DEADLINE};
    if (s.model)
        s.server = http_server_new(&h, s_route, &s);
    if (s.model && s.server) {
        tw_log("serve: listening on http://%s/ (metrics at /metrics)", o.listen);
        status = s_loop(&s);
    } else
        status = 1;
    http_server_destroy(&s.server);
    dash_model_destroy(&s.model);
    return status;
}
