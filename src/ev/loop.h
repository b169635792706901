/*
 * loop.h: a small epoll event loop, one per worker thread.
 *
 * Level-triggered. A tl_ev_io is embedded in its owner (a connection, a listener); the
 * loop never allocates or frees it. Timers sit in a min-heap. tl_ev_wake is the only
 * function another thread may call; everything else belongs to the loop's own thread.
 *
 * Closing from inside a callback: tl_ev_del the fd, then free the owner with tl_ev_defer
 * (runs after the current batch of events), so a later event in the same batch for the same
 * io is recognised as stale and dropped.
 */
#ifndef TL_EV_LOOP_H
#define TL_EV_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    TL_EV_READ = 1u << 0,
    TL_EV_WRITE = 1u << 1,
    TL_EV_ERROR = 1u << 2, /* reported only: EPOLLERR / EPOLLHUP */
};

struct tl_ev_loop;
struct tl_ev_io;

typedef void tl_ev_io_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events);
typedef void tl_ev_fn(struct tl_ev_loop *loop, void *arg);

struct tl_ev_io {
    int fd;
    unsigned mask;       /* what the loop watches: TL_EV_READ | TL_EV_WRITE */
    bool registered;
    uint32_t gen;        /* bumped on del, so stale events are dropped */
    tl_ev_io_cb *cb;
    void *data;
};

struct tl_ev_timer {
    int64_t when_ms;     /* CLOCK_MONOTONIC */
    size_t heap_idx;     /* SIZE_MAX when not armed */
    tl_ev_fn *cb;
    void *arg;
};

struct tl_ev_loop *tl_ev_loop_new(void);
void tl_ev_loop_free(struct tl_ev_loop *loop);

void tl_ev_io_init(struct tl_ev_io *io, int fd, tl_ev_io_cb *cb, void *data);
/* Start, change or stop watching io. Return false (errno set) when epoll_ctl fails. */
bool tl_ev_set(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned mask);
void tl_ev_del(struct tl_ev_loop *loop, struct tl_ev_io *io);

/* Only on a timer that is not armed (re-initialising an armed one corrupts the heap). */
void tl_ev_timer_init(struct tl_ev_timer *t, tl_ev_fn *cb, void *arg);
void tl_ev_timer_start(struct tl_ev_loop *loop, struct tl_ev_timer *t, int64_t after_ms);
void tl_ev_timer_stop(struct tl_ev_loop *loop, struct tl_ev_timer *t);
static inline bool tl_ev_timer_armed(const struct tl_ev_timer *t)
{
    return t->heap_idx != SIZE_MAX;
}

/* Runs fn(arg) after the current batch of events (or at the start of the next turn). */
bool tl_ev_defer(struct tl_ev_loop *loop, tl_ev_fn *fn, void *arg);

/* Runs before the loop sleeps in epoll_wait, every turn (flush batches there). */
void tl_ev_set_before_sleep(struct tl_ev_loop *loop, tl_ev_fn *fn, void *arg);

/* One turn: waits at most timeout_ms (-1 = until an event or timer), dispatches. */
void tl_ev_run_once(struct tl_ev_loop *loop, int timeout_ms);

/* This turn moved that many messages: when turns that move messages come less than 1.5
 * pace periods apart (a stream), the loop paces its wake-ups (core/pace.h) so that each
 * one takes a larger batch. */
void tl_ev_note_work(struct tl_ev_loop *loop, size_t messages);
/* This turn read a source whose kernel queue is too short to wait for (unix datagram
 * sockets): the next turn does not pace. */
void tl_ev_no_pace(struct tl_ev_loop *loop);

/* From any thread: makes the loop's current or next epoll_wait return. */
void tl_ev_wake(struct tl_ev_loop *loop);

#endif
