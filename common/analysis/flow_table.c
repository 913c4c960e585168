/*  flow_table: one-directional TCP flows.

    Design. Flows live in dense arrays (entries [0..count)), so sweeps for
    idle flows and stalled flows walk contiguous memory and the resident size
    follows the number of live flows, not the bound. Each flow is split into
    a hot part of exactly one cache line (key, last packet time, counters,
    state) that every packet reads and writes, and a cold part (start time,
    episode timing, close time, window scale) touched only on a flow's first
    packet, on episode changes, on control packets and when it ends. With 50k
    connections picked at random per packet, a lookup is a cache miss, and
    this way it is one miss, not several.

    The index is open addressing with linear probing over 8-byte slots that
    hold (32-bit hash tag, entry index + 1), 0 meaning empty, kept at most
    half full. A lookup reads a slot cache line and compares the tag there,
    so it touches only the entry whose tag matches (other keys in the same
    run of slots cost nothing). A slot's home is its tag's low bits, so
    removal by backward shift needs no entry reads. Removing a flow moves the
    last entry into its place (one slot update), which keeps the arrays dense
    without a free list.

    Batches. tw_flow_table_packets() hashes a batch of packets and prefetches
    their slots, then prefetches the entries those slots name, then processes
    the packets in order with ordinary lookups. The prefetches only warm the
    cache: entries that move or end while the batch is processed cost a miss,
    never a wrong answer.

    Time only comes from the caller, so the table is deterministic and a test
    can drive hours of traffic in microseconds.
*/
#include "flow_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NONE          UINT32_MAX
#define EVICT_SAMPLES 8
#define MAX_SHIFT     14  // RFC 7323: larger window scale values are treated as 14
#define CACHE_LINE    64
#define HUGE_PAGE     ((size_t)2 << 20)
#define FIRST_ENTRIES 1024
#define MAX_SLOTS     ((uint64_t)1 << 32)  // a home is a 32-bit tag's low bits
#define CONTROL_FLAGS (TW_TCP_SYN | TW_TCP_FIN | TW_TCP_RST)

_Static_assert(TW_FLOW_BATCH >= 1 && TW_FLOW_BATCH <= 256, "a batch index fits in a byte");

enum {
    STATE_SYN_SEEN = 0x01,
    STATE_FIN_SEEN = 0x02,
    STATE_CLOSING = 0x04,     // connection closed, lingering since close_us
    STATE_BY_RST = 0x08,      // ... and the close was a RST
    STATE_IN_EPISODE = 0x10,  // the last packet was an undershoot
};

//  The flow key as five words, compared and hashed a word at a time.
typedef struct {
    uint64_t addresses[4];  // source then destination, 16 bytes each
    uint32_t ports;         // source and destination port, as in the packet
    uint32_t ip_version;
} s_key;

_Static_assert(offsetof(tw_packet, dst_port) == offsetof(tw_packet, src_port) + 2 &&
                   offsetof(tw_flow_key, dst_port) == offsetof(tw_flow_key, src_port) + 2,
               "both ports are copied as one 32-bit word");

//  What every packet of the flow reads or writes: one cache line.
typedef struct {
    s_key key;
    int64_t last_us;
    uint64_t tcp_packets;
    uint32_t undershoots_low;  // the carries out of it are in the cold part
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
    int8_t window_scale;  // from this side's SYN, -1 when unseen
} s_cold;

struct tw_flow_table {
    tw_flow_config config;
    tw_flow_end_fn *on_end;
    void *arg;
    s_hot *hot;  // live flows, dense; hot[i] and cold[i] are one flow
    s_cold *cold;
    uint32_t count;      // live flows
    uint32_t capacity;   // allocated entries (<= config.max_flows)
    uint64_t *slots;     // the index: tag << 32 | (entry + 1), 0 when empty
    uint32_t slot_mask;  // slot count - 1 (a power of two, >= 2 * capacity up to 2^32)
    uint32_t evict_cursor;
    uint32_t stalled;  // live flows in an episode (STATE_IN_EPISODE)
    uint64_t ended;
    uint64_t untracked;  // packets not counted: the table could not grow
    uint64_t evicted;
};

//  Arrays of a few MB are read at random on every packet: aligned to a huge
//  page and advised to use huge pages, they cost one TLB entry per 2 MB
//  instead of one per 4 KB (the flow table alone ran 4 % faster on the
//  benchmark's capture, in a virtual machine).
static void *s_alloc(size_t bytes)
{
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : CACHE_LINE;
    void *p;
    if (posix_memalign(&p, align, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    // Only a hint: where it fails, lookups are slower, not wrong.
    if (align == HUGE_PAGE)
        (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

//  64x64->128-bit multiply folded to 64 bits (the wyhash mixer): one
//  multiply spreads every input bit over the whole result.
static inline uint64_t s_mix(uint64_t a, uint64_t b)
{
    unsigned __int128 product = (unsigned __int128)a * b;
    return (uint64_t)product ^ (uint64_t)(product >> 64);
}

static inline uint64_t s_rotate(uint64_t x)
{
    return x << 32 | x >> 32;
}

static inline uint64_t s_ports_version(const s_key *key)
{
    return (uint64_t)key->ports | (uint64_t)key->ip_version << 32;
}

//  The tag of a key given as its five words: folded into two, then one
//  multiply. The fold loses nothing for IPv4 (each address fills half a
//  word, the ports and version the other word) and keeps the two
//  directions apart.
static inline uint32_t s_hash_words(uint64_t src0, uint64_t src1, uint64_t dst0, uint64_t dst1,
                                    uint64_t ports_version)
{
    uint64_t a = src0 ^ s_rotate(dst0) ^ 0xa0761d6478bd642full;
    uint64_t b = src1 ^ s_rotate(dst1) ^ ports_version ^ 0xe7037ed1a0b428dbull;
    uint64_t h = s_mix(a, b);
    return (uint32_t)(h ^ (h >> 32));
}

static inline uint32_t s_hash(const s_key *key)
{
    return s_hash_words(key->addresses[0], key->addresses[1], key->addresses[2], key->addresses[3],
                        s_ports_version(key));
}

static inline bool s_key_equal(const s_key *a, const s_key *b)
{
    return ((a->addresses[0] ^ b->addresses[0]) | (a->addresses[1] ^ b->addresses[1]) |
            (a->addresses[2] ^ b->addresses[2]) | (a->addresses[3] ^ b->addresses[3]) |
            (s_ports_version(a) ^ s_ports_version(b))) == 0;
}

//  Fills the key from the packet and returns its tag, hashing the words as
//  they are loaded (reading them back from the key just written would wait
//  on store forwarding).
static inline uint32_t s_make_key(s_key *key, const tw_packet *packet)
{
    uint64_t words[4];
    memcpy(words, packet->src, sizeof packet->src);
    memcpy(words + 2, packet->dst, sizeof packet->dst);
    memcpy(key->addresses, words, sizeof words);
    memcpy(&key->ports, &packet->src_port, sizeof key->ports);
    key->ip_version = packet->ip_version;
    return s_hash_words(words[0], words[1], words[2], words[3],
                        (uint64_t)key->ports | (uint64_t)packet->ip_version << 32);
}

static void s_reverse_key(s_key *reverse, const s_key *key)
{
    reverse->addresses[0] = key->addresses[2];
    reverse->addresses[1] = key->addresses[3];
    reverse->addresses[2] = key->addresses[0];
    reverse->addresses[3] = key->addresses[1];
    reverse->ports = key->ports << 16 | key->ports >> 16;  // swaps the two halves
    reverse->ip_version = key->ip_version;
}

static void s_public_key(tw_flow_key *out, const s_key *key)
{
    memcpy(out->src, &key->addresses[0], sizeof out->src);
    memcpy(out->dst, &key->addresses[2], sizeof out->dst);
    memcpy(&out->src_port, &key->ports, sizeof key->ports);
    out->ip_version = (uint8_t)key->ip_version;
    memset(out->pad, 0, sizeof out->pad);
}

static inline uint32_t s_slot_tag(uint64_t slot)
{
    return (uint32_t)(slot >> 32);
}

static inline uint32_t s_slot_entry(uint64_t slot)
{
    return (uint32_t)slot - 1;
}

//  A packet's key, as the batch prepares it: its tag, and guesses at its
//  entry and (control packets only) at the reverse direction's entry.
typedef struct {
    s_key key;
    uint32_t tag;
    uint32_t guess;
    uint32_t reverse_tag;
    uint32_t reverse_guess;
} s_lookup;

static uint32_t s_find(const tw_flow_table *self, const s_key *key, uint32_t tag)
{
    for (uint32_t pos = tag & self->slot_mask;; pos = (pos + 1) & self->slot_mask) {
        uint64_t slot = self->slots[pos];
        if (slot == 0)
            return NONE;
        if (s_slot_tag(slot) == tag && s_key_equal(&self->hot[s_slot_entry(slot)].key, key))
            return s_slot_entry(slot);
    }
}

static uint32_t s_find_reverse(const tw_flow_table *self, const s_key *key)
{
    s_key reverse;
    s_reverse_key(&reverse, key);
    return s_find(self, &reverse, s_hash(&reverse));
}

//  The entry of key: the guess when that live entry holds the key (live keys
//  are unique, so it is the one), else what the index says.
static inline uint32_t s_find_guessed(const tw_flow_table *self, const s_key *key, uint32_t tag,
                                      uint32_t guess)
{
    if (guess < self->count && s_key_equal(&self->hot[guess].key, key))
        return guess;
    return s_find(self, key, tag);
}

static void s_index(tw_flow_table *self, uint32_t tag, uint32_t entry)
{
    uint32_t pos = tag & self->slot_mask;
    while (self->slots[pos] != 0)
        pos = (pos + 1) & self->slot_mask;
    self->slots[pos] = (uint64_t)tag << 32 | (entry + 1);
}

//  The slot that names `entry`, whose key has this tag.
static uint32_t s_slot_of(const tw_flow_table *self, uint32_t tag, uint32_t entry)
{
    uint64_t wanted = (uint64_t)tag << 32 | (entry + 1);
    uint32_t pos = tag & self->slot_mask;
    while (self->slots[pos] != wanted)
        pos = (pos + 1) & self->slot_mask;
    return pos;
}

//  Empties a slot by backward shift: each later slot of the run moves into
//  the hole unless its home lies after the hole, so every key stays reachable
//  from its home without a tombstone.
static void s_unindex(tw_flow_table *self, uint32_t hole)
{
    uint32_t mask = self->slot_mask;
    for (uint32_t pos = (hole + 1) & mask; self->slots[pos] != 0; pos = (pos + 1) & mask) {
        uint32_t home = s_slot_tag(self->slots[pos]) & mask;
        if (((pos - home) & mask) >= ((pos - hole) & mask)) {
            self->slots[hole] = self->slots[pos];
            hole = pos;
        }
    }
    self->slots[hole] = 0;
}

static void s_remove(tw_flow_table *self, uint32_t index)
{
    self->stalled -= (self->hot[index].state & STATE_IN_EPISODE) != 0;
    s_unindex(self, s_slot_of(self, s_hash(&self->hot[index].key), index));
    uint32_t last = --self->count;
    if (index != last) {
        uint32_t pos = s_slot_of(self, s_hash(&self->hot[last].key), last);
        self->slots[pos] = (self->slots[pos] & ~(uint64_t)UINT32_MAX) | (index + 1);
        self->hot[index] = self->hot[last];
        self->cold[index] = self->cold[last];
    }
}

static void s_fill_record(const tw_flow_table *self, uint32_t index, tw_end_reason reason,
                          tw_flow_record *record)
{
    const s_hot *hot = &self->hot[index];
    const s_cold *cold = &self->cold[index];
    s_public_key(&record->key, &hot->key);
    record->first_us = cold->first_us;
    record->last_us = hot->last_us;
    record->tcp_packets = hot->tcp_packets;
    record->undershoot_packets = (uint64_t)cold->undershoots_high << 32 | hot->undershoots_low;
    record->episodes = cold->episodes;
    record->zero_window_us = cold->zero_window_us;
    record->episode_start_us = cold->episode_start_us;
    if (hot->state & STATE_IN_EPISODE)
        record->zero_window_us += hot->last_us - cold->episode_start_us;
    record->min_window = hot->min_window;
    record->window_scale = cold->window_scale;
    record->end_reason = reason;
}

static void s_end(tw_flow_table *self, uint32_t index, tw_end_reason reason)
{
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

//  Why the flow is over at now_us, or 0 while it lives.
static tw_end_reason s_over_reason(const tw_flow_table *self, uint32_t index, int64_t now_us)
{
    const s_hot *hot = &self->hot[index];
    if ((hot->state & STATE_CLOSING) &&
        now_us - self->cold[index].close_us > self->config.linger_us)
        return (hot->state & STATE_BY_RST) ? TW_END_RST : TW_END_FIN;
    if (now_us - hot->last_us > self->config.idle_timeout_us)
        return TW_END_IDLE;
    return 0;
}

static int s_rebuild_index(tw_flow_table *self, uint64_t slot_count)
{
    uint64_t *slots = s_alloc(sizeof *slots * slot_count);
    if (!slots)
        return -ENOMEM;
    memset(slots, 0, sizeof *slots * slot_count);
    free(self->slots);
    self->slots = slots;
    self->slot_mask = (uint32_t)(slot_count - 1);
    for (uint32_t i = 0; i < self->count; i++)
        s_index(self, s_hash(&self->hot[i].key), i);
    return 0;
}

//  Slots for `entries` flows: a power of two at least twice as many (at
//  most half full, so probe runs stay short), within what a tag can address.
static uint64_t s_slots_for(size_t entries)
{
    uint64_t slots = 2;
    while (slots < 2 * (uint64_t)entries && slots < MAX_SLOTS)
        slots *= 2;
    return slots;
}

//  Doubles the entry arrays (up to max_flows), the index first so that a
//  failure leaves a consistent table.
static int s_grow(tw_flow_table *self)
{
    size_t capacity = (size_t)self->capacity * 2;
    if (capacity > self->config.max_flows)
        capacity = self->config.max_flows;
    uint64_t slots = s_slots_for(capacity);
    if (slots > (uint64_t)self->slot_mask + 1 && s_rebuild_index(self, slots) != 0)
        return -ENOMEM;
    s_cold *cold = realloc(self->cold, sizeof *cold * capacity);
    if (!cold)
        return -ENOMEM;
    self->cold = cold;
    s_hot *hot = s_alloc(sizeof *hot * capacity);
    if (!hot)
        return -ENOMEM;
    memcpy(hot, self->hot, sizeof *hot * self->count);
    free(self->hot);
    self->hot = hot;
    self->capacity = (uint32_t)capacity;
    return 0;
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

static uint32_t s_insert(tw_flow_table *self, const s_key *key, uint32_t tag, int64_t ts_us)
{
    if (self->count == self->config.max_flows)
        s_evict_one(self);
    else if (self->count == self->capacity && s_grow(self) != 0) {
        self->untracked++;  // the packet is lost to the analysis: say so
        return NONE;
    }
    uint32_t index = self->count++;
    self->hot[index] = (s_hot){
        .key = *key,
        .last_us = ts_us,
        .min_window = UINT16_MAX,
    };
    self->cold[index] = (s_cold){
        .first_us = ts_us,
        .window_scale = -1,
    };
    s_index(self, tag, index);
    return index;
}

//  The shift is 0 unless the threshold is in bytes and scaling is in force.
static bool s_is_undershoot(const tw_flow_table *self, const s_hot *flow, const tw_packet *packet)
{
    // A SYN's own window is never scaled (RFC 7323).
    uint32_t shift = (packet->flags & TW_TCP_SYN) ? 0 : flow->shift;
    return ((uint64_t)packet->window << shift) < self->config.threshold;
}

static void s_count(tw_flow_table *self, uint32_t index, const tw_packet *packet, int64_t ts_us)
{
    s_hot *flow = &self->hot[index];
    flow->last_us = ts_us;
    flow->tcp_packets++;
    flow->min_window = packet->window < flow->min_window ? packet->window : flow->min_window;
    if (s_is_undershoot(self, flow, packet)) {
        if (++flow->undershoots_low == 0)
            self->cold[index].undershoots_high++;
        if (!(flow->state & STATE_IN_EPISODE)) {
            flow->state |= STATE_IN_EPISODE;
            self->stalled++;
            self->cold[index].episodes++;
            self->cold[index].episode_start_us = ts_us;
        }
    } else if (flow->state & STATE_IN_EPISODE) {
        flow->state &= ~STATE_IN_EPISODE;
        self->stalled--;
        self->cold[index].zero_window_us += ts_us - self->cold[index].episode_start_us;
    }
}

static void s_start_closing(tw_flow_table *self, uint32_t index, int64_t ts_us, uint8_t how)
{
    if (!(self->hot[index].state & STATE_CLOSING)) {
        self->hot[index].state |= STATE_CLOSING | how;
        self->cold[index].close_us = ts_us;
    }
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
    self->cold[index].window_scale = packet->window_scale;
    if (!self->config.threshold_bytes || reverse == NONE ||
        !(self->hot[reverse].state & STATE_SYN_SEEN))
        return;
    int8_t ours = self->cold[index].window_scale, theirs = self->cold[reverse].window_scale;
    bool scaled = ours >= 0 && theirs >= 0;
    self->hot[index].shift = scaled ? s_shift_of(ours) : 0;
    self->hot[reverse].shift = scaled ? s_shift_of(theirs) : 0;
}

static void s_on_control(tw_flow_table *self, uint32_t index, const tw_packet *packet,
                         const s_lookup *lookup, int64_t ts_us)
{
    s_key key;
    s_reverse_key(&key, &self->hot[index].key);
    uint32_t reverse = s_find_guessed(self, &key, lookup->reverse_tag, lookup->reverse_guess);
    if (packet->flags & TW_TCP_SYN)
        s_on_syn(self, index, reverse, packet);
    if (packet->flags & TW_TCP_RST) {
        s_start_closing(self, index, ts_us, STATE_BY_RST);
        if (reverse != NONE)
            s_start_closing(self, reverse, ts_us, STATE_BY_RST);
    }
    if (packet->flags & TW_TCP_FIN) {
        self->hot[index].state |= STATE_FIN_SEEN;
        if (reverse != NONE && (self->hot[reverse].state & STATE_FIN_SEEN)) {
            s_start_closing(self, index, ts_us, 0);
            s_start_closing(self, reverse, ts_us, 0);
        }
    }
}

//  Ends a flow that is over; a closed connection ends both directions together.
static void s_end_connection(tw_flow_table *self, uint32_t index, tw_end_reason reason)
{
    s_key key = self->hot[index].key;
    bool closing = self->hot[index].state & STATE_CLOSING;
    s_end(self, index, reason);
    if (!closing)
        return;
    uint32_t r = s_find_reverse(self, &key);
    if (r != NONE && (self->hot[r].state & STATE_CLOSING))
        s_end(self, r, reason);
}

//  A packet whose flow is not (or no longer) live at `index`: ends the flow
//  if it is over and starts a new one. Returns its index, or NONE when out of
//  memory.
static uint32_t s_live_flow(tw_flow_table *self, const s_key *key, uint32_t tag, uint32_t index,
                            int64_t ts_us)
{
    if (index != NONE) {
        tw_end_reason reason = s_over_reason(self, index, ts_us);
        if (!reason)
            return index;
        s_end_connection(self, index, reason);
    }
    return s_insert(self, key, tag, ts_us);
}

//  One packet, once the batch has prepared its lookup.
static inline int s_packet(tw_flow_table *self, const tw_packet *packet, const s_lookup *lookup,
                           int64_t ts_us)
{
    uint32_t index = s_find_guessed(self, &lookup->key, lookup->tag, lookup->guess);
    index = s_live_flow(self, &lookup->key, lookup->tag, index, ts_us);
    if (index == NONE)
        return -ENOMEM;
    s_count(self, index, packet, ts_us);
    if (packet->flags & CONTROL_FLAGS)
        s_on_control(self, index, packet, lookup, ts_us);
    return 0;
}

int tw_flow_table_packet(tw_flow_table *self, const tw_packet *packet, int64_t ts_us)
{
    return tw_flow_table_packets(self, packet, &ts_us, 1);
}

//  The entry that the first slot from `pos` on with this tag names, or NONE
//  at the end of the run.
static uint32_t s_guess_in_run(const tw_flow_table *self, uint32_t pos, uint32_t tag)
{
    for (pos &= self->slot_mask;; pos = (pos + 1) & self->slot_mask) {
        uint64_t slot = self->slots[pos];
        if (slot == 0)
            return NONE;
        if (s_slot_tag(slot) == tag)
            return s_slot_entry(slot);
    }
}

//  A guess at the entry of the key with this tag (the one the first slot
//  with this tag names), and warms the cache for it. Most keys sit at their
//  home slot or the next, which are looked at without a branch, since
//  whether they match is random; runs that go on are rarer. Only a guess:
//  the slot may name another key, or change before the packet is processed.
static inline uint32_t s_guess_entry(const tw_flow_table *self, uint32_t tag)
{
    uint32_t pos = tag & self->slot_mask;
    uint64_t home = self->slots[pos], next = self->slots[(pos + 1) & self->slot_mask];
    uint32_t guess = s_slot_tag(next) == tag ? s_slot_entry(next) : NONE;
    guess = s_slot_tag(home) == tag ? s_slot_entry(home) : guess;
    if (guess == NONE && home != 0 && next != 0)
        guess = s_guess_in_run(self, pos + 2, tag);
    __builtin_prefetch(&self->hot[guess < self->capacity ? guess : 0], 1);
    return guess;
}

static inline void s_prefetch_cold(const tw_flow_table *self, uint32_t entry)
{
    if (entry < self->capacity)
        __builtin_prefetch(&self->cold[entry], 1);
}

static inline void s_prefetch_slot(const tw_flow_table *self, uint32_t tag)
{
    __builtin_prefetch(&self->slots[tag & self->slot_mask]);
}

//  Hashes a batch of at most TW_FLOW_BATCH packets, warms the cache for their slots,
//  then for the entries the slots name, then processes the packets in order.
//  Control packets (a few in a hundred) also need the reverse direction's
//  entry: they are listed apart so that the other packets take no branch
//  for them.
static int s_batch(tw_flow_table *self, const tw_packet *packets, const int64_t *ts_us, size_t n)
{
    s_lookup lookups[TW_FLOW_BATCH];
    uint8_t control[TW_FLOW_BATCH];  // indices of the control packets
    size_t n_control = 0;
    for (size_t i = 0; i < n; i++) {
        lookups[i].tag = s_make_key(&lookups[i].key, &packets[i]);
        lookups[i].reverse_guess = NONE;
        s_prefetch_slot(self, lookups[i].tag);
        control[n_control] = (uint8_t)i;
        n_control += (packets[i].flags & CONTROL_FLAGS) != 0;
    }
    for (size_t k = 0; k < n_control; k++) {
        s_lookup *lookup = &lookups[control[k]];
        s_key reverse;
        s_reverse_key(&reverse, &lookup->key);
        lookup->reverse_tag = s_hash(&reverse);
        s_prefetch_slot(self, lookup->reverse_tag);
    }
    for (size_t i = 0; i < n; i++)
        lookups[i].guess = s_guess_entry(self, lookups[i].tag);
    // The cold parts that a control packet will touch.
    for (size_t k = 0; k < n_control; k++) {
        s_lookup *lookup = &lookups[control[k]];
        lookup->reverse_guess = s_guess_entry(self, lookup->reverse_tag);
        s_prefetch_cold(self, lookup->guess);
        s_prefetch_cold(self, lookup->reverse_guess);
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

void tw_flow_table_expire(tw_flow_table *self, int64_t now_us)
{
    // Backwards, so the entry moved into a freed slot was already checked.
    for (uint32_t i = self->count; i-- > 0;) {
        if (i >= self->count)
            continue;  // ending a connection removed its partner too
        tw_end_reason reason = s_over_reason(self, i, now_us);
        if (reason)
            s_end_connection(self, i, reason);
    }
}

void tw_flow_table_end_all(tw_flow_table *self, tw_end_reason reason)
{
    while (self->count > 0)
        s_end(self, self->count - 1, reason);
}

//  The count is kept as flows enter and leave episodes, so the walk stops
//  once it has listed what fits.
size_t tw_flow_table_stalled(const tw_flow_table *self, tw_flow_record *out, size_t max)
{
    size_t listed = 0, wanted = self->stalled < max ? self->stalled : max;
    for (uint32_t i = 0; i < self->count && listed < wanted; i++)
        if (self->hot[i].state & STATE_IN_EPISODE)
            s_fill_record(self, i, 0, &out[listed++]);
    return self->stalled;
}

tw_flow_counters tw_flow_table_counters(const tw_flow_table *self)
{
    return (tw_flow_counters){.active = self->count,
                              .ended = self->ended,
                              .evicted = self->evicted,
                              .untracked = self->untracked};
}

int tw_flow_table_check(const tw_flow_table *self)
{
    uint64_t slot_count = (uint64_t)self->slot_mask + 1;
    uint64_t used = 0;
    for (uint64_t pos = 0; pos < slot_count; pos++) {
        uint64_t slot = self->slots[pos];
        if (slot == 0)
            continue;
        used++;
        uint32_t entry = s_slot_entry(slot);
        if (entry >= self->count || s_hash(&self->hot[entry].key) != s_slot_tag(slot))
            return -EINVAL;  // names no live entry, or the wrong one
        for (uint32_t p = s_slot_tag(slot) & self->slot_mask; p != pos;
             p = (p + 1) & self->slot_mask)
            if (self->slots[p] == 0)
                return -EINVAL;  // a hole between its home and it: unreachable
    }
    if (used != self->count)
        return -EINVAL;
    uint32_t stalled = 0;
    for (uint32_t i = 0; i < self->count; i++)
        stalled += (self->hot[i].state & STATE_IN_EPISODE) != 0;
    if (stalled != self->stalled)
        return -EINVAL;
    for (uint32_t i = 0; i < self->count; i++)
        if (s_find(self, &self->hot[i].key, s_hash(&self->hot[i].key)) != i)
            return -EINVAL;  // a duplicate key, or a slot that names another entry
    return 0;
}

tw_flow_table *tw_flow_table_new(const tw_flow_config *config, tw_flow_end_fn *on_end, void *arg)
{
    if (config->max_flows == 0 || config->max_flows >= NONE)
        return NULL;
    tw_flow_table *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->on_end = on_end;
    self->arg = arg;
    self->capacity =
        config->max_flows < FIRST_ENTRIES ? (uint32_t)config->max_flows : FIRST_ENTRIES;
    self->hot = s_alloc(sizeof *self->hot * self->capacity);
    self->cold = malloc(sizeof *self->cold * self->capacity);
    if (!self->hot || !self->cold || s_rebuild_index(self, s_slots_for(self->capacity)) != 0)
        tw_flow_table_destroy(&self);
    return self;
}

void tw_flow_table_destroy(tw_flow_table **self)
{
    if (!*self)
        return;
    free((*self)->hot);
    free((*self)->cold);
    free((*self)->slots);
    free(*self);
    *self = NULL;
}
