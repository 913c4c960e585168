/*  receiver: SUB socket, validation and sequence tracking.

    Streams are kept per (topic, run id, producer id) in a czmq hash keyed by
    a string of the three, so two producers that share a host name stay
    apart. A second table remembers the latest run id per (topic, producer
    id) to tell a restart from a new producer. Both are bounded by
    MAX_STREAMS: past it they are cleared (counted in `streams_reset`), so a
    hostile flood of run ids cannot grow memory; the next message of each
    stream then becomes a new baseline.
*/
#include "receiver.h"

#include "curve.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STREAMS 4096

struct receiver {
    zsock_t *sock;
    void *raw;
    zhashx_t *streams;       // "topic|run id|producer id" -> last sequence
    zhashx_t *runs;          // "topic|producer id" -> latest run id
    zactor_t *monitor;       // socket events, for counting disconnections
    zlist_t *endpoints;      // what we connected to, for reconnecting
    zhashx_t *silent_since;  // endpoint -> when it disconnected (+1), until libzmq retries
    receiver_counters counters;
};

static void s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

static zhashx_t *s_new_table(void)
{
    zhashx_t *table = zhashx_new();
    if (table)
        zhashx_set_destructor(table, s_free_item);
    return table;
}

static bool s_subscribe_and_connect(receiver *self, const receiver_options *options)
{
    if (options->n_topics == 0)
        zsock_set_subscribe(self->sock, "tcpwin.");
    for (size_t i = 0; i < options->n_topics; i++)
        zsock_set_subscribe(self->sock, options->topics[i]);
    for (size_t i = 0; i < options->n_endpoints; i++) {
        zlist_append(self->endpoints, (void *)options->endpoints[i]);
        if (zsock_connect(self->sock, "%s", options->endpoints[i]) != 0) {
            fprintf(stderr, "tcpwin-subscriber: cannot connect to '%s': %s\n",
                    options->endpoints[i], zmq_strerror(zmq_errno()));
            return false;
        }
    }
    return true;
}

receiver *receiver_new(const receiver_options *options)
{
    receiver *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = zsock_new(ZMQ_SUB);
    self->streams = s_new_table();
    self->runs = s_new_table();
    self->endpoints = zlist_new();
    self->silent_since = zhashx_new();
    if (self->endpoints) {
        zlist_autofree(self->endpoints);  // strings, copied and compared by value
        zlist_comparefn(self->endpoints, (zlist_compare_fn *)strcmp);
    }
    if (!self->sock || !self->streams || !self->runs || !self->endpoints || !self->silent_since) {
        fprintf(stderr, "tcpwin-subscriber: cannot create the ZeroMQ socket: %s\n",
                zmq_strerror(zmq_errno()));
        receiver_destroy(&self);
        return NULL;
    }
    self->raw = zsock_resolve(self->sock);
    // libzmq drops a connection whose peer sends more than ZMQ_MAXMSGSIZE
    // without a word: the monitor's DISCONNECTED event is how we see it.
    self->monitor = zactor_new(zmonitor, self->sock);
    if (self->monitor) {
        zstr_sendx(self->monitor, "LISTEN", "DISCONNECTED", "CONNECTED", "CONNECT_DELAYED",
                   "CONNECT_RETRIED", NULL);
        zstr_send(self->monitor, "START");
        zsock_wait(self->monitor);
    }
    zsock_set_ipv6(self->sock, 1);
    zsock_set_linger(self->sock, 0);
    zsock_set_maxmsgsize(self->sock, options->max_message_bytes > 0
                                         ? (int)options->max_message_bytes
                                         : TW_MAX_MESSAGE_BYTES);
    bool curve = options->curve_cert || options->curve_server_key;
    if ((curve && tw_curve_client_setup(self->sock, options->curve_cert, options->curve_server_key,
                                        "tcpwin-subscriber") != 0) ||
        !s_subscribe_and_connect(self, options))
        receiver_destroy(&self);
    return self;
}

void receiver_destroy(receiver **self)
{
    if (!*self)
        return;
    zactor_destroy(&(*self)->monitor);
    zsock_destroy(&(*self)->sock);
    zhashx_destroy(&(*self)->streams);
    zhashx_destroy(&(*self)->runs);
    zlist_destroy(&(*self)->endpoints);
    zhashx_destroy(&(*self)->silent_since);
    free(*self);
    *self = NULL;
}

void *receiver_socket(receiver *self)
{
    return self->raw;
}

const receiver_counters *receiver_get_counters(const receiver *self)
{
    return &self->counters;
}

static void s_bound_tables(receiver *self)
{
    if (zhashx_size(self->streams) < MAX_STREAMS && zhashx_size(self->runs) < MAX_STREAMS)
        return;
    zhashx_purge(self->streams);
    zhashx_purge(self->runs);
    self->counters.streams_reset++;
}

//  Remembers the run of a producer; a different one than before is a restart.
static void s_note_run(receiver *self, const char *topic, const Tcpwin__Header *header)
{
    char *key = zsys_sprintf("%s|%s", topic, header->producer_id);
    uint64_t *run = key ? zhashx_lookup(self->runs, key) : NULL;
    if (run && *run != header->run_id) {
        self->counters.restarts++;
        fprintf(stderr,
                "tcpwin-subscriber: producer '%s' restarted (run %016" PRIx64 " -> %016" PRIx64
                ")\n",
                header->producer_id, *run, header->run_id);
        *run = header->run_id;
    } else if (!run && key && (run = malloc(sizeof *run))) {
        *run = header->run_id;
        if (zhashx_insert(self->runs, key, run) != 0)
            free(run);
    }
    zstr_free(&key);
}

//  True when the message is new in its stream; logs and counts gaps.
static bool s_track_sequence(receiver *self, const char *topic, const Tcpwin__Header *header)
{
    s_bound_tables(self);
    char *key = zsys_sprintf("%s|%016" PRIx64 "|%s", topic, header->run_id, header->producer_id);
    if (!key)
        return true;
    uint64_t *last = zhashx_lookup(self->streams, key);
    bool fresh = true;
    if (!last) {
        s_note_run(self, topic, header);
        if ((last = malloc(sizeof *last)) && zhashx_insert(self->streams, key, last) != 0) {
            free(last);
            last = NULL;
        }
    } else if (header->sequence <= *last) {
        self->counters.duplicates++;
        fresh = false;
    } else if (header->sequence > *last + 1) {
        uint64_t missing = header->sequence - *last - 1;
        self->counters.gaps++;
        self->counters.lost += missing;
        fprintf(stderr,
                "tcpwin-subscriber: gap of %" PRIu64 " %s message(s) from '%s' (sequence %" PRIu64
                " after %" PRIu64 ")\n",
                missing, topic, header->producer_id, header->sequence, *last);
    }
    if (fresh && last)
        *last = header->sequence;
    zstr_free(&key);
    return fresh;
}

//  Reads the frames of one message; returns how many there were (only the
//  first two are kept), or -1 when nothing could be read.
static int s_read_frames(receiver *self, zmq_msg_t *topic, zmq_msg_t *payload)
{
    int frames = 0;
    int more = 1;
    while (more) {
        zmq_msg_t *into = frames == 0 ? topic : payload;
        zmq_msg_t extra;
        if (frames >= 2) {
            zmq_msg_init(&extra);
            into = &extra;
        }
        int rc = zmq_msg_recv(into, self->raw, frames == 0 ? ZMQ_DONTWAIT : 0);
        more = rc >= 0 && zmq_msg_more(into);
        if (frames >= 2)
            zmq_msg_close(&extra);
        if (rc < 0)
            return frames == 0 ? -1 : frames;
        frames++;
    }
    return frames;
}

static int s_decode(receiver *self, zmq_msg_t *topic, zmq_msg_t *payload, tw_message *msg)
{
    int rc = tw_wire_decode(zmq_msg_data(topic), zmq_msg_size(topic), zmq_msg_data(payload),
                            zmq_msg_size(payload), msg);
    if (rc == -EPROTO)
        self->counters.bad_versions++;
    else if (rc != 0)
        self->counters.bad_payloads++;
    return rc;
}

//  libzmq ends a connection on a protocol error (a message over
//  ZMQ_MAXMSGSIZE is one) for good, while after an ordinary disconnection it
//  reconnects by itself at once (a CONNECT_* event follows within its 100 ms
//  interval). A dashboard must not lose its producer forever to one oversized
//  message: an endpoint that stays silent GIVE_UP_MS after its disconnection,
//  once every queued message has been read, is connected again by us.
#define GIVE_UP_MS 1000

static void s_note_disconnect(receiver *self, const char *endpoint)
{
    uint64_t n = ++self->counters.disconnects;
    // Logged at 1, 2, 4, ...: a peer that keeps sending oversized messages
    // is dropped again after every reconnection.
    if ((n & (n - 1)) == 0)
        fprintf(stderr,
                "tcpwin-subscriber: disconnected from %s (%" PRIu64
                " so far): the producer went away, or sent a message over --max-message\n",
                endpoint, n);
    if (zlist_exists(self->endpoints, (void *)endpoint))
        zhashx_update(self->silent_since, endpoint, (void *)(intptr_t)(zclock_mono() + 1));
}

static void s_reconnect_given_up(receiver *self)
{
    // Never while messages wait: zmq_disconnect would throw them away (and
    // libzmq holds back its own retries until they are read).
    if (zsock_events(self->sock) & ZMQ_POLLIN)
        return;
    int64_t now = zclock_mono();
    zlistx_t *keys = zhashx_keys(self->silent_since);
    for (const char *endpoint = keys ? zlistx_first(keys) : NULL; endpoint;
         endpoint = zlistx_next(keys)) {
        int64_t since = (intptr_t)zhashx_lookup(self->silent_since, endpoint) - 1;
        if (now - since < GIVE_UP_MS)
            continue;
        zhashx_delete(self->silent_since, endpoint);
        zsock_disconnect(self->sock, "%s", endpoint);
        if (zsock_connect(self->sock, "%s", endpoint) != 0)
            fprintf(stderr, "tcpwin-subscriber: cannot connect to '%s' again: %s\n", endpoint,
                    zmq_strerror(zmq_errno()));
    }
    zlistx_destroy(&keys);
}

void receiver_poll_events(receiver *self)
{
    while (self->monitor && (zsock_events(self->monitor) & ZMQ_POLLIN)) {
        zmsg_t *event = zmsg_recv(self->monitor);
        char *name = event ? zmsg_popstr(event) : NULL;
        char *value = event ? zmsg_popstr(event) : NULL;
        char *endpoint = event ? zmsg_popstr(event) : NULL;
        if (name && endpoint && strcmp(name, "DISCONNECTED") == 0)
            s_note_disconnect(self, endpoint);
        else if (endpoint)
            zhashx_delete(self->silent_since, endpoint);  // libzmq is on it
        zstr_free(&name);
        zstr_free(&value);
        zstr_free(&endpoint);
        zmsg_destroy(&event);
    }
    if (zhashx_size(self->silent_since) > 0)
        s_reconnect_given_up(self);
}

int receiver_recv(receiver *self, tw_message *msg)
{
    receiver_poll_events(self);
    zmq_msg_t topic, payload;
    zmq_msg_init(&topic);
    zmq_msg_init(&payload);
    int frames = s_read_frames(self, &topic, &payload);
    int result = 0;
    if (frames < 0)
        result = (errno == EAGAIN) ? 0 : -1;
    else if (frames != 2)
        self->counters.bad_frames++;
    else if (s_decode(self, &topic, &payload, msg) == 0) {
        if (s_track_sequence(self, tw_message_topic(msg->kind), tw_message_header(msg))) {
            self->counters.received++;
            result = 1;
        } else {
            tw_message_free(msg);
        }
    }
    zmq_msg_close(&topic);
    zmq_msg_close(&payload);
    return result;
}
