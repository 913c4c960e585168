// SPDX-License-Identifier: MPL-2.0
/*  publisher: what strangers can do to the producer's XPUB socket, with real
    ZeroMQ sockets on loopback: subscriptions that are not ours are refused,
    counted and never applied, an oversized subscription message ends its
    connection, and a late joiner's replay reaches the joiner alone.

    libzmq 4.3.4 keeps every subscription a peer sends, in manual mode too
    (xpub.cpp, _manual_subscriptions, freed only when the peer cancels it or
    goes), so the publisher cuts the connections of a peer that sends a
    refused one; the flood test checks that memory stays flat. */
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

//  Resident memory says nothing under AddressSanitizer (its quarantine keeps
//  freed memory, its shadow adds more): there, the memory bounds are not
//  asserted, everything else is.
#if defined(__SANITIZE_ADDRESS__)
#define RSS_MEANINGFUL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_MEANINGFUL 0
#endif
#endif
#ifndef RSS_MEANINGFUL
#define RSS_MEANINGFUL 1
#endif

#include "child_process.h"
#include "free_port.h"
#include "publisher.h"
#include "wire.h"

typedef struct {
    publisher *pub;
    char endpoint[64];
    const char *endpoints[1];
} fixture;

static int s_setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    // Another port when the one found free was taken before the bind.
    for (int attempt = 0; attempt < 5 && !f.pub; attempt++) {
        int port = free_port();
        assert_true(port > 0);
        snprintf(f.endpoint, sizeof f.endpoint, "tcp://127.0.0.1:%d", port);
        f.endpoints[0] = f.endpoint;
        publisher_options options = {.endpoints = f.endpoints,
                                     .n_endpoints = 1,
                                     .producer_id = "test",
                                     .send_timeout_ms = 0,
                                     .sndhwm = 1000,
                                     .max_queue_bytes = 8u << 20};
        f.pub = publisher_new(&options);
    }
    assert_non_null(f.pub);
    *state = &f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture *f = *state;
    child_kill_all();  // a stranger still held, after a failed assertion
    publisher_destroy(&f->pub);
    return 0;
}

//  Resident memory of this process in KiB.
static long s_rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    assert_non_null(statm);
    assert_int_equal(fscanf(statm, "%ld %ld", &pages, &resident), 2);
    fclose(statm);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

//  Reads subscription messages until `refused` were refused or 30 s passed
//  (a generous bound: a loaded machine takes a few seconds for thousands).
static void s_pump_until(fixture *f, uint64_t refused, int subscriptions)
{
    int64_t deadline = zclock_mono() + 30000;
    while (zclock_mono() < deadline && publisher_refused(f->pub) < refused)
        publisher_process_subscriptions(f->pub, 50);
    assert_true(publisher_refused(f->pub) >= refused);
    if (subscriptions > 0)
        assert_int_equal(publisher_wait_subscribers(f->pub, subscriptions, 5000), subscriptions);
}

static void s_send_report(fixture *f, int64_t time_us)
{
    Tcpwin__Report report = TCPWIN__REPORT__INIT;
    Tcpwin__Header header = TCPWIN__HEADER__INIT;
    Tcpwin__Counters counters = TCPWIN__COUNTERS__INIT;
    report.header = &header;
    report.counters = &counters;
    report.time_us = time_us;
    assert_int_equal(publisher_send_report(f->pub, &report), 0);
}

//  Report messages a SUB socket gets: waits up to ms for `expect` of them,
//  then 50 ms more for any extra one, and returns how many came.
static int s_count_received(zsock_t *sub, int expect, int ms)
{
    int n = 0;
    zpoller_t *poller = zpoller_new(sub, NULL);
    int64_t deadline = zclock_mono() + ms;
    while (zpoller_wait(poller, n < expect ? (int)(deadline - zclock_mono()) : 50) == sub) {
        zmsg_t *msg = zmsg_recv(sub);
        assert_non_null(msg);
        char *topic = zmsg_popstr(msg);
        assert_string_equal(topic, TW_TOPIC_REPORT);
        zstr_free(&topic);
        zmsg_destroy(&msg);
        n++;
        if (n < expect && zclock_mono() >= deadline)
            break;
    }
    zpoller_destroy(&poller);
    return n;
}

//  A stranger in a child process (an XSUB keeps what it sends, so in this
//  process its memory would hide ours; child_process.h): connects, sends
//  `count` subscription messages of `size` bytes (distinct, not our topics
//  unless `ours`), then waits for a byte on `hold` before it leaves.
static pid_t s_stranger(const char *endpoint, int count, size_t size, bool ours, int hold[2])
{
    char count_arg[16], size_arg[24], hold_arg[16];
    snprintf(count_arg, sizeof count_arg, "%d", count);
    snprintf(size_arg, sizeof size_arg, "%zu", size);
    snprintf(hold_arg, sizeof hold_arg, "%d", hold[0]);
    // Not in the child: the parent's end, closed, is an end of file there.
    assert_int_equal(fcntl(hold[1], F_SETFD, FD_CLOEXEC), 0);
    char *argv[] = {"test_publisher", "stranger",       (char *)endpoint, count_arg,
                    size_arg,         ours ? "1" : "0", hold_arg,         NULL};
    pid_t pid = child_spawn(argv);
    assert_true(pid > 0);
    return pid;
}

//  The stranger child (`stranger ENDPOINT COUNT SIZE OURS HOLD_FD`).
_Noreturn static void s_stranger_main(const char *endpoint, int count, size_t size, bool ours,
                                      int hold)
{
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_XSUB);
    if (!sock || zmq_connect(sock, endpoint) != 0)
        _exit(2);
    uint8_t *sub = calloc(1, size);
    if (!sub)
        _exit(2);
    memset(sub, 'x', size);
    sub[0] = 1;
    if (ours)
        memcpy(sub + 1, TW_TOPIC_REPORT, strlen(TW_TOPIC_REPORT));
    for (int i = 0; i < count; i++) {
        if (!ours)
            memcpy(sub + 1, &i, sizeof i);
        if (zmq_send(sock, sub, size, 0) != (int)size)
            _exit(3);
    }
    char byte;
    (void)read(hold, &byte, 1);
    _exit(0);
}

static void s_release(pid_t pid, int hold_writer)
{
    assert_int_equal(write(hold_writer, "x", 1), 1);
    int status;
    assert_true(child_reap_within(pid, 10000, &status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_foreign_subscriptions_are_refused_and_counted(void **state)
{
    fixture *f = *state;
    publisher_process_subscriptions(f->pub, 100);
    long before = s_rss_kib();
    // 20,000 distinct subscriptions of 60 bytes (under the 64-byte limit;
    // longer ones end their connection in libzmq, see the next test):
    // before, the producer kept every subscription while the peer stayed
    // (the issue measured 9.9 MB -> 647 MB for 20,000 of 1 KB). Now the
    // connection is cut at the first refused one; its XSUB reconnects and
    // sends them all again, and is cut again, for a few seconds.
    enum { FLOOD = 20000 };
    int hold[2];
    assert_int_equal(pipe(hold), 0);
    pid_t child = s_stranger(f->endpoint, FLOOD, 60, false, hold);
    int64_t until = zclock_mono() + 3000;
    while (zclock_mono() < until)
        publisher_process_subscriptions(f->pub, 50);
    long grown = s_rss_kib() - before;
    print_message("20,000 foreign subscriptions, 3 s: refused %llu, connections cut %llu, "
                  "resident memory %+ld KiB\n",
                  (unsigned long long)publisher_refused(f->pub),
                  (unsigned long long)publisher_evicted(f->pub), grown);
    assert_true(publisher_refused(f->pub) > 0);
    assert_true(publisher_evicted(f->pub) > 0);
    assert_true(!RSS_MEANINGFUL || grown < 16 * 1024);
    // None was applied: the stranger's subscriptions count for nothing.
    assert_int_equal(publisher_wait_subscribers(f->pub, 0, 0), 0);
    s_release(child, hold[1]);
    close(hold[0]);
    close(hold[1]);
}

static void test_oversized_subscription_ends_the_connection(void **state)
{
    fixture *f = *state;
    zsock_t *dashboard = zsock_new_sub(f->endpoint, TW_TOPIC_REPORT);
    assert_non_null(dashboard);
    s_pump_until(f, 0, 1);
    int hold[2];
    assert_int_equal(pipe(hold), 0);
    // A 10 MB subscription to our own topic: libzmq ends the connection at
    // the 64-byte limit, so it is never read whole nor counted (before: it
    // cost the producer 550 MB).
    pid_t child = s_stranger(f->endpoint, 1, 10 * 1024 * 1024, true, hold);
    for (int i = 0; i < 20; i++)
        publisher_process_subscriptions(f->pub, 50);
    assert_int_equal(publisher_wait_subscribers(f->pub, 0, 0), 1);  // the dashboard alone
    s_release(child, hold[1]);
    close(hold[0]);
    close(hold[1]);
    // The dashboard still gets reports.
    s_send_report(f, 1);
    assert_int_equal(s_count_received(dashboard, 1, 2000), 1);
    zsock_destroy(&dashboard);
}

static void test_late_joiner_replay_reaches_the_joiner_alone(void **state)
{
    fixture *f = *state;
    zsock_t *steady = zsock_new_sub(f->endpoint, "tcpwin.");
    assert_non_null(steady);
    s_pump_until(f, 0, 1);
    int before = publisher_wait_subscribers(f->pub, 0, 0);
    for (int i = 0; i < 3; i++)
        s_send_report(f, 10 + i);
    assert_int_equal(s_count_received(steady, 3, 2000), 3);
    // Ten joiners, each greeted with the latest report; the steady
    // subscriber gets nothing more.
    zsock_t *joiners[10];
    for (int j = 0; j < 10; j++) {
        joiners[j] = zsock_new_sub(f->endpoint, j % 2 ? "" : TW_TOPIC_REPORT);
        assert_non_null(joiners[j]);
    }
    assert_int_equal(publisher_wait_subscribers(f->pub, before + 10, 5000), before + 10);
    for (int j = 0; j < 10; j++)
        assert_int_equal(s_count_received(joiners[j], 1, 2000), 1);
    assert_int_equal(s_count_received(steady, 0, 0), 0);
    // Later reports reach everyone again.
    s_send_report(f, 20);
    assert_int_equal(s_count_received(steady, 1, 2000), 1);
    for (int j = 0; j < 10; j++) {
        assert_int_equal(s_count_received(joiners[j], 1, 2000), 1);
        zsock_destroy(&joiners[j]);
    }
    zsock_destroy(&steady);
}

//  A report of about `bytes` bytes: one host row whose address field is big
//  (the publisher does not look inside).
static void s_send_big_report(fixture *f, uint8_t *blob, size_t bytes)
{
    Tcpwin__Report report = TCPWIN__REPORT__INIT;
    Tcpwin__Header header = TCPWIN__HEADER__INIT;
    Tcpwin__Counters counters = TCPWIN__COUNTERS__INIT;
    Tcpwin__HostRow row = TCPWIN__HOST_ROW__INIT;
    Tcpwin__HostRow *rows[] = {&row};
    row.ip = (ProtobufCBinaryData){bytes, blob};
    report.header = &header;
    report.counters = &counters;
    report.hosts = rows;
    report.n_hosts = 1;
    assert_int_equal(publisher_send_report(f->pub, &report), 0);
}

//  A subscriber that never reads holds about max_queue_bytes (8 MiB here)
//  of 1 MB reports, not sndhwm (1,000) of them: before, 200 such reports
//  all stayed queued (the issue measured 4.27 GB with 20 MB reports).
static void test_a_stalled_subscriber_holds_a_bounded_number_of_bytes(void **state)
{
    fixture *f = *state;
    zsock_t *stalled = zsock_new(ZMQ_SUB);
    assert_non_null(stalled);
    zsock_set_rcvhwm(stalled, 1);
    zsock_set_rcvbuf(stalled, 64 * 1024);
    zsock_set_subscribe(stalled, TW_TOPIC_REPORT);
    assert_int_equal(zsock_connect(stalled, "%s", f->endpoint), 0);
    s_pump_until(f, 0, 1);
    size_t bytes = 1000 * 1000;
    uint8_t *blob = malloc(bytes);
    assert_non_null(blob);
    memset(blob, 0xab, bytes);
    long before = s_rss_kib();
    for (int i = 0; i < 200; i++)
        s_send_big_report(f, blob, bytes);
    zclock_sleep(500);  // let the I/O thread move what it can
    long grown = s_rss_kib() - before;
    print_message("200 reports of 1 MB to a subscriber that never reads: queue bound %d "
                  "messages, resident memory %+ld KiB, %llu drop(s) counted\n",
                  publisher_queue_bound(f->pub), grown,
                  (unsigned long long)publisher_dropped(f->pub));
    assert_int_equal(publisher_queue_bound(f->pub), 8);
    assert_true(publisher_dropped(f->pub) > 0);
    // 8 queued, one being written, the latest kept for replay, and what
    // the stalled side (same process) took: far below 200 MB.
    assert_true(!RSS_MEANINGFUL || grown < 40 * 1024);
    free(blob);
    zsock_destroy(&stalled);
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    if (argc == 7 && strcmp(argv[1], "stranger") == 0)
        s_stranger_main(argv[2], atoi(argv[3]), strtoul(argv[4], NULL, 10), argv[5][0] == '1',
                        atoi(argv[6]));
    // The memory test first, while the heap has no freed memory to reuse.
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_stalled_subscriber_holds_a_bounded_number_of_bytes,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_subscriptions_are_refused_and_counted, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_subscription_ends_the_connection, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_late_joiner_replay_reaches_the_joiner_alone, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
