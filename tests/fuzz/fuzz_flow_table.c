// SPDX-License-Identifier: MPL-2.0
/*  fuzz_flow_table: libFuzzer target for flow_table.

    Input: 4 bytes of configuration (threshold, bytes mode, max_flows from 1
    to 16, timeouts), then operations of 8 bytes each: a packet between a
    few endpoints (so connections meet both ways, end and start again, and
    a small table evicts), with any flags, window, sequence and ACK numbers
    near each other (so persist probes happen) and a time that may step
    back or jump; an expiry at a time that may step back; or a stalled-list
    call. Every operation runs on two tables, one a packet at a time and
    one through the batch path (tw_flow_table_packets, flushed before each
    expiry), which must end the same flows with the same records; after
    each expiry no flow over at its time may be left, the table's own
    bookkeeping check must pass, the live flows stay within max_flows, the
    stall time counter must never go down, and every record must be
    possible. Any failure aborts.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow_table.h"

#define MAX_OPS     512
#define MAX_RECORDS 4096

typedef struct {
    tw_flow_record records[MAX_RECORDS];
    size_t n;
} s_log;

static s_log s_one, s_batched;

static void s_on_end(const tw_flow_record *record, void *arg)
{
    s_log *log = arg;
    if (record->tcp_packets == 0 || record->undershoot_packets > record->tcp_packets ||
        record->first_us > record->last_us || record->zero_window_us < 0 || record->stall_us < 0 ||
        record->episodes > record->undershoot_packets || record->end_reason == TW_END_NONE)
        abort();
    if (log->n < MAX_RECORDS)
        log->records[log->n++] = *record;
}

static tw_packet s_packet(const uint8_t *op)
{
    static const uint8_t FLAGS[] = {TW_TCP_ACK,
                                    TW_TCP_SYN,
                                    TW_TCP_SYN | TW_TCP_ACK,
                                    TW_TCP_FIN | TW_TCP_ACK,
                                    TW_TCP_RST,
                                    TW_TCP_RST | TW_TCP_ACK,
                                    TW_TCP_ACK | TW_TCP_PSH,
                                    TW_TCP_FIN | TW_TCP_SYN | TW_TCP_RST};
    tw_packet p = {.ip_version = (op[1] & 0x80) ? 6 : 4};
    p.src[15] = op[1] & 3;  // four hosts, four ports each: connections meet
    p.dst[15] = (op[1] >> 2) & 3;
    p.src_port = (uint16_t)(1000 + ((op[1] >> 4) & 3));
    p.dst_port = (uint16_t)(1000 + ((op[2] >> 6) & 3));
    p.flags = FLAGS[op[2] & 7];
    p.window = (op[3] & 0x80) ? (uint16_t)(op[3] & 0x7f) : (uint16_t)(op[3] << 8);
    p.window_scale = (op[2] & 0x08) ? (int8_t)(op[2] >> 4 & 0x0f) : -1;
    p.seq = 1000u + (op[4] & 0x0f);
    p.ack = 1000u + (op[4] >> 4);
    p.payload_len = (op[2] & 0x30) == 0x30 ? 1 : (op[2] & 0x10) ? 100 : 0;
    return p;
}

//  A time step: mostly small forward, sometimes back, sometimes minutes.
static int64_t s_step(uint8_t b)
{
    switch (b >> 6) {
    case 0:
        return (int64_t)b * 1000;
    case 1:
        return (int64_t)(b & 0x3f) * 1000000;
    case 2:  // back: milliseconds, or seconds (the analyzer passes steps back under an hour)
        return (b & 0x20) ? -(int64_t)(b & 0x1f) * 10000000 : -(int64_t)(b & 0x1f) * 1000;
    default:
        return (int64_t)(b & 0x3f) * 60000000;
    }
}

static bool s_same_record(const tw_flow_record *a, const tw_flow_record *b)
{
    return !memcmp(&a->key, &b->key, sizeof a->key) && a->first_us == b->first_us &&
           a->last_us == b->last_us && a->tcp_packets == b->tcp_packets &&
           a->undershoot_packets == b->undershoot_packets && a->episodes == b->episodes &&
           a->zero_window_us == b->zero_window_us && a->end_reason == b->end_reason &&
           a->stalls == b->stalls && a->stall_us == b->stall_us &&
           a->window_probes == b->window_probes && a->zero_length_probes == b->zero_length_probes &&
           a->probes_received == b->probes_received && a->min_window == b->min_window &&
           a->episode_start_us == b->episode_start_us && a->window_scale == b->window_scale &&
           a->zero_window_adverts == b->zero_window_adverts &&
           a->stall_since_us == b->stall_since_us && a->stalled_us == b->stalled_us &&
           a->stall_probes == b->stall_probes && a->window_reopenings == b->window_reopenings &&
           a->stalled == b->stalled && a->window_scale_unknown == b->window_scale_unknown;
}

static void s_compare(void)
{
    if (s_one.n != s_batched.n)
        abort();
    for (size_t i = 0; i < s_one.n; i++)
        if (!s_same_record(&s_one.records[i], &s_batched.records[i]))
            abort();
}

typedef struct {
    tw_packet packets[TW_FLOW_BATCH];
    int64_t ts[TW_FLOW_BATCH];
    size_t n;
} s_pending;

static void s_flush(tw_flow_table *table, s_pending *pending)
{
    if (pending->n > 0)
        (void)tw_flow_table_packets(table, pending->packets, pending->ts, pending->n);
    pending->n = 0;
}

static void s_check(tw_flow_table *one, tw_flow_table *batched, int64_t *stall_us, size_t max_flows)
{
    if (tw_flow_table_check(one) != 0 || tw_flow_table_check(batched) != 0)
        abort();
    tw_flow_counters a = tw_flow_table_counters(one), b = tw_flow_table_counters(batched);
    // The wheel's records: at most 4 per entry plus the small table's slack
    // (8 per entry + 8), the kept entries put back (1 each) and the filing
    // that triggers a compaction: never growing with the operations.
    uint64_t entries = (max_flows + 1) / 2;
    if (a.wheel_records > 16 * entries + 16 || b.wheel_records > 16 * entries + 16)
        abort();
    if (a.active > max_flows || a.active != b.active || a.ended != b.ended ||
        a.stall_us != b.stall_us || a.probes != b.probes || a.stalled_now != b.stalled_now ||
        a.stall_us < *stall_us)
        abort();
    *stall_us = a.stall_us;
    s_compare();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    tw_flow_config config = {
        .threshold = data[0] & 0x7f,
        .threshold_bytes = data[0] & 0x80,
        .max_flows = 1 + (data[1] & 0x0f),
        .idle_timeout_us = (1 + (data[2] & 0x0f)) * 10000000LL,
        .stall_timeout_us = (data[2] >> 4) * 60000000LL,
        .linger_us = (1 + (data[3] & 3)) * 1000000LL,
        .syn_timeout_us = ((data[3] >> 2) & 7) * 5000000LL,
        .half_closed_timeout_us = (data[3] >> 5) * 5000000LL,
    };
    s_one.n = s_batched.n = 0;
    tw_flow_table *one = tw_flow_table_new(&config, s_on_end, &s_one);
    tw_flow_table *batched = tw_flow_table_new(&config, s_on_end, &s_batched);
    if (!one || !batched)
        abort();
    static s_pending pending;
    pending.n = 0;
    int64_t now = 1700000000000000LL, stall_us = 0;
    tw_flow_record stalled[4];
    size_t ops = 0;
    for (size_t at = 4; at + 8 <= size && ops < MAX_OPS; at += 8, ops++) {
        const uint8_t *op = data + at;
        now += s_step(op[5]);
        if ((op[0] & 0x0f) != 0) {  // a packet (15 in 16)
            tw_packet p = s_packet(op);
            (void)tw_flow_table_packet(one, &p, now);
            pending.packets[pending.n] = p;
            pending.ts[pending.n++] = now;
            if (pending.n == TW_FLOW_BATCH || (op[6] & 0x07) == 0)
                s_flush(batched, &pending);
            continue;
        }
        s_flush(batched, &pending);
        if (op[0] & 0x10) {
            size_t a = tw_flow_table_stalled(one, now, stalled, 4, NULL);
            size_t b = tw_flow_table_stalled(batched, now, stalled, 4, NULL);
            if (a != b)
                abort();
        } else {
            tw_flow_table_expire(one, now);
            tw_flow_table_expire(batched, now);
            if (tw_flow_table_check_expired(one, now) != 0 ||
                tw_flow_table_check_expired(batched, now) != 0)
                abort();  // a flow over at now outlived the expiry
        }
        s_check(one, batched, &stall_us, config.max_flows);
    }
    s_flush(batched, &pending);
    s_check(one, batched, &stall_us, config.max_flows);
    tw_flow_table_end_all(one, TW_END_END_OF_CAPTURE);
    tw_flow_table_end_all(batched, TW_END_END_OF_CAPTURE);
    s_check(one, batched, &stall_us, config.max_flows);
    if (tw_flow_table_counters(one).active != 0)
        abort();
    tw_flow_table_destroy(&one);
    tw_flow_table_destroy(&batched);
    return 0;
}
