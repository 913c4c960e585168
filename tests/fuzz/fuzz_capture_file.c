// SPDX-License-Identifier: MPL-2.0
/*  fuzz_capture_file: libFuzzer target for the capture-file reader.

    Input: a whole capture file, plain or compressed (gzip, zstd and lz4
    are recognised by their magic, so the fuzzer reaches the decompressors
    too). Every record handed out is read to its last byte, so
    AddressSanitizer sees a record that claims more than the buffer holds;
    a record must fit its bounds, the reader's counters must agree, and
    after damage every call must keep returning the same error.
*/
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    capture_stream *stream = capture_stream_new_memory(data, size);
    if (!stream)
        return 0;
    int error;
    char why[256];
    capture_file *reader = capture_file_open(stream, &error, why, sizeof why);
    if (!reader) {
        if (error >= 0 || why[0] == '\0')
            abort();
        return 0;
    }
    capture_record record;
    uint64_t records = 0;
    volatile uint8_t sink = 0;
    int rc;
    while ((rc = capture_file_next(reader, &record)) == 1) {
        // Classic pcap's fraction is the file's, as libpcap passes it on;
        // a pcapng one is computed, so it is below a second.
        bool pcapng = capture_file_format(reader) == CAPTURE_FORMAT_PCAPNG;
        if (record.caplen > CAPTURE_FILE_MAX_CAPLEN || (pcapng && record.ts_usec >= 1000000))
            abort();
        size_t n_interfaces;
        const capture_interface *interfaces = capture_file_interfaces(reader, &n_interfaces);
        if (record.interface >= n_interfaces ||
            interfaces[record.interface].link_type != record.link_type)
            abort();
        for (uint32_t i = 0; i < record.caplen; i++)
            sink ^= record.data[i];
        records++;
    }
    (void)sink;
    if (capture_file_packets(reader) != records)
        abort();
    if (rc < 0 && (capture_file_next(reader, &record) != rc || capture_file_error(reader)[0] == 0))
        abort();
    capture_file_destroy(&reader);
    return 0;
}
