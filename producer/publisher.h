// SPDX-License-Identifier: MPL-2.0
/*  publisher: the producer's ZeroMQ side.

    One XPUB socket bound to every --publish endpoint. XPUB (rather than PUB)
    lets us see subscriptions, in manual mode (ZMQ_XPUB_MANUAL): libzmq
    stores a subscription only when we apply it, and we apply only prefixes
    of our topics; anything else is refused and counted (subscriptions
    refused in the reports), and the connections of the peer that sent it
    are cut (peer_eviction.h: libzmq keeps even refused subscriptions until
    the peer goes); a subscription message over TW_MAX_SUBSCRIPTION_BYTES
    ends its connection in libzmq. So strangers cannot grow our memory with
    subscriptions.

    Late joiners: a new subscription to reports is answered at once with the
    latest report, sent to the joiner alone (ZMQ_XPUB_MANUAL_LAST_VALUE, see
    publisher.c); the others get nothing extra. It keeps its original
    sequence, so a subscriber that already had it drops it. This is the
    simplest design that works: the ZeroMQ guide's clone pattern (a second,
    snapshot socket the subscriber asks on connect) would need a second
    endpoint per producer in every configuration, and a protocol.

    Back-pressure: with ZMQ_XPUB_NODROP a send fails with EAGAIN when any
    subscriber's queue is full. Reading a file we wait up to send_timeout_ms
    (a file can wait); then the message is sent with NODROP off, so only the
    stalled peer loses it, and it is counted in messages_dropped and logged.
    Live capture never waits (timeout 0): the packets would be lost instead.

    Memory per subscriber: libzmq bounds a subscriber's queue in messages
    (ZMQ_SNDHWM), and reports can be megabytes. So the bound in messages
    follows the largest message sent so far: max_queue_bytes / largest, at
    least 2 and at most sndhwm (libzmq applies a change to every
    connection). A subscriber that never reads holds at most about
    max_queue_bytes, or two of the largest messages when one alone is
    larger. The price: with very large reports, a slow subscriber's queue
    holds fewer flow records too.
*/
#ifndef TW_PUBLISHER_H
#define TW_PUBLISHER_H

#include <stdbool.h>
#include <stdint.h>

#include "tcpwin.pb-c.h"

#define PUBLISHER_DEFAULT_SNDHWM     1000
#define PUBLISHER_DEFAULT_QUEUE_MIB  64
#define PUBLISHER_DEFAULT_TIMEOUT_MS 5000
#define PUBLISHER_LINGER_MS          5000
//  Reading a file (unless --no-wait) the end waits longer for what is
//  queued: 50 subscribers printing JSON on a loaded machine took more than
//  5 s to drain their queues, and lost the last reports, final included.
//  Only a subscriber that stopped reading makes the producer wait it out.
#define PUBLISHER_FILE_LINGER_MS 30000

typedef struct {
    const char **endpoints;
    size_t n_endpoints;
    const char *producer_id;
    int send_timeout_ms;          // how long a send may wait for a slow subscriber
    int sndhwm;                   // messages queued per subscriber, at most
    size_t max_queue_bytes;       // ... and about this many bytes (0: the default)
    const char *curve_cert;       // our secret certificate (enables CURVE), or NULL
    const char *curve_allow_dir;  // directory of allowed client public certificates
    int linger_ms;                // at the end, for queued messages (0: PUBLISHER_LINGER_MS)
} publisher_options;

typedef struct publisher publisher;

//  Creates the socket and binds every endpoint. Returns NULL after printing
//  a message naming the endpoint on failure.
publisher *publisher_new(const publisher_options *options);

//  Closes the socket; the process's exit then waits up to the linger
//  (options.linger_ms) for queued messages to go out to connected
//  subscribers. Sets *self to NULL.
void publisher_destroy(publisher **self);

//  Fills the report's header, sends it and keeps it as the latest for
//  replay. Returns 0, -ENOMEM when it could not be encoded (not sent), or
//  -EIO when the send failed.
int publisher_send_report(publisher *self, Tcpwin__Report *report);

//  Fills the record's header and sends it. Returns 0, -ENOMEM or -EIO.
int publisher_send_flow(publisher *self, Tcpwin__FlowRecord *record);

//  The bound in messages now in force on each subscriber's queue.
int publisher_queue_bound(const publisher *self);

//  Subscription messages refused so far (not a prefix of our topics).
uint64_t publisher_refused(const publisher *self);

//  Connections cut so far for sending refused subscriptions.
uint64_t publisher_evicted(const publisher *self);

//  Messages dropped for slow subscribers so far (see messages_dropped in
//  proto/tcpwin.proto for what is counted).
uint64_t publisher_dropped(const publisher *self);

//  Handles pending subscription messages, waiting up to timeout_ms for the
//  first one (0: don't wait). Returns 0, or -EINTR when interrupted.
int publisher_process_subscriptions(publisher *self, int timeout_ms);

//  Waits until `count` subscriptions arrived or timeout_ms passed. Returns the
//  number seen, or -EINTR when interrupted by a signal.
int publisher_wait_subscribers(publisher *self, int count, int timeout_ms);

//  The raw libzmq socket, for zmq_poll (readable: subscription messages).
void *publisher_socket(publisher *self);

#endif
