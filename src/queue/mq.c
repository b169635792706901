#include "queue/mq.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

/* How many of the n messages fit now (in order). */
static size_t room_for(const struct tl_mq *q, struct tl_msg *const *msgs, size_t n)
{
    size_t room = q->cap - q->len;
    size_t take = n < room ? n : room;
    if (q->max_bytes == 0) {
        return take;
    }
    size_t bytes = q->bytes;
    for (size_t i = 0; i < take; i++) {
        size_t sz = tl_msg_size(msgs[i]);
        if (bytes + sz > q->max_bytes && (q->len + i) > 0) {
            return i;
        }
        bytes += sz;
    }
    return take;
}

static void put(struct tl_mq *q, struct tl_msg *const *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        q->ring[(q->head + q->len + i) % q->cap] = msgs[i];
        q->bytes += tl_msg_size(msgs[i]);
    }
    q->len += n;
    q->pushed += n;
}

bool tl_mq_init(struct tl_mq *q, size_t cap, size_t max_bytes)
{
    q->ring = calloc(cap, sizeof(*q->ring));
    if (!q->ring) {
        return false;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_cond_init(&q->not_full, &ca);
    pthread_condattr_destroy(&ca);
    q->cap = cap;
    q->head = 0;
    q->len = 0;
    q->bytes = 0;
    q->max_bytes = max_bytes;
    q->pushed = 0;
    q->closed = false;
    q->wake = false;
    q->notify = NULL;
    q->notify_arg = NULL;
    return true;
}

void tl_mq_fini(struct tl_mq *q)
{
    if (!q->ring) {
        return;
    }
    for (size_t i = 0; i < q->len; i++) {
        tl_msg_unref(q->ring[(q->head + i) % q->cap]);
    }
    free(q->ring);
    q->ring = NULL;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}

size_t tl_mq_push(struct tl_mq *q, struct tl_msg *const *msgs, size_t n, uint64_t *end_seq)
{
    size_t done = 0;
    bool was_empty = false;
    pthread_mutex_lock(&q->lock);
    void (*notify)(void *) = q->notify;
    void *notify_arg = q->notify_arg;
    while (done < n) {
        size_t take;
        while ((take = room_for(q, msgs + done, n - done)) == 0 && !q->closed) {
            pthread_cond_wait(&q->not_full, &q->lock);
        }
        if (q->closed) {
            break;
        }
        was_empty |= q->len == 0;
        put(q, msgs + done, take);
        done += take;
        if (end_seq) {
            *end_seq = q->pushed;
        }
        pthread_cond_signal(&q->not_empty);
        if (notify && was_empty && done < n) {
            /* About to wait for room: the consumer must hear of this batch first. */
            pthread_mutex_unlock(&q->lock);
            notify(notify_arg);
            was_empty = false;
            pthread_mutex_lock(&q->lock);
        }
    }
    pthread_mutex_unlock(&q->lock);
    if (notify && was_empty) {
        notify(notify_arg);
    }
    return done;
}

size_t tl_mq_try_push(struct tl_mq *q, struct tl_msg *const *msgs, size_t n,
                      uint64_t *end_seq)
{
    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        return 0;
    }
    bool was_empty = q->len == 0;
    void (*notify)(void *) = q->notify;
    void *notify_arg = q->notify_arg;
    size_t take = room_for(q, msgs, n);
    put(q, msgs, take);
    if (take) {
        if (end_seq) {
            *end_seq = q->pushed;
        }
        pthread_cond_signal(&q->not_empty);
    }
    pthread_mutex_unlock(&q->lock);
    /* Also when the queue is full: a consumer that sleeps in an event loop must hear that
     * producers are waiting for room. */
    if (notify && ((was_empty && take) || take < n)) {
        notify(notify_arg);
    }
    return take;
}

size_t tl_mq_pop(struct tl_mq *q, struct tl_msg **out, size_t max, int64_t timeout_ms)
{
    struct timespec deadline = {0, 0};
    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
    }
    pthread_mutex_lock(&q->lock);
    /* timeout 0 (outputs on their own event loop) never waits: no clock read, and no futex
     * call that would only time out at once, on every look at an empty queue. */
    while (q->len == 0 && !q->closed && !q->wake && timeout_ms != 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->not_empty, &q->lock);
        } else if (pthread_cond_timedwait(&q->not_empty, &q->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    q->wake = false;
    size_t n = q->len < max ? q->len : max;
    for (size_t i = 0; i < n; i++) {
        out[i] = q->ring[q->head];
        q->bytes -= tl_msg_size(out[i]);
        q->head = (q->head + 1) % q->cap;
    }
    q->len -= n;
    if (n) {
        pthread_cond_broadcast(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    return n;
}

void tl_mq_close(struct tl_mq *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    void (*notify)(void *) = q->notify;
    void *notify_arg = q->notify_arg;
    pthread_mutex_unlock(&q->lock);
    if (notify) {
        notify(notify_arg);
    }
}

void tl_mq_set_notify(struct tl_mq *q, void (*notify)(void *arg), void *arg)
{
    pthread_mutex_lock(&q->lock);
    q->notify = notify;
    q->notify_arg = arg;
    bool work = q->len > 0 || q->closed;
    pthread_mutex_unlock(&q->lock);
    if (notify && work) {
        notify(arg);
    }
}

void tl_mq_kick(struct tl_mq *q)
{
    pthread_mutex_lock(&q->lock);
    q->wake = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

bool tl_mq_drained(struct tl_mq *q)
{
    pthread_mutex_lock(&q->lock);
    bool r = q->closed && q->len == 0;
    pthread_mutex_unlock(&q->lock);
    return r;
}

bool tl_mq_closed(struct tl_mq *q)
{
    pthread_mutex_lock(&q->lock);
    bool r = q->closed;
    pthread_mutex_unlock(&q->lock);
    return r;
}

size_t tl_mq_len(struct tl_mq *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}

bool tl_mq_nearly_full(struct tl_mq *q)
{
    pthread_mutex_lock(&q->lock);
    bool r = q->len * 10 >= q->cap * 9 || (q->max_bytes && q->bytes * 10 >= q->max_bytes * 9);
    pthread_mutex_unlock(&q->lock);
    return r;
}

uint64_t tl_mq_pushed(struct tl_mq *q)
{
    pthread_mutex_lock(&q->lock);
    uint64_t n = q->pushed;
    pthread_mutex_unlock(&q->lock);
    return n;
}
