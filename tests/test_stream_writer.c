// SPDX-License-Identifier: MPL-2.0
/*  test_stream_writer: the bridge's sink against real loopback sockets.

    Each test plays both sides in one thread: it drives the writer the way
    the forward loop does (poll on the writer's descriptor, then
    stream_writer_handle) and reads the peer socket itself, at the pace the
    test wants. Reports are self-describing text blocks:

        # report 7 lines 3 begin
        7.0 xxxx...
        ...
        # report 7 lines 3 end
        <empty line>

    so the reader can rebuild every report from its first line and check it
    arrived whole, byte for byte, and in which order.
*/
#define _GNU_SOURCE  // asprintf
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "stream_writer.h"

#define SMALL_BUFFER 4096  // SO_RCVBUF / SO_SNDBUF for backpressure tests
#define DEADLINE_MS  5000  // functional deadline: generous, never a speed goal

static int64_t s_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

// ---------------------------------------------------------------------------
// Reports

static char *s_make_report(unsigned number, unsigned lines, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    fprintf(out, "# report %u lines %u begin\n", number, lines);
    for (unsigned i = 0; i < lines; i++)
        fprintf(out, "%u.%u %.*s\n", number, i, (int)(40 + (number * 7 + i) % 50),
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnop");
    fprintf(out, "# report %u lines %u end\n\n", number, lines);
    assert_int_equal(fclose(out), 0);
    *len = size;
    return text;
}

static void s_enqueue_report(stream_writer *sw, unsigned number, unsigned lines, int expect)
{
    size_t len = 0;
    char *text = s_make_report(number, lines, &len);
    assert_int_equal(stream_writer_enqueue(sw, text, len), expect);
    free(text);
}

//  Splits a connection's bytes into reports and checks each is whole. A cut
//  last report is tolerated only when allow_cut (the connection was broken
//  by the test); its number is not listed. Returns the count of numbers.
static size_t s_parse_reports(const char *data, size_t len, unsigned *numbers, size_t max,
                              bool allow_cut)
{
    size_t count = 0, pos = 0;
    while (pos < len) {
        unsigned number = 0, lines = 0;
        char tail[8] = "";
        const char *line_end = memchr(data + pos, '\n', len - pos);
        if (!line_end && allow_cut)
            break;
        assert_non_null(line_end);
        int fields = sscanf(data + pos, "# report %u lines %u %5s", &number, &lines, tail);
        if (fields != 3 || strcmp(tail, "begin") != 0)
            fail_msg("byte %zu does not start a report: '%.40s'", pos, data + pos);
        size_t want_len = 0;
        char *want = s_make_report(number, lines, &want_len);
        size_t have = len - pos;
        if (have < want_len) {
            if (!allow_cut)
                fail_msg("report %u cut after %zu of %zu bytes", number, have, want_len);
            assert_memory_equal(data + pos, want, have);
            free(want);
            break;
        }
        assert_memory_equal(data + pos, want, want_len);
        free(want);
        assert_true(count < max);
        numbers[count++] = number;
        pos += want_len;
    }
    return count;
}

// ---------------------------------------------------------------------------
// Sockets and the loop

typedef struct {
    char *data;
    size_t len;
} s_bytes;

static void s_append(s_bytes *bytes, const char *data, size_t len)
{
    bytes->data = realloc(bytes->data, bytes->len + len + 1);
    assert_non_null(bytes->data);
    memcpy(bytes->data + bytes->len, data, len);
    bytes->len += len;
    bytes->data[bytes->len] = '\0';
}

//  Reads at most max bytes without blocking. Returns what recv returned
//  (0 at EOF), or -1 when nothing was there.
static ssize_t s_read_some(int fd, s_bytes *into, size_t max)
{
    char chunk[65536];
    if (max > sizeof chunk)
        max = sizeof chunk;
    ssize_t n = recv(fd, chunk, max, MSG_DONTWAIT);
    if (n > 0)
        s_append(into, chunk, (size_t)n);
    else if (n < 0)
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    return n;
}

static int s_socket_on_loopback(int type, uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    if (rcvbuf > 0)  // set before listen so accepted sockets inherit it
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof address), 0);
    if (type == SOCK_STREAM)
        assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static uint16_t s_port_of(int fd)
{
    struct sockaddr_in address;
    socklen_t size = sizeof address;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &size), 0);
    return ntohs(address.sin_port);
}

//  A TCP socket bound to a loopback port but not listening: connections to
//  the port are refused, and, unlike a port found free and closed again, the
//  kernel cannot hand it to a connection as its source port meanwhile (a
//  client retrying a port nobody holds can connect to itself). listen() on
//  it makes the sink appear.
static int s_refusing_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof address), 0);
    return fd;
}

//  A loopback port with nothing listening (it was free a moment ago).
static uint16_t s_free_port(int type)
{
    int fd = s_socket_on_loopback(type, 0, 0);
    uint16_t port = s_port_of(fd);
    close(fd);
    return port;
}

static stream_writer *s_writer(tw_transport transport, uint16_t port, size_t max_reports,
                               size_t max_bytes, int send_buffer, size_t max_datagram, FILE *log)
{
    char *text = NULL;
    assert_true(asprintf(&text, "%s://127.0.0.1:%u", transport == TW_TRANSPORT_TCP ? "tcp" : "udp",
                         port) > 0);
    tw_endpoint endpoint;
    assert_int_equal(tw_endpoint_parse(text, &endpoint, NULL), 0);
    free(text);
    stream_writer_options options = {
        .endpoint = &endpoint,
        .max_reports = max_reports,
        .max_bytes = max_bytes,
        .send_buffer = send_buffer,
        .max_datagram = max_datagram,
        .program = "test_stream_writer",
        .log = log,
    };
    stream_writer *sw = stream_writer_new(&options);
    assert_non_null(sw);
    tw_endpoint_clear(&endpoint);
    return sw;
}

//  One turn of the caller's loop: poll what the writer asks for, at most
//  wait_ms, then let it work.
static void s_turn(stream_writer *sw, int wait_ms)
{
    struct pollfd item = {.fd = stream_writer_fd(sw), .events = stream_writer_events(sw)};
    int timeout = stream_writer_next_timeout_ms(sw, s_now_ms());
    if (timeout < 0 || timeout > wait_ms)
        timeout = wait_ms;
    int rc = poll(&item, 1, timeout);  // poll ignores a descriptor of -1
    assert_true(rc >= 0);
    assert_int_equal(stream_writer_handle(sw, rc > 0 ? item.revents : 0, s_now_ms()), 0);
}

//  Turns the loop until the listener has a connection to accept.
static int s_accept(stream_writer *sw, int listener)
{
    int64_t deadline = s_now_ms() + DEADLINE_MS;
    while (s_now_ms() < deadline) {
        s_turn(sw, 10);
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    }
    fail_msg("no connection within %d ms", DEADLINE_MS);
    return -1;
}

//  Turns the loop and reads the peer until `want` whole reports arrived.
static size_t s_read_reports(stream_writer *sw, int peer, s_bytes *bytes, size_t want,
                             size_t bytes_per_turn, unsigned *numbers)
{
    int64_t deadline = s_now_ms() + DEADLINE_MS;
    size_t count = 0;
    while (count < want && s_now_ms() < deadline) {
        s_turn(sw, 1);
        if (s_read_some(peer, bytes, bytes_per_turn) > 0)
            count = s_parse_reports(bytes->data, bytes->len, numbers, want + 1, true);
    }
    return count;
}

//  Turns the loop until every written report is acknowledged by the peer's
//  kernel (the writer counts a report forwarded only then) or the deadline.
static void s_until_acknowledged(stream_writer *sw)
{
    int64_t deadline = s_now_ms() + DEADLINE_MS;
    while (!stream_writer_queue_empty(sw) && s_now_ms() < deadline)
        s_turn(sw, 5);
}

static size_t s_count_lines_with(const char *log, const char *text)
{
    size_t count = 0;
    for (const char *p = strstr(log, text); p; p = strstr(p + 1, text))
        count++;
    return count;
}

// ---------------------------------------------------------------------------
// TCP

//  A reader with a 4 KiB receive buffer reading 1 KiB per turn: the writer
//  sees short writes and EAGAIN, and every report still arrives whole, in order.
static void test_slow_reader_gets_whole_reports_in_order(void **state)
{
    (void)state;
    int listener = s_socket_on_loopback(SOCK_STREAM, 0, SMALL_BUFFER);
    stream_writer *sw =
        s_writer(TW_TRANSPORT_TCP, s_port_of(listener), 0, 0, SMALL_BUFFER, 0, NULL);
    size_t total = 0;
    for (unsigned i = 0; i < 40; i++) {
        size_t len = 0;
        free(s_make_report(i, 50, &len));
        total += len;
        s_enqueue_report(sw, i, 50, 0);
    }
    int peer = s_accept(sw, listener);
    s_bytes bytes = {0};
    unsigned numbers[41];
    size_t count = s_read_reports(sw, peer, &bytes, 40, 1024, numbers);
    assert_int_equal(count, 40);
    assert_int_equal(s_parse_reports(bytes.data, bytes.len, numbers, 41, false), 40);
    for (unsigned i = 0; i < 40; i++)
        assert_int_equal(numbers[i], i);
    assert_int_equal(bytes.len, total);
    assert_null(memchr(bytes.data, '\0', bytes.len));

    s_until_acknowledged(sw);
    const stream_writer_counters *c = stream_writer_get_counters(sw);
    print_message("slow reader: %zu bytes, received %llu, forwarded %llu, short writes %llu\n",
                  total, (unsigned long long)c->received, (unsigned long long)c->forwarded,
                  (unsigned long long)c->short_writes);
    assert_int_equal(c->received, 40);
    assert_int_equal(c->forwarded, 40);
    assert_int_equal(c->dropped, 0);
    assert_int_equal(c->reconnects, 0);
    assert_int_equal(c->bytes, total);
    assert_true(c->short_writes > 0);  // backpressure really happened
    assert_true(stream_writer_queue_empty(sw));
    free(bytes.data);
    close(peer);
    close(listener);
    stream_writer_destroy(&sw);
    assert_null(sw);
    stream_writer_destroy(&sw);  // harmless twice
}

//  A peer that stops reading while a big report is half written: new
//  reports push out the oldest waiting ones, never the one on the wire.
static void test_full_queue_drops_oldest_waiting_whole_reports(void **state)
{
    (void)state;
    char *log_text = NULL;
    size_t log_size = 0;
    FILE *log = open_memstream(&log_text, &log_size);
    assert_non_null(log);
    int listener = s_socket_on_loopback(SOCK_STREAM, 0, SMALL_BUFFER);
    stream_writer *sw = s_writer(TW_TRANSPORT_TCP, s_port_of(listener), 5, 0, SMALL_BUFFER, 0, log);
    int peer = s_accept(sw, listener);
    s_enqueue_report(sw, 0, 3000, 0);  // ~250 KB: far more than both buffers hold
    for (int i = 0; i < 50; i++)
        s_turn(sw, 2);
    const stream_writer_counters *c = stream_writer_get_counters(sw);
    assert_true(c->bytes > 0);
    assert_int_equal(c->forwarded, 0);  // report 0 is on the wire, unfinished

    for (unsigned i = 1; i <= 20; i++)
        s_enqueue_report(sw, i, 3, 0);
    assert_int_equal(c->received, 21);
    assert_int_equal(c->dropped, 15);  // 1..15 went, 16..20 wait behind report 0
    assert_int_equal(stream_writer_queued(sw), 6);

    s_bytes bytes = {0};
    unsigned numbers[8];
    size_t count = s_read_reports(sw, peer, &bytes, 6, 65536, numbers);
    assert_int_equal(count, 6);
    assert_int_equal(s_parse_reports(bytes.data, bytes.len, numbers, 8, false), 6);
    const unsigned expected[] = {0, 16, 17, 18, 19, 20};
    assert_memory_equal(numbers, expected, sizeof expected);
    s_until_acknowledged(sw);
    print_message("overflow: received %llu, forwarded %llu, dropped %llu\n",
                  (unsigned long long)c->received, (unsigned long long)c->forwarded,
                  (unsigned long long)c->dropped);
    assert_int_equal(c->forwarded, 6);
    assert_int_equal(c->received, c->forwarded + c->dropped);

    fflush(log);
    assert_int_equal(s_count_lines_with(log_text, "queue full"), 1);
    assert_int_equal(s_count_lines_with(log_text, "queue drained; 15 reports dropped"), 1);
    free(bytes.data);
    close(peer);
    close(listener);
    stream_writer_destroy(&sw);
    fclose(log);
    free(log_text);
}

//  Nobody listens at start: reports wait within the byte limit, the writer
//  retries quietly (one log line), and delivers once the sink appears.
static void test_absent_peer_byte_limit_then_delivery(void **state)
{
    (void)state;
    char *log_text = NULL;
    size_t log_size = 0;
    FILE *log = open_memstream(&log_text, &log_size);
    assert_non_null(log);
    int held = s_refusing_socket();
    uint16_t port = s_port_of(held);
    size_t room = 0;  // exactly reports 2, 3 and 4
    for (unsigned i = 2; i <= 4; i++) {
        size_t len = 0;
        free(s_make_report(i, 3, &len));
        room += len;
    }
    stream_writer *sw = s_writer(TW_TRANSPORT_TCP, port, 100, room, 0, 0, log);
    int64_t until = s_now_ms() + 400;
    while (s_now_ms() < until)
        s_turn(sw, 10);
    assert_false(stream_writer_connected(sw));
    for (unsigned i = 0; i < 5; i++)
        s_enqueue_report(sw, i, 3, 0);
    const stream_writer_counters *c = stream_writer_get_counters(sw);
    assert_int_equal(c->dropped, 2);
    assert_int_equal(stream_writer_queued(sw), 3);
    s_enqueue_report(sw, 99, 200, -EMSGSIZE);  // larger than the whole queue
    assert_int_equal(c->dropped, 3);
    assert_int_equal(c->received, 6);
    assert_int_equal(stream_writer_enqueue(sw, "", 0), -EINVAL);
    assert_int_equal(stream_writer_enqueue(sw, "a\0b\n", 4), -EINVAL);  // no NUL on the wire
    assert_int_equal(c->received, 6);

    int listener = held;  // the sink appears on the port held all along
    assert_int_equal(listen(listener, 4), 0);
    int peer = s_accept(sw, listener);
    s_bytes bytes = {0};
    unsigned numbers[4];
    assert_int_equal(s_read_reports(sw, peer, &bytes, 3, 65536, numbers), 3);
    assert_int_equal(s_parse_reports(bytes.data, bytes.len, numbers, 4, false), 3);
    const unsigned expected[] = {2, 3, 4};
    assert_memory_equal(numbers, expected, sizeof expected);
    s_until_acknowledged(sw);
    assert_int_equal(c->forwarded, 3);
    assert_int_equal(c->reconnects, 0);  // the first connection is not a reconnection

    fflush(log);
    assert_int_equal(s_count_lines_with(log_text, ": connecting"), 1);
    assert_int_equal(s_count_lines_with(log_text, "cannot connect: Connection refused"), 1);
    assert_int_equal(s_count_lines_with(log_text, ": connected"), 1);
    free(bytes.data);
    close(peer);
    close(listener);
    stream_writer_destroy(&sw);
    fclose(log);
    free(log_text);
}

//  Backoff with a simulated clock: 100 ms doubling to 5 s, reset by a
//  connection, and no descriptor to poll while waiting.
static void test_backoff_schedule(void **state)
{
    (void)state;
    FILE *log = fopen("/dev/null", "w");
    assert_non_null(log);
    int held = s_refusing_socket();
    uint16_t port = s_port_of(held);
    stream_writer *sw = s_writer(TW_TRANSPORT_TCP, port, 0, 0, 0, 0, log);
    const int expected[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
    int64_t clock = 1000000;
    assert_int_equal(stream_writer_next_timeout_ms(sw, clock), 0);  // connect at once
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        stream_writer_handle(sw, 0, clock);
        for (int spin = 0; spin < 100 && stream_writer_fd(sw) >= 0; spin++) {
            struct pollfd item = {stream_writer_fd(sw), stream_writer_events(sw), 0};
            assert_true(poll(&item, 1, 10) >= 0);
            stream_writer_handle(sw, item.revents, clock);  // the refusal, at the same instant
        }
        assert_int_equal(stream_writer_fd(sw), -1);
        assert_int_equal(stream_writer_events(sw), 0);
        assert_int_equal(stream_writer_next_timeout_ms(sw, clock), expected[i]);
        assert_int_equal(stream_writer_next_timeout_ms(sw, clock + expected[i] - 1), 1);
        stream_writer_handle(sw, 0, clock + expected[i] - 1);  // too early: nothing happens
        assert_int_equal(stream_writer_fd(sw), -1);
        clock += expected[i];
    }
    // The sink appears: connection, then a loss restarts at 100 ms.
    int listener = held;  // the sink appears on the port held all along
    assert_int_equal(listen(listener, 4), 0);
    stream_writer_handle(sw, 0, clock);
    for (int spin = 0; spin < 100 && !stream_writer_connected(sw); spin++) {
        struct pollfd item = {stream_writer_fd(sw), stream_writer_events(sw), 0};
        assert_true(poll(&item, 1, 10) >= 0);
        stream_writer_handle(sw, item.revents, clock);
    }
    assert_true(stream_writer_connected(sw));
    int peer = -1;
    for (int spin = 0; spin < 100 && peer < 0; spin++) {
        peer = accept(listener, NULL, NULL);
        if (peer < 0)
            usleep(1000);
    }
    assert_true(peer >= 0);
    close(peer);
    for (int spin = 0; spin < 100 && stream_writer_connected(sw); spin++) {
        struct pollfd item = {stream_writer_fd(sw), stream_writer_events(sw), 0};
        assert_true(poll(&item, 1, 10) >= 0);
        stream_writer_handle(sw, item.revents, clock);
    }
    assert_false(stream_writer_connected(sw));
    assert_int_equal(stream_writer_next_timeout_ms(sw, clock), 100);
    close(listener);
    stream_writer_destroy(&sw);
    fclose(log);
}

//  The peer resets the connection in the middle of a big report: on the
//  new connection that report comes again from its first byte, whole, and
//  everything after it follows in order.
static void test_reset_mid_report_resends_it_whole(void **state)
{
    (void)state;
    char *log_text = NULL;
    size_t log_size = 0;
    FILE *log = open_memstream(&log_text, &log_size);
    assert_non_null(log);
    int listener = s_socket_on_loopback(SOCK_STREAM, 0, SMALL_BUFFER);
    stream_writer *sw = s_writer(TW_TRANSPORT_TCP, s_port_of(listener), 0, 0, SMALL_BUFFER, 0, log);
    s_enqueue_report(sw, 0, 3000, 0);
    for (unsigned i = 1; i < 10; i++)
        s_enqueue_report(sw, i, 20, 0);

    int first = s_accept(sw, listener);
    s_bytes cut = {0};
    while (cut.len < 20000) {
        s_turn(sw, 1);
        s_read_some(first, &cut, 4096);
    }
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(first, SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
    close(first);  // RST, with report 0 half read
    unsigned numbers[12];
    assert_int_equal(s_parse_reports(cut.data, cut.len, numbers, 12, true), 0);  // a cut prefix

    int second = s_accept(sw, listener);
    s_bytes bytes = {0};
    assert_int_equal(s_read_reports(sw, second, &bytes, 10, 65536, numbers), 10);
    assert_int_equal(s_parse_reports(bytes.data, bytes.len, numbers, 12, false), 10);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(numbers[i], i);

    s_until_acknowledged(sw);
    const stream_writer_counters *c = stream_writer_get_counters(sw);
    print_message("reset: first connection read %zu bytes; received %llu, forwarded %llu, "
                  "dropped %llu, resent %llu, reconnects %llu\n",
                  cut.len, (unsigned long long)c->received, (unsigned long long)c->forwarded,
                  (unsigned long long)c->dropped, (unsigned long long)c->resent,
                  (unsigned long long)c->reconnects);
    assert_int_equal(c->resent, 1);
    assert_int_equal(c->reconnects, 1);
    assert_int_equal(c->forwarded, 10);
    assert_int_equal(c->dropped, 0);
    fflush(log);
    assert_int_equal(s_count_lines_with(log_text, "connection lost"), 1);
    assert_int_equal(s_count_lines_with(log_text, ": connected"), 2);
    free(cut.data);
    free(bytes.data);
    close(second);
    close(listener);
    stream_writer_destroy(&sw);
    fclose(log);
    free(log_text);
}

//  A sink that accepts, reads a little and resets, as in the report "forwarded
//  3000, dropped 0, resent 0 while the sink read at most 15 KB": the writer's
//  kernel took far more than the sink ever got, and none of that counts as
//  forwarded. A report is forwarded once the sink's kernel acknowledged all
//  its bytes (at most what the sink read plus what it left unread); every
//  other report comes again whole, from the oldest, on the next connection.
static void test_resetting_sink_gets_no_false_forwards(void **state)
{
    (void)state;
    enum { REPORTS = 200, LINES = 20 };
    FILE *log = fopen("/dev/null", "w");
    assert_non_null(log);
    int listener = s_socket_on_loopback(SOCK_STREAM, 0, SMALL_BUFFER);
    // The system's send buffer: on loopback it takes megabytes at once.
    stream_writer *sw = s_writer(TW_TRANSPORT_TCP, s_port_of(listener), 0, 0, 0, 0, log);
    size_t lengths[REPORTS];
    for (unsigned i = 0; i < REPORTS; i++) {
        free(s_make_report(i, LINES, &lengths[i]));
        s_enqueue_report(sw, i, LINES, 0);
    }
    int first = s_accept(sw, listener);
    s_bytes got = {0};
    while (got.len < 6000) {
        s_turn(sw, 1);
        s_read_some(first, &got, 1500);
    }
    for (int turn = 0; turn < 20; turn++)  // the sink's buffer fills; the writer looks at acks
        s_turn(sw, 2);
    int unread = 0;
    assert_int_equal(ioctl(first, FIONREAD, &unread), 0);
    size_t reached = got.len + (size_t)unread;  // the most the sink's kernel can acknowledge
    unsigned whole = 0;
    for (size_t sum = lengths[0]; whole < REPORTS && sum <= reached; sum += lengths[++whole])
        ;
    const stream_writer_counters *c = stream_writer_get_counters(sw);
    assert_true(c->bytes > reached + 100000);  // the kernel took what the sink never got
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(first, SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
    close(first);
    int64_t deadline = s_now_ms() + DEADLINE_MS;
    while (stream_writer_connected(sw) && s_now_ms() < deadline)
        s_turn(sw, 5);
    assert_false(stream_writer_connected(sw));
    uint64_t forwarded = c->forwarded;
    print_message("resetting sink: %llu bytes written, sink read %zu and left %d unread (%u whole "
                  "reports); at the reset forwarded %llu, resent %llu\n",
                  (unsigned long long)c->bytes, got.len, unread, whole,
                  (unsigned long long)forwarded, (unsigned long long)c->resent);
    assert_true(forwarded <= whole);
    assert_true(c->resent >= 1);
    assert_true(c->resent <= REPORTS - forwarded);
    unsigned numbers[REPORTS + 1];
    size_t read_whole = s_parse_reports(got.data, got.len, numbers, REPORTS + 1, true);
    assert_true(read_whole <= forwarded + 1);  // at most the one being acknowledged

    int second = s_accept(sw, listener);
    s_bytes again = {0};
    size_t want = REPORTS - (size_t)forwarded;
    assert_int_equal(s_read_reports(sw, second, &again, want, 65536, numbers), want);
    assert_int_equal(s_parse_reports(again.data, again.len, numbers, REPORTS + 1, false), want);
    for (size_t i = 0; i < want; i++)
        assert_int_equal(numbers[i], forwarded + i);  // from the oldest unacknowledged, in order
    s_until_acknowledged(sw);
    assert_int_equal(c->forwarded, REPORTS);
    assert_int_equal(c->dropped, 0);
    assert_int_equal(c->reconnects, 1);
    free(got.data);
    free(again.data);
    close(second);
    close(listener);
    stream_writer_destroy(&sw);
    fclose(log);
}

//  A peer that closes while nothing is queued is noticed at once (by its
//  EOF, not by losing the next report), and the next report goes whole to
//  the new connection.
static void test_idle_close_detected_and_reconnected(void **state)
{
    (void)state;
    FILE *log = fopen("/dev/null", "w");
    assert_non_null(log);
    int listener = s_socket_on_loopback(SOCK_STREAM, 0, 0);
    stream_writer *sw = s_writer(TW_TRANSPORT_TCP, s_port_of(listener), 0, 0, 0, 0, log);
    s_enqueue_report(sw, 1, 5, 0);
    int first = s_accept(sw, listener);
    s_bytes bytes = {0};
    unsigned numbers[4];
    assert_int_equal(s_read_reports(sw, first, &bytes, 1, 65536, numbers), 1);
    s_until_acknowledged(sw);
    assert_true(stream_writer_queue_empty(sw));
    assert_true(send(first, "hello\n", 6, MSG_NOSIGNAL) == 6);  // read and discarded
    close(first);                                               // FIN, writer idle

    const stream_writer_counters *c = stream_writer_get_counters(sw);
    int64_t deadline = s_now_ms() + 2000;
    while (c->reconnects == 0 && s_now_ms() < deadline)
        s_turn(sw, 10);
    assert_int_equal(c->reconnects, 1);  // without a report to send
    s_enqueue_report(sw, 2, 5, 0);
    int second = s_accept(sw, listener);
    s_bytes again = {0};
    assert_int_equal(s_read_reports(sw, second, &again, 1, 65536, numbers), 1);
    assert_int_equal(numbers[0], 2);
    s_until_acknowledged(sw);
    assert_int_equal(c->forwarded, 2);
    assert_int_equal(c->resent, 0);
    free(bytes.data);
    free(again.data);
    close(second);
    close(listener);
    stream_writer_destroy(&sw);
    fclose(log);
}

//  A sink whose accept queue is full drops our SYNs: the connect times out
//  (connect_timeout_ms), is logged once, retried, and succeeds once the
//  queue has room again.
static void test_connect_timeout_then_recovery(void **state)
{
    (void)state;
    char *log_text = NULL;
    size_t log_size = 0;
    FILE *log = open_memstream(&log_text, &log_size);
    assert_non_null(log);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(listener >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(listener, (struct sockaddr *)&address, sizeof address), 0);
    assert_int_equal(listen(listener, 0), 0);
    socklen_t size = sizeof address;
    assert_int_equal(getsockname(listener, (struct sockaddr *)&address, &size), 0);
    int fillers[4];
    for (int i = 0; i < 4; i++) {  // fill the accept queue; later SYNs are dropped
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fillers[i] >= 0);
        int rc = connect(fillers[i], (struct sockaddr *)&address, sizeof address);
        assert_true(rc == 0 || errno == EINPROGRESS);
    }
    usleep(50 * 1000);

    char *text = NULL;
    assert_true(asprintf(&text, "tcp://127.0.0.1:%u", ntohs(address.sin_port)) > 0);
    tw_endpoint endpoint;
    assert_int_equal(tw_endpoint_parse(text, &endpoint, NULL), 0);
    free(text);
    stream_writer_options options = {.endpoint = &endpoint, .connect_timeout_ms = 200, .log = log};
    stream_writer *sw = stream_writer_new(&options);
    assert_non_null(sw);
    tw_endpoint_clear(&endpoint);
    s_enqueue_report(sw, 1, 5, 0);
    int64_t until = s_now_ms() + 800;
    while (s_now_ms() < until)
        s_turn(sw, 20);
    assert_false(stream_writer_connected(sw));
    fflush(log);
    assert_int_equal(s_count_lines_with(log_text, "cannot connect: Connection timed out"), 1);

    // A sink that answers again on the same port.
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(listener);
    listener = s_socket_on_loopback(SOCK_STREAM, ntohs(address.sin_port), 0);
    int peer = s_accept(sw, listener);
    s_bytes bytes = {0};
    unsigned numbers[2];
    assert_true(peer >= 0);
    assert_int_equal(s_read_reports(sw, peer, &bytes, 1, 65536, numbers), 1);
    assert_int_equal(numbers[0], 1);
    assert_true(stream_writer_connected(sw));
    free(bytes.data);
    close(peer);
    close(listener);
    stream_writer_destroy(&sw);
    fclose(log);
    free(log_text);
}

//  The same path over IPv6 loopback, the endpoint written with brackets.
static void test_ipv6_loopback(void **state)
{
    (void)state;
    int listener = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(listener >= 0);
    struct sockaddr_in6 address = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0) {
        close(listener);
        skip();  // no ::1 here
    }
    assert_int_equal(listen(listener, 4), 0);
    socklen_t size = sizeof address;
    assert_int_equal(getsockname(listener, (struct sockaddr *)&address, &size), 0);
    char *text = NULL;
    assert_true(asprintf(&text, "tcp://[::1]:%u", ntohs(address.sin6_port)) > 0);
    tw_endpoint endpoint;
    assert_int_equal(tw_endpoint_parse(text, &endpoint, NULL), 0);
    free(text);
    FILE *log = fopen("/dev/null", "w");
    assert_non_null(log);
    stream_writer_options options = {.endpoint = &endpoint, .log = log};
    stream_writer *sw = stream_writer_new(&options);
    assert_non_null(sw);
    tw_endpoint_clear(&endpoint);
    for (unsigned i = 0; i < 3; i++)
        s_enqueue_report(sw, i, 10, 0);
    int peer = s_accept(sw, listener);
    s_bytes bytes = {0};
    unsigned numbers[4];
    assert_int_equal(s_read_reports(sw, peer, &bytes, 3, 65536, numbers), 3);
    assert_int_equal(s_parse_reports(bytes.data, bytes.len, numbers, 4, false), 3);
    assert_int_equal(numbers[2], 2);
    free(bytes.data);
    close(peer);
    close(listener);
    stream_writer_destroy(&sw);
    fclose(log);
}

// ---------------------------------------------------------------------------
// UDP

typedef struct {
    char *data;
    size_t len;
    uint16_t from_port;
} s_datagram;

static size_t s_receive_datagrams(stream_writer *sw, int fd, s_datagram *out, size_t max,
                                  size_t want_bytes)
{
    size_t count = 0, total = 0;
    int64_t deadline = s_now_ms() + DEADLINE_MS;
    while (total < want_bytes && s_now_ms() < deadline) {
        s_turn(sw, 1);
        char buffer[65536];
        struct sockaddr_in from;
        socklen_t size = sizeof from;
        ssize_t n =
            recvfrom(fd, buffer, sizeof buffer, MSG_DONTWAIT, (struct sockaddr *)&from, &size);
        if (n < 0) {
            assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
            continue;
        }
        assert_true(count < max);
        out[count].data = malloc((size_t)n + 1);
        assert_non_null(out[count].data);
        memcpy(out[count].data, buffer, (size_t)n);
        out[count].len = (size_t)n;
        out[count].from_port = ntohs(from.sin_port);
        total += (size_t)n;
        count++;
    }
    return count;
}

//  Sends a 41 KB report ending in a 20000-byte line, then a small one, with
//  datagrams of at most limit bytes (0: the default), and checks the split:
//  whole lines, each datagram as full as whole lines allow, a line cut only
//  when longer than a datagram, report 2 in a datagram of its own, one
//  source port. Returns the datagram sizes in sizes[] and their count.
static size_t s_check_udp_split(size_t limit, size_t *sizes, size_t max)
{
    size_t effective = limit ? limit : STREAM_WRITER_MAX_DATAGRAM;
    int receiver = s_socket_on_loopback(SOCK_DGRAM, 0, 1 << 20);
    stream_writer *sw = s_writer(TW_TRANSPORT_UDP, s_port_of(receiver), 0, 0, 0, limit, NULL);

    size_t head_len = 0, tail_len = 0;
    char *head = s_make_report(1, 300, &head_len);
    char *tail = s_make_report(2, 10, &tail_len);
    s_bytes report = {0};
    s_append(&report, head, head_len - 1);  // without its empty last line
    char *long_line = malloc(20001);
    assert_non_null(long_line);
    memset(long_line, 'L', 20000);
    long_line[20000] = '\n';
    s_append(&report, long_line, 20001);
    s_append(&report, "\n", 1);
    assert_int_equal(stream_writer_enqueue(sw, report.data, report.len), 0);
    assert_int_equal(stream_writer_enqueue(sw, tail, tail_len), 0);

    s_datagram grams[32];
    size_t count = s_receive_datagrams(sw, receiver, grams, 32, report.len + tail_len);
    s_bytes joined = {0};
    for (size_t i = 0; i < count; i++) {
        assert_true(grams[i].len <= effective);
        assert_int_equal(grams[i].from_port, grams[0].from_port);  // one source port
        s_append(&joined, grams[i].data, grams[i].len);
    }
    assert_int_equal(joined.len, report.len + tail_len);
    assert_memory_equal(joined.data, report.data, report.len);
    assert_memory_equal(joined.data + report.len, tail, tail_len);

    size_t pos = 0, i = 0;
    for (; pos < report.len; i++) {
        assert_true(i < count);
        const char *at = report.data + pos;
        size_t left = report.len - pos;
        size_t len = grams[i].len;
        assert_memory_equal(grams[i].data, at, len);
        if (left > effective) {
            const char *next_line = memchr(at + len, '\n', left - len);
            if (at[len - 1] == '\n')  // greedy: the next line would not have fit
                assert_true(next_line && (size_t)(next_line + 1 - at) > effective);
            else  // cut inside a line only when it is longer than a datagram
                assert_int_equal(len, effective);
        }
        pos += len;
    }
    assert_int_equal(pos, report.len);  // report 2 starts a datagram
    assert_int_equal(i + 1, count);
    assert_int_equal(grams[i].len, tail_len);
    print_message("udp, limit %zu: %zu + %zu bytes in %zu datagrams:", effective, report.len,
                  tail_len, count);
    for (size_t k = 0; k < count; k++) {
        print_message(" %zu", grams[k].len);
        if (k < max)
            sizes[k] = grams[k].len;
        free(grams[k].data);
    }
    print_message("\n");

    const stream_writer_counters *c = stream_writer_get_counters(sw);
    assert_int_equal(c->forwarded, 2);
    assert_int_equal(c->bytes, report.len + tail_len);
    free(joined.data);
    free(report.data);
    free(long_line);
    free(head);
    free(tail);
    close(receiver);
    stream_writer_destroy(&sw);
    return count;
}

static void test_udp_splits_at_line_boundaries(void **state)
{
    (void)state;
    size_t sizes[32];
    // 16 KiB datagrams: lines up to 16 KiB, the lines left before the long
    // one, the long line cut at 16384, its rest with the empty last line,
    // then report 2.
    assert_int_equal(s_check_udp_split(16384, sizes, 32), 5);
    assert_int_equal(sizes[2], 16384);
    assert_int_equal(sizes[3], 20001 - 16384 + 1);
    // The default, 8 KiB: the long line in 8192 + 8192 + 3617 bytes.
    size_t count = s_check_udp_split(0, sizes, 32);
    assert_true(count >= 6);
    assert_int_equal(sizes[count - 4], 8192);
    assert_int_equal(sizes[count - 3], 8192);
    assert_int_equal(sizes[count - 2], 20001 - 2 * 8192 + 1);
}

//  No listener: port-unreachable errors are counted, not fatal; when a
//  listener appears on that port, the same socket reaches it.
static void test_udp_refused_is_counted_then_heard(void **state)
{
    (void)state;
    FILE *log = fopen("/dev/null", "w");
    assert_non_null(log);
    uint16_t port = s_free_port(SOCK_DGRAM);
    stream_writer *sw = s_writer(TW_TRANSPORT_UDP, port, 0, 0, 0, 0, log);
    for (unsigned i = 0; i < 5; i++) {
        s_enqueue_report(sw, i, 3, 0);
        for (int turn = 0; turn < 5; turn++)
            s_turn(sw, 5);
    }
    const stream_writer_counters *c = stream_writer_get_counters(sw);
    print_message("udp without listener: forwarded %llu, refused %llu\n",
                  (unsigned long long)c->forwarded, (unsigned long long)c->refused);
    assert_true(c->refused >= 1);
    assert_int_equal(c->forwarded, 5);
    assert_int_equal(c->dropped, 0);
    assert_true(stream_writer_connected(sw));

    int receiver = s_socket_on_loopback(SOCK_DGRAM, port, 0);
    size_t len = 0;
    free(s_make_report(5, 3, &len));
    s_enqueue_report(sw, 5, 3, 0);
    s_datagram gram[2];
    assert_int_equal(s_receive_datagrams(sw, receiver, gram, 2, len), 1);
    unsigned numbers[2];
    assert_int_equal(s_parse_reports(gram[0].data, gram[0].len, numbers, 2, false), 1);
    assert_int_equal(numbers[0], 5);
    free(gram[0].data);
    close(receiver);
    stream_writer_destroy(&sw);
    fclose(log);
}

static void test_options_and_counters_line(void **state)
{
    (void)state;
    tw_endpoint endpoint;
    assert_int_equal(tw_endpoint_parse("udp://127.0.0.1:9", &endpoint, NULL), 0);
    FILE *log = fopen("/dev/null", "w");
    assert_non_null(log);
    stream_writer_options options = {.endpoint = &endpoint, .max_datagram = 65508, .log = log};
    assert_null(stream_writer_new(&options));
    options.max_datagram = 0;
    stream_writer *sw = stream_writer_new(&options);
    assert_non_null(sw);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    assert_non_null(out);
    stream_writer_print_counters(sw, out);
    fclose(out);
    assert_string_equal(text, "tcpwin-subscriber: udp://127.0.0.1:9: received 0, forwarded 0, "
                              "dropped 0, reconnects 0, bytes 0, resent 0, queued 0, refused 0\n");
    free(text);
    stream_writer_destroy(&sw);
    tw_endpoint_clear(&endpoint);
    fclose(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_reader_gets_whole_reports_in_order),
        cmocka_unit_test(test_full_queue_drops_oldest_waiting_whole_reports),
        cmocka_unit_test(test_absent_peer_byte_limit_then_delivery),
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_reset_mid_report_resends_it_whole),
        cmocka_unit_test(test_resetting_sink_gets_no_false_forwards),
        cmocka_unit_test(test_idle_close_detected_and_reconnected),
        cmocka_unit_test(test_connect_timeout_then_recovery),
        cmocka_unit_test(test_ipv6_loopback),
        cmocka_unit_test(test_udp_splits_at_line_boundaries),
        cmocka_unit_test(test_udp_refused_is_counted_then_heard),
        cmocka_unit_test(test_options_and_counters_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
