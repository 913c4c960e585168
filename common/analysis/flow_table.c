// SPDX-License-Identifier: MPL-2.0
/*  flow_table: one-directional TCP flows, kept one entry per connection.

    Design. An entry is a connection: its key (the two endpoints in a fixed
    order, so both directions hash and compare the same) and its two sides,
    side 0 the direction from the key's first endpoint, side 1 the other.
    A side is a flow as the header describes it: it is live from its first
    packet to its end, and ends on its own (idle, half-closed) or with its
    peer (a close). The entry lives while a side does. One entry per
    connection instead of one per direction halves the inserts, the index
    and the expiry work, and the reverse direction (a SYN's peer for the
    window scale, a FIN's or RST's peer, a stall's prober) is the other
    side of the same entry: no lookup.

    An entry is three cache lines: the key, the wheel's filing and the
    episode counts (line 0), both sides' per-packet fields (line 1), both
    sides' times (line 2, touched on a side's first packet, on episode
    changes, on closes and at its end). A packet reads lines 0 and 1, which
    the batch fetches together. Entries stay where they are: a free list
    hands out the entries of ended connections (the most recently freed
    first, likely still in the cache), so the index never renames an entry
    and the wheel can refer to entries by number.

    Batches. tw_flow_table_packets() hashes a batch of packets and prefetches
    their slots, then the entries those slots name, then processes the
    packets in order with ordinary lookups. The prefetches only warm the
    cache: an entry that ends while the batch is processed costs a miss,
    never a wrong answer.

    Stalls and probes. A probe is sent by the side opposite a stall, which
    is in the same entry: the stalled side's latest ACK and window are in
    its rare entry (below). A side that was live while its peer was stalled
    is a prober (SIDE_PROBER), whose idle time counts from the reopening.

    Rare figures: a side that had a zero window, a stall, a probe, or more
    than 2^32 packets keeps those figures in a pool entry apart (s_rare), so
    that the entries of the other sides, nearly all, stay three lines.

    Expiry: a timer wheel of WHEEL_SLOTS buckets of 2^20 us of flow clock,
    each a list of chunks of entry numbers. An entry is filed in the bucket
    of its earliest side's deadline; the entry remembers the bucket
    (`filed`), so a record whose entry has been filed again elsewhere, or
    ended, is stale and skipped when its bucket is walked (no unlinking, no
    neighbour to write, and a walk that reads an array and fetches the
    entries ahead). Filing is lazy: only a change that makes the deadline
    earlier than the bucket filed (a new side, a first FIN, a close, a
    stall's end or its side's end) files the entry again; a packet that
    makes it later (nearly all) touches nothing, and the entry is looked at
    when its old bucket comes, then ended or filed for its new deadline.
    Deadlines only come earlier through a few levels (stall timeout, idle,
    half-closed or SYN, linger), so an entry has few records at once.
    The order in which flows due in the same expiry end is the wheel's,
    unspecified (it decides ties in host_table, see flow_table.h).
    Entries due within the bucket being walked wait in a kept list and go
    back into it for the next expiry. The wheel's time never goes back:
    when the flow clock steps back (by less than a time jump, analyzer.h),
    entries filed meanwhile land in the current bucket and are looked at
    by every expiry until the clock catches up. A filing that finds no
    memory for a chunk makes the next expiry look at every entry once
    (O(table), only then), so no flow is ever kept forever: nothing is lost.
    An ended connection's record stays in its bucket and serves the next
    connection in the entry. So the records are bounded by the entries:
    each record of an entry is for an earlier deadline than the one before
    it, and deadlines only come earlier through the few levels above,
    a few records per entry; every look at an entry and every entry freed
    by a walk starts a new chain, so an entry can leave records behind at
    every expiry for up to its first timeout (23 per entry with the default
    timeouts and 5 s reports, more with longer timeouts and shorter
    intervals, measured), and s_compact drops the stale ones once all the
    records pass 4 per live entry (as of the last compaction) plus
    COMPACT_SLACK: records are 4.2 bytes each, in chunks of 61.

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

#define NONE          TW_FLOW_INDEX_NONE
#define EVICT_SAMPLES 8
#define MAX_SHIFT     14  // RFC 7323: larger window scale values are treated as 14
#define CACHE_LINE    64
#define FIRST_ENTRIES 1024
#define CONTROL_FLAGS (TW_TCP_SYN | TW_TCP_FIN | TW_TCP_RST)
#define WHEEL_SLOTS   1024                 // buckets ahead of the wheel's time: 1,024 x 1.05 s
#define BUCKET_SHIFT  20                   // a bucket is 2^20 us of flow clock (1.05 s)
#define UNFILED       UINT64_MAX           // s_conn.filed: in no bucket (being looked at)
#define KEPT          (UINT64_MAX - 1)     // s_conn.filed: in the kept list
#define CHUNK_IDS     61                   // entry numbers per wheel chunk (256 bytes)
#define MAX_SYNS      UINT8_MAX            // s_side.syns saturates here
#define FREE_KEY      UINT64_MAX           // key word 4 of a free entry: no packet's key
#define KEPT_RECORD   (UINT64_C(1) << 62)  // s_compact's mark on a filing it kept (buckets < 2^44)
#define COMPACT_SLACK 4096                 // records past 4 per live entry before a compaction

_Static_assert(TW_FLOW_BATCH >= 1 && TW_FLOW_BATCH <= 256, "a batch index fits in a byte");

//  The prefetch helpers are always inlined: GCC otherwise splits one into a
//  function of its own, finds that function without side effects (a
//  prefetch is none) and deletes the calls, so the walk of the timer wheel
//  fetched nothing ahead (seen in the assembly; the walk is 25 % faster
//  with its prefetches).
#define PREFETCHER static inline __attribute__((always_inline))

//  A connection's index key: the first endpoint's address in words 0 and 1,
//  the second's in words 2 and 3, and in word 4 their ports (the first in
//  the low 16 bits as a packet's source port is) and the IP version. The
//  first endpoint is the smaller (the address's two 64-bit words as the
//  machine reads them, then the port: any fixed order will do), so both
//  directions make the same key.
enum { KEY_SRC = 0, KEY_DST = 2, KEY_PORTS_VERSION = 4 };

enum {
    STATE_SYN_SEEN = 0x01,
    STATE_FIN_SEEN = 0x02,
    STATE_CLOSING = 0x04,     // connection closed, lingering since close_us
    STATE_BY_RST = 0x08,      // ... and the close was a RST
    STATE_IN_EPISODE = 0x10,  // the last packet was an undershoot
    STATE_STALLED = 0x20,     // this side's receiver is in a stall (see the header)
};

enum {
    SIDE_LIVE = 0x01,         // the side is a live flow
    SIDE_PEER_FIN = 0x02,     // the other side sent a FIN while this one lived
    SIDE_PROBER = 0x04,       // it lived while the other side was stalled
    SIDE_SCALE_KNOWN = 0x08,  // both SYNs seen: the shift in force is known
};

_Static_assert(offsetof(tw_packet, dst_port) == offsetof(tw_packet, src_port) + 2 &&
                   offsetof(tw_flow_key, dst_port) == offsetof(tw_flow_key, src_port) + 2,
               "both ports are copied as one 32-bit word");

//  What every packet of a side reads or writes.
typedef struct {
    int64_t last_us;
    uint32_t packets_low;  // the carries out of these two are in the rare entry
    uint32_t undershoots_low;
    uint32_t next_seq;  // highest seq + length (+1 for SYN/FIN) sent, 0 unknown (Wireshark's)
    uint16_t min_window;
    uint8_t state;
    uint8_t shift;        // applied to this side's windows (bytes mode only)
    uint32_t rare;        // its rare entry, or NONE
    uint8_t syns;         // SYN packets (saturated): all its packets were SYNs if equal
    int8_t window_scale;  // from this side's SYN, -1 when unseen
    uint8_t flags;        // SIDE_*
    uint8_t pad;
} s_side;

//  What a side's first packet, episode changes, closes and end touch.
typedef struct {
    int64_t first_us;
    int64_t close_us;
    int64_t episode_start_us;
    int64_t zero_window_us;
} s_side_times;

typedef struct {
    tw_flow_index_key key;  // a free entry: word 0 the next free entry, word 4 FREE_KEY
    uint64_t filed;         // the wheel bucket it is filed in, KEPT or UNFILED
    uint64_t episodes[2];
    s_side side[2];
    s_side_times times[2];
} s_conn;

_Static_assert(sizeof(s_side) == 32 && sizeof(s_side_times) == 32, "two sides per cache line");
_Static_assert(sizeof(s_conn) == 3 * CACHE_LINE, "a connection is three cache lines");
_Static_assert(offsetof(s_conn, side) == CACHE_LINE, "the sides are the second line");

//  The rare figures of a side that had any (a zero-window advertisement, a
//  stall, a probe sent, 2^32 packets), in a pool apart. At most one per
//  live side.
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
    uint32_t packets_high;  // the carries of s_side's low words
    uint32_t undershoots_high;
    uint32_t ack;                         // while stalled: the latest advertisement's ACK number
    uint16_t window;                      // ... and raw window
    uint32_t next_free;                   // when free: the next free entry, or NONE
    uint32_t owner;                       // when used: entry << 1 | side
    uint32_t stalled_prev, stalled_next;  // while stalled: the stalled list, oldest first
} s_rare;

//  Reserved for every side the table can hold and touched as used, so that
//  it never moves (a realloc copied it on the packet path).
typedef struct {
    s_rare *entries;
    uint32_t used;      // entries ever handed out
    uint32_t capacity;  // reserved: two per connection entry
    uint32_t free_head;
} s_rare_pool;

//  A wheel bucket's records: chunks of entry numbers.
typedef struct s_chunk {
    struct s_chunk *next;
    uint32_t n;
    uint32_t ids[CHUNK_IDS];
} s_chunk;

_Static_assert(sizeof(s_chunk) == 4 * CACHE_LINE, "a chunk is four cache lines");

typedef struct {
    s_chunk *head, *tail;
} s_chunk_list;

struct tw_flow_table {
    tw_flow_config config;
    tw_flow_end_fn *on_end;
    void *arg;
    s_conn *conns;        // reserved up to capacity, touched up to high_water
    uint32_t capacity;    // entries: half of config.max_flows, rounded up
    uint32_t high_water;  // entries ever used: [0, high_water)
    uint32_t live_conns;
    uint32_t free_head;    // free entries below high_water, most recently freed first
    uint32_t count;        // live sides (flows)
    tw_flow_index *index;  // key -> entry, grown a few slots per insert
    uint32_t evict_cursor;
    uint32_t stalled;          // live sides in a stall (STATE_STALLED)
    uint64_t stall_start_sum;  // their stall start_us summed modulo 2^64 (tw_flow_table_stalled)
    int64_t counted_until_us;  // now_us of the last tw_flow_table_stalled call (s_stall_end)
    tw_flow_counters totals;   // the stall figures
    s_rare_pool pool;
    uint32_t stalled_head, stalled_tail;  // rare entries of the stalled sides, by stall start
    // The timer wheel (see the top).
    s_chunk_list wheel[WHEEL_SLOTS];
    s_chunk_list kept;
    s_chunk *free_chunks;
    uint64_t wheel_bucket;   // every bucket before this one has been walked
    bool wheel_started;      // wheel_bucket is set (by the first entry filed)
    bool sweep_needed;       // a filing was lost: the next expiry looks at every entry
    uint64_t wheel_records;  // in the wheel's buckets and the kept list
    uint64_t compact_at;     // wheel_records past which s_compact drops the stale ones
    int64_t min_timeout_us;  // the shortest timeout of a side not closing
    int64_t syn_timeout_us, half_closed_timeout_us, stall_timeout_us;  // in force
    uint64_t expiry_checks;
    uint64_t ended;
    uint64_t untracked;  // packets not counted, or not their rare figures: no memory
    uint64_t evicted;
};

// ---------------------------------------------------------------------------
// Keys

//  The two ports of a key's word (or a packet's), swapped: the other direction.
static inline uint32_t s_swap_ports(uint32_t ports)
{
    return ports << 16 | ports >> 16;
}

//  Fills the connection's key from the packet, sets *side to the packet's
//  side, and returns the key's tag.
static inline uint32_t s_make_key(tw_flow_index_key *key, const tw_packet *packet, uint8_t *side)
{
    uint64_t src[2], dst[2];
    uint32_t ports;
    memcpy(src, packet->src, sizeof src);
    memcpy(dst, packet->dst, sizeof dst);
    memcpy(&ports, &packet->src_port, sizeof ports);
    bool swap = src[0] != dst[0]   ? src[0] > dst[0]
                : src[1] != dst[1] ? src[1] > dst[1]
                                   : packet->src_port > packet->dst_port;
    uint64_t w0 = swap ? dst[0] : src[0], w1 = swap ? dst[1] : src[1];
    uint64_t w2 = swap ? src[0] : dst[0], w3 = swap ? src[1] : dst[1];
    ports = swap ? s_swap_ports(ports) : ports;
    uint64_t w4 = (uint64_t)ports | (uint64_t)packet->ip_version << 32;
    key->words[0] = w0, key->words[1] = w1, key->words[2] = w2, key->words[3] = w3;
    key->words[KEY_PORTS_VERSION] = w4;
    *side = swap;
    return tw_flow_index_hash_words(w0, w1, w2, w3, w4);
}

//  The direction of a side as a public key: side 0 as the key has it, side 1
//  with the endpoints swapped.
static void s_public_key(tw_flow_key *out, const tw_flow_index_key *key, int side)
{
    uint32_t ports = (uint32_t)key->words[KEY_PORTS_VERSION];
    int src = side ? KEY_DST : KEY_SRC, dst = side ? KEY_SRC : KEY_DST;
    ports = side ? s_swap_ports(ports) : ports;
    memcpy(out->src, &key->words[src], sizeof out->src);
    memcpy(out->dst, &key->words[dst], sizeof out->dst);
    memcpy(&out->src_port, &ports, sizeof ports);
    out->ip_version = (uint8_t)(key->words[KEY_PORTS_VERSION] >> 32);
    memset(out->pad, 0, sizeof out->pad);
}

static inline bool s_side_live(const s_side *side)
{
    return side->flags & SIDE_LIVE;
}

static inline bool s_conn_live(const s_conn *conn)
{
    return conn->key.words[KEY_PORTS_VERSION] != FREE_KEY;
}

static inline uint32_t s_find(const tw_flow_table *self, const tw_flow_index_key *key, uint32_t tag)
{
    return tw_flow_index_find(self->index, key, tag, &self->conns->key, sizeof *self->conns);
}

//  The entry of key: the guess when that live entry holds the key (live keys
//  are unique and a free entry's key matches no packet), else the index's.
static inline uint32_t s_find_guessed(const tw_flow_table *self, const tw_flow_index_key *key,
                                      uint32_t tag, uint32_t guess)
{
    if (guess < self->high_water && tw_flow_index_key_equal(&self->conns[guess].key, key))
        return guess;
    return s_find(self, key, tag);
}

// ---------------------------------------------------------------------------
// Rare entries and the stalled list

//  The rare entry of a side, made on first need. The pool is reserved for
//  every side the table can hold, so it cannot run out; NONE, counted
//  untracked, is there in case it ever did.
static uint32_t s_rare_entry(tw_flow_table *self, uint32_t entry, int side)
{
    s_rare_pool *pool = &self->pool;
    uint32_t rare = self->conns[entry].side[side].rare;
    if (rare != NONE)
        return rare;
    if (pool->free_head != NONE) {
        rare = pool->free_head;
        pool->free_head = pool->entries[rare].next_free;
    } else {
        if (pool->used == pool->capacity) {
            self->untracked++;  // cannot happen: one per live side at most
            return NONE;
        }
        rare = pool->used++;
    }
    pool->entries[rare] = (s_rare){.next_free = NONE, .owner = entry << 1 | (uint32_t)side};
    self->conns[entry].side[side].rare = rare;
    return rare;
}

static void s_rare_free(tw_flow_table *self, s_side *side)
{
    if (side->rare == NONE)
        return;
    self->pool.entries[side->rare].next_free = self->pool.free_head;
    self->pool.free_head = side->rare;
    side->rare = NONE;
}

//  The rare entry of a side that has one (every stalled side does).
static inline s_rare *s_rare_of(const tw_flow_table *self, const s_side *side)
{
    return &self->pool.entries[side->rare];
}

//  Appends a side's rare entry to the stalled list (it begins a stall).
static void s_stalled_append(tw_flow_table *self, uint32_t rare)
{
    s_rare *entry = &self->pool.entries[rare];
    entry->stalled_prev = self->stalled_tail;
    entry->stalled_next = NONE;
    if (self->stalled_tail != NONE)
        self->pool.entries[self->stalled_tail].stalled_next = rare;
    else
        self->stalled_head = rare;
    self->stalled_tail = rare;
}

static void s_stalled_remove(tw_flow_table *self, uint32_t rare)
{
    const s_rare *entry = &self->pool.entries[rare];
    if (entry->stalled_prev != NONE)
        self->pool.entries[entry->stalled_prev].stalled_next = entry->stalled_next;
    else
        self->stalled_head = entry->stalled_next;
    if (entry->stalled_next != NONE)
        self->pool.entries[entry->stalled_next].stalled_prev = entry->stalled_prev;
    else
        self->stalled_tail = entry->stalled_prev;
}

// ---------------------------------------------------------------------------
// Timeouts and deadlines

//  How long a side may be silent before it ends, in its state: a stalled
//  side and its live peer (the prober) wait out the stall timeout whatever
//  else they are; then a side of SYNs only (unanswered, or its handshake not
//  finished), a half-closed connection, and the rest.
static int64_t s_timeout(const tw_flow_table *self, const s_conn *conn, int d)
{
    const s_side *side = &conn->side[d];
    if ((side->state | conn->side[!d].state) & STATE_STALLED)
        return self->stall_timeout_us;
    if (side->syns < MAX_SYNS && side->syns == side->packets_low &&
        (side->rare == NONE || s_rare_of(self, side)->packets_high == 0))
        return self->syn_timeout_us;
    if ((side->state & STATE_FIN_SEEN) || (side->flags & SIDE_PEER_FIN))
        return self->half_closed_timeout_us;
    return self->config.idle_timeout_us;
}

//  The first time at which a live side may be over, if no packet comes:
//  after it, s_over_reason says so, except for a side blocked by its peer's
//  stall (see s_expire_conn).
static int64_t s_side_deadline(const tw_flow_table *self, const s_conn *conn, int d)
{
    int64_t deadline = tw_time_add(conn->side[d].last_us, s_timeout(self, conn, d));
    if (conn->side[d].state & STATE_CLOSING) {
        int64_t lingered = tw_time_add(conn->times[d].close_us, self->config.linger_us);
        deadline = lingered < deadline ? lingered : deadline;
    }
    return deadline;
}

//  When the last stall of the side's peer ended, for a prober (INT64_MIN if
//  it is none, or its peer had no stall).
static int64_t s_peer_stall_end(const tw_flow_table *self, const s_conn *conn, int d)
{
    const s_side *peer = &conn->side[!d];
    if (!(conn->side[d].flags & SIDE_PROBER) || !s_side_live(peer) || peer->rare == NONE ||
        s_rare_of(self, peer)->stalls == 0)
        return INT64_MIN;
    return s_rare_of(self, peer)->end_us;
}

//  Why a live side is over at now_us, or 0 while it lives. Differences of
//  times saturate: exact, the timeouts being positive, since a bound
//  clamped to INT64_MIN has nothing before it.
static tw_end_reason s_over_reason(const tw_flow_table *self, const s_conn *conn, int d,
                                   int64_t now_us)
{
    const s_side *side = &conn->side[d];
    if ((side->state & STATE_CLOSING) &&
        conn->times[d].close_us < tw_time_sub(now_us, self->config.linger_us))
        return (side->state & STATE_BY_RST) ? TW_END_RST : TW_END_FIN;
    int64_t idle_before_us = tw_time_sub(now_us, s_timeout(self, conn, d));
    if (side->last_us >= idle_before_us)
        return 0;
    if ((side->state | conn->side[!d].state) & STATE_STALLED)
        return TW_END_IDLE;
    return s_peer_stall_end(self, conn, d) >= idle_before_us ? 0 : TW_END_IDLE;
}

// ---------------------------------------------------------------------------
// The timer wheel

//  The bucket of a time: 2^20 us of flow clock, in the order of the times
//  (the sign bit flipped, so that times before 1970 come first).
static inline uint64_t s_bucket(int64_t us)
{
    return ((uint64_t)us ^ (UINT64_C(1) << 63)) >> BUCKET_SHIFT;
}

static inline uint32_t s_slot(uint64_t bucket)
{
    return (uint32_t)(bucket & (WHEEL_SLOTS - 1));
}

//  Appends entry to a list of records. Returns 0, or -ENOMEM.
static int s_chunk_append(tw_flow_table *self, s_chunk_list *list, uint32_t entry)
{
    s_chunk *tail = list->tail;
    if (!tail || tail->n == CHUNK_IDS) {
        s_chunk *chunk = self->free_chunks;
        if (chunk)
            self->free_chunks = chunk->next;
        else if (!(chunk = malloc(sizeof *chunk)))
            return -ENOMEM;
        chunk->next = NULL;
        chunk->n = 0;
        if (tail)
            tail->next = chunk;
        else
            list->head = chunk;
        list->tail = tail = chunk;
    }
    tail->ids[tail->n++] = entry;
    self->wheel_records++;
    return 0;
}

static void s_chunks_free(tw_flow_table *self, s_chunk *chunk)
{
    while (chunk) {
        s_chunk *next = chunk->next;
        self->wheel_records -= chunk->n;
        chunk->next = self->free_chunks;
        self->free_chunks = chunk;
        chunk = next;
    }
}

//  Whether a wheel record of entry in `slot` is the entry's current one (a
//  duplicate of it is marked by s_compact). A free entry's matching record
//  is consumed, as the walk consumes it.
static bool s_compact_keeps(tw_flow_table *self, uint32_t entry, uint32_t slot)
{
    s_conn *conn = &self->conns[entry];
    if (conn->filed >= KEPT || (conn->filed & KEPT_RECORD) || s_slot(conn->filed) != slot)
        return false;  // stale, or a duplicate of one kept
    if (!s_conn_live(conn)) {
        conn->filed = UNFILED;
        return false;
    }
    conn->filed |= KEPT_RECORD;
    return true;
}

//  Keeps in a bucket's chunks only the records s_compact_keeps, in place
//  (the writing never passes the reading). Returns how many it dropped.
static uint64_t s_compact_list(tw_flow_table *self, s_chunk_list *list, uint32_t slot)
{
    s_chunk *out = list->head;
    uint32_t n_out = 0;
    uint64_t dropped = 0;
    for (s_chunk *in = list->head; in; in = in->next)
        for (uint32_t k = 0; k < in->n; k++) {
            if (!s_compact_keeps(self, in->ids[k], slot)) {
                dropped++;
                continue;
            }
            if (n_out == CHUNK_IDS) {
                out->n = n_out;
                out = out->next;
                n_out = 0;
            }
            out->ids[n_out++] = in->ids[k];
        }
    if (!out)
        return 0;  // an empty list
    s_chunk *rest = out->next;
    if (n_out == 0) {  // nothing kept at all (out is still the head): free them all
        rest = out;
        list->head = list->tail = NULL;
    } else {
        out->n = n_out;
        out->next = NULL;
        list->tail = out;
    }
    for (s_chunk *chunk = rest; chunk; chunk = chunk->next)
        chunk->n = 0;  // their records are counted in `dropped`
    s_chunks_free(self, rest);
    return dropped;
}

//  The records allowed past 4 per live entry: COMPACT_SLACK, fewer for a
//  small table (so that the tests and the fuzzer compact too).
static uint64_t s_slack(const tw_flow_table *self)
{
    uint64_t small = 8 * (uint64_t)self->capacity + 8;
    return small < COMPACT_SLACK ? small : COMPACT_SLACK;
}

//  Drops the stale records of every bucket once the records outnumber the
//  live entries four to one: an entry looked at, or freed by a walk, starts
//  a new chain of filings while its older records wait in later buckets,
//  up to the wheel's span (18 minutes), to be walked. O(records), after at
//  least 3 per entry were added: O(1) per filing. Bounds the records to 4
//  per live entry (as of the last compaction) plus COMPACT_SLACK, whatever
//  the traffic.
static void s_compact(tw_flow_table *self)
{
    for (uint32_t slot = 0; slot < WHEEL_SLOTS; slot++)
        self->wheel_records -= s_compact_list(self, &self->wheel[slot], slot);
    for (uint32_t slot = 0; slot < WHEEL_SLOTS; slot++)
        for (s_chunk *chunk = self->wheel[slot].head; chunk; chunk = chunk->next)
            for (uint32_t k = 0; k < chunk->n; k++)
                self->conns[chunk->ids[k]].filed &= ~KEPT_RECORD;
    // After it, at most one record per live entry is left (the kept list
    // aside), so at least 3 per entry more come before the next: O(1) per
    // filing.
    self->compact_at = 4 * (uint64_t)self->live_conns + s_slack(self);
}

//  The bucket that an entry due at deadline_us is filed in: never before the
//  wheel's time (it is then looked at by the next expiry), never more than
//  WHEEL_SLOTS - 1 buckets ahead (it is then looked at and filed again).
static inline uint64_t s_filing_bucket(const tw_flow_table *self, int64_t deadline_us)
{
    uint64_t bucket = s_bucket(deadline_us);
    if (bucket < self->wheel_bucket)
        return self->wheel_bucket;
    if (bucket - self->wheel_bucket >= WHEEL_SLOTS)
        return self->wheel_bucket + WHEEL_SLOTS - 1;
    return bucket;
}

//  Files the entry for deadline_us unless it is filed no later already.
static void s_file(tw_flow_table *self, uint32_t entry, int64_t deadline_us)
{
    s_conn *conn = &self->conns[entry];
    uint64_t bucket = s_filing_bucket(self, deadline_us);
    if (conn->filed != UNFILED && bucket >= conn->filed)
        return;  // looked at no later than its deadline already
    if (s_chunk_append(self, &self->wheel[s_slot(bucket)], entry) != 0) {
        self->sweep_needed = true;
        conn->filed = UNFILED;
        return;
    }
    conn->filed = bucket;
    if (self->wheel_records > self->compact_at)
        s_compact(self);
}

//  The earliest deadline of the entry's live sides. Looked at by an expiry
//  at now_us, a side past its deadline yet not over (blocked by its peer's
//  stall until recently) counts its timeout from that stall's end; a
//  refiling passes INT64_MIN (no side is past its deadline then).
static int64_t s_conn_deadline(const tw_flow_table *self, const s_conn *conn, int64_t now_us)
{
    int64_t deadline = INT64_MAX;
    for (int d = 0; d < 2; d++) {
        if (!s_side_live(&conn->side[d]))
            continue;
        int64_t due = s_side_deadline(self, conn, d);
        if (due < now_us) {
            int64_t unblocked =
                tw_time_add(s_peer_stall_end(self, conn, d), s_timeout(self, conn, d));
            due = unblocked > due ? unblocked : due;
        }
        deadline = due < deadline ? due : deadline;
    }
    return deadline;
}

//  Files the entry again if a change made its deadline earlier (a new side,
//  a first FIN, a close, a stall's end, a side's end).
static void s_refile(tw_flow_table *self, uint32_t entry)
{
    s_file(self, entry, s_conn_deadline(self, &self->conns[entry], INT64_MIN));
}

// ---------------------------------------------------------------------------
// Ends

static void s_fill_rare_figures(const tw_flow_table *self, const s_side *side,
                                tw_flow_record *record)
{
    const s_rare none = {0}, *rare = side->rare != NONE ? s_rare_of(self, side) : &none;
    record->zero_window_adverts = rare->zero_window_adverts;
    record->stalls = rare->stalls;
    record->stalled = (side->state & STATE_STALLED) != 0;
    record->stall_since_us = record->stalled ? rare->start_us : 0;
    record->stalled_us = 0;
    record->stall_us = rare->stall_us;
    if (record->stalled)
        record->stall_us =
            tw_time_add(record->stall_us, tw_time_since(rare->start_us, side->last_us));
    record->window_probes = rare->window_probes;
    record->zero_length_probes = rare->zero_length_probes;
    record->probes_received = rare->probes_received;
    record->stall_probes = record->stalled ? rare->stall_probes : 0;
    record->window_reopenings = rare->window_reopenings;
    record->tcp_packets |= (uint64_t)rare->packets_high << 32;
    record->undershoot_packets |= (uint64_t)rare->undershoots_high << 32;
}

static void s_fill_record(const tw_flow_table *self, uint32_t entry, int d, tw_end_reason reason,
                          tw_flow_record *record)
{
    const s_conn *conn = &self->conns[entry];
    const s_side *side = &conn->side[d];
    const s_side_times *times = &conn->times[d];
    s_public_key(&record->key, &conn->key, d);
    record->first_us = times->first_us;
    record->last_us = side->last_us;
    record->tcp_packets = side->packets_low;
    record->undershoot_packets = side->undershoots_low;
    record->episodes = conn->episodes[d];
    record->zero_window_us = times->zero_window_us;
    record->episode_start_us = times->episode_start_us;
    if (side->state & STATE_IN_EPISODE)
        record->zero_window_us = tw_time_add(record->zero_window_us,
                                             tw_time_since(times->episode_start_us, side->last_us));
    record->min_window = side->min_window;
    record->window_scale = side->window_scale;
    record->end_reason = reason;
    record->window_scale_unknown =
        self->config.threshold_bytes && !(side->flags & SIDE_SCALE_KNOWN);
    s_fill_rare_figures(self, side, record);
}

//  Ends the current stall of a side at end_us. The total goes on from what
//  the last report counted of the stall (up to counted_until_us), even when
//  end_us is earlier (a flow ends at its last packet, a reopening may come
//  late), so the reported sum never goes down; the side's own figure is
//  measured to end_us. The entry is filed again by the caller (its sides'
//  timeouts may be shorter now).
static void s_stall_end(tw_flow_table *self, s_side *side, int64_t end_us)
{
    s_rare *rare = s_rare_of(self, side);
    int64_t took = tw_time_since(rare->start_us, end_us);
    rare->stall_us = tw_time_add(rare->stall_us, took);
    rare->end_us = end_us;
    int64_t counted_end_us = end_us > self->counted_until_us ? end_us : self->counted_until_us;
    self->totals.stall_us =
        tw_time_add(self->totals.stall_us, tw_time_since(rare->start_us, counted_end_us));
    side->state &= (uint8_t)~STATE_STALLED;
    self->stalled--;
    self->stall_start_sum -= (uint64_t)rare->start_us;
    s_stalled_remove(self, side->rare);
}

//  Gives the entry back to the free list once its last side ended.
static void s_free_conn(tw_flow_table *self, uint32_t entry)
{
    s_conn *conn = &self->conns[entry];
    // Every live entry is indexed, so this cannot fail.
    (void)tw_flow_index_remove(self->index, tw_flow_index_hash(&conn->key), entry);
    conn->key.words[0] = self->free_head;
    conn->key.words[KEY_PORTS_VERSION] = FREE_KEY;
    self->free_head = entry;  // its filing stays: the next connection inherits it
    self->live_conns--;
}

//  Ends one side; the entry goes when it was the last.
static void s_end_side(tw_flow_table *self, uint32_t entry, int d, tw_end_reason reason)
{
    s_conn *conn = &self->conns[entry];
    s_side *side = &conn->side[d];
    if (self->on_end) {
        tw_flow_record record;
        s_fill_record(self, entry, d, reason, &record);
        self->on_end(&record, self->arg);
    }
    self->ended++;
    if (reason == TW_END_EVICTED)
        self->evicted++;
    bool stalled = side->state & STATE_STALLED;
    if (stalled)
        s_stall_end(self, side, side->last_us);  // a stall ends with its flow
    s_rare_free(self, side);
    *side = (s_side){.rare = NONE};
    self->count--;
    if (!s_side_live(&conn->side[!d]))
        s_free_conn(self, entry);
    else if (stalled)
        s_refile(self, entry);  // a prober whose stalled peer went: its own timeout
    // Else the peer's deadline is what it was, and the filing covers it.
}

//  Ends a side that is over; a closed connection ends both sides together.
static void s_end_connection(tw_flow_table *self, uint32_t entry, int d, tw_end_reason reason)
{
    s_conn *conn = &self->conns[entry];
    bool closing = conn->side[d].state & STATE_CLOSING;
    bool peer_closing = s_side_live(&conn->side[!d]) && (conn->side[!d].state & STATE_CLOSING);
    s_end_side(self, entry, d, reason);
    if (closing && peer_closing)
        s_end_side(self, entry, !d, reason);
}

//  Ends both sides of a connection (eviction, end of capture).
static void s_end_both(tw_flow_table *self, uint32_t entry, tw_end_reason reason)
{
    for (int d = 0; d < 2; d++)
        if (s_conn_live(&self->conns[entry]) && s_side_live(&self->conns[entry].side[d]))
            s_end_side(self, entry, d, reason);
}

static int64_t s_conn_last_us(const s_conn *conn)
{
    int64_t a = conn->side[0].last_us, b = conn->side[1].last_us;
    bool a_live = s_side_live(&conn->side[0]), b_live = s_side_live(&conn->side[1]);
    if (a_live && b_live)
        return a > b ? a : b;
    return a_live ? a : b;
}

//  Ends the least recently seen of a few live connections after the cursor
//  (never `exclude`): cheap, and close enough to LRU without paying a list
//  update on every packet. Returns false when there was none to end.
static bool s_evict_one(tw_flow_table *self, uint32_t exclude)
{
    uint32_t victim = NONE, sampled = 0;
    for (uint32_t k = 0; k < self->high_water && sampled < EVICT_SAMPLES; k++) {
        uint32_t i = (self->evict_cursor + k) % self->high_water;
        if (i == exclude || !s_conn_live(&self->conns[i]))
            continue;
        sampled++;
        if (victim == NONE ||
            s_conn_last_us(&self->conns[i]) < s_conn_last_us(&self->conns[victim]))
            victim = i;
    }
    self->evict_cursor += EVICT_SAMPLES;
    if (victim == NONE)
        return false;
    s_end_both(self, victim, TW_END_EVICTED);
    return true;
}

// ---------------------------------------------------------------------------
// New connections and sides

//  Starts fetching the entry that the next new connection will take (the
//  free list's head): its key names the entry after it, and its lines are
//  written whole.
PREFETCHER void s_prefetch_free_head(const tw_flow_table *self)
{
    if (self->free_head == NONE)
        return;
    const char *conn = (const char *)&self->conns[self->free_head];
    __builtin_prefetch(conn, 1);
    __builtin_prefetch(conn + CACHE_LINE, 1);
    __builtin_prefetch(conn + 2 * CACHE_LINE, 1);
}

//  A new entry for the lookup's key. Returns NONE when out of memory.
static uint32_t s_new_conn(tw_flow_table *self, const tw_flow_index_key *key, uint32_t tag)
{
    // A full table evicts first: room for capacity entries is all it needs
    // (capacity + 1 would start a move into twice the slots).
    size_t entries =
        self->live_conns < self->capacity ? (size_t)self->live_conns + 1 : self->capacity;
    if (tw_flow_index_grow_step(self->index, entries) != 0) {
        self->untracked++;  // the packet is lost to the analysis: say so
        return NONE;
    }
    if (self->count >= self->config.max_flows || self->live_conns == self->capacity)
        s_evict_one(self, NONE);
    bool reused = self->free_head != NONE;
    if (!reused && self->high_water == self->capacity) {
        self->untracked++;  // cannot happen: a live entry holds a live side
        return NONE;
    }
    uint32_t entry = reused ? self->free_head : self->high_water;
    if (tw_flow_index_insert(self->index, tag, entry) != 0) {
        self->untracked++;  // cannot happen: the index has room for capacity entries
        return NONE;
    }
    s_conn *conn = &self->conns[entry];
    if (reused) {
        self->free_head = (uint32_t)conn->key.words[0];
        s_prefetch_free_head(self);  // the next new connection's, ahead of it
        // The ended connection's record, still ahead in the wheel, serves
        // this one (looked at early, it is filed again for its deadline):
        // so a full table evicting on every packet adds no records.
        if (conn->filed < self->wheel_bucket || conn->filed >= KEPT)
            conn->filed = UNFILED;
    } else {
        self->high_water++;
        conn->filed = UNFILED;
    }
    conn->key = *key;
    conn->side[0] = conn->side[1] = (s_side){.rare = NONE};
    self->live_conns++;
    return entry;
}

//  Starts side d of a live entry at ts_us.
static void s_start_side(tw_flow_table *self, uint32_t entry, int d, int64_t ts_us)
{
    s_conn *conn = &self->conns[entry];
    conn->side[d] = (s_side){
        .last_us = ts_us,
        .min_window = UINT16_MAX,
        .rare = NONE,
        .window_scale = -1,
        .flags = SIDE_LIVE,
    };
    conn->times[d] = (s_side_times){.first_us = ts_us};
    conn->episodes[d] = 0;
    if (conn->side[!d].state & STATE_STALLED)
        conn->side[d].flags |= SIDE_PROBER;  // born into its peer's stall
    self->count++;
    if (!self->wheel_started) {
        self->wheel_bucket = s_bucket(ts_us);
        self->wheel_started = true;
    }
}

// ---------------------------------------------------------------------------
// Counting

//  The shift is 0 unless the threshold is in bytes and scaling is in force.
static inline bool s_is_undershoot(const tw_flow_table *self, const s_side *side,
                                   const tw_packet *packet)
{
    // A SYN's own window is never scaled (RFC 7323).
    uint32_t shift = (packet->flags & TW_TCP_SYN) ? 0 : side->shift;
    return ((uint64_t)packet->window << shift) < self->config.threshold;
}

//  A packet of a side whose peer is stalled: a probe of either kind is
//  counted on both sides. Returns true for a 1-byte probe (Wireshark's
//  zero_window_probe), which does not advance the next sequence number.
static bool s_probe(tw_flow_table *self, uint32_t entry, int d, const tw_packet *packet)
{
    s_conn *conn = &self->conns[entry];
    const s_rare *peer = s_rare_of(self, &conn->side[!d]);
    bool window_probe =
        packet->payload_len == 1 && packet->seq == conn->side[d].next_seq && peer->window == 0;
    bool zero_length = packet->payload_len == 0 && !(packet->flags & CONTROL_FLAGS) &&
                       packet->seq == peer->ack - 1;
    if (!window_probe && !zero_length)
        return false;
    self->totals.probes++;
    s_rare *stalled = s_rare_of(self, &conn->side[!d]);
    stalled->probes_received++;
    stalled->stall_probes++;
    if (s_rare_entry(self, entry, d) == NONE)
        return window_probe;  // the prober's share is lost, and counted untracked
    s_rare *rare = s_rare_of(self, &conn->side[d]);
    rare->window_probes += window_probe;
    rare->zero_length_probes += zero_length;
    return window_probe;
}

//  Wireshark's nextseq: the highest seq + length (+1 for SYN or FIN) sent;
//  0 is unknown, and a 1-byte probe does not advance it.
static inline void s_advance_seq(s_side *side, const tw_packet *packet)
{
    uint32_t next =
        packet->seq + packet->payload_len + ((packet->flags & (TW_TCP_SYN | TW_TCP_FIN)) != 0);
    if ((int32_t)(next - side->next_seq) > 0 || side->next_seq == 0)
        side->next_seq = next;
}

//  A stall begins on side d: its live peer is its prober from now on.
static void s_stall_begin(tw_flow_table *self, uint32_t entry, int d, s_rare *rare, int64_t ts_us)
{
    s_conn *conn = &self->conns[entry];
    conn->side[d].state |= STATE_STALLED;
    rare->stalls++;
    rare->start_us = ts_us;
    rare->stall_probes = 0;
    s_stalled_append(self, conn->side[d].rare);
    self->totals.stalls++;
    self->stalled++;
    self->stall_start_sum += (uint64_t)ts_us;
    if (s_side_live(&conn->side[!d]))
        conn->side[!d].flags |= SIDE_PROBER;
}

//  The stall figures of a packet that advertises a zero or small window, or
//  of a stalled side: rare, so kept off the common path.
static void s_stall_step(tw_flow_table *self, uint32_t entry, int d, const tw_packet *packet,
                         bool undershoot, int64_t ts_us)
{
    s_side *side = &self->conns[entry].side[d];
    bool control = packet->flags & CONTROL_FLAGS;
    bool zero_window = packet->window == 0 && !control;
    bool begins = undershoot && !control && !(side->state & STATE_STALLED);
    if (!zero_window && !begins && !(side->state & STATE_STALLED))
        return;  // a prober's packet, or a SYN/FIN/RST below the threshold
    if (s_rare_entry(self, entry, d) == NONE)
        return;  // counted untracked; a stalled side has its entry already
    s_rare *rare = s_rare_of(self, side);
    if (zero_window) {
        rare->zero_window_adverts++;
        self->totals.zero_window_adverts++;
    }
    // Only data or a pure ACK reopens, as a stall only begins on one (and
    // Wireshark's window update is neither SYN, FIN nor RST): a closing
    // packet leaves the stall to end with its flow.
    if ((side->state & STATE_STALLED) && !undershoot && !control) {
        rare->window_reopenings++;
        self->totals.window_reopenings++;
        s_stall_end(self, side, ts_us);
        s_refile(self, entry);  // both sides back to their own timeouts
        return;
    }
    if (begins)
        s_stall_begin(self, entry, d, rare, ts_us);
    if (!(side->state & STATE_STALLED))
        return;  // --threshold 0: zero windows are counted, nothing stalls
    rare->window = packet->window;
    rare->ack = packet->ack;
}

//  A carry out of a side's low packet or undershoot word, into its rare
//  entry (at 2^32 packets of one flow).
static void s_carry(tw_flow_table *self, uint32_t entry, int d, bool undershoots)
{
    if (s_rare_entry(self, entry, d) == NONE)
        return;  // counted untracked
    s_rare *rare = s_rare_of(self, &self->conns[entry].side[d]);
    if (undershoots)
        rare->undershoots_high++;
    else
        rare->packets_high++;
}

//  A packet older than the side's last one counts at the side's last time:
//  the side's time never goes back, so no duration is negative.
static void s_count(tw_flow_table *self, uint32_t entry, int d, const tw_packet *packet,
                    int64_t ts_us)
{
    s_conn *conn = &self->conns[entry];
    s_side *side = &conn->side[d];
    ts_us = ts_us > side->last_us ? ts_us : side->last_us;
    side->last_us = ts_us;
    if (__builtin_expect(++side->packets_low == 0, 0))
        s_carry(self, entry, d, false);
    side->min_window = packet->window < side->min_window ? packet->window : side->min_window;
    bool undershoot = s_is_undershoot(self, side, packet);
    if (undershoot) {
        if (__builtin_expect(++side->undershoots_low == 0, 0))
            s_carry(self, entry, d, true);
        if (!(side->state & STATE_IN_EPISODE)) {
            side->state |= STATE_IN_EPISODE;
            conn->episodes[d]++;
            conn->times[d].episode_start_us = ts_us;
        }
    } else if (side->state & STATE_IN_EPISODE) {
        side->state &= ~STATE_IN_EPISODE;
        s_side_times *times = &conn->times[d];
        times->zero_window_us =
            tw_time_add(times->zero_window_us, tw_time_since(times->episode_start_us, ts_us));
    }
    // One test for the rare packets: an undershoot or a zero window (which
    // is one unless the threshold is 0), a stalled side or its prober.
    if (__builtin_expect(undershoot || packet->window == 0 ||
                             ((side->state | conn->side[!d].state) & STATE_STALLED),
                         0)) {
        bool window_probe =
            (conn->side[!d].state & STATE_STALLED) && s_probe(self, entry, d, packet);
        if (!window_probe)
            s_advance_seq(side, packet);
        s_stall_step(self, entry, d, packet, undershoot, ts_us);
        return;
    }
    s_advance_seq(side, packet);
}

//  Returns true when the side was not closing yet.
static bool s_start_closing(s_conn *conn, int d, int64_t ts_us, uint8_t how)
{
    if (conn->side[d].state & STATE_CLOSING)
        return false;
    conn->side[d].state |= STATE_CLOSING | how;
    conn->times[d].close_us = ts_us;
    return true;
}

static uint8_t s_shift_of(int8_t window_scale)
{
    return (uint8_t)(window_scale > MAX_SHIFT ? MAX_SHIFT : window_scale);
}

//  Window scaling is in force only when both SYNs carried the option; the
//  shift each side announced then applies to that side's windows.
static void s_on_syn(tw_flow_table *self, s_conn *conn, int d, const tw_packet *packet)
{
    s_side *side = &conn->side[d], *peer = &conn->side[!d];
    side->state |= STATE_SYN_SEEN;
    side->syns += side->syns < MAX_SYNS;
    side->window_scale = packet->window_scale;
    if (!self->config.threshold_bytes || !s_side_live(peer) || !(peer->state & STATE_SYN_SEEN))
        return;
    side->flags |= SIDE_SCALE_KNOWN;
    peer->flags |= SIDE_SCALE_KNOWN;
    bool scaled = side->window_scale >= 0 && peer->window_scale >= 0;
    side->shift = scaled ? s_shift_of(side->window_scale) : 0;
    peer->shift = scaled ? s_shift_of(peer->window_scale) : 0;
}

//  A SYN, FIN or RST on side d. Returns true when a side's timeout may be
//  shorter now (a first FIN, a close).
static bool s_on_control(tw_flow_table *self, uint32_t entry, int d, const tw_packet *packet,
                         int64_t ts_us)
{
    s_conn *conn = &self->conns[entry];
    bool peer_live = s_side_live(&conn->side[!d]), shorter = false;
    if (packet->flags & TW_TCP_SYN)
        s_on_syn(self, conn, d, packet);
    if (packet->flags & TW_TCP_RST) {
        shorter = s_start_closing(conn, d, ts_us, STATE_BY_RST);
        if (peer_live)
            shorter |= s_start_closing(conn, !d, ts_us, STATE_BY_RST);
    }
    if (packet->flags & TW_TCP_FIN) {
        shorter |= !(conn->side[d].state & STATE_FIN_SEEN);
        conn->side[d].state |= STATE_FIN_SEEN;
        if (peer_live) {
            shorter |= !(conn->side[!d].flags & SIDE_PEER_FIN);
            conn->side[!d].flags |= SIDE_PEER_FIN;
            if (conn->side[!d].state & STATE_FIN_SEEN) {
                shorter |= s_start_closing(conn, d, ts_us, 0);
                shorter |= s_start_closing(conn, !d, ts_us, 0);
            }
        }
    }
    return shorter;
}

//  A packet's key, as the batch prepares it: its tag, side, and a guess at
//  its entry.
typedef struct {
    tw_flow_index_key key;
    uint32_t tag;
    uint32_t guess;
    uint8_t side;
} s_lookup_key;

//  The entry whose side d is live for a packet at ts_us: ends the side if it
//  is over and starts it again (*fresh), making the entry if there is none.
//  Returns NONE when out of memory.
static uint32_t s_live_side(tw_flow_table *self, const s_lookup_key *lookup, uint32_t entry,
                            int64_t ts_us, bool *fresh)
{
    int d = lookup->side;
    if (entry != NONE && s_side_live(&self->conns[entry].side[d])) {
        // The common case without the times' line: seen within every timeout.
        const s_side *side = &self->conns[entry].side[d];
        if (!(side->state & STATE_CLOSING) &&
            side->last_us >= tw_time_sub(ts_us, self->min_timeout_us))
            return entry;
        tw_end_reason reason = s_over_reason(self, &self->conns[entry], d, ts_us);
        if (!reason)
            return entry;
        s_end_connection(self, entry, d, reason);
        if (!s_conn_live(&self->conns[entry]))
            entry = NONE;
    }
    // A new side of a live connection: another connection makes room, or,
    // when it is the only one (max_flows 1), its other side.
    if (entry != NONE && self->count >= self->config.max_flows && !s_evict_one(self, entry)) {
        s_end_both(self, entry, TW_END_EVICTED);
        entry = NONE;
    }
    if (entry == NONE)
        entry = s_new_conn(self, &lookup->key, lookup->tag);
    if (entry == NONE)
        return NONE;
    s_start_side(self, entry, d, ts_us);
    *fresh = true;
    return entry;
}

//  One packet, once the batch has prepared its lookup.
static inline int s_packet(tw_flow_table *self, const tw_packet *packet, const s_lookup_key *lookup,
                           int64_t ts_us)
{
    uint32_t entry = s_find_guessed(self, &lookup->key, lookup->tag, lookup->guess);
    bool fresh = false;
    entry = s_live_side(self, lookup, entry, ts_us, &fresh);
    if (entry == NONE)
        return -ENOMEM;
    int d = lookup->side;
    s_count(self, entry, d, packet, ts_us);
    bool shorter = (packet->flags & CONTROL_FLAGS) &&
                   s_on_control(self, entry, d, packet, self->conns[entry].side[d].last_us);
    // A first FIN or a close may shorten a deadline, and a new side may be
    // due before the entry's filing (only its own deadline is new). Other
    // packets only make deadlines later: the wheel finds that out when the
    // old one comes (see the top).
    if (shorter)
        s_refile(self, entry);
    else if (fresh)
        s_file(self, entry, s_side_deadline(self, &self->conns[entry], d));
    return 0;
}

int tw_flow_table_packet(tw_flow_table *self, const tw_packet *packet, int64_t ts_us)
{
    return tw_flow_table_packets(self, packet, &ts_us, 1);
}

//  Starts fetching the two lines a packet of the entry reads.
PREFETCHER void s_prefetch_entry(const tw_flow_table *self, uint32_t entry)
{
    if (entry < self->high_water) {
        const char *conn = (const char *)&self->conns[entry];
        __builtin_prefetch(conn, 1);
        __builtin_prefetch(conn + CACHE_LINE, 1);
    }
}

//  How far ahead of the packet being counted the batch fetches its index
//  slot (2 x) and then, with the slot here, the entry it names (1 x): far
//  enough that a fetch has arrived when its packet comes, near enough that
//  the fetches in flight fit the core's miss buffers (fetching a whole
//  batch's entries before counting any left 40 % of the time on misses).
#define AHEAD 8

//  Guesses the entry of a prepared lookup and starts fetching it (and, for
//  a control packet, its times).
static inline void s_guess(const tw_flow_table *self, s_lookup_key *lookup, uint8_t flags)
{
    uint32_t guess = tw_flow_index_guess(self->index, lookup->tag);
    lookup->guess = guess;
    s_prefetch_entry(self, guess);
    if ((flags & CONTROL_FLAGS) && guess < self->high_water)
        __builtin_prefetch(&self->conns[guess].times, 1);
}

//  Hashes a batch of at most TW_FLOW_BATCH packets, then counts them in
//  order while fetching the slots and entries of the packets AHEAD and
//  2 x AHEAD further on.
static int s_batch(tw_flow_table *self, const tw_packet *packets, const int64_t *ts_us, size_t n)
{
    s_lookup_key lookups[TW_FLOW_BATCH];
    for (size_t i = 0; i < n; i++) {
        lookups[i].tag = s_make_key(&lookups[i].key, &packets[i], &lookups[i].side);
        if (i < 2 * AHEAD)
            tw_flow_index_prefetch(self->index, lookups[i].tag);
    }
    for (size_t i = 0; i < n && i < AHEAD; i++)
        s_guess(self, &lookups[i], packets[i].flags);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 2 * AHEAD < n)
            tw_flow_index_prefetch(self->index, lookups[i + 2 * AHEAD].tag);
        if (i + AHEAD < n)
            s_guess(self, &lookups[i + AHEAD], packets[i + AHEAD].flags);
        if (s_packet(self, &packets[i], &lookups[i], ts_us[i]) != 0)
            rc = -ENOMEM;
    }
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

// ---------------------------------------------------------------------------
// Expiry

//  Starts fetching all of an entry (an expiry reads its sides and times).
PREFETCHER void s_prefetch_conn(const tw_flow_table *self, uint32_t entry)
{
    if (entry < self->high_water) {
        const char *conn = (const char *)&self->conns[entry];
        __builtin_prefetch(conn, 1);
        __builtin_prefetch(conn + CACHE_LINE, 1);
        __builtin_prefetch(conn + 2 * CACHE_LINE, 1);
    }
}

//  Looks at an entry whose bucket has come (up to bucket `last`, now_us's):
//  ends its sides that are over, then files it for the earliest deadline
//  of what is left, in the kept list if that is not past the walk. A side
//  blocked by its peer's stall until recently counts its idle time from the
//  stall's end.
static void s_expire_conn(tw_flow_table *self, uint32_t entry, int64_t now_us, uint64_t last)
{
    self->expiry_checks++;
    s_conn *conn = &self->conns[entry];
    conn->filed = UNFILED;
    for (int d = 0; d < 2; d++) {
        if (!s_conn_live(conn) || !s_side_live(&conn->side[d]))
            continue;
        tw_end_reason reason = s_over_reason(self, conn, d, now_us);
        if (reason)
            s_end_connection(self, entry, d, reason);
    }
    if (!s_conn_live(conn) || conn->filed != UNFILED)
        return;  // ended, or filed again while a side ended (its peer's deadline)
    int64_t deadline = s_conn_deadline(self, conn, now_us);
    if (s_bucket(deadline) > last) {
        s_file(self, entry, deadline);
    } else if (s_chunk_append(self, &self->kept, entry) == 0) {
        conn->filed = KEPT;
    } else {
        self->sweep_needed = true;
    }
}

//  Whether a record of entry in the slot of `bucket` is its current filing
//  (KEPT and UNFILED are past every bucket). A free entry's is consumed:
//  the next connection in the entry files anew.
static inline bool s_record_current(tw_flow_table *self, uint32_t entry, uint64_t bucket)
{
    s_conn *conn = &self->conns[entry];
    if (conn->filed > bucket || s_slot(conn->filed) != s_slot(bucket))
        return false;  // stale: filed again since
    if (s_conn_live(conn))
        return true;
    conn->filed = UNFILED;
    return false;
}

//  The record k places after the start of chunk (in it or the next one),
//  or NONE past the list's end.
static inline uint32_t s_record_at(const s_chunk *chunk, uint32_t k)
{
    if (k < chunk->n)
        return chunk->ids[k];
    const s_chunk *next = chunk->next;
    return next && k - chunk->n < next->n ? next->ids[k - chunk->n] : NONE;
}

//  Looks at the current records of a detached list of chunks. The entries
//  are independent, so their misses overlap: each record's entry is
//  fetched 2 x AHEAD records ahead, and AHEAD ahead, its key there, the
//  index slot that ending it will empty.
static void s_walk_chunks(tw_flow_table *self, s_chunk *chunk, int64_t now_us, uint64_t bucket,
                          uint64_t last)
{
    for (uint32_t k = 0; k < 2 * AHEAD; k++)
        s_prefetch_conn(self, s_record_at(chunk, k));
    for (; chunk; chunk = chunk->next) {
        for (uint32_t k = 0; k < chunk->n; k++) {
            s_prefetch_conn(self, s_record_at(chunk, k + 2 * AHEAD));
            uint32_t ahead = s_record_at(chunk, k + AHEAD);
            if (ahead != NONE && s_conn_live(&self->conns[ahead]))
                tw_flow_index_prefetch(self->index, tw_flow_index_hash(&self->conns[ahead].key));
            uint32_t entry = chunk->ids[k];
            if (s_record_current(self, entry, bucket))
                s_expire_conn(self, entry, now_us, last);
        }
    }
}

//  Walks one bucket's records; records filed into it meanwhile (a side's
//  end files its peer) are walked too.
static void s_walk_bucket(tw_flow_table *self, uint64_t bucket, int64_t now_us, uint64_t last)
{
    s_chunk_list *list = &self->wheel[s_slot(bucket)];
    while (list->head) {
        s_chunk *chunks = list->head;
        list->head = list->tail = NULL;
        s_walk_chunks(self, chunks, now_us, bucket, last);
        s_chunks_free(self, chunks);
    }
}

//  After a lost filing: every live entry not filed is looked at.
static void s_sweep_unfiled(tw_flow_table *self, int64_t now_us, uint64_t last)
{
    self->sweep_needed = false;
    for (uint32_t entry = 0; entry < self->high_water; entry++)
        if (s_conn_live(&self->conns[entry]) && self->conns[entry].filed == UNFILED)
            s_expire_conn(self, entry, now_us, last);
}

//  The kept entries go back into the bucket of `last`, for the next expiry.
static void s_put_back_kept(tw_flow_table *self, uint64_t last)
{
    s_chunk *chunks = self->kept.head;
    self->kept.head = self->kept.tail = NULL;
    for (s_chunk *chunk = chunks; chunk; chunk = chunk->next)
        for (uint32_t k = 0; k < chunk->n; k++) {
            s_conn *conn = &self->conns[chunk->ids[k]];
            if (!s_conn_live(conn) || conn->filed != KEPT)
                continue;
            conn->filed = UNFILED;
            if (s_chunk_append(self, &self->wheel[s_slot(last)], chunk->ids[k]) == 0)
                conn->filed = last;
            else {
                self->sweep_needed = true;
            }
        }
    s_chunks_free(self, chunks);
}

//  Walks the buckets from the wheel's time to now_us's (each slot at most
//  once), then leaves the entries due later in that bucket in its slot.
void tw_flow_table_expire(tw_flow_table *self, int64_t now_us)
{
    if (!self->wheel_started)
        return;  // no flow yet
    uint64_t last = s_bucket(now_us);
    if (last < self->wheel_bucket)
        last = self->wheel_bucket;  // the clock stepped back: the entries due then only
    if (last - self->wheel_bucket >= WHEEL_SLOTS)
        self->wheel_bucket = last - (WHEEL_SLOTS - 1);  // every slot, once
    for (;; self->wheel_bucket++) {
        s_walk_bucket(self, self->wheel_bucket, now_us, last);
        if (self->wheel_bucket == last)
            break;
    }
    if (self->sweep_needed)
        s_sweep_unfiled(self, now_us, last);
    s_put_back_kept(self, last);
}

void tw_flow_table_end_all(tw_flow_table *self, tw_end_reason reason)
{
    for (uint32_t entry = 0; entry < self->high_water; entry++)
        if (s_conn_live(&self->conns[entry]))
            s_end_both(self, entry, reason);
}

// ---------------------------------------------------------------------------
// Reports, counters, checks

//  The count is kept as sides enter and leave stalls, so the walk stops
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
    for (uint32_t rare = self->stalled_head; rare != NONE && listed < max;
         rare = self->pool.entries[rare].stalled_next) {
        uint32_t owner = self->pool.entries[rare].owner;
        s_fill_record(self, owner >> 1, (int)(owner & 1), TW_END_NONE, &out[listed]);
        out[listed++].stalled_us = tw_time_since(self->pool.entries[rare].start_us, now_us);
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
    counters.wheel_records = self->wheel_records;
    return counters;
}

//  Marks in `filed` every live entry that has a current record in the
//  wheel (or the kept list). Returns -EINVAL when a current one is filed
//  before the wheel's time.
static int s_mark_filed(const tw_flow_table *self, uint8_t *filed)
{
    for (uint32_t slot = 0; slot < WHEEL_SLOTS; slot++)
        for (const s_chunk *chunk = self->wheel[slot].head; chunk; chunk = chunk->next)
            for (uint32_t k = 0; k < chunk->n; k++) {
                uint32_t entry = chunk->ids[k];
                if (entry >= self->high_water)
                    return -EINVAL;
                const s_conn *conn = &self->conns[entry];
                if (!s_conn_live(conn) || conn->filed >= KEPT || s_slot(conn->filed) != slot)
                    continue;  // stale
                if (conn->filed < self->wheel_bucket)
                    return -EINVAL;  // would not be walked before a revolution
                filed[entry] = 1;
            }
    return 0;
}

//  Every live entry is filed, or a sweep is due.
static int s_check_wheel(const tw_flow_table *self)
{
    if (self->high_water == 0)
        return 0;
    uint8_t *filed = calloc(self->high_water, 1);
    if (!filed)
        return -ENOMEM;
    int rc = s_mark_filed(self, filed);
    for (uint32_t entry = 0; rc == 0 && entry < self->high_water; entry++)
        if (s_conn_live(&self->conns[entry]) && !filed[entry] && !self->sweep_needed)
            rc = -EINVAL;
    free(filed);
    return rc;
}

//  The stalled list holds exactly the stalled sides, each through its own
//  rare entry.
static int s_check_stalled_list(const tw_flow_table *self)
{
    uint32_t listed = 0, prev = NONE;
    for (uint32_t e = self->stalled_head; e != NONE; e = self->pool.entries[e].stalled_next) {
        const s_rare *rare = &self->pool.entries[e];
        uint32_t entry = rare->owner >> 1;
        if (rare->stalled_prev != prev || entry >= self->high_water ||
            !s_conn_live(&self->conns[entry]))
            return -EINVAL;
        const s_side *side = &self->conns[entry].side[rare->owner & 1];
        if (side->rare != e || !(side->state & STATE_STALLED) || ++listed > self->stalled)
            return -EINVAL;
        prev = e;
    }
    return listed == self->stalled && self->stalled_tail == prev ? 0 : -EINVAL;
}

//  The live entries' sides and the free list account for every entry.
static int s_check_entries(const tw_flow_table *self)
{
    uint32_t live = 0, sides = 0, stalled = 0, free_entries = 0;
    for (uint32_t entry = 0; entry < self->high_water; entry++) {
        const s_conn *conn = &self->conns[entry];
        if (!s_conn_live(conn))
            continue;
        live++;
        uint32_t here = s_side_live(&conn->side[0]) + s_side_live(&conn->side[1]);
        if (here == 0)
            return -EINVAL;  // a live entry without a live side
        sides += here;
        for (int d = 0; d < 2; d++)
            stalled += (conn->side[d].state & STATE_STALLED) != 0;
        if (s_find(self, &conn->key, tw_flow_index_hash(&conn->key)) != entry)
            return -EINVAL;  // a duplicate key, or a slot that names another entry
    }
    for (uint32_t e = self->free_head; e != NONE; e = (uint32_t)self->conns[e].key.words[0])
        if (e >= self->high_water || s_conn_live(&self->conns[e]) ||
            ++free_entries > self->high_water)
            return -EINVAL;
    if (live != self->live_conns || sides != self->count || stalled != self->stalled ||
        live + free_entries != self->high_water)
        return -EINVAL;
    return 0;
}

int tw_flow_table_check_expired(const tw_flow_table *self, int64_t now_us)
{
    for (uint32_t entry = 0; entry < self->high_water; entry++) {
        const s_conn *conn = &self->conns[entry];
        for (int d = 0; d < 2 && s_conn_live(conn); d++)
            if (s_side_live(&conn->side[d]) && s_over_reason(self, conn, d, now_us))
                return -EINVAL;  // should have ended
    }
    return 0;
}

int tw_flow_table_check(const tw_flow_table *self)
{
    if (s_check_entries(self) != 0 || s_check_stalled_list(self) != 0 || s_check_wheel(self) != 0)
        return -EINVAL;
    return tw_flow_index_check(self->index, self->live_conns, self->high_water) != 0 ? -EINVAL : 0;
}

// ---------------------------------------------------------------------------
// Making and freeing

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
    if (config->max_flows == 0 || config->max_flows >= (UINT32_MAX >> 1) ||
        config->idle_timeout_us < 0 || config->stall_timeout_us < 0 || config->linger_us < 0 ||
        config->syn_timeout_us < 0 || config->half_closed_timeout_us < 0)
        return NULL;
    tw_flow_table *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->pool.free_head = NONE;
    self->free_head = NONE;
    self->counted_until_us = INT64_MIN;  // nothing counted yet
    self->stalled_head = self->stalled_tail = NONE;
    s_set_timeouts(self);
    self->on_end = on_end;
    self->arg = arg;
    // Two flows per entry: memory is bounded by max_flows x 96 bytes (plus
    // the index), whatever the traffic; one-sided connections (a SYN flood)
    // fill the entries with half as many flows.
    self->capacity = (uint32_t)((config->max_flows + 1) / 2);
    self->conns = tw_huge_reserve(sizeof *self->conns * self->capacity);
    self->compact_at = s_slack(self);
    self->pool.capacity = 2 * self->capacity;
    self->pool.entries = tw_huge_reserve(sizeof *self->pool.entries * self->pool.capacity);
    self->index =
        tw_flow_index_new(self->capacity < FIRST_ENTRIES ? self->capacity : FIRST_ENTRIES);
    if (!self->conns || !self->pool.entries || !self->index)
        tw_flow_table_destroy(&self);
    else
        tw_flow_index_set_limit(self->index, self->capacity);
    return self;
}

static void s_chunk_list_release(s_chunk *chunk)
{
    while (chunk) {
        s_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
}

void tw_flow_table_destroy(tw_flow_table **self)
{
    if (!*self)
        return;
    tw_flow_table *table = *self;
    tw_huge_release(table->conns, sizeof *table->conns * table->capacity);
    tw_huge_release(table->pool.entries, sizeof *table->pool.entries * table->pool.capacity);
    for (uint32_t slot = 0; slot < WHEEL_SLOTS; slot++)
        s_chunk_list_release(table->wheel[slot].head);
    s_chunk_list_release(table->kept.head);
    s_chunk_list_release(table->free_chunks);
    tw_flow_index_destroy(&table->index);
    free(table);
    *self = NULL;
}
