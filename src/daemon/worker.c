/*
 * worker.c: one I/O thread with its own event loop. Messages parsed on this thread are
 * collected per output and handed over once per loop turn (or when a batch is full), so
 * an output's queue lock is taken once per batch, not once per message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "daemon/server.h"
#include "ev/loop.h"
#include "in/in.h"

#define BATCH_MAX 1024

struct pending {
    struct tl_msg **v;
    size_t n;
};

struct tl_worker {
    size_t id;
    struct tl_server *srv;
    struct tl_ev_loop *loop;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    uint8_t *scratch;
    struct pending *pend;   /* one per output */
    struct tl_in_item items; /* list head: listeners, connections, sockets */
};

struct tl_ev_loop *tl_worker_loop(struct tl_worker *w)
{
    return w->loop;
}

uint8_t *tl_worker_scratch(struct tl_worker *w)
{
    return w->scratch;
}

bool tl_worker_stopping(struct tl_worker *w)
{
    return atomic_load_explicit(&w->stop, memory_order_relaxed);
}

void tl_worker_add_item(struct tl_worker *w, struct tl_in_item *it)
{
    it->next = w->items.next;
    it->prev = &w->items;
    w->items.next->prev = it;
    w->items.next = it;
}

void tl_worker_remove_item(struct tl_worker *w, struct tl_in_item *it)
{
    (void)w;
    if (!it->prev) {
        return;
    }
    it->prev->next = it->next;
    it->next->prev = it->prev;
    it->prev = NULL;
    it->next = NULL;
}

static void flush_output(struct tl_worker *w, size_t o)
{
    struct pending *p = &w->pend[o];
    if (p->n == 0) {
        return;
    }
    struct tl_output *out = &w->srv->outputs[o];
    size_t done = tl_mq_push(&out->q, p->v, p->n);
    if (done < p->n) {
        /* Only when the output is already shut down: cannot happen while workers run. */
        atomic_fetch_add_explicit(&out->stats.dropped, p->n - done, memory_order_relaxed);
        for (size_t i = done; i < p->n; i++) {
            tl_msg_unref(p->v[i]);
        }
    }
    p->n = 0;
}

static void flush_all(struct tl_ev_loop *loop, void *arg)
{
    struct tl_worker *w = arg;
    (void)loop;
    for (size_t o = 0; o < w->srv->n_outputs; o++) {
        flush_output(w, o);
    }
}

void tl_worker_emit(struct tl_worker *w, struct tl_input *in, struct tl_msg *m)
{
    if (in->n_outs == 0) {
        tl_msg_unref(m);
        return;
    }
    for (size_t i = 0; i < in->n_outs; i++) {
        size_t o = in->outs[i]->index;
        if (i + 1 < in->n_outs) {
            tl_msg_ref(m);
        }
        struct pending *p = &w->pend[o];
        p->v[p->n++] = m;
        if (p->n == BATCH_MAX) {
            flush_output(w, o);
        }
    }
}

static void *worker_main(void *arg)
{
    struct tl_worker *w = arg;
    while (!atomic_load(&w->stop)) {
        tl_ev_run_once(w->loop, 1000);
    }
    /* Shutdown: read what peers already sent (it is in our socket buffers, so it counts
     * as accepted), hand everything to the outputs, then close. */
    /* Two passes: the first accepts pending connections (added at the head of the list),
     * the second reads those too. */
    for (int pass = 0; pass < 2; pass++) {
        for (struct tl_in_item *it = w->items.next; it != &w->items;) {
            struct tl_in_item *next = it->next;
            it->drain(it);
            it = next;
        }
    }
    while (w->items.next != &w->items) {
        w->items.next->close(w->items.next);
    }
    tl_ev_run_once(w->loop, 0); /* runs deferred frees */
    flush_all(w->loop, w);
    return NULL;
}

struct tl_worker *tl_worker_new(struct tl_server *srv, size_t id)
{
    struct tl_worker *w = calloc(1, sizeof(*w));
    if (!w) {
        return NULL;
    }
    w->id = id;
    w->srv = srv;
    w->items.next = &w->items;
    w->items.prev = &w->items;
    atomic_init(&w->stop, false);
    w->loop = tl_ev_loop_new();
    w->scratch = malloc(srv->scratch_size);
    w->pend = calloc(srv->n_outputs ? srv->n_outputs : 1, sizeof(*w->pend));
    if (!w->loop || !w->scratch || !w->pend) {
        tl_worker_free(w);
        return NULL;
    }
    for (size_t o = 0; o < srv->n_outputs; o++) {
        w->pend[o].v = malloc(BATCH_MAX * sizeof(struct tl_msg *));
        if (!w->pend[o].v) {
            tl_worker_free(w);
            return NULL;
        }
    }
    tl_ev_set_before_sleep(w->loop, flush_all, w);
    return w;
}

bool tl_worker_start(struct tl_worker *w)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        tl_error("cannot start worker thread: %s", strerror(rc));
        return false;
    }
    w->started = true;
    return true;
}

void tl_worker_request_stop(struct tl_worker *w)
{
    if (!w->started) {
        return;
    }
    atomic_store(&w->stop, true);
    tl_ev_wake(w->loop);
}

bool tl_worker_join(struct tl_worker *w, int64_t timeout_ms)
{
    if (!w->started) {
        return true;
    }
    if (timeout_ms >= 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (timeout_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (pthread_timedjoin_np(w->thread, NULL, &ts) != 0) {
            return false;
        }
    } else {
        pthread_join(w->thread, NULL);
    }
    w->started = false;
    return true;
}

void tl_worker_free(struct tl_worker *w)
{
    if (!w) {
        return;
    }
    /* Items of a worker that never ran (start-up failed). */
    while (w->items.next && w->items.next != &w->items) {
        w->items.next->close(w->items.next);
    }
    if (w->loop) {
        tl_ev_run_once(w->loop, 0);
    }
    if (w->pend) {
        for (size_t o = 0; o < w->srv->n_outputs; o++) {
            for (size_t i = 0; i < w->pend[o].n; i++) {
                tl_msg_unref(w->pend[o].v[i]);
            }
            free(w->pend[o].v);
        }
        free(w->pend);
    }
    free(w->scratch);
    tl_ev_loop_free(w->loop);
    free(w);
}
