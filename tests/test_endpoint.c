// SPDX-License-Identifier: MPL-2.0
/*  test_endpoint: tcp:// and udp:// endpoints, good and bad.

    Every bad case checks both the -EINVAL and the reason, so an operator's
    typo gets a message that says what to fix.
*/
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "endpoint.h"

static void s_expect_ok(const char *text, tw_transport transport, const char *host, uint16_t port,
                        const char *canonical)
{
    tw_endpoint endpoint;
    const char *reason = NULL;
    assert_int_equal(tw_endpoint_parse(text, &endpoint, &reason), 0);
    assert_null(reason);
    assert_int_equal(endpoint.transport, transport);
    assert_string_equal(endpoint.host, host);
    assert_int_equal(endpoint.port, port);
    char *back = tw_endpoint_to_text(&endpoint);
    assert_non_null(back);
    assert_string_equal(back, canonical);
    free(back);
    tw_endpoint_clear(&endpoint);
    assert_null(endpoint.host);
    tw_endpoint_clear(&endpoint);  // harmless twice
}

static void test_valid_endpoints(void **state)
{
    (void)state;
    s_expect_ok("tcp://127.0.0.1:5555", TW_TRANSPORT_TCP, "127.0.0.1", 5555,
                "tcp://127.0.0.1:5555");
    s_expect_ok("udp://127.0.0.1:1", TW_TRANSPORT_UDP, "127.0.0.1", 1, "udp://127.0.0.1:1");
    s_expect_ok("TCP://localhost:65535", TW_TRANSPORT_TCP, "localhost", 65535,
                "tcp://localhost:65535");
    s_expect_ok("tcp://[::1]:5555", TW_TRANSPORT_TCP, "::1", 5555, "tcp://[::1]:5555");
    s_expect_ok("udp://[2001:db8::1]:53", TW_TRANSPORT_UDP, "2001:db8::1", 53,
                "udp://[2001:db8::1]:53");
    s_expect_ok("tcp://[fe80::1%eth0]:5555", TW_TRANSPORT_TCP, "fe80::1%eth0", 5555,
                "tcp://[fe80::1%eth0]:5555");
    s_expect_ok("tcp://[::ffff:192.0.2.1]:80", TW_TRANSPORT_TCP, "::ffff:192.0.2.1", 80,
                "tcp://[::ffff:192.0.2.1]:80");
    s_expect_ok("tcp://nc-sink_1.compose.internal:05555", TW_TRANSPORT_TCP,
                "nc-sink_1.compose.internal", 5555, "tcp://nc-sink_1.compose.internal:5555");
}

static void s_expect_bad(const char *text, const char *reason_part)
{
    tw_endpoint endpoint;
    const char *reason = NULL;
    int rc = tw_endpoint_parse(text, &endpoint, &reason);
    if (rc != -EINVAL || !reason || !strstr(reason, reason_part))
        fail_msg("'%s': rc %d, reason '%s', wanted one with '%s'", text, rc,
                 reason ? reason : "(none)", reason_part);
    assert_null(endpoint.host);
    // The reason is optional for the caller.
    assert_int_equal(tw_endpoint_parse(text, &endpoint, NULL), -EINVAL);
}

static void test_invalid_endpoints(void **state)
{
    (void)state;
    s_expect_bad("", "expected tcp://HOST:PORT");
    s_expect_bad("127.0.0.1:5555", "expected tcp://HOST:PORT");
    s_expect_bad("http://127.0.0.1:5555", "expected tcp://HOST:PORT");
    s_expect_bad("tcp:/127.0.0.1:5555", "expected tcp://HOST:PORT");
    s_expect_bad("ipc://x", "expected tcp://HOST:PORT");
    s_expect_bad("tcp://", "missing ':PORT'");
    s_expect_bad("tcp://127.0.0.1", "missing ':PORT'");
    s_expect_bad("tcp://:5555", "missing host");
    s_expect_bad("tcp://127.0.0.1:", "missing port");
    s_expect_bad("tcp://127.0.0.1:0", "1 to 65535");
    s_expect_bad("tcp://127.0.0.1:65536", "1 to 65535");
    s_expect_bad("tcp://127.0.0.1:99999999999999999999", "1 to 65535");
    s_expect_bad("tcp://127.0.0.1:-1", "decimal");
    s_expect_bad("tcp://127.0.0.1:+80", "decimal");
    s_expect_bad("tcp://127.0.0.1:80/", "decimal");
    s_expect_bad("tcp://127.0.0.1:80 ", "decimal");
    s_expect_bad("tcp://::1:5555", "needs brackets");
    s_expect_bad("tcp://[::1:5555", "missing ']'");
    s_expect_bad("tcp://[]:5555", "empty brackets");
    s_expect_bad("tcp://[::1]5555", "expected ':PORT'");
    s_expect_bad("tcp://[::1]", "expected ':PORT'");
    s_expect_bad("tcp://[127.0.0.1]:5555", "not a valid IPv6");
    s_expect_bad("tcp://[fe80::1%]:5555", "empty IPv6 zone");
    s_expect_bad("tcp://[fe80::1%a b]:5555", "IPv6 zone");
    s_expect_bad("tcp://10.0.0.256:5555", "not a valid IPv4");
    s_expect_bad("tcp://*:5555", "only letters");
    s_expect_bad("tcp://user@host:5555", "only letters");
    s_expect_bad("tcp://ho st:5555", "only letters");
    char *long_name = malloc(300);
    assert_non_null(long_name);
    memcpy(long_name, "tcp://", 6);
    memset(long_name + 6, 'a', 254);
    strcpy(long_name + 6 + 254, ":1");
    s_expect_bad(long_name, "longer than 253");
    free(long_name);
}

static void s_expect_for(const char *text, tw_endpoint_use use, int rc, const char *reason_part)
{
    tw_endpoint endpoint;
    const char *reason = NULL;
    int got = tw_endpoint_parse_for(text, use, &endpoint, &reason);
    if (got != rc || (rc != 0 && (!reason || !strstr(reason, reason_part))))
        fail_msg("'%s' (use %d): rc %d, reason '%s'", text, (int)use, got, reason ? reason : "");
    tw_endpoint_clear(&endpoint);
}

//  --publish, --connect and --to share one parser: the same host and port
//  rules, each use with its own transports.
static void test_each_use_takes_its_transports(void **state)
{
    (void)state;
    s_expect_for("tcp://127.0.0.1:5556", TW_ENDPOINT_ZMQ_BIND, 0, NULL);
    s_expect_for("tcp://*:5556", TW_ENDPOINT_ZMQ_BIND, 0, NULL);
    s_expect_for("ipc:///tmp/tcpwin.sock", TW_ENDPOINT_ZMQ_BIND, 0, NULL);
    s_expect_for("tcp://[::1]:5556", TW_ENDPOINT_ZMQ_CONNECT, 0, NULL);
    s_expect_for("ipc:///tmp/tcpwin.sock", TW_ENDPOINT_ZMQ_CONNECT, 0, NULL);
    s_expect_for("tcp://*:5556", TW_ENDPOINT_ZMQ_CONNECT, -EINVAL, "only letters");
    s_expect_for("udp://127.0.0.1:5556", TW_ENDPOINT_ZMQ_CONNECT, -EINVAL, "ipc://PATH");
    s_expect_for("udp://127.0.0.1:5556", TW_ENDPOINT_ZMQ_BIND, -EINVAL, "HOST may be *");
    s_expect_for("ipc://", TW_ENDPOINT_ZMQ_BIND, -EINVAL, "missing path");
    s_expect_for("ipc:///tmp/x", TW_ENDPOINT_SINK, -EINVAL, "expected tcp://HOST:PORT or udp://");
    s_expect_for("tcp://127.0.0.1:0", TW_ENDPOINT_ZMQ_BIND, -EINVAL, "1 to 65535");
    s_expect_for("tcp://127.0.0.1:0", TW_ENDPOINT_ZMQ_CONNECT, -EINVAL, "1 to 65535");
    s_expect_for("tcp://127.0.0.1:0", TW_ENDPOINT_SINK, -EINVAL, "1 to 65535");
    s_expect_for("tcp://10.0.0.256:1", TW_ENDPOINT_ZMQ_CONNECT, -EINVAL, "not a valid IPv4");
    char control[] = "ipc://a\033[31m";  // an escape sequence in a path
    s_expect_for(control, TW_ENDPOINT_ZMQ_BIND, -EINVAL, "control character");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_endpoints),
        cmocka_unit_test(test_invalid_endpoints),
        cmocka_unit_test(test_each_use_takes_its_transports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
