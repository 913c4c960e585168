// SPDX-License-Identifier: MPL-2.0
/*  flow_index: finds the entry that holds a key, for a table that keeps its
    entries in a dense array and the keys inside them.

    The index stores no keys. It maps a key's 32-bit tag (its hash) to entry
    numbers; the caller hands in the key, its tag and where the keys of its
    entries lie, and gets an entry number back (TW_FLOW_INDEX_NONE when the
    key is absent). It knows nothing of what the keys mean: a key is five
    64-bit words, compared a word at a time.

    Design. Open addressing with linear probing over 8-byte slots that hold
    (tag, entry + 1), 0 meaning empty, kept at most half full. A lookup
    reads a slot cache line and compares the tags there, so it reads only
    the entries whose tag matches (other keys in the same run of slots cost
    nothing). A slot's home is its tag's low bits, so removal by backward
    shift, renaming an entry that moved and growth all work on the slots
    alone, without reading a key.

    Batches. A caller that knows its next keys ahead of time hashes them,
    prefetches their home slots (tw_flow_index_prefetch), then asks for a
    guess at each one's entry (tw_flow_index_guess) and prefetches that
    entry, and only then does its lookups. A guess is only a hint: the slot
    may name another key with the same tag, or change before the lookup, so
    it costs a cache miss when wrong, never a wrong answer.

    Growth without a stall. tw_flow_index_reserve rebuilds the slots at
    once (O(slots)): fine when a table is made, but at millions of entries
    it stops the packet path for tens of milliseconds, which a live capture
    pays in lost packets. tw_flow_index_grow_step instead starts a move into
    twice the slots when the index passes half full, and each later call
    moves a few of the old slots (GROW_STEP_SLOTS), so the move is over
    before the new slots are half full. The new slots are reserved with
    huge pages from a quarter full on, and faulted in one 2 MB page at a
    time, spread over the inserts up to the move: the kernel zeroes (and
    may compact memory for) a huge page when it is first touched, which
    took up to 69 ms in one batch when a move touched them all at once,
    and small pages instead cost a TLB miss per lookup (35 % more time per
    insert); only for an index told its limit (tw_flow_index_set_limit)
    that a move will come. Meanwhile the old slots stay a valid
    index of what is left in them (moving a slot out is a removal by
    backward shift), inserts go to the new slots, and a lookup that misses
    in the new slots looks in the old ones.

    The lookups are static inline here, and the struct visible for them,
    because they run several times per packet in the flow table's loop,
    where a call also makes the compiler reload what it keeps in registers
    (the run walk of tw_flow_index_guess alone, out of line, cost the
    producer 0.5 % more instructions). Callers use the functions, never the
    fields.
*/
#ifndef TW_FLOW_INDEX_H
#define TW_FLOW_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_FLOW_INDEX_NONE      UINT32_MAX  // no entry
#define TW_FLOW_INDEX_KEY_WORDS 5

//  A key: five words, compared and hashed a word at a time. Unused bytes
//  must be zero, so that equal keys are equal words.
typedef struct {
    uint64_t words[TW_FLOW_INDEX_KEY_WORDS];
} tw_flow_index_key;

//  Private: use the functions below.
typedef struct {
    uint64_t *slots;  // tag << 32 | (entry + 1), 0 when empty
    uint32_t mask;    // slot count - 1 (a power of two, at most 2^32 slots)
    uint32_t used;    // slots that name an entry, in both arrays
    uint64_t *old;    // while a move is under way: the slots being emptied, else NULL
    uint32_t old_mask;
    uint32_t old_used;  // slots of `old` that still name an entry
    uint32_t cursor;    // the next slot of `old` to move
    uint64_t *next;     // the next move's slots, reserved and faulted in ahead, or NULL
    size_t next_bytes;
    size_t next_touched;  // bytes of `next` faulted in so far
    size_t wake_at;       // entries from which grow_step has work (0: not yet known)
    size_t limit;         // most entries it will ever hold (0: unknown, nothing prepared)
} tw_flow_index;

//  Creates an empty index with room for `entries` entries. Returns NULL when
//  out of memory.
tw_flow_index *tw_flow_index_new(size_t entries);

//  Frees the index; sets *self to NULL.
void tw_flow_index_destroy(tw_flow_index **self);

//  Makes room for `entries` entries with the index at most half full (a
//  smaller number than it has room for changes nothing). Returns 0, or
//  -ENOMEM, the index then unchanged.
int tw_flow_index_reserve(tw_flow_index *self, size_t entries);

//  Tells the index the most entries it will ever hold, so that gradual
//  growth prepares the next slots ahead (see above) only when a move can
//  come; without it, a move's new slots get ordinary pages. Returns nothing.
void tw_flow_index_set_limit(tw_flow_index *self, size_t entries);

//  Keeps room for `entries` entries without a stall: once they would fill
//  more than half the slots, starts moving the slots into twice as many,
//  and on every call while the move lasts moves a few more. Call it before
//  each insert, with the count after it. Returns 0, or -ENOMEM when no new
//  slots could be had and the current ones are full (the index unchanged).
static inline int tw_flow_index_grow_step(tw_flow_index *self, size_t entries);

//  The part of tw_flow_index_grow_step that works (out of line); returns
//  what it returns.
int tw_flow_index_grow_work(tw_flow_index *self, size_t entries);

//  Indexes `entry` under `tag` (the entry must not be indexed already).
//  Returns 0, -EINVAL for the entry TW_FLOW_INDEX_NONE, or -ENOSPC when
//  all slots but one are taken (never after a reserve for as many entries).
int tw_flow_index_insert(tw_flow_index *self, uint32_t tag, uint32_t entry);

//  Removes `entry`, indexed under `tag`, moving later slots of its probe run
//  back so that every other entry stays reachable. Returns 0, or -ENOENT
//  when the index does not hold it.
int tw_flow_index_remove(tw_flow_index *self, uint32_t tag, uint32_t entry);

//  Returns the slot that names `entry`, indexed under `tag`, or
//  TW_FLOW_INDEX_NONE (while a move is under way, only the new slots count).
uint32_t tw_flow_index_slot_of(const tw_flow_index *self, uint32_t tag, uint32_t entry);

//  Checks the slots (for tests; O(slots)). Returns 0 when exactly `count`
//  slots are used, each names an entry below `limit`, and no empty slot lies
//  between a slot and its home; else -EINVAL. That every entry is found
//  under its own key is the caller's check (tw_flow_index_find).
int tw_flow_index_check(const tw_flow_index *self, uint32_t count, uint32_t limit);

static inline int tw_flow_index_grow_step(tw_flow_index *self, size_t entries)
{
    // Nearly every insert finds no move under way and room enough: a test
    // here, not a call.
    if (self->old == NULL && entries < self->wake_at)
        return 0;
    return tw_flow_index_grow_work(self, entries);
}

//  Returns the number of slots (twice the entries it has room for, or more).
static inline size_t tw_flow_index_slots(const tw_flow_index *self)
{
    return (size_t)self->mask + 1;
}

//  Returns the number of indexed entries.
static inline uint32_t tw_flow_index_count(const tw_flow_index *self)
{
    return self->used;
}

//  Returns the tag that a used slot holds.
static inline uint32_t tw_flow_index_slot_tag(uint64_t slot)
{
    return (uint32_t)(slot >> 32);
}

//  Returns the entry that a used slot names.
static inline uint32_t tw_flow_index_slot_entry(uint64_t slot)
{
    return (uint32_t)slot - 1;
}

//  Returns the 64x64->128-bit product folded to 64 bits (the wyhash mixer):
//  one multiply spreads every input bit over the whole result.
static inline uint64_t tw_flow_index_mix(uint64_t a, uint64_t b)
{
    unsigned __int128 product = (unsigned __int128)a * b;
    return (uint64_t)product ^ (uint64_t)(product >> 64);
}

//  Returns the tag of the key made of these five words. They are folded
//  into two, then mixed with one multiply: word 0 with word 2, word 1 with
//  word 3 and 4, the words 2 and 3 with their halves swapped, so that
//  swapping the first two words with the next two (the two directions of a
//  connection) gives another tag. A key that uses only the low half of
//  words 0 and 2 and nothing of words 1 and 3 (an IPv4 flow's addresses)
//  loses nothing in the fold.
static inline uint32_t tw_flow_index_hash_words(uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3,
                                                uint64_t w4)
{
    uint64_t a = w0 ^ (w2 << 32 | w2 >> 32) ^ 0xa0761d6478bd642full;
    uint64_t b = w1 ^ (w3 << 32 | w3 >> 32) ^ w4 ^ 0xe7037ed1a0b428dbull;
    uint64_t h = tw_flow_index_mix(a, b);
    return (uint32_t)(h ^ (h >> 32));
}

//  Returns the tag of a key.
static inline uint32_t tw_flow_index_hash(const tw_flow_index_key *key)
{
    return tw_flow_index_hash_words(key->words[0], key->words[1], key->words[2], key->words[3],
                                    key->words[4]);
}

//  Returns whether the two keys are equal (without a branch per word).
static inline bool tw_flow_index_key_equal(const tw_flow_index_key *a, const tw_flow_index_key *b)
{
    return ((a->words[0] ^ b->words[0]) | (a->words[1] ^ b->words[1]) |
            (a->words[2] ^ b->words[2]) | (a->words[3] ^ b->words[3]) |
            (a->words[4] ^ b->words[4])) == 0;
}

//  Returns the entry that one array of slots names for `key`, or
//  TW_FLOW_INDEX_NONE (the walk of tw_flow_index_find).
static inline uint32_t tw_flow_index_find_in(const uint64_t *slots, uint32_t mask,
                                             const tw_flow_index_key *key, uint32_t tag,
                                             const tw_flow_index_key *keys, size_t stride)
{
    for (uint32_t pos = tag & mask;; pos = (pos + 1) & mask) {
        uint64_t slot = slots[pos];
        if (slot == 0)
            return TW_FLOW_INDEX_NONE;
        if (tw_flow_index_slot_tag(slot) != tag)
            continue;
        uint32_t entry = tw_flow_index_slot_entry(slot);
        const tw_flow_index_key *held =
            (const tw_flow_index_key *)((const char *)keys + (size_t)entry * stride);
        if (tw_flow_index_key_equal(held, key))
            return entry;
    }
}

//  Returns the entry that holds `key` (whose tag is `tag`), or
//  TW_FLOW_INDEX_NONE. Entry e's key is at (char *)keys + e * stride.
static inline uint32_t tw_flow_index_find(const tw_flow_index *self, const tw_flow_index_key *key,
                                          uint32_t tag, const tw_flow_index_key *keys,
                                          size_t stride)
{
    uint32_t entry = tw_flow_index_find_in(self->slots, self->mask, key, tag, keys, stride);
    if (__builtin_expect(self->old != NULL, 0) && entry == TW_FLOW_INDEX_NONE)
        entry = tw_flow_index_find_in(self->old, self->old_mask, key, tag, keys, stride);
    return entry;
}

//  Starts fetching the home slot of this tag into the cache; returns nothing.
static inline __attribute__((always_inline)) void tw_flow_index_prefetch(const tw_flow_index *self,
                                                                         uint32_t tag)
{
    __builtin_prefetch(&self->slots[tag & self->mask]);
}

//  Returns the entry that the first slot with this tag names from slot `pos`
//  to the end of its probe run, or TW_FLOW_INDEX_NONE (the slow part of
//  tw_flow_index_guess; inline too, since a call there would make the
//  compiler reload what it holds in registers across a whole batch).
static inline uint32_t tw_flow_index_guess_from(const tw_flow_index *self, uint32_t pos,
                                                uint32_t tag)
{
    for (pos &= self->mask;; pos = (pos + 1) & self->mask) {
        uint64_t slot = self->slots[pos];
        if (slot == 0)
            return TW_FLOW_INDEX_NONE;
        if (tw_flow_index_slot_tag(slot) == tag)
            return tw_flow_index_slot_entry(slot);
    }
}

//  Returns a guess at the entry of the key with this tag: the entry that
//  the first slot with this tag names, or TW_FLOW_INDEX_NONE. Most keys sit
//  at their home slot or the next, which are looked at without a branch,
//  since whether they match is random; runs that go on are rarer. While a
//  move is under way, a key still in the old slots gets no guess: a cache
//  miss, never a wrong answer.
static inline uint32_t tw_flow_index_guess(const tw_flow_index *self, uint32_t tag)
{
    uint32_t pos = tag & self->mask;
    uint64_t home = self->slots[pos], next = self->slots[(pos + 1) & self->mask];
    uint32_t guess =
        tw_flow_index_slot_tag(next) == tag ? tw_flow_index_slot_entry(next) : TW_FLOW_INDEX_NONE;
    guess = tw_flow_index_slot_tag(home) == tag ? tw_flow_index_slot_entry(home) : guess;
    if (guess == TW_FLOW_INDEX_NONE && home != 0 && next != 0)
        guess = tw_flow_index_guess_from(self, pos + 2, tag);
    return guess;
}

#endif
