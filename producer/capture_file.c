// SPDX-License-Identifier: MPL-2.0
/*  capture_file: the records of a pcap or pcapng file, read in place.

    The buffer holds [pos, end) unread bytes; s_need(n) makes n of them
    available, moving the unread tail to the front (less than one record)
    and reading as much as fits after it, so most records cost no copy at
    all and the stream is read in CAPTURE_FILE_BUFFER_BYTES chunks. A
    parser looks at a record only after s_need said it is all there, and
    moves pos past it only when it hands it out, so a read interrupted by a
    signal (-EINTR) can simply be called again.

    Timestamps are turned into seconds and microseconds as libpcap does
    when asked for microseconds (the fraction scaled down, truncated; a
    pcapng interface's offset added to the seconds), so both readers hand
    out the same values (tests/test_capture_file.c compares them).
*/
#include "capture_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    PCAP_MAGIC_USEC = 0xa1b2c3d4,
    PCAP_MAGIC_NSEC = 0xa1b23c4d,
    PCAPNG_SHB = 0x0a0d0d0a,
    PCAPNG_BOM = 0x1a2b3c4d,
    PCAPNG_IDB = 1,
    PCAPNG_PB = 2,  // obsolete Packet Block
    PCAPNG_SPB = 3,
    PCAPNG_EPB = 6,
    PCAPNG_OPT_END = 0,
    PCAPNG_OPT_TSRESOL = 9,
    PCAPNG_OPT_TSOFFSET = 14,
    PCAP_FILE_HEADER = 24,
    PCAP_RECORD_HEADER = 16,
};

struct capture_file {
    capture_stream *stream;
    capture_format format;
    bool swapped;  // the current section's byte order is not ours
    uint8_t *buffer;
    size_t size;       // of buffer
    size_t pos;        // next unread byte
    size_t end;        // end of the bytes read
    uint64_t base;     // file offset of buffer[0]
    bool stream_end;   // the stream has no more bytes
    uint32_t snaplen;  // classic pcap: the file's
    uint64_t packets;
    capture_interface *interfaces;  // every section's, in file order
    size_t n_interfaces;
    size_t interfaces_size;
    size_t section_first;  // index of the current section's interface 0
    uint64_t skip_left;    // bytes of an unread block still to pass
    int damage;            // the error every call returns after damage
    char error[256];
};

static uint32_t s_swap32(uint32_t v)
{
    return __builtin_bswap32(v);
}

static uint32_t s_u32(const capture_file *self, const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return self->swapped ? s_swap32(v) : v;
}

static uint16_t s_u16(const capture_file *self, const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return self->swapped ? __builtin_bswap16(v) : v;
}

//  Records damage (or a read error) at the unread position; every later
//  call returns code.
static int s_damage(capture_file *self, int code, const char *why)
{
    snprintf(self->error, sizeof self->error, "at byte %llu: %s",
             (unsigned long long)(self->base + self->pos), why);
    self->damage = code;
    return code;
}

//  Makes the buffer hold at least n bytes: grows it (up to the block bound)
//  and moves the unread bytes to its front.
static int s_make_room(capture_file *self, size_t n)
{
    if (n > self->size) {
        size_t size = self->size;
        while (size < n)
            size *= 2;
        uint8_t *bigger = realloc(self->buffer, size);
        if (!bigger)
            return -ENOMEM;
        self->buffer = bigger;
        self->size = size;
    }
    if (self->pos > 0) {
        memmove(self->buffer, self->buffer + self->pos, self->end - self->pos);
        self->base += self->pos;
        self->end -= self->pos;
        self->pos = 0;
    }
    return 0;
}

//  Reads until n unread bytes wait. Returns 0, 1 when the stream ended
//  with no unread byte (a clean end between records), or a negative errno:
//  -EPIPE when it ended inside the n bytes, -EINTR, the stream's errors.
static int s_refill(capture_file *self, size_t n)
{
    int rc = s_make_room(self, n);
    if (rc < 0)
        return rc;
    while (self->end < n && !self->stream_end) {
        ssize_t got =
            capture_stream_read(self->stream, self->buffer + self->end, self->size - self->end);
        if (got < 0)
            return (int)got;
        if (got == 0)
            self->stream_end = true;
        self->end += (size_t)got;
    }
    if (self->end >= n)
        return 0;
    return self->end == 0 ? 1 : -EPIPE;
}

static inline int s_need(capture_file *self, size_t n)
{
    if (self->end - self->pos >= n)
        return 0;
    return s_refill(self, n);
}

//  Whether the stream itself failed on the last read (a compressed stream
//  cut in the middle of a frame says so, with -EPIPE like a short file).
static bool s_stream_failed(const capture_file *self)
{
    return capture_stream_error(self->stream)[0] != '\0';
}

//  A failed s_need as damage: the stream's reason, or a truncation.
static int s_need_failed(capture_file *self, int rc, const char *what)
{
    if (rc == -EINTR || rc == -ENOMEM)
        return rc;
    char why[200];
    if ((rc == -EPIPE && !s_stream_failed(self)) || rc == 1)
        snprintf(why, sizeof why, "the file ends in the middle of %s", what);
    else
        snprintf(why, sizeof why, "%s", capture_stream_error(self->stream));
    return s_damage(self, rc == 1 ? -EPIPE : rc, why);
}

//  Why s_need failed while opening (what was being read), in self->error.
//  Returns the code to give: a truncation is -EPIPE.
static int s_open_failed(capture_file *self, int rc, const char *what, const char **why)
{
    if (rc == 1 || rc == -EPIPE)
        snprintf(self->error, sizeof self->error, "truncated %s", what);
    else if (rc == -EINTR)
        snprintf(self->error, sizeof self->error, "interrupted by a signal");
    else if (rc == -ENOMEM)
        snprintf(self->error, sizeof self->error, "out of memory");
    else
        snprintf(self->error, sizeof self->error, "%s", capture_stream_error(self->stream));
    *why = self->error;
    return rc == 1 ? -EPIPE : rc;
}

static int s_add_interface(capture_file *self, uint32_t link_type, uint32_t snaplen)
{
    if (self->n_interfaces == CAPTURE_FILE_MAX_INTERFACES)
        return s_damage(self, -E2BIG, "more interfaces than the bound (65536)");
    if (self->n_interfaces == self->interfaces_size) {
        size_t size = self->interfaces_size ? 2 * self->interfaces_size : 4;
        capture_interface *more = realloc(self->interfaces, size * sizeof *more);
        if (!more)
            return -ENOMEM;
        self->interfaces = more;
        self->interfaces_size = size;
    }
    self->interfaces[self->n_interfaces++] = (capture_interface){
        .link_type = link_type,
        .snaplen = snaplen,
        .ts_units = 1000000,
    };
    return 0;
}

//  ---- timestamps -----------------------------------------------------------

//  seconds + offset, saturated.
static int64_t s_add_seconds(uint64_t seconds, int64_t offset)
{
    if (seconds > INT64_MAX)
        seconds = INT64_MAX;
    int64_t s = (int64_t)seconds;
    if (offset > 0 && s > INT64_MAX - offset)
        return INT64_MAX;
    return s + offset;
}

//  A pcapng timestamp (units since 1970 at the interface's resolution).
static void s_set_time(capture_record *record, const capture_interface *interface, uint64_t t)
{
    uint64_t units = interface->ts_units;
    uint64_t fraction;
    if (units == 1000000) {
        record->ts_sec = s_add_seconds(t / 1000000, interface->ts_offset_s);
        fraction = t % 1000000;
    } else {
        record->ts_sec = s_add_seconds(t / units, interface->ts_offset_s);
        fraction = (uint64_t)((unsigned __int128)(t % units) * 1000000 / units);
    }
    record->ts_usec = (uint32_t)fraction;
}

//  ---- classic pcap ---------------------------------------------------------

static int s_open_pcap(capture_file *self, uint32_t magic, const char **why)
{
    self->format = magic == PCAP_MAGIC_NSEC ? CAPTURE_FORMAT_PCAP_NSEC : CAPTURE_FORMAT_PCAP;
    int rc = s_need(self, PCAP_FILE_HEADER);
    if (rc != 0)
        return s_open_failed(self, rc, "pcap file header", why);
    const uint8_t *h = self->buffer + self->pos;
    if (s_u16(self, h + 4) != 2) {
        *why = "unsupported pcap version (not 2.x)";
        return -EINVAL;
    }
    self->snaplen = s_u32(self, h + 16);
    // The upper 16 bits hold FCS flags, as libpcap's LT_LINKTYPE reads them.
    rc = s_add_interface(self, s_u32(self, h + 20) & 0xFFFF, self->snaplen);
    if (rc < 0) {
        *why = "out of memory";
        return rc;
    }
    if (self->format == CAPTURE_FORMAT_PCAP_NSEC)
        self->interfaces[0].ts_units = 1000000000;
    self->pos += PCAP_FILE_HEADER;
    return 0;
}

static int s_next_pcap(capture_file *self, capture_record *record)
{
    int rc = s_need(self, PCAP_RECORD_HEADER);
    if (rc != 0)
        return rc == 1 ? 0 : s_need_failed(self, rc, "a record header");
    const uint8_t *h = self->buffer + self->pos;
    uint32_t caplen = s_u32(self, h + 8);
    if (caplen > CAPTURE_FILE_MAX_CAPLEN) {
        char why[120];
        snprintf(why, sizeof why, "a record of %u captured bytes, more than the bound (%u)", caplen,
                 CAPTURE_FILE_MAX_CAPLEN);
        return s_damage(self, -EINVAL, why);
    }
    if ((rc = s_need(self, PCAP_RECORD_HEADER + caplen)) != 0)
        return s_need_failed(self, rc, "a record");
    h = self->buffer + self->pos;
    uint32_t fraction = s_u32(self, h + 4);
    record->ts_sec = s_u32(self, h);
    record->ts_usec = self->format == CAPTURE_FORMAT_PCAP_NSEC ? fraction / 1000 : fraction;
    record->caplen = caplen;
    record->len = s_u32(self, h + 12);
    record->data = h + PCAP_RECORD_HEADER;
    record->interface = 0;
    record->link_type = self->interfaces[0].link_type;
    self->interfaces[0].packets++;
    self->pos += PCAP_RECORD_HEADER + caplen;
    return 1;
}

//  ---- pcapng ---------------------------------------------------------------

//  if_tsresol: 10^-n or, with the top bit, 2^-n seconds.
static int s_set_resolution(capture_file *self, capture_interface *interface, uint8_t value)
{
    unsigned exponent = value & 0x7F;
    bool binary = value & 0x80;
    if (binary ? exponent > 63 : exponent > 19)
        return s_damage(self, -EINVAL, "an interface's timestamp resolution is out of range");
    uint64_t units = 1;
    for (unsigned i = 0; i < exponent; i++)
        units *= binary ? 2 : 10;
    interface->ts_units = units;
    return 0;
}

//  Reads an interface's options (in [p, stop)) we use: resolution, offset.
static int s_interface_options(capture_file *self, capture_interface *interface, const uint8_t *p,
                               const uint8_t *stop)
{
    while (stop - p >= 4) {
        uint16_t code = s_u16(self, p);
        uint16_t length = s_u16(self, p + 2);
        p += 4;
        if (code == PCAPNG_OPT_END)
            break;
        size_t padded = ((size_t)length + 3) & ~(size_t)3;
        if ((size_t)(stop - p) < padded)
            return s_damage(self, -EINVAL, "an interface option runs past its block");
        if (code == PCAPNG_OPT_TSRESOL && length == 1 &&
            s_set_resolution(self, interface, p[0]) < 0)
            return self->damage;
        if (code == PCAPNG_OPT_TSOFFSET && length == 8) {
            uint64_t v;  // one 64-bit value in the section's byte order
            memcpy(&v, p, 8);
            interface->ts_offset_s = (int64_t)(self->swapped ? __builtin_bswap64(v) : v);
        }
        p += padded;
    }
    return 0;
}

static int s_interface_block(capture_file *self, const uint8_t *b, uint32_t length)
{
    if (length < 20)
        return s_damage(self, -EINVAL, "an interface block too short");
    int rc = s_add_interface(self, s_u16(self, b + 8), s_u32(self, b + 12));
    if (rc < 0)
        return rc;
    capture_interface *interface = &self->interfaces[self->n_interfaces - 1];
    return s_interface_options(self, interface, b + 16, b + length - 4);
}

//  A section header: its byte order, and its own interfaces from now on.
//  Needs the block's first 12 bytes waiting.
static int s_section_header(capture_file *self)
{
    const uint8_t *b = self->buffer + self->pos;
    uint32_t bom;
    memcpy(&bom, b + 8, 4);
    if (bom != PCAPNG_BOM && bom != s_swap32(PCAPNG_BOM))
        return s_damage(self, -EINVAL, "a section header with no byte-order magic");
    self->swapped = bom != PCAPNG_BOM;
    uint32_t length = s_u32(self, b + 4);
    if (length < 28 || length % 4 != 0 || length > CAPTURE_FILE_MAX_BLOCK)
        return s_damage(self, -EINVAL, "a section header of impossible length");
    int rc = s_need(self, length);
    if (rc != 0)
        return s_need_failed(self, rc, "a section header");
    b = self->buffer + self->pos;
    if (s_u16(self, b + 12) != 1)
        return s_damage(self, -EINVAL, "a section of an unsupported pcapng version (not 1.x)");
    if (s_u32(self, b + length - 4) != length)
        return s_damage(self, -EINVAL, "a block whose trailing length differs from its length");
    self->section_first = self->n_interfaces;
    self->pos += length;
    return 0;
}

//  The section's interface number id, or a damage code.
static int s_interface_of(capture_file *self, uint32_t id, capture_interface **interface)
{
    if (id >= self->n_interfaces - self->section_first)
        return s_damage(self, -EINVAL, "a packet of an interface not described before it");
    *interface = &self->interfaces[self->section_first + id];
    return 0;
}

//  Fills record with the caplen bytes at data, which the block has room
//  bytes for (checked here), as a packet of interface.
static int s_packet(capture_file *self, capture_record *record, capture_interface *interface,
                    const uint8_t *data, uint32_t caplen, uint32_t room)
{
    if (caplen > room)
        return s_damage(self, -EINVAL, "a packet longer than its block");
    if (caplen > CAPTURE_FILE_MAX_CAPLEN)
        return s_damage(self, -EINVAL, "a packet longer than the bound (262144 bytes)");
    record->data = data;
    record->caplen = caplen;
    record->interface = (uint32_t)(interface - self->interfaces);
    record->link_type = interface->link_type;
    interface->packets++;
    return 1;
}

static int s_enhanced_packet(capture_file *self, capture_record *record, const uint8_t *b,
                             uint32_t length, bool obsolete)
{
    if (length < 32)
        return s_damage(self, -EINVAL, "a packet block too short");
    capture_interface *interface;
    uint32_t id = obsolete ? s_u16(self, b + 8) : s_u32(self, b + 8);
    if (s_interface_of(self, id, &interface) < 0)
        return self->damage;
    uint64_t t = (uint64_t)s_u32(self, b + 12) << 32 | s_u32(self, b + 16);
    s_set_time(record, interface, t);
    record->len = s_u32(self, b + 24);
    return s_packet(self, record, interface, b + 28, s_u32(self, b + 20), length - 32);
}

//  A Simple Packet Block: interface 0, no timestamp, the data cut by the
//  snap length (libpcap's reading).
static int s_simple_packet(capture_file *self, capture_record *record, const uint8_t *b,
                           uint32_t length)
{
    if (length < 16)
        return s_damage(self, -EINVAL, "a simple packet block too short");
    capture_interface *interface;
    if (s_interface_of(self, 0, &interface) < 0)
        return self->damage;
    uint32_t len = s_u32(self, b + 8);
    uint32_t caplen = len;
    if (interface->snaplen != 0 && caplen > interface->snaplen)
        caplen = interface->snaplen;
    if (caplen > length - 16)
        caplen = length - 16;
    record->ts_sec = 0;
    record->ts_usec = 0;
    record->len = len;
    return s_packet(self, record, interface, b + 12, caplen, length - 16);
}

//  Moves past the rest of a block we do not read (skip_left bytes; kept in
//  self, so a read interrupted by a signal goes on where it stopped).
//  Streamed: an unknown block of any size costs no memory.
static int s_skip(capture_file *self)
{
    while (self->skip_left > 0) {
        size_t waiting = self->end - self->pos;
        if (waiting == 0) {
            int rc = s_need(self, 1);
            if (rc != 0)
                return s_need_failed(self, rc, "a block");
            continue;
        }
        size_t step = waiting < self->skip_left ? waiting : (size_t)self->skip_left;
        self->pos += step;
        self->skip_left -= step;
    }
    return 0;
}

//  The block at pos, whole: its type and length checked, its trailer too.
static int s_whole_block(capture_file *self, uint32_t length)
{
    if (length > CAPTURE_FILE_MAX_BLOCK)
        return s_damage(self, -EINVAL, "a block longer than the bound (16 MiB)");
    int rc = s_need(self, length);
    if (rc != 0)
        return s_need_failed(self, rc, "a block");
    if (s_u32(self, self->buffer + self->pos + length - 4) != length)
        return s_damage(self, -EINVAL, "a block whose trailing length differs from its length");
    return 0;
}

//  Reads blocks up to the next packet (1), the end (0) or damage (< 0).
//  With interfaces_only, stops before the first block that is not an
//  interface description (2), to learn the interfaces at open.
static int s_next_block(capture_file *self, capture_record *record, bool interfaces_only)
{
    for (;;) {
        int rc = s_skip(self);
        if (rc < 0)
            return rc;
        if ((rc = s_need(self, 12)) != 0)
            return rc == 1 ? 0 : s_need_failed(self, rc, "a block header");
        const uint8_t *b = self->buffer + self->pos;
        uint32_t type;
        memcpy(&type, b, 4);  // the section header's type reads the same both ways
        if (type == PCAPNG_SHB) {
            if ((rc = s_section_header(self)) < 0)
                return rc;
            continue;
        }
        type = s_u32(self, b);
        uint32_t length = s_u32(self, b + 4);
        if (length < 12 || length % 4 != 0)
            return s_damage(self, -EINVAL, "a block of impossible length");
        if (interfaces_only && type != PCAPNG_IDB)
            return 2;
        if (type != PCAPNG_IDB && type != PCAPNG_EPB && type != PCAPNG_SPB && type != PCAPNG_PB) {
            self->skip_left = length;
            continue;
        }
        if ((rc = s_whole_block(self, length)) < 0)
            return rc;
        b = self->buffer + self->pos;
        if (type == PCAPNG_IDB)
            rc = s_interface_block(self, b, length);
        else if (type == PCAPNG_SPB)
            rc = s_simple_packet(self, record, b, length);
        else
            rc = s_enhanced_packet(self, record, b, length, type == PCAPNG_PB);
        if (rc < 0)
            return rc;
        self->pos += length;
        if (rc == 1)
            return 1;
    }
}

static int s_open_pcapng(capture_file *self, const char **why)
{
    self->format = CAPTURE_FORMAT_PCAPNG;
    int rc = s_need(self, 12);
    if (rc != 0)
        return s_open_failed(self, rc, "pcapng section header", why);
    rc = s_section_header(self);
    if (rc >= 0)
        rc = s_next_block(self, NULL, true);
    if (rc >= 0)
        return 0;
    if (self->damage) {
        *why = self->error;
        return rc;
    }
    return s_open_failed(self, rc, "pcapng block", why);
}

//  ---- the reader -----------------------------------------------------------

static int s_open(capture_file *self, const char **why)
{
    int rc = s_need(self, 4);
    if (rc == 1) {
        *why = "empty file";
        return -EPIPE;
    }
    if (rc != 0)
        return s_open_failed(self, rc, "file header", why);
    uint32_t magic;
    memcpy(&magic, self->buffer, 4);
    if (magic == PCAPNG_SHB)
        return s_open_pcapng(self, why);
    if (magic == s_swap32(PCAP_MAGIC_USEC) || magic == s_swap32(PCAP_MAGIC_NSEC)) {
        self->swapped = true;
        magic = s_swap32(magic);
    }
    if (magic == PCAP_MAGIC_USEC || magic == PCAP_MAGIC_NSEC)
        return s_open_pcap(self, magic, why);
    *why = "unknown file format";
    return -EINVAL;
}

capture_file *capture_file_open(capture_stream *stream, int *error, char *why, size_t why_size)
{
    capture_file *self = calloc(1, sizeof *self);
    if (self)
        self->buffer = malloc(CAPTURE_FILE_BUFFER_BYTES);
    if (!self || !self->buffer) {
        free(self);
        capture_stream_destroy(&stream);
        *error = -ENOMEM;
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    self->stream = stream;
    self->size = CAPTURE_FILE_BUFFER_BYTES;
    self->format = CAPTURE_FORMAT_UNKNOWN;
    const char *reason = "";
    int rc = s_open(self, &reason);
    if (rc == -EPIPE && s_stream_failed(self)) {
        // Compressed data cut before a whole header came out of it: damage
        // like a cut further on (exit 3, a final report), not a refusal.
        if (!self->damage)
            s_damage(self, rc, capture_stream_error(self->stream));
        return self;
    }
    if (rc < 0) {
        *error = rc;
        snprintf(why, why_size, "%s", reason);
        capture_file_destroy(&self);
    }
    return self;
}

void capture_file_destroy(capture_file **self)
{
    if (!*self)
        return;
    capture_stream_destroy(&(*self)->stream);
    free((*self)->buffer);
    free((*self)->interfaces);
    free(*self);
    *self = NULL;
}

int capture_file_next(capture_file *self, capture_record *record)
{
    if (self->damage)
        return self->damage;
    int rc = self->format == CAPTURE_FORMAT_PCAPNG ? s_next_block(self, record, false)
                                                   : s_next_pcap(self, record);
    if (rc == 1)
        self->packets++;
    return rc;
}

const char *capture_file_error(const capture_file *self)
{
    return self->error;
}

uint64_t capture_file_packets(const capture_file *self)
{
    return self->packets;
}

const capture_interface *capture_file_interfaces(const capture_file *self, size_t *count)
{
    *count = self->n_interfaces;
    return self->interfaces;
}

capture_format capture_file_format(const capture_file *self)
{
    return self->format;
}

const char *capture_file_format_name(capture_format format)
{
    switch (format) {
    case CAPTURE_FORMAT_PCAP:
        return "pcap";
    case CAPTURE_FORMAT_PCAP_NSEC:
        return "pcap, nanosecond";
    case CAPTURE_FORMAT_UNKNOWN:
        return "format unknown";
    case CAPTURE_FORMAT_PCAPNG:
        break;
    }
    return "pcapng";
}

capture_compression capture_file_compression(const capture_file *self)
{
    return capture_stream_compression(self->stream);
}

const char *capture_file_warning(const capture_file *self)
{
    return capture_stream_warning(self->stream);
}
