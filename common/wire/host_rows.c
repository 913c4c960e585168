// SPDX-License-Identifier: MPL-2.0
/*  host_rows: encoded host rows kept from one report to the next.

    Two sets of (bytes, rows): the last update's, with an index from
    generation to row (open addressing, at most half full, rebuilt each
    update: O(rows), a few instructions each), and the one being written.
    An update walks the table in order and, per row, either copies the
    bytes the last update made for its generation or encodes it; then the
    sets swap. Copying keeps the report's bytes in one block, which the
    unknown fields point into; a row costs a lookup and a memcpy of its
    70-odd bytes instead of an encode.
*/
#include "host_rows.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define NONE         UINT32_MAX
#define HOSTS_FIELD  5  // Report.hosts in proto/tcpwin.proto
#define FIRST_BYTES  4096
#define MIN_INDEX    16
#define VARINT_MAX   10  // bytes of a 64-bit varint
#define MIX_CONSTANT 0x9e3779b97f4a7c15ull

typedef struct {
    uint64_t generation;  // 0: encoded without one, never reused
    size_t offset;        // into the set's bytes
    size_t len;
} row_ref;

typedef struct {
    uint8_t *bytes;
    size_t len;
    size_t cap;
    row_ref *rows;
    size_t n_rows;
    size_t rows_cap;
} row_set;

struct tw_host_rows {
    row_set sets[2];  // sets[current]: the last update's
    row_set scratch;  // one row being encoded, before its length goes in front
    int current;
    uint32_t *index;  // generation -> row of sets[current], NONE when empty
    uint32_t index_mask;
    ProtobufCMessageUnknownField *fields;  // what tw_host_rows_attach hands out
    size_t fields_cap;
    size_t encoded;  // rows encoded by the last update
};

//  A ProtobufCBuffer that appends to a row set's bytes, growing them.
typedef struct {
    ProtobufCBuffer base;
    row_set *set;
    bool failed;
} appender;

static bool s_reserve(row_set *set, size_t more)
{
    if (set->cap - set->len >= more)
        return true;
    size_t cap = set->cap ? set->cap : FIRST_BYTES;
    while (cap - set->len < more)
        cap *= 2;
    uint8_t *bytes = realloc(set->bytes, cap);
    if (!bytes)
        return false;
    set->bytes = bytes;
    set->cap = cap;
    return true;
}

static void s_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
    appender *out = (appender *)buffer;
    if (out->failed || !s_reserve(out->set, len)) {
        out->failed = true;
        return;
    }
    memcpy(out->set->bytes + out->set->len, data, len);
    out->set->len += len;
}

static uint32_t s_home(uint64_t generation, uint32_t mask)
{
    return (uint32_t)((generation * MIX_CONSTANT) >> 32) & mask;
}

//  The row of the last update with this generation, or NONE.
static uint32_t s_lookup(const tw_host_rows *self, uint64_t generation)
{
    if (!self->index || generation == 0)
        return NONE;
    const row_set *last = &self->sets[self->current];
    for (uint32_t pos = s_home(generation, self->index_mask);; pos = (pos + 1) & self->index_mask) {
        uint32_t row = self->index[pos];
        if (row == NONE || last->rows[row].generation == generation)
            return row;
    }
}

//  Indexes the rows of sets[current]. Returns 0 or -ENOMEM (no index).
static int s_build_index(tw_host_rows *self)
{
    const row_set *set = &self->sets[self->current];
    size_t slots = MIN_INDEX;
    while (slots < 2 * set->n_rows)
        slots *= 2;
    if (slots - 1 != self->index_mask || !self->index) {
        free(self->index);
        self->index = malloc(sizeof *self->index * slots);
        if (!self->index)
            return -ENOMEM;
        self->index_mask = (uint32_t)(slots - 1);
    }
    memset(self->index, 0xff, sizeof *self->index * slots);  // NONE everywhere
    for (size_t i = 0; i < set->n_rows; i++) {
        uint64_t generation = set->rows[i].generation;
        if (generation == 0)
            continue;
        uint32_t pos = s_home(generation, self->index_mask);
        while (self->index[pos] != NONE)
            pos = (pos + 1) & self->index_mask;
        self->index[pos] = (uint32_t)i;
    }
    return 0;
}

//  Appends one host's row to `set`: the last update's bytes when it has
//  them for this generation, else a new encoding. Returns false when out
//  of memory.
static bool s_add_row(tw_host_rows *self, row_set *set, const tw_host *host)
{
    row_ref ref = {.generation = host->generation, .offset = set->len};
    uint32_t old = s_lookup(self, host->generation);
    if (old != NONE) {
        const row_set *last = &self->sets[self->current];
        ref.len = last->rows[old].len;
        if (!s_reserve(set, ref.len))
            return false;
        memcpy(set->bytes + set->len, last->bytes + last->rows[old].offset, ref.len);
        set->len += ref.len;
    } else {
        // An unknown field's data is what follows its tag: for a message,
        // the length varint, then the message.
        appender out = {.base = {.append = s_append}, .set = &self->scratch};
        self->scratch.len = 0;
        size_t len = tw_report_pack_host(host, &out.base);
        if (out.failed || !s_reserve(set, len + VARINT_MAX))
            return false;
        size_t prefix = 0;
        for (size_t v = len; prefix == 0 || v > 0; v >>= 7)
            set->bytes[set->len + prefix++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        memcpy(set->bytes + set->len + prefix, self->scratch.bytes, len);
        ref.len = prefix + len;
        set->len += ref.len;
        self->encoded++;
    }
    set->rows[set->n_rows++] = ref;
    return true;
}

static void s_clear(tw_host_rows *self)
{
    self->sets[0].n_rows = self->sets[1].n_rows = 0;
    self->sets[0].len = self->sets[1].len = 0;
    free(self->index);
    self->index = NULL;
}

tw_host_rows *tw_host_rows_new(void)
{
    return calloc(1, sizeof(tw_host_rows));
}

void tw_host_rows_destroy(tw_host_rows **self)
{
    if (!*self)
        return;
    for (int i = 0; i < 2; i++) {
        free((*self)->sets[i].bytes);
        free((*self)->sets[i].rows);
    }
    free((*self)->scratch.bytes);
    free((*self)->index);
    free((*self)->fields);
    free(*self);
    *self = NULL;
}

int tw_host_rows_update(tw_host_rows *self, const tw_host_table *hosts)
{
    row_set *next = &self->sets[!self->current];
    size_t n = tw_host_table_size(hosts);
    next->len = next->n_rows = 0;
    self->encoded = 0;
    if (n > next->rows_cap) {
        row_ref *rows = realloc(next->rows, sizeof *rows * n);
        if (!rows) {
            s_clear(self);
            return -ENOMEM;
        }
        next->rows = rows;
        next->rows_cap = n;
    }
    if (n > self->fields_cap) {  // here, so that attaching cannot fail
        ProtobufCMessageUnknownField *fields = realloc(self->fields, sizeof *fields * n);
        if (!fields) {
            s_clear(self);
            return -ENOMEM;
        }
        self->fields = fields;
        self->fields_cap = n;
    }
    for (const tw_host *h = tw_host_table_first(hosts); h; h = tw_host_table_next(hosts, h))
        if (next->n_rows == n || !s_add_row(self, next, h)) {
            s_clear(self);
            return -ENOMEM;  // n_rows == n: cannot happen, the table has n rows
        }
    self->current = !self->current;
    if (s_build_index(self) != 0) {
        s_clear(self);
        return -ENOMEM;
    }
    return 0;
}

void tw_host_rows_attach(tw_host_rows *self, Tcpwin__Report *report)
{
    const row_set *set = &self->sets[self->current];
    for (size_t i = 0; i < set->n_rows; i++)
        self->fields[i] = (ProtobufCMessageUnknownField){
            .tag = HOSTS_FIELD,
            .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
            .len = set->rows[i].len,
            .data = set->bytes + set->rows[i].offset,
        };
    report->base.n_unknown_fields = (unsigned)set->n_rows;
    report->base.unknown_fields = self->fields;
}

size_t tw_host_rows_encoded(const tw_host_rows *self)
{
    return self->encoded;
}
