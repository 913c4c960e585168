// SPDX-License-Identifier: MPL-2.0
/*  http_server: libmicrohttpd in the caller's poll loop, no thread of ours.

        http_server *server = http_server_new(&options, route, arg);
        zmq_pollitem_t item = {.fd = http_server_fd(server), .events = ZMQ_POLLIN};
        ... zmq_poll(..., http_server_timeout_ms(server, 1000)) ...
        http_server_run(server);
        http_server_destroy(&server);

    The daemon runs in libmicrohttpd's external mode with epoll: all its
    sockets sit behind one epoll descriptor, which zmq_poll watches like any
    file descriptor beside the ZeroMQ sockets. Bounds: at most
    max_connections connections, max_per_address of them from one address
    (more are closed at accept, so one client cannot take every slot), a
    request's
    header block in HTTP_SERVER_MEMORY_LIMIT bytes (a longer request line
    gets 414, longer headers 431), an idle connection closed after
    timeout_s seconds, a request not read whole request_deadline_s after
    its connection opened (or its previous answer) cut off, counted (a
    slowloris holds a slot that long at most, however it trickles), and
    once HTTP_SERVER_MAX_IN_FLIGHT bytes of rendered answers are in flight
    (not yet handed to the kernel), a request gets 503 with Retry-After: 2,
    counted (so at most that plus one answer).
    The router sees only GET and HEAD requests without a body; anything
    else is answered here: 405 for another method, 413 for a body.
*/
#ifndef TW_HTTP_SERVER_H
#define TW_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_SERVER_MEMORY_LIMIT  (32 * 1024)
#define HTTP_SERVER_MAX_IN_FLIGHT (64u * 1024 * 1024)

typedef struct http_server http_server;

typedef struct {
    const char *listen;           // HOST:PORT, [IPv6]:PORT
    unsigned max_connections;     // in all
    unsigned max_per_address;     // from one client address
    unsigned timeout_s;           // idle time before a connection is closed
    unsigned request_deadline_s;  // for a whole request from its connection's start
} http_server_options;

//  What the router answers. body is malloc'd and freed by the server when
//  must_free, else it must outlive the response (a static asset).
typedef struct {
    unsigned status;
    const char *content_type;
    const char *cache_control;  // NULL: no-store
    const void *body;
    size_t len;
    bool must_free;
} http_reply;

//  Fills *reply for a GET or HEAD of path (the query string cut off);
//  request is for http_server_query.
typedef void(http_route_fn)(void *arg, const char *path, void *request, http_reply *reply);

//  The value of a query argument of the request being routed, or NULL.
const char *http_server_query(void *request, const char *key);

typedef struct {
    uint64_t requests;   // requests answered
    uint64_t errors;     // of those, with a status of 400 or more
    uint64_t cut_off;    // connections shut down without a whole request by the deadline
    uint64_t busy;       // of the errors, 503 for the bytes in flight
    uint64_t untracked;  // connections let in without a slot (none expected)
} http_server_counters;

//  Listens on options->listen. Returns NULL after printing a message
//  naming the address on failure.
http_server *http_server_new(const http_server_options *options, http_route_fn *route, void *arg);

//  Stops the daemon and closes its connections; sets *self to NULL.
void http_server_destroy(http_server **self);

//  The descriptor to poll for input.
int http_server_fd(const http_server *self);

//  The poll timeout to use: libmicrohttpd's own when sooner than upto_ms.
long http_server_timeout_ms(const http_server *self, long upto_ms);

//  Does whatever work is ready without blocking. Returns 0, or -EIO.
int http_server_run(http_server *self);

//  Counters so far.
const http_server_counters *http_server_get_counters(const http_server *self);

#endif
