// SPDX-License-Identifier: MPL-2.0
/*  privileges: least privilege for the producer, tcpdump's way.

    Only opening a live interface needs a privilege, CAP_NET_RAW (a packet
    socket; NET_ADMIN is not needed). So:
      - privileges_raise_capture() makes CAP_NET_RAW effective if it is
        permitted (a binary given cap_net_raw+p, or root), just before the
        interface is activated;
      - privileges_drop() right after: when running as root, switch to an
        unprivileged user (-Z/--user, default "nobody"; "root" keeps root on
        purpose), which the kernel follows by clearing every capability;
        otherwise clear every capability we hold. Root without CAP_SETUID
        and CAP_SETGID (a container given NET_RAW alone) cannot switch: it
        stays uid 0 with no capability, and says so. It also drops the bounding
        set when it can, and sets no_new_privs, so nothing later can regain
        a privilege.
    A file replay and --help need no capability at all: the image's binary
    carries none, and a process started with some drops them before it
    starts any thread (see main.c for the order, which matters: clearing
    capabilities applies to the calling thread only, while a switch of user
    applies to every thread).
*/
#ifndef TW_PRIVILEGES_H
#define TW_PRIVILEGES_H

#include <stdbool.h>

#define PRIVILEGES_DEFAULT_USER "nobody"

//  Before any thread starts: drops the bounding set (when allowed) and sets
//  no_new_privs, both of which are per thread and inherited. Returns 0 or a
//  negative errno (printed).
int privileges_prepare(void);

//  Makes CAP_NET_RAW effective when it is permitted. Returns 0, or -EPERM
//  when it is not (activation then fails with libpcap's own message).
int privileges_raise_capture(void);

//  True when privileges_drop(user) will switch user: root, user not "root",
//  and CAP_SETUID and CAP_SETGID at hand. A switch of user clears the
//  capabilities of every thread; otherwise only the calling thread's are
//  cleared, so the drop must come before any thread starts.
bool privileges_will_switch(const char *user);

//  Drops every privilege: as root, switches to user (its uid, gid and
//  groups) unless user is "root"; then clears all capabilities and sets
//  no_new_privs. Returns 0, or a negative errno after printing why (the
//  caller must not go on).
int privileges_drop(const char *user);

#endif
