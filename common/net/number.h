// SPDX-License-Identifier: MPL-2.0
/*  number: the one strict parser of numbers given on the command line.

    Like OpenBSD's strtonum: decimal digits only (no sign, no blanks, no
    0x, no trailing text), range-checked without overflow. Every numeric
    option of both programs goes through tw_number_option, so each says the
    same thing when refused: "tcpwin-producer: --interval wants a number
    from 1 to 86400, not 'x'".
*/
#ifndef TW_NUMBER_H
#define TW_NUMBER_H

#include <stdbool.h>
#include <stdint.h>

//  Parses text as a decimal number from min to max. Returns 0 and sets *out,
//  -EINVAL when text is not a decimal number, -ERANGE when it is outside
//  [min, max] (overflow included). *out is untouched on error.
int tw_number_parse(const char *text, uint64_t min, uint64_t max, uint64_t *out);

//  tw_number_parse for the value of option --name: on error prints one line
//  naming the program, the option, the range and the (escaped) text, and
//  returns false.
bool tw_number_option(const char *name, const char *text, uint64_t min, uint64_t max,
                      uint64_t *out);

#endif
