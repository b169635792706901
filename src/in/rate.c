/* rate.c: see rate.h. */
#include "in/rate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "ev/loop.h"

#define SWEEP_MS 1000  /* how soon the end of a quiet source's episode is said */
#define SWEEP_BATCH 16

struct rate_worker {
    struct tl_in_item item;    /* closed by the worker at the stop: the last episodes */
    struct tl_ev_timer sweep;
    struct tl_source_limit *lim;
    struct tl_input *in;
    struct tl_worker *w;
    bool attached;
};

struct tl_in_rate {
    size_t n;
    struct rate_worker ws[];
};

static void report(struct tl_input *in, const struct tl_source_episode *e)
{
    char src[TL_SOURCE_KEY_STRLEN];
    char iv[32];

    tl_source_key_format(&e->key, src, sizeof(src));
    if (in->conf->rate_interval_ms % 1000 == 0) {
        snprintf(iv, sizeof(iv), "%llus", (unsigned long long)(in->conf->rate_interval_ms / 1000));
    } else {
        snprintf(iv, sizeof(iv), "%llums", (unsigned long long)in->conf->rate_interval_ms);
    }
    tl_log_rl(&in->rl, 20, TL_LOG_WARNING,
              "input %s: rate_limit: dropped %llu messages from %s in %.1f s (it sent more "
              "than %u per %s)%s; raise rate_limit.burst if it is expected to send that much",
              in->conf->name, (unsigned long long)e->dropped, src,
              (double)(e->last_ms - e->first_ms) / 1000.0, in->conf->rate_burst, iv,
              e->evicted ? ", counted until it was displaced by new sources" : "");
}

/* Reports every episode over at now_ms. */
static void sweep_all(struct rate_worker *rw, int64_t now_ms)
{
    struct tl_source_episode eps[SWEEP_BATCH];
    size_t n;

    do {
        n = tl_source_limit_sweep(rw->lim, now_ms, eps, SWEEP_BATCH);
        for (size_t i = 0; i < n; i++) {
            report(rw->in, &eps[i]);
        }
    } while (n == SWEEP_BATCH);
}

static void sweep_cb(struct tl_ev_loop *loop, void *arg)
{
    struct rate_worker *rw = arg;

    sweep_all(rw, tl_now_ms());
    tl_ev_timer_start(loop, &rw->sweep, SWEEP_MS);
}

static void rate_drain(struct tl_in_item *it)
{
    (void)it;
}

/* At the stop: the episodes still going are said (they end with the daemon). */
static void rate_close(struct tl_in_item *it)
{
    struct rate_worker *rw = (struct rate_worker *)it;

    tl_ev_timer_stop(tl_worker_loop(rw->w), &rw->sweep);
    tl_worker_remove_item(rw->w, &rw->item);
    sweep_all(rw, tl_now_ms() + (int64_t)rw->in->conf->rate_interval_ms + 1);
    rw->attached = false;
}

bool tl_in_rate_new(struct tl_input *in, size_t n_workers)
{
    const struct tl_conf_input *c = in->conf;
    struct tl_source_limit_opts o = {.burst = c->rate_burst,
                                     .interval_ms = (int64_t)c->rate_interval_ms,
                                     .max_sources = c->rate_max_sources};
    char err[1024];
    struct tl_err e;

    if (!c->rate_limit) {
        return true;
    }
    in->rate = calloc(1, sizeof(*in->rate) + n_workers * sizeof(in->rate->ws[0]));
    if (in->rate == NULL) {
        tl_error("input %s: out of memory for rate_limit", c->name);
        return false;
    }
    in->rate->n = n_workers;
    for (size_t i = 0; i < n_workers; i++) {
        in->rate->ws[i].in = in;
        in->rate->ws[i].lim = tl_source_limit_new(&o, &e);
        if (in->rate->ws[i].lim == NULL) {
            tl_error("input %s: rate_limit: %s", c->name, tl_err_text(&e, err, sizeof(err)));
            return false;
        }
    }
    return true;
}

bool tl_in_rate_attach(struct tl_input *in, struct tl_worker *w, size_t idx)
{
    struct rate_worker *rw;

    if (in->rate == NULL || idx >= in->rate->n) {
        return true;
    }
    rw = &in->rate->ws[idx];
    rw->w = w;
    rw->item.drain = rate_drain;
    rw->item.close = rate_close;
    rw->item.in = in;
    tl_ev_timer_init(&rw->sweep, sweep_cb, rw);
    tl_ev_timer_start(tl_worker_loop(w), &rw->sweep, SWEEP_MS);
    tl_worker_add_item(w, &rw->item);
    rw->attached = true;
    return true;
}

void tl_in_rate_free(struct tl_input *in)
{
    if (in->rate == NULL) {
        return;
    }
    for (size_t i = 0; i < in->rate->n; i++) {
        tl_source_limit_free(in->rate->ws[i].lim);
    }
    free(in->rate);
    in->rate = NULL;
}

bool tl_in_rate_ok(struct tl_worker *w, struct tl_input *in, const struct tl_source_key *k)
{
    struct tl_source_episode ended;
    struct rate_worker *rw;

    if (in->rate == NULL) {
        return true;
    }
    rw = &in->rate->ws[tl_worker_id(w)];
    enum tl_source_verdict v = tl_source_limit_check(rw->lim, k, tl_now_ms(), &ended);
    if (ended.dropped > 0) {
        report(in, &ended);
    }
    if (v == TL_SOURCE_PASS) {
        return true;
    }
    atomic_fetch_add_explicit(&in->stats.rate_limited, 1, memory_order_relaxed);
    return false;
}
