/*
 * fwd_track.c: numbered messages done out of order, and the watermark before which all are
 * done (fwd_track.h).
 */
#include "out/fwd_track.h"

#include <stdlib.h>
#include <string.h>

void fwd_track_init(struct fwd_track *t, uint64_t at)
{
    memset(t, 0, sizeof(*t));
    t->base = t->end = at;
}

void fwd_track_fini(struct fwd_track *t)
{
    free(t->done);
    t->done = NULL;
    t->cap = 0;
}

/* A larger ring, the flags in flight copied to their places in it. */
static bool grow(struct fwd_track *t, uint64_t need)
{
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            return false;
        }
        cap *= 2;
    }
    uint8_t *d = calloc(cap, 1);
    if (!d) {
        return false;
    }
    for (uint64_t n = t->base; n < t->end; n++) {
        d[n & (cap - 1)] = t->done[n & (t->cap - 1)];
    }
    free(t->done);
    t->done = d;
    t->cap = cap;
    return true;
}

bool fwd_track_reserve(struct fwd_track *t, uint64_t end)
{
    return end <= t->base || end - t->base <= t->cap || grow(t, end - t->base);
}

bool fwd_track_add(struct fwd_track *t, uint64_t end)
{
    if (end <= t->end) {
        return true;
    }
    if (!fwd_track_reserve(t, end)) {
        return false;
    }
    for (uint64_t n = t->end; n < end; n++) {
        t->done[n & (t->cap - 1)] = 0;
    }
    t->end = end;
    return true;
}

uint64_t fwd_track_done(struct fwd_track *t, uint64_t n)
{
    if (n < t->base || n >= t->end) {
        return 0;
    }
    t->done[n & (t->cap - 1)] = 1;
    uint64_t from = t->base;
    while (t->base < t->end && t->done[t->base & (t->cap - 1)]) {
        t->base++;
    }
    return t->base - from;
}

void fwd_track_reset(struct fwd_track *t, uint64_t at)
{
    t->base = t->end = at;
}
