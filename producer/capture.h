/*  capture: libpcap input, from a file, standard input or an interface.

    Files (pcap and pcapng, nanosecond ones included) are read with
    microsecond timestamps; "-" is standard input with file semantics. A live
    interface is opened non-blocking with a small snap length that still
    holds the deepest headers we decode, so the producer can poll it together
    with its ZeroMQ socket and its report timer.
*/
#ifndef TW_CAPTURE_H
#define TW_CAPTURE_H

#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>

#define CAPTURE_DEFAULT_SNAPLEN    256
#define CAPTURE_DEFAULT_TIMEOUT_MS 100

typedef struct {
    const char *file;  // capture file or "-", or NULL
    bool file_open;    // file is open already, as file_fd (see main.c)
    int file_fd;
    const char *interface;  // live interface, or NULL
    const char *filter;     // BPF filter, or NULL
    int snaplen;            // live only; 0 for the default
    int buffer_bytes;       // live only (-B); 0 for libpcap's default
    bool immediate;         // live only: deliver each packet at once
} capture_options;

typedef struct capture capture;

//  Opens the input. Returns NULL after printing one line naming the input
//  and the reason (missing file, not a capture, no such interface, no
//  permission, bad filter, unsupported link type).
capture *capture_open(const capture_options *options);

//  Closes the input; sets *self to NULL.
void capture_close(capture **self);

//  The libpcap handle, for pcap_next_ex / pcap_dispatch.
pcap_t *capture_handle(capture *self);

//  The link type (DLT_*) of the input.
int capture_datalink(capture *self);

//  True for a live interface.
bool capture_is_live(const capture *self);

//  A descriptor that poll() reports readable when packets wait (live).
int capture_fd(capture *self);

//  Packets the kernel or interface dropped so far (live; 0 for files).
uint64_t capture_drops(capture *self);

//  A printable name of the input ("'x.pcap'", "standard input", "interface 'eth0'").
const char *capture_name(const capture *self);

#endif
