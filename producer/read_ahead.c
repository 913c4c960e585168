// SPDX-License-Identifier: MPL-2.0
/*  read_ahead: the reader thread and the ring of blocks it fills (see the
    header for why). The ring: blocks are filled at tail and taken at head,
    in turn; "ready" counts the filled ones not yet taken and "held" the one
    the main thread has, so the reader may fill the next one while
    ready + held < READ_AHEAD_BLOCKS. A block being filled or held is
    touched by its one owner only, without the lock.

    The reader is mostly ahead, so it mostly waits for a free block: woken
    for each one, it would cost the main thread a futex wake per block. A
    full ring therefore waits until READ_AHEAD_REFILL blocks are free, and
    only then is the reader woken (strace -f -c -e futex counts the wakes).
*/
#include "read_ahead.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "tw_time.h"

struct read_ahead {
    capture *input;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t filled;  // a block became ready, or the reader ended
    pthread_cond_t freed;   // a block was released, or a stop was asked
    size_t head;            // the next block to take
    size_t tail;            // the next block to fill
    size_t ready;
    bool held;
    bool stop;     // asked by read_ahead_finish
    bool done;     // the reader ended: final_rc says why
    int final_rc;  // as capture_next: 0 end of file, < 0 damage or failure
    read_ahead_block *blocks;
};

//  Fills one block; returns 1 when the file goes on after it, else what
//  ended it (capture_next's 0 or negative errno).
static int s_fill(read_ahead *self, read_ahead_block *block)
{
    int rc = 1;
    capture_record r;
    block->count = 0;
    while (block->count < READ_AHEAD_PACKETS) {
        rc = capture_next(self->input, &r);
        if (rc == -EINTR)
            continue;  // no signal reaches this thread; harmless if one did
        if (rc != 1)
            break;
        read_ahead_packet *out = &block->packets[block->count++];
        (void)tw_time_from_sec_usec(r.ts_sec, r.ts_usec, &out->ts_us);
        out->link_type = (int32_t)r.link_type;
        out->status =
            (uint8_t)tw_packet_decode((int)r.link_type, r.data, r.caplen, r.len, &out->packet);
    }
    block->records_read = capture_packets_read(self->input);
    capture_progress(self->input, &block->bytes_done, &block->bytes_total);
    return rc;
}

//  Blocks not free (filled and not taken, or held).
static size_t s_busy(const read_ahead *self)
{
    return self->ready + self->held;
}

//  Waits for a free block (for READ_AHEAD_REFILL of them when the ring is
//  full); NULL when a stop was asked.
static read_ahead_block *s_free_block(read_ahead *self)
{
    pthread_mutex_lock(&self->lock);
    if (s_busy(self) == READ_AHEAD_BLOCKS) {
        while (!self->stop && s_busy(self) > READ_AHEAD_BLOCKS - READ_AHEAD_REFILL)
            pthread_cond_wait(&self->freed, &self->lock);
    }
    read_ahead_block *block = self->stop ? NULL : &self->blocks[self->tail];
    pthread_mutex_unlock(&self->lock);
    return block;
}

static void *s_reader(void *arg)
{
    read_ahead *self = arg;
    read_ahead_block *block;
    while ((block = s_free_block(self))) {
        int rc = s_fill(self, block);
        pthread_mutex_lock(&self->lock);
        self->tail = (self->tail + 1) % READ_AHEAD_BLOCKS;
        self->ready++;
        if (rc != 1) {
            self->done = true;
            self->final_rc = rc;
        }
        pthread_cond_signal(&self->filled);
        pthread_mutex_unlock(&self->lock);
        if (rc != 1)
            break;
    }
    return NULL;
}

static bool s_init_sync(read_ahead *self)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return false;
    // Timed waits count on the monotonic clock: a step of the wall clock
    // neither cuts nor stretches them.
    bool ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
              pthread_mutex_init(&self->lock, NULL) == 0;
    if (ok && pthread_cond_init(&self->filled, &attr) != 0) {
        pthread_mutex_destroy(&self->lock);
        ok = false;
    }
    if (ok && pthread_cond_init(&self->freed, &attr) != 0) {
        pthread_cond_destroy(&self->filled);
        pthread_mutex_destroy(&self->lock);
        ok = false;
    }
    pthread_condattr_destroy(&attr);
    return ok;
}

static void s_destroy_sync(read_ahead *self)
{
    pthread_cond_destroy(&self->freed);
    pthread_cond_destroy(&self->filled);
    pthread_mutex_destroy(&self->lock);
}

//  Starts the thread with every signal blocked, so signals keep going to
//  the main thread (a thread inherits its creator's mask).
static int s_start_thread(read_ahead *self)
{
    sigset_t all, old;
    sigfillset(&all);
    int rc = pthread_sigmask(SIG_SETMASK, &all, &old);
    if (rc != 0)
        return rc;
    rc = pthread_create(&self->thread, NULL, s_reader, self);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

read_ahead *read_ahead_start(capture *input)
{
    read_ahead *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->input = input;
    self->blocks = calloc(READ_AHEAD_BLOCKS, sizeof *self->blocks);
    if (!self->blocks || !s_init_sync(self)) {
        free(self->blocks);
        free(self);
        errno = ENOMEM;
        return NULL;
    }
    int rc = s_start_thread(self);
    if (rc != 0) {
        s_destroy_sync(self);
        free(self->blocks);
        free(self);
        errno = rc;
        return NULL;
    }
    return self;
}

static struct timespec s_deadline(int timeout_ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += timeout_ms / 1000;
    t.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

const read_ahead_block *read_ahead_next(read_ahead *self, int timeout_ms)
{
    const read_ahead_block *block = NULL;
    pthread_mutex_lock(&self->lock);
    if (!self->ready && !self->done) {
        struct timespec deadline = s_deadline(timeout_ms);
        while (!self->ready && !self->done &&
               pthread_cond_timedwait(&self->filled, &self->lock, &deadline) != ETIMEDOUT)
            ;
    }
    if (self->ready && !self->held) {
        block = &self->blocks[self->head];
        self->head = (self->head + 1) % READ_AHEAD_BLOCKS;
        self->ready--;
        self->held = true;
    }
    pthread_mutex_unlock(&self->lock);
    return block;
}

void read_ahead_release(read_ahead *self)
{
    pthread_mutex_lock(&self->lock);
    self->held = false;
    if (s_busy(self) <= READ_AHEAD_BLOCKS - READ_AHEAD_REFILL)
        pthread_cond_signal(&self->freed);  // no system call when the reader is not waiting
    pthread_mutex_unlock(&self->lock);
}

bool read_ahead_ended(read_ahead *self)
{
    pthread_mutex_lock(&self->lock);
    bool ended = self->done && !self->ready;
    pthread_mutex_unlock(&self->lock);
    return ended;
}

int read_ahead_finish(read_ahead **self_p)
{
    read_ahead *self = *self_p;
    if (!self)
        return 1;
    *self_p = NULL;
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_signal(&self->freed);
    pthread_mutex_unlock(&self->lock);
    // A fill ends within one block, and a regular file's read does not wait
    // for a writer: the join is short.
    (void)pthread_join(self->thread, NULL);
    int rc = self->done && !self->ready ? self->final_rc : 1;
    s_destroy_sync(self);
    free(self->blocks);
    free(self);
    return rc;
}
