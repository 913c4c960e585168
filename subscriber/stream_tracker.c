/*  stream_tracker: two czmq hash tables keyed by text.

    streams: "topic|run id (16 hex digits)|producer id" -> last sequence.
    runs:    "topic|producer id" -> latest run id, to tell a restart from a
             producer never seen.
    The producer id comes last in both keys because it is the one field of
    free text: a '|' inside it cannot make two different streams collide
    with each other (the fields before it have fixed forms).
*/
#include "stream_tracker.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

struct stream_tracker {
    zhashx_t *streams;   // stream key -> uint64_t last sequence (malloc'd)
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

//  Stores a copy of value under key. Returns 0, or -ENOMEM.
static int s_insert(zhashx_t *table, const char *key, uint64_t value)
{
    uint64_t *copy = malloc(sizeof *copy);
    if (!copy)
        return -ENOMEM;
    *copy = value;
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
static int s_note_run(stream_tracker *self, const char *topic, const char *producer_id,
                      uint64_t run_id, stream_tracker_event *event)
{
    char *key = zsys_sprintf("%s|%s", topic, producer_id);
    if (!key)
        return -ENOMEM;
    uint64_t *run = zhashx_lookup(self->runs, key);
    int rc = 0;
    if (!run)
        rc = s_insert(self->runs, key, run_id);
    else if (*run != run_id) {
        event->restarted = 1;
        event->previous_run = *run;
        self->counters.restarts++;
        *run = run_id;
    }
    zstr_free(&key);
    return rc;
}

int stream_tracker_check(stream_tracker *self, const char *topic, const char *producer_id,
                         uint64_t run_id, uint64_t sequence, stream_tracker_event *event)
{
    *event = (stream_tracker_event){.verdict = STREAM_TRACKER_NEW};
    event->reset = s_bound_tables(self);
    char *key = zsys_sprintf("%s|%016" PRIx64 "|%s", topic, run_id, producer_id);
    if (!key)
        return -ENOMEM;
    uint64_t *last = zhashx_lookup(self->streams, key);
    int rc = 0;
    if (!last) {
        rc = s_note_run(self, topic, producer_id, run_id, event);
        if (rc == 0)
            rc = s_insert(self->streams, key, sequence);
    } else if (sequence <= *last) {
        event->verdict = STREAM_TRACKER_DUPLICATE;
        self->counters.duplicates++;
    } else {
        if (sequence > *last + 1) {
            event->verdict = STREAM_TRACKER_GAP;
            event->missing = sequence - *last - 1;
            event->last = *last;
            self->counters.gaps++;
            self->counters.lost += event->missing;
        } else {
            event->verdict = STREAM_TRACKER_NEXT;
        }
        *last = sequence;
    }
    zstr_free(&key);
    return rc;
}

size_t stream_tracker_size(const stream_tracker *self)
{
    return zhashx_size(self->streams);
}

const stream_tracker_counters *stream_tracker_get_counters(const stream_tracker *self)
{
    return &self->counters;
}
