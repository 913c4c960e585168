// SPDX-License-Identifier: MPL-2.0
/*  capture: the input, from a file, standard input or an interface.

    Files and standard input ("-") are read by capture_file (pcap and
    pcapng of any kind, gzip, zstd or lz4 compressed), with microsecond
    timestamps; each packet comes with its interface's link type, and a
    -f filter is compiled once per link type with libpcap (pcap_open_dead)
    and run with pcap_offline_filter; a link type it cannot apply to ends
    the run (exit 1), wherever its first interface is in the file. A live interface is libpcap's,
   opened non-blocking with a small snap length that still holds the deepest headers we decode, so
   the producer can poll it together with its ZeroMQ socket and its report timer.
*/
#ifndef TW_CAPTURE_H
#define TW_CAPTURE_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>

#include "capture_file.h"

#define CAPTURE_DEFAULT_SNAPLEN    256
#define CAPTURE_DEFAULT_TIMEOUT_MS 100

typedef struct {
    const char *file;  // capture file or "-", or NULL
    bool file_open;    // file is open already, as file_fd (see main.c)
    int file_fd;
    const char *interface;  // live interface, or NULL
    const char *filter;     // BPF filter, or NULL
    int snaplen;            // live only; 0 for the default
    int buffer_bytes;       // live only (-B); 0 for libpcap's default
    bool immediate;         // live only: deliver each packet at once
} capture_options;

typedef struct capture capture;

//  Opens the input. Returns NULL after printing one line naming the input
//  and the reason (missing file, not a capture, no such interface, no
//  permission, bad filter, unsupported link type).
capture *capture_open(const capture_options *options);

//  Closes the input; sets *self to NULL.
void capture_close(capture **self);

//  The libpcap handle of a live capture, for pcap_dispatch (NULL for a file).
pcap_t *capture_handle(capture *self);

//  The link type (DLT_*) the analyzer is made for: the interface's, or
//  the first interface's of a file (Ethernet when the decoder does not
//  know it: every packet of a file comes with its own, capture_next).
int capture_datalink(capture *self);

//  File input: the next packet that passes the filter. Returns 1, 0 at the
//  end of the file, -EINTR when a signal interrupted a read (call again
//  unless it was a stop), -ENOMEM, -ENOTSUP when an interface has a link
//  type the filter cannot apply to (said on stderr, as capture_open says it
//  of the interfaces before the first packet), or another negative errno at damage
//  (capture_error says where and why). A link type the decoder does not
//  know is named once on stderr, and its packets are still handed out
//  (the analyzer counts them).
int capture_next(capture *self, capture_record *record);

//  capture_next, except that it gives up with -EAGAIN once max_filtered_out
//  (> 0) records in a row were filtered out (call again to go on): a sparse -f
//  filter can skip a whole file, and the reader thread must still look at
//  its stop now and then (read_ahead).
int capture_next_limited(capture *self, capture_record *record, uint64_t max_filtered_out);

//  Why capture_next failed.
const char *capture_error(const capture *self);

//  File input: what the start line says after "reading from": the name,
//  format, compression, link types and snap lengths of the interfaces
//  known so far ("'x.pcapng' (pcapng, zstd), link-types EN10MB (Ethernet),
//  LINUX_SLL (Linux cooked v1), snapshot length 262144").
const char *capture_description(capture *self);

//  File input: records read from the file so far (filtered out or not).
uint64_t capture_packets_read(const capture *self);

//  File input: the interfaces seen so far, with their packet counts.
const capture_interface *capture_interfaces(const capture *self, size_t *count);

//  File input: logs the packets of each interface, when there are several
//  and not quiet (-q), and, always, of each link type the decoder does not
//  know (a warning).
void capture_log_interfaces(const capture *self, bool quiet);

//  True for a live interface.
bool capture_is_live(const capture *self);

//  True for a file that is a regular file, not empty: its reads never wait
//  for a writer (read_ahead reads only those).
bool capture_is_regular_file(const capture *self);

//  A descriptor that poll() reports readable when packets wait (live).
int capture_fd(capture *self);

//  Packets the kernel or interface dropped so far (live; 0 for files).
uint64_t capture_drops(capture *self);

//  File input: the description as the file opened (capture_description
//  then), for the start line.
const char *capture_opening_description(const capture *self);

//  Live input: the snapshot length, the most bytes kept of each packet.
int capture_snaplen(capture *self);

//  File input: the file's bytes read so far (compressed ones for a
//  compressed file) and its size; both 0 when the size is unknown
//  (standard input, a FIFO, live capture).
void capture_progress(capture *self, uint64_t *bytes_done, uint64_t *bytes_total);

//  A printable name of the input ("'x.pcap'", "standard input", "interface 'eth0'").
const char *capture_name(const capture *self);

#endif
