// SPDX-License-Identifier: MPL-2.0
/*  read_ahead: a capture file read, filtered and decoded on a thread of its
    own, while the main thread runs the flow table.

    Why: on two cores, reading (the kernel's copy from the page cache, the
    record walk, decompression, the -f filter) and decoding are a quarter
    to a half of the producer's time (bench/RESULTS.md); done beside the
    analysis they cost it almost nothing. The thread owns the capture from
    read_ahead_start to read_ahead_finish; the two threads share the
    blocks, under one mutex, and stderr: what the capture says of the file
    (a link type the decoder does not know, a filter a link type refuses, a
    warning at its end) is said when the reader gets there, up to
    READ_AHEAD_BLOCKS blocks ahead of the analysis.

    Memory is bounded: READ_AHEAD_BLOCKS blocks of READ_AHEAD_PACKETS
    decoded packets (72 bytes each: 288 KiB in all), reused in turn;
    the reader waits when they are all full, so a slow analysis never makes
    it read further ahead.

    Only for a regular file (capture_is_regular_file): a pipe is paced by
    its writer (tcpdump -w -, zstdcat), a process beside the analysis
    already. Every signal but READ_AHEAD_SIGNAL is blocked in the thread,
    so they all reach the main thread as before.
*/
#ifndef TW_READ_AHEAD_H
#define TW_READ_AHEAD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "packet_decode.h"

#define READ_AHEAD_PACKETS 512
#define READ_AHEAD_BLOCKS  8
//  A full ring wakes the reader when this many blocks are free again.
#define READ_AHEAD_REFILL 4
//  A fill ends after this many records in a row thrown away by a -f filter.
#define READ_AHEAD_MAX_FILTERED_OUT 16384
//  The signal that interrupts a blocked read of the reader at a stop, and
//  how often it is sent until the reader has ended.
#define READ_AHEAD_SIGNAL  SIGRTMIN
#define READ_AHEAD_KICK_MS 100

//  One record as the main thread needs it: decoded, with its time.
typedef struct {
    int64_t ts_us;      // capture time (tw_time_from_sec_usec)
    int32_t link_type;  // the record's, as capture_next gives it
    uint8_t status;     // tw_decode_status
    tw_packet packet;   // filled when status is TW_DECODE_OK
} read_ahead_packet;

//  A run of records, in file order, and where the reader stood after it.
typedef struct {
    size_t count;
    uint64_t records_read;  // capture_packets_read after the last of them
    uint64_t bytes_done;    // capture_progress after the last of them
    uint64_t bytes_total;
    read_ahead_packet packets[READ_AHEAD_PACKETS];
} read_ahead_block;

typedef struct read_ahead read_ahead;

//  Whether a reader thread can run beside the analysis: this process may
//  run on two CPUs or more. On one, the two threads would take turns, and
//  the hand-over would only add to the time.
bool read_ahead_worthwhile(void);

//  Starts the thread over input, which it owns until read_ahead_finish.
//  Returns NULL (errno set) when no thread could be made: the caller then
//  reads on its own thread.
read_ahead *read_ahead_start(capture *input);

//  The next block, waiting at most timeout_ms for it; NULL when none came
//  in that time or the reader ended (read_ahead_ended says which). The
//  block is the caller's until read_ahead_release.
const read_ahead_block *read_ahead_next(read_ahead *self, int timeout_ms);

//  Gives the block from read_ahead_next back to the reader.
void read_ahead_release(read_ahead *self);

//  True once the reader stopped and every block it filled was taken.
bool read_ahead_ended(read_ahead *self);

//  Blocks filled and not yet taken.
size_t read_ahead_ready(read_ahead *self);

//  Stops the reader (at once, when blocks remain untaken: a stop), waits
//  for its thread and frees it; sets *self to NULL. Returns what ended the
//  reading, as capture_next returns it: 0 at the end of the file, a
//  negative errno at damage or failure (capture_error says why), even when
//  blocks before it were not taken, or 1 when it was stopped before the
//  end. *not_analysed: the packets in the blocks not taken (a stop's cost).
//  The capture is the caller's again.
int read_ahead_finish(read_ahead **self, uint64_t *not_analysed);

#endif
