/*
 * settle.h: waiting, on a worker, until what an input emitted has been settled by every
 * output it is routed to (pipeline.h: struct tl_output's settled count). It is the step
 * before an input may let its source forget a message: a RELP acknowledgement, a file
 * input's saved position, the journal's saved cursor.
 *
 * A small state machine on the worker's loop, one per source (a connection, a followed file):
 *   - tl_settle_note: something was emitted; a round starts once the worker has handed its
 *     batches to the outputs' queues (tl_worker_after_flush);
 *   - at the start of a round, mark(arg) lets the owner record what the round covers (RELP:
 *     the frames delivered so far; a file: its offset), and the worker's pushed sequence
 *     number for each routed output is taken (tl_worker_settle_targets: with the outputs a
 *     reload replaced that have not yet settled what this worker gave them);
 *   - once every routed output has settled past it (polled every 2 ms on the worker's loop),
 *     done(arg); the next round starts at once if more was noted meanwhile.
 * Worker thread only. An input routed nowhere has its rounds done at once.
 */
#ifndef TL_PIPELINE_SETTLE_H
#define TL_PIPELINE_SETTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "ev/loop.h"
#include "pipeline/pipeline.h"

struct tl_settle {
    struct tl_worker *w;
    struct tl_input *in;
    void (*mark)(void *arg);
    void (*done)(void *arg);
    void *arg;
    bool noted;        /* emitted since the current round was marked */
    bool waiting;      /* registered with tl_worker_after_flush */
    bool in_round;     /* marked: waiting for the outputs */
    /* The round's outputs (held while it waits: a reload may take one out of the table
     * meanwhile) and the settle count each must reach. */
    struct tl_output **outs;
    uint64_t *want;
    size_t n;
    size_t cap;
    struct tl_ev_timer timer;
};

/* false when out of memory. */
bool tl_settle_init(struct tl_settle *s, struct tl_worker *w, struct tl_input *in,
                    void (*mark)(void *arg), void (*done)(void *arg), void *arg);
/* Something was emitted (call after tl_worker_emit / tl_in_deliver). */
void tl_settle_note(struct tl_settle *s);
/* A round is under way or due. */
bool tl_settle_busy(const struct tl_settle *s);
/* Stops waiting: mark and done are not called any more. */
void tl_settle_fini(struct tl_settle *s);

#endif
