/*  analyzer: the whole window analysis, from captured frames to messages.

    decode -> flow table -> host table -> reports at interval boundaries.
    Pure: frames and their timestamps come in, Report and FlowRecord messages
    go out through the sink callbacks (borrowed for the duration of the call).
    No I/O and no clock reads, so a test can drive an hour of traffic.

    Reports: boundaries are multiples of interval_s since the epoch, in the
    capture's clock. A packet that crosses one or more boundaries first
    causes one report, dated at the last boundary crossed (a silent hour
    yields one report, not 720). tw_analyzer_tick() lets a live capture cross
    boundaries by the wall clock when no packet comes. tw_analyzer_finish()
    ends every flow and publishes the final report.
*/
#ifndef TW_ANALYZER_H
#define TW_ANALYZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpwin.pb-c.h"

//  Defaults, documented in the README and --help.
#define TW_DEFAULT_INTERVAL_S     5
#define TW_DEFAULT_THRESHOLD      1
#define TW_DEFAULT_MIN_PKTS       50
#define TW_DEFAULT_MAX_FLOWS      1000000
#define TW_DEFAULT_MAX_HOSTS      65536
#define TW_DEFAULT_FLOW_TIMEOUT_S 120
#define TW_DEFAULT_LINGER_US      2000000
#define TW_DEFAULT_MAX_STALLED    100
//  A host row encodes to at most about 100 bytes, so this many keep a report
//  under the subscribers' default 64 MiB message limit (--max-message).
#define TW_MAX_HOSTS_LIMIT 500000

typedef struct {
    uint32_t interval_s;
    uint32_t threshold;
    bool threshold_bytes;  // compare the scaled window in bytes
    uint32_t min_pkts;
    size_t max_flows;
    size_t max_hosts;
    int64_t flow_timeout_us;
    int64_t linger_us;
    int64_t host_ttl_us;  // 0: hosts are never forgotten
    size_t max_stalled;   // stalled flows listed per report
    bool flows;           // emit a FlowRecord per ended flow
} tw_analyzer_config;

typedef struct {
    void (*on_report)(Tcpwin__Report *report, void *arg);
    void (*on_flow)(Tcpwin__FlowRecord *record, void *arg);
    void *arg;
} tw_analyzer_sink;

typedef struct tw_analyzer tw_analyzer;

//  A configuration with every default filled in.
tw_analyzer_config tw_analyzer_defaults(void);

//  Creates an analyzer for frames of link type dlt (libpcap DLT_*). Returns
//  NULL when out of memory or the configuration is invalid.
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

//  Drops the capture layer reported (pcap_stats), copied into later reports.
void tw_analyzer_set_capture_drops(tw_analyzer *self, uint64_t drops);

//  Run counters so far (flows_active etc. filled in).
Tcpwin__Counters tw_analyzer_counters(const tw_analyzer *self);

#endif
