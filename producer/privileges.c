// SPDX-License-Identifier: MPL-2.0
/*  privileges: CAP_NET_RAW for the moment the interface opens, then none. */
#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "program.h"

int privileges_raise_capture(void)
{
    cap_t caps = cap_get_proc();
    if (!caps)
        return -errno;
    cap_flag_value_t permitted = CAP_CLEAR;
    cap_value_t raw = CAP_NET_RAW;
    int rc = cap_get_flag(caps, CAP_NET_RAW, CAP_PERMITTED, &permitted);
    if (rc == 0 && permitted == CAP_SET)
        rc = cap_set_flag(caps, CAP_EFFECTIVE, 1, &raw, CAP_SET) == 0 ? cap_set_proc(caps) : -1;
    else
        rc = -1, errno = EPERM;
    int error = errno;
    cap_free(caps);
    return rc == 0 ? 0 : -error;
}

//  The bounding set goes (when we may: CAP_SETPCAP), so not even an exec of
//  a setuid or file-capability binary could bring a capability back. It
//  does not touch what is permitted now: CAP_NET_RAW and a switch of user
//  still work after it.
static void s_drop_bounding_set(void)
{
    for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; cap++)
        if (cap_get_bound(cap) == 1)
            (void)cap_drop_bound(cap);  // EPERM without CAP_SETPCAP: no_new_privs covers it
}

static int s_switch_user(const char *user)
{
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        tw_log("cannot switch to user '%s': %s", user, errno ? strerror(errno) : "no such user");
        return -ENOENT;
    }
    if (setgroups(1, &pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        int error = errno;
        tw_log("cannot switch to user '%s': %s", user, strerror(error));
        return -error;
    }
    // The switch must stick: a process that could become root again has not
    // dropped anything.
    if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        tw_log("cannot switch to user '%s': root could be regained", user);
        return -EPERM;
    }
    return 0;
}

static int s_clear_capabilities(void)
{
    cap_t none = cap_init();
    if (!none)
        return -errno;
    int rc = cap_set_proc(none);
    int error = errno;
    cap_free(none);
    if (rc != 0) {
        tw_log("cannot drop capabilities: %s", strerror(error));
        return -error;
    }
    return 0;
}

//  Whether this process may change its user: root in a container given no
//  CAP_SETUID and CAP_SETGID (compose grants NET_RAW alone) may not.
static bool s_can_switch_user(void)
{
    cap_t caps = cap_get_proc();
    if (!caps)
        return false;
    cap_flag_value_t setuid_ok = CAP_CLEAR, setgid_ok = CAP_CLEAR;
    bool ok = cap_get_flag(caps, CAP_SETUID, CAP_PERMITTED, &setuid_ok) == 0 &&
              cap_get_flag(caps, CAP_SETGID, CAP_PERMITTED, &setgid_ok) == 0 &&
              setuid_ok == CAP_SET && setgid_ok == CAP_SET;
    cap_free(caps);
    return ok;
}

bool privileges_will_switch(const char *user)
{
    bool root = geteuid() == 0 || getuid() == 0;
    return root && strcmp(user, "root") != 0 && s_can_switch_user();
}

int privileges_prepare(void)
{
    // Both are per thread, inherited by the threads started later: done
    // first, they hold for libzmq's and czmq's threads too.
    s_drop_bounding_set();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        int error = errno;
        tw_log("cannot set no_new_privs: %s", strerror(error));
        return -error;
    }
    return 0;
}

int privileges_drop(const char *user)
{
    bool root = geteuid() == 0 || getuid() == 0;
    if (root && strcmp(user, "root") != 0 && !s_can_switch_user())
        tw_log("started as root without CAP_SETUID and CAP_SETGID: staying uid 0, with no "
               "capability");
    else if (root && strcmp(user, "root") != 0) {
        s_drop_bounding_set();
        int rc = s_switch_user(user);
        if (rc != 0)
            return rc;
    }
    int rc = s_clear_capabilities();
    if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        rc = -errno;
        tw_log("cannot set no_new_privs: %s", strerror(-rc));
    }
    return rc;
}
