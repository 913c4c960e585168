// SPDX-License-Identifier: MPL-2.0
/*  allow_list: the CURVE public keys a server lets in, read from the top of
    one directory and read again when the directory changes.

    czmq's zcertstore did this before and aborted the program (an assert)
    when two files held the same key, a backup copy or a symlink, at start
    or at the first handshake after the copy appeared; it also read
    subdirectories, so a key moved to allowed/revoked/ was still let in.
    Here:
    - only the entries at the top of the directory count: regular files, or
      symlinks to regular files; subdirectories (and symlinks to them),
      FIFOs, devices, hidden files (a leading '.': editors' and rsync's
      temporary files) and the NAME_secret files are skipped;
    - a file is czmq's certificate format (zcert_save): a top-level `curve`
      section holding `public-key = "<40 Z85 characters>"`; anything else,
      or a file over TW_ALLOW_LIST_MAX_FILE_BYTES, is skipped with a
      warning;
    - the same key in two files is a warning, the key is let in once;
    - warnings are logged once each (remembered up to 4096, then forgotten
      and possibly logged again);
    - the directory is checked at most every TW_ALLOW_LIST_CHECK_MS: the
      name, inode, size and times of every entry; any difference (or an
      entry changed in the last second or two, which coarse file times
      cannot tell apart) reloads it all, so a key removed (or moved to a
      subdirectory) is refused from then on. A directory that cannot be
      read any more lets nobody in.
    Time comes in as an argument (milliseconds of a monotonic clock), so a
    test drives the checks without sleeping.
*/
#ifndef TW_ALLOW_LIST_H
#define TW_ALLOW_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  A certificate is a few hundred bytes; a larger file is not one.
#define TW_ALLOW_LIST_MAX_FILE_BYTES 65536
//  Entries of the directory looked at; those past it are skipped (warned).
#define TW_ALLOW_LIST_MAX_ENTRIES 65536
//  The directory is looked at no more often than this.
#define TW_ALLOW_LIST_CHECK_MS 1000

typedef struct tw_allow_list tw_allow_list;

//  Reads the keys in dir. Returns the list, or NULL after logging a message
//  when dir is not a directory we can read.
tw_allow_list *tw_allow_list_new(const char *dir);

//  Frees the list; sets *self to NULL.
void tw_allow_list_destroy(tw_allow_list **self);

//  Looks at the directory when the last look was at least
//  TW_ALLOW_LIST_CHECK_MS before now_ms (or there was none since new), and
//  reloads it when it changed. Returns 1 when the keys changed (logged), 0
//  when not or when it was too soon to look, or a negative errno when the
//  directory cannot be read (the list is then empty until it can).
int tw_allow_list_refresh(tw_allow_list *self, int64_t now_ms);

//  True when public_key (40 Z85 characters) is in the list.
bool tw_allow_list_has(tw_allow_list *self, const char *public_key);

//  The number of distinct keys in the list.
size_t tw_allow_list_size(tw_allow_list *self);

#endif
