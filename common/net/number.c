// SPDX-License-Identifier: MPL-2.0
/*  number: strict decimal parsing with a range, and its error message. */
#include "number.h"

#include <errno.h>
#include <stdio.h>

#include "program.h"

int tw_number_parse(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!text || *text == '\0')
        return -EINVAL;
    uint64_t value = 0;
    bool overflow = false;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10)
            overflow = true;  // keep scanning: "12x" is EINVAL whatever its length
        else
            value = value * 10 + digit;
    }
    if (overflow || value < min || value > max)
        return -ERANGE;
    *out = value;
    return 0;
}

bool tw_number_option(const char *name, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    if (tw_number_parse(text, min, max, out) == 0)
        return true;
    char shown[64];
    tw_escape(text ? text : "", shown, sizeof shown);
    tw_log("--%s wants a number from %llu to %llu, not '%s'", name, (unsigned long long)min,
           (unsigned long long)max, shown);
    return false;
}
