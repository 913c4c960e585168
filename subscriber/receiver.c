// SPDX-License-Identifier: MPL-2.0
/*  receiver: SUB socket, validation, and the log lines of sequence tracking.

    Which messages are new is stream_tracker's decision (per topic, origin,
    run id and producer id, bounded, no I/O); this file reads the socket,
    decodes, asks the tracker, and logs gaps and restarts from what it
    answers. Socket events (disconnections) come from a zmq_monitor on the
    socket.

    The origin given to the tracker is the peer's IP address as libzmq
    gives it for each message ("Peer-Address"): one SUB socket fans in every
    producer and libzmq names no connection more precisely than that. So a
    hostile peer cannot disturb the streams of a producer on another host;
    producers on one host (two ports of 127.0.0.1) share an origin, and
    behind a relay every producer has the relay's address, so there the
    tracker's bound on implausible sequences is the only defence.

    Every string a peer chose (its producer id) goes through tw_escape
    before it is logged, and each kind of line is rate-limited (log_limit):
    a peer decides how often we would log, not how much.
*/
#include "receiver.h"
#include "program.h"

#include "curve.h"
#include "endpoint.h"
#include "log_limit.h"
#include "stream_tracker.h"
#include "zmq_monitor.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

struct receiver {
    zsock_t *sock;
    void *raw;
    stream_tracker *tracker;  // which messages are new, per stream
    zsock_t *monitor;         // socket events, for counting disconnections
    zlist_t *endpoints;       // what we connected to, for reconnecting
    zhashx_t *silent_since;   // endpoint -> when it disconnected (+1), until libzmq retries
    receiver_counters counters;
    tw_log_limit limits[4];   // per kind of line a peer can cause (log_kind)
    int64_t last_message_ms;  // when a message (any) was last read
    int64_t gone_since_ms;    // when a connection went away, 0 once one is made again
    int64_t started_ms;       // when we connected
    bool waiting_said;        // the waiting line is out; again only after a message
    int connected;            // connections up now (monitor events)
    zhashx_t *foreign;        // "origin id" of producers of another major, said once
    bool foreign_full;        // ... past RECEIVER_MAX_FOREIGN: no longer named
};

//  Producers of another schema major named once each, at most: a hostile
//  peer choosing new ids cannot grow the table (or stderr) further.
#define RECEIVER_MAX_FOREIGN 256

//  The kinds of log lines a peer can cause, each rate-limited on its own.
typedef enum { LOG_RESTART, LOG_GAP, LOG_IMPLAUSIBLE, LOG_TOO_BIG } log_kind;

static const char *const s_log_kind_names[] = {"restart", "gap", "implausible sequence",
                                               "oversized payload"};

//  Says how many lines of each kind were held back in windows now over
//  (every one when now_ms is INT64_MAX).
static void s_log_suppressed(receiver *self, int64_t now_ms)
{
    for (size_t kind = 0; kind < sizeof self->limits / sizeof self->limits[0]; kind++) {
        uint64_t n = tw_log_limit_take_suppressed(&self->limits[kind], now_ms);
        if (n)
            tw_log("%" PRIu64 " similar %s line(s) suppressed", n, s_log_kind_names[kind]);
    }
}

//  True when a line of this kind may be written now.
static bool s_may_log(receiver *self, log_kind kind)
{
    int64_t now = zclock_mono();
    s_log_suppressed(self, now);
    return tw_log_limit_allow(&self->limits[kind], now);
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
            tw_log("cannot connect to '%s': %s", options->endpoints[i], zmq_strerror(zmq_errno()));
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
    self->tracker = stream_tracker_new(0);
    self->endpoints = zlist_new();
    self->silent_since = zhashx_new();
    self->foreign = zhashx_new();
    if (self->endpoints) {
        zlist_autofree(self->endpoints);  // strings, copied and compared by value
        zlist_comparefn(self->endpoints, (zlist_compare_fn *)strcmp);
    }
    if (!self->sock || !self->tracker || !self->endpoints || !self->silent_since ||
        !self->foreign) {
        tw_log("cannot create the ZeroMQ socket: %s", zmq_strerror(zmq_errno()));
        receiver_destroy(&self);
        return NULL;
    }
    self->raw = zsock_resolve(self->sock);
    // libzmq drops a connection whose peer sends more than ZMQ_MAXMSGSIZE
    // without a word: the monitor's DISCONNECTED event is how we see it.
    static const char *const events[] = {"DISCONNECTED", "CONNECTED", "CONNECT_DELAYED",
                                         "CONNECT_RETRIED", NULL};
    self->monitor = tw_zmq_monitor_start(self->sock, events);
    if (!self->monitor)
        tw_log("cannot watch the ZeroMQ socket: disconnections will "
               "not be counted");
    zsock_set_ipv6(self->sock, 1);
    zsock_set_linger(self->sock, 0);
    // Retried every TW_RECONNECT_IVL_MS, never backed off: a producer
    // replaying a file waits TW_REPLAY_START_WAIT_MS for us (endpoint.h).
    zsock_set_reconnect_ivl(self->sock, TW_RECONNECT_IVL_MS);
    zsock_set_reconnect_ivl_max(self->sock, 0);
    self->started_ms = zclock_mono();
    zsock_set_maxmsgsize(self->sock, options->max_message_bytes > 0
                                         ? (int)options->max_message_bytes
                                         : TW_MAX_MESSAGE_BYTES);
    bool curve = options->curve_cert || options->curve_server_key;
    if ((curve &&
         tw_curve_client_setup(self->sock, options->curve_cert, options->curve_server_key) != 0) ||
        !s_subscribe_and_connect(self, options))
        receiver_destroy(&self);
    return self;
}

void receiver_destroy(receiver **self)
{
    if (!*self)
        return;
    s_log_suppressed(*self, INT64_MAX);
    tw_zmq_monitor_stop((*self)->sock, &(*self)->monitor);
    zsock_destroy(&(*self)->sock);
    stream_tracker_destroy(&(*self)->tracker);
    zlist_destroy(&(*self)->endpoints);
    zhashx_destroy(&(*self)->silent_since);
    zhashx_destroy(&(*self)->foreign);
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

//  Logs what the tracker found, rate-limited, remote text escaped.
static void s_log_event(receiver *self, const char *topic, const Tcpwin__Header *header,
                        const stream_tracker_event *event)
{
    char id[256];
    if (event->restarted && s_may_log(self, LOG_RESTART))
        tw_log("producer '%s' restarted (run %016" PRIx64 " -> %016" PRIx64 ")",
               tw_escape(header->producer_id, id, sizeof id), event->previous_run, header->run_id);
    if (event->verdict == STREAM_TRACKER_GAP && s_may_log(self, LOG_GAP))
        tw_log("gap of %" PRIu64 " %s message(s) from '%s' (sequence %" PRIu64 " after %" PRIu64
               ")",
               event->missing, topic, tw_escape(header->producer_id, id, sizeof id),
               header->sequence, event->last);
    if ((event->verdict == STREAM_TRACKER_IMPLAUSIBLE || event->rebased) &&
        s_may_log(self, LOG_IMPLAUSIBLE))
        tw_log("%s %s message from '%s': sequence %" PRIu64 " after %" PRIu64 " (more than %" PRIu64
               " away)",
               event->rebased ? "following, after several, an implausible"
                              : "dropped an implausible",
               topic, tw_escape(header->producer_id, id, sizeof id), header->sequence, event->last,
               (uint64_t)STREAM_TRACKER_MAX_JUMP);
}

//  True when the message is new in its stream; logs gaps and restarts.
static bool s_track_sequence(receiver *self, const char *topic, const char *origin,
                             const Tcpwin__Header *header)
{
    stream_tracker_event event;
    // Out of memory, the message is handed over untracked (event says NEW).
    (void)stream_tracker_check(self->tracker, topic, origin, header->producer_id, header->run_id,
                               header->sequence, &event);
    const stream_tracker_counters *t = stream_tracker_get_counters(self->tracker);
    self->counters.duplicates = t->duplicates;
    self->counters.gaps = t->gaps;
    self->counters.lost = t->lost;
    self->counters.restarts = t->restarts;
    self->counters.streams_reset = t->resets;
    self->counters.implausible = t->implausible;
    self->counters.rebases = t->rebases;
    s_log_event(self, topic, header, &event);
    return stream_tracker_is_new(&event);
}

//  Reads the frames of one message; returns how many there were (only the
//  first two are kept), or a negative errno when nothing could be read
//  (-EAGAIN: no message waits).
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
            return frames == 0 ? -zmq_errno() : frames;
        frames++;
    }
    return frames;
}

//  The header of a payload that decoded but carries another schema major:
//  decoded again, which takes no more memory than the decode that found it
//  (within its budget). Returns the message (free it), or NULL.
static ProtobufCMessage *s_foreign_header(zmq_msg_t *topic, zmq_msg_t *payload,
                                          const Tcpwin__Header **header)
{
    const uint8_t *data = zmq_msg_data(payload);
    size_t len = zmq_msg_size(payload);
    bool report = zmq_msg_size(topic) == strlen(TW_TOPIC_REPORT) &&
                  memcmp(zmq_msg_data(topic), TW_TOPIC_REPORT, zmq_msg_size(topic)) == 0;
    if (report) {
        Tcpwin__Report *r = tcpwin__report__unpack(NULL, len, data);
        *header = r ? r->header : NULL;
        return r ? &r->base : NULL;
    }
    Tcpwin__FlowRecord *f = tcpwin__flow_record__unpack(NULL, len, data);
    *header = f ? f->header : NULL;
    return f ? &f->base : NULL;
}

//  A peer address as an operator writes it: ZeroMQ gives an IPv4 peer of a
//  dual-stack socket as "::ffff:127.0.0.1"; the IPv4 part alone, then.
static const char *s_plain_address(const char *address)
{
    static const char mapped[] = "::ffff:";
    struct in_addr v4;
    if (address && strncmp(address, mapped, sizeof mapped - 1) == 0 &&
        inet_pton(AF_INET, address + sizeof mapped - 1, &v4) == 1)
        return address + sizeof mapped - 1;
    return address;
}

//  Says once per producer (its address and id) that it speaks another
//  schema major; its messages are counted in bad_versions.
static void s_note_foreign(receiver *self, zmq_msg_t *topic, zmq_msg_t *payload)
{
    self->counters.bad_versions++;
    if (self->foreign_full)
        return;
    const Tcpwin__Header *header = NULL;
    ProtobufCMessage *decoded = s_foreign_header(topic, payload, &header);
    const char *origin = s_plain_address(zmq_msg_gets(topic, "Peer-Address"));
    char id[128], key[320];
    tw_escape(header ? header->producer_id : "?", id, sizeof id);
    snprintf(key, sizeof key, "%s %s", origin ? origin : "?", id);
    if (!zhashx_lookup(self->foreign, key)) {
        if (zhashx_size(self->foreign) >= RECEIVER_MAX_FOREIGN) {
            self->foreign_full = true;
            tw_log("more producers of another schema major: no longer named (counted)");
        } else if (zhashx_insert(self->foreign, key, (void *)1) == 0)
            tw_log("producer '%s' at %s speaks schema major %u, we read major %d: its messages "
                   "are skipped (counted as bad versions)",
                   id, origin ? origin : "?", header ? header->schema_major : 0, TW_SCHEMA_MAJOR);
    }
    if (decoded)
        protobuf_c_message_free_unpacked(decoded, NULL);
}

static int s_decode(receiver *self, zmq_msg_t *topic, zmq_msg_t *payload, tw_message *msg)
{
    int rc = tw_wire_decode(zmq_msg_data(topic), zmq_msg_size(topic), zmq_msg_data(payload),
                            zmq_msg_size(payload), msg);
    if (rc == -EPROTO)
        s_note_foreign(self, topic, payload);
    else if (rc == -EMSGSIZE) {
        self->counters.too_big++;
        if (s_may_log(self, LOG_TOO_BIG))
            tw_log("dropped a %zu-byte %s payload: it decodes past the memory budget or the "
                   "producer's bounds",
                   zmq_msg_size(payload), tw_message_topic(msg->kind));
    } else if (rc != 0)
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
        tw_log("disconnected from %s (%" PRIu64
               " so far): the producer went away, or sent a message over --max-message",
               endpoint, n);
    self->gone_since_ms = zclock_mono();
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
            tw_log("cannot connect to '%s' again: %s", endpoint, zmq_strerror(zmq_errno()));
    }
    zlistx_destroy(&keys);
}

//  After RECEIVER_WAITING_MS with nothing received, at start or once every
//  producer went away, says once for which endpoints we wait; a message
//  read makes it possible again. The silence between two reports of a
//  producer that is still connected is no waiting (its interval may be
//  long), so the line is not repeated while a connection stands.
static void s_say_waiting(receiver *self)
{
    if (self->waiting_said || (self->last_message_ms && !self->gone_since_ms))
        return;
    int64_t since =
        self->last_message_ms > self->started_ms ? self->last_message_ms : self->started_ms;
    if (self->gone_since_ms > since)
        since = self->gone_since_ms;
    if (zclock_mono() - since < RECEIVER_WAITING_MS)
        return;
    self->waiting_said = true;
    char list[1024] = "";
    size_t at = 0;
    for (const char *e = zlist_first(self->endpoints); e && at < sizeof list;
         e = zlist_next(self->endpoints)) {
        int n = snprintf(list + at, sizeof list - at, "%s%s", at ? ", " : "", e);
        at += n > 0 ? (size_t)n : 0;
    }
    tw_log("waiting for a producer at %s (nothing received for %d s, %d connection%s up)", list,
           RECEIVER_WAITING_MS / 1000, self->connected, self->connected == 1 ? "" : "s");
}

void receiver_poll_events(receiver *self)
{
    while (tw_zmq_monitor_pending(self->monitor)) {
        tw_zmq_event event;
        if (tw_zmq_monitor_read(self->monitor, &event) != 0)
            break;
        // The endpoint is written as in --connect (IPv4-mapped addresses
        // plain): libzmq names one connection both ways, and a retry missed
        // here made us tear down the next producer run's live connection.
        if (strcmp(event.name, "DISCONNECTED") == 0)
            s_note_disconnect(self, event.endpoint);
        else
            zhashx_delete(self->silent_since, event.endpoint);  // libzmq is on it
        if (strcmp(event.name, "CONNECTED") == 0) {
            self->gone_since_ms = 0;
            self->connected++;
        } else if (strcmp(event.name, "DISCONNECTED") == 0 && self->connected > 0)
            self->connected--;
        tw_zmq_event_clear(&event);
    }
    if (zhashx_size(self->silent_since) > 0)
        s_reconnect_given_up(self);
    s_log_suppressed(self, zclock_mono());
    s_say_waiting(self);
}

bool receiver_producer_gone(receiver *self, int64_t quiet_ms)
{
    receiver_poll_events(self);
    if (self->gone_since_ms == 0)
        return false;
    int64_t since =
        self->gone_since_ms > self->last_message_ms ? self->gone_since_ms : self->last_message_ms;
    return zclock_mono() - since >= quiet_ms;
}

int receiver_recv(receiver *self, tw_message *msg)
{
    receiver_poll_events(self);
    zmq_msg_t topic, payload;
    zmq_msg_init(&topic);
    zmq_msg_init(&payload);
    int frames = s_read_frames(self, &topic, &payload);
    int result = 0;
    if (frames > 0) {
        self->last_message_ms = zclock_mono();
        self->waiting_said = false;
    }
    if (frames < 0)
        result = frames == -EAGAIN ? 0 : frames;
    else if (frames != 2)
        self->counters.bad_frames++;
    else if (s_decode(self, &topic, &payload, msg) == 0) {
        const char *origin = zmq_msg_gets(&topic, "Peer-Address");
        if (s_track_sequence(self, tw_message_topic(msg->kind), origin, tw_message_header(msg))) {
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

//  True when host is an address or "*", nothing to resolve.
static bool s_is_address(const char *host)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    if (strcmp(host, "*") == 0)
        return true;
    int rc = getaddrinfo(host, NULL, &hints, &found);
    if (found)
        freeaddrinfo(found);
    return rc == 0;
}

int receiver_check_names(const receiver_options *options)
{
    int result = 0;
    for (size_t i = 0; i < options->n_endpoints; i++) {
        tw_endpoint endpoint;
        const char *reason = NULL;
        if (tw_endpoint_parse_for(options->endpoints[i], TW_ENDPOINT_ZMQ_CONNECT, &endpoint,
                                  &reason) != 0)
            continue;  // checked when parsed; ipc:// has no name
        if (endpoint.transport == TW_TRANSPORT_TCP && !s_is_address(endpoint.host)) {
            struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
            struct addrinfo *found = NULL;
            int rc = getaddrinfo(endpoint.host, NULL, &hints, &found);
            if (found)
                freeaddrinfo(found);
            if (rc != 0) {
                char shown[300];
                tw_log("--connect '%s': cannot resolve '%s': %s",
                       tw_escape(options->endpoints[i], shown, sizeof shown), endpoint.host,
                       rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
                result = -ENOENT;
            }
        }
        tw_endpoint_clear(&endpoint);
    }
    return result;
}
