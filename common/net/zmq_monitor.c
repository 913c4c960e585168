// SPDX-License-Identifier: MPL-2.0
/*  zmq_monitor: libzmq's socket monitor read through a PAIR socket, events
    named as czmq's zmonitor names them. */
#include "zmq_monitor.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

static const struct {
    const char *name;
    int event;
} EVENTS[] = {
    {"CONNECTED", ZMQ_EVENT_CONNECTED},
    {"CONNECT_DELAYED", ZMQ_EVENT_CONNECT_DELAYED},
    {"CONNECT_RETRIED", ZMQ_EVENT_CONNECT_RETRIED},
    {"LISTENING", ZMQ_EVENT_LISTENING},
    {"BIND_FAILED", ZMQ_EVENT_BIND_FAILED},
    {"ACCEPTED", ZMQ_EVENT_ACCEPTED},
    {"ACCEPT_FAILED", ZMQ_EVENT_ACCEPT_FAILED},
    {"CLOSED", ZMQ_EVENT_CLOSED},
    {"CLOSE_FAILED", ZMQ_EVENT_CLOSE_FAILED},
    {"DISCONNECTED", ZMQ_EVENT_DISCONNECTED},
    {"MONITOR_STOPPED", ZMQ_EVENT_MONITOR_STOPPED},
    {"HANDSHAKE_FAILED_NO_DETAIL", ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL},
    {"HANDSHAKE_SUCCEEDED", ZMQ_EVENT_HANDSHAKE_SUCCEEDED},
    {"HANDSHAKE_FAILED_PROTOCOL", ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL},
    {"HANDSHAKE_FAILED_AUTH", ZMQ_EVENT_HANDSHAKE_FAILED_AUTH},
};

static int s_event_of(const char *name)
{
    for (size_t i = 0; i < sizeof EVENTS / sizeof EVENTS[0]; i++)
        if (strcmp(EVENTS[i].name, name) == 0)
            return EVENTS[i].event;
    return 0;
}

static const char *s_name_of(int event)
{
    for (size_t i = 0; i < sizeof EVENTS / sizeof EVENTS[0]; i++)
        if (EVENTS[i].event == event)
            return EVENTS[i].name;
    return "UNKNOWN";
}

zsock_t *tw_zmq_monitor_start(zsock_t *sock, const char *const *events)
{
    int mask = 0;
    for (size_t i = 0; events[i]; i++)
        mask |= s_event_of(events[i]);
    // One inproc endpoint per monitor in the process.
    static atomic_uint next;
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://tw-monitor-%u-%p", atomic_fetch_add(&next, 1),
             (void *)sock);
    if (zmq_socket_monitor(zsock_resolve(sock), endpoint, mask) != 0)
        return NULL;
    // libzmq binds the monitor's end at once, so events from here on queue
    // for us: none is missed.
    zsock_t *monitor = zsock_new(ZMQ_PAIR);
    if (!monitor || zsock_connect(monitor, "%s", endpoint) != 0) {
        zsock_destroy(&monitor);
        (void)zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
        return NULL;
    }
    return monitor;
}

void tw_zmq_monitor_stop(zsock_t *sock, zsock_t **monitor)
{
    if (!*monitor)
        return;
    if (sock)
        (void)zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
    zsock_destroy(monitor);
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

int tw_zmq_monitor_read(zsock_t *monitor, tw_zmq_event *event)
{
    *event = (tw_zmq_event){0};
    // libzmq 4.3's events: a frame of 6 bytes (the event, 16 bits, and its
    // value, 32 bits, in host order), then a frame with the endpoint.
    zmsg_t *message = zmsg_recv(monitor);
    if (!message)
        return errno == EINTR ? -EINTR : -EPROTO;
    zframe_t *head = zmsg_pop(message);
    char *endpoint = zmsg_popstr(message);
    int rc = -EPROTO;
    if (head && zframe_size(head) == 6 && endpoint) {
        uint16_t id;
        uint32_t value;
        memcpy(&id, zframe_data(head), sizeof id);
        memcpy(&value, zframe_data(head) + 2, sizeof value);
        event->name = strdup(s_name_of(id));
        event->value = zsys_sprintf("%u", value);
        event->endpoint = tw_zmq_endpoint_plain(endpoint);
        endpoint = NULL;
        rc = event->name && event->value ? 0 : -ENOMEM;
    }
    zframe_destroy(&head);
    zstr_free(&endpoint);
    zmsg_destroy(&message);
    if (rc != 0)
        tw_zmq_event_clear(event);
    return rc;
}

bool tw_zmq_monitor_pending(zsock_t *monitor)
{
    return monitor && (zsock_events(monitor) & ZMQ_POLLIN);
}

void tw_zmq_event_clear(tw_zmq_event *event)
{
    zstr_free(&event->name);
    zstr_free(&event->value);
    zstr_free(&event->endpoint);
}
