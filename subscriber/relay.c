/*  relay: XSUB -> zmq_proxy -> XPUB. */
#include "relay.h"
#include "program.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>

#include "curve.h"
#include "endpoint.h"

#define MAX_BINDS 64

typedef struct {
    const char *binds[MAX_BINDS];
    size_t n_binds;
    const char *curve_secret;
    const char *curve_allow;
} relay_options;

static void s_usage(FILE *out)
{
    fprintf(out,
            "Usage: tcpwin-subscriber [--connect EP]... [--curve-secret CERT --curve-server KEY]\n"
            "       relay [--bind EP]... [--curve-secret CERT --curve-allow DIR]\n"
            "Passes every message of the producers (--connect) to the dashboards that\n"
            "connect to --bind (repeatable; default %s).\n"
            "  --curve-secret CERT  dashboards' side: encrypt with CURVE using CERT ...\n"
            "  --curve-allow DIR    ... and let in only the public certificates in DIR\n",
            RELAY_DEFAULT_BIND);
}

//  Returns -1 to go on, or an exit status.
static int s_parse(int argc, char **argv, relay_options *o)
{
    static const struct option longs[] = {{"bind", required_argument, NULL, 'b'},
                                          {"curve-secret", required_argument, NULL, 's'},
                                          {"curve-allow", required_argument, NULL, 'a'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (opt == 'b' && o->n_binds == MAX_BINDS) {
            tw_log("relay: too many --bind endpoints (at most %d)", MAX_BINDS);
            return 2;
        } else if (opt == 'b') {
            if (!tw_endpoint_option("bind", optarg, TW_ENDPOINT_ZMQ_BIND))
                return 2;
            o->binds[o->n_binds++] = optarg;
        } else if (opt == 's')
            o->curve_secret = optarg;
        else if (opt == 'a')
            o->curve_allow = optarg;
        else if (opt == 'h') {
            s_usage(stdout);
            return 0;
        } else {
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !o->curve_secret != !o->curve_allow) {
        tw_log("relay: %s", optind < argc ? "unexpected argument"
                                          : "CURVE needs --curve-secret and --curve-allow");
        return 2;
    }
    if (o->n_binds == 0)
        o->binds[o->n_binds++] = RELAY_DEFAULT_BIND;
    return -1;
}

static bool s_setup_upstream(zsock_t *xsub, const receiver_options *up)
{
    zsock_set_ipv6(xsub, 1);
    if ((up->curve_cert || up->curve_server_key) &&
        tw_curve_client_setup(xsub, up->curve_cert, up->curve_server_key) != 0)
        return false;
    for (size_t i = 0; i < up->n_endpoints; i++)
        if (zsock_connect(xsub, "%s", up->endpoints[i]) != 0) {
            tw_log("relay: cannot connect to '%s': %s", up->endpoints[i],
                   zmq_strerror(zmq_errno()));
            return false;
        }
    return true;
}

static bool s_setup_downstream(zsock_t *xpub, const relay_options *o, tw_curve_server **curve)
{
    zsock_set_ipv6(xpub, 1);
    zsock_set_xpub_verbose(xpub, 1);
    if (o->curve_secret && !(*curve = tw_curve_server_new(xpub, o->curve_secret, o->curve_allow)))
        return false;
    for (size_t i = 0; i < o->n_binds; i++)
        if (zsock_bind(xpub, "%s", o->binds[i]) == -1) {
            tw_log("relay: cannot bind '%s': %s", o->binds[i], zmq_strerror(zmq_errno()));
            return false;
        }
    return true;
}

int relay_main(const receiver_options *upstream, int argc, char **argv)
{
    relay_options o = {0};
    int status = s_parse(argc, argv, &o);
    if (status >= 0)
        return status;
    zsock_t *xsub = zsock_new(ZMQ_XSUB);
    zsock_t *xpub = zsock_new(ZMQ_XPUB);
    tw_curve_server *curve = NULL;
    status = 1;
    if (xsub && xpub && s_setup_upstream(xsub, upstream) && s_setup_downstream(xpub, &o, &curve)) {
        tw_log("relaying %zu producer(s) to %s", upstream->n_endpoints, o.binds[0]);
        // zmq_proxy returns only when interrupted (SIGINT/SIGTERM) or on error.
        zmq_proxy(zsock_resolve(xsub), zsock_resolve(xpub), NULL);
        status = errno == EINTR ? 0 : 1;
        if (status)
            tw_log("relay: %s", zmq_strerror(errno));
    }
    tw_curve_server_destroy(&curve);  // its monitor first, then the socket
    zsock_destroy(&xsub);
    zsock_destroy(&xpub);
    return status;
}
