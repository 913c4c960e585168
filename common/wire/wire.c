/*  wire: topic <-> message type, schema-major check, encode/decode helpers. */
#include "wire.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool s_topic_is(const void *topic, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(topic, want, len) == 0;
}

int tw_wire_decode(const void *topic, size_t topic_len, const void *payload, size_t payload_len,
                   tw_message *out)
{
    memset(out, 0, sizeof *out);
    if (s_topic_is(topic, topic_len, TW_TOPIC_REPORT)) {
        out->kind = TW_MSG_REPORT;
        out->report = tcpwin__report__unpack(NULL, payload_len, payload);
    } else if (s_topic_is(topic, topic_len, TW_TOPIC_FLOW)) {
        out->kind = TW_MSG_FLOW;
        out->flow = tcpwin__flow_record__unpack(NULL, payload_len, payload);
    } else {
        return -ENOENT;
    }
    if (!out->base)
        return -EBADMSG;
    const Tcpwin__Header *header = tw_message_header(out);
    int rc = 0;
    if (!header)
        rc = -EBADMSG;
    else if (header->schema_major != TW_SCHEMA_MAJOR)
        rc = -EPROTO;
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
