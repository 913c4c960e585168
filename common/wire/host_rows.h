// SPDX-License-Identifier: MPL-2.0
/*  host_rows: the host rows of successive reports, each row encoded once
    per change instead of once per report.

    Encoding a HostRow through protobuf-c costs about 2,000 instructions;
    with thousands of hosts in every report that was most of the producer's
    work (76 % on the many-hosts benchmark). Between two reports few rows
    change, so this keeps the encoded bytes of every row, per slot of the
    host table, with the row's generation (tw_host.generation, new on every
    change): a row whose generation is kept is used as it is, only the
    others are encoded. Memory: TW_HOST_ROW_MAX_BYTES + 12 bytes per slot
    of the host table (at most max_hosts), and a 24-byte unknown field per
    row.

    The rows go into the Report as its unknown fields, under the field
    number and wire type of `hosts`: protobuf-c packs them after the known
    fields, byte for byte, and any decoder reads them as the repeated hosts
    field, in the same order. The report's bytes differ from a report packed
    with HostRow messages only in where the hosts field sits.

    Usage: tw_host_rows_update before each report, then
    tw_host_rows_attach to the Report; the Report then points into this
    object until the next update.
*/
#ifndef TW_HOST_ROWS_H
#define TW_HOST_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "host_table.h"
#include "tcpwin.pb-c.h"

//  The largest row kept: a HostRow with every field at its widest (143
//  bytes) and its length varint (2), rounded up.
#define TW_HOST_ROW_MAX_BYTES 156

typedef struct tw_host_rows tw_host_rows;

//  Creates an empty cache. Returns NULL when out of memory.
tw_host_rows *tw_host_rows_new(void);

//  Frees the cache (harmless on NULL); sets *self to NULL.
void tw_host_rows_destroy(tw_host_rows **self);

//  Encodes the rows of `hosts`, in table order, reusing the bytes of each
//  row whose generation is kept. One cache serves one table (generations
//  are unique within a table, not across tables). Returns 0, or -ENOMEM (the cache then
//  holds no rows, and the next update encodes them all).
int tw_host_rows_update(tw_host_rows *self, const tw_host_table *hosts);

//  Makes the rows of the last successful update the report's hosts (as
//  unknown fields: report->hosts must be empty). The report points into the
//  cache until the next update; returns nothing.
void tw_host_rows_attach(tw_host_rows *self, Tcpwin__Report *report);

//  Rows encoded (not copied) by the last update, for the tests and the
//  benchmark.
size_t tw_host_rows_encoded(const tw_host_rows *self);

#endif
