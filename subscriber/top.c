// SPDX-License-Identifier: MPL-2.0
/*  top: the terminal side of the live view (ncurses) and its one loop.

    The loop: zmq_poll on the receiver's SUB socket and on standard input,
    with a timeout up to the next once-a-second redraw (report ages move);
    then every pending key, then every pending message. A resize arrives as
    SIGWINCH, which ncurses catches: the poll returns EINTR and getch()
    hands over KEY_RESIZE, after which the screen is laid out again for its
    new size (top_model never emits a line wider than the screen, nor more
    lines than it has).

    The view takes reports only (main.c subscribes to tcpwin.report alone
    unless --topic says otherwise; flow records are then freed unread).
    Text from the wire reaches the screen only through top_model, which
    escapes it to printable ASCII, so no locale is set: ncurses prints
    bytes as they are.

    While the screen is up, our own log (stderr, when it is that terminal)
    goes into a pipe read by the same loop, so a line such as "disconnected
    from ..." shows under the counters instead of scribbling over the
    screen; the last LOG_KEEP lines are written to the real stderr again
    once the screen is given back. Both ends of the pipe are non-blocking:
    a line written while the pipe is full is lost (the log is rate-limited
    at its source, so 64 KiB between two turns of the loop is far off).

    A terminal that went away (standard input at end of file or in error)
    ends the mode with status 1 rather than spin on a descriptor that is
    always readable.
*/
#include "top.h"
#include "top_model.h"

#include "number.h"
#include "program.h"
#include "signals.h"

#include <curses.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  The screen is drawn again at least this often (ages, "last ... ago").
#define REDRAW_MS 1000
//  Standard input readable this many times in a row without a key: its
//  terminal is gone (end of file reads as "readable" forever).
#define DEAD_TERMINAL_POLLS 50
//  How long ncurses waits for the rest of an escape sequence (a lone ESC).
#define ESCAPE_DELAY_MS 25

//  Log lines written to the real stderr again at the end, and the longest
//  kept whole (tw_log writes at most 1 KiB per line).
#define LOG_KEEP     16
#define LOG_LINE_MAX 1024

typedef struct {
    uint64_t max_producers;
} top_options;

//  stderr while the screen is up.
typedef struct {
    int saved_fd;                           // the real stderr; -1 when not captured
    int read_fd;                            // the pipe's read end, behind fd 2
    char partial[LOG_LINE_MAX + 1];         // the line being read
    size_t partial_len;                     // its bytes (cut at LOG_LINE_MAX)
    char kept[LOG_KEEP][LOG_LINE_MAX + 1];  // the last lines, kept[lines % LOG_KEEP] next
    uint64_t lines;                         // lines read
} s_log;

static void s_usage(FILE *out)
{
    fprintf(out,
            "Usage: tcpwin-subscriber [global options] top [--max-producers N]\n"
            "A full-screen live view (needs a terminal), redrawn with each report: per\n"
            "producer, the receivers stalled right now (who -> whom, stalled for, probes,\n"
            "zero-window adverts), the worst hosts (legacy pktTcpCnt and winRelThCnt as\n"
            "PKTS and RATIO, zero-window adverts, flows stalled, stall time, probes) and\n"
            "the run counters.\n"
            "  --max-producers N  producer runs shown at once (default %d, at most %d); past\n"
            "                     it the one silent for longest is dropped (counted)\n"
            "Keys: 1 stall time, 2 ratio, 3 zero-window adverts, 4 address; s / S next /\n"
            "previous order; p pause (reports are counted, not applied); q quit.\n"
            "Exit status: 0 quit (q, SIGINT, SIGTERM); 1 runtime error or the terminal went\n"
            "away; 2 bad usage or not on a terminal.\n",
            TOP_MAX_PRODUCERS_DEFAULT, TOP_MAX_PRODUCERS_LIMIT);
}

//  Returns -1 to go on, or an exit status.
static int s_parse(int argc, char **argv, top_options *o)
{
    static const struct option longs[] = {{"max-producers", required_argument, NULL, 'm'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    o->max_producers = TOP_MAX_PRODUCERS_DEFAULT;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (opt == 'h') {
            s_usage(stdout);
            return 0;
        } else if (opt == 'm' && tw_number_option("max-producers", optarg, 1,
                                                  TOP_MAX_PRODUCERS_LIMIT, &o->max_producers)) {
            continue;
        } else {
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        char shown[64];
        tw_log("top: unexpected argument '%s'", tw_escape(argv[optind], shown, sizeof shown));
        return 2;
    }
    return -1;
}

//  top_line_fn for ncurses: one row, cut short of the bottom-right cell
//  (writing there would move the cursor past the screen: ERR).
static int s_draw_line(void *ctx, int row, top_line_kind kind, const char *text, size_t len)
{
    (void)ctx;
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    if (row == rows - 1 && len >= (size_t)cols)
        len = cols > 0 ? (size_t)cols - 1 : 0;
    if (len == 0)
        return 0;
    attr_t attr = kind == TOP_LINE_TITLE ? A_REVERSE : kind == TOP_LINE_HEADING ? A_BOLD : A_NORMAL;
    if (attrset(attr) == ERR || mvaddnstr(row, 0, text, (int)len) == ERR)
        return -EIO;
    return 0;
}

//  Lays the screen out again and shows it. Returns 0 or -EIO.
static int s_draw(top_model *model, receiver *rx)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    if (erase() == ERR)
        return -EIO;
    int rc = top_model_layout(model, receiver_get_counters(rx), rows, cols, zclock_mono(),
                              s_draw_line, NULL);
    if (rc < 0)
        return rc;
    return attrset(A_NORMAL) == ERR || refresh() == ERR ? -EIO : 0;
}

//  Puts a pipe behind fd 2 when it is a terminal (a file or a pipe there is
//  no screen to protect: left alone). Returns 0 or a negative errno.
static int s_log_capture(s_log *log)
{
    log->saved_fd = log->read_fd = -1;
    if (!isatty(STDERR_FILENO))
        return 0;
    int fds[2];
    if (pipe(fds) != 0)
        return -errno;
    int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (saved < 0 || fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0 ||
        dup2(fds[1], STDERR_FILENO) < 0) {
        int error = errno;
        if (saved >= 0)
            close(saved);
        close(fds[0]);
        close(fds[1]);
        return -error;
    }
    close(fds[1]);
    log->saved_fd = saved;
    log->read_fd = fds[0];
    return 0;
}

static void s_log_line(s_log *log, top_model *model)
{
    log->partial[log->partial_len] = '\0';
    memcpy(log->kept[log->lines % LOG_KEEP], log->partial, log->partial_len + 1);
    log->lines++;
    top_model_note(model, log->partial, log->partial_len);
    log->partial_len = 0;
}

//  Reads what the log pipe holds. Returns true when a line was completed.
static bool s_log_drain(s_log *log, top_model *model)
{
    bool any = false;
    char buf[4096];
    ssize_t n;
    while (log->read_fd >= 0 && (n = read(log->read_fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                s_log_line(log, model);
                any = true;
            } else if (log->partial_len < sizeof log->partial - 1)
                log->partial[log->partial_len++] = buf[i];
        }
    }
    return any;
}

//  Gives fd 2 back and writes the last lines there.
static void s_log_restore(s_log *log, top_model *model)
{
    if (log->saved_fd < 0)
        return;
    s_log_drain(log, model);
    if (log->partial_len)
        s_log_line(log, model);
    // dup2 onto an open descriptor fails only when the process runs out of
    // them, which it cannot here: fd 2 is open.
    (void)dup2(log->saved_fd, STDERR_FILENO);
    close(log->saved_fd);
    close(log->read_fd);
    log->saved_fd = log->read_fd = -1;
    if (log->lines > LOG_KEEP)
        tw_log("top: %llu earlier log line(s) were shown on the screen only",
               (unsigned long long)(log->lines - LOG_KEEP));
    uint64_t first = log->lines > LOG_KEEP ? log->lines - LOG_KEEP : 0;
    for (uint64_t i = first; i < log->lines; i++)
        fprintf(stderr, "%s\n", log->kept[i % LOG_KEEP]);
}

typedef enum { KEY_ACTION_NONE, KEY_ACTION_REDRAW, KEY_ACTION_QUIT } s_key_action;

static s_key_action s_key(top_model *model, int key)
{
    top_sort sort = top_model_get_sort(model);
    if (key == 'q' || key == 'Q')
        return KEY_ACTION_QUIT;
    if (key >= '1' && key < '1' + TOP_SORT_COUNT)
        top_model_set_sort(model, (top_sort)(key - '1'));
    else if (key == 's')
        top_model_set_sort(model, (top_sort)((sort + 1) % TOP_SORT_COUNT));
    else if (key == 'S')
        top_model_set_sort(model, (top_sort)((sort + TOP_SORT_COUNT - 1) % TOP_SORT_COUNT));
    else if (key == 'p' || key == 'P')
        top_model_set_paused(model, !top_model_paused(model));
    else if (key != KEY_RESIZE)
        return KEY_ACTION_NONE;
    return KEY_ACTION_REDRAW;
}

//  Raw keys without echo, getch() never blocking, no cursor.
static int s_setup_terminal(void)
{
    if (cbreak() == ERR || noecho() == ERR || nodelay(stdscr, TRUE) == ERR ||
        keypad(stdscr, TRUE) == ERR || set_escdelay(ESCAPE_DELAY_MS) == ERR)
        return -EIO;
    // Not every terminal can hide its cursor; the view works either way.
    (void)curs_set(0);
    return 0;
}

//  The loop. Returns the exit status; on failure, leaves the reason in
//  error (printed once the screen is given back).
static int s_loop(top_model *model, receiver *rx, s_log *log, char *error, size_t size)
{
    zmq_pollitem_t items[3] = {{.socket = receiver_socket(rx), .events = ZMQ_POLLIN},
                               {.fd = STDIN_FILENO, .events = ZMQ_POLLIN},
                               {.fd = log->read_fd, .events = ZMQ_POLLIN}};
    int n_items = log->read_fd >= 0 ? 3 : 2;
    int64_t drawn_ms = 0;
    bool dirty = true;
    int idle_polls = 0;
    while (!tw_signals_stop_requested()) {
        int64_t now = zclock_mono();
        if (dirty || now - drawn_ms >= REDRAW_MS) {
            if (s_draw(model, rx) != 0) {
                snprintf(error, size, "top: cannot draw on the terminal");
                return 1;
            }
            drawn_ms = now;
            dirty = false;
        }
        receiver_poll_events(rx);
        if (zmq_poll(items, n_items, (long)(REDRAW_MS - (now - drawn_ms))) == -1 &&
            errno != EINTR) {
            snprintf(error, size, "top: poll failed: %s", zmq_strerror(errno));
            return 1;
        }
        // Keys even after EINTR: that is how SIGWINCH brings KEY_RESIZE.
        int key, keys = 0;
        while ((key = getch()) != ERR) {
            keys++;
            s_key_action action = s_key(model, key);
            if (action == KEY_ACTION_QUIT)
                return 0;
            dirty |= action == KEY_ACTION_REDRAW;
        }
        bool stdin_ready = items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR);
        idle_polls = stdin_ready && keys == 0 ? idle_polls + 1 : 0;
        if (idle_polls >= DEAD_TERMINAL_POLLS || (items[1].revents & ZMQ_POLLERR)) {
            snprintf(error, size, "top: the terminal went away (standard input closed)");
            return 1;
        }
        tw_message msg;
        int rc;
        while ((rc = receiver_recv(rx, &msg)) == 1) {
            // Out of memory, the report is dropped and counted; the view goes on.
            (void)top_model_take(model, &msg, zclock_mono());
            dirty = true;
        }
        if (rc < 0 && rc != -EINTR) {
            snprintf(error, size, "top: cannot receive: %s", zmq_strerror(-rc));
            return 1;
        }
        dirty |= s_log_drain(log, model);
    }
    return 0;
}

//  What was lost or refused, once the screen is gone (nothing when all is well).
static void s_report_losses(const top_model *model, const receiver *rx)
{
    const receiver_counters *c = receiver_get_counters(rx);
    const top_model_counters *t = top_model_get_counters(model);
    if (!c->gaps && !c->bad_frames && !c->bad_payloads && !c->bad_versions && !c->too_big &&
        !t->producers_evicted && !t->no_memory)
        return;
    tw_log("top: reports %llu, gaps %llu (lost %llu), bad frames %llu, bad payloads %llu, bad "
           "versions %llu, too big %llu, producers evicted %llu, out of memory %llu",
           (unsigned long long)t->reports, (unsigned long long)c->gaps, (unsigned long long)c->lost,
           (unsigned long long)c->bad_frames, (unsigned long long)c->bad_payloads,
           (unsigned long long)c->bad_versions, (unsigned long long)c->too_big,
           (unsigned long long)t->producers_evicted, (unsigned long long)t->no_memory);
}

int top_main(receiver *rx, int argc, char **argv)
{
    top_options o = {0};
    int status = s_parse(argc, argv, &o);
    if (status >= 0)
        return status;
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        tw_log("top: needs a terminal on standard input and output (for a pipe: print "
               "--format json)");
        return 2;
    }
    top_model *model = top_model_new((size_t)o.max_producers);
    if (!model) {
        tw_log("top: out of memory");
        return 1;
    }
    SCREEN *screen = newterm(NULL, stdout, stdin);
    if (!screen) {
        char term[64];
        const char *name = getenv("TERM");
        tw_log("top: cannot use the terminal '%s'", tw_escape(name ? name : "", term, sizeof term));
        top_model_destroy(&model);
        return 1;
    }
    char error[256] = "";
    s_log log;
    int rc = s_log_capture(&log);
    if (rc < 0)
        snprintf(error, sizeof error, "top: cannot capture our log: %s", strerror(-rc));
    else if (s_setup_terminal() != 0)
        snprintf(error, sizeof error, "top: cannot set the terminal up");
    status = error[0] ? 1 : s_loop(model, rx, &log, error, sizeof error);
    // endwin gives the terminal back as it was; nothing to do if it cannot.
    (void)endwin();
    delscreen(screen);
    s_log_restore(&log, model);
    if (error[0])
        tw_log("%s", error);
    s_report_losses(model, rx);
    top_model_destroy(&model);
    return status;
}
