// SPDX-License-Identifier: MPL-2.0
/*  flow_table: counting, episodes, end rules, eviction and window scaling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow_table.h"

#define SECOND 1000000

typedef struct {
    tw_flow_record ended[64];
    int n;
} ended_log;

static void s_on_end(const tw_flow_record *record, void *arg)
{
    ended_log *log = arg;
    if (log->n < 64)
        log->ended[log->n] = *record;
    log->n++;
}

static tw_packet s_packet(uint8_t from, uint8_t to, uint16_t window, uint8_t flags)
{
    tw_packet p = {.ip_version = 4, .window = window, .flags = flags, .window_scale = -1};
    p.src[0] = 10, p.src[3] = from;
    p.dst[0] = 10, p.dst[3] = to;
    p.src_port = 1000 + from;
    p.dst_port = 1000 + to;
    return p;
}

static tw_flow_config s_config(void)
{
    return (tw_flow_config){
        .threshold = 1, .max_flows = 100, .idle_timeout_us = 60 * SECOND, .linger_us = 2 * SECOND};
}

static void test_counts_zero_windows_on_every_kind_of_packet(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    const uint8_t kinds[] = {TW_TCP_SYN, TW_TCP_ACK, TW_TCP_ACK | TW_TCP_PSH,
                             TW_TCP_FIN | TW_TCP_ACK};
    for (size_t i = 0; i < sizeof kinds; i++) {
        tw_packet p = s_packet(1, 2, 0, kinds[i]);
        assert_int_equal(tw_flow_table_packet(table, &p, (int64_t)i), 0);
    }
    tw_packet not_under = s_packet(1, 2, 1, TW_TCP_ACK);  // window 1 is not < 1
    tw_flow_table_packet(table, &not_under, 10);
    tw_packet rst = s_packet(1, 2, 0, TW_TCP_RST);
    tw_flow_table_packet(table, &rst, 11);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.ended[0].tcp_packets, 6);
    assert_int_equal(log.ended[0].undershoot_packets, 5);
    assert_int_equal(log.ended[0].min_window, 0);
    assert_int_equal(log.ended[0].episodes, 2);
    assert_int_equal(log.ended[0].first_us, 0);
    assert_int_equal(log.ended[0].last_us, 11);
    tw_flow_table_destroy(&table);
    assert_null(table);
}

static void test_episode_duration_runs_until_first_packet_after(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    const struct {
        int64_t t;
        uint16_t w;
    } seq[] = {{0, 500}, {100, 0}, {200, 0}, {350, 10}, {400, 0}, {470, 0}};
    for (size_t i = 0; i < 6; i++) {
        tw_packet p = s_packet(1, 2, seq[i].w, TW_TCP_ACK);
        tw_flow_table_packet(table, &p, seq[i].t);
    }
    tw_flow_record stalled[4];
    assert_int_equal(tw_flow_table_stalled(table, 470, stalled, 4, NULL), 1);
    assert_int_equal(stalled[0].episode_start_us, 400);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    assert_int_equal(log.ended[0].episodes, 2);
    assert_int_equal(log.ended[0].zero_window_us, (350 - 100) + (470 - 400));
    assert_int_equal(log.ended[0].end_reason, TW_END_END_OF_CAPTURE);
    tw_flow_table_destroy(&table);
}

static void test_fin_both_ways_ends_both_after_linger(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet a = s_packet(1, 2, 100, TW_TCP_FIN | TW_TCP_ACK);
    tw_packet b = s_packet(2, 1, 100, TW_TCP_FIN | TW_TCP_ACK);
    tw_packet last_ack = s_packet(1, 2, 100, TW_TCP_ACK);
    tw_flow_table_packet(table, &a, 0);
    tw_flow_table_packet(table, &b, SECOND);
    tw_flow_table_packet(table, &last_ack, SECOND + 10);  // inside the linger: counted
    tw_flow_table_expire(table, 2 * SECOND);
    assert_int_equal(log.n, 0);
    tw_flow_table_expire(table, 3 * SECOND + 1);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.ended[0].end_reason, TW_END_FIN);
    assert_int_equal(log.ended[1].end_reason, TW_END_FIN);
    assert_int_equal(log.ended[0].tcp_packets + log.ended[1].tcp_packets, 3);
    assert_int_equal(tw_flow_table_counters(table).active, 0);
    tw_flow_table_destroy(&table);
}

static void test_packet_after_close_starts_a_new_flow(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet rst = s_packet(1, 2, 0, TW_TCP_RST);
    tw_packet reverse = s_packet(2, 1, 100, TW_TCP_ACK);
    tw_flow_table_packet(table, &reverse, 0);
    tw_flow_table_packet(table, &rst, 1);
    tw_packet again = s_packet(1, 2, 100, TW_TCP_SYN);
    tw_flow_table_packet(table, &again, 5 * SECOND);
    assert_int_equal(log.n, 2);  // the RST flow and its reverse, together
    assert_int_equal(log.ended[0].end_reason, TW_END_RST);
    assert_int_equal(log.ended[1].end_reason, TW_END_RST);
    assert_int_equal(tw_flow_table_counters(table).active, 1);
    tw_flow_table_destroy(&table);
}

static void test_idle_flow_ends(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet p = s_packet(1, 2, 100, TW_TCP_ACK);
    tw_flow_table_packet(table, &p, 0);
    tw_flow_table_expire(table, 60 * SECOND);
    assert_int_equal(log.n, 0);
    tw_flow_table_packet(table, &p, 121 * SECOND);  // idle 121 s: old flow ends, new one starts
    assert_int_equal(log.n, 1);
    assert_int_equal(log.ended[0].end_reason, TW_END_IDLE);
    assert_int_equal(log.ended[0].tcp_packets, 1);
    tw_flow_table_destroy(&table);
}

//  A table of max_flows flows has max_flows / 2 connection entries: one-sided
//  connections (a scan, a SYN flood) fill it with half as many flows, so
//  memory stays bounded whatever the traffic.
static void test_full_table_evicts_and_counts(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    config.max_flows = 4;
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    for (uint8_t i = 0; i < 5; i++) {
        tw_packet p = s_packet(i, 200, 100, TW_TCP_ACK);
        tw_flow_table_packet(table, &p, i);
    }
    tw_flow_counters counters = tw_flow_table_counters(table);
    assert_int_equal(counters.active, 2);
    assert_int_equal(counters.evicted, 3);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.ended[0].end_reason, TW_END_EVICTED);
    assert_int_equal(log.ended[0].key.src[3], 0);  // the least recently seen first
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

//  Connections seen both ways fill the bound with two flows each; evicting
//  one ends both its directions.
static void test_full_table_of_connections_evicts_both_directions(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    config.max_flows = 4;
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    for (uint8_t i = 1; i <= 2; i++) {
        tw_packet out = s_packet(i, 200, 100, TW_TCP_ACK), back = s_packet(200, i, 100, TW_TCP_ACK);
        tw_flow_table_packet(table, &out, i * 10);
        tw_flow_table_packet(table, &back, i * 10 + 1);
    }
    assert_int_equal(tw_flow_table_counters(table).active, 4);
    assert_int_equal(log.n, 0);
    tw_packet third = s_packet(3, 200, 100, TW_TCP_ACK);
    tw_flow_table_packet(table, &third, 30);
    assert_int_equal(tw_flow_table_counters(table).active, 3);
    assert_int_equal(tw_flow_table_counters(table).evicted, 2);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.ended[0].end_reason, TW_END_EVICTED);
    assert_int_equal(log.ended[0].key.src[3] + log.ended[1].key.src[3], 1 + 200);
    // The bound holds for a new direction of a live connection too.
    tw_packet back = s_packet(200, 3, 100, TW_TCP_ACK);
    tw_flow_table_packet(table, &back, 31);
    assert_int_equal(tw_flow_table_counters(table).active, 4);
    tw_packet fourth = s_packet(200, 4, 100, TW_TCP_ACK);
    tw_flow_table_packet(table, &fourth, 40);
    assert_int_equal(tw_flow_table_counters(table).active, 3);  // the older one went
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_destroy(&table);
}

static void test_many_flows_grow_the_table(void **state)
{
    (void)state;
    tw_flow_config config = s_config();
    config.max_flows = 100000;
    tw_flow_table *table = tw_flow_table_new(&config, NULL, NULL);
    for (uint32_t i = 0; i < 50000; i++) {
        tw_packet p = s_packet(1, 2, 100, TW_TCP_ACK);
        p.src_port = (uint16_t)i;
        p.dst_port = (uint16_t)(i >> 16);
        tw_flow_table_packet(table, &p, i);
        tw_flow_table_packet(table, &p, i + 1);
    }
    assert_int_equal(tw_flow_table_counters(table).active, 50000);
    tw_flow_table_destroy(&table);
}

static void test_threshold_bytes_uses_window_scale_from_both_syns(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    config.threshold = 1000;
    config.threshold_bytes = true;
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet syn = s_packet(1, 2, 64, TW_TCP_SYN);  // 64 < 1000: a SYN's window is never scaled
    syn.window_scale = 7;
    tw_packet synack = s_packet(2, 1, 65535, TW_TCP_SYN | TW_TCP_ACK);
    synack.window_scale = 2;
    tw_packet scaled = s_packet(1, 2, 64, TW_TCP_ACK);  // 64 << 7 = 8192: not under
    tw_packet small = s_packet(1, 2, 7, TW_TCP_ACK);    // 7 << 7 = 896: under
    tw_flow_table_packet(table, &syn, 0);
    tw_flow_table_packet(table, &synack, 1);
    tw_flow_table_packet(table, &scaled, 2);
    tw_flow_table_packet(table, &small, 3);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    const tw_flow_record *a = log.ended[0].key.src[3] == 1 ? &log.ended[0] : &log.ended[1];
    assert_int_equal(a->tcp_packets, 3);
    assert_int_equal(a->undershoot_packets, 2);
    assert_int_equal(a->window_scale, 7);
    tw_flow_table_destroy(&table);
}

static void test_threshold_bytes_without_handshake_compares_raw(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    config.threshold = 1000;
    config.threshold_bytes = true;
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet p = s_packet(1, 2, 999, TW_TCP_ACK);
    tw_flow_table_packet(table, &p, 0);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    assert_int_equal(log.ended[0].undershoot_packets, 1);
    tw_flow_table_destroy(&table);
}

static void test_ipv6_keys_are_distinct(void **state)
{
    (void)state;
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, NULL, NULL);
    tw_packet v4 = s_packet(1, 2, 100, TW_TCP_ACK);
    tw_packet v6 = v4;
    v6.ip_version = 6;
    v6.src[15] = 9;
    tw_flow_table_packet(table, &v4, 0);
    tw_flow_table_packet(table, &v6, 0);
    assert_int_equal(tw_flow_table_counters(table).active, 2);
    tw_flow_table_destroy(&table);
}

//  A reproducible stream of pseudo-random numbers (splitmix64).
static uint64_t s_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

//  Connection `c` of a small universe, in direction `reverse`: IPv4 and
//  IPv6, so that keys differ in every word of the key.
static tw_packet s_conn_packet(uint32_t c, bool reverse, uint16_t window, uint8_t flags)
{
    tw_packet p = {.ip_version = (c % 3 == 0) ? 6 : 4, .window = window, .flags = flags};
    p.window_scale = (flags & TW_TCP_SYN) ? (int8_t)(c % 9) : -1;
    uint8_t *a = reverse ? p.dst : p.src, *b = reverse ? p.src : p.dst;
    a[0] = 10, a[1] = (uint8_t)(c >> 8), a[2] = (uint8_t)c, a[3] = 1;
    b[0] = 10, b[3] = 2;
    if (p.ip_version == 6)
        a[15] = (uint8_t)c, b[15] = 7;
    uint16_t client = (uint16_t)(1024 + c * 7), server = 443;
    p.src_port = reverse ? server : client;
    p.dst_port = reverse ? client : server;
    return p;
}

//  A random packet of one of `connections`: mostly ACKs, some SYNs, FINs
//  and RSTs, windows 0, 1 and large.
static tw_packet s_random_packet(uint64_t *rng, uint32_t connections)
{
    uint64_t r = s_next(rng);
    uint32_t c = (uint32_t)(r % connections);
    bool reverse = (r >> 32) & 1;
    uint32_t kind = (uint32_t)((r >> 33) % 100);
    uint8_t flags = kind < 4    ? TW_TCP_SYN
                    : kind < 8  ? TW_TCP_FIN | TW_TCP_ACK
                    : kind < 10 ? TW_TCP_RST
                                : TW_TCP_ACK;
    uint32_t w = (uint32_t)((r >> 40) % 10);
    uint16_t window = w < 2 ? 0 : w < 3 ? 1 : (uint16_t)(r >> 48);
    tw_packet p = s_conn_packet(c, reverse, window, flags);
    // Few sequence numbers and short payloads, so that probes happen too.
    uint64_t more = s_next(rng);
    p.seq = (uint32_t)(more % 4);
    p.ack = (uint32_t)((more >> 8) % 4);
    p.payload_len = (uint32_t)((more >> 16) % 3);
    return p;
}

//  Every flow the table ended, in order, for comparing two tables.
typedef struct {
    tw_flow_record *records;
    size_t n, cap;
} record_list;

static void s_keep_record(const tw_flow_record *record, void *arg)
{
    record_list *list = arg;
    if (list->n == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 256;
        list->records = realloc(list->records, sizeof *list->records * list->cap);
        assert_non_null(list->records);
    }
    list->records[list->n++] = *record;
}

static void s_assert_same_record(const tw_flow_record *a, const tw_flow_record *b)
{
    assert_memory_equal(&a->key, &b->key, sizeof a->key);
    assert_int_equal(a->first_us, b->first_us);
    assert_int_equal(a->last_us, b->last_us);
    assert_int_equal(a->tcp_packets, b->tcp_packets);
    assert_int_equal(a->undershoot_packets, b->undershoot_packets);
    assert_int_equal(a->episodes, b->episodes);
    assert_int_equal(a->zero_window_us, b->zero_window_us);
    assert_int_equal(a->episode_start_us, b->episode_start_us);
    assert_int_equal(a->min_window, b->min_window);
    assert_int_equal(a->window_scale, b->window_scale);
    assert_int_equal(a->end_reason, b->end_reason);
    assert_int_equal(a->zero_window_adverts, b->zero_window_adverts);
    assert_int_equal(a->stalls, b->stalls);
    assert_int_equal(a->stall_us, b->stall_us);
    assert_int_equal(a->stall_since_us, b->stall_since_us);
    assert_int_equal(a->window_probes, b->window_probes);
    assert_int_equal(a->zero_length_probes, b->zero_length_probes);
    assert_int_equal(a->probes_received, b->probes_received);
    assert_int_equal(a->stall_probes, b->stall_probes);
    assert_int_equal(a->window_reopenings, b->window_reopenings);
    assert_int_equal(a->stalled, b->stalled);
}

static void s_assert_same_tables(tw_flow_table *a, const record_list *la, tw_flow_table *b,
                                 const record_list *lb)
{
    assert_int_equal(la->n, lb->n);
    for (size_t i = 0; i < la->n; i++)
        s_assert_same_record(&la->records[i], &lb->records[i]);
    tw_flow_counters ca = tw_flow_table_counters(a), cb = tw_flow_table_counters(b);
    assert_int_equal(ca.active, cb.active);
    assert_int_equal(ca.ended, cb.ended);
    assert_int_equal(ca.evicted, cb.evicted);
    tw_flow_record sa[8], sb[8];
    size_t na = tw_flow_table_stalled(a, 0, sa, 8, NULL),
           nb = tw_flow_table_stalled(b, 0, sb, 8, NULL);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na && i < 8; i++)
        s_assert_same_record(&sa[i], &sb[i]);
    assert_int_equal(tw_flow_table_check(a), 0);
    assert_int_equal(tw_flow_table_check(b), 0);
}

//  The batch entry point must give exactly what packet-by-packet gives,
//  with closes, idle ends, evictions and a flow that ends and starts again
//  inside one batch (entries move while the batch is processed).
static void s_batch_matches_one_by_one(bool threshold_bytes, size_t max_flows, uint64_t seed,
                                       bool every_end)
{
    tw_flow_config config = s_config();
    config.max_flows = max_flows;
    config.threshold_bytes = threshold_bytes;
    config.threshold = threshold_bytes ? 3000 : 1;
    record_list la = {0}, lb = {0};
    tw_flow_table *a = tw_flow_table_new(&config, s_keep_record, &la);
    tw_flow_table *b = tw_flow_table_new(&config, s_keep_record, &lb);
    assert_non_null(a);
    assert_non_null(b);
    uint64_t rng = seed;
    enum { CHUNK = 300 };  // more than one internal batch at a time
    tw_packet packets[CHUNK];
    int64_t ts[CHUNK];
    int64_t now = 0;
    for (int round = 0; round < 400; round++) {
        size_t n = 1 + s_next(&rng) % CHUNK;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = s_next(&rng);
            // Mostly microseconds apart; now and then past the linger or the idle timeout.
            now += (r % 100 == 0) ? 61 * SECOND : (r % 50 == 0) ? 3 * SECOND : (int64_t)(r % 1000);
            packets[i] = s_random_packet(&rng, 300);
            ts[i] = now;
            assert_int_equal(tw_flow_table_packet(a, &packets[i], ts[i]), 0);
        }
        assert_int_equal(tw_flow_table_packets(b, packets, ts, n), 0);
        if (round % 7 == 0) {
            tw_flow_table_expire(a, now);
            tw_flow_table_expire(b, now);
        }
        s_assert_same_tables(a, &la, b, &lb);
    }
    tw_flow_table_end_all(a, TW_END_END_OF_CAPTURE);
    tw_flow_table_end_all(b, TW_END_END_OF_CAPTURE);
    s_assert_same_tables(a, &la, b, &lb);
    assert_true(la.n > 1000);
    bool seen[TW_END_EVICTED + 1] = {false};
    for (size_t i = 0; i < la.n; i++)
        seen[la.records[i].end_reason] = true;
    // The stream exercised the ways a flow ends (in a small table, most
    // flows are evicted before they can close or idle).
    if (every_end)
        assert_true(seen[TW_END_FIN] && seen[TW_END_RST] && seen[TW_END_IDLE] &&
                    seen[TW_END_END_OF_CAPTURE]);
    assert_true(seen[TW_END_EVICTED] == (max_flows < 600));  // 600 keys
    tw_flow_table_destroy(&a);
    tw_flow_table_destroy(&b);
    free(la.records);
    free(lb.records);
}

static void test_batch_matches_one_by_one(void **state)
{
    (void)state;
    s_batch_matches_one_by_one(false, 100000, 1, true);  // grows from its first allocation
    s_batch_matches_one_by_one(true, 1000, 3, true);     // window scaling from the SYNs
    s_batch_matches_one_by_one(false, 50, 2, false);     // full: evictions inside batches
    s_batch_matches_one_by_one(false, 1, 4, false);      // one flow at a time
}

//  What a flow should hold, kept by the test: packets since it started.
typedef struct {
    uint64_t packets[512][2];  // per connection and direction
    uint64_t live;
    uint64_t ended;
} flow_model;

static uint32_t s_model_connection(const tw_flow_record *record, bool *reverse)
{
    *reverse = record->key.src_port == 443;
    uint16_t client = *reverse ? record->key.dst_port : record->key.src_port;
    return (uint32_t)(client - 1024) / 7;
}

static void s_model_end(const tw_flow_record *record, void *arg)
{
    flow_model *model = arg;
    bool reverse;
    uint32_t c = s_model_connection(record, &reverse);
    // The ended flow was live, with every packet sent on its key since it started.
    assert_true(model->packets[c][reverse] > 0);
    assert_int_equal(record->tcp_packets, model->packets[c][reverse]);
    model->packets[c][reverse] = 0;
    model->live--;
    model->ended++;
}

//  Many inserts and removals in small index tables, where runs of slots
//  wrap around and backward-shift deletion moves slots across homes: after
//  every packet the index is checked against the flows, and every flow that
//  ends must have counted exactly its own packets (a lost or duplicated
//  index slot would start a second flow on the same key).
static void s_index_churn(size_t max_flows, uint32_t connections, uint64_t seed)
{
    static flow_model model;
    memset(&model, 0, sizeof model);
    tw_flow_config config = s_config();
    config.max_flows = max_flows;
    config.idle_timeout_us = 1000;
    config.linger_us = 100;
    tw_flow_table *table = tw_flow_table_new(&config, s_model_end, &model);
    assert_non_null(table);
    uint64_t rng = seed;
    int64_t now = 0;
    for (int i = 0; i < 20000; i++) {
        now += (int64_t)(s_next(&rng) % 40);
        tw_packet p = s_random_packet(&rng, connections);
        bool reverse = p.src_port == 443;
        uint32_t c = (uint32_t)((reverse ? p.dst_port : p.src_port) - 1024) / 7;
        assert_int_equal(tw_flow_table_packet(table, &p, now), 0);
        if (model.packets[c][reverse]++ == 0)
            model.live++;
        assert_int_equal(tw_flow_table_counters(table).active, model.live);
        assert_int_equal(tw_flow_table_check(table), 0);
        if (i % 500 == 0) {
            tw_flow_table_expire(table, now);
            assert_int_equal(tw_flow_table_counters(table).active, model.live);
            assert_int_equal(tw_flow_table_check(table), 0);
        }
    }
    assert_true(model.ended > 1000);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    assert_int_equal(model.live, 0);
    assert_int_equal(tw_flow_table_counters(table).ended, model.ended);
    tw_flow_table_destroy(&table);
}

static void test_index_survives_churn_in_small_tables(void **state)
{
    (void)state;
    s_index_churn(1, 3, 11);
    s_index_churn(2, 5, 12);
    s_index_churn(7, 20, 13);      // 16 slots: long runs that wrap around
    s_index_churn(64, 100, 14);    // evictions on most new flows
    s_index_churn(2000, 500, 15);  // grows; ends by idle time and closes only
}

static void test_index_keeps_every_key_of_a_large_table(void **state)
{
    (void)state;
    tw_flow_config config = s_config();
    config.max_flows = 400000;  // 200,000 connection entries
    config.idle_timeout_us = 1000 * SECOND;
    tw_flow_table *table = tw_flow_table_new(&config, NULL, NULL);
    // Sequential addresses and ports, as a scan or a load generator sends them.
    for (uint32_t i = 0; i < 200000; i++) {
        tw_packet p = s_packet(1, 2, 100, TW_TCP_ACK);
        p.src[1] = (uint8_t)(i >> 16), p.src[2] = (uint8_t)(i >> 8), p.src[3] = (uint8_t)i;
        p.src_port = (uint16_t)(i * 13);
        assert_int_equal(tw_flow_table_packet(table, &p, i), 0);
    }
    assert_int_equal(tw_flow_table_check(table), 0);
    // Half of them close (RST, then the linger passes): half the index is
    // emptied by backward shifts while the other half must stay reachable.
    for (uint32_t i = 0; i < 200000; i += 2) {
        tw_packet p = s_packet(1, 2, 100, TW_TCP_RST);
        p.src[1] = (uint8_t)(i >> 16), p.src[2] = (uint8_t)(i >> 8), p.src[3] = (uint8_t)i;
        p.src_port = (uint16_t)(i * 13);
        tw_flow_table_packet(table, &p, 200000);
    }
    tw_flow_table_expire(table, 200000 + 3 * SECOND);
    assert_int_equal(tw_flow_table_counters(table).active, 100000);
    assert_int_equal(tw_flow_table_check(table), 0);
    for (uint32_t i = 1; i < 200000; i += 2) {
        tw_packet p = s_packet(1, 2, 100, TW_TCP_ACK);
        p.src[1] = (uint8_t)(i >> 16), p.src[2] = (uint8_t)(i >> 8), p.src[3] = (uint8_t)i;
        p.src_port = (uint16_t)(i * 13);
        tw_flow_table_packet(table, &p, 200000 + 4 * SECOND);
    }
    assert_int_equal(tw_flow_table_counters(table).active, 100000);  // all found, none new
    tw_flow_table_destroy(&table);
}

static void test_batch_of_one_flow_counts_every_packet(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet zero = s_packet(1, 2, 0, TW_TCP_ACK);
    tw_packet open = s_packet(1, 2, 100, TW_TCP_ACK);
    tw_flow_table_packet(table, &open, 0);
    // Batches of the same flow: the flow's entry is reused within a batch.
    tw_packet batch[64];
    int64_t ts[64];
    for (int i = 0; i < 64; i++)
        batch[i] = (i % 4 == 3) ? open : zero, ts[i] = 1 + i;
    assert_int_equal(tw_flow_table_packets(table, batch, ts, 64), 0);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.ended[0].tcp_packets, 65);
    assert_int_equal(log.ended[0].undershoot_packets, 48);
    assert_int_equal(log.ended[0].episodes, 16);
    assert_int_equal(log.ended[0].zero_window_us, 16 * 3);
    assert_int_equal(log.ended[0].min_window, 0);
    tw_flow_table_destroy(&table);
}

//  Within one batch, a packet ends a closed connection (both directions, so
//  entries move and the last one is freed) and the next packet, on the
//  other direction, must start a new flow: the lookup of the batch's start
//  pointed at memory that no longer holds a live flow.
static void test_batch_starts_new_flows_after_ends_in_the_same_batch(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet other = s_packet(7, 8, 100, TW_TCP_ACK);
    tw_packet forward = s_packet(1, 2, 100, TW_TCP_ACK);
    tw_packet backward = s_packet(2, 1, 100, TW_TCP_ACK);
    tw_packet rst = s_packet(1, 2, 100, TW_TCP_RST);
    tw_flow_table_packet(table, &other, 0);
    tw_flow_table_packet(table, &forward, 0);
    tw_flow_table_packet(table, &backward, 0);  // the last entry
    tw_flow_table_packet(table, &rst, 1);       // both directions close
    tw_packet batch[] = {forward, backward, backward};
    int64_t ts[] = {3 * SECOND, 3 * SECOND, 3 * SECOND + 1};
    assert_int_equal(tw_flow_table_packets(table, batch, ts, 3), 0);
    assert_int_equal(log.n, 2);  // the closed connection, both ways
    assert_int_equal(log.ended[0].tcp_packets + log.ended[1].tcp_packets, 3);
    assert_int_equal(tw_flow_table_counters(table).active, 3);  // other, and both anew
    assert_int_equal(tw_flow_table_check(table), 0);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    assert_int_equal(log.n, 5);
    uint64_t backward_packets = 0;
    for (int i = 2; i < 5; i++)
        if (log.ended[i].key.src[3] == 2)
            backward_packets = log.ended[i].tcp_packets;
    assert_int_equal(backward_packets, 2);
    tw_flow_table_destroy(&table);
}

//  Out of order: a packet older than the flow's last one counts at the
//  flow's last time, so an episode never lasts a negative time (it measured
//  -1,393,000,000 us before) and the record's last time is its latest.
static void test_time_going_back_gives_no_negative_duration(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    config.idle_timeout_us = 3600LL * SECOND;
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    const struct {
        int64_t t;
        uint16_t w;
    } seq[] = {{2000LL * SECOND, 0},
               {607LL * SECOND, 500},
               {2001LL * SECOND, 0},
               {1999LL * SECOND, 0},
               {2003LL * SECOND, 500}};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        tw_packet p = s_packet(1, 2, seq[i].w, TW_TCP_ACK);
        assert_int_equal(tw_flow_table_packet(table, &p, seq[i].t), 0);
    }
    tw_flow_table_expire(table, 1000LL * SECOND);  // "now" before the flow's time: not idle
    assert_int_equal(log.n, 0);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.ended[0].tcp_packets, 5);
    assert_int_equal(log.ended[0].episodes, 2);
    assert_int_equal(log.ended[0].zero_window_us, 2 * SECOND);  // 0, then 2001 s to 2003 s
    assert_int_equal(log.ended[0].first_us, 2000LL * SECOND);
    assert_int_equal(log.ended[0].last_us, 2003LL * SECOND);
    tw_flow_table_destroy(&table);
}

//  Times at the ends of int64: every difference saturates (run under UBSan).
static void test_extreme_times_saturate(void **state)
{
    (void)state;
    ended_log log = {0};
    tw_flow_config config = s_config();
    config.idle_timeout_us = INT64_MAX;  // gaps of INT64_MAX us are not idle
    tw_flow_table *table = tw_flow_table_new(&config, s_on_end, &log);
    tw_packet under = s_packet(1, 2, 0, TW_TCP_ACK);
    tw_packet over = s_packet(1, 2, 500, TW_TCP_ACK);
    tw_flow_table_packet(table, &under, INT64_MIN);
    tw_flow_table_packet(table, &over, -1);  // an episode of INT64_MAX us
    tw_flow_table_packet(table, &under, 0);
    tw_flow_table_packet(table, &over, INT64_MAX);  // and another: the sum saturates
    tw_flow_table_expire(table, INT64_MAX);
    assert_int_equal(log.n, 0);
    tw_packet rst = s_packet(3, 4, 0, TW_TCP_RST);
    tw_flow_table_packet(table, &rst, INT64_MIN);
    tw_flow_table_expire(table, INT64_MAX);  // the RST's linger is over
    assert_int_equal(log.n, 1);
    assert_int_equal(log.ended[0].end_reason, TW_END_RST);
    tw_flow_table_expire(table, INT64_MIN);
    tw_flow_table_end_all(table, TW_END_END_OF_CAPTURE);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.ended[1].episodes, 2);
    assert_int_equal(log.ended[1].zero_window_us, INT64_MAX);
    assert_int_equal(log.ended[1].first_us, INT64_MIN);
    assert_int_equal(log.ended[1].last_us, INT64_MAX);
    tw_flow_table_destroy(&table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_zero_windows_on_every_kind_of_packet),
        cmocka_unit_test(test_episode_duration_runs_until_first_packet_after),
        cmocka_unit_test(test_fin_both_ways_ends_both_after_linger),
        cmocka_unit_test(test_packet_after_close_starts_a_new_flow),
        cmocka_unit_test(test_idle_flow_ends),
        cmocka_unit_test(test_full_table_evicts_and_counts),
        cmocka_unit_test(test_full_table_of_connections_evicts_both_directions),
        cmocka_unit_test(test_many_flows_grow_the_table),
        cmocka_unit_test(test_threshold_bytes_uses_window_scale_from_both_syns),
        cmocka_unit_test(test_threshold_bytes_without_handshake_compares_raw),
        cmocka_unit_test(test_ipv6_keys_are_distinct),
        cmocka_unit_test(test_batch_matches_one_by_one),
        cmocka_unit_test(test_index_survives_churn_in_small_tables),
        cmocka_unit_test(test_index_keeps_every_key_of_a_large_table),
        cmocka_unit_test(test_batch_of_one_flow_counts_every_packet),
        cmocka_unit_test(test_batch_starts_new_flows_after_ends_in_the_same_batch),
        cmocka_unit_test(test_time_going_back_gives_no_negative_duration),
        cmocka_unit_test(test_extreme_times_saturate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
