// SPDX-License-Identifier: MPL-2.0
/*  flow_table: one-directional TCP flows and their window counters.

    A flow is one direction of a TCP connection: (IP version, source and
    destination address, source and destination port). For every packet it
    counts TCP packets and undershoots (window below the threshold, SYN, FIN
    and RST included), the smallest window, and zero-window episodes (runs of
    consecutive undershoots) with their duration: the legacy figures.

    Beside them, stalls as an operator (and Wireshark) sees them:
      - zero-window advertisements: window field 0, none of SYN/FIN/RST
        (Wireshark's tcp.analysis.zero_window);
      - a stall of this direction's receiver (its source) begins with an
        advertisement below the threshold that is none of SYN/FIN/RST and
        ends with the first later such advertisement at or above it (a
        window reopening; a SYN/FIN/RST never is one), or with the flow. A flow is "stalled" while
   in a stall: the stalled list and the stall timeout follow this, not episodes;
      - persist probes the other direction sends into a stall: a 1-byte
        segment at that direction's next sequence number while the stalled
        side's latest window is 0 (Wireshark's tcp.analysis.zero_window_probe,
        which does not advance the next sequence number), and a zero-length
        segment, none of SYN/FIN/RST, at the stalled side's latest ACK - 1
        (what Linux sends). Counted on the sender's flow (sent) and on the
        stalled flow (received, and in its current stall).

    A flow ends
      - when the connection closes: a RST in either direction, or a FIN seen
        in both directions; both directions then linger (linger_us) so the
        last ACKs still count, and end together;
      - when idle for longer than idle_timeout_us, or, for a flow in a stall
        and for the flow probing it, for longer than stall_timeout_us when
        that is longer: a sender backs its probes off up to 120 s (Linux's
        TCP_RTO_MAX), so a stall must not end as idle between two probes;
        and a side that faced a closed window was not idle but blocked: its
        idle time counts from the reopening;
      - sooner, when not in a stall nor probing one (state-aware timeouts,
        as Zeek and Suricata have them; capped by idle_timeout_us): a flow
        whose packets were all SYNs (an unanswered SYN, a handshake never
        finished) after syn_timeout_us of silence, and a half-closed one
        (it sent a FIN, or its peer's FIN was seen while it lived) after
        half_closed_timeout_us; ended as idle. A connection after a RST
        lingers linger_us, as one closed by FINs both ways;
      - when the table is full (max_flows flows, or its (max_flows + 1) / 2
        connection entries) and room is needed: the least recently seen of
        a few sampled connections is evicted, both its directions;
      - at the end, through tw_flow_table_end_all().
    A packet on the key of a flow that has ended starts a new flow.

    Every ended flow is handed to the end callback as a tw_flow_record.

    Both directions of a connection share one entry (flow_table.c), so a
    direction's peer is at hand. Expiry costs what expires, not the table:
    every connection is filed in a timer wheel at its earliest deadline
    (tw_flow_table_expire looks only at the buckets the clock has passed),
    and the stalled flows are a list kept as stalls begin and end
    (tw_flow_table_stalled walks only them).

    Pure: time comes in with each packet (or each tw_flow_table_expire call).
    Memory: (max_flows + 1) / 2 connection entries of 192 bytes (96 per flow of
    the bound) plus the index's 8-byte slots (8 to 16 bytes per flow, up to
    32 while it doubles), whatever the traffic (connections seen one way
    only fill the entries with half as many flows); plus 112 bytes for each
    flow that had a stall figure (a zero window, a stall, a probe) or 2^32
    packets, in a pool reserved for every flow the table can hold. The
    arrays are reserved in the address space and touched as used; the index
    grows a few slots per insert (bench/RESULTS.md has the measurements).
*/
#ifndef TW_FLOW_TABLE_H
#define TW_FLOW_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet_decode.h"

//  Packets that tw_flow_table_packets hashes and prefetches ahead of their
//  processing: the best batch size measured (bench/RESULTS.md). A caller
//  that queues packets for it queues this many.
#define TW_FLOW_BATCH 128

typedef enum {
    TW_END_NONE = 0,  // still live (a stalled flow in a report)
    TW_END_FIN = 1,
    TW_END_RST = 2,
    TW_END_IDLE = 3,
    TW_END_END_OF_CAPTURE = 4,
    TW_END_EVICTED = 5,
} tw_end_reason;

//  The flow key, zero-padded so that it compares with memcmp.
typedef struct {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t src_port;
    uint16_t dst_port;
    uint8_t ip_version;
    uint8_t pad[3];
} tw_flow_key;

//  What the table tells the world about a flow when it ends, and about a
//  stalled flow while it lives.
typedef struct {
    tw_flow_key key;
    int64_t first_us;
    int64_t last_us;
    uint64_t tcp_packets;
    uint64_t undershoot_packets;
    uint64_t episodes;
    int64_t zero_window_us;    // total duration of the episodes
    int64_t episode_start_us;  // start of the current run, when in one
    uint16_t min_window;
    int8_t window_scale;  // announced in this side's SYN, -1 if unseen
    tw_end_reason end_reason;
    // The stall figures (see the top).
    uint64_t zero_window_adverts;
    uint64_t stalls;         // stalls begun
    int64_t stall_us;        // their total duration, the current one up to last_us
    int64_t stall_since_us;  // start of the current stall, when stalled
    int64_t stalled_us;      // stalled list only: the current stall up to the list's time
    uint64_t window_probes;  // 1-byte probes this side sent into its peer's stalls
    uint64_t zero_length_probes;
    uint64_t probes_received;    // probes of both kinds the peer sent into this side's stalls
    uint64_t stall_probes;       // of those, into the current stall
    uint64_t window_reopenings;  // stalls ended by an advertisement at or above the threshold
    bool stalled;                // in a stall now (ended flows: at their end)
    bool window_scale_unknown;   // threshold in bytes, and the handshake was not seen
} tw_flow_record;

typedef void(tw_flow_end_fn)(const tw_flow_record *record, void *arg);

typedef struct {
    uint32_t threshold;        // undershoot: window < threshold
    bool threshold_bytes;      // compare the scaled window instead of the raw field
    size_t max_flows;          // table bound (at least 1)
    int64_t idle_timeout_us;   // end a flow idle this long
    int64_t stall_timeout_us;  // ... or this long, if longer, in a stall or probing one
    int64_t linger_us;         // keep a closed connection this long
    // State-aware timeouts (see the top); 0 is idle_timeout_us. Each is
    // capped by idle_timeout_us, and none applies to a flow in a stall or
    // probing one.
    int64_t syn_timeout_us;          // every packet of the flow so far a SYN
    int64_t half_closed_timeout_us;  // a FIN in one direction only
} tw_flow_config;

typedef struct {
    uint64_t active;
    uint64_t ended;  // every end, evictions included
    uint64_t evicted;
    uint64_t untracked;  // packets not counted because memory ran out
    // The stall figures, over every packet and flow so far.
    uint64_t zero_window_adverts;
    uint64_t stalls;  // begun
    // Of the stalls that ended (reopened, or with their flow), each up to its
    // end or up to the now_us of the last tw_flow_table_stalled call, the
    // later: a stall counted in a report stays counted when it turns out to
    // have ended earlier (at its flow's last packet, or by a late reopening).
    // A flow's own stall_us ends at its end.
    int64_t stall_us;
    uint64_t probes;  // both kinds
    uint64_t window_reopenings;
    uint64_t stalled_now;  // flows in a stall now
    // Expiry's work: connections looked at by tw_flow_table_expire (their
    // flows ended or filed again for later), so a test can see it is not
    // O(table).
    uint64_t expiry_checks;
    // Records in the timer wheel, current and stale: at most 4 per live
    // connection entry (as of the last compaction) plus 4,096
    // (flow_table.c), never growing with the packet rate.
    uint64_t wheel_records;
} tw_flow_counters;

typedef struct tw_flow_table tw_flow_table;

//  Creates an empty table. on_end is called for every flow that ends (may be
//  NULL). Returns NULL when out of memory, max_flows is 0 or a timeout is
//  negative.
tw_flow_table *tw_flow_table_new(const tw_flow_config *config, tw_flow_end_fn *on_end, void *arg);

//  Frees the table without ending its flows; sets *self to NULL.
void tw_flow_table_destroy(tw_flow_table **self);

//  Accounts one decoded TCP packet captured at ts_us. Returns 0, or -ENOMEM
//  when a growing table could not get memory (the packet is then not counted).
int tw_flow_table_packet(tw_flow_table *self, const tw_packet *packet, int64_t ts_us);

//  Accounts n packets in order, packets[i] captured at ts_us[i], with the
//  same results as n calls of tw_flow_table_packet, only faster: the memory
//  of a batch's flows is fetched while the packets before them are counted.
//  Returns 0, or -ENOMEM when some packet could not be counted (the others
//  were).
int tw_flow_table_packets(tw_flow_table *self, const tw_packet *packets, const int64_t *ts_us,
                          size_t n);

//  Ends the flows that are idle or whose linger has passed at now_us. Looks
//  only at the records in the wheel's buckets up to now_us's (each bucket
//  once however far the clock moved): O(flows ended + connections filed
//  again + stale records), not O(table). The order in which flows due in
//  the same call end is unspecified (it decides which of two flows with the
//  same ratio a host row keeps, host_table.h).
void tw_flow_table_expire(tw_flow_table *self, int64_t now_us);

//  Ends every flow with the given reason (end of capture, shutdown).
void tw_flow_table_end_all(tw_flow_table *self, tw_end_reason reason);

//  Copies up to max flows in a stall into out, oldest stall first, their
//  stalled_us counted up to now_us, and sets *stall_us_now (may be NULL) to
//  the time every stalled flow has been in its current stall at now_us.
//  Remembers now_us: the stalls' time up to it is counted (see
//  tw_flow_counters.stall_us). Returns how many are stalled in all (may
//  exceed max).
size_t tw_flow_table_stalled(tw_flow_table *self, int64_t now_us, tw_flow_record *out, size_t max,
                             int64_t *stall_us_now);

//  Counters so far.
tw_flow_counters tw_flow_table_counters(const tw_flow_table *self);

//  Checks the table's bookkeeping against its flows (for tests; O(flows) or
//  worse). Returns 0 when every connection is found through exactly one
//  slot, every one is filed in the wheel, the free entries and the counts
//  add up and the stalled list holds exactly the stalled flows, or -EINVAL.
int tw_flow_table_check(const tw_flow_table *self);

//  Checks, right after tw_flow_table_expire(self, now_us), that no flow
//  left is over at now_us (for tests). Returns 0 or -EINVAL.
int tw_flow_table_check_expired(const tw_flow_table *self, int64_t now_us);

#endif
