// SPDX-License-Identifier: MPL-2.0
/*  report_builder: the one place a published Report is assembled.

    Every field of a Report has one owner. The analysis owns the snapshot
    (hosts, stalled flows, its run counters); the capture owns its drop
    count; the publisher owns messages_dropped and the header (producer id,
    run id, sequence, filled as it sends); the producer's loop owns
    reports_lost. report_build puts the first three together here, so
    nothing patches a report after it was built.
*/
#ifndef TW_REPORT_BUILDER_H
#define TW_REPORT_BUILDER_H

#include <stdint.h>

#include "analyzer.h"
#include "host_rows.h"
#include "report.h"

//  The producer's own counters, beside the analysis' snapshot.
typedef struct {
    uint64_t capture_drops;          // packets the kernel or interface dropped (live)
    uint64_t messages_dropped;       // messages a slow subscriber lost (publisher)
    uint64_t reports_lost;           // reports not published for want of memory
    uint64_t subscriptions_refused;  // publisher: not a prefix of our topics
} report_edge_counters;

//  Builds the Report to publish (header left for the publisher). With
//  `rows` (may be NULL), only the host rows that changed since the last
//  report are encoded, and the report points into `rows` until the next
//  build. Returns NULL when out of memory; free it with tw_report_free.
Tcpwin__Report *report_build(const tw_report_snapshot *snapshot, const report_edge_counters *edges,
                             tw_host_rows *rows);

#endif
