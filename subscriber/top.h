// SPDX-License-Identifier: MPL-2.0
/*  top: the `top` mode of tcpwin-subscriber, a full-screen live view.

    Like top or iftop: one screen, redrawn with each report and every
    second, showing per producer the receivers stalled right now, the worst
    hosts and the run counters; keys sort, pause and quit. What the screen
    says is top_model's (testable without a terminal); this file is the
    terminal (ncurses) and the loop: one zmq_poll on the SUB socket and
    standard input together, so keys and reports are served by one thread.
*/
#ifndef TW_TOP_H
#define TW_TOP_H

#include "receiver.h"

//  Runs the mode with its own arguments (those after the word `top`).
//  Returns the exit status.
int top_main(receiver *rx, int argc, char **argv);

#endif
