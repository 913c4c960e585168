// SPDX-License-Identifier: MPL-2.0
/*  curve: CURVE setup and the guard actor (ZAP handler + handshake monitor). */
#include "curve.h"

#include "allow_list.h"
#include "program.h"
#include "zmq_monitor.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  libzmq's draft option (zmq.h, ZMQ_BUILD_DRAFT_API; Debian's 4.3.4 has it).
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

typedef struct {
    zsock_t *sock;           // the server socket being guarded
    tw_allow_list *allowed;  // the keys let in; the guard's alone once it runs
    atomic_bool ready;       // set by the guard once it answers ZAP and watches
} guard_args;

struct tw_curve_server {
    zcert_t *cert;
    zactor_t *guard;
    guard_args args;  // the allow list is freed after the guard has stopped
};

//  An IPv4 peer of an IPv6-enabled socket shows as ::ffff:a.b.c.d; say a.b.c.d.
static const char *s_plain_address(const char *address)
{
    if (!address)
        return "?";
    return strncmp(address, "::ffff:", 7) == 0 && strchr(address + 7, '.') ? address + 7 : address;
}

//  Logs `what` once per key; `seen` remembers the keys.
//  Peers remembered for logging once; past this the memory is cleared (a
//  hostile client could otherwise grow it forever) and peers may be logged
//  again.
#define MAX_REMEMBERED_PEERS 4096

static void s_log_once(zhashx_t *seen, const char *key, const char *what)
{
    if (zhashx_lookup(seen, key))
        return;
    if (zhashx_size(seen) >= MAX_REMEMBERED_PEERS)
        zhashx_purge(seen);
    zhashx_insert(seen, key, (void *)1);
    tw_log("refused %s", what);
}

//  One ZAP request (RFC 27): version, id, domain, address, identity,
//  mechanism, credentials; the reply lets in known CURVE keys only.
static void s_answer_zap(zsock_t *zap, tw_allow_list *allowed, zhashx_t *seen)
{
    zmsg_t *request = zmsg_recv(zap);
    if (!request)
        return;
    char *version = zmsg_popstr(request), *id = zmsg_popstr(request);
    char *domain = zmsg_popstr(request), *address = zmsg_popstr(request);
    char *identity = zmsg_popstr(request), *mechanism = zmsg_popstr(request);
    zframe_t *key = zmsg_pop(request);
    char key_text[41] = "";
    if (key && zframe_size(key) == 32)
        zmq_z85_encode(key_text, zframe_data(key), 32);
    bool ok = mechanism && strcmp(mechanism, "CURVE") == 0 && key_text[0] &&
              tw_allow_list_has(allowed, key_text);
    if (!ok) {
        char what[160];
        snprintf(what, sizeof what, "subscriber %s: CURVE key %s is not allowed",
                 s_plain_address(address), key_text[0] ? key_text : "(none)");
        s_log_once(seen, s_plain_address(address), what);
    }
    zsock_send(zap, "ssssss", version ? version : "1.0", id ? id : "", ok ? "200" : "400",
               ok ? "OK" : "unknown key", "", "");
    zframe_destroy(&key);
    char *strings[] = {version, id, domain, address, identity, mechanism};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        zstr_free(&strings[i]);
    zmsg_destroy(&request);
}

//  A handshake that failed before any ZAP request: the peer does not speak
//  CURVE (or speaks it wrongly).
static void s_note_handshake_failure(zsock_t *monitor, zhashx_t *seen)
{
    tw_zmq_event event;
    if (tw_zmq_monitor_read(monitor, &event) != 0)
        return;
    if (strcmp(event.name, "HANDSHAKE_FAILED_AUTH") != 0) {
        char what[256];
        snprintf(what, sizeof what, "a peer on %s that does not speak CURVE (%s)", event.endpoint,
                 event.name);
        s_log_once(seen, what, what);
    }
    tw_zmq_event_clear(&event);
}

static void s_guard(zsock_t *pipe, void *arg)
{
    guard_args *args = arg;
    zsock_t *zap = zsock_new_rep(ZAP_ENDPOINT);
    static const char *const failures[] = {
        "HANDSHAKE_FAILED_NO_DETAIL", "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_AUTH", NULL};
    zsock_t *monitor = tw_zmq_monitor_start(args->sock, failures);
    zhashx_t *seen = zhashx_new();
    zpoller_t *poller = zap && monitor ? zpoller_new(pipe, zap, monitor, NULL) : NULL;
    // czmq 4.2's zactor_new ignores this status, hence the flag as well.
    atomic_store(&args->ready, poller && seen);
    zsock_signal(pipe, poller && seen ? 0 : 1);
    while (poller && seen) {
        // The allow directory is looked at before each handshake's answer,
        // and once a second without handshakes (so a change is logged
        // soon); tw_allow_list_refresh looks no more often than that.
        void *which = zpoller_wait(poller, TW_ALLOW_LIST_CHECK_MS);
        if (which == zap || (!which && zpoller_expired(poller)))
            tw_allow_list_refresh(args->allowed, zclock_mono());
        if (which == zap)
            s_answer_zap(zap, args->allowed, seen);
        else if (which == monitor)
            s_note_handshake_failure(monitor, seen);
        else if (which == pipe)
            break;  // $TERM from zactor_destroy
        // A signal that lands on this thread (SIGINT, or glibc's own when the
        // producer changes user) interrupts the poll, and czmq calls that
        // "terminated": going on is the only safe answer, since without its
        // guard libzmq would let every key in. Only the context's end stops.
        else if (!which && zpoller_terminated(poller) && zmq_errno() != EINTR)
            break;
    }
    zpoller_destroy(&poller);
    zhashx_destroy(&seen);
    tw_zmq_monitor_stop(args->sock, &monitor);
    zsock_destroy(&zap);
}

tw_curve_server *tw_curve_server_new(zsock_t *sock, const char *cert_path, const char *allow_dir)
{
    tw_curve_server *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->args = (guard_args){.sock = sock, .allowed = tw_allow_list_new(allow_dir)};
    if (!self->args.allowed) {
        tw_curve_server_destroy(&self);
        return NULL;
    }
    self->cert = zcert_load(cert_path);
    if (!self->cert || zcert_secret_txt(self->cert)[0] == '\0' ||
        strcmp(zcert_secret_txt(self->cert), "0000000000000000000000000000000000000000") == 0) {
        tw_log("cannot load the secret certificate '%s' (want the file pair that "
               "'tcpwin-subscriber keygen NAME' writes)",
               cert_path);
        tw_curve_server_destroy(&self);
        return NULL;
    }
    self->guard = zactor_new(s_guard, &self->args);
    // Without its guard a CURVE server lets every key in: refuse to go on.
    if (!self->guard || !atomic_load(&self->args.ready)) {
        tw_log("cannot start the CURVE authenticator");
        tw_curve_server_destroy(&self);
        return NULL;
    }
    zcert_apply(self->cert, sock);
    zsock_set_curve_server(sock, 1);
    zsock_set_zap_domain(sock, "tcpwin");
    // And should the guard ever be gone, refuse every handshake rather than
    // let libzmq accept them all (its default without a ZAP handler).
    int enforce = 1;
    if (zmq_setsockopt(zsock_resolve(sock), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce, sizeof enforce) !=
        0) {
        tw_log("cannot make the CURVE guard mandatory (ZMQ_ZAP_ENFORCE_DOMAIN): %s",
               zmq_strerror(zmq_errno()));
        tw_curve_server_destroy(&self);
        return NULL;
    }
    return self;
}

void tw_curve_server_destroy(tw_curve_server **self)
{
    if (!*self)
        return;
    zactor_destroy(&(*self)->guard);
    tw_allow_list_destroy(&(*self)->args.allowed);
    zcert_destroy(&(*self)->cert);
    free(*self);
    *self = NULL;
}

//  The server's public key from Z85 text or from a certificate file.
static char *s_server_key(const char *server_key)
{
    uint8_t decoded[32];
    if (strlen(server_key) == 40 && zmq_z85_decode(decoded, server_key))
        return strdup(server_key);
    zcert_t *cert = zcert_load(server_key);
    char *key = cert ? strdup(zcert_public_txt(cert)) : NULL;
    zcert_destroy(&cert);
    return key;
}

int tw_curve_client_setup(zsock_t *sock, const char *cert_path, const char *server_key)
{
    if (!cert_path || !server_key) {
        tw_log("CURVE needs both our certificate and the server's public key");
        return -EINVAL;
    }
    zcert_t *cert = zcert_load(cert_path);
    char *key = s_server_key(server_key);
    int rc = 0;
    if (!cert) {
        tw_log("cannot load the certificate '%s'", cert_path);
        rc = -ENOENT;
    } else if (!key) {
        tw_log("'%s' is neither a Z85 public key nor a certificate file", server_key);
        rc = -EINVAL;
    } else {
        zcert_apply(cert, sock);
        zsock_set_curve_serverkey(sock, key);
    }
    free(key);
    zcert_destroy(&cert);
    return rc;
}

//  A certificate in czmq's format (what zcert_save writes, rendered by
//  zconfig), with the secret key when secret is not NULL. Returns a new
//  string, or NULL.
static char *s_certificate_text(const char *public_key, const char *secret_key)
{
    zconfig_t *root = zconfig_new("root", NULL);
    char *when = zclock_timestr();
    if (!root || !when || !zconfig_new("metadata", root)) {
        zstr_free(&when);
        zconfig_destroy(&root);
        return NULL;
    }
    zconfig_set_comment(root, "   ****  Generated on %s by %s keygen (czmq's format)  ****", when,
                        tw_program_name());
    if (secret_key) {
        zconfig_set_comment(root, "   ZeroMQ CURVE **Secret** Certificate");
        zconfig_set_comment(root, "   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its "
                                  "permissions.");
    } else {
        zconfig_set_comment(root, "   ZeroMQ CURVE Public Certificate");
        zconfig_set_comment(root, "   Exchange securely, or use a secure mechanism to verify "
                                  "the contents");
        zconfig_set_comment(root, "   of this file after exchange.");
    }
    zconfig_put(root, "/curve/public-key", public_key);
    if (secret_key)
        zconfig_put(root, "/curve/secret-key", secret_key);
    char *text = zconfig_str_save(root);
    zstr_free(&when);
    zconfig_destroy(&root);
    return text;
}

//  Writes text into a new file beside path (mkstemp: O_CREAT | O_EXCL, so
//  never through a symlink), with mode set whatever the umask, and synced.
//  Returns its name (to free), or NULL with errno set.
static char *s_write_temporary(const char *path, const char *text, mode_t mode)
{
    // dir/.NAME.XXXXXX: hidden, so an allow list never reads it half-written.
    const char *slash = strrchr(path, '/');
    int dir_length = slash ? (int)(slash - path + 1) : 0;
    size_t size = strlen(path) + sizeof "..XXXXXX";
    char *name = malloc(size);
    if (!name) {
        errno = ENOMEM;
        return NULL;
    }
    snprintf(name, size, "%.*s.%s.XXXXXX", dir_length, path, path + dir_length);
    int fd = mkstemp(name);
    if (fd < 0) {
        free(name);
        return NULL;
    }
    int rc = fchmod(fd, mode);
    for (size_t done = 0, length = strlen(text); rc == 0 && done < length;) {
        ssize_t n = write(fd, text + done, length - done);
        if (n < 0 && errno != EINTR)
            rc = -1;
        else if (n > 0)
            done += (size_t)n;
    }
    if (rc == 0)
        rc = fsync(fd);
    int error = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        error = errno;
    }
    if (rc != 0) {
        if (unlink(name) != 0)
            tw_log("cannot remove the temporary file '%s': %s", name, strerror(errno));
        free(name);
        errno = error;
        return NULL;
    }
    return name;
}

//  Puts text at path with mode: without force only when nothing is there
//  (link(2) never follows a symlink at its target, and fails if anything
//  is there); with force replacing what is there (rename(2) replaces a
//  symlink itself, never the file it points to). Returns 0 or a negative
//  errno after printing a message.
static int s_put_file(const char *path, const char *text, mode_t mode, bool force)
{
    char *temporary = s_write_temporary(path, text, mode);
    int rc = !temporary ? -1 : force ? rename(temporary, path) : link(temporary, path);
    int error = errno;
    if (temporary && (rc != 0 || !force) && unlink(temporary) != 0)
        tw_log("cannot remove the temporary file '%s': %s", temporary, strerror(errno));
    free(temporary);
    char text_path[512];
    tw_escape(path, text_path, sizeof text_path);
    if (rc != 0 && error == EEXIST)
        tw_log("'%s' appeared meanwhile: not overwriting it", text_path);
    else if (rc != 0)
        tw_log("cannot write the certificate '%s': %s", text_path, strerror(error));
    return rc == 0 ? 0 : -error;
}

//  Says why path may not be written, or returns 0 (nothing there, or force).
static int s_check_absent(const char *path, bool force)
{
    struct stat st;
    if (force || lstat(path, &st) != 0)
        return 0;
    char text[512];
    tw_log("'%s' exists: not overwriting it (keygen --force NAME replaces the pair)",
           tw_escape(path, text, sizeof text));
    return -EEXIST;
}

int tw_curve_keygen(const char *path, bool force)
{
    size_t size = strlen(path) + sizeof "_secret";
    char *secret_path = malloc(size);
    zcert_t *cert = secret_path ? zcert_new() : NULL;
    char *public_text = cert ? s_certificate_text(zcert_public_txt(cert), NULL) : NULL;
    char *secret_text =
        public_text ? s_certificate_text(zcert_public_txt(cert), zcert_secret_txt(cert)) : NULL;
    zcert_destroy(&cert);
    int rc = 0;
    if (!secret_text) {
        tw_log("cannot make a certificate: %s", strerror(ENOMEM));
        rc = -ENOMEM;
    } else {
        snprintf(secret_path, size, "%s_secret", path);
        rc = s_check_absent(secret_path, force);
    }
    if (rc == 0)
        rc = s_check_absent(path, force);
    // The secret first: a public certificate is never left without it.
    if (rc == 0)
        rc = s_put_file(secret_path, secret_text, 0600, force);
    if (rc == 0) {
        rc = s_put_file(path, public_text, 0644, force);
        if (rc != 0 && !force && unlink(secret_path) != 0)  // ours: made just now
            tw_log("cannot remove '%s': %s", secret_path, strerror(errno));
    }
    if (secret_text)
        explicit_bzero(secret_text, strlen(secret_text));
    free(secret_text);
    free(public_text);
    free(secret_path);
    return rc;
}
