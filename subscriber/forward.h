// SPDX-License-Identifier: MPL-2.0
/*  forward: the `forward` mode of tcpwin-subscriber, the nc bridge.

        tcpwin-subscriber forward --to tcp://127.0.0.1:5555
        nc -lk 127.0.0.1 5555        # sees what tcpWinSink used to send

    Each new report with a non-empty host table is rendered as the legacy
    tcpWinSink text and handed to a stream_writer (bounded queue of whole
    reports, reconnection with backoff, UDP datagrams split at line ends).
    Empty reports and flow records are counted and not forwarded, as the
    original sent only non-empty tables. One zmq_poll loop serves the SUB
    socket and the sink's socket, so a slow or absent sink never stops us
    from reading ZeroMQ: the queue absorbs it, then drops the oldest whole
    reports, counted. SIGUSR1 prints the counters; SIGINT or SIGTERM stop
    taking reports, flush the queue for up to --grace-ms (a second one ends
    the flush at once), print the counters and return 0.
*/
#ifndef TW_FORWARD_H
#define TW_FORWARD_H

#include "endpoint.h"
#include "receiver.h"

#define FORWARD_DEFAULT_TO       TW_DEFAULT_SINK
#define FORWARD_DEFAULT_GRACE_MS 2000

//  Runs the mode. argv[0] is the mode word ("forward"), its options follow,
//  as main passes them. Returns the exit status: 0 when stopped by a signal
//  (or after --help), 1 on a runtime failure, 2 on bad usage.
int forward_main(receiver *rx, int argc, char **argv);

#endif
