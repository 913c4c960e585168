/*  capture: opening libpcap inputs with clear errors. */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "packet_decode.h"
#include "program.h"
#include "signals.h"

struct capture {
    pcap_t *pcap;
    char *file_buffer;  // stdio buffer of a capture file, freed after pcap_close
    bool live;
    char name[256];
};

//  Says why the input cannot be opened, unless a stop signal interrupted
//  the wait for a FIFO's or standard input's writer: that is no error.
static void s_fail(const capture *self, const char *why)
{
    if (!tw_signals_stop_requested())
        tw_log("cannot open %s: %s", self->name, why);
}

//  libpcap reads a file through stdio, 4 KiB at a time by default; a larger
//  buffer saves about a tenth of the producer's time on a 1.5 GB capture.
#define FILE_BUFFER_BYTES (1 << 20)

//  A descriptor opened early without waiting (main.c): for a FIFO, waits
//  here until its writer sends something (poll, interrupted by a stop),
//  then makes it blocking again. Returns the FILE, or NULL with errno set.
static FILE *s_adopt(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
        struct pollfd wait = {.fd = fd, .events = POLLIN};
        if (poll(&wait, 1, -1) < 0) {
            int error = errno;  // EINTR: a stop
            close(fd);
            errno = error;
            return NULL;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    FILE *file = NULL;
    if (flags != -1 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != -1)
        file = fdopen(fd, "rb");
    if (!file) {
        int error = errno;
        close(fd);
        errno = error;
    }
    return file;
}

static pcap_t *s_open_file(capture *self, const capture_options *options)
{
    const char *path = options->file;
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *file = is_stdin             ? stdin
                 : options->file_open ? s_adopt(options->file_fd)
                                      : fopen(path, "rb");
    if (!file) {
        s_fail(self, strerror(errno));
        return NULL;
    }
    self->file_buffer = malloc(FILE_BUFFER_BYTES);
    if (self->file_buffer && setvbuf(file, self->file_buffer, _IOFBF, FILE_BUFFER_BYTES) != 0) {
        free(self->file_buffer);  // keep stdio's own buffer
        self->file_buffer = NULL;
    }
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *pcap =
        pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (!pcap) {
        s_fail(self, errbuf);
        fclose(file);  // on failure libpcap leaves the stream (and our buffer) to us
    }
    return pcap;
}

//  Interface errors from pcap_activate come as codes; warnings are not fatal.
static bool s_activate(capture *self, pcap_t *pcap)
{
    int rc = pcap_activate(pcap);
    if (rc > 0)
        tw_log("warning: %s: %s", self->name, pcap_geterr(pcap));
    if (rc >= 0)
        return true;
    const char *why = pcap_geterr(pcap);
    if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
        why = "no such interface";
    else if (rc == PCAP_ERROR_PERM_DENIED)
        why = "permission denied (run as root or give the program cap_net_raw,cap_net_admin)";
    else if (rc == PCAP_ERROR_IFACE_NOT_UP)
        why = "interface is down";
    s_fail(self, why);
    return false;
}

static pcap_t *s_open_live(capture *self, const capture_options *options)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *pcap = pcap_create(options->interface, errbuf);
    if (!pcap) {
        s_fail(self, errbuf);
        return NULL;
    }
    int snaplen = options->snaplen > 0 ? options->snaplen : CAPTURE_DEFAULT_SNAPLEN;
    bool ok =
        pcap_set_snaplen(pcap, snaplen) == 0 && pcap_set_promisc(pcap, 0) == 0 &&
        pcap_set_timeout(pcap, CAPTURE_DEFAULT_TIMEOUT_MS) == 0 &&
        pcap_set_tstamp_precision(pcap, PCAP_TSTAMP_PRECISION_MICRO) == 0 &&
        (options->buffer_bytes <= 0 || pcap_set_buffer_size(pcap, options->buffer_bytes) == 0) &&
        (!options->immediate || pcap_set_immediate_mode(pcap, 1) == 0);
    if (!ok)
        s_fail(self, pcap_geterr(pcap));
    if (!ok || !s_activate(self, pcap)) {
        pcap_close(pcap);
        return NULL;
    }
    if (pcap_setnonblock(pcap, 1, errbuf) != 0) {
        s_fail(self, errbuf);
        pcap_close(pcap);
        return NULL;
    }
    return pcap;
}

static bool s_apply_filter(capture *self, const char *filter)
{
    struct bpf_program program;
    if (pcap_compile(self->pcap, &program, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        tw_log("bad filter '%s': %s", filter, pcap_geterr(self->pcap));
        return false;
    }
    int rc = pcap_setfilter(self->pcap, &program);
    pcap_freecode(&program);
    if (rc != 0)
        tw_log("cannot set filter '%s': %s", filter, pcap_geterr(self->pcap));
    return rc == 0;
}

static bool s_check_link(capture *self)
{
    int dlt = pcap_datalink(self->pcap);
    if (tw_link_supported(dlt))
        return true;
    const char *name = pcap_datalink_val_to_name(dlt);
    char why[160];
    snprintf(why, sizeof why, "unsupported link type %d (%s)", dlt, name ? name : "unknown");
    s_fail(self, why);
    return false;
}

capture *capture_open(const capture_options *options)
{
    capture *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->live = options->interface != NULL;
    if (self->live)
        snprintf(self->name, sizeof self->name, "interface '%s'", options->interface);
    else if (strcmp(options->file, "-") == 0)
        snprintf(self->name, sizeof self->name, "standard input");
    else
        snprintf(self->name, sizeof self->name, "'%s'", options->file);
    self->pcap = self->live ? s_open_live(self, options) : s_open_file(self, options);
    if (!self->pcap || !s_check_link(self) ||
        (options->filter && !s_apply_filter(self, options->filter)))
        capture_close(&self);
    return self;
}

void capture_close(capture **self)
{
    if (!*self)
        return;
    if ((*self)->pcap)
        pcap_close((*self)->pcap);  // closes the file, so its buffer goes after
    free((*self)->file_buffer);
    free(*self);
    *self = NULL;
}

pcap_t *capture_handle(capture *self)
{
    return self->pcap;
}

int capture_datalink(capture *self)
{
    return pcap_datalink(self->pcap);
}

bool capture_is_live(const capture *self)
{
    return self->live;
}

int capture_fd(capture *self)
{
    return pcap_get_selectable_fd(self->pcap);
}

uint64_t capture_drops(capture *self)
{
    struct pcap_stat stats;
    if (!self->live || pcap_stats(self->pcap, &stats) != 0)
        return 0;
    return (uint64_t)stats.ps_drop + stats.ps_ifdrop;
}

const char *capture_name(const capture *self)
{
    return self->name;
}
