// SPDX-License-Identifier: MPL-2.0
/*  print: the `print` mode of tcpwin-subscriber.

    Writes every new message to standard output: reports as the legacy text
    table (flow records have no legacy form and are skipped there), or every
    message as one JSON object per line. Output is flushed per message so a
    dashboard sees it at once; a slow reader only slows us down (nothing is
    dropped on our side), and a closed pipe ends the program with status 0.
*/
#ifndef TW_PRINT_H
#define TW_PRINT_H

#include "receiver.h"

//  Runs the mode with its own arguments (those after the word `print`).
//  Returns the exit status.
int print_main(receiver *rx, int argc, char **argv);

#endif
