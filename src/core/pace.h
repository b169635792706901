/*
 * pace.h: coalescing wake-ups under load.
 *
 * A thread that sleeps until work arrives (a worker in epoll_wait, an output in its queue)
 * and is fed a steady stream wakes once per arrival, a few messages each time, and spends
 * most of its CPU on the wake-up itself (context switches, futexes). tl_pace_wait, called
 * just before such a sleep, sleeps first for what is left of `us` since the last wake-up
 * that found work, when the wake-ups that found work come faster than one per `us` (a
 * stream): the thread then wakes about once per `us` and handles everything that arrived
 * meanwhile in one batch. Light or request/response traffic (wake-ups further apart) is
 * never delayed, and under a stream a message waits at most `us` longer.
 */
#ifndef TL_CORE_PACE_H
#define TL_CORE_PACE_H

#include <stdbool.h>
#include <stdint.h>

struct tl_pace {
    int64_t us;       /* the period; 0 turns pacing off */
    int64_t last_us;  /* CLOCK_MONOTONIC of the last wake-up that found work; 0: none */
    int64_t gap_us;   /* between the last two such wake-ups; 0: unknown */
};

/* The default period: 200 microseconds, small beside any syslog latency that matters,
 * long enough for hundreds of messages per wake-up at full speed. Build with
 * -DTL_PACE_US=0 to compare without pacing. */
#ifndef TL_PACE_US
#define TL_PACE_US 200
#endif

int64_t tl_now_us(void);

/* Before sleeping for work: under a stream, sleeps the rest of the period first. */
void tl_pace_wait(struct tl_pace *p);

/* After a wake-up (at woke_us, tl_now_us()): did it find work? */
void tl_pace_mark(struct tl_pace *p, bool busy, int64_t woke_us);

#endif
