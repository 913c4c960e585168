// SPDX-License-Identifier: MPL-2.0
/*  json_lines: a descriptor-driven JSON emitter for protobuf-c messages.

    Design: the emitter knows the protobuf-c *types*, never our messages. It
    walks msg->descriptor->fields in field-number order and reads each member
    at its offset, the same way protobuf-c's own packer does, so there is one
    printer for every message and it cannot drift from the schema.

    Output goes straight to the FILE through a small counting sink that
    remembers the first write error, so the walk itself has no error paths
    and no intermediate buffer: a report of any size streams out. Numbers are
    formatted under a per-call C locale (uselocale), which is thread-safe and
    leaves the process locale alone.
*/
#include "json_lines.h"

#include "ip_text.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

//  Where the JSON goes: counts bytes and latches the first failure.
typedef struct {
    FILE *out;     // destination stream
    size_t count;  // bytes written so far
    bool failed;   // a write failed; later writes are skipped
} s_sink;

static void s_put(s_sink *sink, const char *data, size_t len)
{
    if (sink->failed || len == 0)
        return;
    if (fwrite(data, 1, len, sink->out) != len) {
        sink->failed = true;
        return;
    }
    sink->count += len;
}

static void s_puts(s_sink *sink, const char *text)
{
    s_put(sink, text, strlen(text));
}

static void s_putc(s_sink *sink, char c)
{
    s_put(sink, &c, 1);
}

//  Length of the valid UTF-8 sequence starting at p (RFC 3629: no overlong
//  forms, no surrogates, nothing above U+10FFFF), or 0 when it is invalid.
static size_t s_utf8_sequence(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (avail < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return need;
}

//  A JSON string literal. Invalid UTF-8 bytes become U+FFFD one by one;
//  U+2028 and U+2029 are escaped because JavaScript string literals before
//  ES2019 reject them raw.
static void s_put_string(s_sink *sink, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    s_putc(sink, '"');
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t run = s_utf8_sequence(p + i, len - i);
        char escape[8];
        if (run == 0) {
            s_puts(sink, "\\ufffd");
            i++;
        } else if (run == 3 && c == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] & 0xFE) == 0xA8) {
            s_puts(sink, p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
            i += 3;
        } else if (c == '"' || c == '\\') {
            escape[0] = '\\';
            escape[1] = (char)c;
            s_put(sink, escape, 2);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            switch (c) {
            case '\b':
                s_puts(sink, "\\b");
                break;
            case '\f':
                s_puts(sink, "\\f");
                break;
            case '\n':
                s_puts(sink, "\\n");
                break;
            case '\r':
                s_puts(sink, "\\r");
                break;
            case '\t':
                s_puts(sink, "\\t");
                break;
            default:
                snprintf(escape, sizeof escape, "\\u%04x", c);
                s_puts(sink, escape);
            }
            i++;
        } else {
            s_put(sink, text + i, run);
            i += run;
        }
    }
    s_putc(sink, '"');
}

//  A member name: protobuf's JSON name, lowerCamelCase of the field name
//  (an underscore is dropped and upper-cases the next letter).
static void s_put_name(s_sink *sink, const char *field_name)
{
    s_putc(sink, '"');
    bool upper_next = false;
    for (const char *p = field_name; *p; p++) {
        if (*p == '_') {
            upper_next = true;
            continue;
        }
        char c = *p;
        if (upper_next && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        upper_next = false;
        s_putc(sink, c);
    }
    s_puts(sink, "\":");
}

//  The shortest %g text that reads back as the same float or double.
static void s_put_real(s_sink *sink, double value, bool single)
{
    if (isnan(value)) {
        s_puts(sink, "\"NaN\"");
        return;
    }
    if (isinf(value)) {
        s_puts(sink, value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    char text[40];  // %.17g of any double needs at most 24 bytes
    int max_digits = single ? 9 : 17;
    for (int digits = 1; digits <= max_digits; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, value);
        if (single ? strtof(text, NULL) == (float)value : strtod(text, NULL) == value)
            break;
    }
    s_puts(sink, text);
}

static void s_put_base64(s_sink *sink, const uint8_t *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    s_putc(sink, '"');
    for (size_t i = 0; i < len; i += 3) {
        uint32_t bits = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            bits |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            bits |= data[i + 2];
        char quad[4] = {alphabet[bits >> 18], alphabet[(bits >> 12) & 63],
                        i + 1 < len ? alphabet[(bits >> 6) & 63] : '=',
                        i + 2 < len ? alphabet[bits & 63] : '='};
        s_put(sink, quad, 4);
    }
    s_putc(sink, '"');
}

//  bytes: every bytes field of our schema is an IP address (see the header).
static void s_put_bytes(s_sink *sink, const ProtobufCBinaryData *bytes)
{
    char text[TW_IP_TEXT_SIZE];
    if (tw_ip_format(bytes->data, bytes->len, text, sizeof text)) {
        s_put_string(sink, text, strlen(text));
        return;
    }
    s_put_base64(sink, bytes->data, bytes->len);
}

static void s_put_object(s_sink *sink, const char *topic, const ProtobufCMessage *msg);

static void s_put_enum(s_sink *sink, const ProtobufCEnumDescriptor *descriptor, int value)
{
    const ProtobufCEnumValue *known = protobuf_c_enum_descriptor_get_value(descriptor, value);
    if (known) {
        s_put_string(sink, known->name, strlen(known->name));
        return;
    }
    char text[16];
    snprintf(text, sizeof text, "%d", value);
    s_puts(sink, text);
}

//  One value of a field (one element when repeated), read from where protobuf-c keeps it.
static void s_put_value(s_sink *sink, const ProtobufCFieldDescriptor *field, const void *member)
{
    char text[32];
    switch (field->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        snprintf(text, sizeof text, "%" PRId32, *(const int32_t *)member);
        s_puts(sink, text);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(text, sizeof text, "%" PRIu32, *(const uint32_t *)member);
        s_puts(sink, text);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(text, sizeof text, "\"%" PRId64 "\"", *(const int64_t *)member);
        s_puts(sink, text);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(text, sizeof text, "\"%" PRIu64 "\"", *(const uint64_t *)member);
        s_puts(sink, text);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        s_put_real(sink, *(const float *)member, true);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        s_put_real(sink, *(const double *)member, false);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        s_puts(sink, *(const protobuf_c_boolean *)member ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM:
        s_put_enum(sink, field->descriptor, *(const int *)member);
        break;
    case PROTOBUF_C_TYPE_STRING: {
        const char *string = *(const char *const *)member;
        if (!string)
            string = "";
        s_put_string(sink, string, strlen(string));
        break;
    }
    case PROTOBUF_C_TYPE_BYTES:
        s_put_bytes(sink, member);
        break;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *nested = *(const ProtobufCMessage *const *)member;
        if (nested)
            s_put_object(sink, NULL, nested);
        else
            s_puts(sink, "null");
        break;
    }
    }
}

//  Size of one element of a repeated field of this type, as protobuf-c lays it out.
static size_t s_element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static void s_put_field(s_sink *sink, const ProtobufCMessage *msg,
                        const ProtobufCFieldDescriptor *field)
{
    const char *base = (const char *)msg;
    const void *member = base + field->offset;
    s_put_name(sink, field->name);
    if (field->label != PROTOBUF_C_LABEL_REPEATED) {
        s_put_value(sink, field, member);
        return;
    }
    size_t count = *(const size_t *)(base + field->quantifier_offset);
    const char *elements = *(const char *const *)member;
    size_t size = s_element_size(field->type);
    s_putc(sink, '[');
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            s_putc(sink, ',');
        s_put_value(sink, field, elements + i * size);
    }
    s_putc(sink, ']');
}

//  A oneof member that is not the chosen case is left out, as the mapping says.
static bool s_field_is_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *field)
{
    if (!(field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return true;
    uint32_t chosen = *(const uint32_t *)((const char *)msg + field->quantifier_offset);
    return chosen == field->id;
}

//  An object: the optional leading topic member, then every field of msg.
static void s_put_object(s_sink *sink, const char *topic, const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *descriptor = msg->descriptor;
    bool first = true;
    s_putc(sink, '{');
    if (topic) {
        s_put_name(sink, "topic");
        s_put_string(sink, topic, strlen(topic));
        first = false;
    }
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        if (!s_field_is_present(msg, field))
            continue;
        if (!first)
            s_putc(sink, ',');
        first = false;
        s_put_field(sink, msg, field);
    }
    s_putc(sink, '}');
}

int tw_json_write(FILE *out, const char *topic, const ProtobufCMessage *msg)
{
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale)
        return -EIO;
    locale_t previous = uselocale(c_locale);
    s_sink sink = {.out = out};
    s_put_object(&sink, topic, msg);
    s_putc(&sink, '\n');
    uselocale(previous);
    freelocale(c_locale);
    if (sink.failed)
        return -EIO;
    return sink.count > INT_MAX ? INT_MAX : (int)sink.count;
}

char *tw_json_render(const char *topic, const ProtobufCMessage *msg, size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, len);
    if (!out)
        return NULL;
    int rc = tw_json_write(out, topic, msg);
    if (fclose(out) != 0 || rc < 0) {
        free(text);
        return NULL;
    }
    return text;
}
