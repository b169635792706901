/*
 * mq.h: a bounded multi-producer, single-consumer queue of message pointers.
 *
 * Producers (worker threads) push whole batches under one lock acquisition; the consumer
 * (an output's thread) pops whole batches. The queue holds a reference on every message in
 * it. It is bounded in messages and in bytes (what a message takes in memory, so the bound
 * holds whatever the message sizes). When full, tl_mq_push blocks the producer (back-pressure) until there is room or
 * the queue is closed.
 */
#ifndef TL_QUEUE_MQ_H
#define TL_QUEUE_MQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

struct tl_mq {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    struct tl_msg **ring;
    size_t cap;
    size_t head;   /* next to pop */
    size_t len;
    size_t bytes;      /* tl_msg_size() of the messages queued */
    size_t max_bytes;  /* bound on bytes (0: none); one message always fits an empty queue */
    uint64_t pushed;   /* messages ever pushed: the sequence number of the next one */
    bool closed;   /* no more pushes will come; pop returns what is left, then 0 */
    bool wake;     /* tl_mq_kick: make a waiting pop return early */
    /* Optional: called (outside the lock, on the producer's thread) when a push makes an
     * empty queue non-empty, when a push finds it full, and on close: how a consumer that
     * sleeps in an event loop rather than in tl_mq_pop learns there is work. Set with
     * tl_mq_set_notify (producers may already be pushing: an output built by a reload). */
    void (*notify)(void *arg);
    void *notify_arg;
};

/* At most cap messages and max_bytes of them (0: no byte bound). */
bool tl_mq_init(struct tl_mq *q, size_t cap, size_t max_bytes);
/* Drops the references of whatever is still queued. */
void tl_mq_fini(struct tl_mq *q);

/* Takes ownership of the n references in msgs (in order). Blocks while the queue is full.
 * Returns the number pushed: n, or fewer only when the queue was closed meanwhile (the
 * caller still owns msgs[returned..n)). Messages are numbered in the order they enter the
 * queue, from 0; *end_seq (may be NULL) receives the number after the last one this call
 * pushed (unchanged when it pushed none). The consumer pops in that order, which is how an
 * output's settle count (server.h) and a producer's end_seq are compared. */
size_t tl_mq_push(struct tl_mq *q, struct tl_msg *const *msgs, size_t n, uint64_t *end_seq);

/* Like tl_mq_push but never waits: pushes what fits and returns how many (0 when closed). */
size_t tl_mq_try_push(struct tl_mq *q, struct tl_msg *const *msgs, size_t n,
                      uint64_t *end_seq);

/* Pops up to max messages into out (the caller gets their references). Waits up to
 * timeout_ms (-1 = forever) for at least one. Returns 0 on timeout, on tl_mq_kick, or when
 * closed and empty. */
size_t tl_mq_pop(struct tl_mq *q, struct tl_msg **out, size_t max, int64_t timeout_ms);

/* Sets the notify hook (see above) under the lock, and calls it at once when the queue
 * already holds messages. */
void tl_mq_set_notify(struct tl_mq *q, void (*notify)(void *arg), void *arg);
/* Marks the queue closed (producers are gone) and wakes the consumer. */
void tl_mq_close(struct tl_mq *q);
/* Wakes a consumer waiting in tl_mq_pop (e.g. to look at a reopen request). */
void tl_mq_kick(struct tl_mq *q);
bool tl_mq_drained(struct tl_mq *q);
/* True once tl_mq_close was called (what is queued may still be there). */
bool tl_mq_closed(struct tl_mq *q);
size_t tl_mq_len(struct tl_mq *q);
/* Messages ever pushed (the sequence number the next one gets). */
uint64_t tl_mq_pushed(struct tl_mq *q);
/* At least 90% of the messages or of the bytes allowed are taken. */
bool tl_mq_nearly_full(struct tl_mq *q);

#endif
