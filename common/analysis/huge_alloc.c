// SPDX-License-Identifier: MPL-2.0
/*  huge_alloc: large arrays aligned and advised for huge pages.

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
