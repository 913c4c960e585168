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

    A stop must not wait on the file: a fill also ends after
    READ_AHEAD_MAX_FILTERED_OUT records that a -f filter threw away (a
    partial block, possibly empty), where the reader looks at the stop; and
    a read that blocks interruptibly (a FUSE file system, a FIFO given to
    read_ahead_start) is interrupted by READ_AHEAD_SIGNAL, the one signal the
    reader does not block, sent to it again every READ_AHEAD_KICK_MS until
    it is joined (one sent between its look at the stop and its read would
    be lost). A read only SIGKILL interrupts (an NFS hard mount, a failing
    local disk) still holds the stop, as it would without the thread.
*/
#define _GNU_SOURCE  // sched_getaffinity, CPU_COUNT
#include "read_ahead.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
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
    atomic_bool stopping;       // asked by read_ahead_finish; a fill looks without the lock
    struct sigaction old_kick;  // READ_AHEAD_SIGNAL's action before, restored at the end
    bool done;                  // the reader ended: final_rc says why
    bool exited;                // the reader is past its last use of the ring
    int final_rc;               // as capture_next: 0 end of file, < 0 damage or failure
    read_ahead_block *blocks;
};

//  Whether read_ahead_finish asked for a stop. Set before it takes the lock
//  to wake the reader, so a wait that looks under the lock cannot miss it.
static bool s_stopping(read_ahead *self)
{
    return atomic_load_explicit(&self->stopping, memory_order_relaxed);
}

//  Fills one block; returns 1 when the file goes on after it, else what
//  ended it (capture_next's 0 or negative errno).
static int s_fill(read_ahead *self, read_ahead_block *block)
{
    int rc = 1;
    capture_record r;
    block->count = 0;
    while (block->count < READ_AHEAD_PACKETS) {
        rc = capture_next_limited(self->input, &r, READ_AHEAD_MAX_FILTERED_OUT);
        if (rc == -EAGAIN || rc == -EINTR) {
            // A sparse filter, or a read interrupted (READ_AHEAD_SIGNAL):
            // hand over what there is at a stop, or after a sparse stretch
            // (the progress line moves on); else read on.
            bool sparse = rc == -EAGAIN;
            rc = 1;
            if (sparse || s_stopping(self))
                break;
            continue;
        }
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
        while (!s_stopping(self) && s_busy(self) > READ_AHEAD_BLOCKS - READ_AHEAD_REFILL)
            pthread_cond_wait(&self->freed, &self->lock);
    }
    read_ahead_block *block = s_stopping(self) ? NULL : &self->blocks[self->tail];
    pthread_mutex_unlock(&self->lock);
    return block;
}

static void *s_reader(void *arg)
{
    read_ahead *self = arg;
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, READ_AHEAD_SIGNAL);
    (void)pthread_sigmask(SIG_UNBLOCK, &kick, NULL);  // fails only for a bad argument
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
    pthread_mutex_lock(&self->lock);
    self->exited = true;
    pthread_cond_signal(&self->filled);
    pthread_mutex_unlock(&self->lock);
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

static void s_on_kick(int sig)
{
    (void)sig;  // there only to interrupt the reader's read (EINTR)
}

//  Starts the thread with every signal blocked, so that signals keep going
//  to the main thread (a thread inherits its creator's mask); the thread
//  then opens READ_AHEAD_SIGNAL alone, whose handler does nothing and is
//  installed without SA_RESTART, so that it interrupts a read, and only
//  while the reader runs (read_ahead_finish restores the action before).
//  Sent to the process from outside meanwhile, it interrupts at most a
//  read, which goes on.
static int s_start_thread(read_ahead *self)
{
    struct sigaction kick = {.sa_handler = s_on_kick};
    sigemptyset(&kick.sa_mask);
    if (sigaction(READ_AHEAD_SIGNAL, &kick, &self->old_kick) != 0)
        return errno;
    sigset_t all, old;
    sigfillset(&all);
    int rc = pthread_sigmask(SIG_SETMASK, &all, &old);
    if (rc != 0) {
        (void)sigaction(READ_AHEAD_SIGNAL, &self->old_kick, NULL);
        return rc;
    }
    rc = pthread_create(&self->thread, NULL, s_reader, self);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        (void)sigaction(READ_AHEAD_SIGNAL, &self->old_kick, NULL);
    return rc;
}

bool read_ahead_worthwhile(void)
{
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    // The CPUs this process may run on (taskset, a container's cpuset),
    // not the machine's. Unknown (over 1,024 CPUs): surely two.
    return sched_getaffinity(0, sizeof cpus, &cpus) != 0 || CPU_COUNT(&cpus) >= 2;
}

read_ahead *read_ahead_start(capture *input)
{
    read_ahead *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->input = input;
    atomic_init(&self->stopping, false);
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
        struct timespec deadline = s_deadline(timeout_ms > 0 ? timeout_ms : 0);
        // Woken without a block (spuriously): wait on, up to the deadline.
        while (!self->ready && !self->done &&
               pthread_cond_timedwait(&self->filled, &self->lock, &deadline) == 0)
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

size_t read_ahead_ready(read_ahead *self)
{
    pthread_mutex_lock(&self->lock);
    size_t ready = self->ready;
    pthread_mutex_unlock(&self->lock);
    return ready;
}

bool read_ahead_ended(read_ahead *self)
{
    pthread_mutex_lock(&self->lock);
    bool ended = self->done && !self->ready;
    pthread_mutex_unlock(&self->lock);
    return ended;
}

//  Waits for the reader to end, interrupting a read it may be blocked in
//  (a wait on the ring's condition, since a join cannot time out portably).
static void s_join(read_ahead *self)
{
    pthread_mutex_lock(&self->lock);
    while (!self->exited) {
        struct timespec deadline = s_deadline(READ_AHEAD_KICK_MS);
        if (pthread_cond_timedwait(&self->filled, &self->lock, &deadline) == ETIMEDOUT)
            (void)pthread_kill(self->thread, READ_AHEAD_SIGNAL);
    }
    pthread_mutex_unlock(&self->lock);
    (void)pthread_join(self->thread, NULL);
}

//  Packets in the blocks filled and not taken.
static uint64_t s_untaken(const read_ahead *self)
{
    uint64_t packets = 0;
    for (size_t i = 0; i < self->ready; i++)
        packets += self->blocks[(self->head + i) % READ_AHEAD_BLOCKS].count;
    return packets;
}

int read_ahead_finish(read_ahead **self_p, uint64_t *not_analysed)
{
    read_ahead *self = *self_p;
    *not_analysed = 0;
    if (!self)
        return 1;
    *self_p = NULL;
    atomic_store_explicit(&self->stopping, true, memory_order_relaxed);
    pthread_mutex_lock(&self->lock);
    pthread_cond_signal(&self->freed);
    pthread_mutex_unlock(&self->lock);
    s_join(self);
    (void)sigaction(READ_AHEAD_SIGNAL, &self->old_kick, NULL);  // the reader is gone
    // What ended the file wins over the stop, as without the thread: the
    // caller says the damage and gives its exit status (a link type the
    // filter refuses was said by the capture already).
    int rc = self->done ? self->final_rc : 1;
    *not_analysed = s_untaken(self);
    s_destroy_sync(self);
    free(self->blocks);
    free(self);
    return rc;
}
