// SPDX-License-Identifier: MPL-2.0
/*  child_process: the helper processes of a unit test (a relay, a stranger
    that floods a socket), which never outlive the test.

    A child is the test program itself again: fork, then exec of
    /proc/self/exe with the child's role in argv, which the test's main
    dispatches on. Not fork alone: the test process already runs ZeroMQ's
    I/O and reaper threads when it forks, and the child of a threaded
    process may run only async-signal-safe code until it execs: a lock one
    of those threads held at the fork stays held in the child forever (the
    libasan of GCC 12 has no fork interceptor: its allocator's locks are
    not taken around fork). A relay started by fork alone once stayed
    alive and bound under ASan, in a full parallel run, and never
    subscribed upstream: the signature of such a lock (not reproduced).

    A failed assertion must not leave a child holding ctest's output pipe
    (ctest then waits for the pipe until its timeout, so a 10-second
    failure became a 60-second hang): every child dies with the test
    (PR_SET_PDEATHSIG), and child_kill_all, from a teardown, kills and reaps
    those still recorded. Every wait for a child is bounded. */
#ifndef TW_TEST_CHILD_PROCESS_H
#define TW_TEST_CHILD_PROCESS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_MAX 8

static pid_t s_children[CHILD_MAX];  // started and not reaped yet; 0 for none

static inline void s_child_forget(pid_t pid)
{
    for (size_t i = 0; i < CHILD_MAX; i++)
        if (s_children[i] == pid)
            s_children[i] = 0;
}

//  Starts this program again with argv (argv[1] names the child's role).
//  argv must be built before the call: between fork and exec the child
//  allocates nothing. Returns the child's pid, or -1 (none started: fork
//  failed, or CHILD_MAX children run already).
static inline pid_t child_spawn(char *const argv[])
{
    size_t slot = 0;
    while (slot < CHILD_MAX && s_children[slot] != 0)
        slot++;
    if (slot == CHILD_MAX)
        return -1;
    // Its own path rather than /proc/self/exe in ps and in gdb.
    char self[4096];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length <= 0 || (size_t)length == sizeof self - 1)
        snprintf(self, sizeof self, "/proc/self/exe");
    else
        self[length] = '\0';
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) {
        if (pid > 0)
            s_children[slot] = pid;
        return pid;
    }
    // The child: async-signal-safe calls only, up to the exec. The death
    // signal survives the exec; the parent may have died before it was set.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(126);
    execv(self, argv);
    _exit(127);
}

//  Waits up to ms for child pid to end (0: only looks). Returns true, with
//  its wait status in *status, when it ended and was reaped.
static inline bool child_reap_within(pid_t pid, int ms, int *status)
{
    const struct timespec tick = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
    for (int waited = 0;; waited += 10) {
        pid_t reaped = waitpid(pid, status, WNOHANG);
        if (reaped == pid) {
            s_child_forget(pid);
            return true;
        }
        if (reaped < 0 || waited >= ms)
            return false;
        nanosleep(&tick, NULL);
    }
}

//  Kills and reaps every child still running: for a teardown, which cmocka
//  runs after a failed test too.
static inline void child_kill_all(void)
{
    for (size_t i = 0; i < CHILD_MAX; i++) {
        pid_t pid = s_children[i];
        if (pid == 0)
            continue;
        kill(pid, SIGKILL);
        int status;
        (void)child_reap_within(pid, 5000, &status);
        s_children[i] = 0;
    }
}

#endif
