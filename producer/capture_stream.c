// SPDX-License-Identifier: MPL-2.0
/*  capture_stream: the bytes of a capture file, decompressed if need be.

    The first read fills the input buffer with at least the four bytes a
    magic number needs (or the whole stream, if shorter) and picks the
    decoder. Uncompressed data is read straight into the caller's buffer
    once those first bytes are handed over, so the reader's buffer is the
    only copy. Compressed data is read into the 64 KiB input buffer and
    decoded into the caller's buffer: a step of the decoder at a time, until
    it produced something, so a FIFO's reader sees data as it arrives. The
    decoder is asked first and the source read only when it has nothing to
    give: zstd and lz4 take in a whole block as soon as it arrived and hold
    its output, and the writer's next block may be long in coming (a writer
    that compresses as it captures). At a frame's end they keep its last
    bytes until the output is out, so only a frame's middle was affected.

    Memory: zstd's window is what the frame declares, so the stream caps it
    (CAPTURE_STREAM_ZSTD_WINDOW_LOG); lz4's frame format caps a block at
    4 MiB (the decoder holds an input and an output block, about 8.2 MiB at
    most); zlib's window is 32 KiB by the format.

    A descriptor opened with O_NONBLOCK (standard input may be one, shared
    with whoever started us) is waited on with poll, not changed.
*/
#include "capture_stream.h"

#include <errno.h>
#include <lz4frame.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

//  Compressed input is read this much at a time: zstd's own recommendation
//  (ZSTD_DStreamInSize) is 128 KiB, but 64 KiB keeps input and output
//  buffers together within L2 and costs nothing measurable.
#define INPUT_BYTES (64 * 1024)

struct capture_stream {
    int fd;  // -1 for memory
    int close_fd;
    const uint8_t *memory;  // the whole input, for a memory stream
    size_t memory_size;
    size_t memory_pos;
    bool started;  // the compression is known
    capture_compression compression;
    uint8_t *input;  // compressed input, or the first bytes of plain data
    size_t input_pos;
    size_t input_end;
    bool input_eof;   // the descriptor or memory has no more bytes
    bool mid_frame;   // the decoder holds part of a member or frame
    bool member_end;  // gzip: a member ended; what follows must be another
    bool finished;    // gzip: what followed the last member is not one
    z_stream zlib;    // gzip
    bool zlib_ready;  // inflateInit2 succeeded
    ZSTD_DCtx *zstd;
    LZ4F_dctx *lz4;
    uint64_t raw_offset;  // bytes taken from the source
    char error[160];
    char warning[160];
};

capture_stream *capture_stream_new_fd(int fd, int close_fd)
{
    capture_stream *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->fd = fd;
    self->close_fd = close_fd;
    self->input = malloc(INPUT_BYTES);
    if (!self->input) {
        self->close_fd = 0;  // the caller still owns it: we failed
        capture_stream_destroy(&self);
    }
    return self;
}

capture_stream *capture_stream_new_memory(const void *data, size_t size)
{
    capture_stream *self = capture_stream_new_fd(-1, 0);
    if (self) {
        self->memory = data;
        self->memory_size = size;
    }
    return self;
}

void capture_stream_destroy(capture_stream **self)
{
    if (!*self)
        return;
    capture_stream *s = *self;
    if (s->zlib_ready)
        (void)inflateEnd(&s->zlib);
    ZSTD_freeDCtx(s->zstd);
    if (s->lz4)
        (void)LZ4F_freeDecompressionContext(s->lz4);
    if (s->close_fd && s->fd >= 0)
        (void)close(s->fd);
    free(s->input);
    free(s);
    *self = NULL;
}

static ssize_t s_fail(capture_stream *self, ssize_t code, const char *why)
{
    snprintf(self->error, sizeof self->error, "%s", why);
    return code;
}

//  Reads from the source into buffer. Returns the bytes read, 0 at its
//  end, or -EINTR / -EIO.
static ssize_t s_raw_read(capture_stream *self, uint8_t *buffer, size_t size)
{
    ssize_t n;
    if (self->fd < 0) {
        size_t left = self->memory_size - self->memory_pos;
        n = (ssize_t)(left < size ? left : size);
        if (n > 0)
            memcpy(buffer, self->memory + self->memory_pos, (size_t)n);
        self->memory_pos += (size_t)n;
    } else {
        while ((n = read(self->fd, buffer, size)) < 0 &&
               (errno == EAGAIN || errno == EWOULDBLOCK)) {
            // A non-blocking descriptor with nothing yet: wait for it (a
            // signal interrupts the wait, as it would a blocking read).
            struct pollfd wait = {.fd = self->fd, .events = POLLIN};
            if (poll(&wait, 1, -1) < 0)
                break;
        }
        if (n < 0 && errno == EINTR)
            return -EINTR;
        if (n < 0)
            return s_fail(self, -EIO, strerror(errno));
    }
    if (n == 0)
        self->input_eof = true;
    self->raw_offset += (uint64_t)n;
    return n;
}

//  Refills the input buffer once it is empty. Returns the bytes now
//  waiting, 0 at the end of the source, or a negative errno.
static ssize_t s_fill(capture_stream *self)
{
    if (self->input_pos < self->input_end)
        return (ssize_t)(self->input_end - self->input_pos);
    self->input_pos = self->input_end = 0;
    if (self->input_eof)
        return 0;
    ssize_t n = s_raw_read(self, self->input, INPUT_BYTES);
    if (n > 0)
        self->input_end = (size_t)n;
    return n;
}

static capture_compression s_recognise(const uint8_t *b, size_t n)
{
    static const uint8_t gzip[] = {0x1f, 0x8b};
    static const uint8_t zstd[] = {0x28, 0xb5, 0x2f, 0xfd};
    static const uint8_t lz4[] = {0x04, 0x22, 0x4d, 0x18};
    if (n >= sizeof gzip && memcmp(b, gzip, sizeof gzip) == 0)
        return CAPTURE_COMPRESSION_GZIP;
    if (n >= sizeof zstd && memcmp(b, zstd, sizeof zstd) == 0)
        return CAPTURE_COMPRESSION_ZSTD;
    if (n >= sizeof lz4 && memcmp(b, lz4, sizeof lz4) == 0)
        return CAPTURE_COMPRESSION_LZ4;
    return CAPTURE_COMPRESSION_NONE;
}

//  Reads the first bytes and sets up the decoder they call for.
static ssize_t s_start(capture_stream *self)
{
    while (self->input_end < 4 && !self->input_eof) {
        ssize_t n = s_raw_read(self, self->input + self->input_end, 4 - self->input_end);
        if (n < 0)
            return n;
        self->input_end += (size_t)n;
    }
    self->compression = s_recognise(self->input, self->input_end);
    bool ok = true;
    if (self->compression == CAPTURE_COMPRESSION_GZIP) {
        // 15 + 32: the largest window, gzip or zlib header recognised.
        ok = self->zlib_ready = inflateInit2(&self->zlib, 15 + 32) == Z_OK;
    } else if (self->compression == CAPTURE_COMPRESSION_ZSTD) {
        ok = (self->zstd = ZSTD_createDCtx()) != NULL &&
             !ZSTD_isError(ZSTD_DCtx_setParameter(self->zstd, ZSTD_d_windowLogMax,
                                                  CAPTURE_STREAM_ZSTD_WINDOW_LOG));
    } else if (self->compression == CAPTURE_COMPRESSION_LZ4) {
        ok = !LZ4F_isError(LZ4F_createDecompressionContext(&self->lz4, LZ4F_VERSION));
    }
    if (!ok)
        return s_fail(self, -ENOMEM, "out of memory for the decompressor");
    self->started = true;
    return 0;
}

//  One step of gzip over the waiting input. Returns 0 or a negative errno;
//  *produced is the bytes written to out.
//  After a gzip member: true when the waiting bytes cannot begin another
//  one. They end the stream, as gzip -d ends it: zeros (padding, written by
//  tape and block devices) silently, anything else with a warning.
static bool s_gzip_trailer(capture_stream *self)
{
    const uint8_t *b = self->input + self->input_pos;
    size_t n = self->input_end - self->input_pos;
    if (n == 0 || (b[0] == 0x1f && (n == 1 || b[1] == 0x8b)))
        return false;
    size_t zeros = 0;
    while (zeros < n && b[zeros] == 0)
        zeros++;
    if (zeros < n)
        snprintf(self->warning, sizeof self->warning,
                 "gzip: what follows the last member (byte %llu) is not gzip: ignored, as gzip "
                 "-d does",
                 (unsigned long long)(self->raw_offset - n));
    self->input_pos = self->input_end;
    self->finished = true;
    return true;
}

static ssize_t s_step_gzip(capture_stream *self, uint8_t *out, size_t size, size_t *produced)
{
    z_stream *z = &self->zlib;
    if (self->member_end && s_gzip_trailer(self))
        return 0;
    z->next_in = self->input + self->input_pos;
    uInt avail_in = (uInt)(self->input_end - self->input_pos);
    z->avail_in = avail_in;
    z->next_out = out;
    z->avail_out = size > UINT32_MAX ? UINT32_MAX : (uInt)size;
    int rc = inflate(z, Z_NO_FLUSH);
    self->input_pos = self->input_end - z->avail_in;
    *produced = (size_t)(z->next_out - out);
    if (z->avail_in < avail_in)
        self->member_end = false;
    if (rc == Z_STREAM_END) {
        self->mid_frame = false;  // another member may follow
        self->member_end = true;
        return inflateReset(z) == Z_OK ? 0 : s_fail(self, -EIO, "gzip: cannot reset");
    }
    if (rc == Z_OK || rc == Z_BUF_ERROR) {
        self->mid_frame |= *produced > 0 || z->avail_in < avail_in;
        return 0;
    }
    char why[150];
    snprintf(why, sizeof why, "gzip: %s", z->msg ? z->msg : "damaged data");
    return s_fail(self, -EIO, why);
}

static ssize_t s_step_zstd(capture_stream *self, uint8_t *out, size_t size, size_t *produced)
{
    ZSTD_inBuffer in = {self->input, self->input_end, self->input_pos};
    ZSTD_outBuffer o = {out, size, 0};
    size_t rc = ZSTD_decompressStream(self->zstd, &o, &in);
    bool moved = in.pos > self->input_pos || o.pos > 0;
    self->input_pos = in.pos;
    *produced = o.pos;
    if (ZSTD_isError(rc)) {
        char why[150];
        if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge)
            snprintf(why, sizeof why,
                     "zstd: a frame's window is over %u MiB, the bound (levels 1-19 need no more): "
                     "read it with zstd -dc --long=31 FILE | tcpwin-producer -r -",
                     (1u << CAPTURE_STREAM_ZSTD_WINDOW_LOG) >> 20);
        else
            snprintf(why, sizeof why, "zstd: %s", ZSTD_getErrorName(rc));
        return s_fail(self, -EIO, why);
    }
    // 0: a frame ended and is flushed. A step that moved nothing says
    // nothing (its hint is the next frame's header size).
    if (moved)
        self->mid_frame = rc != 0;
    return 0;
}

static ssize_t s_step_lz4(capture_stream *self, uint8_t *out, size_t size, size_t *produced)
{
    size_t out_size = size;
    size_t in_size = self->input_end - self->input_pos;
    size_t rc =
        LZ4F_decompress(self->lz4, out, &out_size, self->input + self->input_pos, &in_size, NULL);
    self->input_pos += in_size;
    *produced = out_size;
    if (LZ4F_isError(rc)) {
        char why[150];
        snprintf(why, sizeof why, "lz4: %s", LZ4F_getErrorName(rc));
        return s_fail(self, -EIO, why);
    }
    if (in_size > 0 || out_size > 0)
        self->mid_frame = rc != 0;  // 0: a frame ended
    return 0;
}

static ssize_t s_step(capture_stream *self, uint8_t *out, size_t size, size_t *produced)
{
    switch (self->compression) {
    case CAPTURE_COMPRESSION_GZIP:
        return s_step_gzip(self, out, size, produced);
    case CAPTURE_COMPRESSION_ZSTD:
        return s_step_zstd(self, out, size, produced);
    case CAPTURE_COMPRESSION_LZ4:
        return s_step_lz4(self, out, size, produced);
    case CAPTURE_COMPRESSION_NONE:
        break;
    }
    return s_fail(self, -EIO, "no decoder");
}

//  Decodes until something comes out or the input ends. The decoder is
//  asked before the source is read: it may hold output for no more input.
static ssize_t s_read_compressed(capture_stream *self, uint8_t *out, size_t size)
{
    for (;;) {
        size_t produced = 0;
        ssize_t rc = s_step(self, out, size, &produced);
        if (rc < 0)
            return rc;
        if (produced > 0)
            return (ssize_t)produced;
        if (self->finished)
            return 0;
        if (self->input_pos < self->input_end)
            continue;  // it took input and gave nothing yet
        ssize_t waiting = s_fill(self);
        if (waiting < 0)
            return waiting;
        if (waiting == 0) {  // the source ended and the decoder has nothing left
            if (self->mid_frame)
                return s_fail(self, -EPIPE, "the compressed data ends in the middle of a frame");
            return 0;
        }
    }
}

ssize_t capture_stream_read(capture_stream *self, void *buffer, size_t size)
{
    self->error[0] = '\0';
    if (!self->started) {
        ssize_t rc = s_start(self);
        if (rc < 0)
            return rc;
    }
    if (size == 0)
        return 0;
    if (self->compression != CAPTURE_COMPRESSION_NONE)
        return s_read_compressed(self, buffer, size);
    if (self->input_pos < self->input_end) {  // the first bytes, read to recognise them
        size_t n = self->input_end - self->input_pos;
        n = n < size ? n : size;
        memcpy(buffer, self->input + self->input_pos, n);
        self->input_pos += n;
        return (ssize_t)n;
    }
    if (self->input_eof)
        return 0;
    return s_raw_read(self, buffer, size);
}

capture_compression capture_stream_compression(const capture_stream *self)
{
    return self->compression;
}

const char *capture_stream_compression_name(capture_compression compression)
{
    switch (compression) {
    case CAPTURE_COMPRESSION_GZIP:
        return "gzip";
    case CAPTURE_COMPRESSION_ZSTD:
        return "zstd";
    case CAPTURE_COMPRESSION_LZ4:
        return "lz4";
    case CAPTURE_COMPRESSION_NONE:
        break;
    }
    return "uncompressed";
}

const char *capture_stream_error(const capture_stream *self)
{
    return self->error;
}

const char *capture_stream_warning(const capture_stream *self)
{
    return self->warning;
}

uint64_t capture_stream_raw_offset(const capture_stream *self)
{
    return self->raw_offset;
}
