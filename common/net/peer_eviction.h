// SPDX-License-Identifier: MPL-2.0
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

#define TW_PEER_EVICTION_MAX_PORTS 64

//  What a bound socket needs to cut its peers: its TCP ports, and the last
//  cut, so that a flood's run of messages from one address costs one look
//  at our descriptors per millisecond, not one per message. Zero it to
//  start.
typedef struct {
    uint16_t ports[TW_PEER_EVICTION_MAX_PORTS];  // local TCP ports to look at
    size_t n_ports;
    char last[64];    // address last cut ...
    int64_t last_us;  // ... and when (monotonic)
    uint64_t cut;     // connections cut so far
} tw_peer_eviction;

//  Notes the TCP port of a bound endpoint (ipc:// and the ports past
//  TW_PEER_EVICTION_MAX_PORTS are not looked at).
void tw_peer_eviction_watch(tw_peer_eviction *self, const char *endpoint);

//  Shuts down every TCP connection to our ports whose peer address is
//  address (as libzmq's "Peer-Address": an IPv4 peer of an IPv6 socket may
//  read ::ffff:a.b.c.d), unless the same address was cut less than a
//  millisecond ago (a connection made again after a cut is found within
//  that millisecond). Returns how many it ended now, or a negative errno
//  when the descriptors could not be listed.
int tw_peer_eviction_cut(tw_peer_eviction *self, const char *address);

//  Shuts down every TCP connection to our ports, whoever the peer. For a
//  message that is no subscription at all: libzmq's manual XPUB then loses
//  track of which peer each later subscription came from (it records the
//  peer of subscriptions only), so every peer is cut and subscribes again.
//  Returns how many it ended, or a negative errno.
int tw_peer_eviction_cut_all(tw_peer_eviction *self);

#endif
