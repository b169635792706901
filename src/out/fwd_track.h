/*
 * fwd_track.h: which numbered messages are done, when they finish out of order. A forward
 * output that spreads messages over several connections (load balancing, fwd_lb.c) has them
 * acknowledged lane by lane, in no particular order across lanes; what it may publish is a
 * watermark: the first number not yet done (everything before it is). The same serves its
 * disk part, whose records may only leave the disk from the oldest on.
 *
 * One byte per number in flight, in a ring that grows: marking a number done and moving the
 * watermark cost O(1) per message, with no lock (one thread owns it).
 *
 * Pure bookkeeping: no I/O, no logging. The forward output's thread owns it.
 */
#ifndef TL_OUT_FWD_TRACK_H
#define TL_OUT_FWD_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fwd_track {
    uint64_t base;    /* every number before it is done; base itself is not */
    uint64_t end;     /* numbers in [base, end) are in flight or done out of order */
    uint8_t *done;    /* ring of cap flags: done[n & (cap - 1)] */
    size_t cap;       /* a power of two, or 0 */
};

/* Starts empty at number at (base = end = at). */
void fwd_track_init(struct fwd_track *t, uint64_t at);
void fwd_track_fini(struct fwd_track *t);

/* Numbers up to end (excluded) are in flight (end only grows). False: out of memory (nothing
 * changed). */
bool fwd_track_add(struct fwd_track *t, uint64_t end);

/* Makes room for numbers up to end, so that fwd_track_add up to it cannot fail. False: out
 * of memory. */
bool fwd_track_reserve(struct fwd_track *t, uint64_t end);

/* Number n is done (a number outside [base, end), or done twice, is ignored). Returns how far
 * the watermark moved. */
uint64_t fwd_track_done(struct fwd_track *t, uint64_t n);

/* Forgets everything and starts again at number at. */
void fwd_track_reset(struct fwd_track *t, uint64_t at);

#endif
