/*
 * pace.h: coalescing wake-ups under load.
 *
 * A thread that sleeps until work arrives (a worker in epoll_wait, an output in its queue)
 * and is fed a steady stream wakes once per arrival, a few messages each time, and spends
 * most of its CPU on the wake-up itself (context switches, futexes). tl_pace_wait, called
 * just before such a sleep, sleeps first for what is left of `us` since the last wake-up
 * that found work, so under load the thread wakes at most once per `us` and handles
 * everything that arrived meanwhile in one batch. When the last wake-up found nothing, or
 * was longer ago than `us`, it returns at once: an idle or lightly loaded thread keeps its
 * latency, and a message waits at most `us` longer under load.
 */
#ifndef TL_CORE_PACE_H
#define TL_CORE_PACE_H

#include <stdbool.h>
#include <stdint.h>

struct tl_pace {
    int64_t us;       /* the period; 0 turns pacing off */
    int64_t last_us;  /* CLOCK_MONOTONIC of the last wake-up that found work; 0: none */
};

/* The default period: 200 microseconds, small beside any syslog latency that matters,
 * long enough for hundreds of messages per wake-up at full speed. */
#ifndef TL_PACE_US
#define TL_PACE_US 200
#endif

int64_t tl_now_us(void);

/* Before sleeping for work: sleeps the rest of the period when the last wake-up was busy. */
void tl_pace_wait(struct tl_pace *p);

/* After the sleep: did this wake-up find work? */
static inline void tl_pace_mark(struct tl_pace *p, bool busy)
{
    p->last_us = busy && p->us ? tl_now_us() : 0;
}

#endif
