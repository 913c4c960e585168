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

#endif
