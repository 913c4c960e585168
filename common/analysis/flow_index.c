// SPDX-License-Identifier: MPL-2.0
/*  flow_index: the slot work that is not on every packet's path (growth,
    insertion, removal, checks). The lookups are inline in flow_index.h.

    Removal is by backward shift rather than tombstones: a lookup then stops
    at the first empty slot whatever the history of the table, and probe
    runs never fill up with the dead. It needs each slot's home, which is
    its tag's low bits, so no key is read.

    Growth rebuilds the slots from the old ones (each tag gives its new
    home), so it reads no key either. The new array is filled before the old
    one is freed, so a failure leaves the index as it was. Gradual growth
    (tw_flow_index_grow_step) moves GROW_STEP_SLOTS old slots per call: a
    move starts with the old slots half full, so it looks at every old
    slot, plus at most as many again for the slots that a backward shift
    brings back under the cursor, within a quarter of the new slots'
    inserts, before they are half full. Slot arrays are reserved memory
    (tw_huge_reserve), zero without a memset; the new slots of a move are
    prepared ahead (s_prepare; see flow_index.h), or, when that could not
    be done, get ordinary pages until the move is over.
*/
#include "flow_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "huge_alloc.h"

#define MAX_SLOTS       ((uint64_t)1 << 32)  // a home is a 32-bit tag's low bits
#define GROW_STEP_SLOTS 8                    // old slots looked at per grow step (4 would do)
#define HUGE_PAGE_BYTES ((size_t)2 << 20)

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

static void s_release(uint64_t *slots, uint32_t mask)
{
    tw_huge_release(slots, sizeof *slots * ((size_t)mask + 1));
}

void tw_flow_index_destroy(tw_flow_index **self)
{
    if (!*self)
        return;
    s_release((*self)->slots, (*self)->mask);
    s_release((*self)->old, (*self)->old_mask);
    tw_huge_release((*self)->next, (*self)->next_bytes);
    free(*self);
    *self = NULL;
}

//  Empties a slot of one array by backward shift (defined below).
static void s_unindex_in(uint64_t *slots, uint32_t mask, uint32_t hole);

//  Moves up to `budget` old slots into the new ones; frees the old array
//  once it is empty. A moved slot's place may be refilled by the shift, so
//  the cursor stays until it finds the slot empty.
static void s_move_some(tw_flow_index *self, uint64_t budget)
{
    for (; self->old_used > 0 && budget > 0; budget--) {
        uint64_t slot = self->old[self->cursor];
        if (slot == 0) {
            self->cursor = (self->cursor + 1) & self->old_mask;
            continue;
        }
        s_place(self->slots, self->mask, slot);
        s_unindex_in(self->old, self->old_mask, self->cursor);
        self->old_used--;
    }
    if (self->old && self->old_used == 0) {
        tw_huge_advise(self->slots, sizeof *self->slots * tw_flow_index_slots(self));
        s_release(self->old, self->old_mask);
        self->old = NULL;
        self->old_mask = 0;
        self->cursor = 0;
        self->wake_at = 0;  // the next grow step works out what comes next
    }
}

int tw_flow_index_reserve(tw_flow_index *self, size_t entries)
{
    uint64_t count = s_slots_for(entries);
    if (self->slots && count <= tw_flow_index_slots(self))
        return 0;
    uint64_t *slots = tw_huge_reserve(sizeof *slots * count);
    if (!slots)
        return -ENOMEM;
    s_move_some(self, UINT64_MAX);                  // a move under way ends first
    tw_huge_release(self->next, self->next_bytes);  // sized for the slots replaced here
    self->next = NULL;
    self->next_bytes = self->next_touched = self->wake_at = 0;
    uint32_t mask = (uint32_t)(count - 1);
    if (self->slots)
        for (size_t pos = 0; pos < tw_flow_index_slots(self); pos++)
            if (self->slots[pos] != 0)
                s_place(slots, mask, self->slots[pos]);
    s_release(self->slots, self->mask);
    self->slots = slots;
    self->mask = mask;
    return 0;
}

//  Before a move: from a quarter full, reserves the next slots (huge pages)
//  and faults them in a page at a time, spread evenly over the inserts left
//  before the move starts (`start`), so that no batch pays for many.
static void s_prepare(tw_flow_index *self, size_t entries, size_t start)
{
    size_t slots = tw_flow_index_slots(self);
    size_t bytes = sizeof *self->slots * slots * 2;
    self->wake_at = start;
    if (self->limit == 0 || bytes < 2 * HUGE_PAGE_BYTES)
        return;  // unknown limit, or a few small pages: faulted in by the move
    if (2 * (uint64_t)self->limit <= slots) {
        self->wake_at = SIZE_MAX;  // no move will ever come
        return;
    }
    if (entries < slots / 4) {
        self->wake_at = slots / 4;
        return;
    }
    if (!self->next) {
        self->next = tw_huge_reserve(bytes);
        if (!self->next)
            return;  // the move will ask again
        self->next_bytes = bytes;
        self->next_touched = 0;
    }
    if (self->next_touched < bytes) {
        ((volatile uint8_t *)self->next)[self->next_touched] = 0;
        self->next_touched += HUGE_PAGE_BYTES;
    }
    size_t pages_left =
        (bytes - (self->next_touched < bytes ? self->next_touched : bytes)) / HUGE_PAGE_BYTES;
    if (pages_left > 0 && start > entries) {
        size_t stride = (start - entries) / (pages_left + 1);
        self->wake_at = entries + (stride ? stride : 1);
    }
}

//  Starts moving into twice the slots. Returns 0, or -ENOMEM when none
//  could be had and the current slots are full.
static int s_start_move(tw_flow_index *self)
{
    size_t slots = tw_flow_index_slots(self);
    uint64_t *bigger = self->next;
    if (!bigger)
        bigger = tw_huge_reserve_later(sizeof *bigger * slots * 2);
    if (!bigger)
        return self->used < self->mask ? 0 : -ENOMEM;  // room enough for now
    self->next = NULL;
    self->next_bytes = self->next_touched = 0;
    self->old = self->slots;
    self->old_mask = self->mask;
    self->old_used = self->used;
    self->cursor = 0;
    self->slots = bigger;
    self->mask = (uint32_t)(slots * 2 - 1);
    s_move_some(self, GROW_STEP_SLOTS);
    return 0;
}

void tw_flow_index_set_limit(tw_flow_index *self, size_t entries)
{
    self->limit = entries;
    self->wake_at = 0;
}

int tw_flow_index_grow_work(tw_flow_index *self, size_t entries)
{
    if (self->old)
        s_move_some(self, GROW_STEP_SLOTS);
    uint64_t slots = tw_flow_index_slots(self);
    if (slots >= MAX_SLOTS) {
        self->wake_at = SIZE_MAX;  // at 2^32 slots, tw_flow_index_insert says when full
        return 0;
    }
    if (2 * (uint64_t)entries <= slots) {
        // Not while a move lasts (every insert calls here then): a page
        // faulted in per insert made a 4.5 ms batch.
        if (!self->old && entries >= self->wake_at)
            s_prepare(self, entries, slots / 2 + 1);
        return 0;
    }
    // A move still under way (entries jumped, or were reserved past the
    // steps) ends before the next one starts.
    s_move_some(self, UINT64_MAX);
    int rc = s_start_move(self);
    self->wake_at = 0;  // the next call works out what comes next
    return rc;
}

int tw_flow_index_insert(tw_flow_index *self, uint32_t tag, uint32_t entry)
{
    if (entry == TW_FLOW_INDEX_NONE)
        return -EINVAL;
    if (self->used - self->old_used >= self->mask)
        return -ENOSPC;  // one slot stays empty, so that every probe run ends
    s_place(self->slots, self->mask, (uint64_t)tag << 32 | (entry + 1));
    self->used++;
    return 0;
}

//  The position of a slot word in one array, or TW_FLOW_INDEX_NONE.
static uint32_t s_position(const uint64_t *slots, uint32_t mask, uint64_t wanted);

uint32_t tw_flow_index_slot_of(const tw_flow_index *self, uint32_t tag, uint32_t entry)
{
    return s_position(self->slots, self->mask, (uint64_t)tag << 32 | (entry + 1));
}

//  Empties a slot: each later slot of the run moves into the hole unless its
//  home lies after the hole (it would then be before its home), so every
//  entry stays reachable from its home without a tombstone.
static void s_unindex_in(uint64_t *slots, uint32_t mask, uint32_t hole)
{
    for (uint32_t pos = (hole + 1) & mask; slots[pos] != 0; pos = (pos + 1) & mask) {
        uint32_t home = tw_flow_index_slot_tag(slots[pos]) & mask;
        if (((pos - home) & mask) >= ((pos - hole) & mask)) {
            slots[hole] = slots[pos];
            hole = pos;
        }
    }
    slots[hole] = 0;
}

//  The position of a slot word in one array, or TW_FLOW_INDEX_NONE.
static uint32_t s_position(const uint64_t *slots, uint32_t mask, uint64_t wanted)
{
    for (uint32_t pos = tw_flow_index_slot_tag(wanted) & mask;; pos = (pos + 1) & mask) {
        if (slots[pos] == wanted)
            return pos;
        if (slots[pos] == 0)
            return TW_FLOW_INDEX_NONE;
    }
}

int tw_flow_index_remove(tw_flow_index *self, uint32_t tag, uint32_t entry)
{
    uint64_t wanted = (uint64_t)tag << 32 | (entry + 1);
    uint32_t pos = s_position(self->slots, self->mask, wanted);
    if (pos != TW_FLOW_INDEX_NONE) {
        s_unindex_in(self->slots, self->mask, pos);
    } else {
        pos = self->old ? s_position(self->old, self->old_mask, wanted) : TW_FLOW_INDEX_NONE;
        if (pos == TW_FLOW_INDEX_NONE)
            return -ENOENT;
        s_unindex_in(self->old, self->old_mask, pos);
        self->old_used--;
    }
    self->used--;
    return 0;
}

//  Checks one array; returns its used slots, or -1 when one is wrong.
static int64_t s_check_in(const uint64_t *slots, uint32_t mask, uint32_t limit)
{
    int64_t used = 0;
    for (uint64_t pos = 0; pos <= mask; pos++) {
        uint64_t slot = slots[pos];
        if (slot == 0)
            continue;
        used++;
        if (tw_flow_index_slot_entry(slot) >= limit)
            return -1;  // names no entry
        for (uint32_t p = tw_flow_index_slot_tag(slot) & mask; p != pos; p = (p + 1) & mask)
            if (slots[p] == 0)
                return -1;  // a hole between its home and it: unreachable
    }
    return used;
}

int tw_flow_index_check(const tw_flow_index *self, uint32_t count, uint32_t limit)
{
    int64_t used = s_check_in(self->slots, self->mask, limit);
    int64_t old_used = self->old ? s_check_in(self->old, self->old_mask, limit) : 0;
    if (used < 0 || old_used < 0 || old_used != self->old_used)
        return -EINVAL;
    return used + old_used == count && (uint64_t)count == self->used ? 0 : -EINVAL;
}
