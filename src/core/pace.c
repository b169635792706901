#include "core/pace.h"

#include <errno.h>
#include <time.h>

int64_t tl_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void tl_pace_mark(struct tl_pace *p, bool busy, int64_t woke_us)
{
    if (!busy || p->us <= 0) {
        return;
    }
    p->gap_us = p->last_us ? woke_us - p->last_us : 0;
    p->last_us = woke_us;
}

void tl_pace_wait(struct tl_pace *p)
{
    /* A stream: busy wake-ups closer than the period (1.5x: a paced one comes a little
     * after it). */
    if (p->us <= 0 || p->gap_us <= 0 || p->gap_us > p->us + p->us / 2) {
        return;
    }
    int64_t left = p->last_us + p->us - tl_now_us();
    if (left <= 0 || left > p->us) {
        return;
    }
    struct timespec ts = {0, (long)left * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
