// SPDX-License-Identifier: MPL-2.0
/*  ip_text: inet_ntop for the wire's address fields. */
#include "ip_text.h"

#include <arpa/inet.h>
#include <sys/socket.h>

bool tw_ip_format(const uint8_t *bytes, size_t len, char *buf, size_t size)
{
    int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
    return family && inet_ntop(family, bytes, buf, (socklen_t)size) != NULL;
}
