// SPDX-License-Identifier: MPL-2.0
/*  report_queue: the stream writer's queue of WHOLE reports, without I/O.

        report_queue *queue = report_queue_new(1000, 16 << 20);
        report_queue_push(queue, text, len);          // a copy; may drop the oldest waiting
        size_t left;
        const char *bytes = report_queue_unwritten(queue, &left);
        ... n = send(fd, bytes, left) ...
        report_queue_wrote(queue, n);
        report_queue_acknowledge(queue, bytes_the_kernel_still_holds);  // pops delivered ones
        report_queue_rewind(queue);                   // connection lost: resend whole
        report_queue_destroy(&queue);

    A report goes through three states, in queue order:
      waiting   not written yet;
      current   the one report partly written (at most one);
      written   wholly handed to the kernel, but not yet known to have left
                it (TCP: the peer has not acknowledged all its bytes).
    A report leaves the queue only when acknowledged (delivered) or dropped.
    Losing the connection rewinds: every written report and the current one
    become waiting again, to be sent whole, from its first byte, on the
    next connection; a reader never sees the tail of a report without its
    head, and a report that the kernel still held is never taken for
    delivered.

    Bounds: max_reports and max_bytes limit the WAITING reports. The current
    report comes on top, and so do the written ones: the kernel's send buffer
    bounds those. When a new report does not fit, the oldest waiting reports
    are dropped and counted, never the current one nor a written one. A
    report larger than max_bytes on its own is refused (-EMSGSIZE, counted).
*/
#ifndef TW_REPORT_QUEUE_H
#define TW_REPORT_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct report_queue report_queue;

typedef struct {
    uint64_t pushed;         // reports accepted by report_queue_push
    uint64_t delivered;      // reports acknowledged and removed
    uint64_t dropped;        // waiting reports dropped to make room
    uint64_t too_big;        // reports refused: larger than max_bytes alone
    uint64_t abandoned;      // current reports given up (report_queue_abandon)
    uint64_t rewound;        // written or current reports queued again whole
    uint64_t bytes_written;  // bytes reported by report_queue_wrote
} report_queue_counters;

//  Creates an empty queue. Returns NULL when a limit is 0 or out of memory.
report_queue *report_queue_new(size_t max_reports, size_t max_bytes);

//  Frees the queue and what it holds; sets *self to NULL.
void report_queue_destroy(report_queue **self);

//  Appends a copy of len bytes, dropping the oldest waiting reports while
//  the waiting ones would exceed a limit. Returns 0; -EMSGSIZE when len is
//  above max_bytes (counted in too_big, nothing dropped); -ENOMEM; -EINVAL
//  for len 0.
int report_queue_push(report_queue *self, const void *data, size_t len);

//  The bytes still to write of the current report (the first waiting one
//  becomes current), with their count in *len. Returns NULL, *len 0, when
//  nothing is left to write.
const char *report_queue_unwritten(report_queue *self, size_t *len);

//  Records that n bytes of report_queue_unwritten were handed over; n is at
//  most what it gave. Returns how many reports became written (0 or 1).
size_t report_queue_wrote(report_queue *self, size_t n);

//  The kernel still holds `held` of the bytes written since the last rewind
//  and not yet acknowledged: the written reports wholly before them are
//  delivered and removed. held 0 delivers every written report (UDP: a
//  datagram sent is gone). Returns how many reports were delivered.
size_t report_queue_acknowledge(report_queue *self, size_t held);

//  The connection was lost: the written reports and the current one become
//  waiting again, at the front, in order. Returns how many (counted in
//  rewound).
size_t report_queue_rewind(report_queue *self);

//  Removes the current report, partly written, as undeliverable (a UDP
//  datagram the kernel refused). Returns 1, or 0 when there was none.
size_t report_queue_abandon(report_queue *self);

//  Reports held: written, current and waiting.
size_t report_queue_count(const report_queue *self);

//  Reports written and not yet acknowledged.
size_t report_queue_written(const report_queue *self);

//  Reports waiting (neither written nor current), and their bytes.
size_t report_queue_waiting(const report_queue *self);
size_t report_queue_waiting_bytes(const report_queue *self);

//  Bytes written and not yet acknowledged (the current report's included).
size_t report_queue_unacknowledged_bytes(const report_queue *self);

//  Counters so far.
const report_queue_counters *report_queue_get_counters(const report_queue *self);

#endif
