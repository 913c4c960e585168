// SPDX-License-Identifier: MPL-2.0
/*  curve: ZeroMQ CURVE encryption and authentication, shared by the
    producer, the subscriber and the relay.

    The one module of common/ that touches files and threads: both programs
    need the same server side (the producer, and the relay's dashboard side)
    and client side, and a reader should find security in one place.

    Server side: our secret certificate on the socket, plus a guard actor
    that answers libzmq's ZAP requests (a client is let in only when its
    public key is in the allow directory: allow_list, looked at again at
    most once a second and reloaded on change) and watches the socket's handshake failures through a
   czmq zmonitor. Each refused peer is logged once (remembered up to 4096 peers): a client with an
   unknown key by its address (from the ZAP request), a client that does not speak CURVE at all
   (plaintext) by the endpoint it reached, since libzmq 4.3's monitor events carry no peer address.

    Certificates are czmq's format (zcert_save): NAME holds the public key,
    NAME_secret both keys. keygen writes them itself, never through a
    symlink nor over an existing file (unless told to).
*/
#ifndef TW_CURVE_H
#define TW_CURVE_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tw_curve_server tw_curve_server;

//  Makes sock a CURVE server with the secret certificate at cert_path and
//  starts its guard. Call before binding. Returns NULL after printing a
//  message when a certificate or the directory fails.
tw_curve_server *tw_curve_server_new(zsock_t *sock, const char *cert_path, const char *allow_dir);

//  Stops the guard; sets *self to NULL.
void tw_curve_server_destroy(tw_curve_server **self);

//  Makes sock a CURVE client with our secret certificate and the server's
//  public key (40 Z85 characters, or the path of its public certificate).
//  Call before connecting. Returns 0, or after printing a message -EINVAL
//  (a missing argument, or a key that is neither Z85 nor a certificate) or
//  -ENOENT (our certificate cannot be loaded).
int tw_curve_client_setup(zsock_t *sock, const char *cert_path, const char *server_key);

//  Writes a new certificate pair: path_secret (mode 0600) and path (public,
//  0644), whatever the umask. Neither is written when either exists, unless
//  force: then both are replaced, a symlink by a file (never the file it
//  points to). Each file is written whole beside its name first, so it is
//  complete or absent. Returns 0, or a negative errno (-EEXIST, the
//  write's, -ENOMEM) after printing a message.
int tw_curve_keygen(const char *path, bool force);

#endif
