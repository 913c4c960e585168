// SPDX-License-Identifier: MPL-2.0
/*  wire: topic <-> message type, schema-major check, encode/decode helpers.

    Decoding goes through a counting ProtobufCAllocator (budget below): it
    hands out plain malloc'd memory, so what it unpacked is freed with the
    default allocator (tw_message_free) like anything protobuf-c unpacked.
*/
#include "wire.h"

#include "analyzer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool s_topic_is(const void *topic, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(topic, want, len) == 0;
}

typedef struct {
    size_t used;    // bytes allocated so far, malloc's overhead included
    size_t budget;  // the most that may be allocated
    bool refused;   // an allocation was refused for the budget
    bool failed;    // malloc itself failed
} decode_budget;

static void *s_budget_alloc(void *data, size_t size)
{
    decode_budget *b = data;
    size_t cost = (size + 16 + 15) & ~(size_t)15;  // glibc: a header, 16-byte chunks
    if (cost < size || cost > b->budget - b->used) {
        b->refused = true;
        return NULL;
    }
    b->used += cost;
    void *p = malloc(size);
    b->failed |= !p;
    return p;
}

static void s_budget_free(void *data, void *pointer)
{
    (void)data;
    free(pointer);
}

size_t tw_wire_decode_budget(size_t payload_len)
{
    if (payload_len > (TW_DECODE_BUDGET_MAX - TW_DECODE_SLACK_BYTES) / TW_DECODE_BYTES_PER_BYTE)
        return TW_DECODE_BUDGET_MAX;
    return payload_len * TW_DECODE_BYTES_PER_BYTE + TW_DECODE_SLACK_BYTES;
}

//  -EMSGSIZE for a report with more rows than a producer sends, else 0.
static int s_check_bounds(const tw_message *msg)
{
    if (msg->kind == TW_MSG_REPORT &&
        (msg->report->n_hosts > TW_MAX_HOSTS_LIMIT || msg->report->n_stalled > TW_MAX_STALLED_ROWS))
        return -EMSGSIZE;
    return 0;
}

int tw_wire_decode(const void *topic, size_t topic_len, const void *payload, size_t payload_len,
                   tw_message *out)
{
    memset(out, 0, sizeof *out);
    decode_budget budget = {.budget = tw_wire_decode_budget(payload_len)};
    ProtobufCAllocator allocator = {
        .alloc = s_budget_alloc, .free = s_budget_free, .allocator_data = &budget};
    if (s_topic_is(topic, topic_len, TW_TOPIC_REPORT)) {
        out->kind = TW_MSG_REPORT;
        out->report = tcpwin__report__unpack(&allocator, payload_len, payload);
    } else if (s_topic_is(topic, topic_len, TW_TOPIC_FLOW)) {
        out->kind = TW_MSG_FLOW;
        out->flow = tcpwin__flow_record__unpack(&allocator, payload_len, payload);
    } else {
        return -ENOENT;
    }
    if (!out->base)
        return budget.refused ? -EMSGSIZE : budget.failed ? -ENOMEM : -EBADMSG;
    const Tcpwin__Header *header = tw_message_header(out);
    int rc = 0;
    if (!header)
        rc = -EBADMSG;
    else if (header->schema_major != TW_SCHEMA_MAJOR)
        rc = -EPROTO;
    else
        rc = s_check_bounds(out);
    if (rc != 0)
        tw_message_free(out);
    return rc;
}

void tw_message_free(tw_message *msg)
{
    if (msg->base)
        protobuf_c_message_free_unpacked(msg->base, NULL);
    msg->base = NULL;
}

const Tcpwin__Header *tw_message_header(const tw_message *msg)
{
    return msg->kind == TW_MSG_REPORT ? msg->report->header : msg->flow->header;
}

bool tw_topic_subscription_ok(const void *prefix, size_t len)
{
    static const char *const topics[] = {TW_TOPIC_REPORT, TW_TOPIC_FLOW};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        if (len <= strlen(topics[i]) && memcmp(prefix, topics[i], len) == 0)
            return true;
    return false;
}

const char *tw_message_topic(tw_msg_kind kind)
{
    return kind == TW_MSG_REPORT ? TW_TOPIC_REPORT : TW_TOPIC_FLOW;
}

uint8_t *tw_wire_encode(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        protobuf_c_message_pack(msg, buf);
    return buf;
}
