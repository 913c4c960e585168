// SPDX-License-Identifier: MPL-2.0
/*  analyzer: the whole window analysis, from captured frames to plain values.

    decode -> flow table -> host table -> snapshots at interval boundaries.
    Pure: frames and their timestamps come in; report snapshots and ended
    flows go out through the sink callbacks as plain C values (borrowed for
    the duration of the call). No I/O, no clock reads, no wire format: the
    producer turns a snapshot into the published Report (report_builder), so
    a test can drive an hour of traffic and look at the numbers directly.

    Ended flows. The flow table ends flows in the middle of a batch of
    packets; their records are queued here and handed to on_flow only after
    the batch (or the expiry sweep) is done, so a slow consumer behind on_flow
    never holds the table mid-batch.

    Reports: boundaries are multiples of interval_s since the epoch, in the
    capture's clock. A packet that crosses one or more boundaries first
    causes one report, dated at the last boundary crossed (a silent hour
    yields one report, not 720). tw_analyzer_tick() lets a live capture cross
    boundaries by the wall clock when no packet comes. tw_analyzer_finish()
    ends every flow and publishes the final report.

    Time jumps. Capture clocks step (a clock set by hand, a merged file, one
    packet dated 2038 in a 2011 capture, pcapng timestamp offsets), and a
    step must neither silence the reports nor make one per packet. A packet
    (or tick) more than max_time_jump_us (default one hour) before the start
    of the current report interval, or more than that after its end (the
    next boundary), is a time jump: it is counted (time_jumps) and the
    report clock is re-anchored at its time: the next boundary is the first
    one after it, and no report is made for the jump itself (the packets
    before it are in the next report). The flows do not see the step: they
    run on a flow clock that is the capture clock with every jump taken out
    (the time from the last packet to the jump counts as nothing), so a
    jump ends no flow as idle and makes no duration absurd; the times of
    flow records and stalled flows are given back on the capture clock of
    their report. A jump back into the interval the last jump left (a stray
    packet, then the capture goes on) restores that interval's boundaries,
    so one stray packet costs two counted jumps and nothing else; the flow
    clock then goes on from the last packet's time, not back by the time
    the stray stretch lasted (its flows and stalls go on after it). Smaller
    steps back (packets out of order, merged captures a little apart) are
    not jumps: they never cross a boundary, so a step back by d delays the
    next report by d of capture time (at most max_time_jump_us), and a
    flow's time never goes back (flow_table.h): no duration is negative.
*/
#ifndef TW_ANALYZER_H
#define TW_ANALYZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow_table.h"
#include "host_table.h"

//  Defaults, documented in the README and --help.
#define TW_DEFAULT_INTERVAL_S     5
#define TW_DEFAULT_THRESHOLD      1
#define TW_DEFAULT_MIN_PKTS       50
#define TW_DEFAULT_MAX_FLOWS      1000000
#define TW_DEFAULT_MAX_HOSTS      65536
#define TW_DEFAULT_FLOW_TIMEOUT_S 120
//  Idle timeout of a flow in a stall and of the flow probing it. Linux backs
//  its persist probes off to TCP_RTO_MAX, 120 s, give or take the RTO's
//  jitter, and probes forever while the receiver answers; 600 s lets four
//  probes (or their answers) in a row go missing from the capture before a
//  stall is taken for a dead connection.
#define TW_DEFAULT_STALL_TIMEOUT_S 600
#define TW_DEFAULT_LINGER_US       2000000
//  State-aware timeouts (flow_table.h), between Zeek's and Suricata's
//  defaults: a flow of SYNs only (an unanswered SYN, a handshake never
//  finished) waits 30 s (Zeek tcp_SYN_timeout 5 s, Suricata flow-timeouts
//  tcp new 60 s), which keeps Linux's first four SYN retransmissions (1, 3,
//  7 and 15 s after the first) in one flow; a half-closed connection (a FIN
//  one way only) 30 s of silence (Zeek tcp_partial_close_delay 3 s,
//  Suricata tcp closed 60 s); a connection after a RST or a FIN both ways
//  lingers TW_DEFAULT_LINGER_US (Zeek tcp_reset_delay and tcp_close_delay
//  5 s). None is shortened below --stall-timeout for a stalled flow or its
//  prober, and none exceeds --flow-timeout.
#define TW_DEFAULT_SYN_TIMEOUT_US         ((int64_t)30 * 1000000)
#define TW_DEFAULT_HALF_CLOSED_TIMEOUT_US ((int64_t)30 * 1000000)
#define TW_DEFAULT_MAX_STALLED            100
//  A step of the capture clock beyond this is a time jump (see the top).
#define TW_DEFAULT_MAX_TIME_JUMP_US ((int64_t)3600 * 1000000)
//  A host row encodes to at most 144 bytes (with the stall figures; 100
//  before them) and a stalled flow to 122, so this many rows and
//  TW_MAX_STALLED_ROWS stalled flows keep a report under the subscribers'
//  default 64 MiB message limit (--max-message): 62.6 MB at the widest
//  (test_wire checks it).
#define TW_MAX_HOSTS_LIMIT 350000

typedef struct {
    uint32_t interval_s;
    uint32_t threshold;
    bool threshold_bytes;  // compare the scaled window in bytes
    uint32_t min_pkts;
    size_t max_flows;
    size_t max_hosts;
    int64_t flow_timeout_us;
    int64_t stall_timeout_us;  // applies when longer than flow_timeout_us
    int64_t linger_us;
    int64_t host_ttl_us;       // 0: hosts are never forgotten
    size_t max_stalled;        // stalled flows listed per report
    bool flows;                // emit a FlowRecord per ended flow
    int64_t max_time_jump_us;  // larger steps are time jumps (> 0; see the top)
} tw_analyzer_config;

//  The analysis' own run counters. The capture's drops and the publisher's
//  are not the analysis' to know: the producer adds them to the Report.
typedef struct {
    uint64_t packets;            // frames seen
    uint64_t tcp_packets;        // decoded down to a TCP header
    uint64_t malformed_packets;  // headers that contradict themselves
    uint64_t truncated_packets;  // cut by the snap length before the window
    uint64_t fragments_skipped;  // non-first IP fragments
    uint64_t flows_active;       // in the flow table now
    uint64_t flows_ended;        // every end, evictions included
    uint64_t flows_evicted;      // ended because the table was full
    uint64_t packets_untracked;  // not counted: the flow table had no memory
    uint64_t hosts_evicted;      // host rows dropped by the bound or the TTL
    uint64_t stalled_omitted;    // stalled flows past max_stalled, this report
    uint64_t time_jumps;         // steps of the capture clock beyond max_time_jump_us
    // The stall figures (flow_table.h).
    uint64_t zero_window_adverts;
    int64_t stall_us;  // ended stalls, plus the live ones up to the report's time
    uint64_t stalls;   // begun
    uint64_t probes;
    uint64_t window_reopenings;
    uint64_t flows_stalled_now;
    // Frames of a link type the decoder does not know (not analysed), counted
    // in tw_analyzer_queue_link.
    uint64_t unknown_link_type_packets;
    // Reports whose stall_us was held at an earlier report's, higher one (a
    // counter never goes down): 0 unless a capture clock stepped back past
    // what the stalled list counted. Not on the wire (tests, logs).
    uint64_t stall_us_holds;
} tw_run_counters;

//  What a report says, as plain values. Borrowed: valid only during the
//  on_report call (hosts is the live table; walk it with
//  tw_host_table_first/next, rows in insertion order).
typedef struct {
    int64_t time_us;  // the boundary (or the end), capture clock
    uint32_t interval_s;
    bool final;
    uint32_t threshold;
    uint32_t min_pkts;
    bool threshold_bytes;
    tw_run_counters counters;
    const tw_host_table *hosts;
    const tw_flow_record *stalled;  // the listed stalled flows, stalled_us as of time_us
    size_t n_stalled;
} tw_report_snapshot;

typedef struct {
    void (*on_report)(const tw_report_snapshot *snapshot, void *arg);
    void (*on_flow)(const tw_flow_record *flow, void *arg);  // with config.flows
    void *arg;
} tw_analyzer_sink;

typedef struct tw_analyzer tw_analyzer;

//  A configuration with every default filled in.
tw_analyzer_config tw_analyzer_defaults(void);

//  Creates an analyzer for frames of link type dlt (link_type.h; the one
//  tw_analyzer_queue and tw_analyzer_packet use). Returns
//  NULL when out of memory or the configuration is invalid (interval_s or
//  max_time_jump_us not positive).
tw_analyzer *tw_analyzer_new(const tw_analyzer_config *config, int dlt, tw_analyzer_sink sink);

//  Frees everything; sets *self to NULL.
void tw_analyzer_destroy(tw_analyzer **self);

//  Analyses one captured frame, through to the flow table.
void tw_analyzer_packet(tw_analyzer *self, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                        int64_t ts_us);

//  Analyses one captured frame like tw_analyzer_packet, except that the flow
//  table sees it with the next few frames (faster). Reports, the host table
//  and the counters come out as with tw_analyzer_packet; flow records may
//  wait for later frames, or for tw_analyzer_flush, tick or finish. The
//  frame's bytes are not kept. Flows ended by a queued packet show in
//  tw_analyzer_counters after the flush.
void tw_analyzer_queue(tw_analyzer *self, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                       int64_t ts_us);

//  tw_analyzer_queue for a frame of its own link type dlt (a pcapng file's
//  interfaces each have theirs). A link type tw_link_supported() rejects
//  is counted (unknown_link_type_packets), not decoded.
void tw_analyzer_queue_link(tw_analyzer *self, int dlt, const uint8_t *data, uint32_t caplen,
                            uint32_t wirelen, int64_t ts_us);

//  tw_analyzer_queue_link for a frame decoded already (tw_packet_decode on
//  another thread): status is what the decoder said of it, packet what it
//  filled (read only when status is TW_DECODE_OK). Same counters, same
//  results as giving the frame itself.
void tw_analyzer_queue_decoded(tw_analyzer *self, int dlt, tw_decode_status status,
                               const tw_packet *packet, int64_t ts_us);

//  Puts the queued frames through the flow table.
void tw_analyzer_flush(tw_analyzer *self);

//  Lets the clock cross report boundaries without a packet (live capture).
void tw_analyzer_tick(tw_analyzer *self, int64_t now_us);

//  Ends every flow and emits the final report dated end_us.
void tw_analyzer_finish(tw_analyzer *self, int64_t end_us);

//  The next report boundary (capture clock), or INT64_MAX before the first
//  packet or tick.
int64_t tw_analyzer_next_boundary(const tw_analyzer *self);

//  Capture time of the last packet, and whether there was one.
bool tw_analyzer_last_packet(const tw_analyzer *self, int64_t *ts_us);

//  Run counters so far (flows_active etc. filled in; stalled_omitted 0).
tw_run_counters tw_analyzer_counters(const tw_analyzer *self);

#endif
