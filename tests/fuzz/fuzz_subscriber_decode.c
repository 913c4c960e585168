// SPDX-License-Identifier: MPL-2.0
/*  fuzz_subscriber_decode: what a hostile or broken peer can send a
    subscriber, through decode and both renderers.

    Input: byte 0 picks the topic (report, flow record, or the next bytes up
    to a NUL as an arbitrary topic), the rest is the payload. Whatever
    decodes is rendered as JSON and as the legacy text, as print does.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_lines.h"
#include "legacy_text.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *topic = TW_TOPIC_REPORT;
    size_t topic_len = strlen(TW_TOPIC_REPORT);
    data++, size--;
    if (data[-1] == 1) {
        topic = TW_TOPIC_FLOW;
        topic_len = strlen(TW_TOPIC_FLOW);
    } else if (data[-1] > 1) {
        const uint8_t *end = memchr(data, 0, size);
        topic = (const char *)data;
        topic_len = end ? (size_t)(end - data) : size;
        data += topic_len, size -= topic_len;
    }
    tw_message msg;
    if (tw_wire_decode(topic, topic_len, data, size, &msg) != 0)
        return 0;
    size_t len;
    free(tw_json_render(tw_message_topic(msg.kind), msg.base, &len));
    if (msg.kind == TW_MSG_REPORT)
        free(tw_legacy_text_render(msg.report, &len));
    tw_message_free(&msg);
    return 0;
}
