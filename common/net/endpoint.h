// SPDX-License-Identifier: MPL-2.0
/*  endpoint: every address a user writes, for both programs, one parser.

        tcp://127.0.0.1:5555      udp://sink.example:5555      tcp://[::1]:5555
        ipc:///run/tcpwin.sock (ZeroMQ)   and, to bind on every address, * as HOST

    --publish, --connect, relay's --bind and forward's --to all go through
    tw_endpoint_parse_for(), each with the use it allows, so they accept and
    reject the same way and say why in the same words.

    Parsing only checks the syntax: the scheme (tcp or udp, any case), a host
    (an IPv4 address, a bracketed IPv6 address with an optional %zone, or a
    host name of letters, digits, '-', '_' and '.', at most 253 characters)
    and a port from 1 to 65535. Names are resolved later, by whoever
    connects (getaddrinfo at each connection attempt), so a sink whose name
    appears in DNS after we start is still reached.
*/
#ifndef TW_ENDPOINT_H
#define TW_ENDPOINT_H

#include <stdbool.h>
#include <stdint.h>

//  The defaults, one definition for both programs, the docs and the tests.
#define TW_DEFAULT_PUBLISH    "tcp://127.0.0.1:5556"  // producer --publish
#define TW_DEFAULT_CONNECT    TW_DEFAULT_PUBLISH      // subscriber --connect
#define TW_DEFAULT_SINK       "tcp://127.0.0.1:5555"  // forward --to (nc -l)
#define TW_DEFAULT_RELAY_BIND "tcp://127.0.0.1:5557"  // relay --bind

//  A subscriber retries a connection to an absent producer every
//  TW_RECONNECT_IVL_MS, without backoff (ZMQ_RECONNECT_IVL_MAX 0); libzmq
//  adds up to as much again of jitter. A producer replaying a file waits
//  TW_REPLAY_START_WAIT_MS at start, so that every subscriber already
//  running has connected and subscribed: two intervals, and the rest for
//  the handshake on a loaded machine.
#define TW_RECONNECT_IVL_MS     100
#define TW_REPLAY_START_WAIT_MS 500

typedef enum { TW_TRANSPORT_TCP, TW_TRANSPORT_UDP, TW_TRANSPORT_IPC } tw_transport;

//  What an endpoint is for, which decides the transports it may have.
typedef enum {
    TW_ENDPOINT_SINK,         // forward --to: tcp:// or udp://
    TW_ENDPOINT_ZMQ_CONNECT,  // --connect: tcp:// or ipc://
    TW_ENDPOINT_ZMQ_BIND,     // --publish, relay --bind: tcp:// (host may be *) or ipc://
} tw_endpoint_use;

typedef struct {
    tw_transport transport;  // tcp:// or udp://
    char *host;              // address or name, IPv6 without brackets; ipc: the path (malloc'd)
    uint16_t port;           // 1..65535
} tw_endpoint;

//  Parses text for the given use into *out. Returns 0 (release out with
//  tw_endpoint_clear), or -EINVAL with *reason set as tw_endpoint_parse does.
int tw_endpoint_parse_for(const char *text, tw_endpoint_use use, tw_endpoint *out,
                          const char **reason);

//  Parses a sink endpoint (tcp:// or udp://) into *out. Returns 0 (release out with
//  tw_endpoint_clear), or -EINVAL with *reason (when reason is not NULL) set to a static phrase
//  saying what is wrong, e.g. "port must be 1 to 65535"; -ENOMEM when out of
//  memory. *out is left zeroed on error.
int tw_endpoint_parse(const char *text, tw_endpoint *out, const char **reason);

//  Checks the value of option --name for the use. Returns true, or prints one
//  line naming the program, the option, the (escaped) text and the reason,
//  and returns false.
bool tw_endpoint_option(const char *name, const char *text, tw_endpoint_use use);

//  Frees what tw_endpoint_parse allocated and zeroes *endpoint; harmless twice.
void tw_endpoint_clear(tw_endpoint *endpoint);

//  The endpoint in its canonical text form ("tcp://[::1]:5555"), malloc'd;
//  NULL when out of memory.
char *tw_endpoint_to_text(const tw_endpoint *endpoint);

#endif
