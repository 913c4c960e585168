// SPDX-License-Identifier: MPL-2.0
/*  legacy_text: a Report in the text format of Tranalyzer2's tcpWinSink.

        # Thu 01 Jan 2004 12:00:05
        # IP<TAB>pktTcpCnt<TAB>winRelThCnt
        192.168.72.14<TAB>460<TAB>0.123913
        <empty line>

    The date is the report's capture time in the local time zone (TZ is
    respected), formatted in the C locale whatever the environment says. A
    report with an empty host table renders as nothing, as the original only
    sent non-empty tables.
*/
#ifndef TW_LEGACY_TEXT_H
#define TW_LEGACY_TEXT_H

#include <stdio.h>

#include "tcpwin.pb-c.h"

//  Writes the report to out. Returns the number of bytes written (0 for an
//  empty host table) or -EIO when a write failed.
int tw_legacy_text_write(FILE *out, const Tcpwin__Report *report);

//  Renders the report into a new malloc'd, NUL-terminated string; *len gets
//  its length (0 for an empty host table). Returns NULL when out of memory.
char *tw_legacy_text_render(const Tcpwin__Report *report, size_t *len);

#endif
