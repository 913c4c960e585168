// SPDX-License-Identifier: MPL-2.0
/*  relay: a dashboard that floods the relay with subscriptions that are not
    ours. Real processes on loopback: the relay runs in a child (relay_main,
    as `tcpwin-subscriber relay`), a stranger in another child; this process
    is the producer upstream (an XPUB that sees what the relay passes up)
    and a legitimate dashboard. The relay must pass nothing foreign
    upstream, keep its memory flat, and keep relaying. */
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

#include "relay.h"
#include "signals.h"
#include "wire.h"

static int s_port(void)
{
    return 20000 + (int)(zclock_usecs() % 30000);
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

//  A child that floods endpoint with count distinct 60-byte subscriptions
//  not of ours, from an XSUB that resends them all at each reconnection,
//  for `seconds`.
static pid_t s_stranger(const char *endpoint, int count, int seconds)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0)
        return pid;
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

static pid_t s_relay(const char *upstream, const char *bind)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0)
        return pid;
    zsys_handler_set(NULL);
    tw_signals_install();
    const char *endpoints[] = {upstream};
    receiver_options options = {.endpoints = endpoints, .n_endpoints = 1};
    char *argv[] = {"relay", "--bind", (char *)bind, NULL};
    _exit(relay_main(&options, 3, argv));
}

static void test_foreign_subscriptions_stop_at_the_relay(void **state)
{
    (void)state;
    char upstream[64], bind[64];
    snprintf(upstream, sizeof upstream, "tcp://127.0.0.1:%d", s_port());
    snprintf(bind, sizeof bind, "tcp://127.0.0.1:%d", s_port() + 1);
    zsock_t *producer = zsock_new(ZMQ_XPUB);
    assert_non_null(producer);
    zsock_set_xpub_verbose(producer, 1);
    assert_true(zsock_bind(producer, "%s", upstream) >= 0);

    pid_t relay = s_relay(upstream, bind);
    zsock_t *dashboard = zsock_new_sub(bind, TW_TOPIC_REPORT);
    assert_non_null(dashboard);
    // The relay subscribes to everything of ours, once, on its own.
    zpoller_t *poller = zpoller_new(producer, NULL);
    assert_ptr_equal(zpoller_wait(poller, 10000), producer);
    zframe_t *first = zframe_recv(producer);
    assert_non_null(first);
    assert_true(zframe_streq(first, "\x01tcpwin."));
    zframe_destroy(&first);

    zclock_sleep(300);
    long before = s_rss_kib(relay);
    pid_t stranger = s_stranger(bind, 20000, 3);
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
    assert_true(!RSS_MEANINGFUL || grown < 16 * 1024);

    // Still relaying: a report of the producer reaches the dashboard.
    int status;
    assert_int_equal(waitpid(stranger, &status, 0), stranger);
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
    assert_true(got);
    zpoller_destroy(&dash);
    zpoller_destroy(&poller);
    kill(relay, SIGTERM);
    assert_int_equal(waitpid(relay, &status, 0), relay);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    zsock_destroy(&dashboard);
    zsock_destroy(&producer);
}

int main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_foreign_subscriptions_stop_at_the_relay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
