// SPDX-License-Identifier: MPL-2.0
/*  test_capture_file: the capture-file reader against libpcap, and against
    pcapng files crafted here for what libpcap cannot read.

    Differential: every capture in tests/data is read by libpcap (with
    microsecond timestamps) and by capture_file, plain and compressed in
    memory with gzip, zstd and lz4 (the libraries' own compressors): both
    must hand out the same records (time, lengths, bytes) and stop at the
    same record when libpcap finds damage. Files libpcap refuses to open are
    refused by the reader too, except pcapng variants it cannot read.

    Crafted: two sections of opposite byte order, interfaces of different
    link types, snap lengths and timestamp resolutions (nanoseconds, 2^-10 s,
    an offset), Enhanced, Simple and obsolete Packet Blocks, an unknown
    block, truncation and lies about lengths.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lz4frame.h>
#include <pcap/pcap.h>
#include <zlib.h>
#include <zstd.h>

#include "capture_file.h"

//  ---- helpers ----------------------------------------------------------------

typedef struct {
    uint8_t *data;
    size_t size;
} blob;

static blob s_read_whole(const char *path)
{
    blob b = {0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    b.size = (size_t)size;
    b.data = malloc(b.size + 1);
    assert_non_null(b.data);
    assert_int_equal(fread(b.data, 1, b.size, f), b.size);
    fclose(f);
    return b;
}

static blob s_gzip(blob in)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    blob out = {.size = deflateBound(&z, in.size) + 64};
    out.data = malloc(out.size);
    z.next_in = in.data;
    z.avail_in = (uInt)in.size;
    z.next_out = out.data;
    z.avail_out = (uInt)out.size;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.size = z.total_out;
    deflateEnd(&z);
    return out;
}

static blob s_zstd(blob in)
{
    blob out = {.size = ZSTD_compressBound(in.size)};
    out.data = malloc(out.size);
    out.size = ZSTD_compress(out.data, out.size, in.data, in.size, 3);
    assert_false(ZSTD_isError(out.size));
    return out;
}

static blob s_lz4(blob in)
{
    // Small blocks, so a record spans several of them.
    LZ4F_preferences_t prefs = {.frameInfo = {.blockSizeID = LZ4F_max64KB}};
    blob out = {.size = LZ4F_compressFrameBound(in.size, &prefs)};
    out.data = malloc(out.size);
    out.size = LZ4F_compressFrame(out.data, out.size, in.data, in.size, &prefs);
    assert_false(LZ4F_isError(out.size));
    return out;
}

static capture_file *s_open_blob(blob b, int *error, char *why, size_t why_size)
{
    capture_stream *stream = capture_stream_new_memory(b.data, b.size);
    assert_non_null(stream);
    return capture_file_open(stream, error, why, why_size);
}

//  ---- differential -----------------------------------------------------------

//  libpcap's records of path against the reader's over bytes; returns the
//  records compared.
static uint64_t s_compare(const char *path, blob bytes, const char *label)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *pcap =
        pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    int error = 0;
    char why[256] = "";
    capture_file *reader = s_open_blob(bytes, &error, why, sizeof why);
    if (!pcap) {
        // libpcap refuses it: the reader refuses it too, unless it is a pcapng
        // libpcap cannot read (mixed interfaces).
        if (reader && capture_file_format(reader) != CAPTURE_FORMAT_PCAPNG)
            fail_msg("%s (%s): libpcap refuses it (%s), the reader reads it", path, label, errbuf);
        capture_file_destroy(&reader);
        return 0;
    }
    if (!reader)
        fail_msg("%s (%s): libpcap reads it, the reader does not: %s", path, label, why);
    uint64_t n = 0;
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *data;
        int want = pcap_next_ex(pcap, &h, &data);
        capture_record r;
        int got = capture_file_next(reader, &r);
        if (want == PCAP_ERROR_BREAK) {
            if (got != 0)
                fail_msg("%s (%s): libpcap ended after %llu records, the reader gives %d (%s)",
                         path, label, (unsigned long long)n, got, capture_file_error(reader));
            break;
        }
        if (want == PCAP_ERROR) {
            if (got >= 0)
                fail_msg("%s (%s): libpcap found damage after %llu records (%s), the reader %d",
                         path, label, (unsigned long long)n, pcap_geterr(pcap), got);
            assert_true(strlen(capture_file_error(reader)) > 0);
            break;
        }
        if (got != 1)
            fail_msg("%s (%s): record %llu: the reader gives %d (%s)", path, label,
                     (unsigned long long)n, got, capture_file_error(reader));
        if (r.ts_sec != h->ts.tv_sec || r.ts_usec != (uint32_t)h->ts.tv_usec ||
            r.caplen != h->caplen || r.len != h->len || memcmp(r.data, data, h->caplen) != 0)
            fail_msg("%s (%s): record %llu differs: %lld.%06u %u/%u vs %lld.%06ld %u/%u", path,
                     label, (unsigned long long)n, (long long)r.ts_sec, r.ts_usec, r.caplen, r.len,
                     (long long)h->ts.tv_sec, (long)h->ts.tv_usec, h->caplen, h->len);
        n++;
    }
    assert_int_equal(capture_file_packets(reader), n);
    capture_file_destroy(&reader);
    pcap_close(pcap);
    return n;
}

static bool s_is_capture(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".pcap") == 0) ||
           (n > 7 && strcmp(name + n - 7, ".pcapng") == 0);
}

static void test_every_capture_as_libpcap_reads_it(void **state)
{
    (void)state;
    DIR *dir = opendir(TEST_DATA_DIR);
    assert_non_null(dir);
    int files = 0;
    uint64_t records = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (!s_is_capture(entry->d_name))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", TEST_DATA_DIR, entry->d_name);
        blob plain = s_read_whole(path);
        blob packed[3] = {s_gzip(plain), s_zstd(plain), s_lz4(plain)};
        uint64_t n = s_compare(path, plain, "plain");
        assert_int_equal(s_compare(path, packed[0], "gzip"), n);
        assert_int_equal(s_compare(path, packed[1], "zstd"), n);
        assert_int_equal(s_compare(path, packed[2], "lz4"), n);
        for (int i = 0; i < 3; i++)
            free(packed[i].data);
        free(plain.data);
        records += n;
        files++;
    }
    closedir(dir);
    print_message("%d captures, %llu records each way\n", files, (unsigned long long)records);
    assert_true(files >= 10);
    assert_true(records > 1000);
}

//  ---- crafted pcapng ---------------------------------------------------------

typedef struct {
    uint8_t b[4096];
    size_t n;
    bool swap;
} writer;

static void s_put(writer *w, const void *p, size_t n)
{
    assert_true(w->n + n <= sizeof w->b);
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void s_u32(writer *w, uint32_t v)
{
    if (w->swap)
        v = __builtin_bswap32(v);
    s_put(w, &v, 4);
}

static void s_u16(writer *w, uint16_t v)
{
    if (w->swap)
        v = __builtin_bswap16(v);
    s_put(w, &v, 2);
}

static void s_section(writer *w, bool swap)
{
    w->swap = swap;
    s_u32(w, 0x0a0d0d0a);
    s_u32(w, 28);
    s_u32(w, 0x1a2b3c4d);
    s_u16(w, 1);
    s_u16(w, 0);
    s_u32(w, 0xffffffff);  // section length unknown
    s_u32(w, 0xffffffff);
    s_u32(w, 28);
}

//  An interface; tsresol < 0 for none, offset 0 for none.
static void s_interface(writer *w, uint16_t link, uint32_t snaplen, int tsresol, int64_t offset)
{
    uint32_t length = 20 + (tsresol >= 0 ? 8 : 0) + (offset ? 12 : 0) + 4;
    s_u32(w, 1);
    s_u32(w, length);
    s_u16(w, link);
    s_u16(w, 0);
    s_u32(w, snaplen);
    if (tsresol >= 0) {
        s_u16(w, 9);
        s_u16(w, 1);
        uint8_t v[4] = {(uint8_t)tsresol, 0, 0, 0};
        s_put(w, v, 4);
    }
    if (offset) {
        s_u16(w, 14);
        s_u16(w, 8);
        uint64_t v = (uint64_t)offset;
        if (w->swap)
            v = __builtin_bswap64(v);
        s_put(w, &v, 8);
    }
    s_u16(w, 0);  // opt_endofopt
    s_u16(w, 0);
    s_u32(w, length);
}

static void s_epb(writer *w, uint32_t interface, uint64_t t, const char *data, uint32_t len)
{
    uint32_t caplen = (uint32_t)strlen(data);
    uint32_t padded = (caplen + 3) & ~3u;
    uint32_t length = 32 + padded;
    s_u32(w, 6);
    s_u32(w, length);
    s_u32(w, interface);
    s_u32(w, (uint32_t)(t >> 32));
    s_u32(w, (uint32_t)t);
    s_u32(w, caplen);
    s_u32(w, len);
    s_put(w, data, caplen);
    s_put(w, "\0\0\0", padded - caplen);
    s_u32(w, length);
}

static void s_unknown(writer *w)
{
    s_u32(w, 0x0BAD);
    s_u32(w, 20);
    s_put(w, "junkjunk", 8);
    s_u32(w, 20);
}

static void s_spb(writer *w, const char *data, uint32_t len)
{
    uint32_t caplen = (uint32_t)strlen(data);
    uint32_t padded = (caplen + 3) & ~3u;
    s_u32(w, 3);
    s_u32(w, 16 + padded);
    s_u32(w, len);
    s_put(w, data, caplen);
    s_put(w, "\0\0\0", padded - caplen);
    s_u32(w, 16 + padded);
}

static void s_obsolete_pb(writer *w, uint16_t interface, uint64_t t, const char *data)
{
    uint32_t caplen = (uint32_t)strlen(data);
    uint32_t padded = (caplen + 3) & ~3u;
    s_u32(w, 2);
    s_u32(w, 32 + padded);
    s_u16(w, interface);
    s_u16(w, 0);
    s_u32(w, (uint32_t)(t >> 32));
    s_u32(w, (uint32_t)t);
    s_u32(w, caplen);
    s_u32(w, caplen);
    s_put(w, data, caplen);
    s_put(w, "\0\0\0", padded - caplen);
    s_u32(w, 32 + padded);
}

static void s_expect(capture_file *r, int64_t sec, uint32_t usec, const char *data, uint32_t len,
                     uint32_t interface, uint32_t link)
{
    capture_record rec;
    int rc = capture_file_next(r, &rec);
    if (rc != 1)
        fail_msg("want a record, got %d (%s)", rc, capture_file_error(r));
    assert_int_equal(rec.ts_sec, sec);
    assert_int_equal(rec.ts_usec, usec);
    assert_int_equal(rec.caplen, strlen(data));
    assert_memory_equal(rec.data, data, rec.caplen);
    assert_int_equal(rec.len, len);
    assert_int_equal(rec.interface, interface);
    assert_int_equal(rec.link_type, link);
}

static writer s_mixed_file(void)
{
    writer w = {0};
    s_section(&w, false);
    s_interface(&w, 1, 65535, -1, 0);         // Ethernet, microseconds
    s_interface(&w, 113, 8192, 9, 0);         // Linux SLL, nanoseconds
    s_interface(&w, 101, 0, 0x80 | 10, 100);  // raw IP, 2^-10 s, offset 100 s
    s_epb(&w, 0, 1500000001ull * 1000000 + 42, "eth0", 60);
    s_unknown(&w);
    s_epb(&w, 1, 1500000002ull * 1000000000 + 123456789, "sll", 3);
    s_epb(&w, 2, (1ull << 10) * 7 + 512, "raw", 3);
    s_spb(&w, "simple", 6);
    s_obsolete_pb(&w, 1, 5ull * 1000000000 + 999, "old");
    s_section(&w, true);  // the other byte order, its own interfaces
    s_interface(&w, 1, 4, -1, 0);
    s_epb(&w, 0, 3000000, "swap", 1500);
    return w;
}

static void test_mixed_interfaces_and_sections(void **state)
{
    (void)state;
    writer w = s_mixed_file();
    blob b = {w.b, w.n};
    int error;
    char why[256];
    capture_file *r = s_open_blob(b, &error, why, sizeof why);
    assert_non_null(r);
    assert_int_equal(capture_file_format(r), CAPTURE_FORMAT_PCAPNG);
    size_t n;
    const capture_interface *ifs = capture_file_interfaces(r, &n);
    assert_int_equal(n, 3);  // known at open: the start line lists them
    assert_int_equal(ifs[1].link_type, 113);
    assert_int_equal(ifs[1].snaplen, 8192);
    s_expect(r, 1500000001, 42, "eth0", 60, 0, 1);
    s_expect(r, 1500000002, 123456, "sll", 3, 1, 113);
    s_expect(r, 107, 500000, "raw", 3, 2, 101);
    s_expect(r, 0, 0, "simple", 6, 0, 1);
    s_expect(r, 5, 0, "old", 3, 1, 113);
    s_expect(r, 3, 0, "swap", 1500, 3, 1);
    capture_record rec;
    assert_int_equal(capture_file_next(r, &rec), 0);
    ifs = capture_file_interfaces(r, &n);
    assert_int_equal(n, 4);
    assert_int_equal(ifs[0].packets, 2);
    assert_int_equal(ifs[1].packets, 2);
    assert_int_equal(ifs[3].packets, 1);
    assert_int_equal(capture_file_packets(r), 6);
    capture_file_destroy(&r);
    assert_null(r);
}

//  Every cut of the crafted file: a clean end only at a block boundary,
//  damage elsewhere, never a record that was not whole.
static void test_every_truncation(void **state)
{
    (void)state;
    writer w = s_mixed_file();
    for (size_t cut = 0; cut < w.n; cut++) {
        blob b = {w.b, cut};
        int error;
        char why[256];
        capture_file *r = s_open_blob(b, &error, why, sizeof why);
        if (!r) {
            assert_true(error < 0);
            assert_true(strlen(why) > 0);
            continue;
        }
        capture_record rec;
        int rc;
        while ((rc = capture_file_next(r, &rec)) == 1)
            ;
        if (rc < 0) {
            assert_non_null(strstr(capture_file_error(r), "at byte "));
            assert_int_equal(capture_file_next(r, &rec), rc);  // sticky
        }
        capture_file_destroy(&r);
    }
}

static void test_lies_are_damage(void **state)
{
    (void)state;
    writer w = {0};
    s_section(&w, false);
    s_interface(&w, 1, 0, -1, 0);
    size_t epb = w.n;
    s_epb(&w, 0, 0, "data", 4);
    blob b = {w.b, w.n};
    int error;
    char why[256];
    capture_record rec;

    w.b[epb + 20] = 200;  // caplen past the block
    capture_file *r = s_open_blob(b, &error, why, sizeof why);
    assert_non_null(r);
    assert_true(capture_file_next(r, &rec) < 0);
    assert_non_null(strstr(capture_file_error(r), "longer than its block"));
    capture_file_destroy(&r);

    w.b[epb + 20] = 4;
    w.b[epb + 8] = 7;  // an interface never described
    r = s_open_blob(b, &error, why, sizeof why);
    assert_true(capture_file_next(r, &rec) < 0);
    assert_non_null(strstr(capture_file_error(r), "not described"));
    capture_file_destroy(&r);

    w.b[epb + 8] = 0;
    w.b[w.n - 4] = 99;  // trailer differs
    r = s_open_blob(b, &error, why, sizeof why);
    assert_true(capture_file_next(r, &rec) < 0);
    capture_file_destroy(&r);

    blob junk = {(uint8_t *)"this is no capture", 18};
    assert_null(s_open_blob(junk, &error, why, sizeof why));
    assert_string_equal(why, "unknown file format");
}

//  A compressed file cut short is damage, not a clean end.
static void test_compressed_cut_is_damage(void **state)
{
    (void)state;
    writer w = s_mixed_file();
    blob plain = {w.b, w.n};
    blob packed[3] = {s_gzip(plain), s_zstd(plain), s_lz4(plain)};
    for (int i = 0; i < 3; i++) {
        blob cut = {packed[i].data, packed[i].size - 3};
        int error;
        char why[256];
        capture_file *r = s_open_blob(cut, &error, why, sizeof why);
        int rc = 0;
        if (r) {
            capture_record rec;
            while ((rc = capture_file_next(r, &rec)) == 1)
                ;
            capture_file_destroy(&r);
        }
        assert_true(rc < 0 || !r);
        free(packed[i].data);
    }
}

//  An lz4 file cut inside its only block gives nothing before the cut: the
//  reader opens (format unknown) and the first record is the stream's
//  damage, at byte 0 with no packet, not a refusal to open.
static void test_compressed_cut_before_header(void **state)
{
    (void)state;
    writer w = s_mixed_file();
    blob plain = {w.b, w.n};
    assert_true(plain.size < 64 * 1024);  // one lz4 block
    blob packed = s_lz4(plain);
    blob cut = {packed.data, packed.size / 2};
    int error = 0;
    char why[256] = "";
    capture_file *r = s_open_blob(cut, &error, why, sizeof why);
    if (!r)
        fail_msg("refused to open: %s", why);
    assert_int_equal(capture_file_format(r), CAPTURE_FORMAT_UNKNOWN);
    capture_record rec;
    assert_int_equal(capture_file_next(r, &rec), -EPIPE);
    assert_string_equal(capture_file_error(r),
                        "at byte 0: the compressed data ends in the middle of a frame");
    assert_int_equal(capture_file_packets(r), 0);
    capture_file_destroy(&r);
    free(packed.data);
}

//  Concatenated gzip members, zstd frames and lz4 frames read as one file
//  (as gzip -dc and zstd -dc read them), the cut inside a record.
static void test_concatenated_members(void **state)
{
    (void)state;
    writer w = s_mixed_file();
    blob first = {w.b, 101}, second = {w.b + 101, w.n - 101};
    blob (*compress[3])(blob) = {s_gzip, s_zstd, s_lz4};
    for (int i = 0; i < 3; i++) {
        blob a = compress[i](first), b = compress[i](second);
        blob both = {malloc(a.size + b.size), a.size + b.size};
        memcpy(both.data, a.data, a.size);
        memcpy(both.data + a.size, b.data, b.size);
        int error;
        char why[256];
        capture_file *r = s_open_blob(both, &error, why, sizeof why);
        assert_non_null(r);
        capture_record rec;
        int n = 0, rc;
        while ((rc = capture_file_next(r, &rec)) == 1)
            n++;
        if (rc != 0)
            fail_msg("compression %d: %s", i, capture_file_error(r));
        assert_int_equal(n, 6);
        capture_file_destroy(&r);
        free(a.data);
        free(b.data);
        free(both.data);
    }
}

//  A record larger than the buffer grows it, and a caplen over the bound is
//  refused.
static void test_large_record(void **state)
{
    (void)state;
    size_t caplen = CAPTURE_FILE_BUFFER_BYTES;  // with its header, more than the buffer
    size_t size = 24 + 16 + caplen;
    uint8_t *f = calloc(1, size);
    uint32_t hdr[6] = {0xa1b2c3d4, 2 | 4u << 16, 0, 0, 262144, 1};
    memcpy(f, hdr, 24);
    uint32_t rec[4] = {1, 2, (uint32_t)caplen, (uint32_t)caplen};
    memcpy(f + 24, rec, 16);
    f[size - 1] = 0x5a;
    blob b = {f, size};
    int error;
    char why[256];
    capture_file *r = s_open_blob(b, &error, why, sizeof why);
    capture_record out;
    assert_int_equal(capture_file_next(r, &out), 1);
    assert_int_equal(out.caplen, caplen);
    assert_int_equal(out.data[caplen - 1], 0x5a);
    assert_int_equal(capture_file_next(r, &out), 0);
    capture_file_destroy(&r);

    rec[2] = CAPTURE_FILE_MAX_CAPLEN + 1;
    memcpy(f + 24, rec, 16);
    r = s_open_blob(b, &error, why, sizeof why);
    assert_true(capture_file_next(r, &out) < 0);
    assert_non_null(strstr(capture_file_error(r), "more than the bound"));
    capture_file_destroy(&r);
    free(f);
}

//  A zstd frame declaring a window of 2^window_log bytes (no content size,
//  so the decoder must allocate it), with data in one raw block.
static blob s_zstd_frame(int window_log, blob data)
{
    blob out = {.data = malloc(data.size + 9), .size = 0};
    const uint8_t header[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, (uint8_t)((window_log - 10) << 3)};
    memcpy(out.data, header, sizeof header);
    uint32_t block = 1u | (uint32_t)data.size << 3;  // last block, raw
    uint8_t block_header[3] = {block & 0xff, block >> 8 & 0xff, block >> 16 & 0xff};
    memcpy(out.data + sizeof header, block_header, 3);
    memcpy(out.data + sizeof header + 3, data.data, data.size);
    out.size = sizeof header + 3 + data.size;
    return out;
}

//  A zstd window up to the bound is read; a larger one (what a 22 KB file
//  declaring 128 MiB would cost) is refused before it is allocated.
static void test_zstd_window_bound(void **state)
{
    (void)state;
    writer w = s_mixed_file();
    blob plain = {w.b, w.n};
    blob fits = s_zstd_frame(CAPTURE_STREAM_ZSTD_WINDOW_LOG, plain);
    int error;
    char why[256] = "";
    capture_file *r = s_open_blob(fits, &error, why, sizeof why);
    if (!r)
        fail_msg("a window of the bound: %s", why);
    capture_record rec;
    int n = 0, rc;
    while ((rc = capture_file_next(r, &rec)) == 1)
        n++;
    assert_int_equal(rc, 0);
    assert_int_equal(n, 6);
    capture_file_destroy(&r);
    for (int log = CAPTURE_STREAM_ZSTD_WINDOW_LOG + 1; log <= 27; log += 3) {
        blob over = s_zstd_frame(log, plain);
        assert_null(s_open_blob(over, &error, why, sizeof why));
        assert_non_null(strstr(why, "window is over 8 MiB, the bound"));
        free(over.data);
    }
    free(fits.data);
}

//  After the last gzip member, zeros (padding) end the file silently and
//  anything else ends it with a warning, as gzip -d reads them.
static void test_gzip_trailer(void **state)
{
    (void)state;
    writer w = s_mixed_file();
    blob plain = {w.b, w.n};
    blob packed = s_gzip(plain);
    const struct {
        const char *bytes;
        size_t size;
        bool warned;
    } trailers[] = {
        {"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 32, false},
        {"\0", 1, false},
        {"garbage\n", 8, true},
        {"\0\0\0\0\x1f", 5, true},
        {"\x1f\x8a", 2, true},
    };
    for (size_t i = 0; i < sizeof trailers / sizeof trailers[0]; i++) {
        blob both = {malloc(packed.size + trailers[i].size), packed.size + trailers[i].size};
        memcpy(both.data, packed.data, packed.size);
        memcpy(both.data + packed.size, trailers[i].bytes, trailers[i].size);
        int error;
        char why[256];
        capture_file *r = s_open_blob(both, &error, why, sizeof why);
        assert_non_null(r);
        capture_record rec;
        int n = 0, rc;
        while ((rc = capture_file_next(r, &rec)) == 1)
            n++;
        if (rc != 0)
            fail_msg("trailer %zu: %s", i, capture_file_error(r));
        assert_int_equal(n, 6);
        assert_int_equal(capture_file_warning(r)[0] != '\0', trailers[i].warned);
        if (trailers[i].warned)
            assert_non_null(strstr(capture_file_warning(r), "is not gzip: ignored"));
        capture_file_destroy(&r);
        free(both.data);
    }
    free(packed.data);
}

//  The first part of a stream, as a writer that compresses as it goes
//  (tcpdump -w - | zstd) has sent it while it waits for more packets: whole
//  blocks of plain.size bytes, the frame not ended.
static blob s_first_blocks(int compression, blob plain)
{
    blob out = {malloc(plain.size + 1024), 0};
    if (compression == 0) {  // gzip, flushed as gzip --rsyncable or a stream writer does
        z_stream z = {0};
        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = plain.data;
        z.avail_in = (uInt)plain.size;
        z.next_out = out.data;
        z.avail_out = (uInt)plain.size + 1024;
        assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
        out.size = z.total_out;
        deflateEnd(&z);
    } else if (compression == 1) {  // zstd: a frame's first block (RLE), not its last
        assert_true(plain.size <= 128 * 1024);
        uint32_t block = 1u << 1 | (uint32_t)plain.size << 3;
        const uint8_t frame[] = {0x28,
                                 0xb5,
                                 0x2f,
                                 0xfd,
                                 0x00,
                                 (17 - 10) << 3,
                                 block & 0xff,
                                 block >> 8 & 0xff,
                                 block >> 16 & 0xff,
                                 plain.data[0]};
        memcpy(out.data, frame, sizeof frame);
        out.size = sizeof frame;
    } else {  // lz4: the frame header and the first block
        blob whole = s_lz4(plain);
        uint32_t size;
        memcpy(&size, whole.data + 7, 4);  // after a 7-byte header: the block's size
        out.size = 7 + 4 + (size & 0x7fffffff);
        memcpy(out.data, whole.data, out.size);
        free(whole.data);
    }
    return out;
}

static void s_on_alarm(int signal)
{
    (void)signal;
}

//  From a pipe whose writer sent whole blocks and waits before the next,
//  every byte of them comes out at once: the decoder holds their output
//  and is asked for it before the pipe is read (a read that waited for the
//  writer is interrupted by the alarm and fails the test).
static void test_pending_output_from_pipe(void **state)
{
    (void)state;
    size_t size = 64 * 1024;
    blob plain = {malloc(size), size};
    memset(plain.data, 'A', size);                         // one run: the zstd frame's RLE block
    struct sigaction action = {.sa_handler = s_on_alarm};  // no SA_RESTART
    assert_int_equal(sigaction(SIGALRM, &action, NULL), 0);
    uint8_t *out = malloc(size);
    for (int i = 0; i < 3; i++) {
        blob packed = s_first_blocks(i, plain);
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        assert_true(packed.size < 65536);  // fits in the pipe
        assert_int_equal(write(fds[1], packed.data, packed.size), (ssize_t)packed.size);
        capture_stream *stream = capture_stream_new_fd(fds[0], 1);
        assert_non_null(stream);
        alarm(2);
        size_t got = 0;
        while (got < size) {
            ssize_t n = capture_stream_read(stream, out + got, 1000);
            if (n <= 0)
                fail_msg("compression %d: after %zu of %zu bytes: %zd (%s)", i, got, size, n,
                         capture_stream_error(stream));
            got += (size_t)n;
        }
        alarm(0);
        assert_memory_equal(out, plain.data, size);
        close(fds[1]);  // the writer goes away in the middle of a frame
        assert_int_equal(capture_stream_read(stream, out, 1000), -EPIPE);
        capture_stream_destroy(&stream);
        free(packed.data);
    }
    free(out);
    free(plain.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_capture_as_libpcap_reads_it),
        cmocka_unit_test(test_mixed_interfaces_and_sections),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_lies_are_damage),
        cmocka_unit_test(test_compressed_cut_is_damage),
        cmocka_unit_test(test_compressed_cut_before_header),
        cmocka_unit_test(test_concatenated_members),
        cmocka_unit_test(test_large_record),
        cmocka_unit_test(test_zstd_window_bound),
        cmocka_unit_test(test_gzip_trailer),
        cmocka_unit_test(test_pending_output_from_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
