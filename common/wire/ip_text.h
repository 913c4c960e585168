// SPDX-License-Identifier: MPL-2.0
/*  ip_text: an address field of the wire format as text, one way for all.

    Every bytes field of proto/tcpwin.proto is an IP address: 4 bytes are
    IPv4 ("192.0.2.1"), 16 bytes IPv6 in RFC 5952 form ("2001:db8::1"). The
    legacy table and JSON lines both print them through here, so a host
    looks the same in every output.
*/
#ifndef TW_IP_TEXT_H
#define TW_IP_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Room for the longest address text and its NUL.
#define TW_IP_TEXT_SIZE 46

//  Writes the address of len bytes into buf (size bytes, TW_IP_TEXT_SIZE is
//  enough). Returns true, or false (buf untouched) when len is neither 4 nor
//  16: the caller decides what such a field shows.
bool tw_ip_format(const uint8_t *bytes, size_t len, char *buf, size_t size);

#endif
