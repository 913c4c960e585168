// SPDX-License-Identifier: MPL-2.0
/*  wire: the two-frame ZeroMQ message format, on top of proto/tcpwin.proto.

    frame 1 is the topic (TW_TOPIC_REPORT or TW_TOPIC_FLOW), frame 2 the
    protobuf payload. Encoding goes through protobuf-c; this module adds the
    topic <-> message type mapping and the schema-major check, so producer,
    subscriber, relay and tests agree on one definition. No ZeroMQ here: the
    callers move the bytes.
*/
#ifndef TW_WIRE_H
#define TW_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpwin.pb-c.h"

#define TW_TOPIC_REPORT "tcpwin.report"
#define TW_TOPIC_FLOW   "tcpwin.flow"
#define TW_SCHEMA_MAJOR TCPWIN__SCHEMA_VERSION__SCHEMA_VERSION_MAJOR

//  The largest message a subscriber takes by default (--max-message). The
//  producer's bounds keep every report under it: TW_MAX_HOSTS_LIMIT rows
//  (analyzer.h) encode to less (test_report checks the worst case).
#define TW_MAX_MESSAGE_BYTES (64 * 1024 * 1024)

//  The most stalled flows a producer lists in one report (its --max-stalled
//  bound); the most host rows is TW_MAX_HOSTS_LIMIT (analyzer.h). A report
//  with more rows than that comes from no producer of ours, and is refused.
#define TW_MAX_STALLED_ROWS 100000

//  Decoding has a memory budget: protobuf-c may spend some 75 bytes of
//  memory per byte of a hostile payload (a host row of two bytes on the wire
//  is a struct, a pointer and a slot in its scan tables once decoded). The
//  budget of one decode is TW_DECODE_BYTES_PER_BYTE times the payload plus
//  TW_DECODE_SLACK_BYTES, at most TW_DECODE_BUDGET_MAX, which the largest
//  report a producer can send (TW_MAX_HOSTS_LIMIT IPv6 host rows and
//  TW_MAX_STALLED_ROWS stalled flows, every field at its widest) fits with a
//  margin (test_wire checks it). Every allocation counts with malloc's
//  overhead, and nothing freed during the decode is given back: the count is
//  an upper bound of the memory it took.
#define TW_DECODE_BYTES_PER_BYTE 16
#define TW_DECODE_SLACK_BYTES    (1024 * 1024)
#define TW_DECODE_BUDGET_MAX     ((size_t)256 * 1024 * 1024)

typedef enum { TW_MSG_REPORT, TW_MSG_FLOW } tw_msg_kind;

//  A decoded message; owns what protobuf-c unpacked.
typedef struct {
    tw_msg_kind kind;
    union {
        Tcpwin__Report *report;
        Tcpwin__FlowRecord *flow;
        ProtobufCMessage *base;
    };
} tw_message;

//  The largest message a producer or relay takes from a subscriber (the
//  0x01 byte and a topic prefix, at most 14 bytes of ours); a peer that sends
//  more is disconnected by libzmq. libzmq applies the limit to the
//  handshake's commands too: plaintext's READY fits in 64 bytes, CURVE's
//  INITIATE takes some 300 (and under CURVE only allowed keys get that far).
//  Small, because libzmq stores each subscription a peer sends, at some
//  thirty times its size, until the peer is cut off.
#define TW_MAX_SUBSCRIPTION_BYTES       64
#define TW_MAX_SUBSCRIPTION_BYTES_CURVE 1024

//  True when a subscription for prefix (len bytes) is one a producer keeps:
//  a prefix of one of our topics (the empty prefix, everything, included).
bool tw_topic_subscription_ok(const void *prefix, size_t len);

//  Decodes one topic + payload pair. Returns 0 and fills *out (release it with
//  tw_message_free), -ENOENT for a topic that is not ours, -EBADMSG for a
//  payload that does not decode or lacks its header, -EPROTO for another
//  schema major, -EMSGSIZE for a payload that would take more memory than
//  its decode budget or holds more rows than a producer ever sends, -ENOMEM
//  when memory ran out under the budget.
int tw_wire_decode(const void *topic, size_t topic_len, const void *payload, size_t payload_len,
                   tw_message *out);

//  The memory budget, in bytes, of decoding a payload of payload_len bytes.
size_t tw_wire_decode_budget(size_t payload_len);

//  Releases what tw_wire_decode unpacked; harmless on a zeroed message.
void tw_message_free(tw_message *msg);

//  The header every message carries (never NULL after a successful decode).
const Tcpwin__Header *tw_message_header(const tw_message *msg);

//  The topic string of a message kind.
const char *tw_message_topic(tw_msg_kind kind);

//  Encodes msg into a new malloc'd buffer; returns its length in *len, or NULL
//  when out of memory.
uint8_t *tw_wire_encode(const ProtobufCMessage *msg, size_t *len);

#endif
