/*  endpoint: the address of a raw TCP or UDP peer, as the user writes it.

        tcp://127.0.0.1:5555      udp://sink.example:5555      tcp://[::1]:5555

    Parsing only checks the syntax: the scheme (tcp or udp, any case), a host
    (an IPv4 address, a bracketed IPv6 address with an optional %zone, or a
    host name of letters, digits, '-', '_' and '.', at most 253 characters)
    and a port from 1 to 65535. Names are resolved later, by whoever
    connects (getaddrinfo at each connection attempt), so a sink whose name
    appears in DNS after we start is still reached.
*/
#ifndef TW_ENDPOINT_H
#define TW_ENDPOINT_H

#include <stdint.h>

typedef enum { TW_TRANSPORT_TCP, TW_TRANSPORT_UDP } tw_transport;

typedef struct {
    tw_transport transport;  // tcp:// or udp://
    char *host;              // address or name, IPv6 without brackets (malloc'd)
    uint16_t port;           // 1..65535
} tw_endpoint;

//  Parses text into *out. Returns 0 (release out with tw_endpoint_clear), or
//  -EINVAL with *reason (when reason is not NULL) set to a static phrase
//  saying what is wrong, e.g. "port must be 1 to 65535"; -ENOMEM when out of
//  memory. *out is left zeroed on error.
int tw_endpoint_parse(const char *text, tw_endpoint *out, const char **reason);

//  Frees what tw_endpoint_parse allocated and zeroes *endpoint; harmless twice.
void tw_endpoint_clear(tw_endpoint *endpoint);

//  The endpoint in its canonical text form ("tcp://[::1]:5555"), malloc'd;
//  NULL when out of memory.
char *tw_endpoint_to_text(const tw_endpoint *endpoint);

#endif
