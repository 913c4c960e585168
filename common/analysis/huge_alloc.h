// SPDX-License-Identifier: MPL-2.0
/*  huge_alloc: memory for the large arrays that the tables read at random.

    The flow table's entries and its index are read at a random place on
    every packet. Arrays of a few MB or more are aligned to a huge page and
    advised to use huge pages, so that they cost one TLB entry per 2 MB
    instead of one per 4 KB (bench/RESULTS.md has what that measured).
    Smaller arrays are aligned to a cache line, so that an entry of one
    cache line never straddles two.
*/
#ifndef TW_HUGE_ALLOC_H
#define TW_HUGE_ALLOC_H

#include <stddef.h>

//  Returns bytes of uninitialized memory (free it with free()), aligned to
//  a huge page when it is that large and to a cache line otherwise, or NULL
//  when out of memory.
void *tw_huge_alloc(size_t bytes);

//  Returns `bytes` of zeroed memory reserved in the address space only
//  (mmap, MAP_NORESERVE): a page costs memory when it is first touched, so
//  an array can be reserved up to its bound and grow without a copy. Huge
//  pages are advised as for tw_huge_alloc. Returns NULL when the address
//  space is refused. Release it with tw_huge_release and the same size.
void *tw_huge_reserve(size_t bytes);

//  The same reservation with ordinary pages, for memory that the packet path
//  will touch at random all at once (a new index): a huge page fault zeroes
//  2 MB, and where the kernel compacts memory for it (THP defrag "madvise")
//  it can take tens of milliseconds; many small faults spread the cost.
//  Advise huge pages later with tw_huge_advise (the kernel's khugepaged
//  then merges the pages in the background). Returns NULL when refused.
void *tw_huge_reserve_later(size_t bytes);

//  Advises huge pages for reserved memory of 2 MB or more; returns nothing
//  (a hint: refused, the memory is ordinary).
void tw_huge_advise(void *memory, size_t bytes);

//  Gives back memory from tw_huge_reserve (NULL is ignored); returns nothing.
void tw_huge_release(void *memory, size_t bytes);

#endif
