// SPDX-License-Identifier: MPL-2.0
/*  receiver: the subscriber's ZeroMQ side.

    One SUB socket connected to every producer endpoint, subscribed to the
    chosen topic prefixes. receiver_recv() reads one two-frame message,
    validates and decodes it, and asks a stream_tracker about its sequence
    per (peer address, producer id, run id, topic): it hands over only
    messages that are new, logs and counts gaps and restarts, and drops
    duplicates (a late-joiner replay) silently.
    After RECEIVER_WAITING_MS with nothing, it says once which endpoints it
    waits for (again after every producer went away); a producer of another
    schema major is named once.
    Hostile input (wrong frame count, undecodable payload, foreign major,
    a payload past the decode budget, an absurd sequence jump) is counted
    and skipped; log lines a peer can cause are escaped and rate-limited.
*/
#ifndef TW_RECEIVER_H
#define TW_RECEIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "wire.h"

typedef struct receiver receiver;

typedef struct {
    const char **endpoints;  // producers to connect to (at least one)
    size_t n_endpoints;
    const char **topics;  // topic prefixes; none means every topic of ours
    size_t n_topics;
    const char *curve_cert;        // our secret certificate file (CURVE), or NULL
    const char *curve_server_key;  // the producer's public key (Z85 or cert file), or NULL
    int64_t max_message_bytes;     // ZMQ_MAXMSGSIZE; 0 for the default
} receiver_options;

typedef struct {
    uint64_t received;       // messages handed to the caller
    uint64_t duplicates;     // replays and repeats dropped
    uint64_t gaps;           // gaps detected
    uint64_t lost;           // messages missing inside those gaps
    uint64_t restarts;       // new run ids of a known producer id
    uint64_t bad_frames;     // wrong number of frames
    uint64_t bad_payloads;   // undecodable payload or unknown topic
    uint64_t bad_versions;   // another schema major
    uint64_t streams_reset;  // sequence tables cleared at their bound
    uint64_t disconnects;    // a producer went away, or sent more than max_message_bytes
    uint64_t implausible;    // sequence jumps over STREAM_TRACKER_MAX_JUMP, dropped
    uint64_t rebases;        // streams moved to a consistent run of such sequences
    uint64_t too_big;        // payloads past the decode budget or the producer's row bounds
} receiver_counters;

//  How long nothing may come before the subscriber says it is waiting.
#define RECEIVER_WAITING_MS 3000

//  Resolves the host name of every tcp:// endpoint now: libzmq resolves at
//  each connection attempt and says nothing when a name does not resolve.
//  Returns 0, or -ENOENT after one line per name that does not resolve.
int receiver_check_names(const receiver_options *options);

//  Creates the socket and connects it. Returns NULL after printing a message
//  naming the endpoint on failure.
receiver *receiver_new(const receiver_options *options);

//  Closes the socket; sets *self to NULL.
void receiver_destroy(receiver **self);

//  The raw libzmq socket handle, for zmq_poll.
void *receiver_socket(receiver *self);

//  Reads one message without blocking. Returns 1 (got one) with *msg filled
//  (release it with tw_message_free); 0 when nothing new was available or the
//  message was skipped (counted); a negative errno when the socket failed
//  (-EINTR included: check your signals; -ETERM when the context ended).
int receiver_recv(receiver *self, tw_message *msg);

//  Handles pending socket events (disconnections) without blocking; called
//  by receiver_recv too. Call it now and then when no message comes.
void receiver_poll_events(receiver *self);

//  True when a producer's connection went away (no connection was made
//  again since) and no message at all arrived for quiet_ms after that: the
//  producer's run is over, whether or not its final report reached us.
bool receiver_producer_gone(receiver *self, int64_t quiet_ms);

//  Counters so far.
const receiver_counters *receiver_get_counters(const receiver *self);

#endif
