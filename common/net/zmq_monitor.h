// SPDX-License-Identifier: MPL-2.0
/*  zmq_monitor: socket events of a ZeroMQ socket, read one at a time.

        const char *events[] = {"DISCONNECTED", "CONNECTED", NULL};
        zsock_t *monitor = tw_zmq_monitor_start(sock, events);
        ... zpoller / zsock_events(monitor) says an event waits:
        tw_zmq_event event;
        if (tw_zmq_monitor_read(monitor, &event) == 0) {
            ... event.name, event.value, event.endpoint ...
            tw_zmq_event_clear(&event);
        }
        tw_zmq_monitor_stop(sock, &monitor);  // before the socket it watches

    libzmq's zmq_socket_monitor read through a PAIR socket, for the two
    places that watch a socket: the CURVE guard (handshake failures) and
    the subscriber's receiver (disconnections). Not czmq's zmonitor actor:
    its thread ends at the first signal that interrupts its poll (czmq
    calls that "terminated"), and glibc signals every thread when a process
    changes user, as the producer does once its input is open; a PAIR
    socket has no thread of its own, its reader's loop decides. It also makes one thing right for
   both: libzmq names a peer it reached through an IPv6-enabled socket by its IPv4-mapped address
   ("tcp://[::ffff:127.0.0.1]:5556"), and only for some events; the endpoint read here is always
   written as the user writes it
    ("tcp://127.0.0.1:5556"), so events about one connection compare equal
    to each other and to the --connect text.
*/
#ifndef TW_ZMQ_MONITOR_H
#define TW_ZMQ_MONITOR_H

#include <czmq.h>

typedef struct {
    char *name;      // the event, as zmonitor names it ("DISCONNECTED", ...)
    char *value;     // its value as decimal text (a descriptor, an errno, an interval)
    char *endpoint;  // the endpoint concerned, IPv4-mapped addresses written as IPv4
} tw_zmq_event;

//  Starts monitoring sock for the events named in the NULL-ended list (the
//  names of czmq's zmonitor: "DISCONNECTED", "HANDSHAKE_FAILED_AUTH", ...).
//  Returns the socket to read events from (stop with tw_zmq_monitor_stop,
//  before sock is destroyed), or NULL when monitoring cannot start. Use it
//  in one thread only.
zsock_t *tw_zmq_monitor_start(zsock_t *sock, const char *const *events);

//  Stops monitoring sock and destroys *monitor; sets it to NULL; harmless
//  on NULL.
void tw_zmq_monitor_stop(zsock_t *sock, zsock_t **monitor);

//  Reads one event, waiting for it (poll the actor first). Returns 0 with
//  every field of *event set (free them with tw_zmq_event_clear), or -EINTR
//  when interrupted, -EPROTO for a malformed event, -ENOMEM; *event is then
//  cleared.
int tw_zmq_monitor_read(zsock_t *monitor, tw_zmq_event *event);

//  True when an event is waiting to be read.
bool tw_zmq_monitor_pending(zsock_t *monitor);

//  Frees the fields of *event and sets them to NULL; harmless twice.
void tw_zmq_event_clear(tw_zmq_event *event);

//  Writes a ZeroMQ endpoint with an IPv4-mapped IPv6 host as the IPv4 one,
//  in place ("tcp://[::ffff:10.0.0.1]:5" -> "tcp://10.0.0.1:5"); any other
//  text is left alone. Returns endpoint.
char *tw_zmq_endpoint_plain(char *endpoint);

#endif
