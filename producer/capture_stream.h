// SPDX-License-Identifier: MPL-2.0
/*  capture_stream: the bytes of a capture file, decompressed if need be.

    A stream reads a descriptor (a file, a FIFO, standard input) or a block of
    memory (tests, the fuzz target), and recognises gzip, zstd and lz4 (frame
    format) by their magic numbers in the first bytes; anything else is passed
    through as it is. Decompression is streamed with zlib, libzstd and liblz4
    through one input buffer, so a compressed file costs a fixed amount of
    memory whatever its size. Concatenated gzip members and zstd or lz4 frames
    are read one after the other, as gzip -dc and zstd -dc do; after the last
    gzip member, bytes that do not begin another end the stream, as gzip -d
    ends it.

    Pure of ZeroMQ and libpcap: capture_file reads through it, and the tests
    and the fuzz target link the two alone (tcpwin_capture_file).
*/
#ifndef TW_CAPTURE_STREAM_H
#define TW_CAPTURE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

//  The largest zstd window a frame may declare (2^23 = 8 MiB, what zstd -1
//  to -19 write; --ultra -20 to -22 and --long need more): the decoder
//  allocates the window the frame declares, so a 22 KB file declaring
//  128 MiB would take that much. A larger one is damage, and says how to
//  read the file anyway.
#define CAPTURE_STREAM_ZSTD_WINDOW_LOG 23

typedef enum {
    CAPTURE_COMPRESSION_NONE = 0,
    CAPTURE_COMPRESSION_GZIP,
    CAPTURE_COMPRESSION_ZSTD,
    CAPTURE_COMPRESSION_LZ4,
} capture_compression;

typedef struct capture_stream capture_stream;

//  A stream over descriptor fd (read from its current position; the stream
//  closes it when close_fd is set). Returns NULL when out of memory.
capture_stream *capture_stream_new_fd(int fd, int close_fd);

//  A stream over size bytes at data (borrowed: they must outlive the
//  stream). Returns NULL when out of memory.
capture_stream *capture_stream_new_memory(const void *data, size_t size);

//  Frees the stream (and closes its descriptor if it owns it); sets *self
//  to NULL.
void capture_stream_destroy(capture_stream **self);

//  Reads up to size decompressed bytes into buffer. Returns the number of
//  bytes (0 only at the end of the stream), or a negative errno: -EINTR when
//  a signal interrupted the read (call again), -EIO for a read error or
//  damaged compressed data, -EPIPE when the compressed data ends in the
//  middle of a frame; capture_stream_error says which. The first call
//  recognises the compression.
ssize_t capture_stream_read(capture_stream *self, void *buffer, size_t size);

//  The compression recognised (CAPTURE_COMPRESSION_NONE before the first
//  read).
capture_compression capture_stream_compression(const capture_stream *self);

//  The name of a compression: "gzip", "zstd", "lz4" or "uncompressed".
const char *capture_stream_compression_name(capture_compression compression);

//  Why the last read failed, or "" when it did not.
const char *capture_stream_error(const capture_stream *self);

//  What was read but ignored, or "": bytes after the last gzip member that
//  are not zeros (zeros are padding, ignored silently, as gzip -d does).
const char *capture_stream_warning(const capture_stream *self);

//  Bytes taken from the descriptor or memory so far (compressed bytes for a
//  compressed stream).
uint64_t capture_stream_raw_offset(const capture_stream *self);

#endif
