// SPDX-License-Identifier: MPL-2.0
/*  host_rows: encoded host rows kept from one report to the next.

    One kept row per slot of the host table (tw_host_table_slot): the
    generation it was encoded for, and its bytes (the length varint, then
    the HostRow). An update walks the table in order; a row whose slot
    holds its generation is used where it lies, the others are encoded into
    their slot. The report's unknown fields point at the kept bytes, so an
    unchanged row costs a compare, no copy and no lookup: the rows of many
    hosts were half the producer's time with two sets of bytes copied from
    one to the other and a hash index from generation to row rebuilt at
    every report (bench/RESULTS.md).
*/
#include "host_rows.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define HOSTS_FIELD 5  // Report.hosts in proto/tcpwin.proto

typedef struct {
    uint64_t generation;  // 0: nothing kept (a host's generation is never 0)
    uint32_t len;
    uint8_t bytes[TW_HOST_ROW_MAX_BYTES];
} kept_row;

struct tw_host_rows {
    kept_row *kept;  // one per host table slot
    size_t kept_cap;
    ProtobufCMessageUnknownField *fields;  // what tw_host_rows_attach hands out
    size_t fields_cap;
    size_t n_fields;
    size_t encoded;  // rows encoded by the last update
};

//  A ProtobufCBuffer that appends to a kept row's bytes, within bounds.
typedef struct {
    ProtobufCBuffer base;
    kept_row *row;
    size_t len;
    bool failed;
} appender;

static void s_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
    appender *out = (appender *)buffer;
    if (out->failed || len > sizeof out->row->bytes - out->len) {
        out->failed = true;
        return;
    }
    memcpy(out->row->bytes + out->len, data, len);
    out->len += len;
}

//  Encodes a host's row into its kept slot: the message after room for its
//  length varint (at most 2 bytes: a row is under 16,384), then the varint
//  moved in front. Returns false when it does not fit (cannot happen:
//  TW_HOST_ROW_MAX_BYTES is the largest row, test_host_rows checks it).
static bool s_encode(kept_row *row, const tw_host *host)
{
    enum { PREFIX = 2 };
    appender out = {.base = {.append = s_append}, .row = row, .len = PREFIX};
    size_t len = tw_report_pack_host(host, &out.base);
    if (out.failed || len >= 1u << 14)
        return false;
    size_t prefix = len > 0x7f ? 2 : 1;
    uint8_t varint[2] = {(uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0)), (uint8_t)(len >> 7)};
    memmove(row->bytes + prefix, row->bytes + PREFIX, len);
    memcpy(row->bytes, varint, prefix);
    row->len = (uint32_t)(prefix + len);
    row->generation = host->generation;
    return true;
}

static void s_clear(tw_host_rows *self)
{
    self->n_fields = 0;
    for (size_t i = 0; i < self->kept_cap; i++)
        self->kept[i].generation = 0;
}

tw_host_rows *tw_host_rows_new(void)
{
    return calloc(1, sizeof(tw_host_rows));
}

void tw_host_rows_destroy(tw_host_rows **self)
{
    if (!*self)
        return;
    free((*self)->kept);
    free((*self)->fields);
    free(*self);
    *self = NULL;
}

//  Room for every slot of the table and a field per row. Returns false when
//  out of memory.
static bool s_reserve(tw_host_rows *self, size_t slots, size_t rows)
{
    if (slots > self->kept_cap) {
        kept_row *kept = realloc(self->kept, sizeof *kept * slots);
        if (!kept)
            return false;
        for (size_t i = self->kept_cap; i < slots; i++)
            kept[i].generation = 0;
        self->kept = kept;
        self->kept_cap = slots;
    }
    if (rows > self->fields_cap) {  // here, so that attaching cannot fail
        ProtobufCMessageUnknownField *fields = realloc(self->fields, sizeof *fields * rows);
        if (!fields)
            return false;
        self->fields = fields;
        self->fields_cap = rows;
    }
    return true;
}

int tw_host_rows_update(tw_host_rows *self, const tw_host_table *hosts)
{
    size_t n = tw_host_table_size(hosts);
    self->encoded = 0;
    self->n_fields = 0;
    if (!s_reserve(self, tw_host_table_slots(hosts), n)) {
        s_clear(self);
        return -ENOMEM;
    }
    for (const tw_host *h = tw_host_table_first(hosts); h; h = tw_host_table_next(hosts, h)) {
        uint32_t slot = tw_host_table_slot(hosts, h);
        if (self->n_fields == n || slot >= self->kept_cap) {
            s_clear(self);
            return -ENOMEM;  // cannot happen: the table has n rows in its slots
        }
        kept_row *row = &self->kept[slot];
        if (row->generation != h->generation || h->generation == 0) {
            if (!s_encode(row, h)) {
                s_clear(self);
                return -ENOMEM;
            }
            self->encoded++;
        }
        // An unknown field's data is what follows its tag: for a message,
        // the length varint, then the message.
        self->fields[self->n_fields++] = (ProtobufCMessageUnknownField){
            .tag = HOSTS_FIELD,
            .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
            .len = row->len,
            .data = row->bytes,
        };
    }
    return 0;
}

void tw_host_rows_attach(tw_host_rows *self, Tcpwin__Report *report)
{
    report->base.n_unknown_fields = (unsigned)self->n_fields;
    report->base.unknown_fields = self->fields;
}

size_t tw_host_rows_encoded(const tw_host_rows *self)
{
    return self->encoded;
}
