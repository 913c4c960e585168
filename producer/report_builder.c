// SPDX-License-Identifier: MPL-2.0
/*  report_builder: snapshot + capture statistics + publisher counts -> Report. */
#include "report_builder.h"

Tcpwin__Report *report_build(const tw_report_snapshot *snapshot, const report_edge_counters *edges,
                             tw_host_rows *rows)
{
    Tcpwin__Report *report =
        rows ? tw_report_from_snapshot_rows(snapshot, rows) : tw_report_from_snapshot(snapshot);
    if (!report)
        return NULL;
    report->counters->capture_drops = edges->capture_drops;
    report->counters->messages_dropped = edges->messages_dropped;
    report->counters->reports_lost = edges->reports_lost;
    report->counters->subscriptions_refused = edges->subscriptions_refused;
    return report;
}
