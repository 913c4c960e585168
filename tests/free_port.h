// SPDX-License-Identifier: MPL-2.0
/*  free_port: a TCP port on 127.0.0.1 that nothing uses now, for a program
    under test that must be given a port number (a relay's --bind; the
    peer eviction of the relay and of the producer works on the bound port,
    so `tcp://127.0.0.1:*` will not do there). The kernel picks it: a port
    drawn at random can be one another test's connection holds, or one
    taken by a listener. Another process can still take it before the
    program binds it, rarely: the caller tries another port when the bind
    fails. A socket the test binds itself binds `tcp://127.0.0.1:*`. */
#ifndef TW_TEST_FREE_PORT_H
#define TW_TEST_FREE_PORT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

//  Returns a port free on 127.0.0.1 at the time of the call, or -1.
static inline int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in address = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t length = sizeof address;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) == 0 &&
        getsockname(fd, (struct sockaddr *)&address, &length) == 0)
        port = ntohs(address.sin_port);
    close(fd);
    return port;
}

#endif
