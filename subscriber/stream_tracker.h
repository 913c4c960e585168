/*  stream_tracker: which messages are new, per stream, without any I/O.

        stream_tracker *tracker = stream_tracker_new(0);
        stream_tracker_event event;
        stream_tracker_check(tracker, topic, producer_id, run_id, sequence, &event);
        if (event.verdict != STREAM_TRACKER_DUPLICATE) ... hand the message over
        stream_tracker_destroy(&tracker);

    A stream is (topic, run id, producer id): every producer run numbers its
    messages of a topic 1, 2, 3 ... The first message of a stream is its
    baseline, whatever its sequence (a late joiner starts with the replay of
    the latest report); after that a sequence at or below the last one is a
    duplicate (a replay, or a repeat), one above the next expected one is a
    gap of the messages in between. A new run id for a (topic, producer id)
    already seen is a restart. Two producers sharing a host name stay apart
    as long as their producer ids differ.

    Both tables (streams, and the latest run per (topic, producer id)) are
    bounded by max_streams: when either is full, both are cleared (counted
    in resets) before the next message, so a hostile flood of run ids
    cannot grow memory; each stream's next message is then a new baseline.

    The tracker never prints: the caller logs from the event it fills.
*/
#ifndef TW_STREAM_TRACKER_H
#define TW_STREAM_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#define STREAM_TRACKER_MAX_STREAMS 4096

typedef struct stream_tracker stream_tracker;

typedef enum {
    STREAM_TRACKER_NEW,        // first message of a stream: the baseline
    STREAM_TRACKER_NEXT,       // the next sequence of a known stream
    STREAM_TRACKER_GAP,        // new, but messages before it are missing
    STREAM_TRACKER_DUPLICATE,  // at or below the last sequence: not new
} stream_tracker_verdict;

typedef struct {
    stream_tracker_verdict verdict;
    uint64_t missing;       // GAP: how many messages are missing
    uint64_t last;          // GAP: the sequence seen before the gap
    int restarted;          // NEW: the producer id was seen with another run id
    uint64_t previous_run;  // restarted: that run id
    int reset;              // the tables were cleared at their bound before this message
} stream_tracker_event;

typedef struct {
    uint64_t duplicates;  // messages judged duplicates
    uint64_t gaps;        // gaps detected
    uint64_t lost;        // messages missing inside those gaps
    uint64_t restarts;    // new run ids of a known (topic, producer id)
    uint64_t resets;      // tables cleared at their bound
} stream_tracker_counters;

//  Creates an empty tracker holding at most max_streams streams (0:
//  STREAM_TRACKER_MAX_STREAMS). Returns NULL when out of memory.
stream_tracker *stream_tracker_new(size_t max_streams);

//  Frees the tracker and sets *self to NULL; harmless on NULL.
void stream_tracker_destroy(stream_tracker **self);

//  Judges one message and remembers it. Returns 0 with *event filled, or
//  -ENOMEM when the stream could not be remembered: *event then says NEW
//  (hand the message over; its stream's next message is a baseline again).
int stream_tracker_check(stream_tracker *self, const char *topic, const char *producer_id,
                         uint64_t run_id, uint64_t sequence, stream_tracker_event *event);

//  Streams remembered now.
size_t stream_tracker_size(const stream_tracker *self);

//  Counters so far.
const stream_tracker_counters *stream_tracker_get_counters(const stream_tracker *self);

#endif
