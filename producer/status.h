// SPDX-License-Identifier: MPL-2.0
/*  status: what the producer says about itself on stderr, as tcpdump does.

    Three kinds of text, each formatted from plain values, so the capture
    gives the details of a file (format, compression, interfaces) without
    this module knowing where they come from:
    - the start line: "reading from file F, link-type EN10MB (Ethernet),
      snapshot length N" or "listening on IFACE, link-type ..., snapshot
      length N bytes";
    - the progress line of a file read on a terminal: percent of the file's
      bytes, packets per second and time left, rewritten in place with \r
      (packets and rate only when the size is unknown: standard input, a
      FIFO);
    - the summary, at the end and on SIGUSR1: one count per line.
    The formatting functions are pure (tests/test_status.c); the meter
    decides when a progress line is due and erases it before other output.
*/
#ifndef TW_STATUS_H
#define TW_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

//  How often the progress line is rewritten, at most.
#define STATUS_PROGRESS_INTERVAL_US 250000

typedef struct {
    bool live;
    const char *source;  // file path ("-": standard input) or interface
    bool from_stdin;     // a file read from standard input
    //  The capture's own description of a file, everything after "reading
    //  from file " (name, format, compression, link types, snapshot
    //  lengths: capture.h); when set, the fields below are not used.
    const char *description;
    int link_type;                 // DLT_* number
    const char *link_name;         // "EN10MB", or NULL when libpcap has none
    const char *link_description;  // "Ethernet", or NULL
    int snaplen;
    const char *details;  // more about the input ("pcapng, gzip"), or NULL
} status_start;

typedef struct {
    bool live;
    uint64_t packets;           // read from the file, or captured
    uint64_t tcp_packets;       // decoded down to a TCP header
    uint64_t flows;             // one-directional flows seen (ended and active)
    uint64_t hosts;             // rows of the host table, as of the last report
    uint64_t reports;           // reports published
    uint64_t flow_records;      // flow records published
    uint64_t kernel_drops;      // live: dropped by the kernel or the interface
    uint64_t messages_dropped;  // for subscribers that did not keep up
} status_counters;

typedef struct {
    uint64_t bytes_done;   // of the input file read so far
    uint64_t bytes_total;  // its size; 0 when unknown (standard input, FIFO)
    uint64_t packets;
    int64_t elapsed_us;  // since reading started
} status_progress;

//  Writes the start line (no newline) into buf. Returns the length it
//  needed, as snprintf does (the text is cut to fit size).
int status_format_start(char *buf, size_t size, const status_start *start);

//  Writes the summary, one newline-ended line per count, into buf. Returns
//  the length it needed, as snprintf does.
int status_format_summary(char *buf, size_t size, const status_counters *counters);

//  Writes one progress line (no \r, no newline) into buf. Returns the
//  length it needed, as snprintf does.
int status_format_progress(char *buf, size_t size, const status_progress *progress);

//  The progress line's state: where it goes and what is on screen now.
typedef struct {
    FILE *out;
    bool enabled;     // false: never writes (not a terminal, or -q)
    int64_t last_us;  // when the line was last written
    size_t shown;     // characters of the line on screen now, 0: none
} status_meter;

//  Starts a meter at now_us; enabled only when asked and out is a terminal.
//  The first line comes STATUS_PROGRESS_INTERVAL_US later: a short read
//  shows none.
void status_meter_init(status_meter *meter, FILE *out, bool wanted, int64_t now_us);

//  Rewrites the line in place when enabled and STATUS_PROGRESS_INTERVAL_US
//  passed since the last time (now_us: any monotonic clock).
void status_meter_update(status_meter *meter, const status_progress *progress, int64_t now_us);

//  Erases the line, if one is shown, so that other text starts on a clean
//  line.
void status_meter_clear(status_meter *meter);

#endif
