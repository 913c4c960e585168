// SPDX-License-Identifier: MPL-2.0
/*  http_server: libmicrohttpd (external epoll mode) answering from a router.

    Why epoll mode: it gives one descriptor for the whole server, which
    zmq_poll takes as a plain fd item, so the subscriber keeps its single
    loop and libmicrohttpd needs no thread (MHD_get_fdset2 would hand over
    an fd_set, which zmq_poll cannot watch, and caps descriptors at
    FD_SETSIZE).

    A request deadline beside libmicrohttpd's idle timeout: a client that
    trickles a header line every few seconds is never idle, and
    libmicrohttpd 0.9.75 has no deadline for the header block, so 64 such
    clients held every slot for ever. Each connection's descriptor is noted
    as it opens (MHD_OPTION_NOTIFY_CONNECTION); a request read whole marks
    it; after each run, a connection without a whole request deadline_s
    after it opened (or after its previous answer) is shut down, counted.

    The bodies of answers in flight (rendered pages a client reads slowly)
    are counted per connection until the request completes; beyond
    HTTP_SERVER_MAX_IN_FLIGHT bytes, a request gets 503 with Retry-After
    instead of another copy (8 slow readers of a large page were 1 GB).

    Each request is answered at its first call, before any body is read:
    GET and HEAD go to the router; a request with a body, or another method,
    gets its error here, and libmicrohttpd closes the connection after it
    rather than read a body nobody wants.
*/
#include "http_server.h"

#include "endpoint.h"
#include "program.h"

#include <czmq.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

//  One open connection, as far as the request deadline and the bytes in
//  flight are concerned.
typedef struct {
    int fd;            // its socket, -1 for a free slot
    int64_t since_ms;  // when it opened, or its previous request completed
    bool complete;     // a request was read whole (and answered) since then
    size_t bytes;      // the body of its answer in flight, when rendered
} s_connection;

struct http_server {
    struct MHD_Daemon *daemon;  // the libmicrohttpd daemon (external epoll mode)
    http_route_fn *route;       // answers GET and HEAD
    void *arg;                  // the router's argument
    s_connection *connections;  // max_connections slots
    unsigned max_connections;   // slots in connections
    int64_t deadline_ms;        // for a whole request
    size_t bytes_in_flight;     // the sum of the connections' bytes
    http_server_counters counters;
};

//  The slot of a connection, noted as it opened (NULL if none was free).
static s_connection *s_slot(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

static void s_notify_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                                enum MHD_ConnectionNotificationCode toe)
{
    http_server *self = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        s_connection *slot = *socket_context;
        if (slot) {
            self->bytes_in_flight -= slot->bytes;
            *slot = (s_connection){.fd = -1};
        }
        return;
    }
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    // As many slots as connections are let in: one is free unless
    // libmicrohttpd lets in more than its limit.
    for (unsigned i = 0; info && i < self->max_connections; i++)
        if (self->connections[i].fd == -1) {
            self->connections[i] =
                (s_connection){.fd = info->connect_fd, .since_ms = zclock_mono()};
            *socket_context = &self->connections[i];
            return;
        }
    self->counters.untracked++;
}

//  A request ended (answered, or its connection gone): its answer's bytes
//  are no longer in flight, and the deadline starts again for the next.
static void s_request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                                enum MHD_RequestTerminationCode toe)
{
    (void)connection;
    (void)toe;
    http_server *self = cls;
    s_connection *slot = *con_cls;
    if (!slot)
        return;
    self->bytes_in_flight -= slot->bytes;
    slot->bytes = 0;
    slot->complete = false;
    slot->since_ms = zclock_mono();
    *con_cls = NULL;
}

//  Shuts down the connections without a whole request by the deadline;
//  libmicrohttpd then sees them closed and frees them.
static void s_enforce_deadline(http_server *self)
{
    int64_t now = zclock_mono();
    for (unsigned i = 0; i < self->max_connections; i++) {
        s_connection *c = &self->connections[i];
        if (c->fd == -1 || c->complete || now - c->since_ms < self->deadline_ms)
            continue;
        if (shutdown(c->fd, SHUT_RDWR) != 0)
            tw_log("serve: cannot shut a slow request's connection down: %s", strerror(errno));
        c->complete = true;  // once
        self->counters.cut_off++;
    }
}

static const char s_security_policy[] =
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'";

//  Adds a header; a response without it is still valid, so a failure
//  (out of memory) is not fatal to the request.
static void s_header(struct MHD_Response *response, const char *name, const char *value)
{
    if (MHD_add_response_header(response, name, value) != MHD_YES)
        tw_log("serve: cannot add header %s", name);
}

static enum MHD_Result s_queue(http_server *self, struct MHD_Connection *connection,
                               const http_reply *reply, s_connection *slot)
{
    enum MHD_ResponseMemoryMode mode =
        reply->must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT;
    struct MHD_Response *response =
        MHD_create_response_from_buffer(reply->len, (void *)reply->body, mode);
    if (!response) {
        if (reply->must_free)
            free((void *)reply->body);
        return MHD_NO;  // closes the connection
    }
    s_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
             reply->content_type ? reply->content_type : "text/plain; charset=utf-8");
    s_header(response, MHD_HTTP_HEADER_CACHE_CONTROL,
             reply->cache_control ? reply->cache_control : "no-store");
    s_header(response, "Content-Security-Policy", s_security_policy);
    s_header(response, "X-Content-Type-Options", "nosniff");
    if (reply->status == MHD_HTTP_METHOD_NOT_ALLOWED)
        s_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (reply->status == MHD_HTTP_SERVICE_UNAVAILABLE)
        s_header(response, MHD_HTTP_HEADER_RETRY_AFTER, "2");
    if (slot && reply->must_free) {
        slot->bytes += reply->len;
        self->bytes_in_flight += reply->len;
    }
    enum MHD_Result rc = MHD_queue_response(connection, reply->status, response);
    MHD_destroy_response(response);
    self->counters.requests++;
    if (reply->status >= 400)
        self->counters.errors++;
    return rc;
}

static void s_error(http_reply *reply, unsigned status, const char *text)
{
    *reply = (http_reply){.status = status, .body = text, .len = strlen(text)};
}

//  True when the request announces a body.
static bool s_has_body(struct MHD_Connection *connection)
{
    const char *length =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *chunked =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    return (length && strcmp(length, "0") != 0) || chunked;
}

static enum MHD_Result s_access(void *cls, struct MHD_Connection *connection, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    http_server *self = cls;
    http_reply reply;
    s_connection *slot = s_slot(connection);
    if (slot) {
        slot->complete = true;
        *con_cls = slot;  // for s_request_completed
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        s_error(&reply, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET or HEAD only\n");
    else if (s_has_body(connection) || *upload_data_size)
        s_error(&reply, MHD_HTTP_CONTENT_TOO_LARGE, "a GET takes no body\n");
    else if (self->bytes_in_flight >= HTTP_SERVER_MAX_IN_FLIGHT) {
        s_error(&reply, MHD_HTTP_SERVICE_UNAVAILABLE, "busy: answers in flight, retry\n");
        self->counters.busy++;
    } else {
        reply = (http_reply){0};
        self->route(self->arg, url, connection, &reply);
    }
    return s_queue(self, connection, &reply, slot);
}

//  Resolves HOST:PORT (through the project's endpoint parser, as tcp://).
//  Returns the addrinfo list, or NULL after saying why.
static struct addrinfo *s_resolve(const char *listen)
{
    size_t size = strlen(listen) + sizeof "tcp://";
    char *text = malloc(size);
    if (!text)
        return NULL;
    snprintf(text, size, "tcp://%s", listen);
    tw_endpoint endpoint;
    const char *reason = "out of memory";
    int rc = tw_endpoint_parse(text, &endpoint, &reason);
    free(text);
    if (rc != 0) {
        char shown[128];
        tw_log("serve: bad --listen '%s': %s", tw_escape(listen, shown, sizeof shown), reason);
        return NULL;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", endpoint.port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *list = NULL;
    rc = getaddrinfo(endpoint.host, port, &hints, &list);
    if (rc != 0)
        tw_log("serve: cannot resolve '%s': %s", endpoint.host, gai_strerror(rc));
    tw_endpoint_clear(&endpoint);
    return rc == 0 ? list : NULL;
}

http_server *http_server_new(const http_server_options *options, http_route_fn *route, void *arg)
{
    struct addrinfo *address = s_resolve(options->listen);
    if (!address)
        return NULL;
    http_server *self = calloc(1, sizeof *self);
    if (!self) {
        freeaddrinfo(address);
        return NULL;
    }
    self->route = route;
    self->arg = arg;
    self->max_connections = options->max_connections;
    self->deadline_ms = (int64_t)options->request_deadline_s * 1000;
    self->connections = calloc(options->max_connections + 1, sizeof *self->connections);
    if (!self->connections) {
        free(self);
        freeaddrinfo(address);
        return NULL;
    }
    for (unsigned i = 0; i < options->max_connections; i++)
        self->connections[i].fd = -1;
    unsigned flags = MHD_USE_EPOLL | (address->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    // One option and its value per line, which clang-format would mix up.
    // clang-format off
    self->daemon = MHD_start_daemon(flags, 0, NULL, NULL, s_access, self,
        MHD_OPTION_SOCK_ADDR, address->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, options->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, options->max_per_address,
        MHD_OPTION_CONNECTION_TIMEOUT, options->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_SERVER_MEMORY_LIMIT,
        MHD_OPTION_NOTIFY_CONNECTION, s_notify_connection, self,
        MHD_OPTION_NOTIFY_COMPLETED, s_request_completed, self,
        MHD_OPTION_END);
    // clang-format on
    freeaddrinfo(address);
    if (!self->daemon) {
        char shown[128];
        tw_log("serve: cannot listen on '%s': %s", tw_escape(options->listen, shown, sizeof shown),
               errno ? strerror(errno) : "libmicrohttpd refused");
        free(self->connections);
        free(self);
        return NULL;
    }
    return self;
}

const char *http_server_query(void *request, const char *key)
{
    return MHD_lookup_connection_value(request, MHD_GET_ARGUMENT_KIND, key);
}

void http_server_destroy(http_server **self)
{
    if (!self || !*self)
        return;
    MHD_stop_daemon((*self)->daemon);
    free((*self)->connections);
    free(*self);
    *self = NULL;
}

int http_server_fd(const http_server *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

long http_server_timeout_ms(const http_server *self, long upto_ms)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(self->daemon, &ms) == MHD_YES && ms < (MHD_UNSIGNED_LONG_LONG)upto_ms)
        return (long)ms;
    return upto_ms;
}

int http_server_run(http_server *self)
{
    if (MHD_run(self->daemon) != MHD_YES)
        return -EIO;
    s_enforce_deadline(self);
    return 0;
}

const http_server_counters *http_server_get_counters(const http_server *self)
{
    return &self->counters;
}
