// SPDX-License-Identifier: MPL-2.0
/*  stream_tracker: two czmq hash tables keyed by text.

    streams: "topic|origin length:origin|run id (16 hex digits)|producer id"
             -> the stream's state (last sequence, implausible streak).
    runs:    "topic|origin length:origin|producer id" -> latest run id, to
             tell a restart from a producer never seen.
    The producer id comes last in both keys because it is the one field of
    free text: a '|' inside it cannot make two different streams collide
    with each other (the fields before it have fixed forms, the origin its
    length in front).
*/
#include "stream_tracker.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t last;       // the stream's last sequence handed over
    uint64_t candidate;  // the latest implausible sequence, when streak > 0
    unsigned streak;     // implausible messages in a row, each following the previous one
} stream_state;

struct stream_tracker {
    zhashx_t *streams;   // stream key -> stream_state (malloc'd)
    zhashx_t *runs;      // "topic|producer id" -> uint64_t latest run id (malloc'd)
    size_t max_streams;  // bound of each table
    stream_tracker_counters counters;
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

stream_tracker *stream_tracker_new(size_t max_streams)
{
    stream_tracker *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max_streams = max_streams ? max_streams : STREAM_TRACKER_MAX_STREAMS;
    self->streams = s_new_table();
    self->runs = s_new_table();
    if (!self->streams || !self->runs)
        stream_tracker_destroy(&self);
    return self;
}

void stream_tracker_destroy(stream_tracker **self)
{
    if (!*self)
        return;
    zhashx_destroy(&(*self)->streams);
    zhashx_destroy(&(*self)->runs);
    free(*self);
    *self = NULL;
}

//  Stores a copy of the size bytes at value under key. Returns 0, or -ENOMEM.
static int s_insert(zhashx_t *table, const char *key, const void *value, size_t size)
{
    void *copy = malloc(size);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, value, size);
    if (zhashx_insert(table, key, copy) != 0) {
        free(copy);
        return -ENOMEM;  // the key is new, so only its copy can have failed
    }
    return 0;
}

//  Clears both tables when either is full. Returns true when it did.
static bool s_bound_tables(stream_tracker *self)
{
    if (zhashx_size(self->streams) < self->max_streams &&
        zhashx_size(self->runs) < self->max_streams)
        return false;
    zhashx_purge(self->streams);
    zhashx_purge(self->runs);
    self->counters.resets++;
    return true;
}

//  Remembers the run of a new stream's producer; another run than the one
//  remembered is a restart. Returns 0 or -ENOMEM.
static int s_note_run(stream_tracker *self, const char *topic, const char *origin,
                      const char *producer_id, uint64_t run_id, stream_tracker_event *event)
{
    char *key = zsys_sprintf("%s|%zu:%s|%s", topic, strlen(origin), origin, producer_id);
    if (!key)
        return -ENOMEM;
    uint64_t *run = zhashx_lookup(self->runs, key);
    int rc = 0;
    if (!run)
        rc = s_insert(self->runs, key, &run_id, sizeof run_id);
    else if (*run != run_id) {
        event->restarted = 1;
        event->previous_run = *run;
        self->counters.restarts++;
        *run = run_id;
    }
    zstr_free(&key);
    return rc;
}

//  True when sequence is more than STREAM_TRACKER_MAX_JUMP away from last.
static bool s_implausible(uint64_t last, uint64_t sequence)
{
    return sequence > last ? sequence - last > STREAM_TRACKER_MAX_JUMP
                           : last - sequence > STREAM_TRACKER_MAX_JUMP;
}

//  An implausible message: dropped, unless it completes a consistent run of
//  them, which the stream then moves to.
static void s_judge_implausible(stream_tracker *self, stream_state *state, uint64_t sequence,
                                stream_tracker_event *event)
{
    bool follows = state->streak > 0 && sequence > state->candidate &&
                   sequence - state->candidate <= STREAM_TRACKER_MAX_JUMP;
    state->streak = follows ? state->streak + 1 : 1;
    state->candidate = sequence;
    if (state->streak < STREAM_TRACKER_ADOPT_AFTER) {
        event->verdict = STREAM_TRACKER_IMPLAUSIBLE;
        event->last = state->last;
        self->counters.implausible++;
        return;
    }
    event->verdict = STREAM_TRACKER_NEW;
    event->rebased = 1;
    event->last = state->last;
    self->counters.rebases++;
    state->last = sequence;
    state->streak = 0;
}

//  A message of a known stream.
static void s_judge(stream_tracker *self, stream_state *state, uint64_t sequence,
                    stream_tracker_event *event)
{
    if (s_implausible(state->last, sequence)) {
        s_judge_implausible(self, state, sequence, event);
        return;
    }
    state->streak = 0;
    if (sequence <= state->last) {
        event->verdict = STREAM_TRACKER_DUPLICATE;
        self->counters.duplicates++;
        return;
    }
    if (sequence > state->last + 1) {
        event->verdict = STREAM_TRACKER_GAP;
        event->missing = sequence - state->last - 1;
        event->last = state->last;
        self->counters.gaps++;
        self->counters.lost += event->missing;
    } else {
        event->verdict = STREAM_TRACKER_NEXT;
    }
    state->last = sequence;
}

int stream_tracker_check(stream_tracker *self, const char *topic, const char *origin,
                         const char *producer_id, uint64_t run_id, uint64_t sequence,
                         stream_tracker_event *event)
{
    *event = (stream_tracker_event){.verdict = STREAM_TRACKER_NEW};
    event->reset = s_bound_tables(self);
    if (!origin)
        origin = "";
    char *key = zsys_sprintf("%s|%zu:%s|%016" PRIx64 "|%s", topic, strlen(origin), origin, run_id,
                             producer_id);
    if (!key)
        return -ENOMEM;
    stream_state *state = zhashx_lookup(self->streams, key);
    int rc = 0;
    if (!state) {
        rc = s_note_run(self, topic, origin, producer_id, run_id, event);
        stream_state fresh = {.last = sequence};
        if (rc == 0)
            rc = s_insert(self->streams, key, &fresh, sizeof fresh);
    } else {
        s_judge(self, state, sequence, event);
    }
    zstr_free(&key);
    return rc;
}

bool stream_tracker_is_new(const stream_tracker_event *event)
{
    return event->verdict == STREAM_TRACKER_NEW || event->verdict == STREAM_TRACKER_NEXT ||
           event->verdict == STREAM_TRACKER_GAP;
}

size_t stream_tracker_size(const stream_tracker *self)
{
    return zhashx_size(self->streams);
}

const stream_tracker_counters *stream_tracker_get_counters(const stream_tracker *self)
{
    return &self->counters;
}
