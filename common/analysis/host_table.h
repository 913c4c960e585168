// SPDX-License-Identifier: MPL-2.0
/*  host_table: the worst qualifying flow per source IP, bounded.

    A flow qualifies when it has at least min_pkts packets and at least one
    undershoot. Per source IP the table keeps the flow with the highest ratio
    undershoots/packets, computed and compared as a C float like Tranalyzer2's
    tcpWin (replaced only when strictly greater, so the ratio only rises), plus
    totals over every qualifying flow. Rows iterate in insertion order, which
    is the order of the legacy report.

    The stall figures (zero-window advertisements, flows that stalled, stall
    time, probes received) are summed over every ended flow of a host that
    has a row, qualifying or not, since the row was made. A flow that does
    not qualify never makes a row, so the rows, their order and the legacy
    columns are exactly the legacy table's; a host that stalled without a
    qualifying flow shows in the stalled list, the flow records and the run
    counters, not here.

    Bound: max_hosts rows of sizeof(tw_host) bytes each, plus 4 bytes per
    bucket. When full, a new host evicts the least recently updated row (an
    update is a qualifying flow ending); with ttl_us > 0, tw_host_table_expire
    forgets rows not updated for that long. Both are counted in `evicted`.

    Pure: no I/O, time comes from the flow records and the caller.
*/
#ifndef TW_HOST_TABLE_H
#define TW_HOST_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "flow_table.h"

typedef struct {
    uint8_t ip[16];
    uint8_t ip_version;
    uint32_t pkt_tcp_cnt;  // packets of the worst flow (saturates at 2^32-1)
    float win_rel_th_cnt;  // undershoots / packets of the worst flow
    uint64_t flows_counted;
    uint64_t tcp_packets;
    uint64_t undershoot_packets;
    uint8_t worst_peer_ip[16];
    uint16_t worst_peer_port;
    uint16_t worst_src_port;
    int64_t last_update_us;
    uint64_t zero_window_adverts;  // the stall figures (see the top)
    uint64_t flows_stalled;
    int64_t stall_us;
    uint64_t probes_received;
    uint64_t generation;  // new whenever the row changes, unique in the table:
                          // a report keeps the encoding of a row it has seen
} tw_host;

typedef struct tw_host_table tw_host_table;

//  Creates an empty table. Returns NULL when out of memory or max_hosts is 0.
tw_host_table *tw_host_table_new(size_t max_hosts, uint64_t min_pkts, int64_t ttl_us);

//  Frees the table; sets *self to NULL.
void tw_host_table_destroy(tw_host_table **self);

//  Offers an ended flow. Returns 1 when it qualified (the host row was
//  created or updated), 0 when it did not (its stall figures still count
//  on its host's row, if there is one).
int tw_host_table_offer(tw_host_table *self, const tw_flow_record *flow);

//  Forgets rows not updated for ttl_us before now_us (no-op when ttl_us is 0).
void tw_host_table_expire(tw_host_table *self, int64_t now_us);

//  Rows in insertion order: first, then next until NULL. The table must not
//  change during the walk.
const tw_host *tw_host_table_first(const tw_host_table *self);
const tw_host *tw_host_table_next(const tw_host_table *self, const tw_host *host);

//  The slot of a row: stable while the row lives (a slot is reused for a
//  new host once its row is dropped, with a new generation), below
//  tw_host_table_slots().
uint32_t tw_host_table_slot(const tw_host_table *self, const tw_host *host);
size_t tw_host_table_slots(const tw_host_table *self);

//  Number of rows, and rows dropped by the bound or the TTL so far.
size_t tw_host_table_size(const tw_host_table *self);
uint64_t tw_host_table_evicted(const tw_host_table *self);

#endif
