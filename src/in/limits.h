/*
 * limits.h: the bookkeeping behind the connection limits of a stream input (tcp, tls, relp):
 * connections per source address (max_connections_per_source), TLS handshakes in progress
 * (max_handshakes), and the pause of its listeners when the process runs out of file
 * descriptors. It is touched when a connection is accepted or closed, never per message, so
 * the limits cost nothing on the path of the data.
 *
 * One tl_in_limits per stream input, shared by its workers (connections of one input are
 * spread over every worker by SO_REUSEPORT, so a per-source count must be shared); the
 * handshake lists are per worker, each touched only by its own thread.
 */
#ifndef TL_IN_LIMITS_H
#define TL_IN_LIMITS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

/* Connections per peer address, behind one lock. */
struct tl_src_node;
struct tl_src_table {
    pthread_mutex_t lock;
    struct tl_src_node **buckets;
    size_t n_buckets; /* a power of two */
    size_t n;         /* addresses with at least one connection */
    uint64_t seed;    /* keys the hash: peers choose their addresses, not the buckets */
};

enum tl_src_rc {
    TL_SRC_OK = 0, /* counted */
    TL_SRC_FULL,   /* that address already holds limit connections: not counted */
    TL_SRC_NOMEM,  /* not counted */
};

bool tl_src_table_init(struct tl_src_table *t);
void tl_src_table_fini(struct tl_src_table *t);
/* One more connection from a (its port is ignored) unless it already has limit. */
enum tl_src_rc tl_src_take(struct tl_src_table *t, const struct tl_addr *a, size_t limit);
/* One connection from a closed (after a TL_SRC_OK take). */
void tl_src_put(struct tl_src_table *t, const struct tl_addr *a);
/* Connections counted for a now. */
size_t tl_src_count(struct tl_src_table *t, const struct tl_addr *a);

/* A link in a list of connections (a list head is a link to itself when empty). */
struct tl_in_link {
    struct tl_in_link *prev;
    struct tl_in_link *next;
};

static inline void tl_in_link_init(struct tl_in_link *l)
{
    l->prev = l;
    l->next = l;
}

static inline bool tl_in_link_empty(const struct tl_in_link *head)
{
    return head->next == head;
}

/* Appends l at the end of head's list (the newest). */
static inline void tl_in_link_append(struct tl_in_link *head, struct tl_in_link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

/* Takes l out of its list; harmless when it is in none (after tl_in_link_init). */
static inline void tl_in_link_remove(struct tl_in_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    tl_in_link_init(l);
}

struct tl_in_limits {
    struct tl_src_table sources;
    atomic_size_t handshakes;        /* TLS handshakes in progress, on every worker */
    struct tl_in_link *handshaking;  /* per worker: its connections in a handshake, oldest
                                      * first */
    size_t n_workers;
    atomic_uint accept_paused;       /* listeners whose accepts are paused (out of fds) */
    atomic_int_fast64_t paused_since_ms;
};

struct tl_in_limits *tl_in_limits_new(size_t n_workers);
void tl_in_limits_free(struct tl_in_limits *l);

#endif
