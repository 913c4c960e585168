// SPDX-License-Identifier: MPL-2.0
/*  serve: the `serve` mode of tcpwin-subscriber: dashboards over HTTP.

    One loop: zmq_poll on the SUB socket and on the HTTP server's epoll
    descriptor. Reports go into the model (dash_model); HTTP requests are
    answered from it: /metrics (Prometheus, metrics_text), /api/report and
    /api/history (JSON, dash_json), and the web view (/, its script and
    styles and the vendored uPlot, compiled in: web_assets).
    The web view polls the API every 2 s rather than hold a Server-Sent
    Events stream: every request is then short, so the connection bound and
    the idle timeout are the only bounds needed, and no connection waits
    suspended inside the single loop; reports come every few seconds, so
    2 s of latency shows nothing late on a NOC screen.
*/
#ifndef TW_SERVE_H
#define TW_SERVE_H

#include "receiver.h"

#define SERVE_DEFAULT_LISTEN     "127.0.0.1:9105"
#define SERVE_DEFAULT_TOP        20
#define SERVE_MAX_TOP            1000
#define SERVE_MAX_CONNECTIONS    64
#define SERVE_MAX_PER_ADDRESS    16
#define SERVE_CONNECTION_TIMEOUT 10
#define SERVE_REQUEST_DEADLINE   10

//  Runs the mode with its own arguments (those after the word `serve`).
//  Returns the exit status.
int serve_main(receiver *rx, int argc, char **argv);

#endif
