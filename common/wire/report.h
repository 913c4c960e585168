// SPDX-License-Identifier: MPL-2.0
/*  report: the analysis' plain values as protobuf-c messages.

    A report snapshot becomes a Report message, an ended flow a FlowRecord.
    The header (producer id, run id, sequence) and the counters that are not
    the analysis' (capture drops, messages dropped, reports lost) are left at
    zero for the producer to fill: producer/report_builder.c is the one place
    a published Report is assembled. Building is O(hosts + stalled).
*/
#ifndef TW_REPORT_H
#define TW_REPORT_H

#include "analyzer.h"
#include "flow_table.h"
#include "tcpwin.pb-c.h"

struct tw_host_rows;  // host_rows.h

//  Builds a Report (with an empty header sub-message ready to be filled)
//  from the snapshot. Returns NULL when out of memory; free it with
//  tw_report_free.
Tcpwin__Report *tw_report_from_snapshot(const tw_report_snapshot *snapshot);

//  The same, with the host rows from `rows` (host_rows.h): it is updated
//  from the snapshot's hosts, encoding only the rows that changed since its
//  last update, and the report points into it until the next one. Returns
//  NULL when out of memory; free it with tw_report_free.
Tcpwin__Report *tw_report_from_snapshot_rows(const tw_report_snapshot *snapshot,
                                             struct tw_host_rows *rows);

//  Appends the encoded HostRow of a host to `out`. Returns its size.
size_t tw_report_pack_host(const tw_host *host, ProtobufCBuffer *out);

//  Frees a report built by tw_report_from_snapshot; harmless on NULL.
void tw_report_free(Tcpwin__Report *report);

//  A FlowRecord message together with the storage it points into (header,
//  addresses), so it lives as long as this struct and needs no allocation.
typedef struct {
    Tcpwin__FlowRecord record;
    Tcpwin__Header header;
    uint8_t addresses[32];
} tw_flow_message;

//  Fills out->record (header empty, ready to be filled) from an ended flow.
void tw_flow_message_init(tw_flow_message *out, const tw_flow_record *flow);

#endif
