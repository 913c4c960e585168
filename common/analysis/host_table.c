// SPDX-License-Identifier: MPL-2.0
/*  host_table: worst flow per source IP, with LRU eviction and a TTL.

    Design. Rows live in a fixed pool of max_hosts slots allocated on demand
    (grown by doubling). Two intrusive doubly linked lists thread the live
    rows: one in insertion order (the report's order) and one in update order
    (the head is the least recently updated, the eviction victim and the
    first TTL candidate). A chained hash index finds a row by address. Every
    operation is O(1) but the report walk, which is O(rows). Offers happen at
    flow end only, never per packet.
*/
#include "host_table.h"

#include "tw_time.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

typedef struct {
    tw_host host;                       // first, so a tw_host pointer is a row pointer
    uint32_t hash_next;                 // chain in the hash bucket
    uint32_t order_prev, order_next;    // insertion order
    uint32_t update_prev, update_next;  // update order, oldest first
} host_row;

typedef struct {
    uint32_t head, tail;
} row_list;

struct tw_host_table {
    size_t max_hosts;
    uint64_t min_pkts;
    int64_t ttl_us;
    host_row *rows;
    uint32_t allocated;  // rows slots allocated
    uint32_t used;       // slots ever handed out (free ones are on free_head)
    uint32_t free_head;  // freed slots, chained through hash_next
    uint32_t *buckets;
    uint32_t bucket_mask;
    row_list order;
    row_list updates;
    size_t size;
    uint64_t evicted;
    uint64_t generation;  // the last one given to a row (tw_host.generation)
};

static uint32_t s_hash_ip(const uint8_t *ip)
{
    uint64_t a, b;
    memcpy(&a, ip, 8);
    memcpy(&b, ip + 8, 8);
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
    return (uint32_t)(h ^ (h >> 29) ^ (h >> 47));
}

//  The links of a row in one of its two lists.
static uint32_t *s_prev(host_row *row, bool order)
{
    return order ? &row->order_prev : &row->update_prev;
}

static uint32_t *s_next(host_row *row, bool order)
{
    return order ? &row->order_next : &row->update_next;
}

static void s_list_append(tw_host_table *self, row_list *list, bool order, uint32_t index)
{
    host_row *row = &self->rows[index];
    *s_prev(row, order) = list->tail;
    *s_next(row, order) = NONE;
    if (list->tail != NONE)
        *s_next(&self->rows[list->tail], order) = index;
    else
        list->head = index;
    list->tail = index;
}

static void s_list_unlink(tw_host_table *self, row_list *list, bool order, uint32_t index)
{
    host_row *row = &self->rows[index];
    uint32_t prev = *s_prev(row, order), next = *s_next(row, order);
    if (prev != NONE)
        *s_next(&self->rows[prev], order) = next;
    else
        list->head = next;
    if (next != NONE)
        *s_prev(&self->rows[next], order) = prev;
    else
        list->tail = prev;
}

//  The version counts: IPv4 addresses are stored zero-padded, so 10.0.0.1
//  has the bytes of the IPv6 address a00:1::, and one must not reach the
//  other's row.
static uint32_t s_find(const tw_host_table *self, const uint8_t *ip, uint8_t ip_version,
                       uint32_t hash)
{
    for (uint32_t i = self->buckets[hash & self->bucket_mask]; i != NONE;
         i = self->rows[i].hash_next)
        if (self->rows[i].host.ip_version == ip_version &&
            memcmp(self->rows[i].host.ip, ip, 16) == 0)
            return i;
    return NONE;
}

static void s_remove(tw_host_table *self, uint32_t index)
{
    uint32_t *link = &self->buckets[s_hash_ip(self->rows[index].host.ip) & self->bucket_mask];
    while (*link != index)
        link = &self->rows[*link].hash_next;
    *link = self->rows[index].hash_next;
    s_list_unlink(self, &self->order, true, index);
    s_list_unlink(self, &self->updates, false, index);
    self->rows[index].hash_next = self->free_head;
    self->free_head = index;
    self->size--;
    self->evicted++;
}

//  A free row slot: a recycled one, a fresh one, or the oldest row evicted.
static uint32_t s_take_slot(tw_host_table *self)
{
    if (self->size == self->max_hosts)
        s_remove(self, self->updates.head);
    if (self->free_head != NONE) {
        uint32_t index = self->free_head;
        self->free_head = self->rows[index].hash_next;
        return index;
    }
    if (self->used == self->allocated) {
        size_t grown =
            self->allocated * 2 < self->max_hosts ? self->allocated * 2 : self->max_hosts;
        host_row *rows = realloc(self->rows, sizeof *rows * grown);
        if (!rows) {
            self->evicted++;  // the new host is dropped: counted like an eviction
            return NONE;
        }
        self->rows = rows;
        self->allocated = (uint32_t)grown;
    }
    return self->used++;
}

static uint32_t s_insert(tw_host_table *self, const tw_flow_record *flow, uint32_t hash)
{
    uint32_t index = s_take_slot(self);
    if (index == NONE)
        return NONE;
    host_row *row = &self->rows[index];
    memset(row, 0, sizeof *row);
    memcpy(row->host.ip, flow->key.src, 16);
    row->host.ip_version = flow->key.ip_version;
    uint32_t *head = &self->buckets[hash & self->bucket_mask];
    row->hash_next = *head;
    *head = index;
    s_list_append(self, &self->order, true, index);
    s_list_append(self, &self->updates, false, index);
    self->size++;
    return index;
}

static void s_take_worst(tw_host *host, const tw_flow_record *flow, float ratio)
{
    host->win_rel_th_cnt = ratio;
    host->pkt_tcp_cnt = flow->tcp_packets > UINT32_MAX ? UINT32_MAX : (uint32_t)flow->tcp_packets;
    memcpy(host->worst_peer_ip, flow->key.dst, 16);
    host->worst_peer_port = flow->key.dst_port;
    host->worst_src_port = flow->key.src_port;
}

static void s_add_stall_figures(tw_host *host, const tw_flow_record *flow)
{
    host->zero_window_adverts += flow->zero_window_adverts;
    host->flows_stalled += flow->stalls > 0;
    host->stall_us = tw_time_add(host->stall_us, flow->stall_us);
    host->probes_received += flow->probes_received;
}

//  A flow that does not qualify: its stall figures, on its host's row if any
//  (a lookup only for the few flows that have some).
static void s_offer_stall_figures(tw_host_table *self, const tw_flow_record *flow)
{
    if (flow->zero_window_adverts == 0 && flow->stalls == 0 && flow->probes_received == 0)
        return;
    uint32_t index = s_find(self, flow->key.src, flow->key.ip_version, s_hash_ip(flow->key.src));
    if (index == NONE)
        return;
    s_add_stall_figures(&self->rows[index].host, flow);
    self->rows[index].host.generation = ++self->generation;  // the row changed: encode it anew
}

int tw_host_table_offer(tw_host_table *self, const tw_flow_record *flow)
{
    if (flow->tcp_packets < self->min_pkts || flow->undershoot_packets == 0) {
        s_offer_stall_figures(self, flow);
        return 0;
    }
    uint32_t hash = s_hash_ip(flow->key.src);
    uint32_t index = s_find(self, flow->key.src, flow->key.ip_version, hash);
    if (index == NONE && (index = s_insert(self, flow, hash)) == NONE)
        return 0;
    tw_host *host = &self->rows[index].host;
    s_add_stall_figures(host, flow);
    float ratio = (float)flow->undershoot_packets / (float)flow->tcp_packets;
    if (host->flows_counted == 0 || ratio > host->win_rel_th_cnt)
        s_take_worst(host, flow, ratio);
    host->flows_counted++;
    host->tcp_packets += flow->tcp_packets;
    host->undershoot_packets += flow->undershoot_packets;
    host->last_update_us = flow->last_us;
    host->generation = ++self->generation;  // every change to a row comes with a new one
    s_list_unlink(self, &self->updates, false, index);
    s_list_append(self, &self->updates, false, index);
    return 1;
}

void tw_host_table_expire(tw_host_table *self, int64_t now_us)
{
    if (self->ttl_us <= 0)
        return;
    while (self->updates.head != NONE &&
           now_us - self->rows[self->updates.head].host.last_update_us > self->ttl_us)
        s_remove(self, self->updates.head);
}

const tw_host *tw_host_table_first(const tw_host_table *self)
{
    return self->order.head == NONE ? NULL : &self->rows[self->order.head].host;
}

const tw_host *tw_host_table_next(const tw_host_table *self, const tw_host *host)
{
    uint32_t next = ((const host_row *)host)->order_next;
    return next == NONE ? NULL : &self->rows[next].host;
}

uint32_t tw_host_table_slot(const tw_host_table *self, const tw_host *host)
{
    return (uint32_t)((const host_row *)host - self->rows);
}

size_t tw_host_table_slots(const tw_host_table *self)
{
    return self->used;
}

size_t tw_host_table_size(const tw_host_table *self)
{
    return self->size;
}

uint64_t tw_host_table_evicted(const tw_host_table *self)
{
    return self->evicted;
}

tw_host_table *tw_host_table_new(size_t max_hosts, uint64_t min_pkts, int64_t ttl_us)
{
    if (max_hosts == 0 || max_hosts >= NONE)
        return NULL;
    tw_host_table *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max_hosts = max_hosts;
    self->min_pkts = min_pkts;
    self->ttl_us = ttl_us;
    self->allocated = max_hosts < 64 ? (uint32_t)max_hosts : 64;
    self->free_head = NONE;
    self->order = self->updates = (row_list){NONE, NONE};
    uint32_t buckets = 1;
    while (buckets < max_hosts && buckets < (1u << 31))
        buckets *= 2;
    self->bucket_mask = buckets - 1;
    self->rows = malloc(sizeof *self->rows * self->allocated);
    self->buckets = malloc(sizeof *self->buckets * buckets);
    if (!self->rows || !self->buckets) {
        tw_host_table_destroy(&self);
        return NULL;
    }
    memset(self->buckets, 0xff, sizeof *self->buckets * buckets);
    return self;
}

void tw_host_table_destroy(tw_host_table **self)
{
    if (!*self)
        return;
    free((*self)->rows);
    free((*self)->buckets);
    free(*self);
    *self = NULL;
}
