// SPDX-License-Identifier: MPL-2.0
/*  endpoint: parsing tcp://HOST:PORT, udp://HOST:PORT and ipc://PATH.

    Strict on purpose: an endpoint is typed by an operator in a compose file
    or on a command line, and a typo found at start ("port must be 1 to
    65535") is far cheaper than a bridge that retries a wrong address
    forever. Nothing here touches the network.
*/
#include "endpoint.h"

#include "program.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HOST_NAME 253  // RFC 1035, without the trailing dot

#define MAX_IPC_PATH 107  // sun_path holds 108 bytes with the NUL

static const struct {
    const char *prefix;
    tw_transport transport;
} SCHEMES[] = {
    {"tcp://", TW_TRANSPORT_TCP},
    {"udp://", TW_TRANSPORT_UDP},
    {"ipc://", TW_TRANSPORT_IPC},
};

static bool s_transport_allowed(tw_transport transport, tw_endpoint_use use)
{
    if (use == TW_ENDPOINT_SINK)
        return transport != TW_TRANSPORT_IPC;
    return transport != TW_TRANSPORT_UDP;
}

static const char *s_expected(tw_endpoint_use use)
{
    if (use == TW_ENDPOINT_SINK)
        return "expected tcp://HOST:PORT or udp://HOST:PORT";
    if (use == TW_ENDPOINT_ZMQ_BIND)
        return "expected tcp://HOST:PORT (HOST may be *) or ipc://PATH";
    return "expected tcp://HOST:PORT or ipc://PATH";
}

static const char *s_check_ipc_path(const char *path)
{
    size_t len = strlen(path);
    if (len == 0)
        return "missing path after ipc://";
    if (len > MAX_IPC_PATH)
        return "ipc path longer than 107 characters";
    for (const char *p = path; *p; p++)
        if (iscntrl((unsigned char)*p))
            return "ipc path holds a control character";
    return NULL;
}

//  A host name as resolvers accept it: letters, digits, '-', '_' and '.'.
//  A name of digits and dots only must be a valid IPv4 address, so that
//  "10.0.0.256" is refused here instead of failing DNS forever.
static const char *s_check_host_name(const char *host, size_t len)
{
    if (len == 0)
        return "missing host";
    if (len > MAX_HOST_NAME)
        return "host name longer than 253 characters";
    bool numeric = true;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c == ':')
            return "an IPv6 address needs brackets, e.g. tcp://[::1]:5555";
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return "host may hold only letters, digits, '-', '_' and '.'";
        if (!isdigit(c) && c != '.')
            numeric = false;
    }
    if (numeric) {
        struct in_addr ignored;
        char copy[MAX_HOST_NAME + 1];
        memcpy(copy, host, len);
        copy[len] = '\0';
        if (inet_pton(AF_INET, copy, &ignored) != 1)
            return "not a valid IPv4 address";
    }
    return NULL;
}

//  The inside of [...]: an IPv6 address, optionally followed by %zone.
static const char *s_check_ipv6(const char *host, size_t len)
{
    if (len == 0)
        return "empty brackets";
    if (len > MAX_HOST_NAME)
        return "IPv6 address too long";
    char copy[MAX_HOST_NAME + 1];
    memcpy(copy, host, len);
    copy[len] = '\0';
    char *zone = strchr(copy, '%');
    if (zone) {
        *zone++ = '\0';
        if (*zone == '\0')
            return "empty IPv6 zone after '%'";
        for (const char *p = zone; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
                return "IPv6 zone may hold only letters, digits, '-', '_' and '.'";
    }
    struct in6_addr ignored;
    if (inet_pton(AF_INET6, copy, &ignored) != 1)
        return "not a valid IPv6 address inside the brackets";
    return NULL;
}

static const char *s_parse_port(const char *text, uint16_t *port)
{
    if (*text == '\0')
        return "missing port after ':'";
    unsigned long value = 0;
    for (const char *p = text; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return "port must be a decimal number";
        value = value * 10 + (unsigned long)(*p - '0');
        if (value > 65535)
            return "port must be 1 to 65535";
    }
    if (value == 0)
        return "port must be 1 to 65535";
    *port = (uint16_t)value;
    return NULL;
}

//  Splits "HOST:PORT" or "[V6]:PORT"; returns the reason on failure.
static const char *s_parse_authority(const char *text, bool wildcard, const char **host,
                                     size_t *host_len, uint16_t *port)
{
    const char *colon;
    const char *why;
    if (*text == '[') {
        const char *close = strchr(text, ']');
        if (!close)
            return "missing ']' after the IPv6 address";
        *host = text + 1;
        *host_len = (size_t)(close - text - 1);
        why = s_check_ipv6(*host, *host_len);
        if (why)
            return why;
        if (close[1] != ':')
            return "expected ':PORT' after ']'";
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon)
            return "missing ':PORT'";
        *host = text;
        *host_len = (size_t)(colon - text);
        bool any = wildcard && *host_len == 1 && text[0] == '*';
        why = any ? NULL : s_check_host_name(*host, *host_len);
        if (why)
            return why;
    }
    return s_parse_port(colon + 1, port);
}

int tw_endpoint_parse_for(const char *text, tw_endpoint_use use, tw_endpoint *out,
                          const char **reason)
{
    memset(out, 0, sizeof *out);
    const char *why = NULL;
    const char *rest = NULL;
    for (size_t i = 0; i < sizeof SCHEMES / sizeof SCHEMES[0]; i++)
        if (strncasecmp(text, SCHEMES[i].prefix, strlen(SCHEMES[i].prefix)) == 0 &&
            s_transport_allowed(SCHEMES[i].transport, use)) {
            out->transport = SCHEMES[i].transport;
            rest = text + strlen(SCHEMES[i].prefix);
        }
    const char *host = NULL;
    size_t host_len = 0;
    uint16_t port = 0;
    if (!rest)
        why = s_expected(use);
    else if (out->transport == TW_TRANSPORT_IPC) {
        why = s_check_ipc_path(rest);
        host = rest;
        host_len = strlen(rest);
    } else
        why = s_parse_authority(rest, use == TW_ENDPOINT_ZMQ_BIND, &host, &host_len, &port);
    if (why) {
        if (reason)
            *reason = why;
        memset(out, 0, sizeof *out);
        return -EINVAL;
    }
    out->host = strndup(host, host_len);
    if (!out->host) {
        memset(out, 0, sizeof *out);
        return -ENOMEM;
    }
    out->port = port;
    return 0;
}

int tw_endpoint_parse(const char *text, tw_endpoint *out, const char **reason)
{
    return tw_endpoint_parse_for(text, TW_ENDPOINT_SINK, out, reason);
}

bool tw_endpoint_option(const char *name, const char *text, tw_endpoint_use use)
{
    tw_endpoint parsed;
    const char *why = "out of memory";
    int rc = tw_endpoint_parse_for(text, use, &parsed, &why);
    tw_endpoint_clear(&parsed);
    if (rc == 0)
        return true;
    char shown[128];
    tw_log("--%s '%s': %s", name, tw_escape(text, shown, sizeof shown), why);
    return false;
}

void tw_endpoint_clear(tw_endpoint *endpoint)
{
    free(endpoint->host);
    memset(endpoint, 0, sizeof *endpoint);
}

char *tw_endpoint_to_text(const tw_endpoint *endpoint)
{
    const char *host = endpoint->host ? endpoint->host : "";
    if (endpoint->transport == TW_TRANSPORT_IPC) {
        size_t len = strlen("ipc://") + strlen(host) + 1;
        char *text = malloc(len);
        if (text)
            snprintf(text, len, "ipc://%s", host);
        return text;
    }
    const char *scheme = endpoint->transport == TW_TRANSPORT_TCP ? "tcp" : "udp";
    bool v6 = strchr(host, ':') != NULL;
    const char *open = v6 ? "[" : "", *close = v6 ? "]" : "";
    unsigned port = endpoint->port;
    int len = snprintf(NULL, 0, "%s://%s%s%s:%u", scheme, open, host, close, port);
    if (len < 0)
        return NULL;
    char *text = malloc((size_t)len + 1);
    if (text)
        snprintf(text, (size_t)len + 1, "%s://%s%s%s:%u", scheme, open, host, close, port);
    return text;
}
