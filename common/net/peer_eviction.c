// SPDX-License-Identifier: MPL-2.0
/*  peer_eviction: our own TCP descriptors, matched by local port and peer
    address, shut down. */
#include "peer_eviction.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "endpoint.h"

//  An IPv4-mapped IPv6 address (::ffff:a.b.c.d) reads as a.b.c.d.
static const char *s_plain(const char *address)
{
    return strncmp(address, "::ffff:", 7) == 0 && strchr(address + 7, '.') ? address + 7 : address;
}

//  The port and the address text of a socket address; false when not IP.
static bool s_ip_of(const struct sockaddr_storage *sa, uint16_t *port, char *text, size_t size)
{
    const void *addr;
    int family = sa->ss_family;
    if (family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        *port = ntohs(in->sin_port);
        addr = &in->sin_addr;
    } else if (family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        *port = ntohs(in6->sin6_port);
        addr = &in6->sin6_addr;
    } else
        return false;
    return inet_ntop(family, addr, text, (socklen_t)size) != NULL;
}

static bool s_is_ours(uint16_t port, const uint16_t *ports, size_t n_ports)
{
    for (size_t i = 0; i < n_ports; i++)
        if (ports[i] == port)
            return true;
    return false;
}

//  True when fd is a TCP connection to one of ports from address (from
//  anyone when address is NULL).
static bool s_matches(int fd, const uint16_t *ports, size_t n_ports, const char *address)
{
    struct stat st;
    int type = 0;
    socklen_t len = sizeof type;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
        return false;
    struct sockaddr_storage local, peer;
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    char local_text[INET6_ADDRSTRLEN], peer_text[INET6_ADDRSTRLEN];
    uint16_t local_port, peer_port;
    if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0 ||
        getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0)
        return false;  // a listener has no peer
    return s_ip_of(&local, &local_port, local_text, sizeof local_text) &&
           s_ip_of(&peer, &peer_port, peer_text, sizeof peer_text) &&
           s_is_ours(local_port, ports, n_ports) &&
           (!address || strcmp(s_plain(peer_text), s_plain(address)) == 0);
}

//  Shuts down our connections from address, or from anyone when it is NULL.
static int s_cut(const uint16_t *ports, size_t n_ports, const char *address)
{
    if (n_ports == 0)
        return 0;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -errno;
    int self_fd = dirfd(dir);
    int cut = 0;
    for (struct dirent *entry; (entry = readdir(dir));) {
        char *end;
        long fd = strtol(entry->d_name, &end, 10);
        if (*end || end == entry->d_name || fd == self_fd)
            continue;
        // Shut down, not closed: the descriptor stays libzmq's, which sees
        // the connection end and tears it down as if the peer had gone.
        if (s_matches((int)fd, ports, n_ports, address) && shutdown((int)fd, SHUT_RDWR) == 0)
            cut++;
    }
    closedir(dir);
    return cut;
}

static int64_t s_now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void s_count(tw_peer_eviction *self, int cut)
{
    if (cut > 0)
        self->cut += (uint64_t)cut;
}

void tw_peer_eviction_watch(tw_peer_eviction *self, const char *endpoint)
{
    tw_endpoint parsed;
    if (tw_endpoint_parse_for(endpoint, TW_ENDPOINT_ZMQ_BIND, &parsed, NULL) == 0 &&
        parsed.transport == TW_TRANSPORT_TCP && self->n_ports < TW_PEER_EVICTION_MAX_PORTS)
        self->ports[self->n_ports++] = parsed.port;
    tw_endpoint_clear(&parsed);
}

int tw_peer_eviction_cut(tw_peer_eviction *self, const char *address)
{
    if (!address || !*address)
        return 0;
    int64_t now = s_now_us();
    if (strcmp(self->last, address) == 0 && now - self->last_us < 1000)
        return 0;
    snprintf(self->last, sizeof self->last, "%s", address);
    self->last_us = now;
    int cut = s_cut(self->ports, self->n_ports, address);
    s_count(self, cut);
    return cut;
}

int tw_peer_eviction_cut_all(tw_peer_eviction *self)
{
    int cut = s_cut(self->ports, self->n_ports, NULL);
    s_count(self, cut);
    return cut;
}
