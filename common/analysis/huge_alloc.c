// SPDX-License-Identifier: MPL-2.0
/*  huge_alloc: large arrays aligned and advised for huge pages.

    Reservations (tw_huge_reserve) are anonymous private mappings with
    MAP_NORESERVE: the kernel hands out zeroed pages as they are first
    touched, so a table reserved up to its bound costs what it uses, grows
    without copying, and a new index needs no memset (which, at millions of
    slots, would be a stall of its own).

    The advice is only a hint: where the kernel has no transparent huge
    pages, or refuses, the memory is ordinary and lookups are slower, not
    wrong, so its result is ignored.
*/
#include "huge_alloc.h"

#include <stdlib.h>
#include <sys/mman.h>

#define CACHE_LINE 64
#define HUGE_PAGE  ((size_t)2 << 20)

void *tw_huge_alloc(size_t bytes)
{
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : CACHE_LINE;
    void *p;
    if (posix_memalign(&p, align, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (align == HUGE_PAGE)
        (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void *tw_huge_reserve(size_t bytes)
{
    void *p = tw_huge_reserve_later(bytes);
    if (p)
        tw_huge_advise(p, bytes);
    return p;
}

void *tw_huge_reserve_later(size_t bytes)
{
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void tw_huge_advise(void *memory, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE_PAGE)
        (void)madvise(memory, bytes, MADV_HUGEPAGE);
#else
    (void)memory;
    (void)bytes;
#endif
}

void tw_huge_release(void *memory, size_t bytes)
{
    if (memory)
        (void)munmap(memory, bytes ? bytes : 1);  // fails only for a bad range: nothing to do
}
