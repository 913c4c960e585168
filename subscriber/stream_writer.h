// SPDX-License-Identifier: MPL-2.0
/*  stream_writer: the bridge's raw TCP/UDP sink, what `nc -l` listens to.

    The caller owns the one poll loop. Each turn it polls stream_writer_fd()
    for stream_writer_events() (the descriptor changes across reconnections,
    so read both every turn; -1 means none, only a timer), with a timeout no
    longer than stream_writer_next_timeout_ms(), then calls
    stream_writer_handle() with what poll reported. Reports go in with
    stream_writer_enqueue() at any time; nothing here ever blocks except the
    resolution of a host name at a connection attempt (getaddrinfo: use an
    address to avoid that).

    The queue holds WHOLE reports (report_queue.h). Limits (defaults in
    brackets): max_reports [1000] and max_bytes [16 MiB] bound the reports
    waiting to be sent; the one being written and those written but not yet
    acknowledged come on top (the kernel's send buffer bounds them). When a
    new report does not fit, the oldest waiting report is dropped and
    counted, never one on the wire: a report is never cut in the middle of a
    connection. A report larger than max_bytes on its own is dropped and
    counted at once (-EMSGSIZE).
    TCP: a non-blocking socket; partial writes resume where they stopped.
      A report counts as forwarded only once the kernel no longer holds any
      of its bytes: acknowledged by the peer's kernel (SIOCOUTQ, unsent plus
      unacknowledged bytes, looked at every turn and every 20 ms while some
      are due). A peer that is absent, closes (a FIN counts: a half-closed
      peer is indistinguishable from a gone one until data is lost) or
      resets is reconnected with exponential backoff, 100 ms doubling to
      5 s, reset by a successful connection. Every report it had not
      acknowledged, the cut one included, is sent again WHOLE, from the
      oldest, on the next connection (counted as resent); a tail alone is
      never sent. What TCP cannot tell: bytes the peer's kernel acknowledged
      but the peer never read (it died with them in its receive buffer).
    UDP: one socket, connected once, for the writer's life (one source port,
      so `nc -u -l`, which latches onto its first sender, keeps hearing us).
      A report is split at line boundaries into datagrams of at most
      max_datagram [8192] bytes; a single line longer than that is cut at the
      limit. No datagram holds parts of two reports. Why 8192, half of nc's
      16 KiB read buffer: bench/RESULTS.md, "UDP datagram size and nc".
      ICMP "port unreachable" (no listener) is counted as refused and is not
      an error: those datagrams are lost, as UDP loses them.
    State changes are logged once each on the log stream: connecting,
    connected, cannot connect (once per reason until it changes), lost and
    reconnecting, queue full, queue drained.
    Nothing but the bytes given goes on the wire: no NUL terminator, no
    framing (the legacy text delimits itself by its empty last line).
*/
#ifndef TW_STREAM_WRITER_H
#define TW_STREAM_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "endpoint.h"

#define STREAM_WRITER_MAX_REPORTS        1000
#define STREAM_WRITER_MAX_BYTES          (16u * 1024 * 1024)
#define STREAM_WRITER_MAX_DATAGRAM       8192   // half of nc's buffer: see above
#define STREAM_WRITER_DATAGRAM_LIMIT     65507  // largest UDP payload over IPv4
#define STREAM_WRITER_CONNECT_TIMEOUT_MS 5000
#define STREAM_WRITER_BACKOFF_MIN_MS     100
#define STREAM_WRITER_BACKOFF_MAX_MS     5000

typedef struct stream_writer stream_writer;

typedef struct {
    const tw_endpoint *endpoint;  // where to send; copied
    size_t max_reports;           // 0: STREAM_WRITER_MAX_REPORTS
    size_t max_bytes;             // 0: STREAM_WRITER_MAX_BYTES
    size_t max_datagram;          // UDP; 0: STREAM_WRITER_MAX_DATAGRAM
    int connect_timeout_ms;       // TCP; 0: STREAM_WRITER_CONNECT_TIMEOUT_MS
    int send_buffer;              // SO_SNDBUF in bytes; 0: the system's
    const char *program;          // prefix of log lines; NULL: "tcpwin-subscriber"
    FILE *log;                    // state changes; NULL: stderr
} stream_writer_options;

typedef struct {
    uint64_t received;      // reports offered to stream_writer_enqueue and accepted
    uint64_t forwarded;     // reports delivered whole (TCP: acknowledged on one connection)
    uint64_t dropped;       // reports dropped: queue full, too big, or unsendable
    uint64_t reconnects;    // connections made after the first one
    uint64_t bytes;         // bytes handed to the kernel, cut reports included
    uint64_t resent;        // reports unacknowledged at a lost connection, queued again whole
    uint64_t short_writes;  // writes that took less than offered (backpressure)
    uint64_t refused;       // UDP: port-unreachable signals, one per lost datagram
} stream_writer_counters;

//  Creates a writer; it connects at the first stream_writer_handle(). Returns
//  NULL when an option is out of range (max_datagram above 65507) or out of
//  memory, after printing why on the log stream.
stream_writer *stream_writer_new(const stream_writer_options *options);

//  Closes the socket, frees the queue (what is left in it is lost: ask
//  stream_writer_queue_empty first) and sets *self to NULL.
void stream_writer_destroy(stream_writer **self);

//  Copies one report into the queue, dropping the oldest waiting ones when it
//  is full. Returns 0; -EINVAL for an empty report or one holding a NUL byte
//  (neither is counted); -EMSGSIZE for a report larger than max_bytes, which
//  is counted as received and dropped; -ENOMEM when out of memory (counted
//  the same way).
int stream_writer_enqueue(stream_writer *self, const void *data, size_t len);

//  The descriptor to poll, or -1 while waiting for a retry timer.
int stream_writer_fd(const stream_writer *self);

//  The poll events wanted on stream_writer_fd (POLLIN, POLLOUT, as in poll.h).
short stream_writer_events(const stream_writer *self);

//  Milliseconds until the writer needs stream_writer_handle even with no
//  event (a retry or connect timeout, or acknowledgements to look for), 0
//  when due now, -1 when no timer runs.
int stream_writer_next_timeout_ms(const stream_writer *self, int64_t now_ms);

//  Advances the writer: connects, detects a closed peer, writes what the
//  socket takes, retries. revents is what poll reported for stream_writer_fd
//  (0 when only a timer expired; the socket is checked anyway). now_ms is a
//  monotonic clock in milliseconds. Returns 0: network errors are handled
//  here (logged, counted, retried), never returned.
int stream_writer_handle(stream_writer *self, short revents, int64_t now_ms);

//  True when every queued report has been forwarded (TCP: acknowledged) or
//  dropped.
bool stream_writer_queue_empty(const stream_writer *self);

//  Reports held: waiting, being written, or written and not yet acknowledged.
size_t stream_writer_queued(const stream_writer *self);

//  Reports written whole and not yet acknowledged by the peer (TCP; 0 for
//  UDP): the counters settle once this is 0.
size_t stream_writer_unacknowledged(const stream_writer *self);

//  True while a TCP connection is up (UDP: while the socket exists).
bool stream_writer_connected(const stream_writer *self);

//  Counters so far.
const stream_writer_counters *stream_writer_get_counters(const stream_writer *self);

//  Prints the counters on one line to out, prefixed by the program and the
//  endpoint.
void stream_writer_print_counters(const stream_writer *self, FILE *out);

#endif
