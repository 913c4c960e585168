// SPDX-License-Identifier: MPL-2.0
/*  program: the name in messages (set once by main) and escaping.

    The name is the one piece of global state here, like the signal flags:
    it is process-wide by nature and written once before anything logs.
*/
#include "program.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *s_name = "tcpwin";

void tw_program_set_name(const char *name)
{
    s_name = name;
}

const char *tw_program_name(void)
{
    return s_name;
}

void tw_log(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    // One buffer, one write: lines of several processes do not interleave.
    char line[1024];
    int n = snprintf(line, sizeof line, "%s: ", s_name);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, format, args);
    va_end(args);
    fprintf(stderr, "%s\n", line);
}

const char *tw_escape(const char *text, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool plain = *p >= 0x20 && *p < 0x7f && *p != '\\';
        size_t need = plain ? 1 : 4;
        if (used + need + 4 > size) {  // room for "..." and the NUL
            if (size >= 4) {
                memcpy(out + (used < size - 4 ? used : size - 4), "...", 4);
                return out;
            }
            break;
        }
        if (plain)
            out[used++] = (char)*p;
        else {
            out[used++] = '\\', out[used++] = 'x';
            out[used++] = hex[*p >> 4], out[used++] = hex[*p & 15];
        }
    }
    if (size > 0)
        out[used < size ? used : size - 1] = '\0';
    return out;
}
