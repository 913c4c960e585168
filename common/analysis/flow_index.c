// SPDX-License-Identifier: MPL-2.0
/*  flow_index: the slot work that is not on every packet's path (growth,
    insertion, removal, checks). The lookups are inline in flow_index.h.

    Removal is by backward shift rather than tombstones: a lookup then stops
    at the first empty slot whatever the history of the table, and probe
    runs never fill up with the dead. It needs each slot's home, which is
    its tag's low bits, so no key is read.

    Growth rebuilds the slots from the old ones (each tag gives its new
    home), so it reads no key either. The new array is filled before the old
    one is freed, so a failure leaves the index as it was.
*/
#include "flow_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "huge_alloc.h"

#define MAX_SLOTS ((uint64_t)1 << 32)  // a home is a 32-bit tag's low bits

//  Slots for `entries` entries: a power of two at least twice as many (at
//  most half full, so probe runs stay short), within what a tag can address.
static uint64_t s_slots_for(size_t entries)
{
    uint64_t slots = 2;
    while (slots < 2 * (uint64_t)entries && slots < MAX_SLOTS)
        slots *= 2;
    return slots;
}

//  Puts the slot word in the first empty slot from its home (there is one).
static void s_place(uint64_t *slots, uint32_t mask, uint64_t slot)
{
    uint32_t pos = tw_flow_index_slot_tag(slot) & mask;
    while (slots[pos] != 0)
        pos = (pos + 1) & mask;
    slots[pos] = slot;
}

tw_flow_index *tw_flow_index_new(size_t entries)
{
    tw_flow_index *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (tw_flow_index_reserve(self, entries) != 0)
        tw_flow_index_destroy(&self);
    return self;
}

void tw_flow_index_destroy(tw_flow_index **self)
{
    if (!*self)
        return;
    free((*self)->slots);
    free(*self);
    *self = NULL;
}

int tw_flow_index_reserve(tw_flow_index *self, size_t entries)
{
    uint64_t count = s_slots_for(entries);
    if (self->slots && count <= tw_flow_index_slots(self))
        return 0;
    uint64_t *slots = tw_huge_alloc(sizeof *slots * count);
    if (!slots)
        return -ENOMEM;
    memset(slots, 0, sizeof *slots * count);
    uint32_t mask = (uint32_t)(count - 1);
    if (self->slots)
        for (size_t pos = 0; pos < tw_flow_index_slots(self); pos++)
            if (self->slots[pos] != 0)
                s_place(slots, mask, self->slots[pos]);
    free(self->slots);
    self->slots = slots;
    self->mask = mask;
    return 0;
}

int tw_flow_index_insert(tw_flow_index *self, uint32_t tag, uint32_t entry)
{
    if (entry == TW_FLOW_INDEX_NONE)
        return -EINVAL;
    if (self->used >= self->mask)
        return -ENOSPC;  // one slot stays empty, so that every probe run ends
    s_place(self->slots, self->mask, (uint64_t)tag << 32 | (entry + 1));
    self->used++;
    return 0;
}

uint32_t tw_flow_index_slot_of(const tw_flow_index *self, uint32_t tag, uint32_t entry)
{
    uint64_t wanted = (uint64_t)tag << 32 | (entry + 1);
    for (uint32_t pos = tag & self->mask;; pos = (pos + 1) & self->mask) {
        if (self->slots[pos] == wanted)
            return pos;
        if (self->slots[pos] == 0)
            return TW_FLOW_INDEX_NONE;
    }
}

//  Empties a slot: each later slot of the run moves into the hole unless its
//  home lies after the hole (it would then be before its home), so every
//  entry stays reachable from its home without a tombstone.
static void s_unindex(tw_flow_index *self, uint32_t hole)
{
    uint32_t mask = self->mask;
    for (uint32_t pos = (hole + 1) & mask; self->slots[pos] != 0; pos = (pos + 1) & mask) {
        uint32_t home = tw_flow_index_slot_tag(self->slots[pos]) & mask;
        if (((pos - home) & mask) >= ((pos - hole) & mask)) {
            self->slots[hole] = self->slots[pos];
            hole = pos;
        }
    }
    self->slots[hole] = 0;
}

int tw_flow_index_remove(tw_flow_index *self, uint32_t tag, uint32_t entry)
{
    uint32_t pos = tw_flow_index_slot_of(self, tag, entry);
    if (pos == TW_FLOW_INDEX_NONE)
        return -ENOENT;
    s_unindex(self, pos);
    self->used--;
    return 0;
}

int tw_flow_index_rename(tw_flow_index *self, uint32_t tag, uint32_t from, uint32_t to)
{
    uint32_t pos = tw_flow_index_slot_of(self, tag, from);
    if (pos == TW_FLOW_INDEX_NONE)
        return -ENOENT;
    self->slots[pos] = (uint64_t)tag << 32 | (to + 1);
    return 0;
}

int tw_flow_index_check(const tw_flow_index *self, uint32_t count)
{
    uint64_t used = 0;
    for (uint64_t pos = 0; pos < tw_flow_index_slots(self); pos++) {
        uint64_t slot = self->slots[pos];
        if (slot == 0)
            continue;
        used++;
        if (tw_flow_index_slot_entry(slot) >= count)
            return -EINVAL;  // names no entry
        for (uint32_t p = tw_flow_index_slot_tag(slot) & self->mask; p != pos;
             p = (p + 1) & self->mask)
            if (self->slots[p] == 0)
                return -EINVAL;  // a hole between its home and it: unreachable
    }
    return used == count && used == self->used ? 0 : -EINVAL;
}
