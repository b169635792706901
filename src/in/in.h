/*
 * in.h: inputs. Binding happens on the main thread at start-up (tl_in_bind); each worker
 * then attaches the sockets meant for it to its own loop (tl_in_attach). Everything an
 * input creates in a worker (listeners, connections, datagram sockets) is a tl_in_item on
 * that worker's list, so the worker can drain and close them at shutdown.
 */
#ifndef TL_IN_IN_H
#define TL_IN_IN_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/server.h"

struct tl_in_item {
    /* Read what the kernel already holds for us (shutdown drain). */
    void (*drain)(struct tl_in_item *it);
    /* Close and free. */
    void (*close)(struct tl_in_item *it);
    /* Stop or resume reading (back-pressure); NULL for items that never pause. */
    void (*pause)(struct tl_in_item *it, bool paused);
    /* After a TLS reload: re-check the peer against the input's new policy, close it if it
     * no longer passes; NULL for items without a TLS peer. */
    void (*recheck)(struct tl_in_item *it);
    /* Bytes of an unfinished frame it keeps between reads; NULL for items that keep none. */
    size_t (*held)(const struct tl_in_item *it);
    /* The input it belongs to: it pauses while one of the input's outputs is full. */
    struct tl_input *in;
    struct tl_in_item *prev;
    struct tl_in_item *next;
};

/* Creates and binds the input's sockets: one per address per worker for tcp and udp
 * (SO_REUSEPORT spreads the load), one for unix. Logs and returns false on failure. */
bool tl_in_bind(struct tl_input *in, size_t n_workers);
/* Hands the input's sockets for worker number idx to worker w. */
bool tl_in_attach(struct tl_input *in, struct tl_worker *w, size_t idx);
void tl_in_unbind(struct tl_input *in);

/* Implementations. */
bool tl_in_stream_attach(struct tl_input *in, struct tl_worker *w, int fd);
bool tl_in_dgram_attach(struct tl_input *in, struct tl_worker *w, int fd);

/* The worker's list of items (worker.c). */
void tl_worker_add_item(struct tl_worker *w, struct tl_in_item *it);
void tl_worker_remove_item(struct tl_worker *w, struct tl_in_item *it);
/* The item that keeps the most bytes of an unfinished frame; NULL when none keeps any.
 * Walks every item: for partial_frame_budget, which is exceeded only under abuse. */
struct tl_in_item *tl_worker_largest_partial(struct tl_worker *w);

/* Turns one received frame into a message: copies, stamps, parses, routes. */
/* id: the connection's TLS identity or NULL; the message takes its own reference. */
void tl_in_deliver(struct tl_worker *w, struct tl_input *in, const struct tl_addr *peer,
                   struct tl_peer_id *id, const uint8_t *p, size_t len, bool truncated,
                   int64_t recv_sec, uint32_t recv_usec);

#endif
