// SPDX-License-Identifier: MPL-2.0
/*  link_type: the capture link types the decoder understands, by number.

    One definition for the whole project. The numbers are the LINKTYPE_
    values of the pcap and pcapng file formats, which on Linux are also
    libpcap's DLT_ values (pcap_datalink()), except raw IP: files say
    LINKTYPE_RAW (101) and libpcap hands out DLT_RAW (12 on Linux, 14 on
    OpenBSD), so the decoder accepts all three. test_packet_decode checks
    these against <pcap/dlt.h>, so the analysis needs no libpcap header.
*/
#ifndef TW_LINK_TYPE_H
#define TW_LINK_TYPE_H

enum {
    TW_LINK_NULL = 0,          // BSD loopback, host-order address family
    TW_LINK_ETHERNET = 1,      // DLT_EN10MB
    TW_LINK_RAW_DLT = 12,      // DLT_RAW on Linux
    TW_LINK_RAW_OPENBSD = 14,  // DLT_RAW on OpenBSD
    TW_LINK_RAW = 101,         // LINKTYPE_RAW in files
    TW_LINK_LOOP = 108,        // OpenBSD loopback, network-order family
    TW_LINK_LINUX_SLL = 113,   // Linux cooked capture v1
    TW_LINK_IPV4 = 228,
    TW_LINK_IPV6 = 229,
    TW_LINK_LINUX_SLL2 = 276,  // Linux cooked capture v2
};

#endif
