// SPDX-License-Identifier: MPL-2.0
/*  relay: the `relay` mode of tcpwin-subscriber, a many-to-many fan point.

    An XSUB socket connected to every producer (the global --connect list)
    and an XPUB socket bound for dashboards, joined by zmq_proxy. The XPUB
    is verbose, so every dashboard's subscription travels upstream and each
    producer replays its latest report to late joiners behind the relay too.
    Messages pass through unchanged: producer ids, run ids and sequences
    stay the producers', so subscribers keep the streams apart.
*/
#ifndef TW_RELAY_H
#define TW_RELAY_H

#include "endpoint.h"
#include "receiver.h"

#define RELAY_DEFAULT_BIND TW_DEFAULT_RELAY_BIND

//  Runs the relay until SIGINT/SIGTERM. upstream holds the producers and the
//  client-side CURVE settings; argv the mode's own options. Returns the exit
//  status.
int relay_main(const receiver_options *upstream, int argc, char **argv);

#endif
