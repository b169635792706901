/*
 * fwd_window.c: the forward output's acknowledgement window (fwd_window.h), and its glue to
 * the connection, the counters and the spool (fwd.h).
 *
 * A message stays in the window until the receiver has it: until its bytes are acknowledged
 * by the peer's TCP (TLS and TCP: its wire_end is at most the stream's bytes written minus
 * the socket's unacknowledged bytes, SIOCOUTQ), or by a RELP response. A connection that
 * breaks before that sends it again on the next one (counted in resent: it may arrive twice).
 * Frames whose bytes were not completely written go out again from their first byte: a
 * receiver drops a partial frame at EOF, so they make no duplicate.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "out/fwd.h"

#define ACK_POLL_MS 20

void fwd_window_init(struct fwd_window *w)
{
    memset(w, 0, sizeof(*w));
    tl_buf_init(&w->buf, 0);
    w->max_frames = SIZE_MAX;
    w->max_bytes = FWD_HOLD_BYTES;
}

void fwd_window_fini(struct fwd_window *w)
{
    tl_buf_fini(&w->buf);
    free(w->fr);
    w->fr = NULL;
    w->n_fr = w->cap_fr = 0;
}

bool fwd_window_room(const struct fwd_window *w)
{
    return w->n_fr < w->max_frames && w->buf.len - w->sent < FWD_FILL_BYTES &&
           w->buf.len < w->max_bytes;
}

bool fwd_window_grow(struct fwd_window *w)
{
    size_t cap = w->cap_fr ? w->cap_fr * 2 : 4096;
    struct fwd_frame *e = realloc(w->fr, cap * sizeof(*e));
    if (!e) {
        return false;
    }
    w->fr = e;
    w->cap_fr = cap;
    return true;
}

size_t fwd_window_mark(struct fwd_window *w, uint64_t wire)
{
    size_t fresh = 0;
    while (w->n_marked < w->n_fr && w->fr[w->n_marked].end <= w->sent) {
        w->fr[w->n_marked].wire_end = wire ? wire : 1;
        w->n_marked++;
        fresh++;
    }
    return fresh;
}

void fwd_window_handed(struct fwd_window *w, size_t n)
{
    assert(w->n_marked + n <= w->n_fr);
    for (size_t i = 0; i < n; i++) {
        w->fr[w->n_marked++].wire_end = 1;
    }
    if (w->n_marked) {
        w->sent = w->fr[w->n_marked - 1].end;
    }
}

size_t fwd_window_acked(const struct fwd_window *w, uint64_t acked)
{
    size_t n = 0;
    while (n < w->n_marked && w->fr[n].wire_end <= acked) {
        n++;
    }
    return n;
}

size_t fwd_window_release(struct fwd_window *w, size_t n)
{
    if (n > w->n_fr) {
        n = w->n_fr;
    }
    if (n == 0) {
        return 0;
    }
    size_t bytes = w->fr[n - 1].end;
    size_t disk = 0;
    for (size_t i = 0; i < n; i++) {
        disk += w->fr[i].disk;
    }
    tl_buf_consume(&w->buf, bytes);
    /* One call per batch of acknowledgements, not per frame: this moves every frame still
     * waiting (bench/README.md, profile note 3). */
    memmove(w->fr, w->fr + n, (w->n_fr - n) * sizeof(*w->fr));
    w->n_fr -= n;
    for (size_t i = 0; i < w->n_fr; i++) {
        w->fr[i].end -= bytes;
    }
    /* Only frames handed to the transport are released (acknowledged, refused, or taken by
     * the kernel). */
    assert(n <= w->n_marked && bytes <= w->sent);
    w->sent -= bytes;
    w->n_marked -= n;
    return disk;
}

size_t fwd_window_rewind(struct fwd_window *w)
{
    size_t handed = 0;
    for (size_t i = 0; i < w->n_fr; i++) {
        if (w->fr[i].wire_end) {
            handed++;
        }
        w->fr[i].wire_end = 0;
    }
    w->n_marked = 0;
    w->sent = 0;
    return handed;
}

void fwd_window_clear(struct fwd_window *w)
{
    w->buf.len = 0;
    w->n_fr = 0;
    w->n_marked = 0;
    w->sent = 0;
}

/* ---- glue (fwd.h) ---- */

void fwd_settle_update(struct fwd *f)
{
    if (f->pool) {
        f = f->pool;
    }
    /* Everything before the first message that is still held, in the spool but not flushed,
     * or (without a spool) framed and not yet acknowledged. */
    uint64_t upto = f->popped - (f->n_held - f->held_pos);
    if (f->spool) {
        uint64_t unflushed = tl_spool_unflushed(f->spool);
        if (unflushed < upto) {
            upto = unflushed;
        }
    } else if (f->lb) {
        uint64_t lb = fwd_lb_settled_upto(f);
        if (lb < upto) {
            upto = lb;
        }
    } else if (f->win.n_fr && f->win.fr[0].seq < upto) {
        upto = f->win.fr[0].seq;
    }
    tl_output_settle(f->out, upto);
}

void fwd_release(struct fwd *f, size_t n, bool acked)
{
    /* A RELP server may still answer for frames given up at the stop's deadline. */
    if (n > f->win.n_fr) {
        n = f->win.n_fr;
    }
    if (n == 0) {
        return;
    }
    if (acked) {
        atomic_fetch_add_explicit(&f->out->stats.acked, n, memory_order_relaxed);
        if (f->lane_stats) {
            atomic_fetch_add_explicit(&f->lane_stats->acked, n, memory_order_relaxed);
        }
    }
    if (f->pool) {
        fwd_lb_release(f, n);
        return;
    }
    size_t disk = fwd_window_release(&f->win, n);
    if (disk) {
        tl_spool_ack(f->spool, disk);
    }
    if (!f->spool) {
        fwd_settle_update(f);
    }
}

bool fwd_has_unsent(const struct fwd *f)
{
    return f->win.sent < f->win.buf.len;
}

static void count_written(struct fwd *f, size_t n)
{
    atomic_fetch_add_explicit(&f->out->stats.written, n, memory_order_relaxed);
    if (f->lane_stats) {
        atomic_fetch_add_explicit(&f->lane_stats->written, n, memory_order_relaxed);
    }
}

void fwd_handed(struct fwd *f, size_t n)
{
    fwd_window_handed(&f->win, n);
    count_written(f, n);
}

/* Releases the frames the peer's TCP has acknowledged; true when some are still waiting. */
static bool release_acked(struct fwd *f)
{
    if (!f->c.s || f->win.n_marked == 0) {
        return f->win.n_marked > 0;
    }
    uint64_t wire = tl_stream_wire_written(f->c.s);
    uint64_t unacked = tl_stream_unacked(f->c.s);
    uint64_t acked = unacked < wire ? wire - unacked : 0;
    fwd_release(f, fwd_window_acked(&f->win, acked), true);
    return f->win.n_marked > 0;
}

void fwd_after_write(struct fwd *f)
{
    size_t fresh = fwd_window_mark(&f->win, tl_stream_wire_written(f->c.s));
    count_written(f, fresh);
    release_acked(f);
    if (f->win.n_marked && !tl_ev_timer_armed(&f->ack_timer)) {
        tl_ev_timer_start(f->loop, &f->ack_timer, ACK_POLL_MS);
    }
}

void fwd_ack_poll(struct tl_ev_loop *loop, void *arg)
{
    struct fwd *f = arg;
    (void)loop;
    if (f->c.state == FWD_UP && release_acked(f)) {
        tl_ev_timer_start(f->loop, &f->ack_timer, ACK_POLL_MS);
    }
    fwd_pump(f);
}

void fwd_window_lost(struct fwd *f)
{
    tl_ev_timer_stop(f->loop, &f->ack_timer);
    /* Everything not acknowledged goes out again on the next connection, from the start of
     * its frame: what was handed over but not acknowledged may be a duplicate (counted). */
    size_t resent = fwd_window_rewind(&f->win);
    if (resent) {
        atomic_fetch_add_explicit(&f->out->stats.resent, resent, memory_order_relaxed);
    }
    if (f->pool) {
        /* A lane: its frames go to the other lanes (fwd_lb.c), the spool stays as it is. */
        atomic_fetch_add_explicit(&f->lane_stats->resent, resent, memory_order_relaxed);
        fwd_lb_lane_lost(f);
        return;
    }
    if (f->spool) {
        /* The frames are forgotten and the read cursor goes back to the oldest
         * unacknowledged record, so that they are read (and sent) again, in order. */
        fwd_window_clear(&f->win);
        tl_spool_rewind(f->spool);
    }
}
