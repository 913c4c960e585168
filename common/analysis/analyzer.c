// SPDX-License-Identifier: MPL-2.0
/*  analyzer: wires decode, flow table, host table and report snapshots.

    The per-packet path is decode + one flow table update; everything that
    is O(flows) or O(hosts) (idle sweep, stalled list, report) happens only
    at interval boundaries.

    Queued packets. A frame is decoded at once (its bytes are only borrowed)
    into a queue of up to QUEUE_PACKETS decoded packets, which go through the
    flow table together (tw_flow_table_packets fetches their flows' memory
    ahead). The queue is flushed before anything looks at the flow table: a
    report boundary, a tick, the finish, and tw_analyzer_flush. So flows end,
    and hosts are offered, in the same order and with the same counts as
    packet by packet; only flow records come out a few packets later.

    Ended flows are queued (ENDED_QUEUE records) and delivered after the
    batch. A batch ends at most three flows per packet (an eviction to make
    room, and both directions on a RST), so the queue never fills inside a
    batch; in a sweep (expiry, end of capture) a full queue is delivered and
    the sweep goes on.

    The clock. The report interval in force is [start_us, next_boundary_us);
    a packet in [low_us, next_boundary_us), low_us being max_time_jump_us
    before start_us, is on the fast path: one unsigned comparison (window_us
    is the width of that range), which also sends every packet to the slow
    path before the first one (an empty range). The slow path tells the
    first packet, a boundary crossed and a time jump apart (analyzer.h).
    The flow table runs on the flow clock, capture time - shift_us; shift_us
    changes only at a jump. Every sum or difference of times saturates
    (tw_time.h): near the ends of int64 a boundary sticks at INT64_MAX and
    no report is made for it, instead of a boundary that wraps into the past.
*/
#include "analyzer.h"

#include <stdlib.h>

#include "packet_decode.h"
#include "tw_time.h"

//  One batch of the flow table (TW_FLOW_BATCH, flow_table.h): the queue and
//  the table's prefetching agree on one size.
#define QUEUE_PACKETS TW_FLOW_BATCH
#define ENDED_QUEUE   (3 * QUEUE_PACKETS)

//  Where the report clock stands: the interval in force and the flow clock.
typedef struct {
    int64_t start_us;  // the interval's start (a boundary, or the first time)
    int64_t shift_us;  // capture clock - flow clock
} s_anchor;

struct tw_analyzer {
    tw_analyzer_config config;
    int dlt;
    tw_analyzer_sink sink;
    tw_flow_table *flows;
    tw_host_table *hosts;
    tw_flow_record *stalled;  // scratch for the report, max_stalled + 1 entries
    int64_t interval_us;
    s_anchor anchor;
    int64_t next_boundary_us;  // start + interval (saturated)
    int64_t low_us;            // start - max_time_jump_us (saturated)
    uint64_t window_us;        // next_boundary_us - low_us; 0 before the first packet
    bool started;              // the fields above are set
    bool have_left;            // left holds the anchor the last jump left
    s_anchor left;
    bool have_packet;
    int64_t last_packet_us;
    tw_run_counters counters;  // packet counters; the table ones are filled at report time
    size_t queued;             // decoded packets not yet in the flow table
    tw_packet queue[QUEUE_PACKETS];
    int64_t queue_us[QUEUE_PACKETS];
    // The highest Counters.stall_us reported (see s_emit_report).
    int64_t stall_us_reported;
    size_t n_ended;  // ended flows not yet handed to on_flow
    tw_flow_record ended[ENDED_QUEUE];
};

tw_analyzer_config tw_analyzer_defaults(void)
{
    return (tw_analyzer_config){
        .interval_s = TW_DEFAULT_INTERVAL_S,
        .threshold = TW_DEFAULT_THRESHOLD,
        .min_pkts = TW_DEFAULT_MIN_PKTS,
        .max_flows = TW_DEFAULT_MAX_FLOWS,
        .max_hosts = TW_DEFAULT_MAX_HOSTS,
        .flow_timeout_us = (int64_t)TW_DEFAULT_FLOW_TIMEOUT_S * 1000000,
        .stall_timeout_us = (int64_t)TW_DEFAULT_STALL_TIMEOUT_S * 1000000,
        .linger_us = TW_DEFAULT_LINGER_US,
        .max_stalled = TW_DEFAULT_MAX_STALLED,
        .max_time_jump_us = TW_DEFAULT_MAX_TIME_JUMP_US,
    };
}

//  The multiple of step at or before t (step > 0); INT64_MIN when there is
//  none in range.
static int64_t s_floor_to(int64_t t, int64_t step)
{
    int64_t r = t % step;
    return tw_time_sub(t, r < 0 ? r + step : r);
}

//  A record's times from the flow clock to the capture clock.
static void s_to_capture_clock(const tw_analyzer *self, tw_flow_record *record)
{
    record->first_us = tw_time_add(record->first_us, self->anchor.shift_us);
    record->last_us = tw_time_add(record->last_us, self->anchor.shift_us);
    record->episode_start_us = tw_time_add(record->episode_start_us, self->anchor.shift_us);
    if (record->stalled)
        record->stall_since_us = tw_time_add(record->stall_since_us, self->anchor.shift_us);
}

//  Hands the queued ended flows to on_flow, oldest first.
static void s_deliver_ended(tw_analyzer *self)
{
    for (size_t i = 0; i < self->n_ended; i++)
        self->sink.on_flow(&self->ended[i], self->sink.arg);
    self->n_ended = 0;
}

static void s_on_flow_end(const tw_flow_record *flow, void *arg)
{
    tw_analyzer *self = arg;
    tw_flow_record on_capture_clock;
    if (self->anchor.shift_us != 0) {
        on_capture_clock = *flow;
        s_to_capture_clock(self, &on_capture_clock);
        flow = &on_capture_clock;
    }
    tw_host_table_offer(self->hosts, flow);
    if (!self->config.flows || !self->sink.on_flow)
        return;
    if (self->n_ended == ENDED_QUEUE)
        s_deliver_ended(self);  // only in a sweep: a batch ends fewer (see the top)
    self->ended[self->n_ended++] = *flow;
}

tw_run_counters tw_analyzer_counters(const tw_analyzer *self)
{
    tw_run_counters counters = self->counters;
    tw_flow_counters flows = tw_flow_table_counters(self->flows);
    counters.flows_active = flows.active;
    counters.flows_ended = flows.ended;
    counters.flows_evicted = flows.evicted;
    counters.packets_untracked = flows.untracked;
    counters.hosts_evicted = tw_host_table_evicted(self->hosts);
    counters.zero_window_adverts = flows.zero_window_adverts;
    counters.stall_us = flows.stall_us;
    counters.stalls = flows.stalls;
    counters.probes = flows.probes;
    counters.window_reopenings = flows.window_reopenings;
    counters.flows_stalled_now = flows.stalled_now;
    return counters;
}

static void s_emit_report(tw_analyzer *self, int64_t time_us, bool final)
{
    s_deliver_ended(self);  // records of flows ended before the report go first
    int64_t stall_us_now = 0;
    size_t stalled = tw_flow_table_stalled(self->flows, tw_time_sub(time_us, self->anchor.shift_us),
                                           self->stalled, self->config.max_stalled, &stall_us_now);
    size_t listed = stalled < self->config.max_stalled ? stalled : self->config.max_stalled;
    if (self->anchor.shift_us != 0)
        for (size_t i = 0; i < listed; i++)
            s_to_capture_clock(self, &self->stalled[i]);
    tw_report_snapshot snapshot = {
        .time_us = time_us,
        .interval_s = self->config.interval_s,
        .final = final,
        .threshold = self->config.threshold,
        .min_pkts = self->config.min_pkts,
        .threshold_bytes = self->config.threshold_bytes,
        .counters = tw_analyzer_counters(self),
        .hosts = self->hosts,
        .stalled = self->stalled,
        .n_stalled = listed,
    };
    snapshot.counters.stalled_omitted = stalled - listed;
    snapshot.counters.stall_us = tw_time_add(snapshot.counters.stall_us, stall_us_now);
    // The flow table keeps the sum from going down; only a report clock that
    // goes back on the flow clock (ticks past the packets, then a jump back)
    // could count live stalls short of an earlier report. Hold the mark.
    if (snapshot.counters.stall_us < self->stall_us_reported) {
        snapshot.counters.stall_us = self->stall_us_reported;
        snapshot.counters.stall_us_holds = ++self->counters.stall_us_holds;
    }
    self->stall_us_reported = snapshot.counters.stall_us;
    if (self->sink.on_report)
        self->sink.on_report(&snapshot, self->sink.arg);
}

//  Puts the interval of anchor in force.
static void s_set_anchor(tw_analyzer *self, s_anchor anchor)
{
    self->anchor = anchor;
    self->next_boundary_us = tw_time_add(anchor.start_us, self->interval_us);
    self->low_us = tw_time_sub(anchor.start_us, self->config.max_time_jump_us);
    self->window_us = (uint64_t)self->next_boundary_us - (uint64_t)self->low_us;
}

//  Whether now_us is a time jump from the interval of anchor.
static bool s_is_jump(const tw_analyzer *self, s_anchor anchor, int64_t now_us)
{
    int64_t bound = self->config.max_time_jump_us;
    int64_t next = tw_time_add(anchor.start_us, self->interval_us);
    return now_us < tw_time_sub(anchor.start_us, bound) || tw_time_sub(now_us, next) > bound;
}

//  A time jump to now_us: back to the interval the last jump left, or a new
//  anchor at now_us whose flow clock goes on from the last packet's time.
//  Back, the interval is restored but not a flow clock behind the last
//  packet's: the flows and stalls of the stretch between went on, and the
//  old shift would put them in the future by the stretch's length.
//  Returns true when the interval restored may have a boundary to cross.
static bool s_jump(tw_analyzer *self, int64_t now_us)
{
    self->counters.time_jumps++;
    s_anchor from = self->anchor;
    bool back = self->have_left && !s_is_jump(self, self->left, now_us);
    int64_t since = self->have_packet ? tw_time_sub(now_us, self->last_packet_us) : 0;
    int64_t going_on = tw_time_add(from.shift_us, since);  // now_us at the last packet's flow time
    if (back) {
        s_anchor left = self->left;
        left.shift_us = going_on < left.shift_us ? going_on : left.shift_us;
        s_set_anchor(self, left);
    } else {
        s_set_anchor(self, (s_anchor){.start_us = s_floor_to(now_us, self->interval_us),
                                      .shift_us = going_on});
    }
    self->left = from;
    self->have_left = true;
    return back;
}

//  Crosses the boundaries up to now_us, if any: one report at the last one.
//  A time jump re-anchors the clock instead (analyzer.h).
static void s_advance_clock(tw_analyzer *self, int64_t now_us)
{
    if (!self->started) {
        self->started = true;
        s_set_anchor(self, (s_anchor){.start_us = s_floor_to(now_us, self->interval_us)});
        return;
    }
    if (s_is_jump(self, self->anchor, now_us) && !s_jump(self, now_us))
        return;
    if (now_us < self->next_boundary_us)
        return;
    int64_t boundary = s_floor_to(now_us, self->interval_us);
    if (boundary < self->next_boundary_us)
        return;  // next_boundary_us saturated at INT64_MAX: no boundary to cross
    s_set_anchor(self, (s_anchor){.start_us = boundary, .shift_us = self->anchor.shift_us});
    tw_flow_table_expire(self->flows, tw_time_sub(boundary, self->anchor.shift_us));
    tw_host_table_expire(self->hosts, boundary);
    s_emit_report(self, boundary, false);
}

void tw_analyzer_flush(tw_analyzer *self)
{
    // -ENOMEM: the flow table could not grow; it counts the packets it lost
    // (packetsUntracked in the reports).
    (void)tw_flow_table_packets(self->flows, self->queue, self->queue_us, self->queued);
    self->queued = 0;
    s_deliver_ended(self);
}

void tw_analyzer_queue(tw_analyzer *self, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                       int64_t ts_us)
{
    tw_analyzer_queue_link(self, self->dlt, data, caplen, wirelen, ts_us);
}

//  The first half of queueing a frame: the clock (a boundary, a jump or the
//  first packet flushes and moves it) and the packet counters. Returns the
//  queue slot the decoded packet goes to.
static inline tw_packet *s_admit(tw_analyzer *self, int64_t ts_us)
{
    // Outside [low_us, next_boundary_us): a boundary, a jump or the first packet.
    if ((uint64_t)ts_us - (uint64_t)self->low_us >= self->window_us) {
        tw_analyzer_flush(self);  // the report sees every packet before this one
        s_advance_clock(self, ts_us);
    }
    self->have_packet = true;
    self->last_packet_us = ts_us;
    self->counters.packets++;
    return &self->queue[self->queued];
}

//  The second half: what the decoder said of the packet in the slot.
static inline void s_take(tw_analyzer *self, int dlt, tw_decode_status status, int64_t ts_us)
{
    switch (status) {
    case TW_DECODE_OK:
        self->counters.tcp_packets++;
        self->queue_us[self->queued] = tw_time_sub(ts_us, self->anchor.shift_us);
        if (++self->queued == QUEUE_PACKETS)
            tw_analyzer_flush(self);
        break;
    case TW_DECODE_TRUNCATED:
        self->counters.truncated_packets++;
        break;
    case TW_DECODE_MALFORMED:
        self->counters.malformed_packets++;
        break;
    case TW_DECODE_FRAGMENT:
        self->counters.fragments_skipped++;
        break;
    case TW_DECODE_NOT_TCP:
        // The decoder says "not TCP" for a link type it does not know too;
        // asked here only, the TCP path pays nothing for the distinction.
        if (!tw_link_supported(dlt))
            self->counters.unknown_link_type_packets++;
        break;
    }
}

void tw_analyzer_queue_link(tw_analyzer *self, int dlt, const uint8_t *data, uint32_t caplen,
                            uint32_t wirelen, int64_t ts_us)
{
    tw_packet *slot = s_admit(self, ts_us);
    s_take(self, dlt, tw_packet_decode(dlt, data, caplen, wirelen, slot), ts_us);
}

void tw_analyzer_queue_decoded(tw_analyzer *self, int dlt, tw_decode_status status,
                               const tw_packet *packet, int64_t ts_us)
{
    tw_packet *slot = s_admit(self, ts_us);
    if (status == TW_DECODE_OK)
        *slot = *packet;
    s_take(self, dlt, status, ts_us);
}

void tw_analyzer_packet(tw_analyzer *self, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                        int64_t ts_us)
{
    tw_analyzer_queue(self, data, caplen, wirelen, ts_us);
    tw_analyzer_flush(self);
}

void tw_analyzer_tick(tw_analyzer *self, int64_t now_us)
{
    tw_analyzer_flush(self);
    s_advance_clock(self, now_us);
}

void tw_analyzer_finish(tw_analyzer *self, int64_t end_us)
{
    tw_analyzer_flush(self);
    tw_flow_table_expire(self->flows, tw_time_sub(end_us, self->anchor.shift_us));
    tw_flow_table_end_all(self->flows, TW_END_END_OF_CAPTURE);
    s_emit_report(self, end_us, true);
}

int64_t tw_analyzer_next_boundary(const tw_analyzer *self)
{
    return self->started ? self->next_boundary_us : INT64_MAX;
}

bool tw_analyzer_last_packet(const tw_analyzer *self, int64_t *ts_us)
{
    *ts_us = self->last_packet_us;
    return self->have_packet;
}

tw_analyzer *tw_analyzer_new(const tw_analyzer_config *config, int dlt, tw_analyzer_sink sink)
{
    if (config->interval_s == 0 || config->max_time_jump_us <= 0 || !tw_link_supported(dlt))
        return NULL;
    tw_analyzer *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->dlt = dlt;
    self->sink = sink;
    self->interval_us = (int64_t)config->interval_s * 1000000;
    tw_flow_config flow_config = {
        .threshold = config->threshold,
        .threshold_bytes = config->threshold_bytes,
        .max_flows = config->max_flows,
        .idle_timeout_us = config->flow_timeout_us,
        .stall_timeout_us = config->stall_timeout_us,
        .linger_us = config->linger_us,
        .syn_timeout_us = TW_DEFAULT_SYN_TIMEOUT_US,
        .half_closed_timeout_us = TW_DEFAULT_HALF_CLOSED_TIMEOUT_US,
    };
    self->flows = tw_flow_table_new(&flow_config, s_on_flow_end, self);
    self->hosts = tw_host_table_new(config->max_hosts, config->min_pkts, config->host_ttl_us);
    self->stalled = malloc(sizeof *self->stalled * (config->max_stalled + 1));
    if (!self->flows || !self->hosts || !self->stalled)
        tw_analyzer_destroy(&self);
    return self;
}

void tw_analyzer_destroy(tw_analyzer **self)
{
    if (!*self)
        return;
    tw_flow_table_destroy(&(*self)->flows);
    tw_host_table_destroy(&(*self)->hosts);
    free((*self)->stalled);
    free(*self);
    *self = NULL;
}
