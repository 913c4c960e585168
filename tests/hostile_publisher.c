// SPDX-License-Identifier: MPL-2.0
/*  hostile_publisher: a peer that publishes what no producer of ours would,
    for tests/e2e_hostile_publisher.sh.

        hostile_publisher poison REAL_EP HOSTILE_EP
            REAL_EP is the real producer 'victim' (run 7, sequences 1..5, the
            last one final); after its sequence 2, HOSTILE_EP claims to be
            'victim' with sequences 1000 and 2^64-1, and the real endpoint
            itself carries one message with sequence 2^64-6 (a relay's case).
        hostile_publisher inject EP
            producer ids with a newline and terminal escapes, with a gap and
            a restart, then 5,000 run ids of one producer id: 5,004 reports.
        hostile_publisher amplify EP MEGABYTES
            one report of MEGABYTES of empty host rows (2 bytes each on the
            wire), then a small final report.
        hostile_publisher hosts EP N
            one report 'many' of N realistic host rows (distinct IPv6
            addresses, every figure set, the stall times scattered), then
            waits 3 s for it to leave.
        hostile_publisher nofinal EP
            two reports of a run, then the connection closes: the final
            report never comes.
        hostile_publisher major EP
            three reports of producer 'future' and two of 'later', both of
            the next schema major, then producer 'current' (our major)
            sends its final report.

    Each endpoint is bound with XPUB and waits (10 s at most) for a
    subscription before anything is sent. Exit status 0, or 1 on failure.
*/
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

//  Binds an XPUB socket on endpoint and waits for a subscription.
static zsock_t *s_publisher(const char *endpoint)
{
    zsock_t *sock = zsock_new(ZMQ_XPUB);
    if (sock)
        zsock_set_sndhwm(sock, 0);  // before bind: a connection made then keeps it
    if (!sock || zsock_bind(sock, "%s", endpoint) < 0) {
        fprintf(stderr, "hostile_publisher: cannot bind '%s'\n", endpoint);
        zsock_destroy(&sock);
        return NULL;
    }
    zsock_set_rcvtimeo(sock, 10000);
    zframe_t *subscription = zframe_recv(sock);
    if (!subscription) {
        fprintf(stderr, "hostile_publisher: no subscriber on '%s'\n", endpoint);
        zsock_destroy(&sock);
        return NULL;
    }
    zframe_destroy(&subscription);
    return sock;
}

static int s_send(zsock_t *sock, const Tcpwin__Report *report)
{
    size_t len;
    uint8_t *payload = tw_wire_encode(&report->base, &len);
    int rc = payload ? zsock_send(sock, "sb", TW_TOPIC_REPORT, payload, len) : -1;
    free(payload);
    return rc;
}

static int s_report_of_major(zsock_t *sock, uint32_t major, const char *producer, uint64_t run,
                             uint64_t sequence, bool final)
{
    Tcpwin__Header header;
    tcpwin__header__init(&header);
    header.schema_major = major;
    header.producer_id = (char *)producer;
    header.run_id = run;
    header.sequence = sequence;
    Tcpwin__Report report;
    tcpwin__report__init(&report);
    report.header = &header;
    report.final = final;
    return s_send(sock, &report);
}

static int s_report(zsock_t *sock, const char *producer, uint64_t run, uint64_t sequence,
                    bool final)
{
    return s_report_of_major(sock, TW_SCHEMA_MAJOR, producer, run, sequence, final);
}

static int s_poison(const char *real_endpoint, const char *hostile_endpoint)
{
    zsock_t *real = s_publisher(real_endpoint);
    zsock_t *hostile = real ? s_publisher(hostile_endpoint) : NULL;
    int rc = hostile ? 0 : -1;
    if (rc == 0) {
        rc |= s_report(real, "victim", 7, 1, false);
        rc |= s_report(real, "victim", 7, 2, false);
        zclock_sleep(200);  // in this order, across the two connections
        rc |= s_report(hostile, "victim", 7, 1000, false);
        rc |= s_report(hostile, "victim", 7, UINT64_MAX, false);
        rc |= s_report(real, "victim", 7, UINT64_MAX - 5, false);
        zclock_sleep(200);
        for (uint64_t sequence = 3; sequence <= 5; sequence++)
            rc |= s_report(real, "victim", 7, sequence, sequence == 5);
    }
    zsock_destroy(&hostile);
    zsock_destroy(&real);
    return rc;
}

static int s_inject(const char *endpoint)
{
    zsock_t *sock = s_publisher(endpoint);
    if (!sock)
        return -1;
    const char *evil = "evil\ntcpwin-subscriber: FORGED line \x1b[31mred\x1b[0m";
    int rc = s_report(sock, evil, 1, 1, false);
    rc |= s_report(sock, evil, 1, 5, false);  // a gap
    rc |= s_report(sock, evil, 2, 1, false);  // a restart
    for (uint64_t run = 1; run <= 5000; run++)
        rc |= s_report(sock, "flood\x1b[2J", run, 1, false);
    rc |= s_report(sock, "end", 1, 1, true);
    zsock_destroy(&sock);
    return rc;
}

static int s_amplify(const char *endpoint, long megabytes)
{
    zsock_t *sock = s_publisher(endpoint);
    if (!sock || megabytes <= 0)
        return -1;
    Tcpwin__Header header;
    tcpwin__header__init(&header);
    header.schema_major = TW_SCHEMA_MAJOR;
    header.producer_id = "amplifier";
    header.run_id = 1;
    header.sequence = 1;
    Tcpwin__Report report;
    tcpwin__report__init(&report);
    report.header = &header;
    size_t head_len;
    uint8_t *head = tw_wire_encode(&report.base, &head_len);
    size_t rows = (size_t)megabytes * 1000 * 1000 / 2;
    uint8_t *payload = head ? malloc(head_len + 2 * rows) : NULL;
    int rc = payload ? 0 : -1;
    if (payload) {
        memcpy(payload, head, head_len);
        for (size_t i = 0; i < rows; i++)
            payload[head_len + 2 * i] = 0x2a, payload[head_len + 2 * i + 1] = 0;  // empty HostRow
        rc = zsock_send(sock, "sb", TW_TOPIC_REPORT, payload, head_len + 2 * rows);
        rc |= s_report(sock, "amplifier", 1, 2, true);
    }
    free(payload);
    free(head);
    zsock_destroy(&sock);
    return rc;
}

static int s_hosts(const char *endpoint, long n)
{
    zsock_t *sock = s_publisher(endpoint);
    if (!sock || n <= 0)
        return -1;
    Tcpwin__Header header = TCPWIN__HEADER__INIT;
    header.schema_major = TW_SCHEMA_MAJOR;
    header.producer_id = "many";
    header.run_id = 1;
    header.sequence = 1;
    Tcpwin__Counters counters = TCPWIN__COUNTERS__INIT;
    Tcpwin__Report report = TCPWIN__REPORT__INIT;
    report.header = &header;
    report.counters = &counters;
    report.time_us = 1000000;
    Tcpwin__HostRow *rows = calloc((size_t)n, sizeof *rows);
    Tcpwin__HostRow **pointers = calloc((size_t)n, sizeof *pointers);
    uint8_t *ips = calloc((size_t)n, 16);
    int rc = rows && pointers && ips ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < (size_t)n; i++) {
        tcpwin__host_row__init(&rows[i]);
        ips[16 * i] = 0x20, ips[16 * i + 1] = 0x01;
        memcpy(ips + 16 * i + 8, &i, sizeof i);
        rows[i].ip = (ProtobufCBinaryData){16, ips + 16 * i};
        rows[i].worst_peer_ip = rows[i].ip;
        rows[i].stall_us = (int64_t)((i * 2654435761u) % 1000003);
        rows[i].pkt_tcp_cnt = 123456789;
        rows[i].win_rel_th_cnt = 0.123456f;
        rows[i].undershoot_packets = 1234567;
        rows[i].tcp_packets = 12345678;
        rows[i].zero_window_adverts = 123456;
        rows[i].flows_counted = rows[i].flows_stalled = 1234;
        rows[i].worst_peer_port = 65535;
        pointers[i] = &rows[i];
    }
    report.n_hosts = (size_t)n;
    report.hosts = pointers;
    if (rc == 0)
        rc = s_send(sock, &report);
    zclock_sleep(3000);
    free(rows);
    free(pointers);
    free(ips);
    zsock_destroy(&sock);
    return rc;
}

static int s_nofinal(const char *endpoint)
{
    zsock_t *sock = s_publisher(endpoint);
    if (!sock)
        return -1;
    int rc = s_report(sock, "no-final", 3, 1, false);
    rc |= s_report(sock, "no-final", 3, 2, false);
    zsock_destroy(&sock);
    return rc;
}

static int s_major(const char *endpoint)
{
    zsock_t *sock = s_publisher(endpoint);
    if (!sock)
        return -1;
    int rc = 0;
    for (uint64_t i = 1; i <= 3; i++)
        rc |= s_report_of_major(sock, TW_SCHEMA_MAJOR + 1, "future", 9, i, i == 3);
    for (uint64_t i = 1; i <= 2; i++)
        rc |= s_report_of_major(sock, TW_SCHEMA_MAJOR + 1, "later", 8, i, i == 2);
    rc |= s_report(sock, "current", 7, 1, true);
    zsock_destroy(&sock);
    return rc;
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    // czmq closes sockets with its own linger at exit (0 by default): what
    // was queued for a slow subscriber would be thrown away.
    zsys_set_linger(10000);
    int rc = -1;
    if (argc == 4 && strcmp(argv[1], "poison") == 0)
        rc = s_poison(argv[2], argv[3]);
    else if (argc == 3 && strcmp(argv[1], "inject") == 0)
        rc = s_inject(argv[2]);
    else if (argc == 4 && strcmp(argv[1], "amplify") == 0)
        rc = s_amplify(argv[2], strtol(argv[3], NULL, 10));
    else if (argc == 4 && strcmp(argv[1], "hosts") == 0)
        rc = s_hosts(argv[2], strtol(argv[3], NULL, 10));
    else if (argc == 3 && strcmp(argv[1], "nofinal") == 0)
        rc = s_nofinal(argv[2]);
    else if (argc == 3 && strcmp(argv[1], "major") == 0)
        rc = s_major(argv[2]);
    else
        fprintf(stderr,
                "usage: hostile_publisher poison|inject|amplify|hosts|nofinal|major EP...\n");
    return rc == 0 ? 0 : 1;
}
