// SPDX-License-Identifier: MPL-2.0
/*  stream_writer: non-blocking TCP/UDP sink with a bounded queue of whole
    reports and reconnection.

    Design. The writer is a small state machine driven by the caller's poll
    loop:

        WAITING --timer--> (resolve, socket, connect) --> CONNECTING --> UP
           ^                                                  |          |
           +---------- failure / timeout / peer lost ---------+----------+

    UDP goes from WAITING straight to UP (connect() on a datagram socket only
    fixes the peer) and stays UP for the writer's life.

    Every call to stream_writer_handle() does all it can without blocking and
    checks the socket itself instead of trusting the poll flags, so the
    caller may call it spuriously (zmq_poll, for one, folds POLLHUP into
    POLLERR). The queue (report_queue) holds whole reports: written ones
    until the kernel says their bytes left it (SIOCOUTQ), the one being
    written, and the waiting ones; only the waiting are dropped when it is
    full. Losing the connection rewinds it, so every unacknowledged report
    is resent from its first byte: a reader on the new connection never sees
    the tail of a report without its head, and a report still in our kernel
    when the peer went away is never counted as forwarded. Linux keeps the
    SIOCOUTQ count after a reset, so a loss first takes what the peer did
    acknowledge, which keeps resends (duplicates at the sink) to a minimum.

    Why read from a socket we only write to: a peer that closes while we are
    idle is only visible as a readable EOF; without reading we would learn
    it by losing the next report into a dead socket. Whatever the peer sends
    is discarded.
*/
#include "stream_writer.h"

#include "backoff.h"
#include "report_queue.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/sockios.h>  // SIOCOUTQ
#endif

#define DISCARD_CHUNK   4096  // bytes read per recv when draining the peer's input
#define DISCARD_ROUNDS  16    // recv calls per handle, so a chatty peer cannot starve us
#define REFUSED_RETRIES 8     // consecutive ECONNREFUSED on one datagram before giving up
#define ACK_POLL_MS     20    // TCP: how often to look for acknowledgements while some are due

typedef enum { SW_WAITING, SW_CONNECTING, SW_UP } sw_state;

//  What was last logged, so each state change is logged once.
typedef enum { LOG_NONE, LOG_CONNECTING, LOG_CONNECTED, LOG_FAILING, LOG_LOST } sw_logged;

struct stream_writer {
    tw_endpoint endpoint;    // our copy of the peer's endpoint
    char *label;             // endpoint text for log lines
    const char *program;     // log line prefix
    FILE *log;               // log stream
    bool udp;                // datagram socket instead of stream
    size_t max_reports;      // limit of waiting reports
    size_t max_bytes;        // limit of waiting bytes
    size_t max_datagram;     // UDP payload limit
    int connect_timeout_ms;  // TCP connect deadline
    int send_buffer;         // SO_SNDBUF, 0 for the default
    sw_state state;          // see the diagram above
    int fd;                  // socket, -1 when WAITING
    struct addrinfo *addrs;  // resolved addresses of the current attempt
    struct addrinfo *next;   // next address to try in addrs
    int64_t retry_at_ms;     // WAITING: when to try again; UP (UDP): pause end
    int64_t deadline_ms;     // CONNECTING: give up on this address then
    int backoff_ms;          // delay before the next retry
    bool ever_connected;     // a later connection counts as a reconnect
    sw_logged logged;        // last state logged
    int logged_error;        // errno (or EAI code) of the last failure logged
    bool logged_refused;     // UDP "no listener" was logged
    bool dropping;           // in a streak of queue-full drops (logged once)
    bool logged_outq;        // SIOCOUTQ failed, said once
    report_queue *queue;     // whole reports: written (unacknowledged), current, waiting
    stream_writer_counters counters;
};

static void s_log(stream_writer *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void s_log(stream_writer *self, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(self->log, "%s: %s: ", self->program, self->label);
    vfprintf(self->log, format, args);
    fputc('\n', self->log);
    fflush(self->log);
    va_end(args);
}

// ---------------------------------------------------------------------------
// The queue

//  After reports left the queue: says when a streak of drops is over.
static void s_check_drained(stream_writer *self)
{
    if (self->dropping && report_queue_count(self->queue) == 0) {
        self->dropping = false;
        s_log(self, "queue drained; %llu reports dropped so far",
              (unsigned long long)self->counters.dropped);
    }
}

int stream_writer_enqueue(stream_writer *self, const void *data, size_t len)
{
    if (len == 0 || memchr(data, '\0', len))
        return -EINVAL;
    self->counters.received++;
    uint64_t dropped_before = report_queue_get_counters(self->queue)->dropped;
    int rc = report_queue_push(self->queue, data, len);
    uint64_t dropped = report_queue_get_counters(self->queue)->dropped - dropped_before;
    self->counters.dropped += dropped;
    if (rc == -EMSGSIZE)
        s_log(self, "report of %zu bytes dropped: larger than the queue (%zu bytes)", len,
              self->max_bytes);
    if (rc != 0) {
        self->counters.dropped++;
        return rc;
    }
    if (dropped > 0 && !self->dropping) {
        self->dropping = true;
        s_log(self, "queue full (%zu reports, %zu bytes): dropping the oldest reports",
              self->max_reports, self->max_bytes);
    }
    return 0;
}

//  Bytes written on this TCP connection that the kernel still holds (not
//  sent, or sent and not acknowledged by the peer's kernel). Linux keeps
//  the count after a reset too, which is what makes it usable on a loss.
static size_t s_bytes_held(stream_writer *self)
{
    size_t unacknowledged = report_queue_unacknowledged_bytes(self->queue);
#ifdef SIOCOUTQ
    int held = 0;
    if (ioctl(self->fd, SIOCOUTQ, &held) == 0 && held >= 0)
        return (size_t)held;
    if (!self->logged_outq) {
        s_log(self,
              "cannot read the send queue (SIOCOUTQ): %s; reports count as forwarded "
              "only once the connection ends cleanly",
              strerror(errno));
        self->logged_outq = true;
    }
#endif
    return unacknowledged;
}

//  TCP: the written reports whose bytes left the kernel are forwarded.
static void s_acknowledge(stream_writer *self)
{
    if (self->fd < 0 || report_queue_unacknowledged_bytes(self->queue) == 0)
        return;
    self->counters.forwarded += report_queue_acknowledge(self->queue, s_bytes_held(self));
    s_check_drained(self);
}

// ---------------------------------------------------------------------------
// Connection life cycle

static void s_close_socket(stream_writer *self)
{
    if (self->fd >= 0)
        close(self->fd);
    self->fd = -1;
}

static void s_forget_addresses(stream_writer *self)
{
    if (self->addrs)
        freeaddrinfo(self->addrs);
    self->addrs = NULL;
    self->next = NULL;
}

//  Waits backoff_ms before the next attempt and doubles the backoff.
static void s_schedule_retry(stream_writer *self, int64_t now_ms)
{
    self->state = SW_WAITING;
    self->retry_at_ms = now_ms + self->backoff_ms;
    self->backoff_ms = tw_backoff_next(self->backoff_ms, STREAM_WRITER_BACKOFF_MIN_MS,
                                       STREAM_WRITER_BACKOFF_MAX_MS);
}

static void s_connect_failed(stream_writer *self, int error, const char *reason, int64_t now_ms)
{
    s_close_socket(self);
    s_forget_addresses(self);
    if (self->logged != LOG_FAILING || self->logged_error != error) {
        s_log(self, "cannot connect: %s; retrying every %d to %d ms", reason,
              STREAM_WRITER_BACKOFF_MIN_MS, STREAM_WRITER_BACKOFF_MAX_MS);
        self->logged = LOG_FAILING;
        self->logged_error = error;
    }
    s_schedule_retry(self, now_ms);
}

static void s_connected(stream_writer *self)
{
    s_forget_addresses(self);
    self->state = SW_UP;
    self->backoff_ms = STREAM_WRITER_BACKOFF_MIN_MS;
    self->retry_at_ms = 0;
    if (self->ever_connected)
        self->counters.reconnects++;
    self->ever_connected = true;
    s_log(self, self->udp ? "sending datagrams" : "connected");
    self->logged = LOG_CONNECTED;
}

//  The connection broke: what its peer acknowledged is forwarded; every
//  report it did not (written, or cut) will be resent whole, from the oldest.
static void s_connection_lost(stream_writer *self, const char *reason, int64_t now_ms)
{
    s_acknowledge(self);
    self->counters.resent += report_queue_rewind(self->queue);
    s_close_socket(self);
    s_log(self, "connection lost: %s; reconnecting", reason);
    self->logged = LOG_LOST;
    s_schedule_retry(self, now_ms);
}

//  Tries the remaining resolved addresses in turn until one connects or is
//  in progress; returns 0 then, else the errno of the last failure (error
//  when no address was left to try).
static int s_try_addresses(stream_writer *self, int64_t now_ms, int error)
{
    while (self->next) {
        struct addrinfo *address = self->next;
        self->next = address->ai_next;
        int fd = socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        address->ai_protocol);
        if (fd < 0) {
            error = errno;
            continue;
        }
        if (self->send_buffer > 0 &&
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &self->send_buffer, sizeof self->send_buffer))
            s_log(self, "cannot set SO_SNDBUF: %s; using the default", strerror(errno));
        self->fd = fd;
        if (connect(fd, address->ai_addr, address->ai_addrlen) == 0) {
            s_connected(self);
            return 0;
        }
        error = errno;
        if (error == EINPROGRESS || error == EINTR) {
            self->state = SW_CONNECTING;
            self->deadline_ms = now_ms + self->connect_timeout_ms;
            return 0;
        }
        s_close_socket(self);
    }
    return error;
}

static void s_start_attempt(stream_writer *self, int64_t now_ms)
{
    if (self->logged == LOG_NONE) {
        s_log(self, "connecting");
        self->logged = LOG_CONNECTING;
    }
    if (!self->addrs) {
        struct addrinfo hints = {0};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = self->udp ? SOCK_DGRAM : SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        char port[8];
        snprintf(port, sizeof port, "%u", (unsigned)self->endpoint.port);
        int rc = getaddrinfo(self->endpoint.host, port, &hints, &self->addrs);
        if (rc != 0) {
            self->addrs = NULL;
            s_connect_failed(self, -rc, gai_strerror(rc), now_ms);
            return;
        }
        self->next = self->addrs;
    }
    int error = s_try_addresses(self, now_ms, EADDRNOTAVAIL);
    if (self->state == SW_WAITING)
        s_connect_failed(self, error, strerror(error), now_ms);
}

//  CONNECTING: finished, failed (try the next address), or timed out.
static void s_check_connecting(stream_writer *self, int64_t now_ms)
{
    int error = 0;
    socklen_t size = sizeof error;
    if (getsockopt(self->fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0)
        error = errno;
    if (error == 0) {
        struct sockaddr_storage peer;
        socklen_t peer_size = sizeof peer;
        if (getpeername(self->fd, (struct sockaddr *)&peer, &peer_size) == 0) {
            s_connected(self);
            return;
        }
        if (errno != ENOTCONN)
            error = errno;
        else if (now_ms < self->deadline_ms)
            return;  // still in progress
        else
            error = ETIMEDOUT;
    }
    s_close_socket(self);
    self->state = SW_WAITING;
    error = s_try_addresses(self, now_ms, error);
    if (self->state == SW_WAITING)
        s_connect_failed(self, error, strerror(error), now_ms);
}

// ---------------------------------------------------------------------------
// Moving bytes

//  Reads and discards what the peer sent. Returns false when the TCP peer
//  is gone (the writer is then WAITING).
static bool s_drain_input(stream_writer *self, int64_t now_ms)
{
    char discard[DISCARD_CHUNK];
    for (int round = 0; round < DISCARD_ROUNDS; round++) {
        ssize_t n = recv(self->fd, discard, sizeof discard, MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n == 0 && !self->udp) {
            s_connection_lost(self, "closed by the peer", now_ms);
            return false;
        }
        if (n == 0)
            continue;  // an empty datagram
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return true;
        if (self->udp) {
            if (errno == ECONNREFUSED)
                self->counters.refused++;
            continue;  // ICMP errors surface here; the socket stays
        }
        s_connection_lost(self, strerror(errno), now_ms);
        return false;
    }
    return true;
}

//  TCP: writes from the current report until the socket is full or nothing
//  is left, then counts what the peer acknowledged.
static void s_flush_stream(stream_writer *self, int64_t now_ms)
{
    size_t left = 0;
    const char *bytes;
    while ((bytes = report_queue_unwritten(self->queue, &left)) != NULL) {
        ssize_t n = send(self->fd, bytes, left, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                self->counters.short_writes++;
                break;
            }
            s_connection_lost(self, strerror(errno), now_ms);
            return;
        }
        self->counters.bytes += (uint64_t)n;
        if ((size_t)n < left)
            self->counters.short_writes++;
        report_queue_wrote(self->queue, (size_t)n);
    }
    s_acknowledge(self);
}

//  The next datagram of a report from offset: whole lines up to max bytes,
//  or max bytes of a line longer than that.
static size_t s_datagram_length(const char *data, size_t len, size_t max)
{
    if (len <= max)
        return len;
    for (size_t end = max; end > 0; end--)
        if (data[end - 1] == '\n')
            return end;
    return max;
}

//  UDP: one datagram at a time, each ending at a line boundary when it can.
static void s_flush_datagrams(stream_writer *self, int64_t now_ms)
{
    int refused_in_a_row = 0;
    size_t left = 0;
    const char *start;
    while ((start = report_queue_unwritten(self->queue, &left)) != NULL &&
           now_ms >= self->retry_at_ms) {
        size_t size = s_datagram_length(start, left, self->max_datagram);
        ssize_t n = send(self->fd, start, size, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            refused_in_a_row = 0;
            self->retry_at_ms = 0;
            self->backoff_ms = STREAM_WRITER_BACKOFF_MIN_MS;
            self->counters.bytes += (uint64_t)n;
            // A datagram is sent whole or not at all, and UDP has no
            // acknowledgement: once out, it is forwarded.
            if (report_queue_wrote(self->queue, size) > 0) {
                self->counters.forwarded += report_queue_acknowledge(self->queue, 0);
                s_check_drained(self);
            }
            if (self->logged != LOG_CONNECTED) {
                s_log(self, "sending datagrams again");
                self->logged = LOG_CONNECTED;
            }
            continue;
        }
        int error = errno;
        if (error == EINTR)
            continue;
        if (error == EAGAIN || error == EWOULDBLOCK) {
            self->counters.short_writes++;
            return;
        }
        if (error == ECONNREFUSED) {
            // The error belongs to an earlier datagram that found no
            // listener; this one was not sent, so send it again.
            self->counters.refused++;
            if (!self->logged_refused) {
                s_log(self, "no listener (port unreachable); datagrams are lost until one "
                            "listens, counted as refused");
                self->logged_refused = true;
            }
            if (++refused_in_a_row < REFUSED_RETRIES)
                continue;
            return;
        }
        if (error == EMSGSIZE) {
            s_log(self, "datagram of %zu bytes refused by the kernel: report dropped", size);
            report_queue_abandon(self->queue);  // the rest of it could not be sent either
            self->counters.dropped++;
            s_check_drained(self);
            continue;
        }
        // Unreachable network and the like: keep the socket, pause, retry.
        if (self->logged != LOG_FAILING || self->logged_error != error) {
            s_log(self, "cannot send: %s; retrying every %d to %d ms", strerror(error),
                  STREAM_WRITER_BACKOFF_MIN_MS, STREAM_WRITER_BACKOFF_MAX_MS);
            self->logged = LOG_FAILING;
            self->logged_error = error;
        }
        self->retry_at_ms = now_ms + self->backoff_ms;
        self->backoff_ms = tw_backoff_next(self->backoff_ms, STREAM_WRITER_BACKOFF_MIN_MS,
                                           STREAM_WRITER_BACKOFF_MAX_MS);
        return;
    }
}

static void s_service(stream_writer *self, int64_t now_ms)
{
    if (!s_drain_input(self, now_ms))
        return;
    if (self->udp)
        s_flush_datagrams(self, now_ms);
    else
        s_flush_stream(self, now_ms);
}

int stream_writer_handle(stream_writer *self, short revents, int64_t now_ms)
{
    (void)revents;  // the socket is checked directly: see the design note
    // A few steps per call: connect, then write at once on the new socket.
    for (int step = 0; step < 4; step++) {
        sw_state before = self->state;
        switch (self->state) {
        case SW_WAITING:
            if (now_ms < self->retry_at_ms)
                return 0;
            s_start_attempt(self, now_ms);
            break;
        case SW_CONNECTING:
            s_check_connecting(self, now_ms);
            break;
        case SW_UP:
            s_service(self, now_ms);
            break;
        }
        if (self->state == before)
            break;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Life cycle and queries

stream_writer *stream_writer_new(const stream_writer_options *options)
{
    const char *program = options->program ? options->program : "tcpwin-subscriber";
    FILE *log = options->log ? options->log : stderr;
    size_t max_datagram =
        options->max_datagram ? options->max_datagram : STREAM_WRITER_MAX_DATAGRAM;
    if (max_datagram > STREAM_WRITER_DATAGRAM_LIMIT) {
        fprintf(log, "%s: max datagram %zu too large: at most %d bytes\n", program, max_datagram,
                STREAM_WRITER_DATAGRAM_LIMIT);
        return NULL;
    }
    stream_writer *self = calloc(1, sizeof *self);
    if (!self) {
        fprintf(log, "%s: cannot create the stream writer: out of memory\n", program);
        return NULL;
    }
    self->program = program;
    self->log = log;
    self->fd = -1;
    self->udp = options->endpoint->transport == TW_TRANSPORT_UDP;
    self->max_reports = options->max_reports ? options->max_reports : STREAM_WRITER_MAX_REPORTS;
    self->max_bytes = options->max_bytes ? options->max_bytes : STREAM_WRITER_MAX_BYTES;
    self->max_datagram = max_datagram;
    self->connect_timeout_ms = options->connect_timeout_ms > 0 ? options->connect_timeout_ms
                                                               : STREAM_WRITER_CONNECT_TIMEOUT_MS;
    self->send_buffer = options->send_buffer;
    self->backoff_ms = STREAM_WRITER_BACKOFF_MIN_MS;
    self->state = SW_WAITING;
    self->endpoint.transport = options->endpoint->transport;
    self->endpoint.port = options->endpoint->port;
    self->endpoint.host = strdup(options->endpoint->host);
    self->label = tw_endpoint_to_text(options->endpoint);
    self->queue = report_queue_new(self->max_reports, self->max_bytes);
    if (!self->endpoint.host || !self->label || !self->queue) {
        fprintf(log, "%s: cannot create the stream writer: out of memory\n", program);
        stream_writer_destroy(&self);
        return NULL;
    }
    return self;
}

void stream_writer_destroy(stream_writer **self_p)
{
    stream_writer *self = *self_p;
    if (!self)
        return;
    s_close_socket(self);
    s_forget_addresses(self);
    report_queue_destroy(&self->queue);
    free(self->label);
    tw_endpoint_clear(&self->endpoint);
    free(self);
    *self_p = NULL;
}

int stream_writer_fd(const stream_writer *self)
{
    return self->fd;
}

short stream_writer_events(const stream_writer *self)
{
    switch (self->state) {
    case SW_WAITING:
        return 0;
    case SW_CONNECTING:
        return POLLOUT;
    case SW_UP:
        break;
    }
    bool paused = self->udp && self->retry_at_ms > 0;
    size_t left = 0;
    bool unwritten = report_queue_unwritten(self->queue, &left) != NULL;
    return (short)(POLLIN | (unwritten && !paused ? POLLOUT : 0));
}

static int s_until(int64_t deadline_ms, int64_t now_ms)
{
    if (deadline_ms <= now_ms)
        return 0;
    int64_t wait = deadline_ms - now_ms;
    return wait > INT_MAX ? INT_MAX : (int)wait;
}

int stream_writer_next_timeout_ms(const stream_writer *self, int64_t now_ms)
{
    switch (self->state) {
    case SW_WAITING:
        return s_until(self->retry_at_ms, now_ms);
    case SW_CONNECTING:
        return s_until(self->deadline_ms, now_ms);
    case SW_UP:
        break;
    }
    if (self->udp && self->retry_at_ms > 0 && report_queue_count(self->queue) > 0)
        return s_until(self->retry_at_ms, now_ms);
    // Acknowledgements wake no poll: look for them now and then.
    if (!self->udp && report_queue_written(self->queue) > 0)
        return ACK_POLL_MS;
    return -1;
}

bool stream_writer_queue_empty(const stream_writer *self)
{
    return report_queue_count(self->queue) == 0;
}

size_t stream_writer_queued(const stream_writer *self)
{
    return report_queue_count(self->queue);
}

size_t stream_writer_unacknowledged(const stream_writer *self)
{
    return report_queue_written(self->queue);
}

bool stream_writer_connected(const stream_writer *self)
{
    return self->state == SW_UP;
}

const stream_writer_counters *stream_writer_get_counters(const stream_writer *self)
{
    return &self->counters;
}

void stream_writer_print_counters(const stream_writer *self, FILE *out)
{
    const stream_writer_counters *c = &self->counters;
    fprintf(out,
            "%s: %s: received %llu, forwarded %llu, dropped %llu, reconnects %llu, bytes %llu, "
            "resent %llu, queued %zu",
            self->program, self->label, (unsigned long long)c->received,
            (unsigned long long)c->forwarded, (unsigned long long)c->dropped,
            (unsigned long long)c->reconnects, (unsigned long long)c->bytes,
            (unsigned long long)c->resent, report_queue_count(self->queue));
    if (self->udp)
        fprintf(out, ", refused %llu", (unsigned long long)c->refused);
    fputc('\n', out);
}
