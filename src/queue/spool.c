/* spool.c: see spool.h. */
#include "queue/spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/text.h"

#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 2000
#define FIRST_TICK_MS 1000

struct tl_spool {
    struct tl_spool_opts o;
    char owner[128];
    struct tl_dq *dq;
    struct tl_ev_timer tick;      /* interval sync */
    struct tl_ev_timer retry;     /* after a failed write */
    uint64_t unflushed;           /* first message appended, not flushed; TL_SPOOL_NONE */
    /* An episode of failed writes: from the first failure to the first retry that works. */
    bool failing;                 /* until the retry timer fires */
    bool episode;
    int64_t fail_since;
    int64_t backoff_ms;
    char fail_why[400];           /* the first failure of the episode */
};

static void count_records(struct tl_spool *sp)
{
    if (sp->o.records) {
        atomic_store_explicit(sp->o.records, tl_dq_count(sp->dq), memory_order_relaxed);
    }
    if (sp->o.record_bytes) {
        atomic_store_explicit(sp->o.record_bytes, tl_dq_bytes(sp->dq), memory_order_relaxed);
    }
}

/* Writing failed (e): nothing more is taken until the retry timer fires; the owner's queue
 * fills meanwhile and queue.full applies. */
static void fail(struct tl_spool *sp, const struct tl_err *e)
{
    char why[sizeof(sp->fail_why)];
    tl_err_text(e, why, sizeof(why));
    sp->failing = true;
    if (!sp->episode) {
        sp->episode = true;
        sp->fail_since = tl_now_ms();
        sp->backoff_ms = RETRY_MIN_MS;
        snprintf(sp->fail_why, sizeof(sp->fail_why), "%s", why);
        tl_error("%s: disk queue: %s; %s. Nothing is dropped: messages wait in "
                 "memory, and while the queue is full queue.full applies (%s); retrying",
                 sp->owner, why, tl_write_remedy(e->sys_errno),
                 sp->o.full_drops ? "drop: new messages are dropped and counted"
                                  : "block: the inputs routed here pause");
    } else {
        sp->backoff_ms = sp->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : sp->backoff_ms * 2;
    }
    if (sp->o.write_errors) {
        atomic_fetch_add_explicit(sp->o.write_errors, 1, memory_order_relaxed);
    }
    tl_ev_timer_stop(sp->o.loop, &sp->retry);
    tl_ev_timer_start(sp->o.loop, &sp->retry, sp->backoff_ms);
}

static void retry_cb(struct tl_ev_loop *loop, void *arg)
{
    struct tl_spool *sp = arg;
    (void)loop;
    sp->failing = false;
    if (sp->o.retry) {
        sp->o.retry(sp->o.arg);
    }
    if (!sp->failing && sp->episode) {
        sp->episode = false;
        tl_notice("%s: disk queue: writing again after %.1f s (%s); nothing was lost",
                  sp->owner, (double)(tl_now_ms() - sp->fail_since) / 1000.0, sp->fail_why);
    }
}

static void tick_cb(struct tl_ev_loop *loop, void *arg)
{
    struct tl_spool *sp = arg;
    struct tl_err e;
    if (!sp->failing) {
        if (tl_dq_tick(sp->dq, tl_now_ms(), &e) == TL_OK) {
            sp->unflushed = TL_SPOOL_NONE;
            if (sp->o.settled) {
                sp->o.settled(sp->o.arg);
            }
        } else {
            fail(sp, &e);
        }
    }
    uint64_t every = sp->o.dq.sync_interval_ms ? sp->o.dq.sync_interval_ms : 1000;
    tl_ev_timer_start(loop, &sp->tick, (int64_t)every);
}

/* What recovery found: every anomaly with the messages it concerns, then how many wait. */
static void report_recovery(const struct tl_spool *sp, const struct tl_dq_recovery *rec)
{
    if (rec->detail[0]) {
        tl_warn("%s: disk queue %s: at start: %s (in all: lost %llu, delivered again %llu, "
                "to deliver %llu)",
                sp->owner, sp->o.dq.dir, rec->detail, (unsigned long long)rec->lost_records,
                (unsigned long long)rec->redelivered, (unsigned long long)rec->records);
    }
    if (rec->records) {
        tl_notice("%s: %llu messages from the disk queue %s are delivered first", sp->owner,
                  (unsigned long long)rec->records, sp->o.dq.dir);
    }
}

struct tl_spool *tl_spool_open(const struct tl_spool_opts *o, struct tl_err *err)
{
    struct tl_spool *sp = calloc(1, sizeof(*sp));
    if (!sp) {
        tl_err_set(err, TL_E_RESOURCE, ENOMEM, __FILE__ ":" TL_STR(__LINE__), NULL,
                   "out of memory");
        return NULL;
    }
    sp->o = *o;
    snprintf(sp->owner, sizeof(sp->owner), "%s", o->owner ? o->owner : "spool");
    sp->o.owner = sp->owner;
    sp->unflushed = TL_SPOOL_NONE;
    struct tl_dq_recovery rec;
    sp->dq = tl_dq_open(&o->dq, &rec, err);
    if (!sp->dq) {
        free(sp);
        return NULL;
    }
    report_recovery(sp, &rec);
    tl_ev_timer_init(&sp->tick, tick_cb, sp);
    tl_ev_timer_init(&sp->retry, retry_cb, sp);
    return sp;
}

void tl_spool_start(struct tl_spool *sp)
{
    tl_ev_timer_start(sp->o.loop, &sp->tick, FIRST_TICK_MS);
}

void tl_spool_close(struct tl_spool *sp)
{
    if (!sp) {
        return;
    }
    tl_ev_timer_stop(sp->o.loop, &sp->tick);
    tl_ev_timer_stop(sp->o.loop, &sp->retry);
    tl_dq_close(sp->dq);
    free(sp);
}

enum tl_rc tl_spool_append(struct tl_spool *sp, const void *rec, size_t len, uint64_t seq,
                           struct tl_err *err)
{
    struct tl_err e;
    enum tl_rc rc = tl_dq_append(sp->dq, rec, len, &e);
    switch (rc) {
    case TL_OK:
        if (sp->unflushed == TL_SPOOL_NONE) {
            sp->unflushed = seq;
        }
        return TL_OK;
    case TL_FULL:
        return TL_FULL;
    case TL_E_IO:
        fail(sp, &e);
        return TL_AGAIN;
    default:
        if (err) {
            *err = e;
        }
        return rc;
    }
}

bool tl_spool_flush(struct tl_spool *sp)
{
    if (sp->unflushed == TL_SPOOL_NONE) {
        return true;
    }
    struct tl_err e;
    if (tl_dq_flush(sp->dq, &e) != TL_OK) {
        fail(sp, &e);
        return false;
    }
    sp->unflushed = TL_SPOOL_NONE;
    count_records(sp);
    return true;
}

bool tl_spool_failing(const struct tl_spool *sp)
{
    return sp->failing;
}

void tl_spool_try_again(struct tl_spool *sp)
{
    sp->failing = false;
}

uint64_t tl_spool_unflushed(const struct tl_spool *sp)
{
    return sp->unflushed;
}

bool tl_spool_peek(struct tl_spool *sp, const uint8_t **rec, size_t *len)
{
    bool ok = tl_dq_peek(sp->dq, rec, len);
    const char *problem = tl_dq_take_problem(sp->dq);
    if (problem) {
        tl_error("%s: disk queue %s: %s", sp->owner, sp->o.dq.dir, problem);
    }
    return ok;
}

void tl_spool_advance(struct tl_spool *sp)
{
    tl_dq_advance(sp->dq);
}

void tl_spool_ack(struct tl_spool *sp, uint64_t n)
{
    tl_dq_ack(sp->dq, n);
    count_records(sp);
}

void tl_spool_rewind(struct tl_spool *sp)
{
    tl_dq_rewind(sp->dq);
}

uint64_t tl_spool_count(const struct tl_spool *sp)
{
    return tl_dq_count(sp->dq);
}

uint64_t tl_spool_unread(const struct tl_spool *sp)
{
    return tl_dq_unread(sp->dq);
}

uint64_t tl_spool_stop(struct tl_spool *sp, uint64_t refused)
{
    uint64_t lost = refused;
    if (sp->unflushed != TL_SPOOL_NONE) {
        lost += tl_dq_discard_unwritten(sp->dq);
        sp->unflushed = TL_SPOOL_NONE;
    }
    count_records(sp);
    tl_notice("%s: stopping: %llu messages wait in the disk queue %s for the next start",
              sp->owner, (unsigned long long)tl_dq_count(sp->dq), sp->o.dq.dir);
    if (lost) {
        tl_error("%s: stopping: %llu messages could not be written to the disk queue %s (%s) "
                 "and are lost",
                 sp->owner, (unsigned long long)lost, sp->o.dq.dir,
                 sp->episode ? sp->fail_why : "queue.max_bytes reached");
    }
    return lost;
}
