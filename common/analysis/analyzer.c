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
*/
#include "analyzer.h"

#include <stdlib.h>

#include "packet_decode.h"

//  One batch of the flow table (TW_FLOW_BATCH, flow_table.h): the queue and
//  the table's prefetching agree on one size.
#define QUEUE_PACKETS TW_FLOW_BATCH
#define ENDED_QUEUE   (3 * QUEUE_PACKETS)

struct tw_analyzer {
    tw_analyzer_config config;
    int dlt;
    tw_analyzer_sink sink;
    tw_flow_table *flows;
    tw_host_table *hosts;
    tw_flow_record *stalled;  // scratch for the report, max_stalled + 1 entries
    int64_t interval_us;
    int64_t next_boundary_us;
    bool started;  // next_boundary_us is set
    bool have_packet;
    int64_t last_packet_us;
    tw_run_counters counters;  // packet counters; the table ones are filled at report time
    size_t queued;             // decoded packets not yet in the flow table
    tw_packet queue[QUEUE_PACKETS];
    int64_t queue_us[QUEUE_PACKETS];
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
        .linger_us = TW_DEFAULT_LINGER_US,
        .max_stalled = TW_DEFAULT_MAX_STALLED,
    };
}

static int64_t s_floor_to(int64_t t, int64_t step)
{
    int64_t q = t / step;
    if (t % step != 0 && t < 0)
        q--;
    return q * step;
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
    return counters;
}

static void s_emit_report(tw_analyzer *self, int64_t time_us, bool final)
{
    s_deliver_ended(self);  // records of flows ended before the report go first
    size_t stalled = tw_flow_table_stalled(self->flows, self->stalled, self->config.max_stalled);
    size_t listed = stalled < self->config.max_stalled ? stalled : self->config.max_stalled;
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
    if (self->sink.on_report)
        self->sink.on_report(&snapshot, self->sink.arg);
}

//  Crosses the boundaries up to now_us, if any: one report at the last one.
static void s_advance_clock(tw_analyzer *self, int64_t now_us)
{
    if (!self->started) {
        self->started = true;
        self->next_boundary_us = s_floor_to(now_us, self->interval_us) + self->interval_us;
        return;
    }
    if (now_us < self->next_boundary_us)
        return;
    int64_t boundary = s_floor_to(now_us, self->interval_us);
    self->next_boundary_us = boundary + self->interval_us;
    tw_flow_table_expire(self->flows, boundary);
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
    if (!self->started || ts_us >= self->next_boundary_us) {
        tw_analyzer_flush(self);  // the report sees every packet before this one
        s_advance_clock(self, ts_us);
    }
    self->have_packet = true;
    self->last_packet_us = ts_us;
    self->counters.packets++;
    tw_packet *packet = &self->queue[self->queued];
    switch (tw_packet_decode(self->dlt, data, caplen, wirelen, packet)) {
    case TW_DECODE_OK:
        self->counters.tcp_packets++;
        self->queue_us[self->queued] = ts_us;
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
        break;
    }
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
    tw_flow_table_expire(self->flows, end_us);
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
    if (config->interval_s == 0 || !tw_link_supported(dlt))
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
        .linger_us = config->linger_us,
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
