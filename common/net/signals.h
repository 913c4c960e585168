// SPDX-License-Identifier: MPL-2.0
/*  signals: both programs' signal flags, polled by each one's loop.

    tw_signals_install() makes SIGINT and SIGTERM request a stop, SIGUSR1 ask for
    the counters, and ignores SIGPIPE (a write to a closed socket must return
    EPIPE, not kill the bridge). The handlers only set flags; SIGINT and
    SIGTERM are installed without SA_RESTART so a blocking call returns EINTR
    at once and the loop looks at the flags; SIGUSR1 with it, so that it
    interrupts polls (never restarted) but not reads. Call it after zsys_handler_set(NULL), which
    stops czmq from installing its own handlers at its first socket.
*/
#ifndef TW_SIGNALS_H
#define TW_SIGNALS_H

#include <stdbool.h>

//  Installs the handlers for SIGINT, SIGTERM, SIGUSR1 and ignores SIGPIPE.
void tw_signals_install(void);

//  Returns true once SIGINT or SIGTERM arrived, and stays true.
bool tw_signals_stop_requested(void);

//  Returns true once a second SIGINT or SIGTERM arrived (the user insists:
//  stop the shutdown work too), and stays true.
bool signals_stop_insisted(void);

//  Returns true when a stop was requested or a SIGUSR1 waits to be taken:
//  one test for a loop's hot path, which then asks which.
bool tw_signals_pending(void);

//  Returns true if SIGUSR1 arrived since the last call, and clears it; several
//  signals between two calls count as one.
bool tw_signals_take_usr1(void);

#endif
