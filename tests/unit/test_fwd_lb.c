/*
 * test_fwd_lb.c: the pure parts of load-balanced forwarding (src/out/fwd_hash.h,
 * src/out/fwd_track.h): rendezvous hashing spreads keys evenly over 3 targets, moves only the
 * keys of a target that goes away (each to its second choice) and brings exactly those back;
 * the settle watermark stays "everything before it is done" while lanes finish out of order,
 * across the ring's growth and wrap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "out/fwd_hash.h"
#include "out/fwd_track.h"

#define KEYS 20000

static uint64_t key_hash(unsigned i)
{
    char k[32];
    int n = snprintf(k, sizeof(k), "host%05u.example.net", i);
    return fwd_hash_bytes(k, (size_t)n);
}

static void salts(uint64_t *salt)
{
    const char *t[3] = {"10.0.0.1:6514", "10.0.0.2:6514", "10.0.0.3:6514"};
    for (int i = 0; i < 3; i++) {
        salt[i] = fwd_hash_bytes(t[i], strlen(t[i]));
    }
}

/* 20,000 keys over 3 targets: each gets a third, within 5% of the keys. */
static void test_hash_distribution(void **state)
{
    (void)state;
    uint64_t salt[3];
    bool live[3] = {true, true, true};
    size_t count[3] = {0};
    salts(salt);
    for (unsigned i = 0; i < KEYS; i++) {
        size_t t = fwd_hash_pick(key_hash(i), salt, live, 3);
        assert_true(t < 3);
        count[t]++;
    }
    for (int t = 0; t < 3; t++) {
        assert_in_range(count[t], KEYS / 3 - KEYS / 20, KEYS / 3 + KEYS / 20);
    }
    /* None live: no target. */
    bool none[3] = {false, false, false};
    assert_int_equal(fwd_hash_pick(key_hash(1), salt, none, 3), SIZE_MAX);
}

/* Target 1 goes away: exactly its keys move, spread over the other two; the others keep
 * theirs. It comes back: exactly its keys return. */
static void test_hash_movement(void **state)
{
    (void)state;
    uint64_t salt[3];
    bool all[3] = {true, true, true};
    bool without1[3] = {true, false, true};
    size_t moved_to[3] = {0};
    salts(salt);
    for (unsigned i = 0; i < KEYS; i++) {
        uint64_t k = key_hash(i);
        size_t before = fwd_hash_pick(k, salt, all, 3);
        size_t during = fwd_hash_pick(k, salt, without1, 3);
        if (before == 1) {
            assert_true(during == 0 || during == 2);
            moved_to[during]++;
        } else {
            assert_int_equal(during, before);
        }
        assert_int_equal(fwd_hash_pick(k, salt, all, 3), before);
    }
    /* The keys of the one that left are shared by both others, about half each. */
    size_t moved = moved_to[0] + moved_to[2];
    assert_true(moved > KEYS / 4);
    assert_in_range(moved_to[0], moved / 2 - moved / 10, moved / 2 + moved / 10);
}

/* Numbers 0..9 in flight on two lanes, finishing out of order: the watermark only moves over
 * a prefix that is all done; a number done twice or outside the range changes nothing. */
static void test_track_out_of_order(void **state)
{
    (void)state;
    struct fwd_track t;
    fwd_track_init(&t, 100);
    assert_true(fwd_track_add(&t, 110));
    /* lane B (odd numbers) acknowledges first */
    for (uint64_t n = 101; n < 110; n += 2) {
        assert_int_equal(fwd_track_done(&t, n), 0);
    }
    assert_int_equal(t.base, 100);
    assert_int_equal(fwd_track_done(&t, 103), 0); /* again */
    assert_int_equal(fwd_track_done(&t, 99), 0);  /* before the range */
    assert_int_equal(fwd_track_done(&t, 110), 0); /* not in flight */
    /* lane A: 100 opens 100..101, then 104 waits for 102 */
    assert_int_equal(fwd_track_done(&t, 100), 2);
    assert_int_equal(t.base, 102);
    assert_int_equal(fwd_track_done(&t, 104), 0);
    assert_int_equal(fwd_track_done(&t, 102), 4); /* 102..105 */
    assert_int_equal(t.base, 106);
    assert_int_equal(fwd_track_done(&t, 108), 0);
    assert_int_equal(fwd_track_done(&t, 106), 4);
    assert_int_equal(t.base, 110);
    assert_int_equal(t.end, 110);
    /* reset starts again */
    fwd_track_reset(&t, 0);
    assert_int_equal(t.base, 0);
    assert_true(fwd_track_add(&t, 1));
    assert_int_equal(fwd_track_done(&t, 0), 1);
    fwd_track_fini(&t);
}

/* Three lanes, 100,000 numbers, each lane finishing its own in order but the lanes at
 * different paces; one lane held back for long (the ring grows past its first size with
 * numbers in flight, and wraps): the watermark is always the first number not done. */
static void test_track_lanes_grow_and_wrap(void **state)
{
    (void)state;
    enum { N = 100000 };
    static uint8_t done[N];
    struct fwd_track t;
    fwd_track_init(&t, 0);
    uint64_t next[3] = {0, 1, 2};  /* lane l takes numbers l, l+3, l+6, ... */
    uint64_t added = 0;
    uint64_t step = 0;
    memset(done, 0, sizeof(done));
    while (t.base < N) {
        if (added < N) {
            uint64_t to = added + 700 > N ? N : added + 700;
            assert_true(fwd_track_reserve(&t, to));
            assert_true(fwd_track_add(&t, to));
            added = to;
        }
        /* lane 0 fast, lane 1 slow, lane 2 stalls for a long stretch in the middle */
        const int pace[3] = {300, 150, (step > 20 && step < 120) ? 0 : 400};
        for (int l = 0; l < 3; l++) {
            for (int k = 0; k < pace[l] && next[l] < added; k++) {
                fwd_track_done(&t, next[l]);
                done[next[l]] = 1;
                next[l] += 3;
            }
        }
        uint64_t want = 0;
        while (want < N && done[want]) {
            want++;
        }
        assert_int_equal(t.base, want);
        step++;
        assert_true(step < 10000);
    }
    assert_true(t.cap >= 1024);
    fwd_track_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_distribution),
        cmocka_unit_test(test_hash_movement),
        cmocka_unit_test(test_track_out_of_order),
        cmocka_unit_test(test_track_lanes_grow_and_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
