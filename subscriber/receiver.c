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

#define MAX_STREAMS         4096
#define DEFAULT_MAX_MESSAGE (64 * 1024 * 1024)

struct receiver {
    zsock_t *sock;
    void *raw;
    zhashx_t *streams;  // "topic|run id|producer id" -> last sequence
    zhashx_t *runs;     // "topic|producer id" -> latest run id
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
    if (!self->sock || !self->streams || !self->runs) {
        fprintf(stderr, "tcpwin-subscriber: cannot create the ZeroMQ socket: %s\n",
                zmq_strerror(zmq_errno()));
        receiver_destroy(&self);
        return NULL;
    }
    self->raw = zsock_resolve(self->sock);
    zsock_set_ipv6(self->sock, 1);
    zsock_set_linger(self->sock, 0);
    zsock_set_maxmsgsize(self->sock, options->max_message_bytes > 0
                                         ? (int)options->max_message_bytes
                                         : DEFAULT_MAX_MESSAGE);
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
    zsock_destroy(&(*self)->sock);
    zhashx_destroy(&(*self)->streams);
    zhashx_destroy(&(*self)->runs);
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

int receiver_recv(receiver *self, tw_message *msg)
{
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
