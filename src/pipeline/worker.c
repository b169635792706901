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
#include "ev/loop.h"
#include "pipeline/pipeline.h"
#include "route/filter.h"

#define BATCH_MAX 1024
#define RETRY_MS 5       /* while an output queue is full: how often to try again */
#define SETTLE_WAIT_MS 2000 /* at shutdown: longest wait for acknowledgements to go out */

struct pending {
    struct tl_msg **v;
    size_t n;
    size_t cap;
    bool blocked;  /* full: block and the queue had no room: inputs routed here pause */
    uint64_t seq_end; /* end_seq of the last push into the output's queue */
};

/* Someone waiting for the current batches of its input to be in the outputs' queues (a
 * RELP connection that acknowledges only then). */
struct waiter {
    tl_ev_fn *fn;
    void *arg;
    struct tl_input *in;
};

/* An output a reload took out of the table after this worker handed it messages: settle
 * rounds that start later wait for it too, until it has settled them (it drains). */
struct retired {
    struct tl_output *out; /* held */
    uint64_t seq_end;
};

struct tl_worker {
    size_t id;
    struct tl_pipeline *pl;
    struct tl_routes *rt;   /* the table it routes with (pipeline.h) */
    atomic_uint_fast64_t gen; /* rt->gen, for tl_pipeline_publish */
    size_t n_pend;          /* pend[] entries: the slots of rt */
    struct retired *retired;
    size_t n_retired;
    struct tl_ev_loop *loop;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_bool recheck;    /* a TLS reload happened: re-check the TLS connections */
    uint8_t *scratch;
    size_t scratch_size;
    struct pending *pend;   /* one per route slot (tl_routes.outputs) */
    struct tl_in_item items; /* list head: listeners, connections, sockets */
    bool final;             /* shutting down: pushes may wait */
    struct tl_ev_timer retry;
    struct waiter *waiters;
    size_t n_waiters;
    size_t cap_waiters;
    int settle_waits;       /* connections waiting for outputs to settle (RELP acks) */
};

struct tl_ev_loop *tl_worker_loop(struct tl_worker *w)
{
    return w->loop;
}

size_t tl_worker_id(const struct tl_worker *w)
{
    return w->id;
}

uint8_t *tl_worker_scratch(struct tl_worker *w)
{
    return w->scratch;
}

size_t tl_worker_scratch_size(const struct tl_worker *w)
{
    return w->scratch_size;
}

static bool grow_scratch(struct tl_worker *w, size_t n)
{
    if (n <= w->scratch_size) {
        return true;
    }
    /* Nothing is kept in it between reads: no copy. */
    uint8_t *p = malloc(n);
    if (!p) {
        return false;
    }
    free(w->scratch);
    w->scratch = p;
    w->scratch_size = n;
    return true;
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

struct tl_in_item *tl_worker_largest_partial(struct tl_worker *w)
{
    struct tl_in_item *best = NULL;
    size_t most = 0;
    for (struct tl_in_item *it = w->items.next; it != &w->items; it = it->next) {
        size_t n = it->held ? it->held(it) : 0;
        if (n > most) {
            most = n;
            best = it;
        }
    }
    return best;
}

const struct tl_route_set *tl_worker_routes(const struct tl_worker *w, const struct tl_input *in)
{
    static const struct tl_route_set none = {0};
    return in->index < w->rt->n_inputs ? &w->rt->by_input[in->index] : &none;
}

bool tl_worker_input_blocked(const struct tl_worker *w, const struct tl_input *in)
{
    const struct tl_route_set *rs = tl_worker_routes(w, in);
    for (size_t i = 0; i < rs->n_to; i++) {
        if (w->pend[rs->to[i].out->index].blocked) {
            return true;
        }
    }
    return false;
}

/* After the set of blocked outputs changed: the inputs routed to a blocked output stop
 * reading (TCP flow control then pushes back to their senders, unix senders wait, and
 * memory stays bounded whatever they do); the others go on. */
static void update_paused(struct tl_worker *w)
{
    for (struct tl_in_item *it = w->items.next; it != &w->items; it = it->next) {
        if (it->pause) {
            it->pause(it, tl_worker_input_blocked(w, it->in));
        }
    }
}

static void block_output(struct tl_worker *w, size_t o, bool blocked)
{
    if (w->pend[o].blocked != blocked) {
        w->pend[o].blocked = blocked;
        update_paused(w);
    }
    if (blocked && !tl_ev_timer_armed(&w->retry)) {
        tl_ev_timer_start(w->loop, &w->retry, RETRY_MS);
    }
}

/* Hands output o's pending batch to its queue; false when (part of) it must wait. */
static bool flush_output(struct tl_worker *w, size_t o)
{
    struct pending *p = &w->pend[o];
    if (p->n == 0) {
        return true;
    }
    struct tl_output *out = w->rt->outputs[o];
    size_t done = w->final ? tl_mq_push(&out->q, p->v, p->n, &p->seq_end)
                           : tl_mq_try_push(&out->q, p->v, p->n, &p->seq_end);
    if (done == p->n) {
        p->n = 0;
        return true;
    }
    if (w->final || tl_mq_closed(&out->q) || out->conf->full == TL_QFULL_DROP) {
        /* queue.full: drop, or a queue already closed at shutdown. */
        atomic_fetch_add_explicit(&out->stats.dropped, p->n - done, memory_order_relaxed);
        atomic_fetch_add_explicit(&out->stats.dropped_full, p->n - done, memory_order_relaxed);
        for (size_t i = done; i < p->n; i++) {
            tl_msg_unref(p->v[i]);
        }
        p->n = 0;
        return true;
    }
    memmove(p->v, p->v + done, (p->n - done) * sizeof(*p->v));
    p->n -= done;
    return false;
}

/* Runs the waiters whose input's batches are all queued; keeps the others. */
static void run_waiters(struct tl_worker *w)
{
    /* A waiter may register again (more acks later): take the list first. */
    size_t n = w->n_waiters;
    if (n == 0) {
        return;
    }
    struct waiter *run = malloc(n * sizeof(*run));
    if (!run) {
        return; /* tried again after the next turn */
    }
    size_t n_run = 0;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (tl_worker_input_blocked(w, w->waiters[i].in)) {
            w->waiters[kept++] = w->waiters[i];
        } else {
            run[n_run++] = w->waiters[i];
        }
    }
    memmove(w->waiters + kept, w->waiters + n, (w->n_waiters - n) * sizeof(*w->waiters));
    w->n_waiters -= n - kept;
    for (size_t i = 0; i < n_run; i++) {
        run[i].fn(w->loop, run[i].arg);
    }
    free(run);
}

static void flush_all(struct tl_ev_loop *loop, void *arg)
{
    struct tl_worker *w = arg;
    (void)loop;
    for (size_t o = 0; o < w->n_pend; o++) {
        block_output(w, o, !flush_output(w, o));
    }
    run_waiters(w);
}

static void retry_cb(struct tl_ev_loop *loop, void *arg)
{
    flush_all(loop, arg);
}

bool tl_worker_after_flush(struct tl_worker *w, struct tl_input *in, tl_ev_fn *fn, void *arg)
{
    for (size_t i = 0; i < w->n_waiters; i++) {
        if (w->waiters[i].fn == fn && w->waiters[i].arg == arg) {
            return true;
        }
    }
    if (w->n_waiters == w->cap_waiters) {
        size_t cap = w->cap_waiters ? w->cap_waiters * 2 : 64;
        struct waiter *v = realloc(w->waiters, cap * sizeof(*v));
        if (!v) {
            return false;
        }
        w->waiters = v;
        w->cap_waiters = cap;
    }
    w->waiters[w->n_waiters].fn = fn;
    w->waiters[w->n_waiters].arg = arg;
    w->waiters[w->n_waiters].in = in;
    w->n_waiters++;
    return true;
}

void tl_worker_cancel_after_flush(struct tl_worker *w, void *arg)
{
    size_t j = 0;
    for (size_t i = 0; i < w->n_waiters; i++) {
        if (w->waiters[i].arg != arg) {
            w->waiters[j++] = w->waiters[i];
        }
    }
    w->n_waiters = j;
}

/* Makes room for n outputs and their targets (*cap of each now), keeping what is there. */
static bool reserve(struct tl_output ***outs, uint64_t **want, size_t *cap, size_t n)
{
    if (n <= *cap) {
        return true;
    }
    struct tl_output **o = realloc(*outs, n * sizeof(*o));
    if (!o) {
        return false;
    }
    *outs = o;
    uint64_t *v = realloc(*want, n * sizeof(*v));
    if (!v) {
        return false;
    }
    *want = v;
    *cap = n;
    return true;
}

/* Retired outputs that settled what this worker gave them are forgotten (released). */
static void forget_settled(struct tl_worker *w)
{
    size_t kept = 0;
    for (size_t i = 0; i < w->n_retired; i++) {
        struct retired *r = &w->retired[i];
        if (atomic_load_explicit(&r->out->settled, memory_order_acquire) >= r->seq_end) {
            tl_output_release(r->out);
        } else {
            w->retired[kept++] = *r;
        }
    }
    w->n_retired = kept;
}

size_t tl_worker_settle_targets(struct tl_worker *w, const struct tl_input *in,
                                struct tl_output ***outs, uint64_t **want, size_t *cap)
{
    forget_settled(w);
    const struct tl_route_set *rs = tl_worker_routes(w, in);
    if (!reserve(outs, want, cap, rs->n_to + w->n_retired)) {
        return (size_t)-1;
    }
    size_t n = 0;
    for (size_t i = 0; i < rs->n_to; i++) {
        (*outs)[n] = rs->to[i].out;
        (*want)[n++] = w->pend[rs->to[i].out->index].seq_end;
    }
    for (size_t i = 0; i < w->n_retired; i++) {
        (*outs)[n] = w->retired[i].out;
        (*want)[n++] = w->retired[i].seq_end;
    }
    for (size_t i = 0; i < n; i++) {
        tl_output_hold((*outs)[i]);
    }
    return n;
}

void tl_worker_settle_wait(struct tl_worker *w, int delta)
{
    w->settle_waits += delta;
}

static bool append(struct pending *p, struct tl_msg *m)
{
    if (p->n == p->cap) {
        /* Beyond a batch only while a queue is full and the data of reads already made is
         * being parsed: bounded by one read buffer. */
        size_t cap = p->cap * 2;
        struct tl_msg **v = realloc(p->v, cap * sizeof(*v));
        if (!v) {
            return false;
        }
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = m;
    return true;
}

/* Hands m (one reference, taken over) to out's pending batch. */
static void emit_to(struct tl_worker *w, struct tl_input *in, struct tl_output *out,
                    struct tl_msg *m, bool dgram)
{
    size_t o = out->index;
    struct pending *p = &w->pend[o];
    if (p->blocked && dgram && p->n >= BATCH_MAX) {
        /* A UDP datagram cannot wait: while this output's queue is full, it is dropped
         * and counted (stream and unix inputs are paused instead). */
        atomic_fetch_add_explicit(&in->stats.dropped_full, 1, memory_order_relaxed);
        tl_msg_unref(m);
        return;
    }
    if (!append(p, m)) {
        atomic_fetch_add_explicit(&out->stats.dropped, 1, memory_order_relaxed);
        tl_msg_unref(m);
        return;
    }
    if (p->n >= BATCH_MAX && !p->blocked && !flush_output(w, o)) {
        block_output(w, o, true);
    }
}

/* Whether a route of this input to that output carries m (any of its where: filters). */
static bool route_takes(const struct tl_route_where *rw, const struct tl_msg *m)
{
    for (size_t k = 0; k < rw->n; k++) {
        if (tl_filter_match(rw->f[k], m)) {
            return true;
        }
    }
    return rw->n == 0;
}

void tl_worker_emit(struct tl_worker *w, struct tl_input *in, struct tl_msg *m)
{
    tl_ev_note_work(w->loop, 1);
    const struct tl_route_set *rs = tl_worker_routes(w, in);
    if (rs->n_to == 0) {
        tl_msg_unref(m);
        return;
    }
    /* UDP cannot push back; unix sockets pause like streams (their senders then wait). */
    bool dgram = (in->caps & TL_IN_CANNOT_PAUSE) != 0;
    if (rs->filtered) {
        /* Filtered routes: each output that takes m is handed it one behind, so the last
         * one gets our reference and a message for one output costs no extra ref/unref. */
        struct tl_output *prev = NULL;
        for (size_t i = 0; i < rs->n_to; i++) {
            if (route_takes(&rs->to[i].where, m)) {
                if (prev) {
                    tl_msg_ref(m);
                    emit_to(w, in, prev, m, dgram);
                }
                prev = rs->to[i].out;
            }
        }
        if (prev) {
            emit_to(w, in, prev, m, dgram);
        } else {
            tl_msg_unref(m);
        }
        return;
    }
    for (size_t i = 0; i < rs->n_to; i++) {
        if (i + 1 < rs->n_to) {
            tl_msg_ref(m);
        }
        emit_to(w, in, rs->to[i].out, m, dgram);
    }
}

void tl_worker_request_recheck(struct tl_worker *w)
{
    if (!w->started) {
        return;
    }
    atomic_store(&w->recheck, true);
    tl_ev_wake(w->loop);
}

/* A connection never changes thread, so its TLS state is only ever touched here. */
static void recheck_all(struct tl_worker *w)
{
    for (struct tl_in_item *it = w->items.next; it != &w->items;) {
        struct tl_in_item *next = it->next; /* a failed check removes it from the list */
        if (it->recheck) {
            it->recheck(it);
        }
        it = next;
    }
}

/* Grows pend to n slots, the new ones empty. */
static bool grow_pend(struct tl_worker *w, size_t n)
{
    if (n <= w->n_pend) {
        return true;
    }
    struct pending *p = realloc(w->pend, n * sizeof(*p));
    if (!p) {
        return false;
    }
    w->pend = p;
    for (size_t o = w->n_pend; o < n; o++) {
        p[o] = (struct pending){.v = malloc(BATCH_MAX * sizeof(struct tl_msg *))};
        if (!p[o].v) {
            return false;
        }
        p[o].cap = BATCH_MAX;
        w->n_pend = o + 1;
    }
    return true;
}

static bool listed(struct tl_input *const *v, size_t n, const struct tl_input *in)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == in) {
            return true;
        }
    }
    return false;
}

/* Output slot o of the old table is not the same output in the new one. */
static bool leaves(const struct tl_routes *old, const struct tl_routes *rt, size_t o)
{
    return old->outputs[o] && (o >= rt->n_slots || rt->outputs[o] != old->outputs[o]);
}

/* Between two loop turns: switches to the table the server published (pipeline.h). false:
 * not yet, because an output leaving the table has a batch of ours its full queue cannot
 * take yet (the retry timer comes back; the server may close that queue, then the batch is
 * dropped and counted like at a stop). */
static bool adopt(struct tl_worker *w)
{
    struct tl_routes *rt = atomic_load_explicit(&w->pl->routes, memory_order_acquire);
    struct tl_routes *old = w->rt;
    if (rt == old) {
        return true;
    }
    forget_settled(w); /* (the reload's next table frees the outputs it stopped) */
    size_t leaving = 0;
    for (size_t o = 0; o < old->n_slots; o++) {
        leaving += leaves(old, rt, o);
    }
    struct retired *r = realloc(w->retired, (w->n_retired + leaving + 1) * sizeof(*r));
    if (!r || !grow_pend(w, rt->n_slots) || !grow_scratch(w, rt->scratch_size)) {
        w->retired = r ? r : w->retired;
        return false;
    }
    w->retired = r;
    /* Removed inputs: what their connections already hold is read and routed by the table
     * that has their routes (two passes, as at a stop: accepted connections, then their
     * data). */
    for (int pass = 0; pass < 2 && rt->n_retire; pass++) {
        for (struct tl_in_item *it = w->items.next; it != &w->items;) {
            struct tl_in_item *next = it->next;
            if (listed(rt->retire, rt->n_retire, it->in)) {
                it->drain(it);
            }
            it = next;
        }
    }
    /* Outputs leaving the table get our last batches for them now. */
    for (size_t o = 0; o < old->n_slots; o++) {
        if (leaves(old, rt, o) && !flush_output(w, o)) {
            block_output(w, o, true);
            return false;
        }
    }
    for (size_t o = 0; o < old->n_slots; o++) {
        if (!leaves(old, rt, o)) {
            continue;
        }
        struct pending *p = &w->pend[o];
        struct tl_output *out = old->outputs[o];
        if (p->seq_end > atomic_load_explicit(&out->settled, memory_order_acquire)) {
            tl_output_hold(out);
            w->retired[w->n_retired++] = (struct retired){out, p->seq_end};
        }
        p->seq_end = 0;
        p->blocked = false;
    }
    w->rt = rt;
    for (struct tl_in_item *it = w->items.next; it != &w->items;) {
        struct tl_in_item *next = it->next;
        if (listed(rt->retire, rt->n_retire, it->in)) {
            it->close(it);
        }
        it = next;
    }
    for (size_t i = 0; i < rt->n_attach; i++) {
        struct tl_input *in = rt->attach[i].in;
        if (!rt->attach[i].attach(in, w, w->id)) {
            tl_error("input %s: worker %zu cannot watch it after the reload (out of memory or "
                     "descriptors): it takes fewer connections than it should until a restart",
                     in->conf->name, w->id);
        }
    }
    update_paused(w);
    atomic_store_explicit(&w->gen, rt->gen, memory_order_release);
    return true;
}

struct tl_routes *tl_pipeline_publish(struct tl_pipeline *pl, struct tl_routes *rt,
                                      int64_t late_ms, void (*late)(void *arg), void *arg)
{
    struct tl_routes *old = atomic_load(&pl->routes);
    rt->gen = old ? old->gen + 1 : 1;
    atomic_store_explicit(&pl->routes, rt, memory_order_release);
    int64_t start = tl_now_ms();
    int64_t woken = -1;
    bool was_late = false;
    for (;;) {
        bool all = true;
        bool wake = woken < 0 || tl_now_ms() - woken >= 100;
        for (size_t i = 0; i < pl->n_workers; i++) {
            struct tl_worker *w = pl->workers[i];
            if (w && w->started && atomic_load_explicit(&w->gen, memory_order_acquire) < rt->gen) {
                all = false;
                if (wake) {
                    tl_ev_wake(w->loop);
                }
            }
        }
        if (all) {
            return old;
        }
        if (wake) {
            woken = tl_now_ms();
        }
        if (!was_late && late && tl_now_ms() - start >= late_ms) {
            was_late = true;
            late(arg);
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}

static void *worker_main(void *arg)
{
    struct tl_worker *w = arg;
    tl_msg_home_enter(w->id);
    while (!atomic_load(&w->stop)) {
        tl_ev_run_once(w->loop, 1000);
        tl_msg_home_drain();
        if (atomic_exchange(&w->recheck, false)) {
            recheck_all(w);
        }
        if (atomic_load_explicit(&w->pl->routes, memory_order_relaxed) != w->rt) {
            adopt(w);
        }
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
    /* Everything read is queued (waiting for room if need be: the server bounds that
     * wait), which lets RELP connections acknowledge it before they close. */
    w->final = true;
    flush_all(w->loop, w);
    /* RELP connections acknowledge what their outputs settle meanwhile (the outputs are
     * still running): a short, bounded wait that spares senders resending it. A source whose
     * round ended while more was noted has registered its next round (a waiter): that round
     * covers the last messages, so it is waited for too. */
    int64_t until = tl_now_ms() + SETTLE_WAIT_MS;
    while ((w->settle_waits > 0 || w->n_waiters > 0) && tl_now_ms() < until) {
        tl_ev_run_once(w->loop, 10);
    }
    while (w->items.next != &w->items) {
        w->items.next->close(w->items.next);
    }
    tl_ev_run_once(w->loop, 0); /* runs deferred frees */
    flush_all(w->loop, w);
    /* What the outputs still hold comes back later: tl_server_fini frees it. */
    tl_msg_home_leave();
    return NULL;
}

struct tl_worker *tl_worker_new(struct tl_pipeline *pl, size_t id)
{
    struct tl_worker *w = calloc(1, sizeof(*w));
    if (!w) {
        return NULL;
    }
    w->id = id;
    w->pl = pl;
    w->items.next = &w->items;
    w->items.prev = &w->items;
    atomic_init(&w->stop, false);
    atomic_init(&w->recheck, false);
    w->loop = tl_ev_loop_new();
    w->rt = atomic_load(&pl->routes);
    atomic_init(&w->gen, w->rt->gen);
    if (!w->loop || !grow_scratch(w, w->rt->scratch_size) || !grow_pend(w, w->rt->n_slots)) {
        tl_worker_free(w);
        return NULL;
    }
    tl_ev_timer_init(&w->retry, retry_cb, w);
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
    for (size_t o = 0; o < w->n_pend; o++) {
        for (size_t i = 0; i < w->pend[o].n; i++) {
            tl_msg_unref(w->pend[o].v[i]);
        }
        free(w->pend[o].v);
    }
    free(w->pend);
    for (size_t i = 0; i < w->n_retired; i++) {
        tl_output_release(w->retired[i].out);
    }
    free(w->retired);
    free(w->scratch);
    free(w->waiters);
    tl_ev_loop_free(w->loop);
    free(w);
}
