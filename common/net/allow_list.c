// SPDX-License-Identifier: MPL-2.0
/*  allow_list: the CURVE keys let in, from the top of one directory.

    A look at the directory lists its entries (sorted, so the first of two
    copies of a key is always the same file) and writes down each one's
    name, inode, size and times: the signature. Only when the signature
    differs from the last one are the files read again, all of them, into a
    fresh set that replaces the old one; so what was removed is gone. The
    signature is taken before the files are read: a file that changes while
    we read it changes its times after our stat, and the next look reloads.
*/
#include "allow_list.h"

#include "program.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

//  Warnings remembered, so that each is logged once; past this the memory is
//  cleared (a directory rewritten for ever cannot grow it without bound).
#define MAX_REMEMBERED_WARNINGS 4096

#define TOO_BIG "larger than 64 KiB, not a certificate"
_Static_assert(TW_ALLOW_LIST_MAX_FILE_BYTES == 65536, "TOO_BIG names the limit");

struct tw_allow_list {
    char *dir;           // the directory, as given
    zhashx_t *keys;      // Z85 public key -> name of the file it came from
    zhashx_t *warned;    // the text of every warning logged
    char *signature;     // the entries at the last load; NULL: load at the next look
    int64_t checked_ms;  // when refresh last looked
    bool looked;         // refresh has looked at least once
};

static void s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

static int s_compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

//  Logs the formatted warning unless the same text was logged before.
static void s_warn(tw_allow_list *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void s_warn(tw_allow_list *self, const char *format, ...)
{
    char text[768];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    if (zhashx_lookup(self->warned, text))
        return;
    if (zhashx_size(self->warned) >= MAX_REMEMBERED_WARNINGS)
        zhashx_purge(self->warned);
    zhashx_insert(self->warned, text, (void *)1);
    tw_log("%s", text);
}

//  A name that may hold a certificate: not hidden, not a secret one.
static bool s_candidate(const char *name)
{
    size_t length = strlen(name);
    return name[0] != '.' && !(length >= 7 && strcmp(name + length - 7, "_secret") == 0);
}

//  The names of the candidate entries of the open directory, sorted, at
//  most TW_ALLOW_LIST_MAX_ENTRIES. Returns NULL with errno set on failure.
static zlistx_t *s_names(tw_allow_list *self, int dir_fd)
{
    int fd = dup(dir_fd);  // closedir closes it; ours stays open
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    zlistx_t *names = dir ? zlistx_new() : NULL;
    if (!names) {
        int error = errno ? errno : ENOMEM;
        if (dir)
            closedir(dir);
        else if (fd >= 0)
            close(fd);
        errno = error;
        return NULL;
    }
    zlistx_set_destructor(names, s_free_item);
    zlistx_set_comparator(names, s_compare_names);
    rewinddir(dir);
    size_t skipped = 0;
    struct dirent *entry;
    errno = 0;
    while ((entry = readdir(dir))) {
        if (!s_candidate(entry->d_name))
            continue;
        char *name = zlistx_size(names) < TW_ALLOW_LIST_MAX_ENTRIES ? strdup(entry->d_name) : NULL;
        if (!name || !zlistx_add_end(names, name)) {
            free(name);
            skipped++;
        }
        errno = 0;
    }
    int error = errno;
    closedir(dir);
    if (error) {
        zlistx_destroy(&names);
        errno = error;
        return NULL;
    }
    if (skipped) {
        char dir_text[256];
        s_warn(self, "allowed keys: only the first %d entries of '%s' are read",
               TW_ALLOW_LIST_MAX_ENTRIES, tw_escape(self->dir, dir_text, sizeof dir_text));
    }
    zlistx_sort(names);
    return names;
}

//  What the entries look like: per name its length, the name, and the
//  status of stat (following symlinks) or the stat's identity, size and
//  times. Sets *racy when an entry changed in the last second or two: file
//  times are coarse (a clock tick), so a rewrite of the same size right
//  after our read could keep the same signature (git's "racy clean").
//  Returns a new string, or NULL with errno set.
static char *s_signature(int dir_fd, zlistx_t *names, bool *racy)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0)
        return NULL;
    *racy = false;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        return NULL;
    for (const char *name = zlistx_first(names); name; name = zlistx_next(names)) {
        struct stat st;
        if (fstatat(dir_fd, name, &st, 0) != 0) {
            fprintf(out, "%zu:%s error %d\n", strlen(name), name, errno);
            continue;
        }
        if (st.st_ctim.tv_sec >= now.tv_sec - 1 || st.st_mtim.tv_sec >= now.tv_sec - 1)
            *racy = true;
        fprintf(out, "%zu:%s %ju %ju %o %jd %jd.%09ld %jd.%09ld\n", strlen(name), name,
                (uintmax_t)st.st_dev, (uintmax_t)st.st_ino, (unsigned)st.st_mode,
                (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                (intmax_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
    }
    int failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        free(text);
        errno = ENOMEM;
        return NULL;
    }
    return text;
}

//  Length of the name at the start of text (up to a space, '=' or '#').
static size_t s_name_length(const char *text, size_t length)
{
    size_t n = 0;
    while (n < length && text[n] != ' ' && text[n] != '\t' && text[n] != '=' && text[n] != '#')
        n++;
    return n;
}

//  The value of `= "value"`, `= 'value'` or `= value` (zconfig's forms; an
//  unquoted one ends at a '#'), copied into value (size bytes). Returns 0,
//  or -1 when the line is not of that form or the value does not fit.
static int s_value(const char *text, size_t length, char *value, size_t size)
{
    size_t i = 0;
    while (i < length && (text[i] == ' ' || text[i] == '\t'))
        i++;
    if (i == length || text[i] != '=')
        return -1;
    for (i++; i < length && (text[i] == ' ' || text[i] == '\t');)
        i++;
    size_t start = i, end;
    if (i < length && (text[i] == '"' || text[i] == '\'')) {
        const char *close = memchr(text + i + 1, text[i], length - i - 1);
        if (!close)
            return -1;
        start = i + 1;
        end = (size_t)(close - text);
        for (i = end + 1; i < length && (text[i] == ' ' || text[i] == '\t');)
            i++;
        if (i < length && text[i] != '#')
            return -1;  // junk after the closing quote
    } else {
        const char *hash = memchr(text + i, '#', length - i);
        end = hash ? (size_t)(hash - text) : length;
        while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t'))
            end--;
    }
    if (end - start >= size)
        return -1;
    memcpy(value, text + start, end - start);
    value[end - start] = '\0';
    return 0;
}

//  The public key of a certificate in czmq's format: zconfig text whose
//  top-level section `curve` holds, one level (4 spaces) in,
//  `public-key = "<40 Z85 characters>"`. Copies it into key and returns
//  NULL, or returns why the text is not such a certificate.
static const char *s_public_key(const char *text, size_t size, char key[41])
{
    if (memchr(text, '\0', size))
        return "not a text file";
    bool in_curve = false;
    int found = 0;
    const char *end = text + size;
    for (const char *line = text; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t length = (size_t)((eol ? eol : end) - line);
        const char *next = eol ? eol + 1 : end;
        if (length > 0 && line[length - 1] == '\r')
            length--;
        size_t indent = 0;
        while (indent < length && line[indent] == ' ')
            indent++;
        const char *name = line + indent;
        size_t rest = length - indent;
        size_t name_length = s_name_length(name, rest);
        if (rest == 0 || name[0] == '#' || name_length == 0) {
            line = next;  // blank, comment
            continue;
        }
        if (indent == 0)
            in_curve = name_length == 5 && memcmp(name, "curve", 5) == 0;
        else if (in_curve && indent == 4 && name_length == 10 &&
                 memcmp(name, "public-key", 10) == 0) {
            char value[41];
            uint8_t decoded[32];
            if (s_value(name + 10, rest - 10, value, sizeof value) != 0 || strlen(value) != 40 ||
                !zmq_z85_decode(decoded, value))
                return "its CURVE public-key is not 40 Z85 characters";
            if (found++)
                return "it holds two CURVE public keys";
            memcpy(key, value, 41);
        }
        line = next;
    }
    return found ? NULL : "no CURVE public-key in it (want a certificate from keygen)";
}

//  Reads the file name of the open directory into keys, or says why not.
//  Directories (and symlinks to them) are skipped without a word: that is
//  where revoked keys go.
static void s_load_file(tw_allow_list *self, zhashx_t *keys, int dir_fd, const char *name)
{
    char dir_text[256], name_text[256];
    tw_escape(self->dir, dir_text, sizeof dir_text);
    tw_escape(name, name_text, sizeof name_text);
    struct stat st;
    if (fstatat(dir_fd, name, &st, 0) != 0) {
        s_warn(self, "allowed keys: skipping '%s/%s': %s", dir_text, name_text, strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode))
        return;
    // O_NONBLOCK: should the entry have become a FIFO since the stat, the
    // open does not wait for a writer; fstat then says what it is.
    int fd = S_ISREG(st.st_mode)
                 ? openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
                 : -1;
    const char *problem = NULL;
    char *text = NULL;
    if (!S_ISREG(st.st_mode))
        problem = "not a regular file";
    else if (fd < 0 || fstat(fd, &st) != 0)
        problem = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        problem = "not a regular file";
    else if (st.st_size > TW_ALLOW_LIST_MAX_FILE_BYTES)
        problem = TOO_BIG;
    else if (!(text = malloc(TW_ALLOW_LIST_MAX_FILE_BYTES + 1)))
        problem = strerror(ENOMEM);
    size_t size = 0;
    while (!problem) {  // up to one byte more than allowed: a file that grew
        ssize_t n = read(fd, text + size, TW_ALLOW_LIST_MAX_FILE_BYTES + 1 - size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            problem = strerror(errno);
        else if ((size += (size_t)n) > TW_ALLOW_LIST_MAX_FILE_BYTES)
            problem = TOO_BIG;
        else if (n == 0)
            break;
    }
    char key[41];
    if (!problem)
        problem = s_public_key(text, size, key);
    free(text);
    if (fd >= 0)
        close(fd);
    if (problem) {
        s_warn(self, "allowed keys: skipping '%s/%s': %s", dir_text, name_text, problem);
        return;
    }
    const char *first = zhashx_lookup(keys, key);
    if (first) {
        char first_text[256];
        s_warn(self, "allowed keys: '%s/%s' holds the same key as '%s' (%s); it counts once",
               dir_text, name_text, tw_escape(first, first_text, sizeof first_text), key);
        return;
    }
    char *copy = strdup(name);
    if (!copy || zhashx_insert(keys, key, copy) != 0) {
        free(copy);
        s_warn(self, "allowed keys: skipping '%s/%s': %s", dir_text, name_text, strerror(ENOMEM));
    }
}

//  True when both sets hold the same keys.
static bool s_same_keys(zhashx_t *a, zhashx_t *b)
{
    if (zhashx_size(a) != zhashx_size(b))
        return false;
    for (void *item = zhashx_first(a); item; item = zhashx_next(a))
        if (!zhashx_lookup(b, zhashx_cursor(a)))
            return false;
    return true;
}

//  Looks at the directory; reloads it when its signature changed (or was
//  racy). Returns 1 when the keys changed, 0 when not, or a negative errno
//  (keys left as they were).
static int s_look(tw_allow_list *self)
{
    int dir_fd = open(self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return -errno;
    bool racy = false;
    zlistx_t *names = s_names(self, dir_fd);
    char *signature = names ? s_signature(dir_fd, names, &racy) : NULL;
    zhashx_t *keys = signature ? zhashx_new() : NULL;
    int rc = keys ? 0 : -(errno ? errno : ENOMEM);
    if (keys && !(self->signature && strcmp(signature, self->signature) == 0)) {
        zhashx_set_destructor(keys, s_free_item);
        for (const char *name = zlistx_first(names); name; name = zlistx_next(names))
            s_load_file(self, keys, dir_fd, name);
        rc = s_same_keys(keys, self->keys) ? 0 : 1;
        zhashx_destroy(&self->keys);
        self->keys = keys;
        keys = NULL;
        free(self->signature);
        self->signature = racy ? NULL : signature;  // NULL: read again next time
        if (!racy)
            signature = NULL;
    }
    zhashx_destroy(&keys);
    free(signature);
    zlistx_destroy(&names);
    close(dir_fd);
    return rc;
}

tw_allow_list *tw_allow_list_new(const char *dir)
{
    tw_allow_list *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dir = strdup(dir);
    self->keys = zhashx_new();
    self->warned = zhashx_new();
    int rc = self->dir && self->keys && self->warned ? s_look(self) : -ENOMEM;
    if (rc < 0) {
        char dir_text[256];
        tw_log("cannot use '%s' as the directory of allowed keys: %s",
               tw_escape(dir, dir_text, sizeof dir_text), strerror(-rc));
        tw_allow_list_destroy(&self);
    }
    return self;
}

void tw_allow_list_destroy(tw_allow_list **self)
{
    if (!*self)
        return;
    zhashx_destroy(&(*self)->keys);
    zhashx_destroy(&(*self)->warned);
    free((*self)->signature);
    free((*self)->dir);
    free(*self);
    *self = NULL;
}

int tw_allow_list_refresh(tw_allow_list *self, int64_t now_ms)
{
    if (self->looked && now_ms - self->checked_ms < TW_ALLOW_LIST_CHECK_MS)
        return 0;
    self->looked = true;
    self->checked_ms = now_ms;
    int rc = s_look(self);
    char dir_text[256];
    tw_escape(self->dir, dir_text, sizeof dir_text);
    if (rc < 0) {
        // Fail closed: what we cannot read any more lets nobody in.
        zhashx_purge(self->keys);
        free(self->signature);
        self->signature = NULL;
        s_warn(self, "cannot read the directory of allowed keys '%s' (%s): letting nobody in",
               dir_text, strerror(-rc));
    } else if (rc == 1) {
        tw_log("allowed keys in '%s' changed: %zu now", dir_text, zhashx_size(self->keys));
    }
    return rc;
}

bool tw_allow_list_has(tw_allow_list *self, const char *public_key)
{
    return public_key && strlen(public_key) == 40 && zhashx_lookup(self->keys, public_key);
}

size_t tw_allow_list_size(tw_allow_list *self)
{
    return zhashx_size(self->keys);
}
