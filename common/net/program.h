// SPDX-License-Identifier: MPL-2.0
/*  program: the program's name in messages, and safe logging.

    Messages name the program, the object and the reason:
        tcpwin-producer: cannot open 'x.pcap': truncated pcap header
    main sets the name once (tw_program_set_name); everything in common/net
    and both programs print through tw_log, so no message goes out without
    it. Text that came from outside (a peer's id, a file name, an option)
    goes through tw_escape first, so a newline or an escape sequence cannot
    forge a log line or repaint a terminal.
*/
#ifndef TW_PROGRAM_H
#define TW_PROGRAM_H

#include <stddef.h>

#define TW_PRODUCER_NAME   "tcpwin-producer"
#define TW_SUBSCRIBER_NAME "tcpwin-subscriber"

//  Sets the name messages start with (a static string; not copied).
void tw_program_set_name(const char *name);

//  The name set, or "tcpwin" before any.
const char *tw_program_name(void);

//  Prints "NAME: " and the formatted message and a newline on stderr, in one
//  write of at most 1 KiB (a longer message is cut there).
void tw_log(const char *format, ...) __attribute__((format(printf, 1, 2)));

//  Copies text into out (size bytes, at least 1) with every byte outside
//  printable ASCII, and the backslash, written as \xHH; cut with "..." when
//  it does not fit. Returns out.
const char *tw_escape(const char *text, char *out, size_t size);

#endif
