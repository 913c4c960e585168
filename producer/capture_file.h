// SPDX-License-Identifier: MPL-2.0
/*  capture_file: the records of a pcap or pcapng file, read in place.

    Classic pcap (either byte order, microsecond or nanosecond timestamps)
    and pcapng (sections of either byte order; every interface with its own
    link type, snap length, timestamp resolution and offset; Enhanced,
    Simple and obsolete Packet Blocks; other blocks skipped), through a
    capture_stream, so gzip, zstd and lz4 files are read the same way.

    Why not libpcap: its reader copies every record through stdio and costs
    more than the whole analysis behind it (bench/RESULTS.md), and it
    refuses pcapng files whose interfaces differ in link type or snap
    length. This one walks the records where read() put them, in one
    buffer of CAPTURE_FILE_BUFFER_BYTES (small enough to stay in L2): a
    record is handed out as a pointer into it, valid until the next call.
    A block larger than the buffer grows it, up to CAPTURE_FILE_MAX_BLOCK;
    a larger block, or a record longer than CAPTURE_FILE_MAX_CAPLEN, is
    refused as damage (libpcap's bounds, so both refuse the same files).

    Where tshark and libpcap differ, this reader does as tshark: a record
    longer than its file's or interface's snap length is handed out whole
    (libpcap cuts it to the snap length); a pcapng file may mix link types
    and snap lengths. Not read: the modified (Kuznetzov) pcap format, lz4's
    legacy frame format, a zstd file starting with a skippable frame.

    Every byte is hostile: lengths are checked against the block that holds
    them, and damage stops the walk with a reason, the offset of the
    damaged record in the (decompressed) file and the packets read before
    it. Pure of ZeroMQ and libpcap (tests and the fuzz target link it alone).
*/
#ifndef TW_CAPTURE_FILE_H
#define TW_CAPTURE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture_stream.h"

#define CAPTURE_FILE_BUFFER_BYTES (256 * 1024)
//  libpcap's MAXIMUM_SNAPLEN: no capture of a real link needs more.
#define CAPTURE_FILE_MAX_CAPLEN 262144
//  libpcap's bound on a pcapng block it reads whole.
#define CAPTURE_FILE_MAX_BLOCK (16 * 1024 * 1024)
//  Interfaces of a whole file (all sections); past it the file is refused
//  as damaged, so a hostile file cannot make us allocate without end.
#define CAPTURE_FILE_MAX_INTERFACES 65536

typedef enum {
    CAPTURE_FORMAT_PCAP = 0,  // classic, microseconds
    CAPTURE_FORMAT_PCAP_NSEC,
    CAPTURE_FORMAT_PCAPNG,
    CAPTURE_FORMAT_UNKNOWN,  // compressed data cut before the header came out
} capture_format;

//  One interface of the file (a classic pcap file has one).
typedef struct {
    uint32_t link_type;  // LINKTYPE_ value of the file
    uint32_t snaplen;    // as the file says (0: none given)
    uint64_t packets;    // records handed out so far
    uint64_t ts_units;   // timestamp units per second
    int64_t ts_offset_s;
} capture_interface;

//  One record, borrowed: data points into the reader's buffer, valid until
//  the next call of capture_file_next or capture_file_destroy.
typedef struct {
    const uint8_t *data;
    uint32_t caplen;  // bytes at data
    uint32_t len;     // length on the wire
    int64_t ts_sec;   // capture time, as libpcap gives it with microseconds
    uint32_t ts_usec;
    uint32_t interface;  // index into capture_file_interfaces, whole file
    uint32_t link_type;
} capture_record;

typedef struct capture_file capture_file;

//  A reader over stream, which it takes over (destroyed with it, or at
//  once on failure). Reads the file header and, in a pcapng file, the
//  interfaces described before the first packet. Returns NULL with *error
//  set to a negative errno and *why to a static reason ("unknown file
//  format", "truncated pcap file header", ...) or the stream's error. A
//  compressed stream cut mid-frame before the headers came out opens:
//  the first capture_file_next returns the damage (-EPIPE, 0 packets).
capture_file *capture_file_open(capture_stream *stream, int *error, char *why, size_t why_size);

//  Frees the reader and its stream; sets *self to NULL.
void capture_file_destroy(capture_file **self);

//  The next record. Returns 1 and fills *record, 0 at the clean end of the
//  file, -EINTR when a signal interrupted a read (call again: nothing is
//  lost), or another negative errno at damage: capture_file_error says
//  what and where; every later call returns the same.
int capture_file_next(capture_file *self, capture_record *record);

//  The reason of the last failure, with the offset of the damaged record
//  ("at byte N of the decompressed file: ..."), or "".
const char *capture_file_error(const capture_file *self);

//  Records handed out so far.
uint64_t capture_file_packets(const capture_file *self);

//  The interfaces seen so far (in a pcapng file, more may come with later
//  blocks) and their count.
const capture_interface *capture_file_interfaces(const capture_file *self, size_t *count);

capture_format capture_file_format(const capture_file *self);

//  "pcap", "pcap (nanosecond)" or "pcapng".
const char *capture_file_format_name(capture_format format);

capture_compression capture_file_compression(const capture_file *self);

//  What the stream read but ignored (capture_stream_warning), or "".
const char *capture_file_warning(const capture_file *self);

#endif
