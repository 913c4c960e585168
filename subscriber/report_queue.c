// SPDX-License-Identifier: MPL-2.0
/*  report_queue: a growable ring of malloc'd reports.

    Queue order is written reports, then the current one (when partly
    written), then the waiting ones, so every state change is a move of a
    boundary index, except a drop, which takes the oldest waiting report out
    of the middle: the few reports in front of it (written and current) move
    up one slot instead, which keeps the ring contiguous.

    The ring grows by doubling: the waiting reports are bounded by
    max_reports, the written ones only by what the kernel accepted, so no
    fixed capacity fits both.
*/
#include "report_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_CAPACITY 16

typedef struct {
    char *data;  // the report's bytes (malloc'd)
    size_t len;  // its length
} rq_item;

struct report_queue {
    rq_item *ring;         // the reports, capacity slots
    size_t capacity;       // slots in ring
    size_t head;           // slot of the oldest report
    size_t count;          // reports held
    size_t written;        // reports at the front wholly written, unacknowledged
    size_t written_bytes;  // their bytes
    size_t sent;           // bytes written of the current report (the one after them)
    size_t waiting_bytes;  // bytes of the waiting reports
    size_t max_reports;    // limit of waiting reports
    size_t max_bytes;      // limit of waiting bytes
    report_queue_counters counters;
};

static rq_item *s_at(const report_queue *self, size_t position)
{
    return &self->ring[(self->head + position) % self->capacity];
}

//  Index of the oldest waiting report (it may be == count: none).
static size_t s_first_waiting(const report_queue *self)
{
    return self->written + (self->sent > 0 ? 1 : 0);
}

report_queue *report_queue_new(size_t max_reports, size_t max_bytes)
{
    if (max_reports == 0 || max_bytes == 0)
        return NULL;
    report_queue *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->capacity = FIRST_CAPACITY;
    self->ring = calloc(self->capacity, sizeof *self->ring);
    self->max_reports = max_reports;
    self->max_bytes = max_bytes;
    if (!self->ring)
        report_queue_destroy(&self);
    return self;
}

void report_queue_destroy(report_queue **self_p)
{
    report_queue *self = *self_p;
    if (!self)
        return;
    if (self->ring)
        for (size_t i = 0; i < self->count; i++)
            free(s_at(self, i)->data);
    free(self->ring);
    free(self);
    *self_p = NULL;
}

//  Removes the report at position, moving the ones in front of it up one
//  slot. Frees its bytes.
static void s_remove(report_queue *self, size_t position)
{
    free(s_at(self, position)->data);
    for (size_t i = position; i > 0; i--)
        *s_at(self, i) = *s_at(self, i - 1);
    s_at(self, 0)->data = NULL;
    self->head = (self->head + 1) % self->capacity;
    self->count--;
}

static int s_grow(report_queue *self)
{
    size_t capacity = self->capacity * 2;
    rq_item *ring = calloc(capacity, sizeof *ring);
    if (!ring)
        return -ENOMEM;
    for (size_t i = 0; i < self->count; i++)
        ring[i] = *s_at(self, i);
    free(self->ring);
    self->ring = ring;
    self->capacity = capacity;
    self->head = 0;
    return 0;
}

int report_queue_push(report_queue *self, const void *data, size_t len)
{
    if (len == 0)
        return -EINVAL;
    if (len > self->max_bytes) {
        self->counters.too_big++;
        return -EMSGSIZE;
    }
    if (self->count == self->capacity && s_grow(self) != 0)
        return -ENOMEM;
    char *copy = malloc(len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, len);
    while (report_queue_waiting(self) > 0 && (report_queue_waiting(self) >= self->max_reports ||
                                              self->waiting_bytes + len > self->max_bytes)) {
        self->waiting_bytes -= s_at(self, s_first_waiting(self))->len;
        s_remove(self, s_first_waiting(self));
        self->counters.dropped++;
    }
    *s_at(self, self->count) = (rq_item){.data = copy, .len = len};
    self->count++;
    self->waiting_bytes += len;
    self->counters.pushed++;
    return 0;
}

const char *report_queue_unwritten(report_queue *self, size_t *len)
{
    if (self->written == self->count) {
        *len = 0;
        return NULL;
    }
    rq_item *item = s_at(self, self->written);
    *len = item->len - self->sent;
    return item->data + self->sent;
}

size_t report_queue_wrote(report_queue *self, size_t n)
{
    if (n == 0 || self->written == self->count)
        return 0;
    rq_item *item = s_at(self, self->written);
    if (self->sent == 0)
        self->waiting_bytes -= item->len;  // it becomes current
    self->sent += n;
    self->counters.bytes_written += n;
    if (self->sent < item->len)
        return 0;
    self->sent = 0;
    self->written++;
    self->written_bytes += item->len;
    return 1;
}

size_t report_queue_acknowledge(report_queue *self, size_t held)
{
    size_t unacknowledged = self->written_bytes + self->sent;
    size_t gone = unacknowledged > held ? unacknowledged - held : 0;
    size_t delivered = 0;
    while (self->written > 0 && s_at(self, 0)->len <= gone) {
        size_t len = s_at(self, 0)->len;
        gone -= len;
        self->written_bytes -= len;
        self->written--;
        s_remove(self, 0);
        delivered++;
    }
    self->counters.delivered += delivered;
    return delivered;
}

size_t report_queue_rewind(report_queue *self)
{
    size_t rewound = s_first_waiting(self);
    self->waiting_bytes += self->written_bytes;
    if (self->sent > 0)
        self->waiting_bytes += s_at(self, self->written)->len;
    self->written = 0;
    self->written_bytes = 0;
    self->sent = 0;
    self->counters.rewound += rewound;
    return rewound;
}

size_t report_queue_abandon(report_queue *self)
{
    if (self->written == self->count)
        return 0;
    if (self->sent == 0)
        self->waiting_bytes -= s_at(self, self->written)->len;
    s_remove(self, self->written);
    self->sent = 0;
    self->counters.abandoned++;
    return 1;
}

size_t report_queue_count(const report_queue *self)
{
    return self->count;
}

size_t report_queue_written(const report_queue *self)
{
    return self->written;
}

size_t report_queue_waiting(const report_queue *self)
{
    return self->count - s_first_waiting(self);
}

size_t report_queue_waiting_bytes(const report_queue *self)
{
    return self->waiting_bytes;
}

size_t report_queue_unacknowledged_bytes(const report_queue *self)
{
    return self->written_bytes + self->sent;
}

const report_queue_counters *report_queue_get_counters(const report_queue *self)
{
    return &self->counters;
}
