// SPDX-License-Identifier: MPL-2.0
/*  stream_tracker: which messages are new, per stream, without any I/O.

        stream_tracker *tracker = stream_tracker_new(0);
        stream_tracker_event event;
        stream_tracker_check(tracker, topic, origin, producer_id, run_id, sequence, &event);
        if (stream_tracker_is_new(&event)) ... hand the message over
        stream_tracker_destroy(&tracker);

    A stream is (topic, origin, run id, producer id): every producer run
    numbers its messages of a topic 1, 2, 3 ... The origin is where the
    message came in (the receiver passes the peer's IP address): a message
    from one origin can never disturb a stream seen from another, whatever
    producer id it claims. The first message of a stream is its
    baseline, whatever its sequence (a late joiner starts with the replay of
    the latest report); after that a sequence at or below the last one is a
    duplicate (a replay, or a repeat), one above the next expected one is a
    gap of the messages in between. A new run id for a (topic, producer id)
    already seen is a restart. Two producers sharing a host name stay apart
    as long as their producer ids differ.

    A jump of more than STREAM_TRACKER_MAX_JUMP sequences, forward or back,
    is implausible (2^20 reports are 60 days at one report a second; the
    flow records a slow subscriber loses are far fewer): one hostile
    message claiming sequence 2^64-1 must not make every later message of
    the real producer a duplicate. An implausible message is counted and
    dropped and the stream keeps its baseline. Only when
    STREAM_TRACKER_ADOPT_AFTER implausible messages in a row follow each
    other (each one above the previous one, by at most the bound) does the
    stream move to them (counted in rebases): a producer really beyond the
    bound, or a stream whose baseline was the hostile one, recovers after a
    few messages, while isolated absurd sequences never move it. Limit: a
    peer on the same origin that sends a consistent run of messages under
    another producer's id is not told apart from it.

    Both tables (streams, and the latest run per (topic, producer id)) are
    bounded by max_streams: when either is full, both are cleared (counted
    in resets) before the next message, so a hostile flood of run ids
    cannot grow memory; each stream's next message is then a new baseline.

    The tracker never prints: the caller logs from the event it fills.
*/
#ifndef TW_STREAM_TRACKER_H
#define TW_STREAM_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STREAM_TRACKER_MAX_STREAMS 4096

typedef struct stream_tracker stream_tracker;

typedef enum {
    STREAM_TRACKER_NEW,          // first message of a stream: the baseline
    STREAM_TRACKER_NEXT,         // the next sequence of a known stream
    STREAM_TRACKER_GAP,          // new, but messages before it are missing
    STREAM_TRACKER_DUPLICATE,    // at or below the last sequence: not new
    STREAM_TRACKER_IMPLAUSIBLE,  // too far from the last sequence: not new, not adopted
} stream_tracker_verdict;

//  The largest sequence jump (either way) taken as the same stream going on.
#define STREAM_TRACKER_MAX_JUMP (UINT64_C(1) << 20)
//  Implausible messages in a row, consistent with each other, after which
//  the stream moves to them.
#define STREAM_TRACKER_ADOPT_AFTER 3

typedef struct {
    stream_tracker_verdict verdict;
    uint64_t missing;       // GAP: how many messages are missing
    uint64_t last;          // GAP: the sequence seen before the gap
    int restarted;          // NEW: the producer id was seen with another run id
    uint64_t previous_run;  // restarted: that run id
    int reset;              // the tables were cleared at their bound before this message
    int rebased;            // NEW: a known stream moved to a run of implausible sequences
} stream_tracker_event;

typedef struct {
    uint64_t duplicates;   // messages judged duplicates
    uint64_t gaps;         // gaps detected
    uint64_t lost;         // messages missing inside those gaps
    uint64_t restarts;     // new run ids of a known (topic, producer id)
    uint64_t resets;       // tables cleared at their bound
    uint64_t implausible;  // messages too far from their stream's sequence, dropped
    uint64_t rebases;      // streams moved to a consistent run of implausible sequences
} stream_tracker_counters;

//  Creates an empty tracker holding at most max_streams streams (0:
//  STREAM_TRACKER_MAX_STREAMS). Returns NULL when out of memory.
stream_tracker *stream_tracker_new(size_t max_streams);

//  Frees the tracker and sets *self to NULL; harmless on NULL.
void stream_tracker_destroy(stream_tracker **self);

//  Judges one message and remembers it. origin names where it came in (NULL
//  or "" when unknown: one origin for all). Returns 0 with *event filled, or
//  -ENOMEM when the stream could not be remembered: *event then says NEW
//  (hand the message over; its stream's next message is a baseline again).
int stream_tracker_check(stream_tracker *self, const char *topic, const char *origin,
                         const char *producer_id, uint64_t run_id, uint64_t sequence,
                         stream_tracker_event *event);

//  True when the event's message is to be handed over (NEW, NEXT or GAP).
bool stream_tracker_is_new(const stream_tracker_event *event);

//  Streams remembered now.
size_t stream_tracker_size(const stream_tracker *self);

//  Counters so far.
const stream_tracker_counters *stream_tracker_get_counters(const stream_tracker *self);

#endif
