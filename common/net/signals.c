// SPDX-License-Identifier: MPL-2.0
/*  signals: async-signal-safe flags for each program's loop.

    The handlers write one sig_atomic_t each and nothing else, the only
    thing a handler may safely do; the loop reads the flags after every
    poll. This is one of the two pieces of global state in a program (with
    the name in messages, program.c), because signal dispositions are
    process-wide anyway.
*/
#include "signals.h"

#include <signal.h>
#include <stddef.h>

static volatile sig_atomic_t s_stop;  // SIGINT/SIGTERM received: 0, 1, or 2 for more
static volatile sig_atomic_t s_usr1;

static void s_on_signal(int signo)
{
    if (signo == SIGUSR1)
        s_usr1 = 1;
    else if (s_stop < 2)  // only the handler writes it, and signals do not nest here
        s_stop = s_stop + 1;
}

void tw_signals_install(void)
{
    struct sigaction action = {0};
    action.sa_handler = s_on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: poll must return EINTR
    // sigaction fails only for an invalid signal number or action.
    (void)sigaction(SIGINT, &action, NULL);
    (void)sigaction(SIGTERM, &action, NULL);
    // SIGUSR1 only asks for counters: a read() of standard input or a FIFO
    // inside libpcap is restarted rather than failed (stdio would take
    // EINTR for an error). poll and zmq_poll still return EINTR (Linux
    // never restarts them), so a loop that polls sees the flag at once.
    struct sigaction counters = action;
    counters.sa_flags = SA_RESTART;
    (void)sigaction(SIGUSR1, &counters, NULL);
    struct sigaction ignore = {0};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    (void)sigaction(SIGPIPE, &ignore, NULL);
}

bool tw_signals_stop_requested(void)
{
    return s_stop != 0;
}

bool signals_stop_insisted(void)
{
    return s_stop >= 2;
}

bool tw_signals_pending(void)
{
    return s_stop != 0 || s_usr1 != 0;
}

bool tw_signals_take_usr1(void)
{
    if (!s_usr1)
        return false;
    s_usr1 = 0;
    return true;
}
