// SPDX-License-Identifier: MPL-2.0
/*  json_lines: any protobuf-c message as one line of JSON, for dashboards and jq.

        {"topic":"tcpwin.report","header":{"schemaMajor":1,"producerId":"h1",
         "runId":"9007199254740993","sequence":"7"},"timeUs":"...",...}

    One emitter walks the message descriptors, so a field added to
    proto/tcpwin.proto appears in the output without touching this module.
    The mapping follows protobuf's canonical proto3 JSON mapping, with the
    choices a line-oriented consumer needs spelled out:

      * one object per message, on one line, ending in "\n";
      * member names in lowerCamelCase (protobuf-c 1.4.1 keeps no json_name,
        so snake_case is converted: win_rel_th_cnt -> winRelThCnt);
      * EVERY field is present, defaults included (0, false, "", [], the enum
        name of 0), so a consumer never has to guess; a nested message that is
        absent is null; only the members of a oneof that are not set are left
        out, as the mapping requires;
      * 64-bit integers are JSON strings ("18446744073709551615"): jq 1.6 and
        JavaScript keep only 53 bits of a number; 32-bit ones are numbers;
      * float and double are the shortest decimal that reads back to the same
        value, in the C locale whatever the process locale; NaN and the
        infinities are the strings "NaN", "Infinity" and "-Infinity";
      * enums are their value's name ("END_REASON_FIN"), or the number when
        the value is not in the schema (a newer producer);
      * strings are escaped (quote, backslash, control characters); a byte
        that is not part of valid UTF-8 becomes U+FFFD, so the output is
        always valid JSON and valid UTF-8 whatever the producer sent;
      * `bytes` fields in this schema are IP addresses: 4 bytes render as
        dotted IPv4 ("192.0.2.1"), 16 bytes as RFC 5952 IPv6 ("2001:db8::1"),
        any other length (0 included: an absent address is "") as standard
        base64 with padding, the proto3 mapping for bytes.

    The optional leading "topic" member tells records apart in a mixed stream;
    which producer and which run a record comes from is in its "header"
    member ("producerId", "runId", and "sequence" within the topic), which
    every tcpwin message carries.
*/
#ifndef TW_JSON_LINES_H
#define TW_JSON_LINES_H

#include <stddef.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

//  Writes msg as one JSON line to out, starting with a "topic" member when
//  topic is not NULL. Returns the number of bytes written (capped at INT_MAX),
//  or -EIO when a write failed (out may then hold part of a line).
int tw_json_write(FILE *out, const char *topic, const ProtobufCMessage *msg);

//  Renders the same line into a new malloc'd, NUL-terminated string; *len
//  gets its length ("\n" included). Returns NULL when out of memory.
char *tw_json_render(const char *topic, const ProtobufCMessage *msg, size_t *len);

#endif
