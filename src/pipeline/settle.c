/* settle.c: see settle.h. */
#include "pipeline/settle.h"

#include <stdlib.h>

#define SETTLE_POLL_MS 2 /* while a round waits for the outputs */

static void start_round(struct tl_ev_loop *loop, void *arg);

static void check(struct tl_ev_loop *loop, void *arg)
{
    struct tl_settle *s = arg;
    for (size_t i = 0; i < s->in->n_outs; i++) {
        const struct tl_output *o = s->in->outs[i];
        if (atomic_load_explicit(&o->settled, memory_order_acquire) < s->want[i]) {
            tl_ev_timer_start(loop, &s->timer, SETTLE_POLL_MS);
            return;
        }
    }
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
    s->noted = false;
    s->mark(s->arg);
    for (size_t i = 0; i < s->in->n_outs; i++) {
        s->want[i] = tl_worker_pushed_seq(s->w, s->in->outs[i]);
    }
    s->in_round = true;
    tl_worker_settle_wait(s->w, 1);
    check(loop, s);
}

bool tl_settle_init(struct tl_settle *s, struct tl_worker *w, struct tl_input *in,
                    void (*mark)(void *arg), void (*done)(void *arg), void *arg)
{
    *s = (struct tl_settle){.w = w, .in = in, .mark = mark, .done = done, .arg = arg};
    s->want = calloc(in->n_outs ? in->n_outs : 1, sizeof(*s->want));
    tl_ev_timer_init(&s->timer, check, s);
    return s->want != NULL;
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
    if (s->want == NULL) {
        return;
    }
    tl_ev_timer_stop(tl_worker_loop(s->w), &s->timer);
    if (s->waiting) {
        tl_worker_cancel_after_flush(s->w, s);
    }
    if (s->in_round) {
        tl_worker_settle_wait(s->w, -1);
    }
    s->waiting = false;
    s->in_round = false;
    s->noted = false;
    free(s->want);
    s->want = NULL;
}
