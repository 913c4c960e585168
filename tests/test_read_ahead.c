// SPDX-License-Identifier: MPL-2.0
/*  test_read_ahead: the reader thread hands out what the file read on the
    caller's own thread gives, record for record, and stops when asked.

    Every regular capture in tests/data, a generated one of 40,000 packets
    (several times the ring, TCP and not, some cut short), the same cut in
    the middle of a record (damage), and one with a -f filter: opened twice,
    read once with capture_next and tw_packet_decode here and once through
    read_ahead; the records (time, link type, decoder status, every decoded
    field), what ended the reading and the records read must be the same.
    A stop while the reader waits for a free block (the ring full, one block
    held) returns at once and says what it cost; damage met before a stop
    still ends the reading as damage; a filter that keeps nothing still
    hands out (empty) blocks as it goes; a stop interrupts a read that
    blocks (a FIFO); the kick signal alone loses nothing; one allowed CPU
    means no reader thread; signals do not reach the reader thread.
*/
#define _GNU_SOURCE  // sched_setaffinity, CPU_SET
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"
#include "read_ahead.h"
#include "tw_time.h"

//  ---- a generated capture ----------------------------------------------------

#define GENERATED_PACKETS 40000
#define SMALL_CUT_AT      1000  // damage before the ring is full

static bool s_put32(FILE *f, uint32_t v)
{
    return fwrite(&v, 4, 1, f) == 1;  // the host's order, as its magic says
}

//  An Ethernet frame: IPv4 TCP with varied ports, flags, windows and
//  payload, or (every 7th) UDP; every 11th is cut to 30 bytes.
static size_t s_frame(uint32_t i, uint8_t *b, uint32_t *wire)
{
    memset(b, 0, 128);
    b[12] = 0x08;  // IPv4
    uint8_t *ip = b + 14;
    uint16_t payload = (uint16_t)(i % 40);
    uint16_t total = (uint16_t)(20 + 20 + payload);
    ip[0] = 0x45;
    ip[2] = (uint8_t)(total >> 8);
    ip[3] = (uint8_t)total;
    ip[8] = 64;
    ip[9] = i % 7 == 0 ? 17 : 6;
    uint32_t src = 0x0a000000u | (i % 251), dst = 0x0a010000u | (i % 13);
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    uint8_t *tcp = ip + 20;
    tcp[0] = (uint8_t)(i >> 8);
    tcp[1] = (uint8_t)i;
    tcp[3] = 80;
    tcp[7] = (uint8_t)(i * 3);
    tcp[12] = 0x50;
    tcp[13] = (uint8_t)(1u << (i % 6));  // FIN, SYN, RST, PSH, ACK, URG in turn
    tcp[14] = (uint8_t)(i % 3 == 0 ? 0 : i >> 3);
    tcp[15] = (uint8_t)i;
    *wire = 14u + total;
    return i % 11 == 0 ? 30 : *wire;
}

//  Writes a pcap file header and the first `packets` generated records;
//  with cut_at, stops in the middle of that record (damage). No cmocka
//  assertion: a writer thread calls it too.
static bool s_write_records(FILE *f, uint32_t packets, uint32_t cut_at)
{
    bool ok = s_put32(f, 0xa1b2c3d4) && s_put32(f, 0x00040002) &&                    // version 2.4
              s_put32(f, 0) && s_put32(f, 0) && s_put32(f, 65535) && s_put32(f, 1);  // Ethernet
    for (uint32_t i = 0; ok && i < packets; i++) {
        uint8_t frame[128];
        uint32_t wire;
        uint32_t caplen = (uint32_t)s_frame(i, frame, &wire);
        bool last = i == cut_at;
        size_t bytes = last ? caplen / 2 : caplen;
        ok = s_put32(f, 1700000000u + i / 100) && s_put32(f, (i % 100) * 10000u) &&
             s_put32(f, caplen) && s_put32(f, wire) && fwrite(frame, 1, bytes, f) == bytes;
        if (last)
            break;
    }
    return ok && fflush(f) == 0;
}

static void s_write_capture(const char *path, uint32_t cut_at)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_true(s_write_records(f, GENERATED_PACKETS, cut_at));
    assert_int_equal(fclose(f), 0);
}

//  ---- the two reads ----------------------------------------------------------

typedef struct {
    read_ahead_packet *packets;
    size_t count;
    size_t size;
    int rc;
    uint64_t records_read;
} reading;

static void s_add(reading *r, const read_ahead_packet *p)
{
    if (r->count == r->size) {
        r->size = r->size ? 2 * r->size : 1024;
        r->packets = realloc(r->packets, r->size * sizeof *r->packets);
        assert_non_null(r->packets);
    }
    r->packets[r->count++] = *p;
}

static capture *s_open(const char *path, const char *filter)
{
    capture_options options = {.file = path, .filter = filter};
    return capture_open(&options);
}

//  Opens path and starts reading it ahead.
static read_ahead *s_start(const char *path, const char *filter, capture **input)
{
    *input = s_open(path, filter);
    assert_non_null(*input);
    read_ahead *ahead = read_ahead_start(*input);
    assert_non_null(ahead);
    return ahead;
}

static reading s_read_here(const char *path, const char *filter)
{
    reading r = {0};
    capture *input = s_open(path, filter);
    assert_non_null(input);
    capture_record record;
    while ((r.rc = capture_next(input, &record)) == 1) {
        read_ahead_packet p;
        memset(&p, 0, sizeof p);
        (void)tw_time_from_sec_usec(record.ts_sec, record.ts_usec, &p.ts_us);
        p.link_type = (int32_t)record.link_type;
        p.status = (uint8_t)tw_packet_decode((int)record.link_type, record.data, record.caplen,
                                             record.len, &p.packet);
        s_add(&r, &p);
    }
    r.records_read = capture_packets_read(input);
    capture_close(&input);
    return r;
}

static reading s_read_ahead(const char *path, const char *filter)
{
    reading r = {0};
    capture *input = s_open(path, filter);
    assert_non_null(input);
    assert_true(capture_is_regular_file(input));
    read_ahead *ahead = read_ahead_start(input);
    assert_non_null(ahead);
    uint64_t last_records = 0;
    for (;;) {
        const read_ahead_block *block = read_ahead_next(ahead, 1000);
        if (!block) {
            if (read_ahead_ended(ahead))
                break;
            continue;
        }
        assert_true(block->count <= READ_AHEAD_PACKETS);
        assert_true(block->records_read >= last_records);
        last_records = block->records_read;
        for (size_t i = 0; i < block->count; i++)
            s_add(&r, &block->packets[i]);
        read_ahead_release(ahead);
    }
    uint64_t not_analysed;
    r.rc = read_ahead_finish(&ahead, &not_analysed);
    assert_null(ahead);
    assert_int_equal(not_analysed, 0);
    r.records_read = capture_packets_read(input);  // the thread is gone: the capture is ours
    assert_int_equal(last_records, r.records_read);
    capture_close(&input);
    return r;
}

static void s_assert_same_packet(const tw_packet *a, const tw_packet *b)
{
    assert_int_equal(a->ip_version, b->ip_version);
    assert_memory_equal(a->src, b->src, sizeof a->src);
    assert_memory_equal(a->dst, b->dst, sizeof a->dst);
    assert_int_equal(a->src_port, b->src_port);
    assert_int_equal(a->dst_port, b->dst_port);
    assert_int_equal(a->window, b->window);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->window_scale, b->window_scale);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->ack, b->ack);
    assert_int_equal(a->payload_len, b->payload_len);
}

//  Reads path both ways and compares; returns the records.
static size_t s_compare(const char *path, const char *filter)
{
    reading here = s_read_here(path, filter);
    reading ahead = s_read_ahead(path, filter);
    assert_int_equal(here.rc, ahead.rc);
    assert_int_equal(here.count, ahead.count);
    assert_int_equal(here.records_read, ahead.records_read);
    for (size_t i = 0; i < here.count; i++) {
        const read_ahead_packet *a = &here.packets[i], *b = &ahead.packets[i];
        assert_int_equal(a->ts_us, b->ts_us);
        assert_int_equal(a->link_type, b->link_type);
        assert_int_equal(a->status, b->status);
        if (a->status == TW_DECODE_OK)
            s_assert_same_packet(&a->packet, &b->packet);
    }
    size_t count = here.count;
    free(here.packets);
    free(ahead.packets);
    return count;
}

static char s_generated[64];
static char s_cut[64];
static char s_small_cut[64];

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_generated, sizeof s_generated, "/tmp/test_read_ahead.%d.pcap", (int)getpid());
    snprintf(s_cut, sizeof s_cut, "/tmp/test_read_ahead.%d.cut.pcap", (int)getpid());
    snprintf(s_small_cut, sizeof s_small_cut, "/tmp/test_read_ahead.%d.small.pcap", (int)getpid());
    s_write_capture(s_generated, UINT32_MAX);
    s_write_capture(s_cut, GENERATED_PACKETS / 2);
    s_write_capture(s_small_cut, SMALL_CUT_AT);
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    unlink(s_generated);
    unlink(s_cut);
    unlink(s_small_cut);
    return 0;
}

//  ---- tests ------------------------------------------------------------------

static void test_every_capture_reads_the_same_both_ways(void **state)
{
    (void)state;
    DIR *dir = opendir(TEST_DATA_DIR);
    assert_non_null(dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(dir))) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".pcap") != 0 && strcmp(dot, ".pcapng") != 0))
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", TEST_DATA_DIR, e->d_name);
        capture *probe = s_open(path, NULL);
        if (!probe)
            continue;  // not a capture (a test of refusal): nothing to read
        bool regular = capture_is_regular_file(probe);
        capture_close(&probe);
        if (!regular)
            continue;  // empty
        (void)s_compare(path, NULL);
        files++;
    }
    closedir(dir);
    assert_true(files >= 10);
}

static void test_a_capture_of_many_blocks_reads_the_same(void **state)
{
    (void)state;
    assert_int_equal(s_compare(s_generated, NULL), GENERATED_PACKETS);
}

static void test_damage_ends_both_reads_at_the_same_record(void **state)
{
    (void)state;
    reading here = s_read_here(s_cut, NULL);
    assert_true(here.rc < 0);
    assert_int_equal(here.count, GENERATED_PACKETS / 2);
    free(here.packets);
    assert_int_equal(s_compare(s_cut, NULL), GENERATED_PACKETS / 2);
}

static void test_the_filter_runs_on_the_reader_thread_the_same(void **state)
{
    (void)state;
    size_t filtered = s_compare(s_generated, "tcp[13] & 2 != 0");  // SYNs
    assert_true(filtered > 0 && filtered < GENERATED_PACKETS / 4);
    // Two packets 25,000 records apart: blocks cut short by the filter's
    // stretches, one of them holding a packet.
    assert_int_equal(s_compare(s_generated, "tcp src port 5000 or tcp src port 30000"), 2);
}

static void s_sleep_ms(long ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static double s_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

//  Waits (up to 5 s) until `blocks` blocks are filled and not taken.
static void s_wait_ready(read_ahead *ahead, size_t blocks)
{
    double deadline = s_now_s() + 5;
    while (read_ahead_ready(ahead) < blocks && s_now_s() < deadline)
        s_sleep_ms(1);
    assert_int_equal(read_ahead_ready(ahead), blocks);
}

static void test_a_stop_with_the_ring_full_returns_at_once(void **state)
{
    (void)state;
    capture *input;
    read_ahead *ahead = s_start(s_generated, NULL, &input);
    const read_ahead_block *block = read_ahead_next(ahead, 5000);
    assert_non_null(block);
    assert_int_equal(block->count, READ_AHEAD_PACKETS);
    assert_null(read_ahead_next(ahead, 0));  // one block at a time
    // The reader fills the rest and waits for free blocks.
    s_wait_ready(ahead, READ_AHEAD_BLOCKS - 1);
    assert_false(read_ahead_ended(ahead));
    // Held blocks and all, the stop ends the thread (a generous bound: it
    // is one wake-up), with 1 (stopped before the end) and what it cost.
    double start = s_now_s();
    uint64_t not_analysed;
    assert_int_equal(read_ahead_finish(&ahead, &not_analysed), 1);
    assert_true(s_now_s() - start < 1.0);
    assert_int_equal(not_analysed, (READ_AHEAD_BLOCKS - 1) * READ_AHEAD_PACKETS);
    assert_int_equal(capture_packets_read(input), READ_AHEAD_BLOCKS * READ_AHEAD_PACKETS);
    capture_close(&input);
}

static void test_a_stop_before_any_block_was_taken(void **state)
{
    (void)state;
    capture *input;
    read_ahead *ahead = s_start(s_generated, NULL, &input);
    uint64_t not_analysed;
    assert_int_equal(read_ahead_finish(&ahead, &not_analysed), 1);
    assert_true(not_analysed <= READ_AHEAD_BLOCKS * READ_AHEAD_PACKETS);
    capture_close(&input);
}

//  Damage met while blocks before it wait: a stop then still returns the
//  damage (its message is on stderr already; the exit status follows it).
static void test_damage_wins_over_a_stop(void **state)
{
    (void)state;
    capture *input;
    read_ahead *ahead = s_start(s_small_cut, NULL, &input);
    s_wait_ready(ahead, (SMALL_CUT_AT + READ_AHEAD_PACKETS - 1) / READ_AHEAD_PACKETS);
    uint64_t not_analysed;
    assert_true(read_ahead_finish(&ahead, &not_analysed) < 0);
    assert_int_equal(not_analysed, SMALL_CUT_AT);
    capture_close(&input);
}

//  A filter that keeps nothing: the reader still hands out a block (empty)
//  after every READ_AHEAD_MAX_FILTERED_OUT records, where it looks at a
//  stop and the progress moves on, instead of reading the whole file first.
static void test_a_sparse_filter_still_hands_out_blocks(void **state)
{
    (void)state;
    capture *input;
    read_ahead *ahead = s_start(s_generated, "host 192.0.2.1", &input);
    size_t blocks = 0;
    const read_ahead_block *block;
    while ((block = read_ahead_next(ahead, 5000))) {
        assert_int_equal(block->count, 0);
        blocks++;
        if (blocks == 1)
            assert_int_equal(block->records_read, READ_AHEAD_MAX_FILTERED_OUT);
        read_ahead_release(ahead);
    }
    assert_true(read_ahead_ended(ahead));
    assert_int_equal(blocks, GENERATED_PACKETS / READ_AHEAD_MAX_FILTERED_OUT + 1);
    uint64_t not_analysed;
    assert_int_equal(read_ahead_finish(&ahead, &not_analysed), 0);
    capture_close(&input);
}

//  READ_AHEAD_SIGNAL without a stop (sent to the process from outside, or
//  landing between a stop and the join): it interrupts at most a read,
//  which goes on; nothing is lost and the process lives.
static void test_the_kick_signal_without_a_stop_loses_nothing(void **state)
{
    (void)state;
    sigset_t kick, old;
    sigemptyset(&kick);
    sigaddset(&kick, READ_AHEAD_SIGNAL);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &kick, &old), 0);  // so the reader gets them
    reading here = s_read_here(s_generated, NULL);
    capture *input;
    read_ahead *ahead = s_start(s_generated, NULL, &input);
    size_t count = 0;
    for (;;) {
        assert_int_equal(kill(getpid(), READ_AHEAD_SIGNAL), 0);
        const read_ahead_block *block = read_ahead_next(ahead, 1000);
        if (!block) {
            if (read_ahead_ended(ahead))
                break;
            continue;
        }
        for (size_t i = 0; i < block->count; i++, count++)
            assert_int_equal(block->packets[i].ts_us, here.packets[count].ts_us);
        read_ahead_release(ahead);
    }
    uint64_t not_analysed;
    assert_int_equal(read_ahead_finish(&ahead, &not_analysed), 0);
    assert_int_equal(count, here.count);
    capture_close(&input);
    free(here.packets);
    // Those sent after the reader ended wait, blocked here: take them, for
    // the signal's default action (restored by the finish) would end us.
    struct timespec none = {0};
    while (sigtimedwait(&kick, NULL, &none) > 0)
        ;
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

//  A FIFO's writer that sends a header and 12 records, then holds the FIFO
//  open without writing until told to close it.
#define FIFO_PACKETS 12
typedef struct {
    const char *path;
    int release[2];  // a pipe: the test closes its write end to release the writer
    bool ok;
} s_fifo_writer;

static void *s_write_fifo(void *arg)
{
    s_fifo_writer *w = arg;
    FILE *f = fopen(w->path, "wb");  // waits for the reader's open
    w->ok = f && s_write_records(f, FIFO_PACKETS, UINT32_MAX);
    // Until released (EOF), or 5 s: then the FIFO's end of file ends a read
    // that no kick interrupted, and the test fails on its time bound
    // instead of hanging.
    struct pollfd release = {.fd = w->release[0], .events = POLLIN};
    while (poll(&release, 1, 5000) < 0 && errno == EINTR)
        ;
    if (f)
        fclose(f);
    return NULL;
}

//  A read that blocks (a FIFO whose writer went quiet; read_ahead_start
//  takes any capture): the stop interrupts it with READ_AHEAD_SIGNAL, and
//  the records of the block it was filling count as not analysed.
static void test_a_stop_interrupts_a_blocked_read(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_read_ahead.%d.fifo", (int)getpid());
    assert_int_equal(mkfifo(path, 0600), 0);
    s_fifo_writer writer = {.path = path};
    assert_int_equal(pipe(writer.release), 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_write_fifo, &writer), 0);
    capture *input = s_open(path, NULL);  // waits for the writer's open
    assert_non_null(input);
    assert_false(capture_is_regular_file(input));
    read_ahead *ahead = read_ahead_start(input);
    assert_non_null(ahead);
    assert_null(read_ahead_next(ahead, 200));  // the reader waits in read() for more
    double start = s_now_s();
    uint64_t not_analysed;
    assert_int_equal(read_ahead_finish(&ahead, &not_analysed), 1);
    assert_true(s_now_s() - start < 2.0);  // a kick every 100 ms; generous
    assert_int_equal(not_analysed, FIFO_PACKETS);
    capture_close(&input);
    close(writer.release[1]);
    assert_int_equal(pthread_join(thread, NULL), 0);
    close(writer.release[0]);
    assert_true(writer.ok);
    unlink(path);
}

//  One CPU allowed (taskset -c 0, a one-CPU cpuset): no reader thread.
static void test_one_cpu_reads_on_the_analysis_thread(void **state)
{
    (void)state;
    cpu_set_t all, one;
    assert_int_equal(sched_getaffinity(0, sizeof all, &all), 0);
    int first = 0;
    while (!CPU_ISSET(first, &all))
        first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    bool on_one = read_ahead_worthwhile();
    assert_int_equal(sched_setaffinity(0, sizeof all, &all), 0);
    assert_false(on_one);
    assert_int_equal(read_ahead_worthwhile(), CPU_COUNT(&all) >= 2);
}

static volatile sig_atomic_t s_usr1_seen;
static void s_on_usr1(int sig)
{
    (void)sig;
    s_usr1_seen++;
}

//  The reader blocks every signal: one sent to the process while the only
//  other thread blocks it stays pending, rather than running its handler on
//  the reader thread.
static void test_signals_do_not_reach_the_reader_thread(void **state)
{
    (void)state;
    struct sigaction sa = {.sa_handler = s_on_usr1};
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
    capture *input;
    read_ahead *ahead = s_start(s_generated, NULL, &input);  // started with SIGUSR1 open here
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0);
    s_usr1_seen = 0;
    assert_int_equal(kill(getpid(), SIGUSR1), 0);
    s_sleep_ms(50);  // the reader lives on, waiting for a free block
    assert_int_equal(s_usr1_seen, 0);
    sigset_t pending;
    assert_int_equal(sigpending(&pending), 0);
    assert_true(sigismember(&pending, SIGUSR1));
    uint64_t not_analysed;
    assert_int_equal(read_ahead_finish(&ahead, &not_analysed), 1);
    capture_close(&input);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);  // delivered here, now
    assert_int_equal(s_usr1_seen, 1);
    signal(SIGUSR1, SIG_DFL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_capture_reads_the_same_both_ways),
        cmocka_unit_test(test_a_capture_of_many_blocks_reads_the_same),
        cmocka_unit_test(test_damage_ends_both_reads_at_the_same_record),
        cmocka_unit_test(test_the_filter_runs_on_the_reader_thread_the_same),
        cmocka_unit_test(test_a_stop_with_the_ring_full_returns_at_once),
        cmocka_unit_test(test_a_stop_before_any_block_was_taken),
        cmocka_unit_test(test_damage_wins_over_a_stop),
        cmocka_unit_test(test_a_sparse_filter_still_hands_out_blocks),
        cmocka_unit_test(test_the_kick_signal_without_a_stop_loses_nothing),
        cmocka_unit_test(test_a_stop_interrupts_a_blocked_read),
        cmocka_unit_test(test_one_cpu_reads_on_the_analysis_thread),
        cmocka_unit_test(test_signals_do_not_reach_the_reader_thread),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
