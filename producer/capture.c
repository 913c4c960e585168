// SPDX-License-Identifier: MPL-2.0
/*  capture: opening inputs with clear errors; files through capture_file,
    interfaces through libpcap. */
#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "link_type.h"
#include "packet_decode.h"
#include "program.h"
#include "signals.h"

//  A -f filter compiled for one link type: every interface of that type
//  shares it, wherever it appears in the file.
typedef struct {
    struct bpf_program program;
} link_filter;

//  Link types are 16 bits in both formats (capture_file masks pcap's):
//  a direct table of them finds an interface's filter in one step.
#define LINK_TYPES 65536

struct capture {
    pcap_t *pcap;  // live capture
    capture_file *file;
    const char *filter;    // BPF filter of a file, or NULL
    size_t n_interfaces;   // interfaces of the file taken in so far
    link_filter *filters;  // one per link type met, in the order met
    size_t n_filters;
    size_t filters_size;    // allocated
    uint32_t *filter_slot;  // per link type: 1 + its index in filters, 0 before it is met
    bool filter_refused;    // a link type refused the filter: the run ends (exit 1)
    int unknown_links[8];   // link types named on stderr already (the first 8)
    size_t n_unknown_links;
    bool live;
    capture_stream *stream;  // the file's, owned by file: for the progress line
    uint64_t file_bytes;     // size of a regular capture file, 0 otherwise
    char name[256];
    char description[640];
};

//  Says why the input cannot be opened, unless a stop signal interrupted
//  the wait for a FIFO's or standard input's writer: that is no error.
static void s_fail(const capture *self, const char *why)
{
    if (!tw_signals_stop_requested())
        tw_log("cannot open %s: %s", self->name, why);
}

//  A descriptor opened early without waiting (main.c): for a FIFO, waits
//  here until its writer sends something (poll, interrupted by a stop),
//  then makes it blocking again. Returns the descriptor, or -1 with errno
//  set (closed).
static int s_adopt(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
        struct pollfd wait = {.fd = fd, .events = POLLIN};
        int rc;
        // SIGUSR1 (the counters) interrupts the wait too; only a stop ends it.
        while ((rc = poll(&wait, 1, -1)) < 0 && errno == EINTR && !tw_signals_stop_requested())
            ;
        if (rc < 0) {
            int error = errno;  // EINTR: a stop
            close(fd);
            errno = error;
            return -1;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags == -1 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1) {
        int error = errno;
        close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

static bool s_open_file(capture *self, const capture_options *options)
{
    const char *path = options->file;
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin             ? STDIN_FILENO
             : options->file_open ? s_adopt(options->file_fd)
                                  : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        s_fail(self, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        self->file_bytes = (uint64_t)st.st_size;
    capture_stream *stream = capture_stream_new_fd(fd, !is_stdin);
    if (!stream) {
        if (!is_stdin)
            close(fd);
        s_fail(self, "out of memory");
        return false;
    }
    int error;
    char why[256];
    self->file = capture_file_open(stream, &error, why, sizeof why);
    self->stream = self->file ? stream : NULL;  // the file owns it from here
    if (!self->file)
        s_fail(self, why);
    return self->file != NULL;
}

//  LINKTYPE_ (files) to DLT_ (libpcap's compiler): only raw IP differs on
//  the link types we meet (link_type.h).
static int s_dlt_of(uint32_t link_type)
{
    return link_type == TW_LINK_RAW ? DLT_RAW : (int)link_type;
}

//  "EN10MB (Ethernet)", or the number.
static void s_link_name(uint32_t link_type, char *out, size_t size)
{
    const char *name = pcap_datalink_val_to_name(s_dlt_of(link_type));
    const char *description = pcap_datalink_val_to_description(s_dlt_of(link_type));
    if (name && description)
        snprintf(out, size, "%s (%s)", name, description);
    else
        snprintf(out, size, "%u (no name known to libpcap)", link_type);
}

//  Names a link type the decoder does not know, once per link type.
static void s_name_unknown_link(capture *self, uint32_t link_type, size_t interface)
{
    for (size_t i = 0; i < self->n_unknown_links; i++)
        if (self->unknown_links[i] == (int)link_type)
            return;
    if (self->n_unknown_links == sizeof self->unknown_links / sizeof self->unknown_links[0])
        return;  // past 8 kinds, the count in the reports is all
    self->unknown_links[self->n_unknown_links++] = (int)link_type;
    char name[160];
    s_link_name(link_type, name, sizeof name);
    tw_log("%s: interface %zu has link type %s, which the decoder does not know: its packets "
           "are counted (unknownLinkTypePackets), not analysed",
           self->name, interface, name);
}

//  Compiles the filter for link type (met first at interface i) into a
//  new entry of filters. Returns false when out of memory or when the
//  filter cannot apply to that link type (said on stderr, once: the run
//  ends there, whether the interface came before the packets or after).
static bool s_compile_for(capture *self, uint32_t link_type, size_t i)
{
    if (self->n_filters == self->filters_size) {
        size_t size = self->filters_size ? 2 * self->filters_size : 4;
        link_filter *more = realloc(self->filters, size * sizeof *more);
        if (!more)
            return false;
        self->filters = more;
        self->filters_size = size;
    }
    // The largest snap length: one program serves every interface of the
    // link type, and the snap length only bounds what a filter may read.
    pcap_t *dead = pcap_open_dead(s_dlt_of(link_type), CAPTURE_FILE_MAX_CAPLEN);
    if (!dead)
        return false;
    link_filter *out = &self->filters[self->n_filters];
    if (pcap_compile(dead, &out->program, self->filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        char name[160];
        s_link_name(link_type, name, sizeof name);
        tw_log("bad filter '%s' for link type %s (%s, interface %zu): %s", self->filter, name,
               self->name, i, pcap_geterr(dead));
        self->filter_refused = true;
        pcap_close(dead);
        return false;
    }
    pcap_close(dead);
    self->filter_slot[link_type] = (uint32_t)++self->n_filters;
    return true;
}

//  Takes in the interfaces capture_file learnt since the last call: the
//  filter of each new link type, the names of link types the decoder does
//  not know. Returns false when out of memory or when the filter cannot
//  apply to a link type (filter_refused).
static bool s_learn_interfaces(capture *self)
{
    size_t count;
    const capture_interface *known = capture_file_interfaces(self->file, &count);
    if (count <= self->n_interfaces)
        return true;
    if (self->filter && !self->filter_slot &&
        !(self->filter_slot = calloc(LINK_TYPES, sizeof *self->filter_slot)))
        return false;
    for (size_t i = self->n_interfaces; i < count; i++) {
        uint32_t link_type = known[i].link_type % LINK_TYPES;
        if (!tw_link_supported(s_dlt_of(link_type)) && !tw_link_supported((int)link_type))
            s_name_unknown_link(self, link_type, i);
        if (self->filter && !self->filter_slot[link_type] && !s_compile_for(self, link_type, i))
            return false;
        self->n_interfaces = i + 1;
    }
    return true;
}

static bool s_passes(const capture *self, const capture_record *record)
{
    uint32_t slot = self->filter_slot[record->link_type % LINK_TYPES];
    if (slot == 0)
        return false;  // not reached: every interface is taken in before its packets
    struct pcap_pkthdr header = {
        .ts = {.tv_sec = (time_t)record->ts_sec, .tv_usec = (suseconds_t)record->ts_usec},
        .caplen = record->caplen,
        .len = record->len,
    };
    return pcap_offline_filter(&self->filters[slot - 1].program, &header, record->data) != 0;
}

int capture_next_limited(capture *self, capture_record *record, uint64_t max_filtered_out)
{
    for (uint64_t filtered_out = 0;; filtered_out++) {
        if (filtered_out == max_filtered_out)
            return -EAGAIN;
        int rc = capture_file_next(self->file, record);
        // An interface described after the packets is taken in as soon as
        // it is read (at the end too), as one described before them.
        if (rc >= 0 && !s_learn_interfaces(self))
            return self->filter_refused ? -ENOTSUP : -ENOMEM;
        if (rc == 0 && capture_file_warning(self->file)[0])
            tw_log("%s: %s", self->name, capture_file_warning(self->file));
        if (rc != 1)
            return rc;
        if (!self->filter || s_passes(self, record))
            return 1;
    }
}

int capture_next(capture *self, capture_record *record)
{
    return capture_next_limited(self, record, UINT64_MAX);
}

const char *capture_error(const capture *self)
{
    if (self->file && capture_file_error(self->file)[0])
        return capture_file_error(self->file);
    return "out of memory";
}

//  A file may describe thousands of interfaces: the start line names the
//  link types of the first ones, the end lists their packets and sums up
//  the rest.
#define LOGGED_INTERFACES 64

//  Appends text to the description, as far as it goes.
static void s_describe(capture *self, const char *text)
{
    size_t used = strlen(self->description);
    snprintf(self->description + used, sizeof self->description - used, "%s", text);
}

const char *capture_description(capture *self)
{
    size_t n;
    const capture_interface *in = capture_file_interfaces(self->file, &n);
    capture_compression compression = capture_file_compression(self->file);
    snprintf(self->description, sizeof self->description, "%s (%s%s%s), link-type%s ", self->name,
             capture_file_format_name(capture_file_format(self->file)), compression ? ", " : "",
             compression ? capture_stream_compression_name(compression) : "", n > 1 ? "s" : "");
    uint32_t snaplen_max = 0, snaplen_min = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        // The link types of the first interfaces only: the line has room
        // for a few, and a file may describe 65,536 interfaces.
        bool seen = i >= LOGGED_INTERFACES;
        for (size_t j = 0; j < i && !seen; j++)
            seen = in[j].link_type == in[i].link_type;
        if (!seen) {
            char name[160];
            s_link_name(in[i].link_type, name, sizeof name);
            s_describe(self, i ? ", " : "");
            s_describe(self, name);
        }
        snaplen_max = in[i].snaplen > snaplen_max ? in[i].snaplen : snaplen_max;
        snaplen_min = in[i].snaplen < snaplen_min ? in[i].snaplen : snaplen_min;
    }
    char snap[80];
    if (n == 0)
        snprintf(snap, sizeof snap, "none described yet");
    else if (snaplen_min == snaplen_max)
        snprintf(snap, sizeof snap, ", snapshot length %u", snaplen_max);
    else
        snprintf(snap, sizeof snap, ", snapshot lengths %u to %u", snaplen_min, snaplen_max);
    s_describe(self, snap);
    return self->description;
}

uint64_t capture_packets_read(const capture *self)
{
    return self->file ? capture_file_packets(self->file) : 0;
}

const capture_interface *capture_interfaces(const capture *self, size_t *count)
{
    return capture_file_interfaces(self->file, count);
}

//  The packets of each link type named as unknown (all of them are in the
//  reports' unknownLinkTypePackets).
static void s_log_unknown_links(const capture *self, const capture_interface *in, size_t n)
{
    for (size_t k = 0; k < self->n_unknown_links; k++) {
        uint64_t packets = 0;
        for (size_t i = 0; i < n; i++)
            if (in[i].link_type == (uint32_t)self->unknown_links[k])
                packets += in[i].packets;
        char name[160];
        s_link_name((uint32_t)self->unknown_links[k], name, sizeof name);
        tw_log("%s: %llu packets of link type %s, not analysed", self->name,
               (unsigned long long)packets, name);
    }
}

void capture_log_interfaces(const capture *self, bool quiet)
{
    size_t n;
    const capture_interface *in = capture_file_interfaces(self->file, &n);
    uint64_t rest = 0;
    for (size_t i = 0; !quiet && n > 1 && i < n; i++) {
        if (i >= LOGGED_INTERFACES) {
            rest += in[i].packets;
            continue;
        }
        char name[160];
        s_link_name(in[i].link_type, name, sizeof name);
        tw_log("%s: interface %zu (%s, snapshot length %u): %llu packets", self->name, i, name,
               in[i].snaplen, (unsigned long long)in[i].packets);
    }
    if (!quiet && n > LOGGED_INTERFACES)
        tw_log("%s: %zu interfaces more: %llu packets", self->name, n - LOGGED_INTERFACES,
               (unsigned long long)rest);
    s_log_unknown_links(self, in, n);
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
        why = "permission denied (run as root, or give the program cap_net_raw: see the README)";
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
    if (!self->live) {
        self->filter = options->filter;
        if (!s_open_file(self, options)) {
            capture_close(&self);
            return NULL;
        }
        // Said by the producer's start line (status.h), as the file opened.
        (void)capture_description(self);
        if (!s_learn_interfaces(self))
            capture_close(&self);
        return self;
    }
    self->pcap = s_open_live(self, options);
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
        pcap_close((*self)->pcap);
    capture_file_destroy(&(*self)->file);
    for (size_t i = 0; i < (*self)->n_filters; i++)
        pcap_freecode(&(*self)->filters[i].program);
    free((*self)->filters);
    free((*self)->filter_slot);
    free(*self);
    *self = NULL;
}

pcap_t *capture_handle(capture *self)
{
    return self->pcap;
}

int capture_datalink(capture *self)
{
    if (self->pcap)
        return pcap_datalink(self->pcap);
    size_t n;
    const capture_interface *in = capture_file_interfaces(self->file, &n);
    int dlt = n > 0 ? s_dlt_of(in[0].link_type) : TW_LINK_ETHERNET;
    return tw_link_supported(dlt) ? dlt : TW_LINK_ETHERNET;
}

bool capture_is_live(const capture *self)
{
    return self->live;
}

int capture_fd(capture *self)
{
    return self->pcap ? pcap_get_selectable_fd(self->pcap) : -1;
}

bool capture_is_regular_file(const capture *self)
{
    return !self->live && self->file_bytes > 0;
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

const char *capture_opening_description(const capture *self)
{
    return self->description;
}

int capture_snaplen(capture *self)
{
    return self->pcap ? pcap_snapshot(self->pcap) : 0;
}

void capture_progress(capture *self, uint64_t *bytes_done, uint64_t *bytes_total)
{
    *bytes_total = self->file_bytes;
    *bytes_done = self->file_bytes && self->stream ? capture_stream_raw_offset(self->stream) : 0;
}
