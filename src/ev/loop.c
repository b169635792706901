#include "ev/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/pace.h"

#define MAX_EVENTS 256

struct deferred {
    tl_ev_fn *fn;
    void *arg;
};

struct tl_ev_loop {
    int epfd;
    int wakefd;
    struct tl_ev_io wake_io;
    struct tl_ev_timer **heap;
    size_t heap_len;
    size_t heap_cap;
    struct deferred *defer;
    size_t defer_len;
    size_t defer_cap;
    tl_ev_fn *before_sleep;
    void *before_sleep_arg;
    struct tl_pace pace;
    size_t work;  /* messages this turn moved (tl_ev_note_work) */
    bool no_pace; /* this turn read a source that must not wait (tl_ev_no_pace) */
    int64_t woke_us;
};

static void wake_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events)
{
    uint64_t v;
    ssize_t r = read(loop->wakefd, &v, sizeof(v));
    (void)r;
    (void)io;
    (void)events;
}

struct tl_ev_loop *tl_ev_loop_new(void)
{
    struct tl_ev_loop *loop = calloc(1, sizeof(*loop));
    if (!loop) {
        return NULL;
    }
    loop->pace.us = TL_PACE_US;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->wakefd < 0) {
        tl_ev_loop_free(loop);
        return NULL;
    }
    tl_ev_io_init(&loop->wake_io, loop->wakefd, wake_cb, NULL);
    if (!tl_ev_set(loop, &loop->wake_io, TL_EV_READ)) {
        tl_ev_loop_free(loop);
        return NULL;
    }
    return loop;
}

void tl_ev_loop_free(struct tl_ev_loop *loop)
{
    if (!loop) {
        return;
    }
    if (loop->epfd >= 0) {
        close(loop->epfd);
    }
    if (loop->wakefd >= 0) {
        close(loop->wakefd);
    }
    free(loop->heap);
    free(loop->defer);
    free(loop);
}

void tl_ev_io_init(struct tl_ev_io *io, int fd, tl_ev_io_cb *cb, void *data)
{
    memset(io, 0, sizeof(*io));
    io->fd = fd;
    io->cb = cb;
    io->data = data;
}

bool tl_ev_set(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned mask)
{
    if (io->registered && io->mask == mask) {
        return true;
    }
    struct epoll_event ev = {0};
    if (mask & TL_EV_READ) {
        ev.events |= EPOLLIN;
    }
    if (mask & TL_EV_WRITE) {
        ev.events |= EPOLLOUT;
    }
    ev.data.ptr = io;
    int op = io->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(loop->epfd, op, io->fd, &ev) < 0) {
        return false;
    }
    io->registered = true;
    io->mask = mask;
    return true;
}

void tl_ev_del(struct tl_ev_loop *loop, struct tl_ev_io *io)
{
    if (io->registered) {
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
        io->registered = false;
    }
    io->mask = 0;
    io->gen++;
}

/* Timers: a binary min-heap on when_ms. */

static void heap_swap(struct tl_ev_loop *loop, size_t a, size_t b)
{
    struct tl_ev_timer *t = loop->heap[a];
    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->heap_idx = a;
    loop->heap[b]->heap_idx = b;
}

static void heap_up(struct tl_ev_loop *loop, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->when_ms <= loop->heap[i]->when_ms) {
            break;
        }
        heap_swap(loop, i, parent);
        i = parent;
    }
}

static void heap_down(struct tl_ev_loop *loop, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1;
        size_t r = l + 1;
        size_t m = i;
        if (l < loop->heap_len && loop->heap[l]->when_ms < loop->heap[m]->when_ms) {
            m = l;
        }
        if (r < loop->heap_len && loop->heap[r]->when_ms < loop->heap[m]->when_ms) {
            m = r;
        }
        if (m == i) {
            break;
        }
        heap_swap(loop, i, m);
        i = m;
    }
}

void tl_ev_timer_init(struct tl_ev_timer *t, tl_ev_fn *cb, void *arg)
{
    t->when_ms = 0;
    t->heap_idx = SIZE_MAX;
    t->cb = cb;
    t->arg = arg;
}

void tl_ev_timer_stop(struct tl_ev_loop *loop, struct tl_ev_timer *t)
{
    if (t->heap_idx == SIZE_MAX) {
        return;
    }
    size_t i = t->heap_idx;
    size_t last = loop->heap_len - 1;
    if (i != last) {
        heap_swap(loop, i, last);
    }
    loop->heap_len--;
    t->heap_idx = SIZE_MAX;
    if (i < loop->heap_len) {
        heap_down(loop, i);
        heap_up(loop, i);
    }
}

void tl_ev_timer_start(struct tl_ev_loop *loop, struct tl_ev_timer *t, int64_t after_ms)
{
    tl_ev_timer_stop(loop, t);
    if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        struct tl_ev_timer **h = realloc(loop->heap, cap * sizeof(*h));
        if (!h) {
            tl_error("event loop: out of memory arming a timer");
            abort();
        }
        loop->heap = h;
        loop->heap_cap = cap;
    }
    t->when_ms = tl_now_ms() + after_ms;
    t->heap_idx = loop->heap_len;
    loop->heap[loop->heap_len++] = t;
    heap_up(loop, t->heap_idx);
}

bool tl_ev_defer(struct tl_ev_loop *loop, tl_ev_fn *fn, void *arg)
{
    if (loop->defer_len == loop->defer_cap) {
        size_t cap = loop->defer_cap ? loop->defer_cap * 2 : 64;
        struct deferred *d = realloc(loop->defer, cap * sizeof(*d));
        if (!d) {
            return false;
        }
        loop->defer = d;
        loop->defer_cap = cap;
    }
    loop->defer[loop->defer_len].fn = fn;
    loop->defer[loop->defer_len].arg = arg;
    loop->defer_len++;
    return true;
}

void tl_ev_set_before_sleep(struct tl_ev_loop *loop, tl_ev_fn *fn, void *arg)
{
    loop->before_sleep = fn;
    loop->before_sleep_arg = arg;
}

static void run_deferred(struct tl_ev_loop *loop)
{
    /* A deferred function may defer more; run until none is left. */
    for (size_t i = 0; i < loop->defer_len; i++) {
        struct deferred d = loop->defer[i];
        d.fn(loop, d.arg);
    }
    loop->defer_len = 0;
}

static void run_timers(struct tl_ev_loop *loop)
{
    int64_t now = tl_now_ms();
    while (loop->heap_len > 0 && loop->heap[0]->when_ms <= now) {
        struct tl_ev_timer *t = loop->heap[0];
        tl_ev_timer_stop(loop, t);
        t->cb(loop, t->arg);
    }
}

void tl_ev_run_once(struct tl_ev_loop *loop, int timeout_ms)
{
    run_deferred(loop);
    if (loop->before_sleep) {
        loop->before_sleep(loop, loop->before_sleep_arg);
    }
    run_deferred(loop);
    if (loop->heap_len > 0) {
        int64_t until = loop->heap[0]->when_ms - tl_now_ms();
        if (until < 0) {
            until = 0;
        }
        if (timeout_ms < 0 || until < timeout_ms) {
            timeout_ms = (int)until;
        }
    }
    if (timeout_ms != 0) {
        tl_pace_wait(&loop->pace);
    }
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(loop->epfd, evs, MAX_EVENTS, timeout_ms);
    loop->woke_us = tl_now_us();
    if (n < 0 && errno != EINTR) {
        tl_error("event loop: epoll_wait failed: %s", strerror(errno));
    }
    /* Remember each io's generation first, so an io deleted (and perhaps reused) by an
     * earlier callback in this batch is not dispatched. */
    uint32_t gens[MAX_EVENTS];
    for (int i = 0; i < n; i++) {
        struct tl_ev_io *io = evs[i].data.ptr;
        gens[i] = io->gen;
    }
    for (int i = 0; i < n; i++) {
        struct tl_ev_io *io = evs[i].data.ptr;
        if (io->gen != gens[i] || !io->registered) {
            continue;
        }
        unsigned events = 0;
        if (evs[i].events & EPOLLIN) {
            events |= TL_EV_READ;
        }
        if (evs[i].events & EPOLLOUT) {
            events |= TL_EV_WRITE;
        }
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
            events |= TL_EV_ERROR | (io->mask & TL_EV_READ);
        }
        io->cb(loop, io, events);
    }
    run_deferred(loop);
    run_timers(loop);
    run_deferred(loop);
    /* Only turns that moved messages count for pacing: connection set-ups and other
     * housekeeping never make the loop wait. */
    if (loop->no_pace) {
        loop->pace.last_us = 0;
        loop->pace.gap_us = 0;
    } else {
        tl_pace_mark(&loop->pace, loop->work > 0, loop->woke_us);
    }
    loop->work = 0;
    loop->no_pace = false;
}

void tl_ev_no_pace(struct tl_ev_loop *loop)
{
    loop->no_pace = true;
}

void tl_ev_note_work(struct tl_ev_loop *loop, size_t messages)
{
    loop->work += messages;
}

void tl_ev_wake(struct tl_ev_loop *loop)
{
    uint64_t one = 1;
    ssize_t w = write(loop->wakefd, &one, sizeof(one));
    (void)w;
}
