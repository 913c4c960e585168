// SPDX-License-Identifier: MPL-2.0
/*  publisher: XPUB socket, sequences, late-joiner replay and back-pressure. */
#include "publisher.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "curve.h"
#include "endpoint.h"
#include "peer_eviction.h"
#include "program.h"
#include "wire.h"

struct publisher {
    zsock_t *sock;
    void *raw;  // libzmq handle of sock
    char *producer_id;
    uint64_t run_id;           // random, new at every start
    uint64_t report_sequence;  // last sequence used per topic
    uint64_t flow_sequence;
    int send_timeout_ms;
    int max_hwm;             // --sndhwm
    int hwm;                 // the bound in force, from the largest message
    size_t max_queue_bytes;  // per subscriber
    size_t largest;          // largest message sent so far
    uint64_t dropped;
    uint8_t *latest_report;  // encoded, for late joiners
    size_t latest_report_len;
    int subscriptions;          // subscribe messages kept
    uint64_t refused;           // subscribe messages refused (not our topics)
    tw_peer_eviction eviction;  // cutting off peers that send them
    bool last_value;            // libzmq can send the replay to the joiner alone
    tw_curve_server *curve;     // CURVE guard, when enabled
    size_t flow_bound;          // a flow record packs into this many bytes at most, 0: unknown
};

//  libzmq's draft option (zmq.h, ZMQ_BUILD_DRAFT_API); Debian's libzmq5 4.3.4
//  has it. It turns manual mode on too, and then the first send after a
//  subscription message was read goes only to the peer that sent it (if its
//  subscriptions match). So after every subscription we send exactly one
//  message: the replay, or SENTINEL_TOPIC, which matches nobody (no peer's
//  stored subscription is empty: see s_apply) and so only moves libzmq on.
//  Checked at start; without it we fall back to ZMQ_XPUB_MANUAL alone and
//  the replay goes to everyone, whose subscribers drop the duplicate.
#ifndef ZMQ_XPUB_MANUAL_LAST_VALUE
#define ZMQ_XPUB_MANUAL_LAST_VALUE 98
#endif
#define SENTINEL_TOPIC "\xff"

static uint64_t s_random_run_id(void)
{
    uint64_t id = 0;
    while (id == 0) {
        if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
            // getrandom only fails before the pool is seeded: mix time and pid.
            id = (uint64_t)zclock_usecs() ^ ((uint64_t)getpid() << 40);
        }
    }
    return id;
}

static int s_set_last_value(publisher *self, int on)
{
    return zmq_setsockopt(self->raw, ZMQ_XPUB_MANUAL_LAST_VALUE, &on, sizeof on);
}

//  Points libzmq back at every peer after a subscription (see the top).
static void s_send_sentinel(publisher *self)
{
    if (!self->last_value)
        return;
    int rc;
    do
        rc = zmq_send(self->raw, SENTINEL_TOPIC, 1, ZMQ_DONTWAIT);
    while (rc == -1 && errno == EINTR);
}

static bool s_configure(publisher *self, const publisher_options *options)
{
    zsock_set_ipv6(self->sock, 1);
    zsock_set_xpub_verbose(self->sock, 1);
    // Manual: a subscription is stored only when we apply it, so only
    // prefixes of our topics are ever stored (libzmq keeps every distinct
    // subscription otherwise: a flood of them was memory without bound).
    zsock_set_xpub_manual(self->sock, 1);
    zsock_set_maxmsgsize(self->sock, options->curve_cert ? TW_MAX_SUBSCRIPTION_BYTES_CURVE
                                                         : TW_MAX_SUBSCRIPTION_BYTES);
    // Subscribers send a message or two; a small inbound queue keeps what
    // libzmq takes from a flooding peer, before we see it and cut it, small.
    zsock_set_rcvhwm(self->sock, 64);
    self->last_value = s_set_last_value(self, 1) == 0;
    zsock_set_xpub_nodrop(self->sock, 1);
    self->max_hwm = options->sndhwm > 0 ? options->sndhwm : PUBLISHER_DEFAULT_SNDHWM;
    self->hwm = self->max_hwm;
    self->max_queue_bytes = options->max_queue_bytes > 0
                                ? options->max_queue_bytes
                                : (size_t)PUBLISHER_DEFAULT_QUEUE_MIB << 20;
    zsock_set_sndhwm(self->sock, self->hwm);
    zsock_set_sndtimeo(self->sock, self->send_timeout_ms);
    zsock_set_linger(self->sock, PUBLISHER_LINGER_MS);
    if (options->curve_cert && !(self->curve = tw_curve_server_new(self->sock, options->curve_cert,
                                                                   options->curve_allow_dir)))
        return false;
    for (size_t i = 0; i < options->n_endpoints; i++) {
        tw_peer_eviction_watch(&self->eviction, options->endpoints[i]);
        if (zsock_bind(self->sock, "%s", options->endpoints[i]) == -1) {
            tw_log("cannot bind '%s': %s", options->endpoints[i], zmq_strerror(zmq_errno()));
            return false;
        }
    }
    return true;
}

//  Whether every field of a message packs into at most FIELD_BOUND bytes:
//  numbers and enums (a two-byte tag and a ten-byte varint), and the byte
//  fields named in `short_bytes` (addresses: at most 16 bytes). The header
//  sub-message and its producer id are counted apart (s_flow_bound).
#define FIELD_BOUND 20
static bool s_fields_bounded(const ProtobufCMessageDescriptor *d, const char *const *short_bytes)
{
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            return false;
        if (f->type == PROTOBUF_C_TYPE_BYTES || f->type == PROTOBUF_C_TYPE_STRING ||
            f->type == PROTOBUF_C_TYPE_MESSAGE) {
            bool listed = false;
            for (const char *const *name = short_bytes; *name; name++)
                listed = listed || strcmp(*name, f->name) == 0;
            if (!listed)
                return false;
        }
    }
    return true;
}

//  An upper bound of a packed FlowRecord with this producer id, so that it
//  can be packed in one pass without measuring it first (the measuring pass
//  was a third of its encoding); 0 when the schema has fields it cannot
//  bound (a string or a repeated field added later): those records are
//  measured first, as before.
static size_t s_flow_bound(const char *producer_id)
{
    static const char *const record_short[] = {"src_ip", "dst_ip", "header", NULL};
    static const char *const header_short[] = {"producer_id", NULL};
    const ProtobufCMessageDescriptor *record = &tcpwin__flow_record__descriptor;
    const ProtobufCMessageDescriptor *header = &tcpwin__header__descriptor;
    if (!s_fields_bounded(record, record_short) || !s_fields_bounded(header, header_short))
        return 0;
    // The producer id's own tag and length, and the header's, fit in the
    // header's share of FIELD_BOUND.
    return FIELD_BOUND * (record->n_fields + header->n_fields) + strlen(producer_id);
}

publisher *publisher_new(const publisher_options *options)
{
    publisher *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->producer_id = strdup(options->producer_id);
    self->run_id = s_random_run_id();
    self->send_timeout_ms = options->send_timeout_ms;
    self->sock = zsock_new(ZMQ_XPUB);
    if (!self->producer_id || !self->sock) {
        tw_log("cannot create the ZeroMQ socket: %s", zmq_strerror(zmq_errno()));
        publisher_destroy(&self);
        return NULL;
    }
    self->raw = zsock_resolve(self->sock);
    self->flow_bound = s_flow_bound(self->producer_id);
    if (!s_configure(self, options))
        publisher_destroy(&self);
    return self;
}

void publisher_destroy(publisher **self)
{
    if (!*self)
        return;
    // The guard's monitor must let go of the socket before it is closed.
    tw_curve_server_destroy(&(*self)->curve);
    zsock_destroy(&(*self)->sock);
    free((*self)->producer_id);
    free((*self)->latest_report);
    free(*self);
    *self = NULL;
}

static int s_set_nodrop(publisher *self, int on)
{
    return zmq_setsockopt(self->raw, ZMQ_XPUB_NODROP, &on, sizeof on);
}

//  Sends both frames. Returns 0, or -1 with errno set: EAGAIN means a subscriber's queue stayed
//  full for the whole send timeout (NODROP on). Interrupted sends are retried: the final report
//  must go out even after SIGINT.
static int s_send_frames(publisher *self, const char *topic, const void *payload, size_t len)
{
    int rc;
    do
        rc = zmq_send(self->raw, topic, strlen(topic), ZMQ_SNDMORE);
    while (rc == -1 && errno == EINTR);
    if (rc == -1)
        return -1;
    do
        rc = zmq_send(self->raw, payload, len, 0);
    while (rc == -1 && errno == EINTR);
    return rc == -1 ? -1 : 0;
}

static void s_note_drop(publisher *self)
{
    self->dropped++;
    // Logged at 1, 2, 4, 8, ... so a stalled peer cannot flood stderr.
    if ((self->dropped & (self->dropped - 1)) == 0)
        tw_log("a subscriber is not keeping up: %llu message(s) dropped for it "
               "so far",
               (unsigned long long)self->dropped);
}

//  Keeps the queue of each subscriber under max_queue_bytes (see the header).
static void s_bound_queue(publisher *self, size_t len)
{
    if (len <= self->largest)
        return;
    self->largest = len;
    size_t fit = self->max_queue_bytes / len;
    int hwm = fit < 2 ? 2 : fit > (size_t)self->max_hwm ? self->max_hwm : (int)fit;
    if (hwm == self->hwm)
        return;
    if (zmq_setsockopt(self->raw, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0) {
        tw_log("cannot bound the subscribers' queues: %s", zmq_strerror(errno));
        return;
    }
    self->hwm = hwm;
}

//  Sends one message. Returns 0 or -EIO (logged).
static int s_send(publisher *self, const char *topic, const void *payload, size_t len)
{
    s_bound_queue(self, len);
    if (s_send_frames(self, topic, payload, len) == 0)
        return 0;
    if (errno != EAGAIN) {
        tw_log("send failed: %s", zmq_strerror(errno));
        return -EIO;
    }
    // The stalled peer loses this one; everybody else still gets it.
    int rc = s_set_nodrop(self, 0);
    if (rc == 0)
        rc = s_send_frames(self, topic, payload, len);
    if (s_set_nodrop(self, 1) != 0)
        tw_log("cannot turn ZMQ_XPUB_NODROP back on: %s", zmq_strerror(errno));
    s_note_drop(self);
    return rc == 0 ? 0 : -EIO;
}

static void s_fill_header(publisher *self, Tcpwin__Header *header, uint64_t sequence)
{
    header->schema_major = TW_SCHEMA_MAJOR;
    header->producer_id = self->producer_id;
    header->run_id = self->run_id;
    header->sequence = sequence;
}

int publisher_send_report(publisher *self, Tcpwin__Report *report)
{
    // A subscription is stored only when we apply it (manual mode): apply
    // those waiting before every report, so a subscriber that connected
    // since the last look gets this one.
    (void)publisher_process_subscriptions(self, 0);
    s_fill_header(self, report->header, ++self->report_sequence);
    size_t len;
    uint8_t *payload = tw_wire_encode(&report->base, &len);
    if (!payload) {
        tw_log("out of memory: report %llu not sent", (unsigned long long)self->report_sequence);
        return -ENOMEM;
    }
    free(self->latest_report);
    self->latest_report = payload;
    self->latest_report_len = len;
    return s_send(self, TW_TOPIC_REPORT, payload, len);
}

int publisher_send_flow(publisher *self, Tcpwin__FlowRecord *record)
{
    s_fill_header(self, record->header, ++self->flow_sequence);
    uint8_t stack[1024];
    size_t len = 0;
    uint8_t *payload = stack;
    if (self->flow_bound && self->flow_bound <= sizeof stack) {
        len = protobuf_c_message_pack(&record->base, stack);
    } else {
        len = protobuf_c_message_get_packed_size(&record->base);
        payload = len <= sizeof stack ? stack : malloc(len);
        if (!payload) {
            tw_log("out of memory: flow record %llu not sent",
                   (unsigned long long)self->flow_sequence);
            return -ENOMEM;
        }
        protobuf_c_message_pack(&record->base, payload);
    }
    int rc = s_send(self, TW_TOPIC_FLOW, payload, len);
    if (payload != stack)
        free(payload);
    return rc;
}

//  A subscription covers the report topic when it is a prefix of it.
static bool s_wants_reports(const uint8_t *prefix, size_t len)
{
    return len <= strlen(TW_TOPIC_REPORT) && memcmp(prefix, TW_TOPIC_REPORT, len) == 0;
}

//  Cuts the connections of a peer that sent a refused subscription (see
//  peer_eviction.h for why, and what it costs), at once: every message
//  libzmq hands us after it has already been stored.
static void s_cut(publisher *self, const char *address)
{
    if (tw_peer_eviction_cut(&self->eviction, address) <= 0)
        return;
    // Logged at counts of 1, 2, 4, ...: a flood cannot flood stderr.
    if ((self->eviction.cut & (self->eviction.cut - 1)) == 0) {
        char shown[64];
        tw_log("cut %llu connection(s) so far from peers that sent refused subscriptions "
               "(latest: %s)",
               (unsigned long long)self->eviction.cut, tw_escape(address, shown, sizeof shown));
    }
}

static void s_refuse(publisher *self, zmq_msg_t *msg)
{
    s_cut(self, zmq_msg_gets(msg, "Peer-Address"));
    self->refused++;
    // Logged at 1, 2, 4, ...: a flood cannot flood stderr.
    if ((self->refused & (self->refused - 1)) == 0)
        tw_log("refused %llu subscription(s) so far: not a prefix of a tcpwin topic",
               (unsigned long long)self->refused);
}

//  Stores (or removes) a subscription for the peer that sent it. The empty
//  prefix (everything) is stored as our topics themselves, so that no
//  stored subscription matches SENTINEL_TOPIC. Returns 0 or -1.
static int s_apply(publisher *self, int option, const uint8_t *prefix, size_t len)
{
    if (len > 0)
        return zmq_setsockopt(self->raw, option, prefix, len);
    if (zmq_setsockopt(self->raw, option, TW_TOPIC_REPORT, strlen(TW_TOPIC_REPORT)) != 0)
        return -1;
    return zmq_setsockopt(self->raw, option, TW_TOPIC_FLOW, strlen(TW_TOPIC_FLOW));
}

//  One (un)subscription message; in manual mode it takes effect, for the
//  peer that sent it, only through our setsockopt. A new subscriber to
//  reports gets the latest one at once, alone when libzmq can (last_value);
//  it keeps its sequence, so a subscriber that had it drops it.
static void s_handle_subscription(publisher *self, zmq_msg_t *msg)
{
    const uint8_t *data = zmq_msg_data(msg);
    size_t size = zmq_msg_size(msg);
    bool replayed = false;
    if (size == 0 || data[0] > 1 || zmq_msg_more(msg)) {
        // Not a subscription: libzmq no longer knows whose the next ones are.
        s_refuse(self, msg);
        (void)tw_peer_eviction_cut_all(&self->eviction);
    } else if (!tw_topic_subscription_ok(data + 1, size - 1))
        s_refuse(self, msg);
    else if (s_apply(self, data[0] == 1 ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, data + 1, size - 1) != 0)
        tw_log("cannot apply a subscription: %s", zmq_strerror(errno));
    else if (data[0] == 1) {
        self->subscriptions++;
        if (self->latest_report && s_wants_reports(data + 1, size - 1)) {
            s_send(self, TW_TOPIC_REPORT, self->latest_report, self->latest_report_len);
            replayed = true;
        }
    }
    if (!replayed)
        s_send_sentinel(self);
}

int publisher_process_subscriptions(publisher *self, int timeout_ms)
{
    zmq_pollitem_t item = {.socket = self->raw, .events = ZMQ_POLLIN};
    int rc = zmq_poll(&item, 1, timeout_ms);
    // Then every message waiting, until EAGAIN (an empty one counts too).
    while (rc >= 0 && (item.revents & ZMQ_POLLIN)) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        rc = zmq_msg_recv(&msg, self->raw, ZMQ_DONTWAIT);
        if (rc >= 0)
            s_handle_subscription(self, &msg);
        zmq_msg_close(&msg);
    }
    int error = errno;
    if (rc == -1 && error == EINTR)
        return -EINTR;
    return 0;
}

int publisher_wait_subscribers(publisher *self, int count, int timeout_ms)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    while (self->subscriptions < count) {
        int64_t left = deadline - zclock_mono();
        if (left <= 0)
            break;
        if (publisher_process_subscriptions(self, (int)left) != 0)
            return -EINTR;
    }
    return self->subscriptions;
}

uint64_t publisher_dropped(const publisher *self)
{
    return self->dropped;
}

int publisher_queue_bound(const publisher *self)
{
    return self->hwm;
}

uint64_t publisher_refused(const publisher *self)
{
    return self->refused;
}

uint64_t publisher_evicted(const publisher *self)
{
    return self->eviction.cut;
}

void *publisher_socket(publisher *self)
{
    return self->raw;
}
