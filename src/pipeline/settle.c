/* settle.c: see settle.h. */
#include "pipeline/settle.h"

#include <stdlib.h>

#define SETTLE_POLL_MS 2 /* while a round waits for the outputs */

static void start_round(struct tl_ev_loop *loop, void *arg);

static void release(struct tl_settle *s)
{
    for (size_t i = 0; i < s->n; i++) {
        tl_output_release(s->outs[i]);
    }
    s->n = 0;
}

static void check(struct tl_ev_loop *loop, void *arg)
{
    struct tl_settle *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        const struct tl_output *o = s->outs[i];
        if (atomic_load_explicit(&o->settled, memory_order_acquire) < s->want[i]) {
            tl_ev_timer_start(loop, &s->timer, SETTLE_POLL_MS);
            return;
        }
    }
    release(s);
    s->in_round = false;
    tl_worker_settle_wait(s->w, -1);
    s->done(s->arg);
    /* What was emitted meanwhile has its own round. (done may have ended the owner: it
     * calls tl_settle_fini then, which clears noted.) */
    if (s->noted && !s->waiting) {
        s->waiting = tl_worker_after_flush(s->w, s->in, start_round, s);
    }
}

/* The worker's batches up to now are in the outputs' queues: this round covers them. */
static void start_round(struct tl_ev_loop *loop, void *arg)
{
    struct tl_settle *s = arg;
    s->waiting = false;
    if (s->in_round || !s->noted) {
        return;
    }
    size_t n = tl_worker_settle_targets(s->w, s->in, &s->outs, &s->want, &s->cap);
    if (n == (size_t)-1) {
        /* Out of memory: the next flush tries again. */
        s->waiting = tl_worker_after_flush(s->w, s->in, start_round, s);
        return;
    }
    s->n = n;
    s->noted = false;
    s->mark(s->arg);
    s->in_round = true;
    tl_worker_settle_wait(s->w, 1);
    check(loop, s);
}

bool tl_settle_init(struct tl_settle *s, struct tl_worker *w, struct tl_input *in,
                    void (*mark)(void *arg), void (*done)(void *arg), void *arg)
{
    *s = (struct tl_settle){.w = w, .in = in, .mark = mark, .done = done, .arg = arg};
    tl_ev_timer_init(&s->timer, check, s);
    s->cap = 4;
    s->outs = calloc(s->cap, sizeof(*s->outs));
    s->want = calloc(s->cap, sizeof(*s->want));
    if (s->outs == NULL || s->want == NULL) {
        free(s->outs);
        free(s->want);
        s->outs = NULL;
        s->want = NULL;
        return false;
    }
    return true;
}

void tl_settle_note(struct tl_settle *s)
{
    s->noted = true;
    if (!s->waiting && !s->in_round) {
        s->waiting = tl_worker_after_flush(s->w, s->in, start_round, s);
    }
}

bool tl_settle_busy(const struct tl_settle *s)
{
    return s->noted || s->in_round;
}

void tl_settle_fini(struct tl_settle *s)
{
    if (s->want == NULL || s->outs == NULL) {
        free(s->want);
        free(s->outs);
        s->want = NULL;
        s->outs = NULL;
        return;
    }
    tl_ev_timer_stop(tl_worker_loop(s->w), &s->timer);
    if (s->waiting) {
        tl_worker_cancel_after_flush(s->w, s);
    }
    if (s->in_round) {
        release(s);
        tl_worker_settle_wait(s->w, -1);
    }
    s->waiting = false;
    s->in_round = false;
    s->noted = false;
    free(s->want);
    free(s->outs);
    s->want = NULL;
    s->outs = NULL;
}
