/*  report: a Report message built from the host table, the run counters and
    the stalled flows, and the FlowRecord of an ended flow.

    Pure: the messages are plain protobuf-c structs; the header (producer id,
    run id, sequence) is left for the publisher to fill, since only it knows
    the sequence of its topic. Building is O(hosts + stalled).
*/
#ifndef TW_REPORT_H
#define TW_REPORT_H

#include <stdbool.h>

#include "flow_table.h"
#include "host_table.h"
#include "tcpwin.pb-c.h"

typedef struct {
    int64_t time_us;
    uint32_t interval_s;
    bool final;
    uint32_t threshold;
    uint32_t min_pkts;
    bool threshold_bytes;
    Tcpwin__Counters counters;      // copied in
    const tw_flow_record *stalled;  // listed flows
    size_t n_stalled;
} tw_report_input;

//  Builds a Report (with an empty header sub-message ready to be filled).
//  Returns NULL when out of memory; free it with tw_report_free.
Tcpwin__Report *tw_report_build(const tw_host_table *hosts, const tw_report_input *input);

//  Frees a report built by tw_report_build; harmless on NULL.
void tw_report_free(Tcpwin__Report *report);

//  Fills a FlowRecord (and the header and address storage it points into,
//  which the caller provides) from an ended flow.
void tw_flow_record_fill(Tcpwin__FlowRecord *out, Tcpwin__Header *header, uint8_t addr[32],
                         const tw_flow_record *flow);

#endif
