// SPDX-License-Identifier: MPL-2.0
/*  relay: XSUB -> XPUB in one poll loop, subscriptions checked on the way up.

    Not zmq_proxy: the dashboards' side is a manual XPUB, like the
    producer's, so a subscription is stored only when it is a prefix of one
    of our topics; anything else is refused, counted, and its sender's
    connections are cut (peer_eviction.h). The relay subscribes upstream
    once, to everything of ours, and passes no dashboard's unsubscription
    up (one could otherwise unsubscribe the relay for all); a dashboard's
    subscription goes up at most once a second (RELAY_REPLAY_MS), only so
    that the producers replay their latest report to late joiners. So a
    dashboard can neither grow the relay's memory nor steer the producers
    behind it. Messages from the producers pass unchanged, every frame, up
    to TW_MAX_MESSAGE_BYTES; each dashboard's queue is bounded in bytes, as
    the producer's are (RELAY_QUEUE_BYTES).
*/
#include "relay.h"
#include "program.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>

#include "curve.h"
#include "endpoint.h"
#include "peer_eviction.h"
#include "signals.h"
#include "wire.h"

#define MAX_BINDS         64
#define RELAY_REPLAY_MS   1000
#define RELAY_QUEUE_BYTES (64u << 20)
#define RELAY_MAX_HWM     1000

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
    zsock_set_maxmsgsize(xsub, up->max_message_bytes > 0 ? (int)up->max_message_bytes
                                                         : TW_MAX_MESSAGE_BYTES);
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

typedef struct {
    void *xsub;                 // to the producers
    void *xpub;                 // for the dashboards
    tw_peer_eviction eviction;  // cutting off peers that send those
    uint64_t refused;           // subscriptions refused
    int64_t forwarded_ms;       // when a dashboard's subscription last went up
    size_t largest;             // largest message passed down so far
    int hwm;                    // each dashboard's queue, in messages, from largest
} relay;

static bool s_setup_downstream(zsock_t *xpub, const relay_options *o, tw_curve_server **curve,
                               relay *r)
{
    zsock_set_ipv6(xpub, 1);
    zsock_set_xpub_verbose(xpub, 1);
    zsock_set_xpub_manual(xpub, 1);  // see the top
    zsock_set_maxmsgsize(xpub, o->curve_secret ? TW_MAX_SUBSCRIPTION_BYTES_CURVE
                                               : TW_MAX_SUBSCRIPTION_BYTES);
    zsock_set_rcvhwm(xpub, 64);
    zsock_set_sndhwm(xpub, RELAY_MAX_HWM);
    if (o->curve_secret && !(*curve = tw_curve_server_new(xpub, o->curve_secret, o->curve_allow)))
        return false;
    for (size_t i = 0; i < o->n_binds; i++) {
        tw_peer_eviction_watch(&r->eviction, o->binds[i]);
        if (zsock_bind(xpub, "%s", o->binds[i]) == -1) {
            tw_log("relay: cannot bind '%s': %s", o->binds[i], zmq_strerror(zmq_errno()));
            return false;
        }
    }
    return true;
}

//  Each dashboard's queue holds about RELAY_QUEUE_BYTES: the bound in
//  messages follows the largest message passed (as the producer's does).
static void s_bound_queues(relay *r, size_t size)
{
    if (size <= r->largest)
        return;
    r->largest = size;
    size_t fit = RELAY_QUEUE_BYTES / size;
    int hwm = fit < 2 ? 2 : fit > RELAY_MAX_HWM ? RELAY_MAX_HWM : (int)fit;
    if (hwm != r->hwm && zmq_setsockopt(r->xpub, ZMQ_SNDHWM, &hwm, sizeof hwm) == 0)
        r->hwm = hwm;
}

//  Passes one whole message, every frame, from the producers to the
//  dashboards. Returns 0, or -1 when nothing (more) could be read.
static int s_pass_message(relay *r)
{
    int more = 1;
    for (int part = 0; more; part++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, r->xsub, part == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&msg);
            return -1;
        }
        more = zmq_msg_more(&msg);
        s_bound_queues(r, zmq_msg_size(&msg));
        if (zmq_msg_send(&msg, r->xpub, more ? ZMQ_SNDMORE : 0) < 0)
            zmq_msg_close(&msg);  // a dashboard's full queue: it loses this one
    }
    return 0;
}

static void s_refuse(relay *r, zmq_msg_t *msg)
{
    r->refused++;
    (void)tw_peer_eviction_cut(&r->eviction, zmq_msg_gets(msg, "Peer-Address"));
    if ((r->refused & (r->refused - 1)) == 0)
        tw_log("relay: refused %llu subscription(s) so far (not a prefix of a tcpwin topic); "
               "%llu connection(s) cut",
               (unsigned long long)r->refused, (unsigned long long)r->eviction.cut);
}

//  One dashboard's (un)subscription: applied for it and passed upstream
//  when it is ours, refused otherwise. Returns 0, or -1 when nothing waits.
static int s_handle_subscription(relay *r)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, r->xpub, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return -1;
    }
    const uint8_t *data = zmq_msg_data(&msg);
    size_t size = zmq_msg_size(&msg);
    int64_t now = zclock_mono();
    if (zmq_msg_more(&msg) || size == 0 || data[0] > 1) {
        // Not a subscription: libzmq no longer knows whose the next ones are.
        s_refuse(r, &msg);
        (void)tw_peer_eviction_cut_all(&r->eviction);
    } else if (!tw_topic_subscription_ok(data + 1, size - 1))
        s_refuse(r, &msg);
    else if (zmq_setsockopt(r->xpub, data[0] ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, data + 1,
                            size - 1) != 0)
        tw_log("relay: cannot apply a subscription: %s", zmq_strerror(errno));
    else if (data[0] == 1 && now - r->forwarded_ms >= RELAY_REPLAY_MS &&
             zmq_msg_send(&msg, r->xsub, 0) >= 0) {
        r->forwarded_ms = now;  // the producers replay their latest report
        return 0;               // sent: the message is the socket's now
    }
    zmq_msg_close(&msg);
    return 0;
}

//  Until SIGINT/SIGTERM. Returns the exit status.
static int s_run(relay *r)
{
    zmq_pollitem_t items[2] = {
        {.socket = r->xsub, .events = ZMQ_POLLIN},
        {.socket = r->xpub, .events = ZMQ_POLLIN},
    };
    while (!tw_signals_stop_requested()) {
        int rc = zmq_poll(items, 2, 1000);
        if (rc < 0 && errno != EINTR) {
            tw_log("relay: poll failed: %s", zmq_strerror(errno));
            return 1;
        }
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            while (s_pass_message(r) == 0)
                ;
        if (rc > 0 && (items[1].revents & ZMQ_POLLIN))
            while (s_handle_subscription(r) == 0)
                ;
    }
    return 0;
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
    relay r = {0};
    status = 1;
    if (xsub && xpub && s_setup_upstream(xsub, upstream) &&
        s_setup_downstream(xpub, &o, &curve, &r)) {
        tw_log("relaying %zu producer(s) to %s", upstream->n_endpoints, o.binds[0]);
        r.xsub = zsock_resolve(xsub);
        r.xpub = zsock_resolve(xpub);
        r.hwm = RELAY_MAX_HWM;
        r.forwarded_ms = zclock_mono() - RELAY_REPLAY_MS;
        // Everything of ours, once; XSUB sends it again after a reconnection.
        static const uint8_t everything[] = "\x01tcpwin.";
        status = zmq_send(r.xsub, everything, sizeof everything - 1, 0) < 0 ? 1 : s_run(&r);
    }
    tw_curve_server_destroy(&curve);  // its monitor first, then the socket
    zsock_destroy(&xsub);
    zsock_destroy(&xpub);
    return status;
}
