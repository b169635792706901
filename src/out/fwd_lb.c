/*
 * fwd_lb.c: load-balanced forwarding, a forward output's mode round_robin or hash.
 *
 * The output keeps one lane per target: a struct fwd of its own with its connection (and
 * backoff), its acknowledgement window and its RELP session, built from the same parts as
 * failover's single connection (fwd_conn.c, fwd_window.c, the protocols), all on the output's
 * thread and loop. The output's own struct fwd keeps what is shared: the queue and the held
 * messages, the spool, the settle count, the TLS slot.
 *
 * Where a message goes: round_robin gives each batch (one fill of the pump) to the next lane
 * that is up and has room; hash renders hash_key for the message and picks the lane by
 * rendezvous hashing (fwd_hash.h) over the lanes that are up, so that one key stays on one
 * lane and, in order, on it. A lane still in its first connection attempt counts as up: a
 * start does not send everything to whichever target answers first.
 *
 * A lane whose connection fails (or cannot be made) is out: its connection backs off as in
 * failover, and every frame it held and had not had acknowledged (RELP: no rsp 200; TCP and
 * TLS: not acknowledged by the peer's TCP) moves to another lane, hash: the key's next choice,
 * and is sent again there (counted in resent; it may arrive twice). With no lane up, they are
 * parked until one comes back; new messages then wait in the queue, or go to disk with a
 * spool, as in failover. A lane that connects again is in again, and in hash mode its keys
 * come back to it.
 *
 * Settling: acknowledgements come lane by lane, out of order across lanes. Without a spool
 * the numbers of the messages popped are tracked (fwd_track.h) and the settle count is the
 * first one not acknowledged (or dropped). With a spool the settle count is the disk's (as in
 * failover), and the records read from it are tracked the same way, because they may only
 * leave the disk from the oldest on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "out/fwd.h"
#include "out/fwd_hash.h"
#include "parse/parse.h"
#include "parse/template.h"

#define KEY_MAX 4096

static bool lane_live(const struct fwd *lane)
{
    return lane->c.state == FWD_UP || !lane->lane_tried;
}

static bool put_as_is(struct tl_buf *b, const uint8_t *p, size_t n)
{
    return tl_buf_append(b, p, n);
}

/* The hash of m's rendered hash_key (a key cut at KEY_MAX hashes all the same). */
static uint64_t key_of(struct fwd *f, const struct tl_msg *m)
{
    struct fwd_lb *lb = f->lb;
    const struct tl_conf *g = f->out->gconf;
    if (lb->key_is_hostname && m->hostname.len > 0) {
        /* The default key, as the template renders it, without rendering (once per
         * message: bench/README.md, fwd-hash). */
        return fwd_hash_bytes(tl_msg_at(m, m->hostname), m->hostname.len);
    }
    tl_buf_reset(&lb->keybuf);
    (void)tl_template_render(lb->key, m, m->input < g->n_inputs ? g->inputs[m->input].name : "",
                             put_as_is, &lb->keybuf);
    return fwd_hash_bytes(lb->keybuf.data, lb->keybuf.len);
}

/* A record of the spool is the message as formatted for the wire: parsed again, its fields
 * give the key ({input} and the peer's placeholders are not on disk: they render as for a
 * message of the first input from an unknown peer). */
static uint64_t key_of_record(struct fwd *f, const uint8_t *rec, size_t len)
{
    struct tl_msg *m = tl_msg_new(rec, len);
    if (!m) {
        return 0;
    }
    m->input = 0;
    tl_parse(m);
    uint64_t k = key_of(f, m);
    tl_msg_unref(m);
    return k;
}

/* Which lanes are up, for hash_pick: taken again whenever that may have changed (a batch
 * starts, a lane was lost), not per message: filling does no network I/O, so no lane comes
 * or goes meanwhile. */
static void refresh_live(struct fwd_lb *lb)
{
    for (size_t i = 0; i < lb->n_lanes; i++) {
        lb->live[i] = lane_live(lb->lane[i]);
    }
}

/* The lane for key among those up (lb->live); NULL: none is. */
static struct fwd *hash_pick(struct fwd_lb *lb, uint64_t key)
{
    size_t i = fwd_hash_pick(key, lb->salt, lb->live, lb->n_lanes);
    return i == SIZE_MAX ? NULL : lb->lane[i];
}

/* Round robin: the current lane when it is up (and has room, when asked), else the next
 * one that is; NULL: none is. */
static struct fwd *rr_pick(struct fwd_lb *lb, bool need_room)
{
    for (size_t k = 0; k < lb->n_lanes; k++) {
        struct fwd *lane = lb->lane[lb->rr];
        if (lane_live(lane) && (!need_room || fwd_window_room(&lane->win))) {
            return lane;
        }
        lb->rr = (lb->rr + 1) % lb->n_lanes;
    }
    return NULL;
}

struct fwd *fwd_lb_lane_for(struct fwd *f, const struct tl_msg *m, const uint8_t *rec,
                            size_t len, uint64_t *key)
{
    struct fwd_lb *lb = f->lb;
    *key = 0;
    if (!lb->key) {
        return rr_pick(lb, true);
    }
    *key = m ? key_of(f, m) : key_of_record(f, rec, len);
    struct fwd *lane = hash_pick(lb, *key);
    /* Its lane is full: it waits (and the messages after it), so that its key keeps its
     * order. */
    return lane && fwd_window_room(&lane->win) ? lane : NULL;
}

bool fwd_lb_room(struct fwd *f, size_t want)
{
    struct fwd_lb *lb = f->lb;
    bool any = false;
    for (size_t i = 0; i < lb->n_lanes && !any; i++) {
        any = lane_live(lb->lane[i]) && fwd_window_room(&lb->lane[i]->win);
    }
    /* Without a spool every message popped is tracked until it settles: room for want more
     * numbers first, so that nothing popped goes untracked. */
    return any && (f->spool || fwd_track_reserve(&lb->settle, f->popped + want));
}

void fwd_lb_popped(struct fwd *f)
{
    if (!f->spool) {
        (void)fwd_track_add(&f->lb->settle, f->popped); /* reserved: cannot fail */
    }
}

void fwd_lb_settled(struct fwd *f, uint64_t seq)
{
    if (!f->spool) {
        fwd_track_done(&f->lb->settle, seq);
    }
}

void fwd_lb_next_batch(struct fwd *f)
{
    struct fwd_lb *lb = f->lb;
    lb->rr = (lb->rr + 1) % lb->n_lanes;
    refresh_live(lb);
}

bool fwd_lb_push(struct fwd *f, struct fwd *lane, const uint8_t *msg, size_t len, bool disk,
                 uint64_t seq, uint64_t key)
{
    struct fwd_lb *lb = f->lb;
    if (!disk) {
        return fwd_add_frame(lane, msg, len, false, seq, key);
    }
    /* A record of the spool: numbered in read order. */
    if (!fwd_track_reserve(&lb->disk, lb->disk_read + 1) ||
        !fwd_add_frame(lane, msg, len, true, lb->disk_read, key)) {
        return false;
    }
    lb->disk_read++;
    (void)fwd_track_add(&lb->disk, lb->disk_read); /* reserved: cannot fail */
    return true;
}

uint64_t fwd_lb_settled_upto(const struct fwd *f)
{
    return f->lb->settle.base;
}

void fwd_lb_release(struct fwd *lane, size_t n)
{
    struct fwd *f = lane->pool;
    struct fwd_lb *lb = f->lb;
    uint64_t disk_acks = 0;
    for (size_t i = 0; i < n; i++) {
        const struct fwd_frame *fr = &lane->win.fr[i];
        if (fr->disk) {
            disk_acks += fwd_track_done(&lb->disk, fr->seq);
        } else {
            fwd_track_done(&lb->settle, fr->seq);
        }
    }
    fwd_window_release(&lane->win, n);
    if (disk_acks) {
        tl_spool_ack(f->spool, disk_acks);
    }
    if (!f->spool) {
        fwd_settle_update(f);
    }
}

/* Moves every frame of from (none handed to a transport: rewound, or parked) to the lanes
 * that are up (hash: each to its key's lane; round robin: all to the next one), or to the
 * parked frames when none is. Returns how many moved. */
static size_t move_frames(struct fwd *f, struct fwd_window *from)
{
    struct fwd_lb *lb = f->lb;
    size_t n = from->n_fr;
    refresh_live(lb);
    struct fwd *rr = lb->key ? NULL : rr_pick(lb, false);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const struct fwd_frame *fr = &from->fr[i];
        struct fwd *lane = lb->key ? hash_pick(lb, fr->key) : rr;
        struct fwd_window *to = lane ? &lane->win : &lb->parked;
        if (to == from || !fwd_window_reserve(to) ||
            !tl_buf_append(&to->buf, from->buf.data + start, fr->end - start)) {
            /* Out of memory (or nowhere to go but where it is): given up, counted. */
            atomic_fetch_add(&f->out->stats.dropped, 1);
            tl_log_rl(&f->out->rl, 10, TL_LOG_ERROR, "output %s: out of memory moving a "
                      "message to another target; it is dropped", f->conf->name);
            if (fr->disk) {
                tl_spool_ack(f->spool, fwd_track_done(&lb->disk, fr->seq));
            } else {
                fwd_track_done(&lb->settle, fr->seq);
            }
        } else {
            fwd_window_push(to, fr->disk, fr->seq);
            to->fr[to->n_fr - 1].key = fr->key;
        }
        start = fr->end;
    }
    fwd_window_clear(from);
    return n;
}

void fwd_lb_lane_lost(struct fwd *lane)
{
    struct fwd *f = lane->pool;
    lane->lane_tried = true;
    atomic_store(&lane->lane_stats->up, false);
    if (f->lb->closing || lane->win.n_fr == 0) {
        return;
    }
    size_t n = move_frames(f, &lane->win);
    atomic_fetch_add_explicit(&lane->lane_stats->moved, n, memory_order_relaxed);
    tl_debug("output %s: %zu unacknowledged messages of target %zu move to the others",
             f->conf->name, n, lane->lane_ix + 1);
}

size_t fwd_lb_inflight(const struct fwd *f)
{
    const struct fwd_lb *lb = f->lb;
    size_t n = lb->parked.n_fr;
    for (size_t i = 0; i < lb->n_lanes; i++) {
        n += lb->lane[i]->win.n_fr;
    }
    return n;
}

void fwd_lb_begin(struct fwd *f)
{
    struct fwd_lb *lb = f->lb;
    for (size_t i = 0; i < lb->n_lanes; i++) {
        lb->lane[i]->stopping = f->stopping;
        lb->lane[i]->stop_deadline = f->stop_deadline;
    }
    if (lb->parked.n_fr) {
        for (size_t i = 0; i < lb->n_lanes; i++) {
            if (lane_live(lb->lane[i])) {
                move_frames(f, &lb->parked);
                break;
            }
        }
    }
}

/*
 * Spread over n lanes, each pump would give every lane 1/n of what failover's one connection
 * writes, at n times the write calls, each with its fixed cost (on loopback the receiver's
 * TCP work too): hash over 2 targets cost 1.14x failover's CPU per message at the same load
 * (bench/README.md, fwd-hash). So a lane writes once it has LANE_MIN_WRITE bytes to send, or
 * when its oldest unsent bytes have waited LANE_MAX_WAIT_MS (flush_timer), and at once when
 * the output is stopping. Under a stream a message waits at most that much longer; a lone
 * message too (syslog over TCP has no latency to keep below milliseconds).
 */
#define LANE_MIN_WRITE (16 * 1024)
#define LANE_MAX_WAIT_MS 2

static bool lane_defers(struct fwd *lane, int64_t *now_ms)
{
    size_t unsent = lane->win.buf.len - lane->win.sent;
    lane->deferred = false;
    if (unsent == 0 || unsent >= LANE_MIN_WRITE || lane->stopping) {
        lane->unsent_since_ms = 0;
        return false;
    }
    if (*now_ms == 0) {
        *now_ms = tl_now_ms();
    }
    if (lane->unsent_since_ms == 0) {
        lane->unsent_since_ms = *now_ms;
    } else if (*now_ms - lane->unsent_since_ms >= LANE_MAX_WAIT_MS) {
        lane->unsent_since_ms = 0;
        return false;
    }
    if (!tl_ev_timer_armed(&lane->flush_timer)) {
        tl_ev_timer_start(lane->loop, &lane->flush_timer, LANE_MAX_WAIT_MS);
    }
    lane->deferred = true;
    return true;
}

static void lane_flush(struct tl_ev_loop *loop, void *arg)
{
    (void)loop;
    fwd_pump(arg);
}

bool fwd_lb_send(struct fwd *f)
{
    struct fwd_lb *lb = f->lb;
    bool moved = false;
    int64_t now_ms = 0;
    for (size_t i = 0; i < lb->n_lanes; i++) {
        struct fwd *lane = lb->lane[i];
        if (lane->c.state == FWD_UP && !lane_defers(lane, &now_ms) &&
            lane->proto->send(lane) == TL_OK) {
            moved = true;
        }
    }
    return moved;
}

void fwd_lb_update_interest(struct fwd *f)
{
    for (size_t i = 0; i < f->lb->n_lanes; i++) {
        fwd_update_interest(f->lb->lane[i]);
    }
}

void fwd_lb_connect(struct fwd *f)
{
    for (size_t i = 0; i < f->lb->n_lanes; i++) {
        fwd_connect(f->loop, f->lb->lane[i]);
    }
}

void fwd_lb_close(struct fwd *f, bool orderly)
{
    struct fwd_lb *lb = f->lb;
    if (lb->closing) {
        return; /* once: after a stop that persisted or gave up, the second call has nothing */
    }
    for (size_t i = 0; orderly && i < lb->n_lanes; i++) {
        struct fwd *lane = lb->lane[i];
        if (lane->proto->close) {
            lane->proto->close(lane);
        }
        /* Orderly close: TLS close_notify, then FIN. */
        for (int k = 0; k < 50 && lane->c.s && lane->c.state == FWD_UP &&
                        tl_stream_shutdown(lane->c.s) == TL_AGAIN;
             k++) {
            tl_ev_run_once(f->loop, 20);
        }
    }
    lb->closing = true;
    for (size_t i = 0; i < lb->n_lanes; i++) {
        fwd_disconnect(lb->lane[i], TL_LOG_DEBUG, NULL);
        fwd_window_clear(&lb->lane[i]->win);
    }
    fwd_window_clear(&lb->parked);
    if (f->spool) {
        /* What was read and not acknowledged is read again first at the next start. */
        tl_spool_rewind(f->spool);
        fwd_track_reset(&lb->disk, 0);
        lb->disk_read = 0;
    }
}

void fwd_lb_recheck(struct fwd *f)
{
    for (size_t i = 0; i < f->lb->n_lanes; i++) {
        fwd_conn_recheck(f->lb->lane[i]);
    }
}

void fwd_lb_log_stats(struct fwd *f)
{
    struct fwd_lb *lb = f->lb;
    for (size_t i = 0; i < lb->n_lanes; i++) {
        const struct tl_conf_target *t = &f->conf->targets[i];
        struct fwd_lane_stats *s = &lb->stats[i];
        bool v6 = strchr(t->host, ':') != NULL;
        tl_info("stats: output %s/%zu: target=%s%s%s:%u up=%d written=%llu acknowledged=%llu "
                "resent=%llu moved=%llu connects=%llu",
                f->conf->name, i + 1, v6 ? "[" : "", t->host, v6 ? "]" : "", t->port,
                atomic_load(&s->up) ? 1 : 0, (unsigned long long)atomic_load(&s->written),
                (unsigned long long)atomic_load(&s->acked),
                (unsigned long long)atomic_load(&s->resent),
                (unsigned long long)atomic_load(&s->moved),
                (unsigned long long)atomic_load(&s->connects));
    }
}

static void lane_free(struct fwd *lane)
{
    /* The loop outlives the lanes: nothing of theirs may stay in its timer heap. */
    tl_ev_timer_stop(lane->loop, &lane->c.timer);
    tl_ev_timer_stop(lane->loop, &lane->ack_timer);
    tl_ev_timer_stop(lane->loop, &lane->flush_timer);
    fwd_conn_fini(lane);
    if (lane->proto->fini) {
        lane->proto->fini(lane);
    }
    fwd_window_fini(&lane->win);
    free(lane);
}

void fwd_lb_free(struct fwd *f)
{
    struct fwd_lb *lb = f->lb;
    if (!lb) {
        return;
    }
    for (size_t i = 0; i < lb->n_lanes; i++) {
        if (lb->lane[i]) {
            lane_free(lb->lane[i]);
        }
    }
    free(lb->lane);
    free(lb->stats);
    free(lb->salt);
    free(lb->live);
    tl_template_free(lb->key);
    tl_buf_fini(&lb->keybuf);
    fwd_track_fini(&lb->settle);
    fwd_track_fini(&lb->disk);
    fwd_window_fini(&lb->parked);
    free(lb);
    f->lb = NULL;
}

static struct fwd *lane_new(struct fwd *f, size_t i)
{
    struct fwd *lane = calloc(1, sizeof(*lane));
    if (!lane) {
        return NULL;
    }
    lane->out = f->out;
    lane->conf = f->conf;
    lane->proto = f->proto;
    lane->loop = f->loop;
    lane->pool = f;
    lane->lane_ix = i;
    lane->lane_stats = &f->lb->stats[i];
    fwd_window_init(&lane->win);
    tl_ev_timer_init(&lane->ack_timer, fwd_ack_poll, lane);
    tl_ev_timer_init(&lane->flush_timer, lane_flush, lane);
    /* Its connection uses the output's TLS slot (a reload fills that one). */
    if (!fwd_conn_init(lane, false) || (lane->proto->init && !lane->proto->init(lane))) {
        lane_free(lane);
        return NULL;
    }
    lane->c.is_tls = f->c.is_tls;
    lane->c.target = i;
    return lane;
}

bool fwd_lb_init(struct fwd *f)
{
    const struct tl_conf_output *c = f->conf;
    struct fwd_lb *lb = calloc(1, sizeof(*lb));
    if (!lb) {
        tl_error("output %s: out of memory", c->name);
        return false;
    }
    f->lb = lb;
    tl_buf_init(&lb->keybuf, KEY_MAX);
    fwd_track_init(&lb->settle, 0);
    fwd_track_init(&lb->disk, 0);
    fwd_window_init(&lb->parked);
    lb->lane = calloc(c->n_targets, sizeof(*lb->lane));
    lb->stats = calloc(c->n_targets, sizeof(*lb->stats));
    lb->salt = calloc(c->n_targets, sizeof(*lb->salt));
    lb->live = calloc(c->n_targets, sizeof(*lb->live));
    if (!lb->lane || !lb->stats || !lb->salt || !lb->live) {
        tl_error("output %s: out of memory", c->name);
        return false;
    }
    if (c->mode == TL_FWD_HASH) {
        struct tl_err err;
        lb->key_is_hostname = !c->hash_key || strcmp(c->hash_key, "{hostname}") == 0;
        if (tl_template_new(c->hash_key ? c->hash_key : "{hostname}", &lb->key, &err) !=
            TL_OK) {
            tl_error("output %s: hash_key: %s", c->name, err.cause);
            return false;
        }
    }
    for (size_t i = 0; i < c->n_targets; i++) {
        /* A target's place among the others is its address, not its position in the list:
         * reordering targets moves no key. */
        char t[300];
        int n = snprintf(t, sizeof(t), "%s:%u", c->targets[i].host, c->targets[i].port);
        lb->salt[i] = fwd_hash_bytes(t, n > 0 ? (size_t)n : 0);
        lb->lane[i] = lane_new(f, i);
        lb->n_lanes = i + 1;
        if (!lb->lane[i]) {
            tl_error("output %s: out of memory", c->name);
            return false;
        }
    }
    return true;
}
