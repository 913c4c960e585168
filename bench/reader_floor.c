// SPDX-License-Identifier: MPL-2.0
/*  reader_floor: the capture-file reader alone, and with the decoder.

    reader_floor FILE            reads every record with capture_file and
                                 counts packets and captured bytes (the
                                 reader's cost, against pcap_floor's bare
                                 libpcap loop on the same file)
    reader_floor --decode FILE   also decodes each packet with its link
                                 type (tw_packet_decode): "reading and
                                 decoding", the figure issue 13's goal is
                                 about (at most 0.7x pcap_floor)

    Prints one line: packets=N bytes=B tcp=T seconds=S pps=P, like
    pcap_floor, so bench/reader.sh parses both the same way.
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture_file.h"
#include "packet_decode.h"

#define PROGRAM "reader_floor"

static double s_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int decode = argc == 3 && strcmp(argv[1], "--decode") == 0;
    if (argc != 2 + decode || argv[1 + decode][0] == '-') {
        fprintf(stderr, "usage: " PROGRAM " [--decode] FILE\n");
        return 2;
    }
    const char *path = argv[1 + decode];
    double start = s_now();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, PROGRAM ": cannot open '%s': %s\n", path, strerror(errno));
        return 1;
    }
    capture_stream *stream = capture_stream_new_fd(fd, 1);
    if (!stream) {
        close(fd);
        fprintf(stderr, PROGRAM ": out of memory\n");
        return 1;
    }
    int error;
    char why[256];
    capture_file *reader = capture_file_open(stream, &error, why, sizeof why);
    if (!reader) {
        fprintf(stderr, PROGRAM ": cannot open '%s': %s\n", path, why);
        return 1;
    }
    uint64_t packets = 0, bytes = 0, tcp = 0;
    capture_record r;
    int rc;
    tw_packet packet;
    while ((rc = capture_file_next(reader, &r)) == 1) {
        packets++;
        bytes += r.caplen;
        if (decode &&
            tw_packet_decode((int)r.link_type, r.data, r.caplen, r.len, &packet) == TW_DECODE_OK)
            tcp++;
    }
    if (rc < 0)
        fprintf(stderr, PROGRAM ": '%s': %s\n", path, capture_file_error(reader));
    capture_file_destroy(&reader);
    double seconds = s_now() - start;
    printf("packets=%" PRIu64 " bytes=%" PRIu64 " tcp=%" PRIu64 " seconds=%.6f pps=%.0f\n", packets,
           bytes, tcp, seconds, seconds > 0 ? (double)packets / seconds : 0.0);
    return rc < 0 ? 3 : 0;
}
