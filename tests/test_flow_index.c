// SPDX-License-Identifier: MPL-2.0
/*  flow_index: lookups, backward-shift removal, growth, tag collisions,
    guesses, and a randomized comparison with a linear-search reference.

    The index takes tags from its caller, so these tests choose them: equal
    tags for different keys, and tags whose homes make the probe runs they
    need, without searching for hash collisions.
*/
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow_index.h"

#define NONE   TW_FLOW_INDEX_NONE
#define STRIDE sizeof(tw_flow_index_key)

static uint64_t s_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

//  A key that differs from the key of every other id.
static tw_flow_index_key s_key(uint64_t id)
{
    uint64_t state = id;
    tw_flow_index_key key;
    for (int w = 0; w < TW_FLOW_INDEX_KEY_WORDS; w++)
        key.words[w] = s_splitmix(&state);
    key.words[4] = id;
    return key;
}

static uint32_t s_find(const tw_flow_index *index, const tw_flow_index_key *keys,
                       const tw_flow_index_key *key, uint32_t tag)
{
    return tw_flow_index_find(index, key, tag, keys, STRIDE);
}

static void test_finds_what_was_inserted_and_nothing_else(void **state)
{
    (void)state;
    enum { N = 100 };
    tw_flow_index_key keys[N];
    tw_flow_index *index = tw_flow_index_new(N);
    assert_non_null(index);
    assert_true(tw_flow_index_slots(index) >= 2 * N);
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = s_key(i);
        assert_int_equal(tw_flow_index_insert(index, tw_flow_index_hash(&keys[i]), i), 0);
    }
    assert_int_equal(tw_flow_index_count(index), N);
    assert_int_equal(tw_flow_index_check(index, N, N), 0);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(s_find(index, keys, &keys[i], tw_flow_index_hash(&keys[i])), i);
    tw_flow_index_key absent = s_key(N);
    assert_int_equal(s_find(index, keys, &absent, tw_flow_index_hash(&absent)), NONE);
    // The right tag with a key that differs in one bit of its last word.
    tw_flow_index_key near = keys[7];
    near.words[4] ^= 1;
    assert_int_equal(s_find(index, keys, &near, tw_flow_index_hash(&keys[7])), NONE);
    tw_flow_index_destroy(&index);
    assert_null(index);
    tw_flow_index_destroy(&index);  // harmless
}

//  Slots 5, 6, 7 hold three tags with home 5, slot 8 a tag with home 8,
//  slot 9 a fourth tag with home 5. Emptying slot 6 moves 7 to 6, leaves
//  8 where it is (before the hole it would be before its home), and moves
//  9 to 7.
static void test_removal_from_the_middle_of_a_run_shifts_back(void **state)
{
    (void)state;
    tw_flow_index *index = tw_flow_index_new(16);
    assert_int_equal(tw_flow_index_slots(index), 32);
    const uint32_t tags[] = {5, 5 + 32, 5 + 64, 8, 5 + 96};
    enum { N = sizeof tags / sizeof tags[0] };
    tw_flow_index_key keys[N];
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = s_key(i);
        assert_int_equal(tw_flow_index_insert(index, tags[i], i), 0);
    }
    const uint32_t before[] = {5, 6, 7, 8, 9};
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(tw_flow_index_slot_of(index, tags[i], i), before[i]);

    assert_int_equal(tw_flow_index_remove(index, tags[1], 1), 0);
    assert_int_equal(tw_flow_index_slot_of(index, tags[0], 0), 5);
    assert_int_equal(tw_flow_index_slot_of(index, tags[2], 2), 6);
    assert_int_equal(tw_flow_index_slot_of(index, tags[3], 3), 8);
    assert_int_equal(tw_flow_index_slot_of(index, tags[4], 4), 7);
    assert_int_equal(tw_flow_index_slot_of(index, tags[1], 1), NONE);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(s_find(index, keys, &keys[i], tags[i]), i == 1 ? NONE : i);
    tw_flow_index_destroy(&index);
}

//  A run that starts at the last slots goes on at slot 0; removing its head
//  pulls the slots after the wrap back across it.
static void test_removal_shifts_back_across_the_end_of_the_slots(void **state)
{
    (void)state;
    tw_flow_index *index = tw_flow_index_new(16);
    const uint32_t tags[] = {30, 30 + 32, 31, 30 + 64, 0};
    enum { N = sizeof tags / sizeof tags[0] };
    tw_flow_index_key keys[N];
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = s_key(i);
        assert_int_equal(tw_flow_index_insert(index, tags[i], i), 0);
    }
    const uint32_t before[] = {30, 31, 0, 1, 2};
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(tw_flow_index_slot_of(index, tags[i], i), before[i]);
    assert_int_equal(tw_flow_index_remove(index, tags[0], 0), 0);
    const uint32_t after[] = {NONE, 30, 31, 0, 1};
    for (uint32_t i = 0; i < N; i++) {
        assert_int_equal(tw_flow_index_slot_of(index, tags[i], i), after[i]);
        assert_int_equal(s_find(index, keys, &keys[i], tags[i]), i == 0 ? NONE : i);
    }
    tw_flow_index_destroy(&index);
}

//  Many keys under one tag: the index tells them apart by their keys, and
//  removing any of them, in any order, keeps the others findable.
static void test_many_keys_with_the_same_tag(void **state)
{
    (void)state;
    enum { N = 200, TAG = 42 };
    tw_flow_index_key keys[N];
    tw_flow_index *index = tw_flow_index_new(N);
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = s_key(i);
        assert_int_equal(tw_flow_index_insert(index, TAG, i), 0);
    }
    assert_int_equal(tw_flow_index_check(index, N, N), 0);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(s_find(index, keys, &keys[i], TAG), i);
    bool removed[N] = {false};
    uint64_t seed = 7;
    for (int k = 0; k < N / 2; k++) {
        uint32_t victim;
        do
            victim = (uint32_t)(s_splitmix(&seed) % N);
        while (removed[victim]);
        removed[victim] = true;
        assert_int_equal(tw_flow_index_remove(index, TAG, victim), 0);
        for (uint32_t i = 0; i < N; i++)
            assert_int_equal(s_find(index, keys, &keys[i], TAG), removed[i] ? NONE : i);
    }
    assert_int_equal(tw_flow_index_count(index), N / 2);
    tw_flow_index_destroy(&index);
}

//  Different tags with the same home share one probe run.
static void test_many_tags_with_the_same_home(void **state)
{
    (void)state;
    enum { N = 100 };
    tw_flow_index *index = tw_flow_index_new(N);
    uint32_t slots = (uint32_t)tw_flow_index_slots(index);
    tw_flow_index_key keys[N];
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = s_key(i);
        assert_int_equal(tw_flow_index_insert(index, 3 + i * slots, i), 0);
        assert_int_equal(tw_flow_index_slot_of(index, 3 + i * slots, i), 3 + i);
    }
    for (uint32_t i = 0; i < N; i += 2)
        assert_int_equal(tw_flow_index_remove(index, 3 + i * slots, i), 0);
    for (uint32_t i = 0; i < N; i++) {
        assert_int_equal(s_find(index, keys, &keys[i], 3 + i * slots), i % 2 ? i : NONE);
        // The key alone is not enough: another tag is another key.
        assert_int_equal(s_find(index, keys, &keys[i], 3 + (i + 1) * slots), NONE);
    }
    // Odd entries up to 99 are named: more than a count of 50 allows.
    assert_int_equal(tw_flow_index_check(index, N / 2, N / 2), -EINVAL);
    tw_flow_index_destroy(&index);
}

static void test_grows_keeping_every_entry(void **state)
{
    (void)state;
    enum { N = 5000 };
    tw_flow_index_key *keys = malloc(sizeof *keys * N);
    tw_flow_index *index = tw_flow_index_new(1);
    assert_int_equal(tw_flow_index_slots(index), 2);
    size_t grown = 0;
    for (uint32_t i = 0; i < N; i++) {
        size_t slots = tw_flow_index_slots(index);
        assert_int_equal(tw_flow_index_reserve(index, i + 1), 0);
        grown += tw_flow_index_slots(index) != slots;
        // A power of two, at least twice the entries, less than four times.
        size_t now = tw_flow_index_slots(index);
        assert_int_equal(now & (now - 1), 0);
        assert_true(now >= 2 * (size_t)(i + 1) && now < 4 * (size_t)(i + 1) + 2);
        keys[i] = s_key(i);
        // Half the tags collide in their low bits, so growth splits runs.
        uint32_t tag = i % 2 ? tw_flow_index_hash(&keys[i]) : (i & ~(uint32_t)0xff);
        assert_int_equal(tw_flow_index_insert(index, tag, i), 0);
        if (now != slots)
            for (uint32_t j = 0; j <= i; j++) {
                uint32_t t = j % 2 ? tw_flow_index_hash(&keys[j]) : (j & ~(uint32_t)0xff);
                assert_int_equal(s_find(index, keys, &keys[j], t), j);
            }
    }
    assert_int_equal(grown, 13);  // 2 -> 16384 slots
    assert_int_equal(tw_flow_index_check(index, N, N), 0);
    // A smaller reservation keeps what is there.
    assert_int_equal(tw_flow_index_reserve(index, 10), 0);
    assert_int_equal(tw_flow_index_slots(index), 16384);
    tw_flow_index_destroy(&index);
    free(keys);
}

static void test_refusals(void **state)
{
    (void)state;
    tw_flow_index *index = tw_flow_index_new(1);  // 2 slots: room for 1
    assert_int_equal(tw_flow_index_insert(index, 1, NONE), -EINVAL);
    assert_int_equal(tw_flow_index_insert(index, 1, 0), 0);
    assert_int_equal(tw_flow_index_insert(index, 2, 1), -ENOSPC);  // one slot stays empty
    assert_int_equal(tw_flow_index_remove(index, 1, 5), -ENOENT);
    assert_int_equal(tw_flow_index_remove(index, 2, 0), -ENOENT);
    assert_int_equal(tw_flow_index_count(index), 1);
    assert_int_equal(tw_flow_index_remove(index, 1, 0), 0);  // entry 0 indexed as 3 now
    assert_int_equal(tw_flow_index_insert(index, 1, 3), 0);
    assert_int_equal(tw_flow_index_slot_of(index, 1, 3), 1);
    assert_int_equal(tw_flow_index_slot_of(index, 1, 0), NONE);
    assert_int_equal(tw_flow_index_check(index, 3, 3), -EINVAL);  // names entry 3 of 3
    assert_int_equal(tw_flow_index_check(index, 4, 4), -EINVAL);  // 1 slot used, not 4
    tw_flow_index_destroy(&index);
}

//  A guess names the first entry under the tag, wherever it lies in the run.
static void test_guesses_follow_the_run(void **state)
{
    (void)state;
    tw_flow_index *index = tw_flow_index_new(16);  // 32 slots
    const uint32_t tags[] = {9, 9 + 32, 9 + 64, 9 + 96, 10, 9 + 64};
    for (uint32_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        assert_int_equal(tw_flow_index_insert(index, tags[i], i), 0);
    tw_flow_index_prefetch(index, 9);                             // only a hint: nothing to see
    assert_int_equal(tw_flow_index_guess(index, 9), 0);           // home
    assert_int_equal(tw_flow_index_guess(index, 9 + 32), 1);      // the next slot
    assert_int_equal(tw_flow_index_guess(index, 9 + 64), 2);      // further; not 5
    assert_int_equal(tw_flow_index_guess(index, 9 + 96), 3);      // further
    assert_int_equal(tw_flow_index_guess(index, 10), 4);          // displaced from its home
    assert_int_equal(tw_flow_index_guess(index, 9 + 128), NONE);  // the run ends
    assert_int_equal(tw_flow_index_guess(index, 20), NONE);       // an empty home
    tw_flow_index_destroy(&index);
}

//  The two directions of a connection (first two words swapped with the
//  next two) get different tags; one different word changes the tag.
static void test_hash_tells_directions_apart(void **state)
{
    (void)state;
    uint64_t seed = 3;
    for (int i = 0; i < 1000; i++) {
        tw_flow_index_key key = s_key(s_splitmix(&seed)), swapped = key;
        swapped.words[0] = key.words[2], swapped.words[1] = key.words[3];
        swapped.words[2] = key.words[0], swapped.words[3] = key.words[1];
        assert_int_not_equal(tw_flow_index_hash(&key), tw_flow_index_hash(&swapped));
        // An IPv4-like key: the fold must not lose the addresses' bits.
        tw_flow_index_key v4 = {{key.words[0] & UINT32_MAX, 0, key.words[2] & UINT32_MAX, 0, 4}};
        tw_flow_index_key other = v4;
        other.words[2] ^= (uint64_t)1 << (i % 32);
        assert_int_not_equal(tw_flow_index_hash(&v4), tw_flow_index_hash(&other));
        assert_int_equal(tw_flow_index_hash(&key),
                         tw_flow_index_hash_words(key.words[0], key.words[1], key.words[2],
                                                  key.words[3], key.words[4]));
    }
}

//  Random inserts, removals (the last entry moving into the hole, as the
//  flow table does) and lookups from a small universe of keys, against a
//  dense array searched linearly. Tags come from a handful of values half
//  the time, so runs are long and full of equal tags.
static void s_differential(uint64_t seed, bool few_tags, bool gradual)
{
    enum { UNIVERSE = 3000, OPS = 60000 };
    tw_flow_index_key *keys = malloc(sizeof *keys * UNIVERSE);  // dense, [0..count)
    uint32_t *tags = malloc(sizeof *tags * UNIVERSE);
    uint32_t *ids = malloc(sizeof *ids * UNIVERSE);
    uint32_t count = 0;
    tw_flow_index *index = tw_flow_index_new(1);
    for (int op = 0; op < OPS; op++) {
        uint64_t r = s_splitmix(&seed);
        uint32_t id = (uint32_t)(r % UNIVERSE);
        tw_flow_index_key key = s_key(id);
        uint32_t tag = few_tags ? (uint32_t)(id % 5) * 0x10001u : tw_flow_index_hash(&key);
        uint32_t expected = NONE;
        for (uint32_t e = 0; e < count; e++)
            if (ids[e] == id)
                expected = e;
        uint32_t found = s_find(index, keys, &key, tag);
        assert_int_equal(found, expected);
        int action = (int)((r >> 32) % 3);  // 0 insert, 1 remove, 2 lookup only
        if (action == 0 && found == NONE) {
            if (gradual)
                assert_int_equal(tw_flow_index_grow_step(index, count + 1), 0);
            else
                assert_int_equal(tw_flow_index_reserve(index, count + 1), 0);
            keys[count] = key, tags[count] = tag, ids[count] = id;
            assert_int_equal(tw_flow_index_insert(index, tag, count), 0);
            count++;
        } else if (action == 1 && found != NONE) {
            assert_int_equal(tw_flow_index_remove(index, tag, found), 0);
            uint32_t last = --count;
            if (found != last) {
                // The last entry moves into the hole (the model stays dense).
                assert_int_equal(tw_flow_index_remove(index, tags[last], last), 0);
                assert_int_equal(tw_flow_index_insert(index, tags[last], found), 0);
                keys[found] = keys[last], tags[found] = tags[last], ids[found] = ids[last];
            }
        }
        if (op % 1000 == 0) {
            assert_int_equal(tw_flow_index_check(index, count, count), 0);
            for (uint32_t e = 0; e < count; e++)
                assert_int_equal(s_find(index, keys, &keys[e], tags[e]), e);
        }
    }
    assert_true(count > UNIVERSE / 4);  // the table filled up, it did not stay empty
    assert_int_equal(tw_flow_index_count(index), count);
    tw_flow_index_destroy(&index);
    free(keys);
    free(tags);
    free(ids);
}

static void test_matches_a_linear_search(void **state)
{
    (void)state;
    s_differential(1, false, false);
    s_differential(2, false, false);
}

static void test_matches_a_linear_search_with_few_tags(void **state)
{
    (void)state;
    s_differential(3, true, false);
}

//  The same with gradual growth: lookups, removals and moves meet entries
//  in both arrays while slots move.
static void test_gradual_growth_matches_a_linear_search(void **state)
{
    (void)state;
    s_differential(4, false, true);
    s_differential(5, true, true);
}

//  Gradual growth: every entry stays findable at every step, each move is
//  over before the new slots are half full (never two arrays old), and the
//  slots end as a reserve would size them.
static void test_grows_gradually_keeping_every_entry(void **state)
{
    (void)state;
    enum { N = 30000 };
    tw_flow_index_key *keys = malloc(sizeof *keys * N);
    tw_flow_index *index = tw_flow_index_new(1);
    size_t moves = 0;
    for (uint32_t i = 0; i < N; i++) {
        size_t slots = tw_flow_index_slots(index);
        assert_int_equal(tw_flow_index_grow_step(index, i + 1), 0);
        size_t now = tw_flow_index_slots(index);
        if (now != slots) {
            moves++;
            assert_int_equal(now, 2 * slots);  // one doubling at a time
        }
        assert_true(now >= 2 * (size_t)(i + 1));
        keys[i] = s_key(i);
        // Half the tags collide in their low bits, so moves split runs.
        uint32_t tag = i % 2 ? tw_flow_index_hash(&keys[i]) : (i & ~(uint32_t)0xff);
        assert_int_equal(tw_flow_index_insert(index, tag, i), 0);
        if (i % 97 == 0 || now != slots) {
            assert_int_equal(tw_flow_index_check(index, i + 1, i + 1), 0);
            for (uint32_t j = 0; j <= i; j++) {
                uint32_t t = j % 2 ? tw_flow_index_hash(&keys[j]) : (j & ~(uint32_t)0xff);
                assert_int_equal(s_find(index, keys, &keys[j], t), j);
            }
        }
    }
    assert_int_equal(moves, 15);  // 2 -> 65536 slots
    assert_int_equal(tw_flow_index_slots(index), 65536);
    // The last move (from 32768 slots) started at 16385 entries and is over
    // (only the new slots count for slot_of).
    for (uint32_t j = 0; j < N; j++)
        assert_int_equal(
            tw_flow_index_slot_of(
                index, j % 2 ? tw_flow_index_hash(&keys[j]) : (j & ~(uint32_t)0xff), j) != NONE,
            1);
    assert_int_equal(tw_flow_index_check(index, N, N), 0);
    tw_flow_index_destroy(&index);
    free(keys);
}

//  With a limit, the next slots are prepared (reserved with huge pages and
//  faulted in ahead) from a quarter full on, and the move into them keeps
//  every entry; at the limit the slots are what a reserve would give.
static void test_grows_into_prepared_slots(void **state)
{
    (void)state;
    enum { N = 300000, LIMIT = 1000000 };
    tw_flow_index_key *keys = malloc(sizeof *keys * N);
    uint32_t *tags = malloc(sizeof *tags * N);
    tw_flow_index *index = tw_flow_index_new(1024);
    tw_flow_index_set_limit(index, LIMIT);
    bool prepared = false;
    for (uint32_t i = 0; i < N; i++) {
        assert_int_equal(tw_flow_index_grow_step(index, i + 1), 0);
        prepared = prepared || index->next != NULL;  // a private field, read by the test only
        keys[i] = s_key(i);
        tags[i] = tw_flow_index_hash(&keys[i]);
        assert_int_equal(tw_flow_index_insert(index, tags[i], i), 0);
        if (i % 50000 == 49999) {
            assert_int_equal(tw_flow_index_check(index, i + 1, i + 1), 0);
            for (uint32_t j = 0; j <= i; j++)
                assert_int_equal(s_find(index, keys, &keys[j], tags[j]), j);
        }
    }
    assert_true(prepared);  // the 8 MiB slots of the move at 262,145 entries
    assert_int_equal(tw_flow_index_slots(index), 1u << 20);
    tw_flow_index_destroy(&index);
    // At its limit, an index prepares nothing more.
    index = tw_flow_index_new(1024);
    tw_flow_index_set_limit(index, N);
    for (uint32_t i = 0; i < N; i++) {
        assert_int_equal(tw_flow_index_grow_step(index, i + 1), 0);
        assert_int_equal(tw_flow_index_insert(index, tags[i], i), 0);
    }
    assert_null(index->next);
    assert_int_equal(tw_flow_index_slots(index), 1u << 20);
    assert_int_equal(tw_flow_index_check(index, N, N), 0);
    tw_flow_index_destroy(&index);
    free(keys);
    free(tags);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finds_what_was_inserted_and_nothing_else),
        cmocka_unit_test(test_removal_from_the_middle_of_a_run_shifts_back),
        cmocka_unit_test(test_removal_shifts_back_across_the_end_of_the_slots),
        cmocka_unit_test(test_many_keys_with_the_same_tag),
        cmocka_unit_test(test_many_tags_with_the_same_home),
        cmocka_unit_test(test_grows_keeping_every_entry),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_guesses_follow_the_run),
        cmocka_unit_test(test_hash_tells_directions_apart),
        cmocka_unit_test(test_matches_a_linear_search),
        cmocka_unit_test(test_matches_a_linear_search_with_few_tags),
        cmocka_unit_test(test_gradual_growth_matches_a_linear_search),
        cmocka_unit_test(test_grows_gradually_keeping_every_entry),
        cmocka_unit_test(test_grows_into_prepared_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
