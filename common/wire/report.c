// SPDX-License-Identifier: MPL-2.0
/*  report: protobuf-c messages from the analysis' snapshots and flows.

    A report is one allocation for the fixed parts and one per array, so
    freeing it is three calls and nothing can leak half-built.
*/
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "host_rows.h"

typedef struct {
    Tcpwin__Report report;  // first: the report pointer frees the whole block
    Tcpwin__Header header;
    Tcpwin__Counters counters;
} report_block;

typedef struct {
    Tcpwin__HostRow row;
    uint8_t ip[16];
    uint8_t peer[16];
} host_cell;

typedef struct {
    Tcpwin__StalledFlow flow;
    uint8_t src[16];
    uint8_t dst[16];
} stalled_cell;

static size_t s_ip_len(uint8_t ip_version)
{
    return ip_version == 6 ? 16 : 4;
}

static void s_fill_host(host_cell *cell, const tw_host *host)
{
    tcpwin__host_row__init(&cell->row);
    size_t len = s_ip_len(host->ip_version);
    memcpy(cell->ip, host->ip, 16);
    memcpy(cell->peer, host->worst_peer_ip, 16);
    cell->row.ip = (ProtobufCBinaryData){len, cell->ip};
    cell->row.worst_peer_ip = (ProtobufCBinaryData){len, cell->peer};
    cell->row.pkt_tcp_cnt = host->pkt_tcp_cnt;
    cell->row.win_rel_th_cnt = host->win_rel_th_cnt;
    cell->row.flows_counted = host->flows_counted;
    cell->row.tcp_packets = host->tcp_packets;
    cell->row.undershoot_packets = host->undershoot_packets;
    cell->row.worst_peer_port = host->worst_peer_port;
    cell->row.worst_src_port = host->worst_src_port;
    cell->row.last_update_us = host->last_update_us;
    cell->row.zero_window_adverts = host->zero_window_adverts;
    cell->row.flows_stalled = host->flows_stalled;
    cell->row.stall_us = host->stall_us;
    cell->row.probes_received = host->probes_received;
}

static void s_fill_stalled(stalled_cell *cell, const tw_flow_record *flow)
{
    tcpwin__stalled_flow__init(&cell->flow);
    size_t len = s_ip_len(flow->key.ip_version);
    memcpy(cell->src, flow->key.src, 16);
    memcpy(cell->dst, flow->key.dst, 16);
    cell->flow.src_ip = (ProtobufCBinaryData){len, cell->src};
    cell->flow.dst_ip = (ProtobufCBinaryData){len, cell->dst};
    cell->flow.src_port = flow->key.src_port;
    cell->flow.dst_port = flow->key.dst_port;
    cell->flow.since_us = flow->episode_start_us;
    cell->flow.tcp_packets = flow->tcp_packets;
    cell->flow.undershoot_packets = flow->undershoot_packets;
    cell->flow.stalled_us = flow->stalled_us;
    cell->flow.probes = flow->stall_probes;
    cell->flow.zero_window_adverts = flow->zero_window_adverts;
    cell->flow.window_scale_unknown = flow->window_scale_unknown;
    cell->flow.stall_since_us = flow->stall_since_us;
}

//  One block holding n pointers followed by the n cells they point to.
static void **s_alloc_cells(size_t n, size_t cell_size)
{
    return malloc(n * (sizeof(void *) + cell_size) + 1);
}

static bool s_build_hosts(Tcpwin__Report *report, const tw_host_table *hosts)
{
    size_t n = tw_host_table_size(hosts);
    void **pointers = s_alloc_cells(n, sizeof(host_cell));
    if (!pointers)
        return false;
    host_cell *cells = (host_cell *)(pointers + n);
    size_t i = 0;
    for (const tw_host *h = tw_host_table_first(hosts); h; h = tw_host_table_next(hosts, h), i++) {
        s_fill_host(&cells[i], h);
        pointers[i] = &cells[i].row;
    }
    report->hosts = (Tcpwin__HostRow **)pointers;
    report->n_hosts = n;
    return true;
}

static bool s_build_stalled(Tcpwin__Report *report, const tw_report_snapshot *input)
{
    size_t n = input->n_stalled;
    void **pointers = s_alloc_cells(n, sizeof(stalled_cell));
    if (!pointers)
        return false;
    stalled_cell *cells = (stalled_cell *)(pointers + n);
    for (size_t i = 0; i < n; i++) {
        s_fill_stalled(&cells[i], &input->stalled[i]);
        pointers[i] = &cells[i].flow;
    }
    report->stalled = (Tcpwin__StalledFlow **)pointers;
    report->n_stalled = n;
    return true;
}

static void s_fill_counters(Tcpwin__Counters *out, const tw_run_counters *in)
{
    tcpwin__counters__init(out);
    out->packets = in->packets;
    out->tcp_packets = in->tcp_packets;
    out->malformed_packets = in->malformed_packets;
    out->truncated_packets = in->truncated_packets;
    out->fragments_skipped = in->fragments_skipped;
    out->flows_active = in->flows_active;
    out->flows_ended = in->flows_ended;
    out->flows_evicted = in->flows_evicted;
    out->packets_untracked = in->packets_untracked;
    out->hosts_evicted = in->hosts_evicted;
    out->stalled_omitted = in->stalled_omitted;
    out->time_jumps = in->time_jumps;
    out->zero_window_adverts = in->zero_window_adverts;
    out->stall_us = in->stall_us;
    out->stalls = in->stalls;
    out->probes = in->probes;
    out->window_reopenings = in->window_reopenings;
    out->flows_stalled_now = in->flows_stalled_now;
    out->unknown_link_type_packets = in->unknown_link_type_packets;
}

//  The report without its hosts (n_hosts 0), or NULL.
static Tcpwin__Report *s_report_new(const tw_report_snapshot *input)
{
    report_block *block = calloc(1, sizeof *block);
    if (!block)
        return NULL;
    Tcpwin__Report *report = &block->report;
    tcpwin__report__init(report);
    tcpwin__header__init(&block->header);
    s_fill_counters(&block->counters, &input->counters);
    report->header = &block->header;
    report->counters = &block->counters;
    report->time_us = input->time_us;
    report->interval_s = input->interval_s;
    report->final = input->final;
    report->threshold = input->threshold;
    report->min_pkts = input->min_pkts;
    report->threshold_bytes = input->threshold_bytes;
    if (!s_build_stalled(report, input)) {
        tw_report_free(report);
        return NULL;
    }
    return report;
}

Tcpwin__Report *tw_report_from_snapshot(const tw_report_snapshot *input)
{
    Tcpwin__Report *report = s_report_new(input);
    if (report && !s_build_hosts(report, input->hosts)) {
        tw_report_free(report);
        return NULL;
    }
    return report;
}

Tcpwin__Report *tw_report_from_snapshot_rows(const tw_report_snapshot *input,
                                             struct tw_host_rows *rows)
{
    Tcpwin__Report *report = s_report_new(input);
    if (report && tw_host_rows_update(rows, input->hosts) != 0) {
        tw_report_free(report);
        return NULL;
    }
    if (report)
        tw_host_rows_attach(rows, report);
    return report;
}

size_t tw_report_pack_host(const tw_host *host, ProtobufCBuffer *out)
{
    host_cell cell;
    s_fill_host(&cell, host);
    return protobuf_c_message_pack_to_buffer(&cell.row.base, out);
}

void tw_report_free(Tcpwin__Report *report)
{
    if (!report)
        return;
    free(report->hosts);
    free(report->stalled);
    free(report);
}

static Tcpwin__EndReason s_end_reason(tw_end_reason reason)
{
    switch (reason) {
    case TW_END_FIN:
        return TCPWIN__END_REASON__END_REASON_FIN;
    case TW_END_RST:
        return TCPWIN__END_REASON__END_REASON_RST;
    case TW_END_IDLE:
        return TCPWIN__END_REASON__END_REASON_IDLE;
    case TW_END_END_OF_CAPTURE:
        return TCPWIN__END_REASON__END_REASON_END_OF_CAPTURE;
    case TW_END_EVICTED:
        return TCPWIN__END_REASON__END_REASON_EVICTED;
    case TW_END_NONE:
        break;
    }
    return TCPWIN__END_REASON__END_REASON_UNSPECIFIED;
}

void tw_flow_message_init(tw_flow_message *message, const tw_flow_record *flow)
{
    Tcpwin__FlowRecord *out = &message->record;
    Tcpwin__Header *header = &message->header;
    uint8_t *addr = message->addresses;
    tcpwin__flow_record__init(out);
    tcpwin__header__init(header);
    size_t len = s_ip_len(flow->key.ip_version);
    memcpy(addr, flow->key.src, 16);
    memcpy(addr + 16, flow->key.dst, 16);
    out->header = header;
    out->src_ip = (ProtobufCBinaryData){len, addr};
    out->dst_ip = (ProtobufCBinaryData){len, addr + 16};
    out->src_port = flow->key.src_port;
    out->dst_port = flow->key.dst_port;
    out->ip_version = flow->key.ip_version;
    out->first_us = flow->first_us;
    out->last_us = flow->last_us;
    out->tcp_packets = flow->tcp_packets;
    out->undershoot_packets = flow->undershoot_packets;
    out->min_window = flow->min_window;
    out->end_reason = s_end_reason(flow->end_reason);
    out->zero_window_episodes = flow->episodes;
    out->zero_window_us = flow->zero_window_us;
    out->window_scale = flow->window_scale;
    out->zero_window_adverts = flow->zero_window_adverts;
    out->stalls = flow->stalls;
    out->stall_us = flow->stall_us;
    out->window_probes = flow->window_probes;
    out->zero_length_probes = flow->zero_length_probes;
    out->window_reopenings = flow->window_reopenings;
    out->window_scale_unknown = flow->window_scale_unknown;
}
