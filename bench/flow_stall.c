// SPDX-License-Identifier: MPL-2.0
/*  flow_stall: the longest time one batch of packets spends in the flow
    table while the table fills up, the stall that a live capture pays in
    lost packets.

    It feeds tw_flow_table_packets batches of TW_FLOW_BATCH packets, each
    packet a new one-directional flow (an ACK with a distinct source), until
    --flows flows are live, and times every batch with CLOCK_MONOTONIC. It
    prints the longest batch, the batches over 1 ms and 10 ms, and the mean
    per packet. A table that grows by copying itself shows its copies here
    (one batch pays for all the entries so far); one that grows a little per
    insert shows none. Wall time on a shared machine is noisy: the mean
    moves, but a stall of tens of milliseconds does not hide.

    Usage: flow_stall [--flows N] [--max-flows N]   (default 2000000, N + 1)
*/
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flow_table.h"
#include "packet_decode.h"

static int64_t s_now_ns(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_MONOTONIC, &t) != 0)
        return 0;
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

//  The n-th flow: 10.x.y.z:p -> 192.0.2.1:443, distinct for n < 2^40.
static void s_packet(uint64_t n, tw_packet *p)
{
    memset(p, 0, sizeof *p);
    p->ip_version = 4;
    p->src[0] = 10;
    p->src[1] = (uint8_t)(n >> 16);
    p->src[2] = (uint8_t)(n >> 8);
    p->src[3] = (uint8_t)n;
    p->dst[0] = 192;
    p->dst[2] = 2;
    p->dst[3] = 1;
    p->src_port = (uint16_t)(1024 + (n >> 24));
    p->dst_port = 443;
    p->window = 1000;
    p->flags = TW_TCP_ACK;
    p->window_scale = -1;
}

static int s_parse(const char *name, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v == 0 || v > 100000000) {
        fprintf(stderr, "flow_stall: invalid %s '%s': not in [1, 100000000]\n", name, text);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t flows = 2000000, max_flows = 0;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc || (strcmp(argv[i], "--flows") && strcmp(argv[i], "--max-flows"))) {
            fprintf(stderr, "usage: flow_stall [--flows N] [--max-flows N]\n");
            return 2;
        }
        if (s_parse(argv[i], argv[i + 1], !strcmp(argv[i], "--flows") ? &flows : &max_flows))
            return 2;
    }
    if (max_flows == 0)
        max_flows = flows + 1;
    tw_flow_config config = {.threshold = 1,
                             .max_flows = max_flows,
                             .idle_timeout_us = INT64_C(120000000),
                             .linger_us = INT64_C(1000000)};
    int64_t start = s_now_ns();
    tw_flow_table *table = tw_flow_table_new(&config, NULL, NULL);
    int64_t created = s_now_ns();
    if (!table) {
        fprintf(stderr, "flow_stall: cannot create the flow table\n");
        return 1;
    }
    tw_packet batch[TW_FLOW_BATCH];
    int64_t ts[TW_FLOW_BATCH];
    int64_t longest = 0, total = 0;
    uint64_t over_1ms = 0, over_10ms = 0, longest_at = 0;
    for (uint64_t done = 0; done < flows;) {
        size_t n = flows - done < TW_FLOW_BATCH ? (size_t)(flows - done) : TW_FLOW_BATCH;
        for (size_t k = 0; k < n; k++) {
            s_packet(done + k, &batch[k]);
            ts[k] = INT64_C(1700000000000000) + (int64_t)(done + k);
        }
        int64_t t0 = s_now_ns();
        int rc = tw_flow_table_packets(table, batch, ts, n);
        int64_t dt = s_now_ns() - t0;
        if (rc != 0) {
            fprintf(stderr, "flow_stall: the table refused packets: %s\n", strerror(-rc));
            return 1;
        }
        total += dt;
        over_1ms += dt > 1000000;
        over_10ms += dt > 10000000;
        if (dt > longest)
            longest = dt, longest_at = done;
        done += n;
    }
    tw_flow_counters c = tw_flow_table_counters(table);
    printf("flows=%" PRIu64 " active=%" PRIu64 " max_flows=%" PRIu64 " create_ms=%.3f"
           " longest_batch_ms=%.3f longest_at_flow=%" PRIu64 " batches_over_1ms=%" PRIu64
           " batches_over_10ms=%" PRIu64 " mean_ns_per_packet=%.1f total_ms=%.1f\n",
           flows, c.active, max_flows, (double)(created - start) / 1e6, (double)longest / 1e6,
           longest_at, over_1ms, over_10ms, (double)total / (double)flows, (double)total / 1e6);
    tw_flow_table_destroy(&table);
    return 0;
}
