// SPDX-License-Identifier: MPL-2.0
/*  test_zmq_monitor: the monitor helper on a real SUB socket over loopback
    TCP, and the endpoint form it gives (IPv4-mapped addresses plain).
*/
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "zmq_monitor.h"

static void s_plain(const char *in, const char *want)
{
    char *text = strdup(in);
    assert_non_null(text);
    assert_string_equal(tw_zmq_endpoint_plain(text), want);
    free(text);
}

static void test_endpoint_plain(void **state)
{
    (void)state;
    s_plain("tcp://[::ffff:127.0.0.1]:5556", "tcp://127.0.0.1:5556");
    s_plain("tcp://127.0.0.1:5556", "tcp://127.0.0.1:5556");
    s_plain("tcp://[::1]:5556", "tcp://[::1]:5556");
    s_plain("tcp://[::ffff:0:1]:5556", "tcp://[::ffff:0:1]:5556");  // not a dotted IPv4
    s_plain("inproc://x", "inproc://x");
    s_plain("tcp://[::ffff:10.0.0.1", "tcp://[::ffff:10.0.0.1");  // no bracket: left alone
    assert_null(tw_zmq_endpoint_plain(NULL));
}

//  A SUB with IPv6 on connects to a PUB on 127.0.0.1, which then goes away:
//  CONNECTED and DISCONNECTED arrive with the endpoint as it was connected.
static void test_events_of_a_real_connection(void **state)
{
    (void)state;
    zsys_handler_set(NULL);
    zsock_t *pub = zsock_new(ZMQ_PUB);
    assert_non_null(pub);
    int port = zsock_bind(pub, "tcp://127.0.0.1:*");
    assert_true(port > 0);
    zsock_t *sub = zsock_new(ZMQ_SUB);
    assert_non_null(sub);
    zsock_set_ipv6(sub, 1);
    static const char *const events[] = {"CONNECTED", "DISCONNECTED", NULL};
    zsock_t *monitor = tw_zmq_monitor_start(sub, events);
    assert_non_null(monitor);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    assert_int_equal(zsock_connect(sub, "%s", endpoint), 0);

    const char *wanted[] = {"CONNECTED", "DISCONNECTED"};
    for (int i = 0; i < 2; i++) {
        zpoller_t *poller = zpoller_new(monitor, NULL);
        assert_non_null(poller);
        assert_ptr_equal(zpoller_wait(poller, 5000), monitor);  // a functional deadline
        zpoller_destroy(&poller);
        assert_true(tw_zmq_monitor_pending(monitor));
        tw_zmq_event event;
        assert_int_equal(tw_zmq_monitor_read(monitor, &event), 0);
        assert_string_equal(event.name, wanted[i]);
        assert_string_equal(event.endpoint, endpoint);
        assert_non_null(event.value);
        tw_zmq_event_clear(&event);
        assert_null(event.name);
        tw_zmq_event_clear(&event);  // harmless twice
        if (i == 0)
            zsock_destroy(&pub);  // the producer goes away
    }
    tw_zmq_monitor_stop(sub, &monitor);
    assert_null(monitor);
    tw_zmq_monitor_stop(sub, &monitor);  // harmless twice
    zsock_destroy(&sub);
    assert_false(tw_zmq_monitor_pending(NULL));
}

static void s_ignore(int signo)
{
    (void)signo;
}

//  Sends signo to every thread of this process (tgkill on /proc/self/task).
static void s_signal_every_thread(int signo)
{
    DIR *tasks = opendir("/proc/self/task");
    assert_non_null(tasks);
    for (struct dirent *task; (task = readdir(tasks));)
        if (task->d_name[0] != '.')
            (void)syscall(SYS_tgkill, getpid(), atoi(task->d_name), signo);
    closedir(tasks);
}

//  The monitor has no thread that a signal could end: a signal to every
//  thread of the process (as glibc sends when a process changes user)
//  leaves it reporting events.
static void test_signals_do_not_end_it(void **state)
{
    (void)state;
    zsock_t *pub = zsock_new(ZMQ_PUB);
    assert_non_null(pub);
    int port = zsock_bind(pub, "tcp://127.0.0.1:*");
    zsock_t *sub = zsock_new(ZMQ_SUB);
    static const char *const events[] = {"CONNECTED", NULL};
    zsock_t *monitor = tw_zmq_monitor_start(sub, events);
    assert_non_null(monitor);
    struct sigaction ignore = {.sa_handler = s_ignore};
    sigemptyset(&ignore.sa_mask);
    assert_int_equal(sigaction(SIGUSR2, &ignore, NULL), 0);
    s_signal_every_thread(SIGUSR2);
    assert_int_equal(zsock_connect(sub, "tcp://127.0.0.1:%d", port), 0);
    zpoller_t *poller = zpoller_new(monitor, NULL);
    assert_ptr_equal(zpoller_wait(poller, 5000), monitor);
    zpoller_destroy(&poller);
    tw_zmq_event event;
    assert_int_equal(tw_zmq_monitor_read(monitor, &event), 0);
    assert_string_equal(event.name, "CONNECTED");
    tw_zmq_event_clear(&event);
    tw_zmq_monitor_stop(sub, &monitor);
    zsock_destroy(&sub);
    zsock_destroy(&pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_plain),
        cmocka_unit_test(test_events_of_a_real_connection),
        cmocka_unit_test(test_signals_do_not_end_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
