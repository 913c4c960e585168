/*  zmq_monitor: socket events of a ZeroMQ socket, read one at a time.

        const char *events[] = {"DISCONNECTED", "CONNECTED", NULL};
        zactor_t *monitor = tw_zmq_monitor_start(sock, events);
        ... zpoller / zsock_events(monitor) says an event waits:
        tw_zmq_event event;
        if (tw_zmq_monitor_read(monitor, &event) == 0) {
            ... event.name, event.value, event.endpoint ...
            tw_zmq_event_clear(&event);
        }
        zactor_destroy(&monitor);  // before the socket it watches

    A thin layer over czmq's zmonitor actor, for the two places that watch
    a socket: the CURVE guard (handshake failures) and the subscriber's
    receiver (disconnections). It also makes one thing right for both:
    libzmq names a peer it reached through an IPv6-enabled socket by its
    IPv4-mapped address ("tcp://[::ffff:127.0.0.1]:5556"), and only for some
    events; the endpoint read here is always written as the user writes it
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

//  Starts a zmonitor actor on sock for the events named in the NULL-ended
//  list. Returns the actor (destroy it with zactor_destroy, before the
//  socket), or NULL when the actor cannot be created or started.
zactor_t *tw_zmq_monitor_start(zsock_t *sock, const char *const *events);

//  Reads one event, waiting for it (poll the actor first). Returns 0 with
//  every field of *event set (free them with tw_zmq_event_clear), or -EINTR
//  when interrupted, -EPROTO for a malformed event, -ENOMEM; *event is then
//  cleared.
int tw_zmq_monitor_read(zactor_t *monitor, tw_zmq_event *event);

//  True when an event is waiting to be read.
bool tw_zmq_monitor_pending(zactor_t *monitor);

//  Frees the fields of *event and sets them to NULL; harmless twice.
void tw_zmq_event_clear(tw_zmq_event *event);

//  Writes a ZeroMQ endpoint with an IPv4-mapped IPv6 host as the IPv4 one,
//  in place ("tcp://[::ffff:10.0.0.1]:5" -> "tcp://10.0.0.1:5"); any other
//  text is left alone. Returns endpoint.
char *tw_zmq_endpoint_plain(char *endpoint);

#endif
