/*  zmq_monitor: zmonitor's start handshake and its three-frame events
    (name, value, endpoint) in one place. */
#include "zmq_monitor.h"

#include <errno.h>
#include <string.h>

zactor_t *tw_zmq_monitor_start(zsock_t *sock, const char *const *events)
{
    zactor_t *monitor = zactor_new(zmonitor, sock);
    if (!monitor)
        return NULL;
    zmsg_t *listen = zmsg_new();
    int rc = listen ? zmsg_addstr(listen, "LISTEN") : -1;
    for (size_t i = 0; rc == 0 && events[i]; i++)
        rc = zmsg_addstr(listen, events[i]);
    if (rc == 0)
        rc = zmsg_send(&listen, monitor);
    zmsg_destroy(&listen);  // left to us only when the send failed
    // START is acknowledged once the monitor is attached to the socket, so
    // no event after this call is missed.
    if (rc != 0 || zstr_send(monitor, "START") != 0 || zsock_wait(monitor) != 0)
        zactor_destroy(&monitor);
    return monitor;
}

char *tw_zmq_endpoint_plain(char *endpoint)
{
    static const char mapped[] = "[::ffff:";
    char *open = endpoint ? strstr(endpoint, mapped) : NULL;
    char *close = open ? strchr(open, ']') : NULL;
    if (!close || !memchr(open, '.', (size_t)(close - open)))
        return endpoint;  // not IPv4-mapped (::ffff:0:1 is plain IPv6)
    size_t address = sizeof mapped - 1;
    size_t length = (size_t)(close - open) - address;
    memmove(open, open + address, length);
    memmove(open + length, close + 1, strlen(close + 1) + 1);
    return endpoint;
}

int tw_zmq_monitor_read(zactor_t *monitor, tw_zmq_event *event)
{
    *event = (tw_zmq_event){0};
    zmsg_t *message = zmsg_recv(monitor);
    if (!message)
        return errno == EINTR ? -EINTR : -EPROTO;
    bool complete = zmsg_size(message) == 3;
    event->name = zmsg_popstr(message);
    event->value = zmsg_popstr(message);
    event->endpoint = tw_zmq_endpoint_plain(zmsg_popstr(message));
    zmsg_destroy(&message);
    if (event->name && event->value && event->endpoint)
        return 0;
    tw_zmq_event_clear(event);
    return complete ? -ENOMEM : -EPROTO;
}

bool tw_zmq_monitor_pending(zactor_t *monitor)
{
    return monitor && (zsock_events(monitor) & ZMQ_POLLIN);
}

void tw_zmq_event_clear(tw_zmq_event *event)
{
    zstr_free(&event->name);
    zstr_free(&event->value);
    zstr_free(&event->endpoint);
}
