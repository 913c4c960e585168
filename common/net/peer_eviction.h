/*  peer_eviction: ends the TCP connections of a peer that misbehaved.

    libzmq keeps every subscription a peer sends, even those our publisher
    refuses (in manual mode too: xpub.cpp stores them to cancel them when the
    peer goes), until the peer cancels them or its connection ends; and it
    offers no call to end one connection of a bound socket. So a peer that
    sends a subscription we refuse is cut off here, at the socket: its
    connections to our ports (found among our own descriptors, by peer
    address) are shut down, libzmq sees them end and frees what the peer
    had made it keep. A flood of refused subscriptions thus costs at most
    what arrives before the next look at the subscriptions, not memory
    without bound.

    The price: libzmq tells the address a message came from, not its port,
    so every connection from that address is cut, a legitimate subscriber
    on the same host included; ZeroMQ reconnects it at once and the
    publisher greets it with the latest report.
*/
#ifndef TW_PEER_EVICTION_H
#define TW_PEER_EVICTION_H

#include <stddef.h>
#include <stdint.h>

//  Shuts down every TCP connection of this process whose local port is one
//  of ports and whose peer address is address (as libzmq's "Peer-Address":
//  an IPv4 peer of an IPv6 socket may read ::ffff:a.b.c.d). Returns how
//  many it ended, or a negative errno when the descriptors could not be
//  listed.
int peer_eviction_cut(const uint16_t *ports, size_t n_ports, const char *address);

//  Shuts down every TCP connection to one of ports, whoever the peer. For a
//  message that is no subscription at all: libzmq's manual XPUB then loses
//  track of which peer each later subscription came from (it records the
//  peer of subscriptions only), so every peer is cut and subscribes again.
//  Returns how many it ended, or a negative errno.
int peer_eviction_cut_all(const uint16_t *ports, size_t n_ports);

#endif
