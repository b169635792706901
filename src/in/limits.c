/*
 * limits.c: connections per source address, and the per-input state of the connection
 * limits (see limits.h).
 *
 * The table is a chained hash of the addresses that have a connection open, keyed with a
 * random seed: a peer that picks its source addresses (an IPv6 prefix gives it plenty)
 * cannot aim them all at one bucket. An address leaves the table with its last connection,
 * so the table never holds more entries than there are connections.
 */
#include "in/limits.h"

#include "core/hash.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct tl_src_node {
    struct tl_src_node *next;
    uint16_t family;
    uint8_t addr[16];
    size_t count;
};

#define MIN_BUCKETS 64

static size_t bucket_of(const struct tl_src_table *t, uint16_t family, const uint8_t *addr)
{
    uint64_t a;
    uint64_t b;
    memcpy(&a, addr, 8);
    memcpy(&b, addr + 8, 8);
    uint64_t h = tl_hash_mix64(t->seed ^ family);
    h = tl_hash_mix64(h ^ a);
    h = tl_hash_mix64(h ^ b);
    return (size_t)h & (t->n_buckets - 1);
}

bool tl_src_table_init(struct tl_src_table *t)
{
    memset(t, 0, sizeof(*t));
    t->buckets = calloc(MIN_BUCKETS, sizeof(*t->buckets));
    if (!t->buckets) {
        return false;
    }
    t->n_buckets = MIN_BUCKETS;
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed)) {
        /* Early boot without entropy: still differs between runs and hosts. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t->seed =
            tl_hash_mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uintptr_t)t);
    }
    pthread_mutex_init(&t->lock, NULL);
    return true;
}

void tl_src_table_fini(struct tl_src_table *t)
{
    if (!t->buckets) {
        return;
    }
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct tl_src_node *n = t->buckets[i];
        while (n) {
            struct tl_src_node *next = n->next;
            free(n);
            n = next;
        }
    }
    free(t->buckets);
    t->buckets = NULL;
    pthread_mutex_destroy(&t->lock);
}

static struct tl_src_node **find(struct tl_src_table *t, const struct tl_addr *a)
{
    struct tl_src_node **pp = &t->buckets[bucket_of(t, a->family, a->addr)];
    while (*pp && ((*pp)->family != a->family || memcmp((*pp)->addr, a->addr, 16) != 0)) {
        pp = &(*pp)->next;
    }
    return pp;
}

/* Doubles the buckets when the chains get long; on failure the table just stays slower. */
static void grow(struct tl_src_table *t)
{
    size_t n = t->n_buckets * 2;
    struct tl_src_node **b = calloc(n, sizeof(*b));
    if (!b) {
        return;
    }
    struct tl_src_node **old = t->buckets;
    size_t old_n = t->n_buckets;
    t->buckets = b;
    t->n_buckets = n;
    for (size_t i = 0; i < old_n; i++) {
        struct tl_src_node *node = old[i];
        while (node) {
            struct tl_src_node *next = node->next;
            size_t k = bucket_of(t, node->family, node->addr);
            node->next = b[k];
            b[k] = node;
            node = next;
        }
    }
    free(old);
}

enum tl_src_rc tl_src_take(struct tl_src_table *t, const struct tl_addr *a, size_t limit)
{
    enum tl_src_rc rc = TL_SRC_OK;
    pthread_mutex_lock(&t->lock);
    struct tl_src_node **pp = find(t, a);
    if (*pp) {
        if ((*pp)->count >= limit) {
            rc = TL_SRC_FULL;
        } else {
            (*pp)->count++;
        }
    } else if (limit == 0) {
        rc = TL_SRC_FULL;
    } else {
        struct tl_src_node *n = calloc(1, sizeof(*n));
        if (!n) {
            rc = TL_SRC_NOMEM;
        } else {
            n->family = a->family;
            memcpy(n->addr, a->addr, 16);
            n->count = 1;
            *pp = n;
            if (++t->n > t->n_buckets * 2) {
                grow(t);
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void tl_src_put(struct tl_src_table *t, const struct tl_addr *a)
{
    pthread_mutex_lock(&t->lock);
    struct tl_src_node **pp = find(t, a);
    struct tl_src_node *n = *pp;
    if (n && --n->count == 0) {
        *pp = n->next;
        free(n);
        t->n--;
    }
    pthread_mutex_unlock(&t->lock);
}

size_t tl_src_count(struct tl_src_table *t, const struct tl_addr *a)
{
    pthread_mutex_lock(&t->lock);
    struct tl_src_node *n = *find(t, a);
    size_t count = n ? n->count : 0;
    pthread_mutex_unlock(&t->lock);
    return count;
}

struct tl_in_limits *tl_in_limits_new(size_t n_workers)
{
    struct tl_in_limits *l = calloc(1, sizeof(*l));
    if (!l) {
        return NULL;
    }
    l->handshaking = calloc(n_workers ? n_workers : 1, sizeof(*l->handshaking));
    if (!l->handshaking || !tl_src_table_init(&l->sources)) {
        free(l->handshaking);
        free(l);
        return NULL;
    }
    for (size_t i = 0; i < n_workers; i++) {
        tl_in_link_init(&l->handshaking[i]);
    }
    l->n_workers = n_workers;
    atomic_init(&l->handshakes, 0);
    atomic_init(&l->accept_paused, 0);
    atomic_init(&l->paused_since_ms, 0);
    return l;
}

void tl_in_limits_free(struct tl_in_limits *l)
{
    if (!l) {
        return;
    }
    tl_src_table_fini(&l->sources);
    free(l->handshaking);
    free(l);
}
