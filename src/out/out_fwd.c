/*
 * out_fwd.c: the forward output. Sends messages to a remote syslog receiver over TLS
 * (RFC 5425), TCP (RFC 6587), UDP (RFC 5426) or RELP.
 *
 * One thread per forward output, running its own event loop: the queue's notify hook wakes
 * it when workers hand over messages. The connection (fwd_conn.c) connects, handshakes and
 * reconnects; this file moves messages: from the queue into the window (fwd_window.c) while
 * it has room, and asks the wire protocol (fwd_stream.c, fwd_udp.c, fwd_relp.c) to send
 * them.
 *
 * With a disk part (queue.dir, queue/spool.h) every message goes to disk first, in order, and
 * is sent from there (straight from memory when the sender is caught up, read back
 * otherwise); it leaves the disk when the receiver acknowledged it. Without one, a message
 * waits in memory until its acknowledgement. Settling (pipeline.h): a message is settled once
 * it is on disk (per queue.sync) or, without a disk part, acknowledged; fwd_settle_update()
 * computes how far.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "out/fwd.h"
#include "parse/format.h"

/* The wire protocol of each transport, and whether it runs over TLS. */
static const struct fwd_proto *proto_of(const struct tl_conf_output *c, bool *tls)
{
    *tls = c->transport == TL_TR_TLS || (c->transport == TL_TR_RELP && c->relp_tls);
    switch (c->transport) {
    case TL_TR_UDP:
        return &fwd_udp;
    case TL_TR_RELP:
        return &fwd_relp;
    default:
        return c->framing == TL_FRAMING_LF ? &fwd_stream_lf : &fwd_stream_octet;
    }
}

static void fwd_wake(void *arg)
{
    struct fwd *f = arg;
    tl_ev_wake(f->loop);
}

static bool proto_ready(const struct fwd *f)
{
    return !f->proto->ready || f->proto->ready(f);
}

bool fwd_add_frame(struct fwd *f, const uint8_t *msg, size_t len, bool disk, uint64_t seq,
                   uint64_t key)
{
    if (!fwd_window_reserve(&f->win) || !f->proto->frame(f, msg, len)) {
        return false;
    }
    fwd_window_push(&f->win, disk, seq);
    f->win.fr[f->win.n_fr - 1].key = key;
    return true;
}

/* Room in the window for one more message (sent while the disk is caught up). */
static bool frame_room(const struct fwd *f)
{
    return f->c.state == FWD_UP && !f->stopping && proto_ready(f) && fwd_window_room(&f->win);
}

/* Takes one formatted message (f->one, m, number seq) to the spool: false when it must wait
 * (queue.max_bytes reached, or writing fails). */
static bool store(struct fwd *f, const struct tl_msg *m, uint64_t seq)
{
    struct tl_err err;
    enum tl_rc rc = tl_spool_append(f->spool, f->one.data, f->one.len, seq, &err);
    if (rc == TL_FULL || rc == TL_AGAIN) {
        return false;
    }
    if (rc != TL_OK) {
        atomic_fetch_add(&f->out->stats.dropped, 1);
        tl_log_rl(&f->out->rl, 10, TL_LOG_ERROR, "output %s: disk queue %s: %s; message dropped",
                  f->conf->name, f->conf->queue_dir, err.cause);
        return true;
    }
    /* Caught up (this record is the only one not read): it goes out from memory too. */
    if (tl_spool_unread(f->spool) != 1) {
        return true;
    }
    if (f->lb) {
        uint64_t key;
        struct fwd *lane = f->stopping ? NULL : fwd_lb_lane_for(f, m, NULL, 0, &key);
        if (lane && fwd_lb_push(f, lane, f->one.data, f->one.len, true, seq, key)) {
            tl_spool_advance(f->spool);
        }
    } else if (frame_room(f) && fwd_add_frame(f, f->one.data, f->one.len, true, seq, 0)) {
        tl_spool_advance(f->spool);
    }
    return true;
}

/*
 * Takes messages from the queue: with a spool, every one to disk (as long as it takes them);
 * without, into the window while it has room (RELP: no more than its window). Messages that
 * cannot be formatted are dropped and counted.
 */
static void fill(struct fwd *f)
{
    if (f->lb) {
        fwd_lb_next_batch(f);
    }
    for (;;) {
        size_t want = FWD_POP_MAX;
        if (f->spool) {
            if (tl_spool_failing(f->spool)) {
                break;
            }
        } else if (f->lb) {
            if (!fwd_lb_room(f, want)) {
                break;
            }
        } else {
            if (!fwd_window_room(&f->win)) {
                break;
            }
            /* Hold no more than the window allows: the rest waits in the queue. */
            size_t room = fwd_window_free_frames(&f->win);
            want = room < FWD_POP_MAX ? room : FWD_POP_MAX;
        }
        if (f->held_pos == f->n_held) {
            f->held_pos = 0;
            f->n_held = tl_mq_pop(&f->out->q, f->held, want, 0);
            if (f->n_held == 0) {
                break;
            }
            f->popped += f->n_held;
            if (f->lb) {
                fwd_lb_popped(f);
            }
            tl_ev_note_work(f->loop, f->n_held);
        }
        bool wait = false;
        while (f->held_pos < f->n_held) {
            struct tl_msg *m = f->held[f->held_pos];
            uint64_t seq = f->popped - (f->n_held - f->held_pos);
            struct fwd *to = f;
            uint64_t key = 0;
            if (f->lb && !f->spool && !(to = fwd_lb_lane_for(f, m, NULL, 0, &key))) {
                wait = true; /* m stays held: its lane is full, or none is up */
                break;
            }
            tl_buf_reset(&f->one);
            bool dropped = false;
            if (!tl_format(m, f->conf->format, false, &f->one)) {
                dropped = true;
            } else if (f->spool) {
                if (!store(f, m, seq)) {
                    wait = true; /* m stays held: disk full or failing */
                    break;
                }
            } else if (!fwd_add_frame(to, f->one.data, f->one.len, false, seq, key)) {
                dropped = true;
            }
            if (dropped) {
                atomic_fetch_add(&f->out->stats.dropped, 1);
                if (f->lb) {
                    fwd_lb_settled(f, seq);
                }
            }
            tl_msg_unref(m);
            f->held_pos++;
        }
        if (wait) {
            break;
        }
    }
    if (f->spool) {
        tl_spool_flush(f->spool);
    }
    fwd_settle_update(f);
}

/* Sends from disk: records after the spool's read cursor go into the window, in order. */
static void feed_from_disk(struct fwd *f)
{
    /* Stopping: what is on disk stays there for the next start; only what is in flight
     * gets its chance to be acknowledged. */
    if (f->spool && f->lb && !f->stopping) {
        fwd_lb_next_batch(f);
        const uint8_t *rec;
        size_t len;
        uint64_t key;
        struct fwd *lane;
        while (tl_spool_peek(f->spool, &rec, &len) &&
               (lane = fwd_lb_lane_for(f, NULL, rec, len, &key)) != NULL &&
               fwd_lb_push(f, lane, rec, len, true, 0, key)) {
            tl_spool_advance(f->spool);
        }
        return;
    }
    if (!f->spool || f->c.state != FWD_UP || !proto_ready(f) || f->stopping) {
        return;
    }
    while (fwd_window_room(&f->win)) {
        const uint8_t *rec;
        size_t len;
        if (!tl_spool_peek(f->spool, &rec, &len) || !fwd_add_frame(f, rec, len, true, 0, 0)) {
            break;
        }
        tl_spool_advance(f->spool);
    }
}

/* Load balancing: the same over every lane. */
static void lb_pump(struct fwd *f)
{
    fwd_lb_begin(f);
    for (int round = 0; round < 64; round++) {
        fill(f);
        feed_from_disk(f);
        if (!fwd_lb_send(f)) {
            break;
        }
    }
    fwd_lb_update_interest(f);
}

void fwd_pump(struct fwd *f)
{
    if (f->pool) {
        fwd_pump(f->pool); /* a lane: every lane takes its turn */
        return;
    }
    if (f->lb) {
        lb_pump(f);
        return;
    }
    if (f->c.state != FWD_UP) {
        /* Target down: with a spool, the queue keeps flowing to disk, so the memory part
         * never fills and the inputs never stall. */
        if (f->spool) {
            fill(f);
        }
        return;
    }
    for (int round = 0; round < 64; round++) {
        fill(f);
        feed_from_disk(f);
        enum tl_rc rc = f->proto->send(f);
        if (rc == TL_E_IO) {
            return; /* the connection is gone */
        }
        if (rc != TL_OK) {
            break;
        }
    }
    fwd_update_interest(f);
}

static void before_sleep(struct tl_ev_loop *loop, void *arg)
{
    struct fwd *f = arg;
    (void)loop;
    if (atomic_exchange(&f->c.recheck, false)) {
        if (f->lb) {
            fwd_lb_recheck(f);
        } else {
            fwd_conn_recheck(f);
        }
    }
    if (!f->stopping && tl_mq_closed(&f->out->q)) {
        f->stopping = true;
        /* One deadline for the whole stop, set by the server when it began. */
        f->stop_deadline = atomic_load(&f->out->stop_deadline_ms);
        if (f->stop_deadline == 0) {
            f->stop_deadline = tl_now_ms() + (int64_t)f->conf->drain_timeout_ms;
        }
    }
    fwd_pump(f);
}

/* Frames held for their acknowledgement. */
static size_t inflight(const struct fwd *f)
{
    return f->lb ? fwd_lb_inflight(f) : f->win.n_fr;
}

static size_t pending_messages(struct fwd *f)
{
    return tl_mq_len(&f->out->q) + (f->n_held - f->held_pos) +
           (f->spool ? (size_t)tl_spool_count(f->spool) : inflight(f));
}

/* Drops what the queue still holds (at the very end); returns how many. */
static size_t drop_queued(struct fwd *f)
{
    return tl_out_release_queued(f->out, f->held, &f->held_pos, &f->n_held);
}

/* A clean stop with a spool: what was in flight goes back to its place on disk (it is read
 * again first after the next start), and what is still queued in memory is written after
 * it, in order. Whatever the disk cannot take is counted and said. */
static void persist_at_stop(struct fwd *f)
{
    if (f->lb) {
        fwd_lb_close(f, false);
    } else {
        fwd_disconnect(f, TL_LOG_DEBUG, NULL);
    }
    tl_spool_try_again(f->spool); /* one last try */
    fill(f);
    uint64_t lost = tl_spool_stop(f->spool, drop_queued(f));
    if (lost) {
        atomic_fetch_add(&f->out->stats.dropped, lost);
    }
}

/* Until the queue is closed and drained, or the stop's deadline. */
static void deliver(struct fwd *f)
{
    for (;;) {
        tl_ev_run_once(f->loop, 500);
        if (!f->stopping) {
            continue;
        }
        if (pending_messages(f) == 0) {
            return;
        }
        if (f->spool && (inflight(f) == 0 || tl_now_ms() >= f->stop_deadline)) {
            /* In-flight messages had their chance to be acknowledged; the rest waits on
             * disk. */
            persist_at_stop(f);
            return;
        }
        if (tl_now_ms() >= f->stop_deadline) {
            size_t lost = inflight(f) + drop_queued(f);
            if (f->lb) {
                fwd_lb_close(f, false);
            } else {
                fwd_window_clear(&f->win);
            }
            atomic_fetch_add(&f->out->stats.dropped, lost);
            tl_error("output %s: stopping with %zu messages undelivered after drain_timeout "
                     "(%llu ms): they are lost",
                     f->conf->name, lost, (unsigned long long)f->conf->drain_timeout_ms);
            return;
        }
    }
}

static void *fwd_run(void *arg)
{
    struct tl_output *out = arg;
    struct fwd *f = out->impl;
    srand((unsigned)time(NULL) ^ (unsigned)(uintptr_t)f);
    tl_ev_set_before_sleep(f->loop, before_sleep, f);
    if (f->spool) {
        tl_spool_start(f->spool);
    }
    if (f->lb) {
        fwd_lb_connect(f);
        deliver(f);
        fwd_lb_close(f, true);
        drop_queued(f);
        return NULL;
    }
    fwd_connect(f->loop, f);
    deliver(f);
    if (f->proto->close) {
        f->proto->close(f);
    }
    /* Orderly close: TLS close_notify, then FIN. */
    if (f->c.s && f->c.state == FWD_UP) {
        for (int i = 0; i < 50 && tl_stream_shutdown(f->c.s) == TL_AGAIN; i++) {
            tl_ev_run_once(f->loop, 20);
        }
    }
    fwd_disconnect(f, TL_LOG_DEBUG, NULL);
    /* Whatever is still queued is released. */
    drop_queued(f);
    return NULL;
}

static void fwd_free(struct fwd *f)
{
    fwd_lb_free(f);
    fwd_conn_fini(f);
    for (size_t i = f->held_pos; i < f->n_held; i++) {
        tl_msg_unref(f->held[i]);
    }
    tl_spool_close(f->spool);
    if (f->proto->fini) {
        f->proto->fini(f);
    }
    fwd_window_fini(&f->win);
    tl_buf_fini(&f->one);
    tl_ev_loop_free(f->loop);
    free(f);
}

/* The spool's retry timer: try again (fill appends and flushes). */
static void spool_retry(void *arg)
{
    fwd_pump(arg);
}

/* An interval sync made more messages stick. */
static void spool_settled(void *arg)
{
    fwd_settle_update(arg);
}

static bool open_spool(struct fwd *f)
{
    struct tl_err err;
    f->spool = tl_out_spool_open(f->out, f->loop, spool_retry, spool_settled, f, &err);
    if (!f->spool) {
        tl_error("output %s: %s", f->conf->name, err.cause);
        return false;
    }
    return true;
}

static bool fwd_init(struct tl_output *out)
{
    struct fwd *f = calloc(1, sizeof(*f));
    if (!f) {
        return false;
    }
    bool tls;
    f->out = out;
    f->conf = out->conf;
    f->c.fd = -1;
    f->proto = proto_of(out->conf, &tls);
    f->loop = tl_ev_loop_new();
    fwd_window_init(&f->win);
    tl_buf_init(&f->one, 0);
    tl_ev_timer_init(&f->ack_timer, fwd_ack_poll, f);
    if (!f->loop || !fwd_conn_init(f, tls) || (f->proto->init && !f->proto->init(f)) ||
        (out->conf->queue_dir && !open_spool(f)) ||
        (out->conf->mode != TL_FWD_FAILOVER && !fwd_lb_init(f))) {
        fwd_free(f);
        return false;
    }
    out->impl = f;
    tl_mq_set_notify(&out->q, fwd_wake, f);
    return true;
}

static void fwd_out_free(struct tl_output *out)
{
    if (out->impl) {
        fwd_free(out->impl);
        out->impl = NULL;
    }
}

static struct tl_tls_slot *fwd_tls_slot(struct tl_output *out)
{
    struct fwd *f = out->impl;
    return f && f->c.is_tls ? &f->c.tls : NULL;
}

static void fwd_recheck(struct tl_output *out)
{
    struct fwd *f = out->impl;
    if (f && f->c.is_tls) {
        atomic_store(&f->c.recheck, true);
        tl_ev_wake(f->loop);
    }
}

/* Load balancing: a line per target. */
static void fwd_log_stats(struct tl_output *out)
{
    struct fwd *f = out->impl;
    if (f->lb) {
        fwd_lb_log_stats(f);
    }
}

const struct tl_output_ops tl_out_fwd_ops = {
    .name = "forward", .init = fwd_init, .run = fwd_run, .tls_slot = fwd_tls_slot,
    .recheck = fwd_recheck, .log_stats = fwd_log_stats, .free = fwd_out_free};
