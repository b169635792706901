/*
 * source_limit.c: per-source rate limits in fixed memory.
 *
 * Entries live in one array; they are linked three ways by index: a hash chain per bucket,
 * the LRU list (head: most recently heard from) and the list of entries with an episode in
 * progress (so a sweep visits only those). Indexes rather than pointers keep an entry small
 * (80 bytes: 4096 sources take 320 KiB plus 32 KiB of buckets) and the table in two
 * allocations made once.
 */
#include "core/source_limit.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "core/addr.h"

#define NIL UINT32_MAX
#define MAX_SOURCES (1u << 20)

struct links {
    uint32_t prev;
    uint32_t next;
};

struct entry {
    struct tl_source_key key;
    int64_t window_start;  /* when this source's current interval began */
    int64_t first_ms;      /* the episode's first drop */
    int64_t last_ms;
    uint64_t dropped;      /* in the current interval: > 0 means an episode is in progress */
    uint32_t count;        /* messages passed in the current interval */
    uint32_t chain;        /* next entry in the same bucket */
    struct links lru;      /* in the LRU list: head least, tail most recently heard from */
    struct links drop;     /* in the dropping list, while dropped > 0: in order of the first drop */
};

struct list {
    uint32_t head;
    uint32_t tail;
};

struct tl_source_limit {
    uint32_t burst;
    int64_t interval_ms;
    uint32_t cap;          /* entries */
    uint32_t used;         /* entries handed out so far (they are never given back) */
    uint32_t mask;         /* buckets - 1 */
    uint64_t k0;
    uint64_t k1;
    struct list lru;
    struct list dropping;
    struct tl_source_limit_stats st;
    uint32_t *buckets;
    struct entry *e;
};

/* ---- SipHash-1-3 of the 24-byte key ---- */

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static void sip_round(uint64_t *v)
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl(v[2], 32);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

static uint64_t hash_key(const struct tl_source_limit *l, const struct tl_source_key *k)
{
    uint8_t b[sizeof(*k)];
    memcpy(b, k, sizeof(b));
    uint64_t v[4] = { l->k0 ^ 0x736f6d6570736575ull, l->k1 ^ 0x646f72616e646f6dull,
                      l->k0 ^ 0x6c7967656e657261ull, l->k1 ^ 0x7465646279746573ull };
    for (size_t i = 0; i < sizeof(b); i += 8) {
        uint64_t m = le64(b + i);
        v[3] ^= m;
        sip_round(v);
        v[0] ^= m;
    }
    /* The final block holds only the length: 24 bytes, a multiple of eight. */
    uint64_t last = (uint64_t)sizeof(b) << 56;
    v[3] ^= last;
    sip_round(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    sip_round(v);
    sip_round(v);
    sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- keys ---- */

void tl_source_key_addr(struct tl_source_key *k, const struct tl_addr *a)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    memset(k, 0, sizeof(*k));
    if (a->family == AF_INET) {
        k->kind = TL_SOURCE_IPV4;
        memcpy(k->addr, a->addr, 4);
    } else if (a->family == AF_INET6 && memcmp(a->addr, mapped, sizeof(mapped)) == 0) {
        k->kind = TL_SOURCE_IPV4;
        memcpy(k->addr, a->addr + 12, 4);
    } else if (a->family == AF_INET6) {
        k->kind = TL_SOURCE_IPV6;
        memcpy(k->addr, a->addr, 16);
    }
}

void tl_source_key_pid(struct tl_source_key *k, uint32_t pid)
{
    memset(k, 0, sizeof(*k));
    k->kind = TL_SOURCE_PID;
    k->pid = pid;
}

size_t tl_source_key_format(const struct tl_source_key *k, char *out, size_t cap)
{
    struct tl_addr a;
    int n;
    memset(&a, 0, sizeof(a));
    switch (k->kind) {
    case TL_SOURCE_IPV4:
        a.family = AF_INET;
        memcpy(a.addr, k->addr, 4);
        return tl_addr_format(&a, false, out, cap);
    case TL_SOURCE_IPV6:
        a.family = AF_INET6;
        memcpy(a.addr, k->addr, 16);
        return tl_addr_format(&a, false, out, cap);
    case TL_SOURCE_PID:
        n = snprintf(out, cap, "pid %u", (unsigned)k->pid);
        break;
    default:
        n = snprintf(out, cap, "unknown source");
        break;
    }
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap ? cap - 1 : 0;
}

/* ---- lists ---- */

/* The same doubly-linked list code serves the LRU list and the dropping list: off is the
 * offset of the entry's links for that list. */
static struct links *links_of(struct tl_source_limit *l, uint32_t i, size_t off)
{
    return (struct links *)((char *)&l->e[i] + off);
}

static void list_unlink(struct tl_source_limit *l, struct list *list, size_t off, uint32_t i)
{
    struct links *x = links_of(l, i, off);
    if (x->prev != NIL) {
        links_of(l, x->prev, off)->next = x->next;
    } else {
        list->head = x->next;
    }
    if (x->next != NIL) {
        links_of(l, x->next, off)->prev = x->prev;
    } else {
        list->tail = x->prev;
    }
}

static void list_push_tail(struct tl_source_limit *l, struct list *list, size_t off, uint32_t i)
{
    struct links *x = links_of(l, i, off);
    x->next = NIL;
    x->prev = list->tail;
    if (list->tail != NIL) {
        links_of(l, list->tail, off)->next = i;
    } else {
        list->head = i;
    }
    list->tail = i;
}

#define LRU offsetof(struct entry, lru)
#define DROPPING offsetof(struct entry, drop)

/* Ends entry i's episode (if any) into *out and forgets it. */
static void end_episode(struct tl_source_limit *l, uint32_t i, bool evicted,
                        struct tl_source_episode *out)
{
    struct entry *e = &l->e[i];
    if (e->dropped == 0) {
        return;
    }
    if (out) {
        out->key = e->key;
        out->dropped = e->dropped;
        out->first_ms = e->first_ms;
        out->last_ms = e->last_ms;
        out->evicted = evicted;
    }
    list_unlink(l, &l->dropping, DROPPING, i);
    e->dropped = 0;
}

/* ---- the table ---- */

struct tl_source_limit *tl_source_limit_new(const struct tl_source_limit_opts *opts,
                                            struct tl_err *err)
{
    uint32_t cap = opts->max_sources ? opts->max_sources : TL_SOURCE_LIMIT_MAX_SOURCES_DEFAULT;
    if (opts->burst == 0) {
        TL_ERR(err, TL_E_CONFIG, NULL, "rate_limit.burst must be at least 1");
        return NULL;
    }
    if (opts->interval_ms < 1) {
        TL_ERR(err, TL_E_CONFIG, NULL, "rate_limit.interval must be at least 1 ms");
        return NULL;
    }
    if (cap > MAX_SOURCES) {
        TL_ERR(err, TL_E_CONFIG, NULL, "rate limit: at most %u sources can be tracked, not %u",
               MAX_SOURCES, cap);
        return NULL;
    }
    struct tl_source_limit *l = calloc(1, sizeof(*l));
    if (!l) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "out of memory for a rate limit of %u sources", cap);
        return NULL;
    }
    /* Twice as many buckets as entries: chains stay short even when every entry is used. */
    uint32_t buckets = 2;
    while (buckets < 2 * cap) {
        buckets *= 2;
    }
    l->buckets = malloc(buckets * sizeof(*l->buckets));
    l->e = calloc(cap, sizeof(*l->e));
    if (!l->buckets || !l->e) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "out of memory for a rate limit of %u sources", cap);
        tl_source_limit_free(l);
        return NULL;
    }
    memset(l->buckets, 0xff, buckets * sizeof(*l->buckets));
    l->burst = opts->burst;
    l->interval_ms = opts->interval_ms;
    l->cap = cap;
    l->mask = buckets - 1;
    l->lru = (struct list){ NIL, NIL };
    l->dropping = (struct list){ NIL, NIL };
    l->k0 = opts->seed[0];
    l->k1 = opts->seed[1];
    if (l->k0 == 0 && l->k1 == 0) {
        uint64_t k[2];
        if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k)) {
            TL_ERR_SYS(err, TL_E_RESOURCE, errno, NULL,
                       "rate limit: getrandom failed for the hash key");
            tl_source_limit_free(l);
            return NULL;
        }
        l->k0 = k[0];
        l->k1 = k[1];
    }
    return l;
}

void tl_source_limit_free(struct tl_source_limit *l)
{
    if (!l) {
        return;
    }
    free(l->buckets);
    free(l->e);
    free(l);
}

static void chain_remove(struct tl_source_limit *l, uint32_t i)
{
    uint32_t *p = &l->buckets[hash_key(l, &l->e[i].key) & l->mask];
    while (*p != i) {
        p = &l->e[*p].chain;
    }
    *p = l->e[i].chain;
}

/* The entry for k, taking a fresh one (or the least recently used) when there is none. */
static uint32_t lookup(struct tl_source_limit *l, const struct tl_source_key *k, int64_t now,
                       struct tl_source_episode *ended)
{
    uint32_t b = (uint32_t)(hash_key(l, k) & l->mask);
    for (uint32_t i = l->buckets[b]; i != NIL; i = l->e[i].chain) {
        if (memcmp(&l->e[i].key, k, sizeof(*k)) == 0) {
            list_unlink(l, &l->lru, LRU, i);
            list_push_tail(l, &l->lru, LRU, i);
            return i;
        }
    }
    uint32_t i;
    if (l->used < l->cap) {
        i = l->used++;
        l->st.sources++;
    } else {
        i = l->lru.head;
        end_episode(l, i, true, ended);
        chain_remove(l, i);
        list_unlink(l, &l->lru, LRU, i);
        l->st.evicted++;
    }
    struct entry *e = &l->e[i];
    e->key = *k;
    e->window_start = now;
    e->count = 0;
    e->dropped = 0;
    e->chain = l->buckets[b];
    l->buckets[b] = i;
    list_push_tail(l, &l->lru, LRU, i);
    return i;
}

static bool window_over(const struct tl_source_limit *l, const struct entry *e, int64_t now)
{
    /* A clock that went back leaves the window open rather than wrapping. */
    return now - e->window_start >= l->interval_ms;
}

enum tl_source_verdict tl_source_limit_check(struct tl_source_limit *l,
                                             const struct tl_source_key *k, int64_t now_ms,
                                             struct tl_source_episode *ended)
{
    if (ended) {
        ended->dropped = 0;
    }
    uint32_t i = lookup(l, k, now_ms, ended);
    struct entry *e = &l->e[i];
    if (window_over(l, e, now_ms)) {
        end_episode(l, i, false, ended);
        e->window_start = now_ms;
        e->count = 0;
    }
    if (e->count < l->burst) {
        e->count++;
        l->st.passed++;
        return TL_SOURCE_PASS;
    }
    l->st.dropped++;
    e->last_ms = now_ms;
    if (e->dropped++ > 0) {
        return TL_SOURCE_DROP;
    }
    e->first_ms = now_ms;
    list_push_tail(l, &l->dropping, DROPPING, i);
    l->st.episodes++;
    return TL_SOURCE_DROP_FIRST;
}

size_t tl_source_limit_sweep(struct tl_source_limit *l, int64_t now_ms,
                             struct tl_source_episode *out, size_t max)
{
    size_t n = 0;
    uint32_t i = l->dropping.head;
    while (i != NIL && n < max) {
        uint32_t next = l->e[i].drop.next;
        if (window_over(l, &l->e[i], now_ms)) {
            end_episode(l, i, false, &out[n++]);
        }
        i = next;
    }
    return n;
}

void tl_source_limit_stats(const struct tl_source_limit *l, struct tl_source_limit_stats *st)
{
    *st = l->st;
}
