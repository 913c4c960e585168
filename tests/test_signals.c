// SPDX-License-Identifier: MPL-2.0
/*  test_signals: the subscriber's signal flags, with real signals.

    The dispositions are read back with sigaction, and a real poll() is
    interrupted by a real SIGUSR1 from a child process, which is what the
    forward loop relies on, while a blocking read() of a pipe is not (the
    producer reading standard input through stdio: SA_RESTART).
*/
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "signals.h"

static void test_dispositions(void **state)
{
    (void)state;
    tw_signals_install();
    const int handled[] = {SIGINT, SIGTERM, SIGUSR1};
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++) {
        struct sigaction current;
        assert_int_equal(sigaction(handled[i], NULL, &current), 0);
        assert_true(current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN);
        // A stop interrupts everything; the counters interrupt polls only.
        assert_int_equal(current.sa_flags & SA_RESTART, handled[i] == SIGUSR1 ? SA_RESTART : 0);
    }
    struct sigaction pipe_action;
    assert_int_equal(sigaction(SIGPIPE, NULL, &pipe_action), 0);
    assert_true(pipe_action.sa_handler == SIG_IGN);
    assert_int_equal(raise(SIGPIPE), 0);  // would kill the test if not ignored
}

static void test_usr1_interrupts_poll_and_is_taken_once(void **state)
{
    (void)state;
    tw_signals_install();
    assert_false(tw_signals_take_usr1());
    pid_t parent = getpid();
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        usleep(100 * 1000);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    int rc = poll(NULL, 0, 10000);
    int saved = errno;
    assert_int_equal(rc, -1);
    assert_int_equal(saved, EINTR);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(tw_signals_take_usr1());
    assert_false(tw_signals_take_usr1());
    assert_false(tw_signals_stop_requested());
}

static void test_usr1_leaves_a_read_going(void **state)
{
    (void)state;
    tw_signals_install();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t parent = getpid();
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        usleep(100 * 1000);
        kill(parent, SIGUSR1);
        usleep(100 * 1000);
        _exit(write(fds[1], "x", 1) == 1 ? 0 : 1);
    }
    assert_false(tw_signals_pending());
    char byte = 0;
    ssize_t n = read(fds[0], &byte, 1);  // SIGUSR1 lands while it blocks
    assert_int_equal(n, 1);
    assert_int_equal(byte, 'x');
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(tw_signals_pending());
    assert_true(tw_signals_take_usr1());
    assert_false(tw_signals_pending());
    close(fds[0]);
    close(fds[1]);
}

static void test_term_requests_stop(void **state)
{
    (void)state;
    tw_signals_install();
    assert_false(tw_signals_stop_requested());
    assert_int_equal(raise(SIGTERM), 0);
    assert_true(tw_signals_stop_requested());
    assert_true(tw_signals_stop_requested());  // it stays
    assert_false(signals_stop_insisted());     // one signal is a request
    assert_true(tw_signals_pending());
    assert_false(tw_signals_take_usr1());
    assert_int_equal(raise(SIGINT), 0);  // a second one, of either kind, insists
    assert_true(signals_stop_insisted());
    assert_int_equal(raise(SIGTERM), 0);
    assert_true(signals_stop_insisted());
    assert_true(tw_signals_stop_requested());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispositions),
        cmocka_unit_test(test_usr1_interrupts_poll_and_is_taken_once),
        cmocka_unit_test(test_usr1_leaves_a_read_going),
        cmocka_unit_test(test_term_requests_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
