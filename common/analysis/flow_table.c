// SPDX-License-Identifier: MPL-2.0
/*  flow_table: one-directional TCP flows.

    Design. Flows live in dense arrays (entries [0..count)), so the resident size
    follows the most flows live at once, not the bound (the arrays are
    reserved up to it and touched as used). Each flow is split into
    a hot part of exactly one cache line (key, last packet time, counters,
    state) that every packet reads and writes, and a cold part (start time,
    episode timing, close time, window scale, the wheel's links) touched
    only on a flow's first packet, on episode changes, on control packets,
    when the wheel files or looks at it (or a neighbour in its list) and
    when it ends. With 50k
    connections picked at random per packet, a lookup is a cache miss, and
    this way it is one miss, not several.

    flow_index finds a key's entry; the key lives in the hot part, so a
    lookup reads the index's slot and then only the entry that will be
    counted. Removing a flow moves the last entry into its place (one slot
    renamed), which keeps the arrays dense without a free list.

    Batches. tw_flow_table_packets() hashes a batch of packets and prefetches
    their slots, then prefetches the entries those slots name, then processes
    the packets in order with ordinary lookups. The prefetches only warm the
    cache: entries that move or end while the batch is processed cost a miss,
    never a wrong answer. Control packets (SYN, FIN, RST) also look up the
    other direction of their connection, which is prefetched the same way.

    Stalls and probes. A probe is sent by the other direction than the stall
    it knocks on, so counting it needs the stalled flow's latest ACK and
    window. Rather than look up the reverse flow for every packet, a flow
    that begins a stall looks up its reverse once and marks it
    STATE_PEER_STALLED (and itself STATE_PEER_LINKED); only packets of a
    marked flow look up their reverse, and stalls are rare. The marks are
    undone when the stall ends or either flow ends. A stall whose reverse is
    not in the table yet is "unlinked" and counted: while any is, a new flow
    looks up its reverse once on insertion, so the prober is marked from its
    first packet on, and the stalled flow retries at each of its packets.

    Expiry: a timer wheel. Ending idle flows by walking the whole table at
    every report boundary cost 18 instructions per live flow per boundary
    (330 per packet at 600 boundaries, bench/RESULTS.md), and the stalled
    list walked it too. Every flow is filed, by intrusive links in its cold
    part, in one of WHEEL_SLOTS lists: the bucket (2^20 us of flow clock)
    of its deadline, modulo the wheel; expiry walks the buckets from the
    last one walked up to now's, each at most once. Filing is lazy: a
    packet that only moves the deadline later (nearly all of them) does not
    touch the wheel; when the old deadline's bucket comes the flow is looked
    at, ended if over, else filed again at its new deadline. So the cost is
    O(flows ended + flows filed again), at most about one filing per
    timeout of a busy flow. What makes a deadline earlier files the flow
    again at once: a FIN or RST (both directions), a stall's end (the
    stalled flow and its prober). A deadline beyond the wheel is filed in
    its last bucket and filed again from there. Flows due within the bucket
    being walked wait in WHEEL_KEPT and go back into it, for the next
    expiry. The wheel's time never goes back: when the flow clock steps back
    (by less than a time jump, analyzer.h), flows filed meanwhile land in
    the wheel's current bucket and are looked at by every expiry until the
    clock catches up: O(those flows) per expiry, never more than the old
    sweep, and never late. The stalled flows are a list (through their stall entries, in
    the order the stalls began) kept as stalls begin and end.

    Time only comes from the caller, so the table is deterministic and a test
    can drive hours of traffic in microseconds. Captures are not always in
    time order, and some carry absurd times: a flow's time never goes back
    (a packet older than the flow's last one counts at the flow's last time,
    so episodes and durations are never negative), and every difference of
    times saturates (tw_time.h) instead of overflowing.
*/
#include "flow_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flow_index.h"
#include "huge_alloc.h"
#include "tw_time.h"

//  Slots of the filter of unlinked stalls (128 KiB, stays in L2): with a
//  few thousand unlinked stalls at once a new flow's slot is busy a few
//  percent of the time, so few new flows pay a reverse lookup (a cache miss
//  each: 10 % of the producer's time on the realistic benchmark without it).
#define UNLINKED_SLOTS 32768
#define NONE           TW_FLOW_INDEX_NONE
#define EVICT_SAMPLES  8
#define MAX_SHIFT      14  // RFC 7323: larger window scale values are treated as 14
#define CACHE_LINE     64
#define FIRST_ENTRIES  1024
#define CONTROL_FLAGS  (TW_TCP_SYN | TW_TCP_FIN | TW_TCP_RST)
#define WHEEL_SLOTS    1024         // buckets ahead of the wheel's time: 1,024 x 1.05 s
#define WHEEL_KEPT     WHEEL_SLOTS  // the list of flows due in the bucket being walked
#define BUCKET_SHIFT   20           // a bucket is 2^20 us of flow clock (1.05 s)
#define LIST_HEAD      0x80000000u  // a wheel_prev naming a list head: LIST_HEAD | list
#define MAX_SYNS       UINT8_MAX    // s_cold.syns saturates here
#define COLD_PEER_FIN  0x01         // s_cold.flags: the other direction sent a FIN
#define COLD_PROBER    0x02         // s_cold.flags: it probed (was linked to) a stall

_Static_assert(TW_FLOW_BATCH >= 1 && TW_FLOW_BATCH <= 256, "a batch index fits in a byte");

//  A flow's index key: the source address in words 0 and 1, the destination
//  in words 2 and 3, and in word 4 both ports as in the packet (low half)
//  and the IP version (high half).
enum { KEY_SRC = 0, KEY_DST = 2, KEY_PORTS_VERSION = 4 };

enum {
    STATE_SYN_SEEN = 0x01,
    STATE_FIN_SEEN = 0x02,
    STATE_CLOSING = 0x04,       // connection closed, lingering since close_us
    STATE_BY_RST = 0x08,        // ... and the close was a RST
    STATE_IN_EPISODE = 0x10,    // the last packet was an undershoot
    STATE_STALLED = 0x20,       // this side's receiver is in a stall (see the header)
    STATE_PEER_STALLED = 0x40,  // the reverse flow is stalled: packets may be probes
    STATE_PEER_LINKED = 0x80,   // stalled, and the reverse flow carries PEER_STALLED
};

_Static_assert(offsetof(tw_packet, dst_port) == offsetof(tw_packet, src_port) + 2 &&
                   offsetof(tw_flow_key, dst_port) == offsetof(tw_flow_key, src_port) + 2,
               "both ports are copied as one 32-bit word");

//  What every packet of the flow reads or writes: one cache line.
typedef struct {
    tw_flow_index_key key;
    int64_t last_us;
    uint32_t packets_low;  // the carries out of these two are in the cold part
    uint32_t undershoots_low;
    uint32_t
        next_seq;  // highest seq + length (+1 for SYN/FIN) sent, 0 unknown (Wireshark's nextseq)
    uint16_t min_window;
    uint8_t state;
    uint8_t shift;  // applied to this side's windows (bytes mode only)
} s_hot;

_Static_assert(sizeof(s_hot) == CACHE_LINE, "a hot flow entry is one cache line");

//  What only first packets, episode changes, control packets and ends touch.
typedef struct {
    int64_t first_us;
    int64_t episode_start_us;
    int64_t zero_window_us;
    int64_t close_us;
    uint64_t episodes;
    uint32_t undershoots_high;
    uint32_t packets_high;
    uint32_t stall;       // its entry in the stall pool, or NONE
    uint32_t wheel_prev;  // the timer wheel's list it is filed in: previous entry, or
    uint32_t wheel_next;  // LIST_HEAD | list; next entry or NONE
    int8_t window_scale;  // from this side's SYN, -1 when unseen
    bool scale_known;     // both SYNs seen: the shift in force is known
    uint8_t syns;         // SYN packets (saturated): all its packets were SYNs if equal
    uint8_t flags;        // COLD_PEER_FIN, COLD_PROBER
} s_cold;

_Static_assert(sizeof(s_cold) == CACHE_LINE, "a cold flow entry is one cache line");

//  The stall figures of a flow that had any (a zero-window advertisement, a
//  stall, a probe sent), kept in a pool apart so that the cold part of the
//  other flows, nearly all of them, stays small. At most one per live flow.
typedef struct {
    int64_t start_us;  // of the current stall
    int64_t stall_us;  // stalls that ended
    int64_t end_us;    // when the last of them ended
    uint64_t stalls;
    uint64_t zero_window_adverts;
    uint64_t window_probes;  // sent
    uint64_t zero_length_probes;
    uint64_t probes_received;
    uint64_t stall_probes;  // received in the current stall
    uint64_t window_reopenings;
    uint32_t ack;                         // while stalled: the latest advertisement's ACK number
    uint16_t window;                      // ... and raw window
    uint32_t next_free;                   // when free: the next free entry, or NONE
    uint32_t owner;                       // when used: its flow's entry (kept as entries move)
    uint32_t stalled_prev, stalled_next;  // while stalled: the stalled list, oldest first
} s_stall;

//  The pool of s_stall entries: used ones and a free list, grown by doubling.
typedef struct {
    s_stall *entries;
    uint32_t used;      // entries ever handed out
    uint32_t capacity;  // allocated
    uint32_t free_head;
} s_stall_pool;

struct tw_flow_table {
    tw_flow_config config;
    tw_flow_end_fn *on_end;
    void *arg;
    s_hot *hot;  // live flows, dense; hot[i] and cold[i] are one flow
    s_cold *cold;
    uint32_t count;        // live flows
    uint32_t capacity;     // reserved entries: config.max_flows
    tw_flow_index *index;  // key -> entry, grown a few slots per insert
    uint32_t evict_cursor;
    uint32_t stalled;   // live flows in a stall (STATE_STALLED)
    uint32_t unlinked;  // of those, without STATE_PEER_LINKED
    // The unlinked stalls, counted by the low bits of their keys' hash: a
    // new flow looks its reverse up only when its slot is not 0 (see the top).
    uint32_t unlinked_by_hash[UNLINKED_SLOTS];
    uint64_t
        stall_start_sum;  // their stall_start_us summed modulo 2^64 (see tw_flow_table_stalled)
    int64_t counted_until_us;  // now_us of the last tw_flow_table_stalled call (see s_stall_end)
    tw_flow_counters totals;   // the stall figures
    s_stall_pool pool;
    uint32_t stalled_head, stalled_tail;  // pool entries of the stalled flows, by stall start
    // The timer wheel (see the top): list heads of flow entries, one per
    // bucket of flow clock modulo WHEEL_SLOTS, and WHEEL_KEPT.
    uint32_t wheel[WHEEL_SLOTS + 1];
    uint64_t wheel_bucket;   // every bucket before this one has been walked
    bool wheel_started;      // wheel_bucket is set (by the first flow filed)
    int64_t min_timeout_us;  // the shortest timeout of a flow not closing
    int64_t syn_timeout_us, half_closed_timeout_us, stall_timeout_us;  // in force
    uint64_t expiry_checks;
    uint64_t ended;
    uint64_t untracked;  // packets not counted, or not their stall figures: no memory
    uint64_t evicted;
};

//  Fills the key from the packet and returns its tag, hashing the words as
//  they are loaded (reading them back from the key just written would wait
//  on store forwarding).
static inline uint32_t s_make_key(tw_flow_index_key *key, const tw_packet *packet)
{
    uint64_t words[4];
    uint32_t ports;
    memcpy(words, packet->src, sizeof packet->src);
    memcpy(words + 2, packet->dst, sizeof packet->dst);
    memcpy(&ports, &packet->src_port, sizeof ports);
    uint64_t ports_version = (uint64_t)ports | (uint64_t)packet->ip_version << 32;
    memcpy(key->words, words, sizeof words);
    key->words[KEY_PORTS_VERSION] = ports_version;
    return tw_flow_index_hash_words(words[0], words[1], words[2], words[3], ports_version);
}

//  The key of the other direction: addresses swapped, and the two ports
//  (the two halves of the low half of the last word).
static void s_reverse_key(tw_flow_index_key *reverse, const tw_flow_index_key *key)
{
    reverse->words[KEY_SRC] = key->words[KEY_DST];
    reverse->words[KEY_SRC + 1] = key->words[KEY_DST + 1];
    reverse->words[KEY_DST] = key->words[KEY_SRC];
    reverse->words[KEY_DST + 1] = key->words[KEY_SRC + 1];
    uint64_t ports_version = key->words[KEY_PORTS_VERSION];
    uint32_t ports = (uint32_t)ports_version;
    reverse->words[KEY_PORTS_VERSION] =
        (ports_version & ~(uint64_t)UINT32_MAX) | (uint32_t)(ports << 16 | ports >> 16);
}

static void s_public_key(tw_flow_key *out, const tw_flow_index_key *key)
{
    uint32_t ports = (uint32_t)key->words[KEY_PORTS_VERSION];
    memcpy(out->src, &key->words[KEY_SRC], sizeof out->src);
    memcpy(out->dst, &key->words[KEY_DST], sizeof out->dst);
    memcpy(&out->src_port, &ports, sizeof ports);
    out->ip_version = (uint8_t)(key->words[KEY_PORTS_VERSION] >> 32);
    memset(out->pad, 0, sizeof out->pad);
}

//  A packet's key, as the batch prepares it: its tag, and guesses at its
//  entry and (control packets only) at the reverse direction's entry. The
//  reverse key's tag is hashed at most once per packet (s_reverse_tag).
typedef struct {
    tw_flow_index_key key;
    uint32_t tag;
    uint32_t guess;
    uint32_t reverse_tag;  // valid when reverse_tagged
    uint32_t reverse_guess;
    bool reverse_tagged;
} s_lookup;

static inline uint32_t s_reverse_tag(s_lookup *lookup)
{
    if (!lookup->reverse_tagged) {
        tw_flow_index_key reverse;
        s_reverse_key(&reverse, &lookup->key);
        lookup->reverse_tag = tw_flow_index_hash(&reverse);
        lookup->reverse_tagged = true;
    }
    return lookup->reverse_tag;
}

static inline uint32_t s_find(const tw_flow_table *self, const tw_flow_index_key *key, uint32_t tag)
{
    return tw_flow_index_find(self->index, key, tag, &self->hot->key, sizeof *self->hot);
}

static uint32_t s_find_reverse(const tw_flow_table *self, const tw_flow_index_key *key)
{
    tw_flow_index_key reverse;
    s_reverse_key(&reverse, key);
    return s_find(self, &reverse, tw_flow_index_hash(&reverse));
}

//  The entry of key: the guess when that live entry holds the key (live keys
//  are unique, so it is the one), else what the index says.
static inline uint32_t s_find_guessed(const tw_flow_table *self, const tw_flow_index_key *key,
                                      uint32_t tag, uint32_t guess)
{
    if (guess < self->count && tw_flow_index_key_equal(&self->hot[guess].key, key))
        return guess;
    return s_find(self, key, tag);
}

//  The stall entry of a flow, made on first need. Returns NONE when there is
//  no memory for it: the packet's stall figures are then counted untracked.
static uint32_t s_stall_entry(tw_flow_table *self, uint32_t index)
{
    s_stall_pool *pool = &self->pool;
    uint32_t entry = self->cold[index].stall;
    if (entry != NONE)
        return entry;
    if (pool->free_head != NONE) {
        entry = pool->free_head;
        pool->free_head = pool->entries[entry].next_free;
    } else {
        if (pool->used == pool->capacity) {
            size_t capacity = pool->capacity ? (size_t)pool->capacity * 2 : 64;
            s_stall *entries = realloc(pool->entries, sizeof *entries * capacity);
            if (!entries) {
                self->untracked++;
                return NONE;
            }
            pool->entries = entries;
            pool->capacity = (uint32_t)capacity;
        }
        entry = pool->used++;
    }
    pool->entries[entry] = (s_stall){.next_free = NONE, .owner = index};
    self->cold[index].stall = entry;
    return entry;
}

static void s_stall_free(tw_flow_table *self, uint32_t index)
{
    uint32_t entry = self->cold[index].stall;
    if (entry == NONE)
        return;
    self->pool.entries[entry].next_free = self->pool.free_head;
    self->pool.free_head = entry;
    self->cold[index].stall = NONE;
}

//  The stall entry of a flow that has one (every stalled flow does).
static inline s_stall *s_stall_of(const tw_flow_table *self, uint32_t index)
{
    return &self->pool.entries[self->cold[index].stall];
}

static void s_refile(tw_flow_table *self, uint32_t index);

//  Clears flag on the reverse flow of index, if it is in the table. A
//  prober that is no longer one goes back to its own timeout.
static void s_clear_reverse(tw_flow_table *self, uint32_t index, uint8_t flag)
{
    uint32_t reverse = s_find_reverse(self, &self->hot[index].key);
    if (reverse == NONE)
        return;
    self->hot[reverse].state &= (uint8_t)~flag;
    if (flag == STATE_PEER_STALLED)
        s_refile(self, reverse);
}

//  The unlinked-stall filter's counter for the stall of flow key.
//  The unlinked-stall filter's counter of the stall whose key hashes to tag.
static inline uint32_t *s_unlinked_slot_of_tag(tw_flow_table *self, uint32_t tag)
{
    return &self->unlinked_by_hash[tag & (UNLINKED_SLOTS - 1)];
}

static uint32_t *s_unlinked_slot(tw_flow_table *self, const tw_flow_index_key *stalled_key)
{
    return s_unlinked_slot_of_tag(self, tw_flow_index_hash(stalled_key));
}

//  A stall of the flow with this key has no prober now, or again.
static void s_unlinked_add(tw_flow_table *self, const tw_flow_index_key *stalled_key)
{
    self->unlinked++;
    (*s_unlinked_slot(self, stalled_key))++;
}

//  ... has one now, or ended.
static void s_unlinked_remove(tw_flow_table *self, const tw_flow_index_key *stalled_key)
{
    self->unlinked--;
    (*s_unlinked_slot(self, stalled_key))--;
}

//  Undoes the links of a flow's stall marks: to its prober (it is stalled),
//  to its stalled peer (it is the prober).
static void s_unlink(tw_flow_table *self, uint32_t index)
{
    uint8_t state = self->hot[index].state;
    if (state & STATE_PEER_LINKED)
        s_clear_reverse(self, index, STATE_PEER_STALLED);
    else if (state & STATE_STALLED)
        s_unlinked_remove(self, &self->hot[index].key);
    if (state & STATE_PEER_STALLED) {
        s_clear_reverse(self, index, STATE_PEER_LINKED);
        tw_flow_index_key stalled_peer;
        s_reverse_key(&stalled_peer, &self->hot[index].key);
        s_unlinked_add(self, &stalled_peer);  // the stalled peer lost its prober
    }
    self->hot[index].state &= (uint8_t) ~(STATE_PEER_LINKED | STATE_PEER_STALLED);
}

//  Appends a flow's stall entry to the stalled list (it begins a stall).
static void s_stalled_append(tw_flow_table *self, uint32_t entry)
{
    s_stall *stall = &self->pool.entries[entry];
    stall->stalled_prev = self->stalled_tail;
    stall->stalled_next = NONE;
    if (self->stalled_tail != NONE)
        self->pool.entries[self->stalled_tail].stalled_next = entry;
    else
        self->stalled_head = entry;
    self->stalled_tail = entry;
}

static void s_stalled_remove(tw_flow_table *self, uint32_t entry)
{
    const s_stall *stall = &self->pool.entries[entry];
    if (stall->stalled_prev != NONE)
        self->pool.entries[stall->stalled_prev].stalled_next = stall->stalled_next;
    else
        self->stalled_head = stall->stalled_next;
    if (stall->stalled_next != NONE)
        self->pool.entries[stall->stalled_next].stalled_prev = stall->stalled_prev;
    else
        self->stalled_tail = stall->stalled_prev;
}

//  Ends the current stall of a flow at end_us. The total goes on from what
//  the last report counted of the stall (up to counted_until_us), even when
//  end_us is earlier (a flow ends at its last packet, a reopening may come
//  late), so the reported sum never goes down; the flow's own figure is
//  measured to end_us.
static void s_stall_end(tw_flow_table *self, uint32_t index, int64_t end_us)
{
    s_stall *stall = s_stall_of(self, index);
    int64_t took = tw_time_since(stall->start_us, end_us);
    stall->stall_us = tw_time_add(stall->stall_us, took);
    stall->end_us = end_us;
    int64_t counted_end_us = end_us > self->counted_until_us ? end_us : self->counted_until_us;
    self->totals.stall_us =
        tw_time_add(self->totals.stall_us, tw_time_since(stall->start_us, counted_end_us));
    if (self->hot[index].state & STATE_PEER_LINKED) {
        s_clear_reverse(self, index, STATE_PEER_STALLED);
        self->hot[index].state &= (uint8_t)~STATE_PEER_LINKED;
    } else {
        s_unlinked_remove(self, &self->hot[index].key);
    }
    self->hot[index].state &= (uint8_t)~STATE_STALLED;
    self->stalled--;
    self->stall_start_sum -= (uint64_t)stall->start_us;
    s_stalled_remove(self, self->cold[index].stall);
    s_refile(self, index);  // back to its own timeout
}

//  The bucket of a time: 2^20 us of flow clock, in the order of the times
//  (the sign bit flipped, so that times before 1970 come first).
static inline uint64_t s_bucket(int64_t us)
{
    return ((uint64_t)us ^ (UINT64_C(1) << 63)) >> BUCKET_SHIFT;
}

static void s_wheel_link(tw_flow_table *self, uint32_t index, uint32_t list)
{
    uint32_t head = self->wheel[list];
    self->cold[index].wheel_prev = LIST_HEAD | list;
    self->cold[index].wheel_next = head;
    if (head != NONE)
        self->cold[head].wheel_prev = index;
    self->wheel[list] = index;
}

//  Points the wheel neighbours of an entry that moved to index at it.
static void s_wheel_neighbours(tw_flow_table *self, uint32_t index, uint32_t prev, uint32_t next)
{
    if (prev == NONE)
        return;  // not filed yet (a new flow during its first packet)
    if (prev & LIST_HEAD)
        self->wheel[prev & ~LIST_HEAD] = index;
    else
        self->cold[prev].wheel_next = index;
    if (next != NONE)
        self->cold[next].wheel_prev = index;
}

//  Takes the flow out of its list; harmless on a flow not filed yet (a new
//  flow during its first packet: a packet from an address and port to
//  themselves is its own reverse).
static void s_wheel_unlink(tw_flow_table *self, uint32_t index)
{
    uint32_t prev = self->cold[index].wheel_prev, next = self->cold[index].wheel_next;
    if (prev == NONE)
        return;
    self->cold[index].wheel_prev = self->cold[index].wheel_next = NONE;
    if (prev & LIST_HEAD)
        self->wheel[prev & ~LIST_HEAD] = next;
    else
        self->cold[prev].wheel_next = next;
    if (next != NONE)
        self->cold[next].wheel_prev = prev;
}

//  The list of the wheel that a flow due at deadline_us is filed in (the
//  wheel started).
static inline uint32_t s_wheel_list(const tw_flow_table *self, int64_t deadline_us)
{
    uint64_t bucket = s_bucket(deadline_us);
    if (bucket < self->wheel_bucket)
        bucket = self->wheel_bucket;
    else if (bucket - self->wheel_bucket >= WHEEL_SLOTS)
        bucket = self->wheel_bucket + WHEEL_SLOTS - 1;
    return (uint32_t)(bucket & (WHEEL_SLOTS - 1));
}

//  Files a flow in the bucket of its deadline: never before the wheel's
//  time (it is then looked at by the next expiry), never more than
//  WHEEL_SLOTS buckets ahead (it is then looked at and filed again then).
static void s_file(tw_flow_table *self, uint32_t index, int64_t deadline_us)
{
    if (!self->wheel_started) {
        self->wheel_bucket = s_bucket(self->hot[index].last_us);
        self->wheel_started = true;
    }
    s_wheel_link(self, index, s_wheel_list(self, deadline_us));
}

//  How long the flow may be silent before it ends, in its state: a stalled
//  flow and its prober wait out the stall timeout whatever else they are;
//  then a flow of SYNs only (unanswered, or its handshake not finished), a
//  half-closed connection, and the rest.
static int64_t s_timeout(const tw_flow_table *self, uint32_t index)
{
    const s_hot *hot = &self->hot[index];
    const s_cold *cold = &self->cold[index];
    if (hot->state & (STATE_STALLED | STATE_PEER_STALLED))
        return self->stall_timeout_us;
    if (cold->syns < MAX_SYNS && cold->packets_high == 0 && cold->syns == hot->packets_low)
        return self->syn_timeout_us;
    if ((hot->state & STATE_FIN_SEEN) || (cold->flags & COLD_PEER_FIN))
        return self->half_closed_timeout_us;
    return self->config.idle_timeout_us;
}

//  The first time at which the flow may be over, if no packet comes: after
//  it, s_over_reason says so, except for a side blocked by its peer's
//  stall (looked up only when that time comes, see s_blocked_deadline).
static int64_t s_deadline(const tw_flow_table *self, uint32_t index)
{
    int64_t deadline = tw_time_add(self->hot[index].last_us, s_timeout(self, index));
    if (self->hot[index].state & STATE_CLOSING) {
        int64_t lingered = tw_time_add(self->cold[index].close_us, self->config.linger_us);
        deadline = lingered < deadline ? lingered : deadline;
    }
    return deadline;
}

//  Files the flow anew for its state: after a change that may shorten its
//  timeout (a FIN, a close, a stall's end). A change that lengthens it
//  needs nothing: the flow is looked at when its old deadline comes.
static void s_refile(tw_flow_table *self, uint32_t index)
{
    s_wheel_unlink(self, index);
    s_file(self, index, s_deadline(self, index));
}

//  Starts fetching the cold parts of a flow's wheel neighbours, which
//  unlinking it or moving it writes.
static void s_prefetch_neighbours(const tw_flow_table *self, uint32_t index)
{
    const s_cold *cold = &self->cold[index];
    if (cold->wheel_prev < self->count)  // neither NONE nor a list head
        __builtin_prefetch(&self->cold[cold->wheel_prev], 1);
    if (cold->wheel_next < self->count)
        __builtin_prefetch(&self->cold[cold->wheel_next], 1);
}

//  Starts fetching what removing the flow at index will touch, so that the
//  misses overlap (while its record is made and handed out) instead of
//  following one another: its index slot, its wheel neighbours, and the
//  last entry, which moves into its place.
static void s_prefetch_removal(const tw_flow_table *self, uint32_t index)
{
    tw_flow_index_prefetch(self->index, tw_flow_index_hash(&self->hot[index].key));
    s_prefetch_neighbours(self, index);
    __builtin_prefetch(&self->hot[self->count - 1], 1);
    __builtin_prefetch(&self->cold[self->count - 1], 1);
}

static void s_remove(tw_flow_table *self, uint32_t index)
{
    // The last entry's slot and neighbours, fetched while this one goes.
    uint32_t last = self->count - 1, last_tag = 0;
    if (index != last) {
        last_tag = tw_flow_index_hash(&self->hot[last].key);
        tw_flow_index_prefetch(self->index, last_tag);
        s_prefetch_neighbours(self, last);
    }
    if (self->hot[index].state & STATE_STALLED)
        s_stall_end(self, index, self->hot[index].last_us);  // a stall ends with its flow
    if (self->hot[index].state & (STATE_PEER_LINKED | STATE_PEER_STALLED))
        s_unlink(self, index);
    s_stall_free(self, index);
    s_wheel_unlink(self, index);
    // Every live entry is indexed, so neither call can fail.
    (void)tw_flow_index_remove(self->index, tw_flow_index_hash(&self->hot[index].key), index);
    self->count--;
    if (index != last) {
        (void)tw_flow_index_rename(self->index, last_tag, last, index);
        self->hot[index] = self->hot[last];
        self->cold[index] = self->cold[last];
        s_wheel_neighbours(self, index, self->cold[index].wheel_prev, self->cold[index].wheel_next);
        if (self->cold[index].stall != NONE)
            s_stall_of(self, index)->owner = index;
    }
}

static void s_fill_stall_figures(const tw_flow_table *self, uint32_t index, tw_flow_record *record)
{
    const s_stall none = {0}, *stall = &none;
    if (self->cold[index].stall != NONE)
        stall = s_stall_of(self, index);
    record->zero_window_adverts = stall->zero_window_adverts;
    record->stalls = stall->stalls;
    record->stalled = (self->hot[index].state & STATE_STALLED) != 0;
    record->stall_since_us = record->stalled ? stall->start_us : 0;
    record->stalled_us = 0;
    record->stall_us = stall->stall_us;
    if (record->stalled)
        record->stall_us =
            tw_time_add(record->stall_us, tw_time_since(stall->start_us, self->hot[index].last_us));
    record->window_probes = stall->window_probes;
    record->zero_length_probes = stall->zero_length_probes;
    record->probes_received = stall->probes_received;
    record->stall_probes = record->stalled ? stall->stall_probes : 0;
    record->window_reopenings = stall->window_reopenings;
}

static void s_fill_record(const tw_flow_table *self, uint32_t index, tw_end_reason reason,
                          tw_flow_record *record)
{
    const s_hot *hot = &self->hot[index];
    const s_cold *cold = &self->cold[index];
    s_public_key(&record->key, &hot->key);
    record->first_us = cold->first_us;
    record->last_us = hot->last_us;
    record->tcp_packets = (uint64_t)cold->packets_high << 32 | hot->packets_low;
    record->undershoot_packets = (uint64_t)cold->undershoots_high << 32 | hot->undershoots_low;
    record->episodes = cold->episodes;
    record->zero_window_us = cold->zero_window_us;
    record->episode_start_us = cold->episode_start_us;
    if (hot->state & STATE_IN_EPISODE)
        record->zero_window_us = tw_time_add(record->zero_window_us,
                                             tw_time_since(cold->episode_start_us, hot->last_us));
    record->min_window = hot->min_window;
    record->window_scale = cold->window_scale;
    record->end_reason = reason;
    record->window_scale_unknown = self->config.threshold_bytes && !cold->scale_known;
    s_fill_stall_figures(self, index, record);
}

static void s_end(tw_flow_table *self, uint32_t index, tw_end_reason reason)
{
    s_prefetch_removal(self, index);
    if (self->on_end) {
        tw_flow_record record;
        s_fill_record(self, index, reason, &record);
        self->on_end(&record, self->arg);
    }
    self->ended++;
    if (reason == TW_END_EVICTED)
        self->evicted++;
    s_remove(self, index);
}

//  When the last stall of the flow's peer ended (INT64_MIN if it had none):
//  a side facing a closed window has nothing to send but probes, so it is
//  not idle while its peer is stalled, and its idle time starts again when
//  the peer's window reopens. Looked up only for a flow found idle, not
//  marked, that was ever a prober: a flow live during any part of its
//  peer's stall was linked to it (at the stall's start, or at its own),
//  and one that began after the stall ended has its last packet after
//  that end, so the end cannot keep it alive.
static int64_t s_peer_stall_end(const tw_flow_table *self, uint32_t index)
{
    if (!(self->cold[index].flags & COLD_PROBER))
        return INT64_MIN;
    uint32_t reverse = s_find_reverse(self, &self->hot[index].key);
    if (reverse == NONE || self->cold[reverse].stall == NONE ||
        s_stall_of(self, reverse)->stalls == 0)
        return INT64_MIN;
    return s_stall_of(self, reverse)->end_us;
}

//  Why the flow is over at now_us, or 0 while it lives. Differences of
//  times saturate: exact, the timeouts being positive, since a bound
//  clamped to INT64_MIN has nothing before it.
static tw_end_reason s_over_reason(const tw_flow_table *self, uint32_t index, int64_t now_us)
{
    const s_hot *hot = &self->hot[index];
    if ((hot->state & STATE_CLOSING) &&
        self->cold[index].close_us < tw_time_sub(now_us, self->config.linger_us))
        return (hot->state & STATE_BY_RST) ? TW_END_RST : TW_END_FIN;
    int64_t idle_before_us = tw_time_sub(now_us, s_timeout(self, index));
    if (hot->last_us >= idle_before_us)
        return 0;
    if (hot->state & (STATE_STALLED | STATE_PEER_STALLED))
        return TW_END_IDLE;
    return s_peer_stall_end(self, index) >= idle_before_us ? 0 : TW_END_IDLE;
}

//  Makes room for one more flow. The entry arrays are reserved up to
//  max_flows (pages are touched as flows arrive), and the index grows a few
//  slots per insert, so no insert copies a whole table: a copy at millions
//  of flows stopped the packet path for up to 263 ms (bench/RESULTS.md).
static int s_grow(tw_flow_table *self)
{
    return tw_flow_index_grow_step(self->index, (size_t)self->count + 1);
}

//  Ends the least recently seen of a few entries after the cursor: cheap, and
//  close enough to LRU without paying a list update on every packet.
static void s_evict_one(tw_flow_table *self)
{
    uint32_t victim = self->evict_cursor % self->count;
    for (uint32_t k = 1; k < EVICT_SAMPLES && k < self->count; k++) {
        uint32_t i = (self->evict_cursor + k) % self->count;
        if (self->hot[i].last_us < self->hot[victim].last_us)
            victim = i;
    }
    self->evict_cursor += EVICT_SAMPLES;
    s_end(self, victim, TW_END_EVICTED);
}

//  Marks index as the prober of its reverse flow and the reverse as linked.
static void s_link(tw_flow_table *self, uint32_t stalled, uint32_t prober)
{
    self->hot[prober].state |= STATE_PEER_STALLED;
    self->cold[prober].flags |= COLD_PROBER;
    self->hot[stalled].state |= STATE_PEER_LINKED;
    s_unlinked_remove(self, &self->hot[stalled].key);
}

//  Whether the reverse of the packet's key may be an unlinked stall (the
//  filter: no false negative, few false positives).
static bool s_may_probe_an_unlinked_stall(tw_flow_table *self, s_lookup *lookup)
{
    return *s_unlinked_slot_of_tag(self, s_reverse_tag(lookup)) != 0;
}

//  A new flow whose reverse is an unlinked stall becomes its prober.
static void s_link_from_prober(tw_flow_table *self, uint32_t index)
{
    uint32_t reverse = s_find_reverse(self, &self->hot[index].key);
    if (reverse != NONE &&
        (self->hot[reverse].state & (STATE_STALLED | STATE_PEER_LINKED)) == STATE_STALLED)
        s_link(self, reverse, index);
}

//  A stalled flow without a prober looks for it.
static void s_link_to_prober(tw_flow_table *self, uint32_t index)
{
    uint32_t reverse = s_find_reverse(self, &self->hot[index].key);
    if (reverse != NONE)
        s_link(self, index, reverse);
}

static uint32_t s_insert(tw_flow_table *self, s_lookup *lookup, int64_t ts_us)
{
    const tw_flow_index_key *key = &lookup->key;
    if (self->count == self->config.max_flows)
        s_evict_one(self);
    else if (s_grow(self) != 0) {
        self->untracked++;  // the packet is lost to the analysis: say so
        return NONE;
    }
    uint32_t index = self->count;
    if (tw_flow_index_insert(self->index, lookup->tag, index) != 0) {
        self->untracked++;  // cannot happen: the index has room for capacity entries
        return NONE;
    }
    self->count++;
    self->hot[index] = (s_hot){
        .key = *key,
        .last_us = ts_us,
        .min_window = UINT16_MAX,
    };
    self->cold[index] = (s_cold){
        .first_us = ts_us,
        .stall = NONE,
        .window_scale = -1,
    };
    // Not filed yet: s_packet files it once its first packet gave it a
    // state (nothing between here and there touches the wheel's links).
    self->cold[index].wheel_prev = self->cold[index].wheel_next = NONE;
    if (self->unlinked > 0 && s_may_probe_an_unlinked_stall(self, lookup))
        s_link_from_prober(self, index);
    return index;
}

//  The shift is 0 unless the threshold is in bytes and scaling is in force.
static bool s_is_undershoot(const tw_flow_table *self, const s_hot *flow, const tw_packet *packet)
{
    // A SYN's own window is never scaled (RFC 7323).
    uint32_t shift = (packet->flags & TW_TCP_SYN) ? 0 : flow->shift;
    return ((uint64_t)packet->window << shift) < self->config.threshold;
}

//  A packet of a flow whose reverse is stalled: a probe of either kind is
//  counted on both flows. Returns true for a 1-byte probe (Wireshark's
//  zero_window_probe), which does not advance the next sequence number.
static bool s_probe(tw_flow_table *self, uint32_t index, const tw_packet *packet)
{
    uint32_t stalled = s_find_reverse(self, &self->hot[index].key);
    if (stalled == NONE)
        return false;  // cannot be: the marks are undone when a flow ends
    const s_stall *peer = s_stall_of(self, stalled);
    bool window_probe =
        packet->payload_len == 1 && packet->seq == self->hot[index].next_seq && peer->window == 0;
    bool zero_length = packet->payload_len == 0 && !(packet->flags & CONTROL_FLAGS) &&
                       packet->seq == peer->ack - 1;
    if (!window_probe && !zero_length)
        return false;
    self->totals.probes++;
    s_stall_of(self, stalled)->probes_received++;
    s_stall_of(self, stalled)->stall_probes++;
    if (s_stall_entry(self, index) == NONE)
        return window_probe;                   // the prober's share is lost, and counted untracked
    s_stall *stall = s_stall_of(self, index);  // after the pool may have moved
    stall->window_probes += window_probe;
    stall->zero_length_probes += zero_length;
    return window_probe;
}

//  Wireshark's nextseq: the highest seq + length (+1 for SYN or FIN) sent;
//  0 is unknown, and a 1-byte probe does not advance it.
static inline void s_advance_seq(s_hot *flow, const tw_packet *packet)
{
    uint32_t next =
        packet->seq + packet->payload_len + ((packet->flags & (TW_TCP_SYN | TW_TCP_FIN)) != 0);
    if ((int32_t)(next - flow->next_seq) > 0 || flow->next_seq == 0)
        flow->next_seq = next;
}

//  The stall figures of a packet that advertises a zero or small window, or
//  of a stalled flow: rare, so kept off the common path.
static void s_stall_step(tw_flow_table *self, uint32_t index, const tw_packet *packet,
                         bool undershoot, int64_t ts_us)
{
    s_hot *flow = &self->hot[index];
    bool control = packet->flags & CONTROL_FLAGS;
    bool zero_window = packet->window == 0 && !control;
    bool begins = undershoot && !control && !(flow->state & STATE_STALLED);
    if (!zero_window && !begins && !(flow->state & STATE_STALLED))
        return;  // a prober's packet, or a SYN/FIN/RST below the threshold
    if (s_stall_entry(self, index) == NONE)
        return;  // counted untracked; a stalled flow has its entry already
    s_stall *stall = s_stall_of(self, index);
    if (zero_window) {
        stall->zero_window_adverts++;
        self->totals.zero_window_adverts++;
    }
    // Only data or a pure ACK reopens, as a stall only begins on one (and
    // Wireshark's window update is neither SYN, FIN nor RST): a closing
    // packet leaves the stall to end with its flow.
    if ((flow->state & STATE_STALLED) && !undershoot && !control) {
        stall->window_reopenings++;
        self->totals.window_reopenings++;
        s_stall_end(self, index, ts_us);
        return;
    }
    if (begins) {
        flow->state |= STATE_STALLED;
        stall->stalls++;
        stall->start_us = ts_us;
        stall->stall_probes = 0;
        s_stalled_append(self, self->cold[index].stall);
        self->totals.stalls++;
        self->stalled++;
        self->stall_start_sum += (uint64_t)ts_us;
        s_unlinked_add(self, &flow->key);
    }
    if (!(flow->state & STATE_STALLED))
        return;  // --threshold 0: zero windows are counted, nothing stalls
    stall->window = packet->window;
    stall->ack = packet->ack;
    if (!(flow->state & STATE_PEER_LINKED))
        s_link_to_prober(self, index);
}

//  A packet older than the flow's last one counts at the flow's last time:
//  the flow's time never goes back, so no duration is negative.
static void s_count(tw_flow_table *self, uint32_t index, const tw_packet *packet, int64_t ts_us)
{
    s_hot *flow = &self->hot[index];
    ts_us = ts_us > flow->last_us ? ts_us : flow->last_us;
    flow->last_us = ts_us;
    if (++flow->packets_low == 0)
        self->cold[index].packets_high++;
    flow->min_window = packet->window < flow->min_window ? packet->window : flow->min_window;
    bool undershoot = s_is_undershoot(self, flow, packet);
    if (undershoot) {
        if (++flow->undershoots_low == 0)
            self->cold[index].undershoots_high++;
        if (!(flow->state & STATE_IN_EPISODE)) {
            flow->state |= STATE_IN_EPISODE;
            self->cold[index].episodes++;
            self->cold[index].episode_start_us = ts_us;
        }
    } else if (flow->state & STATE_IN_EPISODE) {
        flow->state &= ~STATE_IN_EPISODE;
        s_cold *cold = &self->cold[index];
        cold->zero_window_us =
            tw_time_add(cold->zero_window_us, tw_time_since(cold->episode_start_us, ts_us));
    }
    // One test for the rare packets: an undershoot or a zero window (which
    // is one unless the threshold is 0), a stalled flow or its prober.
    if (__builtin_expect(undershoot || packet->window == 0 ||
                             (flow->state & (STATE_STALLED | STATE_PEER_STALLED)),
                         0)) {
        bool window_probe = (flow->state & STATE_PEER_STALLED) && s_probe(self, index, packet);
        if (!window_probe)
            s_advance_seq(flow, packet);
        s_stall_step(self, index, packet, undershoot, ts_us);
        return;
    }
    s_advance_seq(flow, packet);
}

//  Returns true when the flow was not closing yet.
static bool s_start_closing(tw_flow_table *self, uint32_t index, int64_t ts_us, uint8_t how)
{
    if (self->hot[index].state & STATE_CLOSING)
        return false;
    self->hot[index].state |= STATE_CLOSING | how;
    self->cold[index].close_us = ts_us;
    return true;
}

static uint8_t s_shift_of(int8_t window_scale)
{
    return (uint8_t)(window_scale > MAX_SHIFT ? MAX_SHIFT : window_scale);
}

//  Window scaling is in force only when both SYNs carried the option; the
//  shift each side announced then applies to that side's windows.
static void s_on_syn(tw_flow_table *self, uint32_t index, uint32_t reverse, const tw_packet *packet)
{
    self->hot[index].state |= STATE_SYN_SEEN;
    self->cold[index].syns += self->cold[index].syns < MAX_SYNS;
    self->cold[index].window_scale = packet->window_scale;
    if (!self->config.threshold_bytes || reverse == NONE ||
        !(self->hot[reverse].state & STATE_SYN_SEEN))
        return;
    self->cold[index].scale_known = self->cold[reverse].scale_known = true;
    int8_t ours = self->cold[index].window_scale, theirs = self->cold[reverse].window_scale;
    bool scaled = ours >= 0 && theirs >= 0;
    self->hot[index].shift = scaled ? s_shift_of(ours) : 0;
    self->hot[reverse].shift = scaled ? s_shift_of(theirs) : 0;
}

//  A SYN, FIN or RST. Returns true when the flow's timeout may be shorter
//  now (a first FIN, a close); the reverse flow is filed again here if its
//  own may be.
static bool s_on_control(tw_flow_table *self, uint32_t index, const tw_packet *packet,
                         const s_lookup *lookup, int64_t ts_us)
{
    tw_flow_index_key key;
    s_reverse_key(&key, &self->hot[index].key);
    uint32_t reverse = s_find_guessed(self, &key, lookup->reverse_tag, lookup->reverse_guess);
    bool shorter = false, reverse_shorter = false;
    if (packet->flags & TW_TCP_SYN)
        s_on_syn(self, index, reverse, packet);
    if (packet->flags & TW_TCP_RST) {
        shorter = s_start_closing(self, index, ts_us, STATE_BY_RST);
        if (reverse != NONE)
            reverse_shorter = s_start_closing(self, reverse, ts_us, STATE_BY_RST);
    }
    if (packet->flags & TW_TCP_FIN) {
        shorter |= !(self->hot[index].state & STATE_FIN_SEEN);
        self->hot[index].state |= STATE_FIN_SEEN;
        if (reverse != NONE) {
            reverse_shorter |= !(self->cold[reverse].flags & COLD_PEER_FIN);
            self->cold[reverse].flags |= COLD_PEER_FIN;
            if (self->hot[reverse].state & STATE_FIN_SEEN) {
                shorter |= s_start_closing(self, index, ts_us, 0);
                reverse_shorter |= s_start_closing(self, reverse, ts_us, 0);
            }
        }
    }
    if (reverse_shorter)
        s_refile(self, reverse);
    return shorter;
}

//  Ends a flow that is over; a closed connection ends both directions together.
static void s_end_connection(tw_flow_table *self, uint32_t index, tw_end_reason reason)
{
    tw_flow_index_key key = self->hot[index].key;
    bool closing = self->hot[index].state & STATE_CLOSING;
    s_end(self, index, reason);
    if (!closing)
        return;
    uint32_t r = s_find_reverse(self, &key);
    if (r != NONE && (self->hot[r].state & STATE_CLOSING))
        s_end(self, r, reason);
}

//  A packet whose flow is not (or no longer) live at `index`: ends the flow
//  if it is over and starts a new one (*fresh). Returns its index, or NONE
//  when out of memory.
static uint32_t s_live_flow(tw_flow_table *self, s_lookup *lookup, uint32_t index, int64_t ts_us,
                            bool *fresh)
{
    if (index != NONE) {
        // The common case without the cold part: seen within every timeout.
        const s_hot *hot = &self->hot[index];
        if (!(hot->state & STATE_CLOSING) &&
            hot->last_us >= tw_time_sub(ts_us, self->min_timeout_us))
            return index;
        tw_end_reason reason = s_over_reason(self, index, ts_us);
        if (!reason)
            return index;
        s_end_connection(self, index, reason);
    }
    *fresh = true;
    return s_insert(self, lookup, ts_us);
}

//  One packet, once the batch has prepared its lookup.
static inline int s_packet(tw_flow_table *self, const tw_packet *packet, s_lookup *lookup,
                           int64_t ts_us)
{
    uint32_t index = s_find_guessed(self, &lookup->key, lookup->tag, lookup->guess);
    bool fresh = false;
    index = s_live_flow(self, lookup, index, ts_us, &fresh);
    if (index == NONE)
        return -ENOMEM;
    s_count(self, index, packet, ts_us);
    bool shorter = (packet->flags & CONTROL_FLAGS) &&
                   s_on_control(self, index, packet, lookup, self->hot[index].last_us);
    // A new flow is filed for its state; a first FIN or a close may shorten
    // it. Other packets only make the deadline later: the wheel finds that
    // out when the old one comes (see the top).
    if (fresh || shorter)
        s_refile(self, index);
    return 0;
}

int tw_flow_table_packet(tw_flow_table *self, const tw_packet *packet, int64_t ts_us)
{
    return tw_flow_table_packets(self, packet, &ts_us, 1);
}

//  A guess at the entry of the key with this tag (see flow_index.h), whose
//  hot part starts coming into the cache.
static inline uint32_t s_guess_entry(const tw_flow_table *self, uint32_t tag)
{
    uint32_t guess = tw_flow_index_guess(self->index, tag);
    __builtin_prefetch(&self->hot[guess < self->capacity ? guess : 0], 1);
    return guess;
}

static inline void s_prefetch_cold(const tw_flow_table *self, uint32_t entry)
{
    if (entry < self->capacity)
        __builtin_prefetch(&self->cold[entry], 1);
}

//  Starts fetching the unlinked-stall filter's counter that a new flow of
//  this key reads (s_insert): the filter is small, but the table's other
//  misses keep evicting it from the near caches.
static inline void s_prefetch_filter(const tw_flow_table *self, s_lookup *lookup)
{
    __builtin_prefetch(&self->unlinked_by_hash[s_reverse_tag(lookup) & (UNLINKED_SLOTS - 1)]);
}

//  Starts fetching the cold part of the flow at the head of the wheel list
//  that a new flow of this packet would be filed in (for its usual
//  states: a SYN, or the idle timeout), which filing it writes.
static inline void s_prefetch_list_head(const tw_flow_table *self, const tw_packet *packet,
                                        int64_t ts_us)
{
    int64_t timeout =
        (packet->flags & TW_TCP_SYN) ? self->syn_timeout_us : self->config.idle_timeout_us;
    s_prefetch_cold(self, self->wheel[s_wheel_list(self, tw_time_add(ts_us, timeout))]);
}

//  Hashes a batch of at most TW_FLOW_BATCH packets, warms the cache for
//  their slots, then for the entries the slots name, then processes the
//  packets in order. Control packets (a few in a hundred) also need the
//  reverse direction's entry: they are listed apart so that the other
//  packets take no branch for them.
static int s_batch(tw_flow_table *self, const tw_packet *packets, const int64_t *ts_us, size_t n)
{
    s_lookup lookups[TW_FLOW_BATCH];
    uint8_t control[TW_FLOW_BATCH];  // indices of the control packets
    size_t n_control = 0;
    for (size_t i = 0; i < n; i++) {
        lookups[i].tag = s_make_key(&lookups[i].key, &packets[i]);
        lookups[i].reverse_guess = NONE;
        lookups[i].reverse_tagged = false;
        tw_flow_index_prefetch(self->index, lookups[i].tag);
        control[n_control] = (uint8_t)i;
        n_control += (packets[i].flags & CONTROL_FLAGS) != 0;
    }
    for (size_t k = 0; k < n_control; k++) {
        tw_flow_index_prefetch(self->index, s_reverse_tag(&lookups[control[k]]));
    }
    for (size_t i = 0; i < n; i++)
        lookups[i].guess = s_guess_entry(self, lookups[i].tag);
    // A packet without a guess most likely starts a flow, which is filed
    // at the head of a wheel list: that head's cold part is written.
    if (self->wheel_started)
        for (size_t i = 0; i < n; i++)
            if (lookups[i].guess == NONE) {
                s_prefetch_list_head(self, &packets[i], ts_us[i]);
                if (self->unlinked > 0)
                    s_prefetch_filter(self, &lookups[i]);
            }
    // The cold parts that a control packet will touch.
    for (size_t k = 0; k < n_control; k++) {
        s_lookup *lookup = &lookups[control[k]];
        lookup->reverse_guess = s_guess_entry(self, lookup->reverse_tag);
        s_prefetch_cold(self, lookup->guess);
        s_prefetch_cold(self, lookup->reverse_guess);
    }
    // A FIN or RST files both directions again (s_refile): unlinking them
    // writes their wheel neighbours, known once their cold parts are here.
    for (size_t k = 0; k < n_control; k++) {
        const s_lookup *lookup = &lookups[control[k]];
        if (!(packets[control[k]].flags & (TW_TCP_FIN | TW_TCP_RST)))
            continue;
        if (lookup->guess < self->count)
            s_prefetch_neighbours(self, lookup->guess);
        if (lookup->reverse_guess < self->count)
            s_prefetch_neighbours(self, lookup->reverse_guess);
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (s_packet(self, &packets[i], &lookups[i], ts_us[i]) != 0)
            rc = -ENOMEM;
    return rc;
}

int tw_flow_table_packets(tw_flow_table *self, const tw_packet *packets, const int64_t *ts_us,
                          size_t n)
{
    int rc = 0;
    for (size_t done = 0; done < n; done += TW_FLOW_BATCH) {
        size_t m = n - done < TW_FLOW_BATCH ? n - done : TW_FLOW_BATCH;
        if (s_batch(self, packets + done, ts_us + done, m) != 0)
            rc = -ENOMEM;
    }
    return rc;
}

//  Looks at a flow whose bucket has come (up to bucket `last`, now_us's):
//  ends it if it is over, else files it for its deadline, in WHEEL_KEPT if
//  that is not past the walk.
static void s_expire_one(tw_flow_table *self, uint32_t index, int64_t now_us, uint64_t last)
{
    self->expiry_checks++;
    tw_end_reason reason = s_over_reason(self, index, now_us);
    if (reason) {
        s_end_connection(self, index, reason);
        return;
    }
    s_wheel_unlink(self, index);
    int64_t deadline = s_deadline(self, index);
    if (deadline < now_us) {  // blocked by its peer's stall until recently
        int64_t unblocked = tw_time_add(s_peer_stall_end(self, index), s_timeout(self, index));
        deadline = unblocked > deadline ? unblocked : deadline;
    }
    if (s_bucket(deadline) <= last)
        s_wheel_link(self, index, WHEEL_KEPT);
    else
        s_file(self, index, deadline);
}

//  Walks the buckets from the wheel's time to now_us's (each slot at most
//  once), then leaves the flows due later in that bucket in its slot.
void tw_flow_table_expire(tw_flow_table *self, int64_t now_us)
{
    if (!self->wheel_started)
        return;  // no flow yet
    uint64_t last = s_bucket(now_us);
    if (last < self->wheel_bucket)
        last = self->wheel_bucket;  // the clock stepped back: the flows due then only
    if (last - self->wheel_bucket >= WHEEL_SLOTS)
        self->wheel_bucket = last - (WHEEL_SLOTS - 1);  // every slot, once
    for (;; self->wheel_bucket++) {
        uint32_t slot = (uint32_t)(self->wheel_bucket & (WHEEL_SLOTS - 1));
        while (self->wheel[slot] != NONE) {
            // The list is a chain of cache misses: the next flow comes
            // into the cache while this one is looked at (and maybe ended).
            uint32_t next = self->cold[self->wheel[slot]].wheel_next;
            if (next != NONE) {
                __builtin_prefetch(&self->hot[next], 1);
                __builtin_prefetch(&self->cold[next], 1);
            }
            s_expire_one(self, self->wheel[slot], now_us, last);
        }
        if (self->wheel_bucket == last)
            break;
    }
    uint32_t slot = (uint32_t)(last & (WHEEL_SLOTS - 1));
    while (self->wheel[WHEEL_KEPT] != NONE) {
        uint32_t index = self->wheel[WHEEL_KEPT];
        s_wheel_unlink(self, index);
        s_wheel_link(self, index, slot);
    }
}

void tw_flow_table_end_all(tw_flow_table *self, tw_end_reason reason)
{
    while (self->count > 0)
        s_end(self, self->count - 1, reason);
}

//  The count is kept as flows enter and leave stalls, so the walk stops
//  once it has listed what fits. The time of every stall so far is
//  stalled * now - (sum of their starts): each term is at least 0 (a flow's
//  time is before the report's), so the exact sum fits in 64 bits however
//  the starts' sum wrapped; only a capture clock stepping back into an
//  interval its flows already passed (analyzer.h) could make it short, and
//  then it is at least 0.
size_t tw_flow_table_stalled(tw_flow_table *self, int64_t now_us, tw_flow_record *out, size_t max,
                             int64_t *stall_us_now)
{
    self->counted_until_us = now_us;
    size_t listed = 0;
    for (uint32_t entry = self->stalled_head; entry != NONE && listed < max;
         entry = self->pool.entries[entry].stalled_next) {
        uint32_t i = self->pool.entries[entry].owner;
        s_fill_record(self, i, TW_END_NONE, &out[listed]);
        out[listed++].stalled_us = tw_time_since(s_stall_of(self, i)->start_us, now_us);
    }
    if (stall_us_now) {
        uint64_t total = (uint64_t)self->stalled * (uint64_t)now_us - self->stall_start_sum;
        *stall_us_now = total > (uint64_t)INT64_MAX ? 0 : (int64_t)total;
    }
    return self->stalled;
}

tw_flow_counters tw_flow_table_counters(const tw_flow_table *self)
{
    tw_flow_counters counters = self->totals;
    counters.active = self->count;
    counters.ended = self->ended;
    counters.evicted = self->evicted;
    counters.untracked = self->untracked;
    counters.stalled_now = self->stalled;
    counters.expiry_checks = self->expiry_checks;
    return counters;
}

//  A stall is linked to its prober exactly when the prober is marked.
static int s_check_links(const tw_flow_table *self, uint32_t index)
{
    uint8_t state = self->hot[index].state;
    if ((state & STATE_PEER_LINKED) && !(state & STATE_STALLED))
        return -EINVAL;
    if ((state & STATE_STALLED) && self->cold[index].stall == NONE)
        return -EINVAL;
    if (!(state & (STATE_PEER_LINKED | STATE_PEER_STALLED)))
        return 0;
    uint32_t reverse = s_find_reverse(self, &self->hot[index].key);
    if (reverse == NONE)
        return -EINVAL;
    uint8_t other = self->hot[reverse].state;
    if (!(state & STATE_PEER_LINKED) != !(other & STATE_PEER_STALLED))
        return -EINVAL;
    if (!(state & STATE_PEER_STALLED) != !(other & STATE_PEER_LINKED))
        return -EINVAL;
    return 0;
}

//  Every live flow is in exactly one wheel list, linked both ways.
static int s_check_wheel(const tw_flow_table *self)
{
    uint64_t linked = 0;
    for (uint32_t list = 0; list <= WHEEL_SLOTS; list++) {
        uint32_t prev = LIST_HEAD | list;
        for (uint32_t i = self->wheel[list]; i != NONE; i = self->cold[i].wheel_next) {
            if (i >= self->count || self->cold[i].wheel_prev != prev || ++linked > self->count)
                return -EINVAL;
            prev = i;
        }
    }
    return linked == self->count && self->wheel[WHEEL_KEPT] == NONE ? 0 : -EINVAL;
}

//  The stalled list holds exactly the stalled flows, each through its own
//  stall entry.
static int s_check_stalled_list(const tw_flow_table *self)
{
    uint32_t listed = 0, prev = NONE;
    for (uint32_t e = self->stalled_head; e != NONE; e = self->pool.entries[e].stalled_next) {
        const s_stall *stall = &self->pool.entries[e];
        if (stall->stalled_prev != prev || stall->owner >= self->count ||
            self->cold[stall->owner].stall != e ||
            !(self->hot[stall->owner].state & STATE_STALLED) || ++listed > self->stalled)
            return -EINVAL;
        prev = e;
    }
    return listed == self->stalled && self->stalled_tail == prev ? 0 : -EINVAL;
}

//  With the index's own check (count slots, each naming a live entry, no
//  holes), finding every entry at itself means each slot names a distinct
//  entry under its key's tag.
int tw_flow_table_check(const tw_flow_table *self)
{
    if (s_check_wheel(self) != 0 || s_check_stalled_list(self) != 0)
        return -EINVAL;
    if (tw_flow_index_check(self->index, self->count) != 0)
        return -EINVAL;
    uint32_t stalled = 0, unlinked = 0;
    for (uint32_t i = 0; i < self->count; i++) {
        uint8_t state = self->hot[i].state;
        stalled += (state & STATE_STALLED) != 0;
        bool is_unlinked = (state & (STATE_STALLED | STATE_PEER_LINKED)) == STATE_STALLED;
        unlinked += is_unlinked;
        uint32_t slot = tw_flow_index_hash(&self->hot[i].key) & (UNLINKED_SLOTS - 1);
        if (is_unlinked && self->unlinked_by_hash[slot] == 0)
            return -EINVAL;  // the filter would hide this stall from its prober
        if (s_check_links(self, i) != 0)
            return -EINVAL;
    }
    if (stalled != self->stalled || unlinked != self->unlinked)
        return -EINVAL;
    uint64_t in_filter = 0;
    for (uint32_t k = 0; k < UNLINKED_SLOTS; k++)
        in_filter += self->unlinked_by_hash[k];
    if (in_filter != unlinked)
        return -EINVAL;
    for (uint32_t i = 0; i < self->count; i++)
        if (s_find(self, &self->hot[i].key, tw_flow_index_hash(&self->hot[i].key)) != i)
            return -EINVAL;  // a duplicate key, or a slot that names another entry
    return 0;
}

static int64_t s_capped(int64_t timeout_us, int64_t idle_timeout_us)
{
    return timeout_us == 0 || timeout_us > idle_timeout_us ? idle_timeout_us : timeout_us;
}

static void s_set_timeouts(tw_flow_table *self)
{
    const tw_flow_config *config = &self->config;
    self->syn_timeout_us = s_capped(config->syn_timeout_us, config->idle_timeout_us);
    self->half_closed_timeout_us =
        s_capped(config->half_closed_timeout_us, config->idle_timeout_us);
    self->stall_timeout_us = config->stall_timeout_us > config->idle_timeout_us
                                 ? config->stall_timeout_us
                                 : config->idle_timeout_us;
    self->min_timeout_us = self->syn_timeout_us < self->half_closed_timeout_us
                               ? self->syn_timeout_us
                               : self->half_closed_timeout_us;
}

tw_flow_table *tw_flow_table_new(const tw_flow_config *config, tw_flow_end_fn *on_end, void *arg)
{
    if (config->max_flows == 0 || config->max_flows >= LIST_HEAD || config->idle_timeout_us < 0 ||
        config->stall_timeout_us < 0 || config->linger_us < 0 || config->syn_timeout_us < 0 ||
        config->half_closed_timeout_us < 0)
        return NULL;
    tw_flow_table *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->pool.free_head = NONE;
    self->counted_until_us = INT64_MIN;  // nothing counted yet
    self->stalled_head = self->stalled_tail = NONE;
    memset(self->wheel, 0xff, sizeof self->wheel);  // every list empty (NONE)
    s_set_timeouts(self);
    self->on_end = on_end;
    self->arg = arg;
    self->capacity = (uint32_t)config->max_flows;
    self->hot = tw_huge_reserve(sizeof *self->hot * self->capacity);
    self->cold = tw_huge_reserve(sizeof *self->cold * self->capacity);
    self->index = tw_flow_index_new(config->max_flows < FIRST_ENTRIES ? (uint32_t)config->max_flows
                                                                      : FIRST_ENTRIES);
    if (!self->hot || !self->cold || !self->index)
        tw_flow_table_destroy(&self);
    else
        tw_flow_index_set_limit(self->index, config->max_flows);
    return self;
}

void tw_flow_table_destroy(tw_flow_table **self)
{
    if (!*self)
        return;
    tw_huge_release((*self)->hot, sizeof *(*self)->hot * (*self)->capacity);
    tw_huge_release((*self)->cold, sizeof *(*self)->cold * (*self)->capacity);
    free((*self)->pool.entries);
    tw_flow_index_destroy(&(*self)->index);
    free(*self);
    *self = NULL;
}
