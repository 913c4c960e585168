/*  test_zmq_monitor: the monitor helper on a real SUB socket over loopback
    TCP, and the endpoint form it gives (IPv4-mapped addresses plain).
*/
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    zactor_t *monitor = tw_zmq_monitor_start(sub, events);
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
    zactor_destroy(&monitor);
    zsock_destroy(&sub);
    assert_false(tw_zmq_monitor_pending(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_plain),
        cmocka_unit_test(test_events_of_a_real_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
