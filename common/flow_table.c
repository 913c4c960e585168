/*  flow_table: one-directional TCP flows.

    Design. Flows live in one dense array (flows[0..count)), so sweeps for
    idle flows and stalled flows walk contiguous memory and the resident size
    follows the number of live flows, not the bound. A hash index of bucket
    heads chains entries through their `next` field; each entry keeps its
    32-bit hash so a chain walk compares keys only on a hash match. Removing
    a flow moves the last entry into its place (one relink), which keeps the
    array dense without a free list.

    Time only comes from the caller, so the table is deterministic and a test
    can drive hours of traffic in microseconds.
*/
#include "flow_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NONE          UINT32_MAX
#define EVICT_SAMPLES 8
#define MAX_SHIFT     14  // RFC 7323: larger window scale values are treated as 14

enum {
    STATE_SYN_SEEN = 0x01,
    STATE_FIN_SEEN = 0x02,
    STATE_CLOSING = 0x04,     // connection closed, lingering since close_us
    STATE_BY_RST = 0x08,      // ... and the close was a RST
    STATE_IN_EPISODE = 0x10,  // the last packet was an undershoot
};

typedef struct {
    tw_flow_key key;
    uint32_t hash;
    uint32_t next;  // next entry in the bucket chain, or NONE
    int64_t first_us;
    int64_t last_us;
    uint64_t tcp_packets;
    uint64_t undershoot_packets;
    uint64_t episodes;
    int64_t episode_start_us;
    int64_t zero_window_us;
    int64_t close_us;
    uint16_t min_window;
    int8_t window_scale;  // from this side's SYN, -1 when unseen
    uint8_t shift;        // applied to this side's windows (bytes mode)
    uint8_t state;
} tw_flow;

struct tw_flow_table {
    tw_flow_config config;
    tw_flow_end_fn *on_end;
    void *arg;
    tw_flow *flows;     // dense array of live flows
    uint32_t count;     // live flows
    uint32_t capacity;  // allocated entries (<= config.max_flows)
    uint32_t *buckets;  // chain heads, NONE when empty
    uint32_t bucket_mask;
    uint32_t evict_cursor;
    uint64_t ended;
    uint64_t evicted;
};

static uint64_t s_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

//  A multiply-xorshift mix over the five words of the key: fast, and good
//  enough that sequential addresses and ports spread over the buckets.
static uint32_t s_hash(const tw_flow_key *key)
{
    const uint8_t *bytes = (const uint8_t *)key;
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof *key; i += 8) {
        h ^= s_load64(bytes + i);
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    return (uint32_t)(h ^ (h >> 32));
}

static void s_make_key(tw_flow_key *key, const tw_packet *packet)
{
    memcpy(key->src, packet->src, sizeof key->src);
    memcpy(key->dst, packet->dst, sizeof key->dst);
    key->src_port = packet->src_port;
    key->dst_port = packet->dst_port;
    key->ip_version = packet->ip_version;
    memset(key->pad, 0, sizeof key->pad);
}

static void s_reverse_key(tw_flow_key *reverse, const tw_flow_key *key)
{
    memcpy(reverse->src, key->dst, sizeof reverse->src);
    memcpy(reverse->dst, key->src, sizeof reverse->dst);
    reverse->src_port = key->dst_port;
    reverse->dst_port = key->src_port;
    reverse->ip_version = key->ip_version;
    memset(reverse->pad, 0, sizeof reverse->pad);
}

static uint32_t s_find(const tw_flow_table *self, const tw_flow_key *key, uint32_t hash)
{
    for (uint32_t i = self->buckets[hash & self->bucket_mask]; i != NONE; i = self->flows[i].next)
        if (self->flows[i].hash == hash && memcmp(&self->flows[i].key, key, sizeof *key) == 0)
            return i;
    return NONE;
}

static uint32_t s_find_reverse(const tw_flow_table *self, const tw_flow_key *key)
{
    tw_flow_key reverse;
    s_reverse_key(&reverse, key);
    return s_find(self, &reverse, s_hash(&reverse));
}

static void s_link(tw_flow_table *self, uint32_t index)
{
    uint32_t *head = &self->buckets[self->flows[index].hash & self->bucket_mask];
    self->flows[index].next = *head;
    *head = index;
}

//  Points whatever refers to entry `from` (a bucket head or a chain link) at `to`.
static void s_relink(tw_flow_table *self, uint32_t from, uint32_t to)
{
    uint32_t *link = &self->buckets[self->flows[from].hash & self->bucket_mask];
    while (*link != from)
        link = &self->flows[*link].next;
    *link = to;
}

static void s_remove(tw_flow_table *self, uint32_t index)
{
    s_relink(self, index, self->flows[index].next);
    uint32_t last = --self->count;
    if (index != last) {
        s_relink(self, last, index);
        self->flows[index] = self->flows[last];
    }
}

static void s_fill_record(const tw_flow *flow, tw_end_reason reason, tw_flow_record *record)
{
    record->key = flow->key;
    record->first_us = flow->first_us;
    record->last_us = flow->last_us;
    record->tcp_packets = flow->tcp_packets;
    record->undershoot_packets = flow->undershoot_packets;
    record->episodes = flow->episodes;
    record->zero_window_us = flow->zero_window_us;
    record->episode_start_us = flow->episode_start_us;
    if (flow->state & STATE_IN_EPISODE)
        record->zero_window_us += flow->last_us - flow->episode_start_us;
    record->min_window = flow->min_window;
    record->window_scale = flow->window_scale;
    record->end_reason = reason;
}

static void s_end(tw_flow_table *self, uint32_t index, tw_end_reason reason)
{
    if (self->on_end) {
        tw_flow_record record;
        s_fill_record(&self->flows[index], reason, &record);
        self->on_end(&record, self->arg);
    }
    self->ended++;
    if (reason == TW_END_EVICTED)
        self->evicted++;
    s_remove(self, index);
}

//  Why the flow is over at now_us, or 0 while it lives.
static tw_end_reason s_over_reason(const tw_flow_table *self, const tw_flow *flow, int64_t now_us)
{
    if ((flow->state & STATE_CLOSING) && now_us - flow->close_us > self->config.linger_us)
        return (flow->state & STATE_BY_RST) ? TW_END_RST : TW_END_FIN;
    if (now_us - flow->last_us > self->config.idle_timeout_us)
        return TW_END_IDLE;
    return 0;
}

static int s_rebuild_buckets(tw_flow_table *self, uint32_t bucket_count)
{
    uint32_t *buckets = malloc(sizeof *buckets * bucket_count);
    if (!buckets)
        return -ENOMEM;
    free(self->buckets);
    self->buckets = buckets;
    self->bucket_mask = bucket_count - 1;
    memset(buckets, 0xff, sizeof *buckets * bucket_count);
    for (uint32_t i = 0; i < self->count; i++)
        s_link(self, i);
    return 0;
}

//  Doubles the entry array (up to max_flows) and keeps one bucket per entry.
static int s_grow(tw_flow_table *self)
{
    size_t capacity = (size_t)self->capacity * 2;
    if (capacity > self->config.max_flows)
        capacity = self->config.max_flows;
    tw_flow *flows = realloc(self->flows, sizeof *flows * capacity);
    if (!flows)
        return -ENOMEM;
    self->flows = flows;
    self->capacity = (uint32_t)capacity;
    if (capacity > (size_t)self->bucket_mask + 1)
        return s_rebuild_buckets(self, (self->bucket_mask + 1) * 2);
    return 0;
}

//  Ends the least recently seen of a few entries after the cursor: cheap, and
//  close enough to LRU without paying a list update on every packet.
static void s_evict_one(tw_flow_table *self)
{
    uint32_t victim = self->evict_cursor % self->count;
    for (uint32_t k = 1; k < EVICT_SAMPLES && k < self->count; k++) {
        uint32_t i = (self->evict_cursor + k) % self->count;
        if (self->flows[i].last_us < self->flows[victim].last_us)
            victim = i;
    }
    self->evict_cursor += EVICT_SAMPLES;
    s_end(self, victim, TW_END_EVICTED);
}

static uint32_t s_insert(tw_flow_table *self, const tw_flow_key *key, uint32_t hash, int64_t ts_us)
{
    if (self->count == self->config.max_flows)
        s_evict_one(self);
    else if (self->count == self->capacity && s_grow(self) != 0)
        return NONE;
    uint32_t index = self->count++;
    tw_flow *flow = &self->flows[index];
    memset(flow, 0, sizeof *flow);
    flow->key = *key;
    flow->hash = hash;
    flow->first_us = ts_us;
    flow->last_us = ts_us;
    flow->min_window = UINT16_MAX;
    flow->window_scale = -1;
    s_link(self, index);
    return index;
}

static bool s_is_undershoot(const tw_flow_table *self, const tw_flow *flow, const tw_packet *packet)
{
    if (!self->config.threshold_bytes)
        return packet->window < self->config.threshold;
    // A SYN's own window is never scaled (RFC 7323).
    uint32_t shift = (packet->flags & TW_TCP_SYN) ? 0 : flow->shift;
    return ((uint64_t)packet->window << shift) < self->config.threshold;
}

static void s_count(tw_flow_table *self, tw_flow *flow, const tw_packet *packet, int64_t ts_us)
{
    flow->last_us = ts_us;
    flow->tcp_packets++;
    if (packet->window < flow->min_window)
        flow->min_window = packet->window;
    if (s_is_undershoot(self, flow, packet)) {
        flow->undershoot_packets++;
        if (!(flow->state & STATE_IN_EPISODE)) {
            flow->state |= STATE_IN_EPISODE;
            flow->episodes++;
            flow->episode_start_us = ts_us;
        }
    } else if (flow->state & STATE_IN_EPISODE) {
        flow->state &= ~STATE_IN_EPISODE;
        flow->zero_window_us += ts_us - flow->episode_start_us;
    }
}

static void s_start_closing(tw_flow *flow, int64_t ts_us, uint8_t how)
{
    if (!(flow->state & STATE_CLOSING)) {
        flow->state |= STATE_CLOSING | how;
        flow->close_us = ts_us;
    }
}

//  Window scaling is in force only when both SYNs carried the option; the
//  shift each side announced then applies to that side's windows.
static void s_on_syn(tw_flow *flow, tw_flow *reverse, const tw_packet *packet)
{
    flow->state |= STATE_SYN_SEEN;
    flow->window_scale = packet->window_scale;
    if (!reverse || !(reverse->state & STATE_SYN_SEEN))
        return;
    bool scaled = flow->window_scale >= 0 && reverse->window_scale >= 0;
    flow->shift =
        scaled ? (uint8_t)(flow->window_scale > MAX_SHIFT ? MAX_SHIFT : flow->window_scale) : 0;
    reverse->shift =
        scaled ? (uint8_t)(reverse->window_scale > MAX_SHIFT ? MAX_SHIFT : reverse->window_scale)
               : 0;
}

static void s_on_control(tw_flow_table *self, uint32_t index, const tw_packet *packet,
                         int64_t ts_us)
{
    tw_flow *flow = &self->flows[index];
    uint32_t r = s_find_reverse(self, &flow->key);
    tw_flow *reverse = r == NONE ? NULL : &self->flows[r];
    if (packet->flags & TW_TCP_SYN)
        s_on_syn(flow, reverse, packet);
    if (packet->flags & TW_TCP_RST) {
        s_start_closing(flow, ts_us, STATE_BY_RST);
        if (reverse)
            s_start_closing(reverse, ts_us, STATE_BY_RST);
    }
    if (packet->flags & TW_TCP_FIN) {
        flow->state |= STATE_FIN_SEEN;
        if (reverse && (reverse->state & STATE_FIN_SEEN)) {
            s_start_closing(flow, ts_us, 0);
            s_start_closing(reverse, ts_us, 0);
        }
    }
}

//  Ends a flow that is over; a closed connection ends both directions together.
static void s_end_connection(tw_flow_table *self, uint32_t index, tw_end_reason reason)
{
    tw_flow_key key = self->flows[index].key;
    bool closing = self->flows[index].state & STATE_CLOSING;
    s_end(self, index, reason);
    if (!closing)
        return;
    uint32_t r = s_find_reverse(self, &key);
    if (r != NONE && (self->flows[r].state & STATE_CLOSING))
        s_end(self, r, reason);
}

int tw_flow_table_packet(tw_flow_table *self, const tw_packet *packet, int64_t ts_us)
{
    tw_flow_key key;
    s_make_key(&key, packet);
    uint32_t hash = s_hash(&key);
    uint32_t index = s_find(self, &key, hash);
    if (index != NONE) {
        tw_end_reason reason = s_over_reason(self, &self->flows[index], ts_us);
        if (reason) {
            s_end_connection(self, index, reason);
            index = NONE;
        }
    }
    if (index == NONE && (index = s_insert(self, &key, hash, ts_us)) == NONE)
        return -ENOMEM;
    s_count(self, &self->flows[index], packet, ts_us);
    if (packet->flags & (TW_TCP_SYN | TW_TCP_FIN | TW_TCP_RST))
        s_on_control(self, index, packet, ts_us);
    return 0;
}

void tw_flow_table_expire(tw_flow_table *self, int64_t now_us)
{
    // Backwards, so the entry moved into a freed slot was already checked.
    for (uint32_t i = self->count; i-- > 0;) {
        if (i >= self->count)
            continue;  // ending a connection removed its partner too
        tw_end_reason reason = s_over_reason(self, &self->flows[i], now_us);
        if (reason)
            s_end_connection(self, i, reason);
    }
}

void tw_flow_table_end_all(tw_flow_table *self, tw_end_reason reason)
{
    while (self->count > 0)
        s_end(self, self->count - 1, reason);
}

size_t tw_flow_table_stalled(const tw_flow_table *self, tw_flow_record *out, size_t max)
{
    size_t stalled = 0;
    for (uint32_t i = 0; i < self->count; i++) {
        if (!(self->flows[i].state & STATE_IN_EPISODE))
            continue;
        if (stalled < max)
            s_fill_record(&self->flows[i], 0, &out[stalled]);
        stalled++;
    }
    return stalled;
}

tw_flow_counters tw_flow_table_counters(const tw_flow_table *self)
{
    return (tw_flow_counters){
        .active = self->count, .ended = self->ended, .evicted = self->evicted};
}

tw_flow_table *tw_flow_table_new(const tw_flow_config *config, tw_flow_end_fn *on_end, void *arg)
{
    if (config->max_flows == 0 || config->max_flows >= NONE)
        return NULL;
    tw_flow_table *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->on_end = on_end;
    self->arg = arg;
    self->capacity = config->max_flows < 1024 ? (uint32_t)config->max_flows : 1024;
    self->flows = malloc(sizeof *self->flows * self->capacity);
    uint32_t buckets = 1;
    while (buckets < self->capacity)
        buckets *= 2;
    if (!self->flows || s_rebuild_buckets(self, buckets) != 0)
        tw_flow_table_destroy(&self);
    return self;
}

void tw_flow_table_destroy(tw_flow_table **self)
{
    if (!*self)
        return;
    free((*self)->flows);
    free((*self)->buckets);
    free(*self);
    *self = NULL;
}
