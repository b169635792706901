/*
 * test_source_limit.c: the per-source rate limit, on an injected clock: bursts and intervals,
 * episodes (ended by the next interval, by a sweep, by eviction), independence of sources,
 * least-recently-used eviction, source keys, and a long random run against a plain reference
 * model (linear search, no hash, no lists) to check the table's chains and lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/source_limit.h"

static struct tl_source_limit *make(uint32_t burst, int64_t interval_ms, uint32_t max_sources)
{
    struct tl_source_limit_opts o = { burst, interval_ms, max_sources, { 1, 2 } };
    struct tl_err err;
    struct tl_source_limit *l = tl_source_limit_new(&o, &err);
    if (!l) {
        fail_msg("tl_source_limit_new: %s", err.cause);
    }
    return l;
}

static struct tl_source_key ip4(const char *text)
{
    struct tl_addr a;
    struct tl_source_key k;
    memset(&a, 0, sizeof(a));
    a.family = AF_INET;
    a.port = 514;
    assert_int_equal(inet_pton(AF_INET, text, a.addr), 1);
    tl_source_key_addr(&k, &a);
    return k;
}

static struct tl_source_key pid(uint32_t p)
{
    struct tl_source_key k;
    tl_source_key_pid(&k, p);
    return k;
}

static void test_burst_then_drop_then_next_interval(void **state)
{
    (void)state;
    struct tl_source_limit *l = make(3, 1000, 0);
    struct tl_source_key a = ip4("192.0.2.1");
    struct tl_source_episode ep;

    /* The interval starts at the first message (t = 100). */
    assert_int_equal(tl_source_limit_check(l, &a, 100, &ep), TL_SOURCE_PASS);
    assert_int_equal(ep.dropped, 0);
    assert_int_equal(tl_source_limit_check(l, &a, 150, &ep), TL_SOURCE_PASS);
    assert_int_equal(tl_source_limit_check(l, &a, 200, &ep), TL_SOURCE_PASS);
    assert_int_equal(tl_source_limit_check(l, &a, 300, &ep), TL_SOURCE_DROP_FIRST);
    assert_int_equal(tl_source_limit_check(l, &a, 400, &ep), TL_SOURCE_DROP);
    assert_int_equal(tl_source_limit_check(l, &a, 1099, &ep), TL_SOURCE_DROP);
    assert_int_equal(ep.dropped, 0);

    /* t = 1100: the interval is over; the episode ends with this call. */
    assert_int_equal(tl_source_limit_check(l, &a, 1100, &ep), TL_SOURCE_PASS);
    assert_int_equal(ep.dropped, 3);
    assert_int_equal(ep.first_ms, 300);
    assert_int_equal(ep.last_ms, 1099);
    assert_false(ep.evicted);
    assert_memory_equal(&ep.key, &a, sizeof(a));

    /* A new burst, a new episode. */
    assert_int_equal(tl_source_limit_check(l, &a, 1101, &ep), TL_SOURCE_PASS);
    assert_int_equal(tl_source_limit_check(l, &a, 1102, &ep), TL_SOURCE_PASS);
    assert_int_equal(tl_source_limit_check(l, &a, 1103, NULL), TL_SOURCE_DROP_FIRST);

    struct tl_source_limit_stats st;
    tl_source_limit_stats(l, &st);
    assert_int_equal(st.passed, 6);
    assert_int_equal(st.dropped, 4);
    assert_int_equal(st.episodes, 2);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.sources, 1);
    tl_source_limit_free(l);
}

/* The case: a flood from one source is cut, another source on the input is not. */
static void test_flood_does_not_touch_other_sources(void **state)
{
    (void)state;
    struct tl_source_limit *l = make(100, 5000, 0);
    struct tl_source_key flood = ip4("198.51.100.9");
    struct tl_source_key quiet = pid(4242);
    unsigned flood_passed = 0;
    unsigned quiet_passed = 0;

    for (int t = 0; t < 4000; t++) {
        for (int k = 0; k < 10; k++) {
            flood_passed += tl_source_limit_check(l, &flood, t, NULL) == TL_SOURCE_PASS;
        }
        if (t % 100 == 0) {
            quiet_passed += tl_source_limit_check(l, &quiet, t, NULL) == TL_SOURCE_PASS;
        }
    }
    assert_int_equal(flood_passed, 100);
    assert_int_equal(quiet_passed, 40);

    struct tl_source_episode out[4];
    assert_int_equal(tl_source_limit_sweep(l, 4999, out, 4), 0);
    assert_int_equal(tl_source_limit_sweep(l, 5000, out, 4), 1);
    assert_int_equal(out[0].dropped, 40000 - 100);
    assert_memory_equal(&out[0].key, &flood, sizeof(flood));
    assert_int_equal(out[0].first_ms, 10);
    assert_int_equal(out[0].last_ms, 3999);
    /* Reported once. */
    assert_int_equal(tl_source_limit_sweep(l, 9000, out, 4), 0);
    tl_source_limit_free(l);
}

static void test_sweep_reports_quiet_sources_in_batches(void **state)
{
    (void)state;
    struct tl_source_limit *l = make(1, 100, 0);
    struct tl_source_episode out[2];

    for (uint32_t p = 1; p <= 5; p++) {
        struct tl_source_key k = pid(p);
        /* pid p's interval starts at t = p * 10; each drops p messages. */
        for (uint32_t n = 0; n <= p; n++) {
            (void)tl_source_limit_check(l, &k, p * 10, NULL);
        }
    }
    /* At t = 100 no interval is over (pid 1's runs to 110); at 120, pid 1's and pid 2's. */
    assert_int_equal(tl_source_limit_sweep(l, 100, out, 2), 0);
    assert_int_equal(tl_source_limit_sweep(l, 120, out, 2), 2);
    assert_int_equal(out[0].key.pid, 1);
    assert_int_equal(out[0].dropped, 1);
    assert_int_equal(out[1].key.pid, 2);
    assert_int_equal(out[1].dropped, 2);
    assert_int_equal(tl_source_limit_sweep(l, 1000, out, 2), 2);
    assert_int_equal(out[0].key.pid, 3);
    assert_int_equal(out[1].key.pid, 4);
    assert_int_equal(tl_source_limit_sweep(l, 1000, out, 2), 1);
    assert_int_equal(out[0].key.pid, 5);
    assert_int_equal(out[0].dropped, 5);
    assert_int_equal(tl_source_limit_sweep(l, 1000, out, 2), 0);

    /* A swept source's next message starts a new interval and passes. */
    struct tl_source_key k = pid(5);
    assert_int_equal(tl_source_limit_check(l, &k, 1001, NULL), TL_SOURCE_PASS);
    tl_source_limit_free(l);
}

static void test_least_recently_used_is_evicted(void **state)
{
    (void)state;
    struct tl_source_limit *l = make(2, 1000, 4);
    struct tl_source_episode ep;
    struct tl_source_key k[6];
    for (uint32_t i = 0; i < 6; i++) {
        k[i] = pid(100 + i);
    }
    /* Sources 0..3 fill the table; each uses up its burst; 1 also drops. */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(tl_source_limit_check(l, &k[i], i, NULL), TL_SOURCE_PASS);
        assert_int_equal(tl_source_limit_check(l, &k[i], i, NULL), TL_SOURCE_PASS);
    }
    assert_int_equal(tl_source_limit_check(l, &k[1], 10, NULL), TL_SOURCE_DROP_FIRST);
    assert_int_equal(tl_source_limit_check(l, &k[1], 11, NULL), TL_SOURCE_DROP);
    /* Heard from since: 0. Least recently used now: 2. */
    assert_int_equal(tl_source_limit_check(l, &k[0], 12, NULL), TL_SOURCE_DROP_FIRST);

    /* Source 4 takes 2's place; 2 had no episode to report. */
    assert_int_equal(tl_source_limit_check(l, &k[4], 13, &ep), TL_SOURCE_PASS);
    assert_int_equal(ep.dropped, 0);
    /* 2 comes back as a new source with a fresh burst, displacing 3. */
    assert_int_equal(tl_source_limit_check(l, &k[2], 14, &ep), TL_SOURCE_PASS);
    assert_int_equal(ep.dropped, 0);
    /* 1 was kept: still over its burst. */
    assert_int_equal(tl_source_limit_check(l, &k[1], 15, NULL), TL_SOURCE_DROP);
    /* 5 displaces the least recently used, 0, whose episode is reported as evicted. */
    assert_int_equal(tl_source_limit_check(l, &k[5], 16, &ep), TL_SOURCE_PASS);
    assert_int_equal(ep.dropped, 1);
    assert_true(ep.evicted);
    assert_int_equal(ep.key.pid, 100);
    assert_int_equal(ep.first_ms, 12);

    struct tl_source_limit_stats st;
    tl_source_limit_stats(l, &st);
    assert_int_equal(st.sources, 4);
    assert_int_equal(st.evicted, 3);

    /* 1's episode is still there for the sweep; 0's is not reported twice. */
    struct tl_source_episode out[4];
    assert_int_equal(tl_source_limit_sweep(l, 2000, out, 4), 1);
    assert_int_equal(out[0].key.pid, 101);
    assert_int_equal(out[0].dropped, 3);
    tl_source_limit_free(l);
}

static void test_clock_going_back_keeps_the_interval(void **state)
{
    (void)state;
    struct tl_source_limit *l = make(1, 1000, 0);
    struct tl_source_key a = pid(1);
    assert_int_equal(tl_source_limit_check(l, &a, 5000, NULL), TL_SOURCE_PASS);
    assert_int_equal(tl_source_limit_check(l, &a, 10, NULL), TL_SOURCE_DROP_FIRST);
    assert_int_equal(tl_source_limit_check(l, &a, 5999, NULL), TL_SOURCE_DROP);
    assert_int_equal(tl_source_limit_check(l, &a, 6000, NULL), TL_SOURCE_PASS);
    tl_source_limit_free(l);
}

static void test_keys(void **state)
{
    (void)state;
    struct tl_addr a;
    struct tl_source_key k1;
    struct tl_source_key k2;
    char text[TL_SOURCE_KEY_STRLEN];

    /* The port is not part of the source. */
    memset(&a, 0, sizeof(a));
    a.family = AF_INET;
    a.port = 40000;
    inet_pton(AF_INET, "192.0.2.1", a.addr);
    tl_source_key_addr(&k1, &a);
    a.port = 40001;
    tl_source_key_addr(&k2, &a);
    assert_memory_equal(&k1, &k2, sizeof(k1));
    assert_int_equal(tl_source_key_format(&k1, text, sizeof(text)), 9);
    assert_string_equal(text, "192.0.2.1");

    /* An IPv4-mapped IPv6 address is the IPv4 host. */
    memset(&a, 0, sizeof(a));
    a.family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.0.2.1", a.addr);
    tl_source_key_addr(&k2, &a);
    assert_memory_equal(&k1, &k2, sizeof(k1));

    inet_pton(AF_INET6, "2001:db8::1", a.addr);
    tl_source_key_addr(&k2, &a);
    assert_int_equal(k2.kind, TL_SOURCE_IPV6);
    tl_source_key_format(&k2, text, sizeof(text));
    assert_string_equal(text, "2001:db8::1");

    tl_source_key_pid(&k2, 1234);
    tl_source_key_format(&k2, text, sizeof(text));
    assert_string_equal(text, "pid 1234");
    /* A pid and an address never collide. */
    assert_memory_not_equal(&k1, &k2, sizeof(k1));

    memset(&a, 0, sizeof(a));
    a.family = AF_UNIX;
    tl_source_key_addr(&k2, &a);
    assert_int_equal(k2.kind, TL_SOURCE_NONE);
    tl_source_key_format(&k2, text, sizeof(text));
    assert_string_equal(text, "unknown source");
    assert_int_equal(tl_source_key_format(&k2, text, 4), 3);
    assert_string_equal(text, "unk");
}

static void test_options_are_checked(void **state)
{
    (void)state;
    struct tl_err err;
    struct tl_source_limit_opts o = { 0, 1000, 0, { 0, 0 } };
    assert_null(tl_source_limit_new(&o, &err));
    assert_int_equal(err.code, TL_E_CONFIG);
    assert_string_equal(err.cause, "rate_limit.burst must be at least 1");
    o.burst = 10;
    o.interval_ms = 0;
    assert_null(tl_source_limit_new(&o, &err));
    assert_string_equal(err.cause, "rate_limit.interval must be at least 1 ms");
    o.interval_ms = 5000;
    o.max_sources = (1u << 20) + 1;
    assert_null(tl_source_limit_new(&o, &err));
    assert_int_equal(err.code, TL_E_CONFIG);
    assert_string_equal(err.cause,
                        "rate limit: at most 1048576 sources can be tracked, not 1048577");
    /* Seeds from getrandom when none is given. */
    o.max_sources = 0;
    struct tl_source_limit *l = tl_source_limit_new(&o, &err);
    assert_non_null(l);
    tl_source_limit_free(l);
    tl_source_limit_free(NULL);
}

/* Many more sources than room: the table stays at its size, lookups stay right. */
static void test_many_sources(void **state)
{
    (void)state;
    struct tl_source_limit *l = make(1, 1000000, 0);
    struct tl_addr a;
    memset(&a, 0, sizeof(a));
    a.family = AF_INET6;
    a.addr[0] = 0x20;
    a.addr[1] = 0x01;
    for (uint32_t i = 0; i < 100000; i++) {
        struct tl_source_key k;
        memcpy(a.addr + 12, &i, 4);
        tl_source_key_addr(&k, &a);
        assert_int_equal(tl_source_limit_check(l, &k, 0, NULL), TL_SOURCE_PASS);
        /* The last 4096 are all remembered: a second message from each is over the burst. */
        if (i >= 100000 - 4096 && i % 7 == 0) {
            assert_int_equal(tl_source_limit_check(l, &k, 0, NULL), TL_SOURCE_DROP_FIRST);
        }
    }
    struct tl_source_limit_stats st;
    tl_source_limit_stats(l, &st);
    assert_int_equal(st.sources, 4096);
    assert_int_equal(st.evicted, 100000 - 4096);
    tl_source_limit_free(l);
}

/* ---- a plain model of the same rules ---- */

struct ref_entry {
    uint32_t pid;
    bool used;
    uint64_t last_use;
    uint64_t drop_seq;  /* order in which episodes began, for the sweep's order */
    int64_t window_start;
    int64_t first_ms;
    int64_t last_ms;
    uint64_t dropped;
    uint32_t count;
};

struct ref {
    struct ref_entry e[8];
    size_t cap;
    uint64_t clock;
    uint64_t seq;
    uint32_t burst;
    int64_t interval;
};

static void ref_end(struct ref_entry *e, bool evicted, struct tl_source_episode *ep)
{
    if (e->dropped == 0) {
        return;
    }
    tl_source_key_pid(&ep->key, e->pid);
    ep->dropped = e->dropped;
    ep->first_ms = e->first_ms;
    ep->last_ms = e->last_ms;
    ep->evicted = evicted;
    e->dropped = 0;
}

static enum tl_source_verdict ref_check(struct ref *r, uint32_t p, int64_t now,
                                        struct tl_source_episode *ep)
{
    struct ref_entry *e = NULL;
    ep->dropped = 0;
    for (size_t i = 0; i < r->cap; i++) {
        if (r->e[i].used && r->e[i].pid == p) {
            e = &r->e[i];
        }
    }
    if (!e) {
        for (size_t i = 0; i < r->cap && !e; i++) {
            if (!r->e[i].used) {
                e = &r->e[i];
            }
        }
        if (!e) {
            e = &r->e[0];
            for (size_t i = 1; i < r->cap; i++) {
                if (r->e[i].last_use < e->last_use) {
                    e = &r->e[i];
                }
            }
            ref_end(e, true, ep);
        }
        memset(e, 0, sizeof(*e));
        e->used = true;
        e->pid = p;
        e->window_start = now;
    }
    e->last_use = ++r->clock;
    if (now - e->window_start >= r->interval) {
        ref_end(e, false, ep);
        e->window_start = now;
        e->count = 0;
    }
    if (e->count < r->burst) {
        e->count++;
        return TL_SOURCE_PASS;
    }
    e->last_ms = now;
    if (e->dropped++ > 0) {
        return TL_SOURCE_DROP;
    }
    e->first_ms = now;
    e->drop_seq = ++r->seq;
    return TL_SOURCE_DROP_FIRST;
}

static size_t ref_sweep(struct ref *r, int64_t now, struct tl_source_episode *out, size_t max)
{
    size_t n = 0;
    while (n < max) {
        struct ref_entry *first = NULL;
        for (size_t i = 0; i < r->cap; i++) {
            struct ref_entry *e = &r->e[i];
            if (e->used && e->dropped && now - e->window_start >= r->interval &&
                (!first || e->drop_seq < first->drop_seq)) {
                first = e;
            }
        }
        if (!first) {
            break;
        }
        ref_end(first, false, &out[n++]);
    }
    return n;
}

static void same_episode(const struct tl_source_episode *a, const struct tl_source_episode *b)
{
    assert_int_equal(a->dropped, b->dropped);
    if (a->dropped) {
        assert_memory_equal(&a->key, &b->key, sizeof(a->key));
        assert_int_equal(a->first_ms, b->first_ms);
        assert_int_equal(a->last_ms, b->last_ms);
        assert_int_equal(a->evicted, b->evicted);
    }
}

static void test_against_reference_model(void **state)
{
    (void)state;
    uint64_t rng = 88172645463325252ull;
    struct ref r;
    memset(&r, 0, sizeof(r));
    r.cap = 8;
    r.burst = 3;
    r.interval = 50;
    struct tl_source_limit *l = make(r.burst, r.interval, (uint32_t)r.cap);
    int64_t now = 0;

    for (int op = 0; op < 200000; op++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        now += (int64_t)(rng % 4);
        if (rng % 97 == 0) {
            struct tl_source_episode a[3];
            struct tl_source_episode b[3];
            size_t n = tl_source_limit_sweep(l, now, a, 3);
            assert_int_equal(n, ref_sweep(&r, now, b, 3));
            for (size_t i = 0; i < n; i++) {
                same_episode(&a[i], &b[i]);
            }
            continue;
        }
        /* Twelve pids for eight places: evictions are frequent. */
        uint32_t p = (uint32_t)(rng >> 20) % 12;
        struct tl_source_key k = pid(p);
        struct tl_source_episode a;
        struct tl_source_episode b;
        enum tl_source_verdict va = tl_source_limit_check(l, &k, now, &a);
        enum tl_source_verdict vb = ref_check(&r, p, now, &b);
        if (va != vb) {
            fail_msg("op %d pid %u at %lld: %d, model says %d", op, p, (long long)now, va, vb);
        }
        same_episode(&a, &b);
    }
    tl_source_limit_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_drop_then_next_interval),
        cmocka_unit_test(test_flood_does_not_touch_other_sources),
        cmocka_unit_test(test_sweep_reports_quiet_sources_in_batches),
        cmocka_unit_test(test_least_recently_used_is_evicted),
        cmocka_unit_test(test_clock_going_back_keeps_the_interval),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_options_are_checked),
        cmocka_unit_test(test_many_sources),
        cmocka_unit_test(test_against_reference_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
