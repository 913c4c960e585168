// SPDX-License-Identifier: MPL-2.0
/*  pcap_floor: the benchmark's floor, a bare libpcap read loop.

    It opens a capture with pcap_open_offline and calls pcap_next_ex until the
    end, counting packets and captured bytes and nothing else. No program that
    reads the file through libpcap can be faster, so the producer's time is
    reported as a ratio to this one, measured in the same run on the same file.

    Prints one line: packets=N bytes=B seconds=S pps=P
*/
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PROGRAM "pcap_floor"

static double s_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: " PROGRAM " FILE\n"
                "Reads a pcap/pcapng capture ('-' for stdin) with a bare pcap_next_ex loop\n"
                "and prints: packets=N bytes=B seconds=S pps=P\n");
        return argc == 2 ? 0 : 2;
    }
    char errbuf[PCAP_ERRBUF_SIZE];
    double start = s_now();
    pcap_t *pcap = pcap_open_offline(argv[1], errbuf);
    if (!pcap) {
        fprintf(stderr, PROGRAM ": cannot open '%s': %s\n", argv[1], errbuf);
        return 1;
    }
    struct pcap_pkthdr *header;
    const u_char *data;
    uint64_t packets = 0, bytes = 0;
    int rc;
    while ((rc = pcap_next_ex(pcap, &header, &data)) == 1) {
        packets++;
        bytes += header->caplen;
    }
    if (rc != PCAP_ERROR_BREAK) {
        fprintf(stderr, PROGRAM ": cannot read '%s' after %" PRIu64 " packets: %s\n", argv[1],
                packets, pcap_geterr(pcap));
        pcap_close(pcap);
        return 1;
    }
    pcap_close(pcap);
    double seconds = s_now() - start;
    printf("packets=%" PRIu64 " bytes=%" PRIu64 " seconds=%.6f pps=%.0f\n", packets, bytes, seconds,
           seconds > 0 ? (double)packets / seconds : 0.0);
    return 0;
}
