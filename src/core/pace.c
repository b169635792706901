#include "core/pace.h"

#include <errno.h>
#include <time.h>

int64_t tl_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void tl_pace_wait(struct tl_pace *p)
{
    if (p->us <= 0 || p->last_us == 0) {
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
