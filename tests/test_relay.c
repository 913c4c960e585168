// SPDX-License-Identifier: MPL-2.0
/*  relay: a dashboard that floods the relay with subscriptions that are not
    ours. Real processes on loopback: the relay runs in a child (relay_main,
    as `tcpwin-subscriber relay`), a stranger in another child, both this
    program started again (child_process.h); this process is the producer
    upstream (an XPUB that sees what the relay passes up) and a legitimate
    dashboard. The relay must pass nothing foreign upstream, keep its
    memory flat, and keep relaying. */
#include <czmq.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "relay.h"
#include "signals.h"
#include "wire.h"

//  How long the relay may take to subscribe upstream, bound or not: a
//  generous bound for a loaded machine, not a speed goal.
#define RELAY_START_MS 10000

typedef struct {
    zsock_t *producer;   // upstream of the relay
    zpoller_t *poller;   // on the producer
    zsock_t *dashboard;  // downstream
    pid_t relay;
    char upstream[64];
    char bind[64];
} fixture;

static int s_setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    f.producer = zsock_new(ZMQ_XPUB);
    assert_non_null(f.producer);
    zsock_set_xpub_verbose(f.producer, 1);
    int port = zsock_bind(f.producer, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    snprintf(f.upstream, sizeof f.upstream, "tcp://127.0.0.1:%d", port);
    f.poller = zpoller_new(f.producer, NULL);
    assert_non_null(f.poller);
    *state = &f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture *f = *state;
    child_kill_all();  // after a failed assertion, the relay and the stranger too
    zpoller_destroy(&f->poller);
    zsock_destroy(&f->dashboard);
    zsock_destroy(&f->producer);
    return 0;
}

//  Resident memory of pid in KiB.
static long s_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *status = fopen(path, "r");
    assert_non_null(status);
    long kib = -1;
    while (fgets(line, sizeof line, status))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(status);
    return kib;
}

//  The stranger child (`stranger ENDPOINT COUNT SECONDS`): floods endpoint
//  with count distinct 60-byte subscriptions not of ours, from an XSUB that
//  resends them all at each reconnection, for `seconds`.
_Noreturn static void s_stranger_main(const char *endpoint, int count, int seconds)
{
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_XSUB);
    if (!sock || zmq_connect(sock, endpoint) != 0)
        _exit(2);
    uint8_t sub[60];  // under the 64-byte limit, so the relay itself refuses them
    memset(sub, 'x', sizeof sub);
    sub[0] = 1;
    for (int i = 0; i < count; i++) {
        memcpy(sub + 1, &i, sizeof i);
        if (zmq_send(sock, sub, sizeof sub, 0) != (int)sizeof sub)
            _exit(3);
    }
    sleep((unsigned)seconds);
    _exit(0);
}

//  The relay child (`relay UPSTREAM BIND`). Returns its exit status.
static int s_relay_main(const char *upstream, const char *bind)
{
    tw_signals_install();
    const char *endpoints[] = {upstream};
    receiver_options options = {.endpoints = endpoints, .n_endpoints = 1};
    char *argv[] = {"relay", "--bind", (char *)bind, NULL};
    return relay_main(&options, 3, argv);
}

typedef enum { RELAY_SUBSCRIBED, RELAY_EXITED, RELAY_SILENT } relay_start;

//  Starts a relay on f->bind and waits for what it does first once bound:
//  subscribe upstream to everything of ours, once, on its own.
static relay_start s_try_relay(fixture *f)
{
    char *argv[] = {"test_relay", "relay", f->upstream, f->bind, NULL};
    f->relay = child_spawn(argv);
    assert_true(f->relay > 0);
    int64_t deadline = zclock_mono() + RELAY_START_MS;
    while (zclock_mono() < deadline) {
        if (zpoller_wait(f->poller, 100) == f->producer) {
            zframe_t *first = zframe_recv(f->producer);
            assert_non_null(first);
            bool everything = zframe_streq(first, "\x01tcpwin.");
            zframe_destroy(&first);
            assert_true(everything);
            return RELAY_SUBSCRIBED;
        }
        int status;
        if (child_reap_within(f->relay, 0, &status)) {
            print_message("relay on %s ended before subscribing upstream (wait status %d)\n",
                          f->bind, status);
            f->relay = 0;
            return RELAY_EXITED;
        }
    }
    return RELAY_SILENT;
}

//  Starts the relay on a free port, and another when one ends before it
//  subscribed (its bind failed: the port was taken since it was found
//  free). Fails when a relay stays silent, alive.
static void s_start_relay(fixture *f)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = free_port();
        assert_true(port > 0);
        snprintf(f->bind, sizeof f->bind, "tcp://127.0.0.1:%d", port);
        relay_start started = s_try_relay(f);
        if (started == RELAY_SUBSCRIBED)
            return;
        if (started == RELAY_SILENT)
            fail_msg("the relay on %s (pid %d) did not subscribe upstream (%s) within %d ms",
                     f->bind, (int)f->relay, f->upstream, RELAY_START_MS);
    }
    fail_msg("no relay started: 5 ended before subscribing upstream");
}

static void test_foreign_subscriptions_stop_at_the_relay(void **state)
{
    fixture *f = *state;
    s_start_relay(f);
    pid_t relay = f->relay;
    zsock_t *producer = f->producer;
    zpoller_t *poller = f->poller;
    // Connected once the relay is bound: a connection to a port nobody
    // listens on can be given that very port as its own (a TCP connection
    // to itself), and the relay's bind would then fail.
    f->dashboard = zsock_new_sub(f->bind, TW_TOPIC_REPORT);
    zsock_t *dashboard = f->dashboard;
    assert_non_null(dashboard);

    zclock_sleep(300);
    long before = s_rss_kib(relay);
    char *stranger_argv[] = {"test_relay", "stranger", f->bind, "20000", "3", NULL};
    pid_t stranger = child_spawn(stranger_argv);
    assert_true(stranger > 0);
    // What reaches the producer in the meantime: ours only, subscriptions
    // only (no dashboard's unsubscription goes up), at most one a second.
    int foreign = 0, ours = 0, unsubscriptions = 0;
    int64_t until = zclock_mono() + 3000;
    while (zclock_mono() < until) {
        if (zpoller_wait(poller, 100) != producer)
            continue;
        zframe_t *sub = zframe_recv(producer);
        assert_non_null(sub);
        const uint8_t *data = zframe_data(sub);
        size_t size = zframe_size(sub);
        if (size > 0 && data[0] == 0)
            unsubscriptions++;
        else if (size > 0 && tw_topic_subscription_ok(data + 1, size - 1))
            ours++;
        else
            foreign++;
        zframe_destroy(&sub);
    }
    long grown = s_rss_kib(relay) - before;
    print_message("20,000 foreign subscriptions at the relay for 3 s: %d foreign, %d of ours, %d "
                  "unsubscriptions passed upstream, relay resident memory %+ld KiB\n",
                  foreign, ours, unsubscriptions, grown);
    assert_int_equal(foreign, 0);
    assert_int_equal(unsubscriptions, 0);
    assert_true(ours <= 4);  // the dashboard, cut and back: a replay a second at most
    // A fresh relay process touches its allocator arenas as the flood comes
    // in: up to 22 MiB was seen once in 60 loaded runs (9 MiB otherwise).
    // The bound is for runaway growth, not for that.
    assert_true(!RSS_MEANINGFUL || grown < 48 * 1024);

    // Still relaying: a report of the producer reaches the dashboard.
    int status;
    assert_true(child_reap_within(stranger, 10000, &status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    zclock_sleep(500);  // the dashboard, cut with the stranger (same host), is back
    zpoller_t *dash = zpoller_new(dashboard, NULL);
    bool got = false;
    for (int i = 0; i < 50 && !got; i++) {
        zstr_sendm(producer, TW_TOPIC_REPORT);
        zstr_send(producer, "payload");
        if (zpoller_wait(dash, 100) == dashboard) {
            char *topic = zstr_recv(dashboard);
            got = topic && strcmp(topic, TW_TOPIC_REPORT) == 0;
            zstr_free(&topic);
        }
    }
    zpoller_destroy(&dash);
    assert_true(got);
    assert_int_equal(kill(relay, SIGTERM), 0);
    assert_true(child_reap_within(relay, 10000, &status));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    if (argc == 4 && strcmp(argv[1], "relay") == 0)
        return s_relay_main(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "stranger") == 0)
        s_stranger_main(argv[2], atoi(argv[3]), atoi(argv[4]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_foreign_subscriptions_stop_at_the_relay, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
