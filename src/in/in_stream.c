/*
 * in_stream.c: the connections of the stream inputs (tcp, tls, relp): one tl_stream each,
 * plain or TLS, which this code never tells apart. Per connection: a framer (or a RELP
 * session) and, between reads, only the unfinished tail of a frame. Reads go into the
 * worker's scratch buffer, so an idle connection holds no buffer. Listeners and accepting
 * are in_listen.c's.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "ev/loop.h"
#include "frame/frame.h"
#include "in/in.h"
#include "in/limits.h"
#include "in/stream_int.h"
#include "pipeline/settle.h"
#include "relp/relp.h"
#include "transport/stream.h"
#include "transport/tls.h"

/* Reads per readiness event before yielding to other connections. */
#define READS_PER_EVENT 4

/* idle_timeout is checked this many times per timeout against the connection's byte count,
 * so reads do no bookkeeping for it: a connection is closed between idle_timeout and
 * idle_timeout * (1 + 1 / IDLE_CHECKS) after its last byte. */
#define IDLE_CHECKS 4

struct conn {
    struct tl_in_item item;
    struct tl_ev_io io;
    struct tl_input *in;
    struct tl_worker *w;
    struct tl_stream *s;
    struct tl_framer fr;
    uint8_t *tail;       /* unconsumed bytes kept between reads */
    size_t tail_len;
    uint64_t bytes;
    uint64_t msgs;
    char peer[TL_ADDR_STRLEN];
    bool closing;
    bool handshaking;            /* TLS: the handshake is not done yet */
    bool paused;                 /* back-pressure: not watched by the loop */
    struct tl_ev_timer hs_timer; /* TLS: handshake_timeout */
    struct tl_peer_id *peer_id;  /* TLS: who the peer is (NULL on plain TCP) */
    /* Connection limits. */
    bool source_counted;         /* holds a slot of max_connections_per_source */
    struct tl_in_link hs_link;   /* on the worker's list of handshakes (max_handshakes) */
    int64_t accepted_ms;
    struct tl_ev_timer idle_timer; /* idle_timeout: fires IDLE_CHECKS times per timeout */
    uint64_t idle_bytes;         /* bytes at the last check */
    unsigned idle_checks;        /* checks in a row that saw no new bytes */
    /* RELP (transport: relp): the session, and what we send back (rsp frames). */
    bool relp;
    struct tl_relp_parser rp;
    struct tl_relp_server rs;
    struct tl_buf out;
    size_t to_ack;               /* syslog frames delivered and not acknowledged yet */
    /* Acknowledgements wait until every routed output settled the messages (wrote them,
     * has them on disk, or its receiver acknowledged them: pipeline/settle.h). */
    size_t ack_ready;            /* of to_ack: covered by the current settle round */
    struct tl_settle settle;
};

#define RELP_OUT_MAX (4u << 20) /* responses a client does not read: beyond, it is dropped */
#define DRAIN_READS_MAX 100000  /* at shutdown, per connection: a bound, never reached */

/* One warning line about something a peer did, rate-limited per input. */
void tl_in_peer_warn(struct tl_input *in, const char *peer, const char *what)
{
    tl_log_rl(&in->rl, 20, TL_LOG_WARNING, "input %s: %s: %s", in->conf->name, peer, what);
}

static void conn_free(struct tl_ev_loop *loop, void *arg)
{
    struct conn *c = arg;
    (void)loop;
    tl_stream_free(c->s);
    tl_peer_id_unref(c->peer_id);
    tl_buf_fini(&c->out);
    free(c->tail);
    free(c);
}

/* partial_frame_budget: every change to the bytes a connection keeps between reads goes
 * through here, so the daemon-wide count stays exact. */
static void set_tail_len(struct conn *c, size_t n)
{
    atomic_size_t *total = &c->in->pl->partial_bytes;
    if (n > c->tail_len) {
        atomic_fetch_add_explicit(total, n - c->tail_len, memory_order_relaxed);
    } else if (n < c->tail_len) {
        atomic_fetch_sub_explicit(total, c->tail_len - n, memory_order_relaxed);
    }
    c->tail_len = n;
}

static size_t conn_held(const struct tl_in_item *it)
{
    const struct conn *c = (const struct conn *)it;
    return c->closing ? 0 : c->tail_len;
}

/* Off the worker's list of handshakes in progress (max_handshakes). */
static void handshake_untrack(struct conn *c)
{
    if (!tl_in_link_empty(&c->hs_link)) {
        tl_in_link_remove(&c->hs_link);
        atomic_fetch_sub_explicit(&c->in->lim->handshakes, 1, memory_order_relaxed);
    }
}

static void conn_close(struct conn *c, enum tl_log_level level, const char *why)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    struct tl_ev_loop *loop = tl_worker_loop(c->w);
    tl_ev_timer_stop(loop, &c->hs_timer);
    tl_settle_fini(&c->settle);
    tl_ev_timer_stop(loop, &c->idle_timer);
    handshake_untrack(c);
    if (c->source_counted) {
        tl_src_put(&c->in->lim->sources, &c->s->peer);
        c->source_counted = false;
    }
    /* Freed now rather than with the connection after the turn: a turn that sheds many
     * connections for partial_frame_budget must not hold all their tails until its end. */
    set_tail_len(c, 0);
    free(c->tail);
    c->tail = NULL;
    tl_ev_del(loop, &c->io);
    tl_worker_remove_item(c->w, &c->item);
    atomic_fetch_sub_explicit(&c->in->stats.conn_open, 1, memory_order_relaxed);
    if (why) {
        if (level <= TL_LOG_WARNING) {
            char what[600];
            snprintf(what, sizeof(what), "closing connection: %s", why);
            tl_in_peer_warn(c->in, c->peer, what);
        } else {
            tl_log(level, "input %s: %s: connection closed after %llu messages (%s)",
                   c->in->conf->name, c->peer, (unsigned long long)c->msgs, why);
        }
    }
    tl_ev_defer(loop, conn_free, c);
}

static void conn_interest(struct conn *c);

/* Writes what RELP has to say; false when the connection broke (and is closed). */
static bool relp_send_out(struct conn *c)
{
    while (c->out.len) {
        size_t n = 0;
        enum tl_rc rc = tl_stream_write(c->s, c->out.data, c->out.len, &n);
        if (rc == TL_OK) {
            tl_buf_consume(&c->out, n);
            continue;
        }
        if (rc == TL_AGAIN) {
            break;
        }
        conn_close(c, TL_LOG_WARNING, rc == TL_EOF ? "peer closed" : c->s->err);
        return false;
    }
    if (c->out.len > RELP_OUT_MAX) {
        conn_close(c, TL_LOG_WARNING, "the RELP client does not read its responses");
        return false;
    }
    if (c->out.len == 0 && tl_relp_server_done(&c->rs)) {
        conn_close(c, TL_LOG_DEBUG, "RELP session closed by the client");
        return false;
    }
    conn_interest(c);
    return true;
}

static void relp_send_acks(struct conn *c, size_t n)
{
    while (n--) {
        if (!tl_relp_server_ack(&c->rs, c->rs.oldest, &c->out)) {
            conn_close(c, TL_LOG_ERROR, "cannot queue a RELP acknowledgement");
            return;
        }
        c->to_ack--;
    }
    relp_send_out(c);
}

/* A settle round starts: it covers the frames delivered so far. */
static void relp_mark(void *arg)
{
    struct conn *c = arg;
    c->ack_ready = c->to_ack;
}

/* Every routed output settled them (docs/reliability.md): acknowledge. */
static void relp_settled(void *arg)
{
    struct conn *c = arg;
    size_t n = c->ack_ready;
    c->ack_ready = 0;
    if (!c->closing) {
        relp_send_acks(c, n);
    }
}

static bool relp_process(struct conn *c, const uint8_t *data, size_t len, size_t *off,
                         const struct timespec *now)
{
    struct tl_err e; /* filled only when the session fails */
    for (;;) {
        struct tl_relp_frame fr;
        size_t used = 0;
        enum tl_rc rc = tl_relp_next(&c->rp, data + *off, len - *off, &fr, &used, &e);
        *off += used;
        if (rc == TL_AGAIN) {
            return true;
        }
        struct tl_relp_event ev = {0};
        if (rc == TL_OK) {
            rc = tl_relp_server_frame(&c->rs, &fr, &c->out, &ev, &e);
        }
        if (rc == TL_E_PROTO) {
            atomic_fetch_add_explicit(&c->in->stats.conn_errors, 1, memory_order_relaxed);
            /* Tell the client (a 500 and serverclose) before closing. */
            size_t n = 0;
            if (c->out.len) {
                (void)tl_stream_write(c->s, c->out.data, c->out.len, &n);
            }
            char err[300];
            char why[400];
            snprintf(why, sizeof(why), "RELP protocol error: %s",
                     tl_err_text(&e, err, sizeof(err)));
            conn_close(c, TL_LOG_WARNING, why);
            return false;
        }
        if (ev.type == TL_RELP_EV_SYSLOG) {
            tl_in_deliver(c->w, c->in, &c->s->peer, c->peer_id, ev.data, ev.len, false,
                          now->tv_sec, (uint32_t)(now->tv_nsec / 1000));
            c->msgs++;
            c->to_ack++;
            tl_settle_note(&c->settle);
        } else if (ev.type == TL_RELP_EV_OPEN) {
            tl_debug("input %s: %s: RELP session opened", c->in->conf->name, c->peer);
        }
        if (c->out.len && !relp_send_out(c)) {
            return false;
        }
    }
}

static void note_oversized(struct conn *c, const struct tl_frame *fr)
{
    atomic_fetch_add_explicit(&c->in->stats.truncated, 1, memory_order_relaxed);
    char what[160];
    snprintf(what, sizeof(what),
             "message of %zu bytes truncated to %zu (max_message_size); raise "
             "max_message_size or check the sender's framing",
             fr->orig_len, fr->len);
    tl_in_peer_warn(c->in, c->peer, what);
}

/*
 * The connection ends with p[0..n) not framed yet. An unterminated LF line is delivered,
 * but marked truncated unless the peer proved that it ended there (a TLS close_notify,
 * clean): over plain TCP a FIN cannot tell the end of a message from a connection cut in
 * the middle of one, and over TLS a missing close_notify means the same. how says why it
 * ends ("connection closed"). A partial octet-counted frame or RELP frame says itself that
 * it is incomplete: reported and dropped.
 */
static void finish_tail(struct conn *c, const uint8_t *p, size_t n, const struct timespec *now,
                        bool clean, const char *how)
{
    char err[256];
    struct tl_err e;
    if (c->relp) {
        if (tl_relp_finish(&c->rp, n, &e) != TL_OK) {
            tl_in_peer_warn(c->in, c->peer, tl_err_text(&e, err, sizeof(err)));
        }
        return;
    }
    struct tl_frame fr;
    enum tl_rc rc = tl_framer_finish(&c->fr, p, n, &fr, &e);
    if (rc == TL_E_PROTO) {
        tl_in_peer_warn(c->in, c->peer, tl_err_text(&e, err, sizeof(err)));
    }
    if (rc != TL_OK) {
        return;
    }
    if (fr.truncated) {
        note_oversized(c, &fr);
    } else if (!clean) {
        fr.truncated = true;
        atomic_fetch_add_explicit(&c->in->stats.truncated, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->in->stats.truncated_eof, 1, memory_order_relaxed);
        char what[300];
        snprintf(what, sizeof(what),
                 "%s in the middle of a message: its %zu bytes received are kept, marked "
                 "truncated",
                 how, fr.len);
        tl_in_peer_warn(c->in, c->peer, what);
    }
    tl_in_deliver(c->w, c->in, &c->s->peer, c->peer_id, fr.p, fr.len, fr.truncated,
                  now->tv_sec, (uint32_t)(now->tv_nsec / 1000));
    c->msgs++;
}

/* Closes a connection that did not end by itself (shutdown, a limit): what it had sent of
 * an unfinished message is kept, marked truncated. */
static void conn_end(struct conn *c, enum tl_log_level level, const char *why, const char *how)
{
    if (c->tail_len && !c->closing) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        finish_tail(c, c->tail, c->tail_len, &now, false, how);
        set_tail_len(c, 0);
    }
    conn_close(c, level, why);
}

/*
 * The unfinished frames of all connections exceed partial_frame_budget: close the
 * connection that keeps the largest one on this worker. c's own grew by the read that went
 * over, so the one closed keeps at least as much as that read added, and the total is back
 * at most where it was before. Each worker looks only at its own connections (the kernel
 * spreads connections evenly, and an attacker's with them). False when c was closed.
 */
static bool shed_largest(struct conn *c)
{
    struct tl_in_item *it = tl_worker_largest_partial(c->w);
    if (!it) {
        return true;
    }
    struct conn *v = (struct conn *)it; /* only connections keep partial frames */
    char budget[32];
    uint64_t b = c->in->pl->conf->partial_frame_budget;
    if (b % (1024 * 1024) == 0) {
        snprintf(budget, sizeof(budget), "%llu MiB", (unsigned long long)(b >> 20));
    } else {
        snprintf(budget, sizeof(budget), "%llu bytes", (unsigned long long)b);
    }
    char why[400];
    snprintf(why, sizeof(why),
             "the unfinished messages of all connections exceed partial_frame_budget (%s) and "
             "this one keeps the largest (%zu bytes); its bytes are discarded; hint: many "
             "connections that send parts of messages and never finish them (find them by "
             "address), or raise partial_frame_budget for many senders of very large messages",
             budget, v->tail_len);
    atomic_fetch_add_explicit(&v->in->stats.closed_budget, 1, memory_order_relaxed);
    /* Not kept as a truncated message: that would move the memory the budget bounds into
     * the output queues, and whatever the peer sends into the logs. */
    conn_close(v, TL_LOG_WARNING, why);
    return v != c;
}

/* The peer closed the connection with p[0..n) left unframed. */
static void conn_eof(struct conn *c, const uint8_t *p, size_t n, const struct timespec *now)
{
    bool tls = tl_stream_is_tls(c->s);
    bool clean = tls && tl_stream_tls_close_notified(c->s);
    finish_tail(c, p, n, now, clean,
                tls ? "connection closed without a TLS close_notify (cut on the way?)"
                    : "connection closed");
    set_tail_len(c, 0);
}

/* Frames and delivers data[0..len); keeps the unfinished tail. false: connection broken. */
static bool conn_process(struct conn *c, const uint8_t *data, size_t len, bool eof)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    size_t off = 0;
    char err[256];
    struct tl_err e; /* filled only when a frame is bad */
    if (c->relp) {
        if (!relp_process(c, data, len, &off, &now)) {
            return false;
        }
        if (eof) {
            conn_eof(c, data + off, len - off, &now);
            return true;
        }
        goto keep_tail;
    }
    for (;;) {
        struct tl_frame fr;
        size_t used = 0;
        enum tl_rc rc = tl_framer_next(&c->fr, data + off, len - off, &fr, &used, &e);
        off += used;
        if (rc == TL_OK) {
            if (fr.truncated) {
                note_oversized(c, &fr);
            }
            tl_in_deliver(c->w, c->in, &c->s->peer, c->peer_id, fr.p, fr.len, fr.truncated,
                          now.tv_sec, (uint32_t)(now.tv_nsec / 1000));
            c->msgs++;
            continue;
        }
        if (rc == TL_E_PROTO) {
            atomic_fetch_add_explicit(&c->in->stats.conn_errors, 1, memory_order_relaxed);
            conn_close(c, TL_LOG_WARNING, tl_err_text(&e, err, sizeof(err)));
            return false;
        }
        break;
    }
    if (eof) {
        conn_eof(c, data + off, len - off, &now);
        return true;
    }
keep_tail:;
    size_t rest = len - off;
    if (rest == 0) {
        free(c->tail);
        c->tail = NULL;
        set_tail_len(c, 0);
        return true;
    }
    if (data + off != c->tail) {
        uint8_t *t = malloc(rest);
        if (!t) {
            conn_close(c, TL_LOG_ERROR, "out of memory");
            return false;
        }
        memcpy(t, data + off, rest);
        free(c->tail);
        c->tail = t;
    }
    size_t before = c->tail_len;
    set_tail_len(c, rest);
    if (rest > before && atomic_load_explicit(&c->in->pl->partial_bytes, memory_order_relaxed) >
                             c->in->pl->conf->partial_frame_budget) {
        return shed_largest(c);
    }
    return true;
}

static void conn_read(struct conn *c, int budget);

static void conn_continue(struct tl_ev_loop *loop, void *arg)
{
    struct conn *c = arg;
    (void)loop;
    if (!c->closing && !c->paused) {
        conn_read(c, READS_PER_EVENT);
    }
}

/* Watch what the stream needs: usually read; write while TLS must send (KeyUpdate). */
static void conn_interest(struct conn *c)
{
    if (c->paused || c->closing) {
        return;
    }
    unsigned want = tl_stream_wants(c->s);
    unsigned mask = ((want & TL_WANT_WRITE) || c->out.len) ? TL_EV_WRITE : 0;
    if (want & TL_WANT_READ || mask == 0) {
        mask |= TL_EV_READ;
    }
    tl_ev_set(tl_worker_loop(c->w), &c->io, mask);
}

/* The first bytes of a TLS ClientHello: a handshake record (22), version 3.x. */
static bool speaks_tls(const uint8_t *p, size_t n)
{
    return n >= 1 && p[0] == 0x16 && (n < 2 || p[1] == 0x03);
}

/* A TLS client on a plain input would have its handshake logged as lines of binary junk:
 * refuse it and say what to change (the TLS input does the reverse for plaintext). */
static void refuse_tls_client(struct conn *c)
{
    atomic_fetch_add_explicit(&c->in->stats.tls_on_plain, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->in->stats.conn_errors, 1, memory_order_relaxed);
    conn_close(c, TL_LOG_WARNING,
               c->relp ? "this client speaks TLS: give this relp input a tls: block (RELP over "
                         "TLS), or point the client at a plain RELP port; nothing was logged"
                       : "this client speaks TLS: use transport: tls (an input with a "
                         "certificate), or point the client at a plain tcp port; nothing was "
                         "logged");
}

/* Reads until the socket is empty (or the per-event budget is spent) and processes. */
static void conn_read(struct conn *c, int budget)
{
    uint8_t *buf = tl_worker_scratch(c->w);
    size_t cap = tl_worker_scratch_size(c->w);
    for (int i = 0; budget < 0 || i < budget; i++) {
        size_t have = c->tail_len;
        if (have) {
            memcpy(buf, c->tail, have);
        }
        size_t n = 0;
        enum tl_rc rc = tl_stream_read(c->s, buf + have, cap - have, &n);
        if (rc == TL_OK) {
            if (c->bytes == 0 && !c->in->has_tls && speaks_tls(buf, n)) {
                refuse_tls_client(c);
                return;
            }
            c->bytes += n;
            if (!conn_process(c, buf, have + n, false)) {
                return;
            }
            continue;
        }
        if (rc == TL_AGAIN) {
            conn_interest(c);
            return;
        }
        if (rc == TL_EOF) {
            conn_process(c, buf, have, true);
            if (!c->closing) {
                conn_close(c, TL_LOG_DEBUG, "peer closed");
            }
            return;
        }
        conn_close(c, TL_LOG_WARNING, c->s->err);
        return;
    }
    /* Budget spent. Data TLS has already taken off the socket is invisible to epoll: come
     * back for it after the other connections had their turn. */
    if (tl_stream_pending(c->s)) {
        tl_ev_defer(tl_worker_loop(c->w), conn_continue, c);
    }
}

/*
 * What a sender hears before we close a connection it did nothing wrong on: RELP's
 * serverclose hint (best effort: one try); the caller then closes TCP, without a TLS
 * close_notify.
 * RFC 5425 section 4.4 asks a receiver to attempt a close_notify exchange first, but rsyslog
 * (ossl and gtls drivers) checks a connection by peeking at its socket before it writes: the
 * alert's bytes make a closed connection look alive, and rsyslog wrote its next messages
 * into it and lost them, while after a bare FIN it reconnected first and lost nothing
 * (measured with rsyslog 8.2302; see docs/tls.md, Connection limits).
 */
static void conn_goodbye(struct conn *c)
{
    if (c->relp && tl_relp_server_shutdown(&c->rs, &c->out) && c->out.len) {
        size_t n = 0;
        (void)tl_stream_write(c->s, c->out.data, c->out.len, &n);
    }
}

static int64_t idle_period(const struct conn *c)
{
    int64_t period = (int64_t)c->in->conf->idle_timeout_ms / IDLE_CHECKS;
    return period > 0 ? period : 1;
}

static void idle_check(struct tl_ev_loop *loop, void *arg)
{
    struct conn *c = arg;
    int64_t limit = (int64_t)c->in->conf->idle_timeout_ms;
    /* Not the peer's silence: new bytes, or we hold it back (back-pressure), or it waits for
     * RELP answers that wait for our outputs. (Answers it does not read do not count.) */
    if (c->bytes != c->idle_bytes || c->paused || c->to_ack) {
        c->idle_bytes = c->bytes;
        c->idle_checks = 0;
    } else {
        c->idle_checks++;
    }
    if (c->idle_checks < IDLE_CHECKS) {
        tl_ev_timer_start(loop, &c->idle_timer, idle_period(c));
        return;
    }
    atomic_fetch_add_explicit(&c->in->stats.closed_idle, 1, memory_order_relaxed);
    char why[300];
    if (limit % 1000 == 0) {
        snprintf(why, sizeof(why), "nothing received for %lld s (idle_timeout); the sender "
                 "reconnects when it has more to send", (long long)(limit / 1000));
    } else {
        snprintf(why, sizeof(why), "nothing received for %lld ms (idle_timeout); the sender "
                 "reconnects when it has more to send", (long long)limit);
    }
    conn_goodbye(c);
    conn_end(c, TL_LOG_INFO, why, "closing (idle_timeout)");
}

/* idle_timeout counts from the end of the handshake (TLS) or the accept. */
static void idle_start(struct conn *c)
{
    if (c->in->conf->idle_timeout_ms) {
        c->idle_bytes = c->bytes;
        c->idle_checks = 0;
        tl_ev_timer_start(tl_worker_loop(c->w), &c->idle_timer, idle_period(c));
    }
}

static void handshake_timeout(struct tl_ev_loop *loop, void *arg)
{
    struct conn *c = arg;
    (void)loop;
    atomic_fetch_add_explicit(&c->in->stats.handshake_failed, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->in->stats.hs_fail[TL_HS_TIMEOUT], 1,
                              memory_order_relaxed);
    char why[300];
    snprintf(why, sizeof(why),
             "TLS handshake failed: handshake not completed within %llu ms "
             "(tls.handshake_timeout): the client connected but did not finish it; hint: find "
             "the client by its address (a stuck sender or a port scanner); raise "
             "tls.handshake_timeout only for very slow links",
             (unsigned long long)c->in->conf->tls.handshake_timeout_ms);
    conn_close(c, TL_LOG_WARNING, why);
}

/*
 * After a TLS reload (and at the end of a handshake that straddled one): the peer must pass
 * the input's new policy, or the connection is closed with the reason. Runs on the
 * connection's worker thread. False when it closed the connection.
 */
static bool conn_recheck_tls(struct conn *c)
{
    char why[512];
    if (c->closing || !c->in->has_tls || tl_stream_tls_recheck(c->s, &c->in->tls, why,
                                                               sizeof(why))) {
        return true;
    }
    char what[640];
    snprintf(what, sizeof(what), "the reloaded TLS policy refuses this peer (%s): %s",
             c->peer_id && c->peer_id->subject ? c->peer_id->subject : "no certificate", why);
    conn_close(c, TL_LOG_WARNING, what);
    return false;
}

static void conn_recheck(struct tl_in_item *it)
{
    struct conn *c = (struct conn *)it;
    if (!c->handshaking) {
        conn_recheck_tls(c); /* a handshake still running is checked when it ends */
    }
}

static void handshake_done(struct conn *c)
{
    c->handshaking = false;
    tl_ev_timer_stop(tl_worker_loop(c->w), &c->hs_timer);
    handshake_untrack(c);
    idle_start(c);
    c->peer_id = tl_stream_tls_peer_id(c->s);
    char sess[128];
    tl_stream_tls_session(c->s, sess, sizeof(sess));
    struct tl_peer_id *id = c->peer_id;
    if (id && id->subject) {
        tl_info("input %s: %s: TLS connection accepted (%s): %s peer %s, names %s, %s",
                c->in->conf->name, c->peer, sess, id->verified ? "authenticated" : "unverified",
                id->subject, id->names ? id->names : "-", id->sha256 ? id->sha256 : "");
    } else {
        tl_info("input %s: %s: TLS connection accepted (%s): anonymous peer (no certificate)",
                c->in->conf->name, c->peer, sess);
    }
}

static void conn_handshake(struct conn *c)
{
    enum tl_rc rc = tl_stream_handshake(c->s);
    if (rc == TL_OK) {
        handshake_done(c);
        if (conn_recheck_tls(c)) {
            conn_read(c, READS_PER_EVENT);
        }
        return;
    }
    if (rc == TL_AGAIN) {
        conn_interest(c);
        return;
    }
    atomic_fetch_add_explicit(&c->in->stats.handshake_failed, 1, memory_order_relaxed);
    enum tl_hs_reason kind = tl_stream_tls_fail_reason(c->s);
    atomic_fetch_add_explicit(&c->in->stats.hs_fail[kind], 1, memory_order_relaxed);
    char why[700];
    snprintf(why, sizeof(why), "TLS handshake failed: %s", c->s->err);
    /* A connection closed before saying anything is a port probe or a health check. */
    conn_close(c, kind == TL_HS_CLOSED_EARLY ? TL_LOG_INFO : TL_LOG_WARNING, why);
}

static void conn_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events)
{
    struct conn *c = io->data;
    (void)loop;
    if (c->handshaking) {
        conn_handshake(c);
        return;
    }
    if (c->out.len && (events & TL_EV_WRITE) && !relp_send_out(c)) {
        return;
    }
    if (events & (TL_EV_READ | TL_EV_ERROR | TL_EV_WRITE)) {
        conn_read(c, READS_PER_EVENT);
    }
}

/* Back-pressure: a paused connection is taken out of the loop (not just its read
 * interest: a peer that hangs up would otherwise report EPOLLHUP on every turn), so the
 * kernel's buffers fill and TCP flow control holds the sender. */
static void conn_pause(struct tl_in_item *it, bool paused)
{
    struct conn *c = (struct conn *)it;
    if (c->closing || c->paused == paused) {
        return;
    }
    c->paused = paused;
    struct tl_ev_loop *loop = tl_worker_loop(c->w);
    if (paused) {
        tl_ev_del(loop, &c->io);
        return;
    }
    tl_ev_set(loop, &c->io, TL_EV_READ);
    conn_interest(c);
    c->idle_checks = 0; /* idle_timeout: the pause was ours */
    /* Whatever arrived meanwhile (or TLS holds decrypted) is read on the next turn. */
    tl_ev_defer(loop, conn_continue, c);
}

static void conn_drain(struct tl_in_item *it)
{
    struct conn *c = (struct conn *)it;
    if (c->handshaking) {
        return;
    }
    /* Everything the kernel holds now is ours (the sender's TCP was told so), however much
     * that is; what keeps arriving is not: read until as many bytes as it held have come
     * through (TLS: the plaintext is smaller, so until the socket is empty), bounded. */
    int inq = 0;
    if (ioctl(c->io.fd, FIONREAD, &inq) < 0 || inq < 0) {
        inq = 0;
    }
    uint64_t until = c->bytes + (uint64_t)inq;
    for (int i = 0; i < DRAIN_READS_MAX && !c->closing; i++) {
        uint64_t before = c->bytes;
        if (before >= until && !tl_stream_pending(c->s)) {
            break;
        }
        conn_read(c, 1);
        if (c->bytes == before) {
            break; /* empty, closed, or broken */
        }
    }
}

static void conn_item_close(struct tl_in_item *it)
{
    conn_end((struct conn *)it, TL_LOG_DEBUG, "shutting down", "tlslogd is stopping");
}

#define CONN_OF_HS_LINK(l) ((struct conn *)((char *)(l) - offsetof(struct conn, hs_link)))

bool tl_in_conn_start(struct tl_input *in, struct tl_worker *w, int fd,
                      const struct tl_addr *peer, const char *peer_text, bool counted)
{
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        tl_src_put(&in->lim->sources, peer);
        tl_error("input %s: out of memory accepting %s", in->conf->name, peer_text);
        return false;
    }
    struct tl_stream *s;
    char err[256];
    if (in->has_tls) {
        struct tl_tls_ctx *ctx = tl_tls_slot_get(&in->tls);
        s = tl_stream_tls_new(fd, peer, ctx, TL_TLS_SERVER, NULL, err, sizeof(err));
        tl_tls_ctx_unref(ctx);
    } else {
        s = tl_stream_tcp_new(fd, peer);
        snprintf(err, sizeof(err), "out of memory");
    }
    if (!s) {
        free(c);
        tl_src_put(&in->lim->sources, peer);
        tl_error("input %s: cannot accept %s: %s", in->conf->name, peer_text, err);
        return false;
    }
    c->in = in;
    c->w = w;
    c->s = s;
    memcpy(c->peer, peer_text, sizeof(c->peer));
    tl_framer_init(&c->fr, in->conf->framing, in->conf->max_message_size);
    tl_buf_init(&c->out, 0);
    if (in->conf->transport == TL_TR_RELP) {
        c->relp = true;
        tl_relp_parser_init(&c->rp, in->conf->max_message_size);
        tl_relp_server_init(&c->rs, 0);
        if (!tl_settle_init(&c->settle, w, in, relp_mark, relp_settled, c)) {
            tl_stream_free(s);
            tl_src_put(&in->lim->sources, peer);
            free(c);
            tl_error("input %s: out of memory accepting %s", in->conf->name, peer_text);
            return false;
        }
    }
    tl_ev_timer_init(&c->hs_timer, handshake_timeout, c);
    tl_ev_timer_init(&c->idle_timer, idle_check, c);
    tl_in_link_init(&c->hs_link);
    c->item.drain = conn_drain;
    c->item.close = conn_item_close;
    c->item.pause = conn_pause;
    c->item.recheck = in->has_tls ? conn_recheck : NULL;
    c->item.held = conn_held;
    c->item.in = in;
    tl_ev_io_init(&c->io, fd, conn_cb, c);
    c->paused = tl_worker_input_blocked(w, in);
    if (!c->paused && !tl_ev_set(tl_worker_loop(w), &c->io, TL_EV_READ)) {
        tl_error("input %s: cannot watch connection from %s: %s", in->conf->name, peer_text,
                 strerror(errno));
        tl_stream_free(s);
        tl_src_put(&in->lim->sources, peer);
        free(c);
        return false;
    }
    c->source_counted = counted;
    c->accepted_ms = tl_now_ms();
    tl_worker_add_item(w, &c->item);
    if (in->has_tls) {
        c->handshaking = true;
        tl_ev_timer_start(tl_worker_loop(w), &c->hs_timer, (int64_t)in->conf->tls.handshake_timeout_ms);
        tl_in_link_append(&in->lim->handshaking[tl_worker_id(w)], &c->hs_link);
        atomic_fetch_add_explicit(&in->lim->handshakes, 1, memory_order_relaxed);
    } else {
        idle_start(c);
    }
    atomic_fetch_add_explicit(&in->stats.conn_open, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&in->stats.conn_total, 1, memory_order_relaxed);
    tl_debug("input %s: %s: connection accepted", in->conf->name, peer_text);
    return true;
}

/* max_handshakes are in progress: drops the oldest unfinished handshake of this worker. */
bool tl_in_conn_drop_oldest_handshake(struct tl_input *in, struct tl_worker *w)
{
    struct tl_in_link *head = &in->lim->handshaking[tl_worker_id(w)];
    if (tl_in_link_empty(head)) {
        return false;
    }
    struct conn *old = CONN_OF_HS_LINK(head->next);
    atomic_fetch_add_explicit(&in->stats.handshakes_dropped, 1, memory_order_relaxed);
    char why[500];
    snprintf(why, sizeof(why),
             "TLS handshake failed: not completed after %lld ms and dropped, the oldest of "
             "%zu handshakes in progress on this input (max_handshakes), to make room for a "
             "new connection; hint: many clients that connect and do not finish their "
             "handshake (a flood or a scanner: find them by address); raise max_handshakes "
             "only for many honest clients on slow links",
             (long long)(tl_now_ms() - old->accepted_ms),
             (size_t)atomic_load_explicit(&in->lim->handshakes, memory_order_relaxed));
    conn_close(old, TL_LOG_WARNING, why);
    return true;
}
