/*
 * out_fwd.c: the forward output. Sends messages to a remote syslog receiver over TLS
 * (RFC 5425), TCP (RFC 6587) or UDP (RFC 5426).
 *
 * One thread per forward output, running its own event loop: the queue's notify hook wakes
 * it when workers hand over messages. It connects to the first reachable target (resolving
 * the name again on every attempt), frames messages into a send buffer (several messages per
 * write, and so per TLS record), writes when the socket is writable, and reconnects with
 * exponential backoff and jitter when the connection fails. It keeps read interest on the
 * connection: a receiver's FIN or RST is noticed before the next write, and TLS post-handshake
 * messages (session tickets, KeyUpdate, close_notify) are processed.
 *
 * Frames whose bytes were not completely written when a connection broke are sent again on
 * the next connection (a receiver drops a partial frame at EOF, so this makes no duplicate).
 *
 * With a disk part (queue.dir) every message goes to disk first, in order, and is sent from
 * there (straight from memory when the sender is caught up, read back otherwise); it leaves
 * the disk when the receiver acknowledged it. Without one, a message waits in memory until
 * its acknowledgement. Settling (server.h): a message is settled once it is on disk (per
 * queue.sync) or, without a disk part, acknowledged; settle_update() computes how far.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/text.h"
#include "daemon/server.h"
#include "ev/loop.h"
#include "frame/frame.h"
#include "parse/format.h"
#include "queue/disk.h"
#include "relp/relp.h"
#include "transport/stream.h"
#include "transport/tls.h"

#define POP_MAX 1024
#define FILL_BYTES (256 * 1024)   /* unsent bytes buffered ahead of the socket */
#define HOLD_BYTES (32u << 20)    /* sent, unacknowledged bytes kept for a resend, at most */
#define READ_DISCARD 16384
#define NONE UINT64_MAX
#define DQ_RETRY_MIN_MS 50
#define DQ_RETRY_MAX_MS 2000

/*
 * A message in the send buffer. It stays there until the receiver has it: until its bytes
 * are acknowledged by the peer's TCP (TLS and TCP: wire_end <= wire bytes written minus the
 * socket's unacknowledged bytes), or by a RELP response. A connection that breaks before
 * that sends it again on the next one.
 */
struct frame {
    size_t end;          /* end offset in buf */
    uint64_t wire_end;   /* wire bytes written once its last byte went out; 0: not yet */
    bool disk;           /* read from the disk queue (acknowledged there when released) */
    uint64_t seq;        /* without a disk part: its number in the output's queue */
};

enum state {
    ST_IDLE,        /* not connected; waiting for the reconnect timer */
    ST_CONNECTING,  /* TCP connect in progress */
    ST_HANDSHAKE,   /* TLS handshake in progress */
    ST_UP,
    ST_CLOSING,     /* sending close_notify */
};

struct fwd {
    struct tl_output *out;
    const struct tl_conf_output *conf;
    struct tl_ev_loop *loop;
    struct tl_ev_io io;
    struct tl_ev_timer timer;     /* reconnect, connect and handshake timeouts */
    struct tl_stream *s;
    enum state state;
    int fd;
    size_t target;                /* index of the target being tried or used */
    uint64_t backoff_ms;
    struct tl_buf buf;            /* framed messages not yet fully written */
    size_t sent;                  /* bytes of buf already written */
    struct frame *fr;             /* one per message in buf, in order */
    size_t n_fr;
    size_t cap_fr;
    size_t n_marked;              /* frames whose last byte went to the kernel */
    struct tl_ev_timer ack_timer; /* polls the peer's TCP acknowledgements */
    int64_t last_write_ms;
    struct tl_buf one;            /* scratch for formatting one message */
    char peer[TL_ADDR_STRLEN + 300];
    bool stopping;                /* the queue is closed: deliver what is left, then stop */
    int64_t stop_deadline;
    bool warned_anon;
    struct addrinfo *addrs;       /* the current target's addresses, freshly resolved */
    struct addrinfo *next_addr;   /* the next one to try after a failure */
    struct tl_tls_slot tls;       /* transport tls, and relp over tls */
    bool is_tls;
    /* RELP: buf holds the formatted messages unframed (fr[].end delimits them); the frames
     * for the current session are encoded into wire, so that after a reconnect the same
     * messages go out again under the new session's numbers. */
    bool is_relp;
    bool relp_open;               /* the server answered our open */
    struct tl_relp_client cl;
    struct tl_relp_parser rp;
    struct tl_buf wire;
    struct tl_buf rbuf;           /* responses received, not yet parsed */
    size_t n_encoded;             /* messages of buf sent in this session */
    /* The disk part of the queue (queue.dir), or NULL. While it holds anything, or the
     * target is down, new messages go to disk, and are sent from there, in order. */
    struct tl_dq *dq;
    struct tl_ev_timer dq_timer;  /* interval sync */
    struct tl_msg *held[POP_MAX]; /* popped, not yet framed or on disk (disk full: they wait) */
    size_t n_held;
    size_t held_pos;
    uint64_t popped;              /* messages taken from the queue so far */
    uint64_t dq_unflushed;        /* number of the first message appended to disk but not
                                   * flushed yet; NONE when all are */
    /* Writing the disk part fails (full file system, I/O error): the messages wait in memory,
     * a retry comes with a backoff; one line at the start of the episode, one at its end. */
    bool dq_failing;
    bool dq_episode;
    int64_t dq_fail_since;
    int64_t dq_backoff_ms;
    char dq_fail_why[400];
    struct tl_ev_timer dq_retry;
    uint64_t failures;            /* consecutive failed attempts, for log levels */
    int64_t up_ms;                /* when the current connection came up; 0: not up */
    atomic_bool recheck;          /* a TLS reload happened: re-check the current server */
};

static void fwd_wake(void *arg)
{
    struct fwd *f = arg;
    tl_ev_wake(f->loop);
}

static const char *target_text(struct fwd *f, char *out, size_t cap)
{
    const struct tl_conf_target *t = &f->conf->targets[f->target];
    snprintf(out, cap, strchr(t->host, ':') ? "[%s]:%u" : "%s:%u", t->host, t->port);
    return out;
}

static void schedule_reconnect(struct fwd *f);
static void read_side(struct fwd *f);
static void spill(struct fwd *f);

/* The output's one timer, re-aimed: reconnect delay, connect timeout or handshake timeout. */
static void arm(struct fwd *f, tl_ev_fn *cb, int64_t after_ms)
{
    tl_ev_timer_stop(f->loop, &f->timer);
    f->timer.cb = cb;
    f->timer.arg = f;
    tl_ev_timer_start(f->loop, &f->timer, after_ms);
}
static void try_connect(struct tl_ev_loop *loop, void *arg);
static void pump(struct fwd *f);

/*
 * With a disk part: the frames are forgotten and the read cursor goes back to the oldest
 * unacknowledged record, so that they are read (and sent) again, in order.
 */
static void spill(struct fwd *f)
{
    f->buf.len = 0;
    f->n_fr = 0;
    tl_dq_rewind(f->dq);
}

/* How far the output has settled its queue (server.h): everything before the first
 * message that is still held, on disk but not flushed, or (without a disk part) framed and
 * not yet acknowledged. */
static void settle_update(struct fwd *f)
{
    uint64_t upto = f->popped - (f->n_held - f->held_pos);
    if (f->dq) {
        if (f->dq_unflushed < upto) {
            upto = f->dq_unflushed;
        }
    } else if (f->n_fr && f->fr[0].seq < upto) {
        upto = f->fr[0].seq;
    }
    tl_output_settle(f->out, upto);
}

/* Drops the connection; frames not completely written stay in buf and go out again. */
static void disconnect(struct fwd *f, enum tl_log_level level, const char *why)
{
    if (f->state == ST_IDLE) {
        return;
    }
    char t[300];
    if (why) {
        tl_log(level, "output %s: connection to %s lost: %s", f->conf->name,
               target_text(f, t, sizeof(t)), why);
    }
    tl_ev_del(f->loop, &f->io);
    tl_ev_timer_stop(f->loop, &f->timer);
    if (f->s) {
        tl_stream_free(f->s);
        f->s = NULL;
    } else if (f->fd >= 0) {
        close(f->fd);
    }
    f->fd = -1;
    f->state = ST_IDLE;
    tl_ev_timer_stop(f->loop, &f->ack_timer);
    /* Everything not acknowledged goes out again on the next connection, from the start of
     * its frame: what was written but not acknowledged may be a duplicate (counted). */
    size_t resent = 0;
    for (size_t i = 0; i < f->n_fr; i++) {
        if (f->fr[i].wire_end) {
            resent++;
        }
        f->fr[i].wire_end = 0;
    }
    if (resent) {
        atomic_fetch_add_explicit(&f->out->stats.resent, resent, memory_order_relaxed);
    }
    f->n_marked = 0;
    f->sent = 0;
    if (f->is_relp) {
        /* Sent in this session and not acknowledged: they go out again (may duplicate). */
        if (f->n_encoded) {
            atomic_fetch_add_explicit(&f->out->stats.resent, f->n_encoded,
                                      memory_order_relaxed);
        }
        f->n_encoded = 0;
        f->relp_open = false;
        tl_buf_reset(&f->wire);
        tl_buf_reset(&f->rbuf);
    }
    if (f->dq) {
        spill(f);
    }
}

static void fail_attempt(struct fwd *f, const char *why)
{
    char t[300];
    target_text(f, t, sizeof(t));
    f->failures++;
    /* The first failure of a streak is a warning; repeats every 10th attempt, so a dead
     * target is visible in the log without flooding it. */
    enum tl_log_level level = (f->failures == 1 || f->failures % 10 == 0) ? TL_LOG_WARNING
                                                                          : TL_LOG_DEBUG;
    tl_log(level, "output %s: cannot connect to %s: %s", f->conf->name, t, why);
    disconnect(f, TL_LOG_DEBUG, NULL);
    if (f->next_addr) {
        /* The same target's next address (e.g. ::1 refused, 127.0.0.1 listening). */
        tl_ev_defer(f->loop, try_connect, f);
        return;
    }
    if (f->addrs) {
        freeaddrinfo(f->addrs);
        f->addrs = NULL;
    }
    f->target++;
    if (f->target < f->conf->n_targets) {
        /* Next target in order, at once. */
        tl_ev_defer(f->loop, try_connect, f);
        return;
    }
    f->target = 0;
    schedule_reconnect(f);
}

/* A connection has proved itself once it stayed up for reconnect_min: a receiver that
 * refuses us right after the handshake (TLS 1.3 settles the client certificate then) must
 * meet the same exponential backoff as one that refuses the TCP connection. */
static bool proved(const struct fwd *f)
{
    uint64_t min = f->conf->reconnect_min_ms ? f->conf->reconnect_min_ms : 1000;
    return f->up_ms > 0 && tl_now_ms() - f->up_ms >= (int64_t)min;
}

static void schedule_reconnect(struct fwd *f)
{
    uint64_t min = f->conf->reconnect_min_ms ? f->conf->reconnect_min_ms : 1000;
    uint64_t max = f->conf->reconnect_max_ms ? f->conf->reconnect_max_ms : 60000;
    if (proved(f)) {
        f->backoff_ms = 0;
    }
    f->up_ms = 0;
    if (f->backoff_ms == 0) {
        f->backoff_ms = min;
    } else {
        f->backoff_ms = f->backoff_ms * 2 > max ? max : f->backoff_ms * 2;
    }
    /* Jitter: a fleet of senders that lost the same loghost must not return in lockstep. */
    uint64_t jitter = f->backoff_ms / 5;
    uint64_t delay = f->backoff_ms - jitter + (jitter ? (uint64_t)rand() % (2 * jitter + 1) : 0);
    if (f->stopping) {
        int64_t left = f->stop_deadline - tl_now_ms();
        if (left <= 0) {
            return;
        }
        if ((int64_t)delay > left) {
            delay = (uint64_t)left;
        }
    }
    arm(f, try_connect, (int64_t)delay);
}

static void timeout_cb(struct tl_ev_loop *loop, void *arg)
{
    struct fwd *f = arg;
    (void)loop;
    char why[128];
    snprintf(why, sizeof(why), "%s timed out after %llu ms",
             f->state == ST_CONNECTING ? "TCP connect" : "TLS handshake",
             (unsigned long long)(f->state == ST_CONNECTING
                                      ? f->conf->connect_timeout_ms
                                      : f->conf->tls.handshake_timeout_ms));
    fail_attempt(f, why);
}

static void connected(struct fwd *f)
{
    char t[300];
    tl_ev_timer_stop(f->loop, &f->timer);
    f->next_addr = NULL;
    f->state = ST_UP;
    f->up_ms = tl_now_ms(); /* the backoff is reset once it has proved itself */
    if (f->failures) {
        tl_notice("output %s: connected to %s after %llu failed attempts", f->conf->name,
                  target_text(f, t, sizeof(t)), (unsigned long long)f->failures);
    } else {
        tl_info("output %s: connected to %s (%s)", f->conf->name, target_text(f, t, sizeof(t)),
                tl_transport_name(f->conf->transport));
    }
    f->failures = 0;
    if (f->is_tls) {
        char sess[128];
        struct tl_peer_id *id = tl_stream_tls_peer_id(f->s);
        tl_info("output %s: TLS session with %s: %s; server certificate %s (%s), %s",
                f->conf->name, t, tl_stream_tls_session(f->s, sess, sizeof(sess)),
                id && id->subject ? id->subject : "(none)", id && id->names ? id->names : "",
                id && id->sha256 ? id->sha256 : "");
        tl_peer_id_unref(id);
        /* A handshake that straddled a TLS reload answers to the new policy. */
        char why[512];
        if (!tl_stream_tls_recheck(f->s, &f->tls, why, sizeof(why))) {
            char msg[600];
            snprintf(msg, sizeof(msg), "the reloaded TLS policy refuses this server: %s", why);
            disconnect(f, TL_LOG_WARNING, msg);
            schedule_reconnect(f);
            return;
        }
    }
    if (f->is_relp) {
        tl_relp_client_init(&f->cl, f->conf->relp_window);
        tl_relp_parser_init(&f->rp, 1u << 20);
        tl_relp_client_open(&f->cl, &f->wire);
    }
    pump(f);
}

static void update_interest(struct fwd *f)
{
    if (f->state == ST_IDLE) {
        return;
    }
    unsigned mask = TL_EV_READ;
    if (f->state == ST_CONNECTING) {
        mask = TL_EV_WRITE;
    } else if (f->s && (tl_stream_wants(f->s) & TL_WANT_WRITE)) {
        mask |= TL_EV_WRITE;
    } else if (f->state == ST_UP && !f->is_relp && f->sent < f->buf.len) {
        mask |= TL_EV_WRITE;
    } else if (f->state == ST_UP && f->is_relp && f->wire.len) {
        mask |= TL_EV_WRITE;
    }
    tl_ev_set(f->loop, &f->io, mask);
}

static void do_handshake(struct fwd *f)
{
    enum tl_io rc = tl_stream_handshake(f->s);
    if (rc == TL_IO_OK) {
        connected(f);
        return;
    }
    if (rc == TL_IO_AGAIN) {
        update_interest(f);
        return;
    }
    fail_attempt(f, rc == TL_IO_EOF ? "the server closed the connection during the TLS "
                                      "handshake (does it speak TLS on this port?)"
                                    : f->s->err);
}

/* Appends one formatted message to buf, framed for the transport (RELP and UDP: as is). */
static bool add_frame(struct fwd *f, const uint8_t *msg, size_t len, bool disk, uint64_t seq)
{
    if (f->n_fr == f->cap_fr) {
        size_t cap = f->cap_fr ? f->cap_fr * 2 : 4096;
        struct frame *e = realloc(f->fr, cap * sizeof(*e));
        if (!e) {
            return false;
        }
        f->fr = e;
        f->cap_fr = cap;
    }
    bool ok;
    if (f->conf->transport == TL_TR_UDP || f->is_relp) {
        ok = tl_buf_append(&f->buf, msg, len);
    } else if (f->conf->framing == TL_FRAMING_LF) {
        /* LF framing cannot carry an LF inside a message: it would split it. */
        size_t at = f->buf.len;
        ok = tl_frame_encode_lf(&f->buf, msg, len);
        uint8_t *p = ok && len ? memchr(f->buf.data + at, '\n', len) : NULL;
        for (; p; p = memchr(p, '\n', (size_t)(f->buf.data + at + len - p))) {
            *p++ = ' ';
        }
    } else {
        ok = tl_frame_encode_octet(&f->buf, msg, len);
    }
    if (!ok) {
        return false;
    }
    f->fr[f->n_fr].end = f->buf.len;
    f->fr[f->n_fr].wire_end = 0;
    f->fr[f->n_fr].disk = disk;
    f->fr[f->n_fr].seq = seq;
    f->n_fr++;
    return true;
}

static void dq_count_stat(struct fwd *f)
{
    atomic_store_explicit(&f->out->stats.queued_disk, tl_dq_count(f->dq), memory_order_relaxed);
    atomic_store_explicit(&f->out->stats.queued_disk_bytes, tl_dq_bytes(f->dq),
                          memory_order_relaxed);
}

static void dq_problem(struct fwd *f)
{
    const char *p = f->dq ? tl_dq_take_problem(f->dq) : NULL;
    if (p) {
        tl_error("output %s: disk queue %s: %s", f->conf->name, f->conf->queue_dir, p);
    }
}

static void dq_retry_cb(struct tl_ev_loop *loop, void *arg);

/* Writing the disk part failed: the messages stay held (the queue fills, and queue.full
 * applies), and a retry comes after a backoff. */
static void dq_fail(struct fwd *f, const char *err, int e)
{
    f->dq_failing = true;
    if (!f->dq_episode) {
        f->dq_episode = true;
        f->dq_fail_since = tl_now_ms();
        f->dq_backoff_ms = DQ_RETRY_MIN_MS;
        snprintf(f->dq_fail_why, sizeof(f->dq_fail_why), "%s", err);
        tl_error("output %s: disk queue: %s; %s. Nothing is dropped: messages wait in "
                 "memory, and while the queue is full queue.full applies (%s); retrying",
                 f->conf->name, err, tl_write_remedy(e),
                 f->conf->full == TL_QFULL_DROP ? "drop: new messages are dropped and counted"
                                                : "block: the inputs routed here pause");
    } else {
        f->dq_backoff_ms = f->dq_backoff_ms * 2 > DQ_RETRY_MAX_MS ? DQ_RETRY_MAX_MS
                                                                  : f->dq_backoff_ms * 2;
    }
    atomic_fetch_add_explicit(&f->out->stats.write_errors, 1, memory_order_relaxed);
    tl_ev_timer_stop(f->loop, &f->dq_retry);
    tl_ev_timer_start(f->loop, &f->dq_retry, f->dq_backoff_ms);
}

/* Makes what was appended to disk stick (per queue.sync): it is settled then. */
static bool dq_flush(struct fwd *f)
{
    if (f->dq_unflushed == NONE) {
        return true;
    }
    char err[300];
    errno = 0;
    if (!tl_dq_flush(f->dq, err, sizeof(err))) {
        dq_fail(f, err, errno);
        return false;
    }
    f->dq_unflushed = NONE;
    dq_count_stat(f);
    return true;
}

/* Room in the memory frames for one more message (sent while the disk is caught up). */
static bool frame_room(const struct fwd *f)
{
    if (f->state != ST_UP || f->stopping || f->buf.len - f->sent >= FILL_BYTES ||
        f->buf.len >= HOLD_BYTES) {
        return false;
    }
    if (f->is_relp) {
        size_t window = f->conf->relp_window ? f->conf->relp_window : 1024;
        return f->relp_open && f->n_fr < window;
    }
    return true;
}

/* Takes one formatted message (f->one, number seq) to the disk part: false when it must
 * wait (max_bytes reached, or a write failure: dq_failing). */
static bool store(struct fwd *f, uint64_t seq)
{
    char err[300];
    errno = 0;
    enum tl_dq_rc rc = tl_dq_append(f->dq, f->one.data, f->one.len, err, sizeof(err));
    if (rc == TL_DQ_FULL) {
        return false;
    }
    if (rc == TL_DQ_RETRY) {
        dq_fail(f, err, errno);
        return false;
    }
    if (rc == TL_DQ_ERROR) {
        atomic_fetch_add(&f->out->stats.dropped, 1);
        unsigned suppressed = 0;
        if (tl_ratelimit_ok(&f->out->rl, 10, &suppressed)) {
            tl_error("output %s: disk queue %s: %s; message dropped", f->conf->name,
                     f->conf->queue_dir, err);
        }
        return true;
    }
    if (f->dq_unflushed == NONE) {
        f->dq_unflushed = seq;
    }
    /* Caught up (this record is the only one not read): it goes out from memory too. */
    if (tl_dq_unread(f->dq) == 1 && frame_room(f) &&
        add_frame(f, f->one.data, f->one.len, true, seq)) {
        tl_dq_advance(f->dq);
    }
    return true;
}

/*
 * Takes messages from the queue: with a disk part, every one to disk (as long as it takes
 * them); without, into buf while there is room (RELP: no more than the window). Messages
 * that cannot be formatted are dropped and counted.
 */
static void fill(struct fwd *f)
{
    for (;;) {
        if (f->dq ? f->dq_failing
                  : (f->buf.len - f->sent >= FILL_BYTES || f->buf.len >= HOLD_BYTES)) {
            break;
        }
        size_t want = POP_MAX;
        if (f->is_relp && !f->dq) {
            /* Hold no more than the window: the rest waits in the queue. */
            size_t window = f->conf->relp_window ? f->conf->relp_window : 1024;
            if (f->n_fr >= window) {
                break;
            }
            want = window - f->n_fr < POP_MAX ? window - f->n_fr : POP_MAX;
        }
        if (f->held_pos == f->n_held) {
            f->held_pos = 0;
            f->n_held = tl_mq_pop(&f->out->q, f->held, want, 0);
            if (f->n_held == 0) {
                break;
            }
            f->popped += f->n_held;
            tl_ev_note_work(f->loop, f->n_held);
        }
        bool wait = false;
        while (f->held_pos < f->n_held) {
            struct tl_msg *m = f->held[f->held_pos];
            uint64_t seq = f->popped - (f->n_held - f->held_pos);
            tl_buf_reset(&f->one);
            if (!tl_format(m, f->conf->format, false, &f->one)) {
                atomic_fetch_add(&f->out->stats.dropped, 1);
            } else if (f->dq) {
                if (!store(f, seq)) {
                    wait = true; /* m stays held: disk full or failing */
                    break;
                }
            } else if (!add_frame(f, f->one.data, f->one.len, false, seq)) {
                atomic_fetch_add(&f->out->stats.dropped, 1);
            }
            tl_msg_unref(m);
            f->held_pos++;
        }
        if (wait) {
            break;
        }
    }
    if (f->dq) {
        dq_flush(f);
    }
    settle_update(f);
}

static void dq_retry_cb(struct tl_ev_loop *loop, void *arg)
{
    struct fwd *f = arg;
    (void)loop;
    f->dq_failing = false;
    pump(f);
    if (!f->dq_failing && f->dq_episode) {
        f->dq_episode = false;
        tl_notice("output %s: disk queue: writing again after %.1f s (%s); nothing was lost",
                  f->conf->name, (double)(tl_now_ms() - f->dq_fail_since) / 1000.0,
                  f->dq_fail_why);
    }
}

/* Sends from disk: records after the read cursor go into buf, in order. */
static void feed_from_disk(struct fwd *f)
{
    /* Stopping: what is on disk stays there for the next start; only what is in flight
     * gets its chance to be acknowledged. */
    if (!f->dq || f->state != ST_UP || (f->is_relp && !f->relp_open) || f->stopping) {
        return;
    }
    size_t window = f->conf->relp_window ? f->conf->relp_window : 1024;
    while (f->buf.len - f->sent < FILL_BYTES && f->buf.len < HOLD_BYTES &&
           (!f->is_relp || f->n_fr < window)) {
        const uint8_t *rec;
        size_t len;
        if (!tl_dq_peek(f->dq, &rec, &len)) {
            break;
        }
        if (!add_frame(f, rec, len, true, 0)) {
            break;
        }
        tl_dq_advance(f->dq);
    }
    dq_problem(f);
}

/* Forgets the first n frames: the receiver has them (or, on UDP, the kernel). */
static void release(struct fwd *f, size_t n, bool acked)
{
    if (n == 0) {
        return;
    }
    size_t bytes = f->fr[n - 1].end;
    if (acked) {
        atomic_fetch_add_explicit(&f->out->stats.acked, n, memory_order_relaxed);
    }
    size_t disk = 0;
    for (size_t i = 0; i < n; i++) {
        disk += f->fr[i].disk;
    }
    if (disk) {
        tl_dq_ack(f->dq, disk);
        dq_count_stat(f);
    }
    tl_buf_consume(&f->buf, bytes);
    memmove(f->fr, f->fr + n, (f->n_fr - n) * sizeof(*f->fr));
    f->n_fr -= n;
    for (size_t i = 0; i < f->n_fr; i++) {
        f->fr[i].end -= bytes;
    }
    if (f->is_relp) {
        f->n_encoded -= n;
    } else {
        f->sent -= bytes;
        f->n_marked -= n;
    }
    if (!f->dq) {
        settle_update(f);
    }
}

/* After a write: frames whose last byte is now with the kernel note the wire position. */
static void mark_written(struct fwd *f)
{
    uint64_t wire = tl_stream_wire_written(f->s);
    size_t fresh = 0;
    while (f->n_marked < f->n_fr && f->fr[f->n_marked].end <= f->sent) {
        f->fr[f->n_marked].wire_end = wire ? wire : 1;
        f->n_marked++;
        fresh++;
    }
    atomic_fetch_add_explicit(&f->out->stats.written, fresh, memory_order_relaxed);
}

/* Releases the frames the peer's TCP has acknowledged; true when some are still waiting. */
static bool release_acked(struct fwd *f)
{
    if (!f->s || f->n_marked == 0) {
        return f->n_marked > 0;
    }
    uint64_t wire = tl_stream_wire_written(f->s);
    uint64_t unacked = tl_stream_unacked(f->s);
    uint64_t acked = unacked < wire ? wire - unacked : 0;
    size_t n = 0;
    while (n < f->n_marked && f->fr[n].wire_end <= acked) {
        n++;
    }
    release(f, n, true);
    return f->n_marked > 0;
}

static void ack_poll(struct tl_ev_loop *loop, void *arg)
{
    struct fwd *f = arg;
    (void)loop;
    if (f->state == ST_UP && release_acked(f)) {
        tl_ev_timer_start(f->loop, &f->ack_timer, 20);
    }
    pump(f);
}

static void send_udp(struct fwd *f)
{
    size_t start = 0;
    size_t i = 0;
    for (; i < f->n_fr; i++) {
        ssize_t w = send(f->fd, f->buf.data + start, f->fr[i].end - start, MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (w < 0 && errno != ECONNREFUSED) {
            atomic_fetch_add(&f->out->stats.write_errors, 1);
        }
        /* UDP gives no delivery guarantee; an ICMP refusal is counted and the
         * message is gone, as with any UDP syslog sender. */
        if (w < 0) {
            atomic_fetch_add(&f->out->stats.dropped, 1);
        }
        start = f->fr[i].end;
    }
    /* No acknowledgement exists on UDP: a datagram handed to the kernel is as far as we
     * can follow it. */
    atomic_fetch_add_explicit(&f->out->stats.written, i, memory_order_relaxed);
    f->sent = start;
    f->n_marked = i;
    release(f, i, false);
    update_interest(f);
}

static void relp_pump(struct fwd *f);

/*
 * Writes len bytes from p to the connection. TL_IO_OK: *n written. TL_IO_AGAIN: the socket
 * is full. TL_IO_ERROR: the connection is gone (disconnected, reconnect scheduled). After a
 * pause it first checks whether the receiver has closed or reset the connection: found
 * before the write, nothing is lost in a write that could not arrive.
 */
static enum tl_io send_bytes(struct fwd *f, const uint8_t *p, size_t len, size_t *n)
{
    int64_t now = tl_now_ms();
    *n = 0;
    if (now - f->last_write_ms > 100 && tl_stream_peer_gone(f->s)) {
        read_side(f);
        if (f->state != ST_UP) {
            return TL_IO_ERROR;
        }
    }
    enum tl_io rc = tl_stream_write(f->s, p, len, n);
    if (rc == TL_IO_OK) {
        f->last_write_ms = now;
        return TL_IO_OK;
    }
    if (rc == TL_IO_AGAIN) {
        return TL_IO_AGAIN;
    }
    disconnect(f, TL_LOG_WARNING, rc == TL_IO_EOF ? "the server closed the connection"
                                                  : f->s->err);
    schedule_reconnect(f);
    return TL_IO_ERROR;
}

/* Moves data: fill from the queue, write, repeat until the socket or the queue is empty. */
static void pump(struct fwd *f)
{
    if (f->state != ST_UP) {
        /* Target down: with a disk part, the queue keeps flowing to disk, so the memory
         * part never fills and the inputs never stall. */
        if (f->dq) {
            fill(f);
        }
        return;
    }
    if (f->is_relp) {
        relp_pump(f);
        return;
    }
    for (int round = 0; round < 64; round++) {
        fill(f);
        feed_from_disk(f);
        if (f->buf.len == f->sent) {
            break;
        }
        if (f->conf->transport == TL_TR_UDP) {
            send_udp(f);
            if (f->n_fr) {
                return;
            }
            continue;
        }
        size_t n = 0;
        enum tl_io rc = send_bytes(f, f->buf.data + f->sent, f->buf.len - f->sent, &n);
        if (rc == TL_IO_OK) {
            f->sent += n;
            mark_written(f);
            release_acked(f);
            if (f->n_marked && !tl_ev_timer_armed(&f->ack_timer)) {
                tl_ev_timer_start(f->loop, &f->ack_timer, 20);
            }
            continue;
        }
        if (rc == TL_IO_AGAIN) {
            break;
        }
        return;
    }
    update_interest(f);
}

/* RELP: encode what the window allows, write, until the socket or the window is full. */
static void relp_pump(struct fwd *f)
{
    for (int round = 0; round < 64; round++) {
        fill(f);
        feed_from_disk(f);
        size_t start = f->n_encoded ? f->fr[f->n_encoded - 1].end : 0;
        size_t fresh = 0;
        while (f->relp_open && f->n_encoded < f->n_fr && tl_relp_client_can_send(&f->cl) &&
               f->wire.len < FILL_BYTES) {
            size_t end = f->fr[f->n_encoded].end;
            uint32_t txnr;
            if (!tl_relp_client_send(&f->cl, f->buf.data + start, end - start, &f->wire,
                                     &txnr)) {
                break;
            }
            f->n_encoded++;
            fresh++;
            start = end;
        }
        atomic_fetch_add_explicit(&f->out->stats.written, fresh, memory_order_relaxed);
        if (f->wire.len == 0) {
            break;
        }
        size_t n = 0;
        enum tl_io rc = send_bytes(f, f->wire.data, f->wire.len, &n);
        if (rc == TL_IO_OK) {
            tl_buf_consume(&f->wire, n);
            continue;
        }
        if (rc == TL_IO_AGAIN) {
            break;
        }
        return;
    }
    update_interest(f);
}

/* RELP: the server's answers. */
static void relp_responses(struct fwd *f)
{
    size_t off = 0;
    char err[300];
    /* Acks come one per message, in order: release them together (release() moves the
     * frames still waiting, so one call per ack would cost the whole window each time). */
    size_t acked = 0;
    for (;;) {
        struct tl_relp_frame fr;
        size_t used = 0;
        enum tl_relp_rc rc = tl_relp_next(&f->rp, f->rbuf.data + off, f->rbuf.len - off, &fr,
                                          &used, err, sizeof(err));
        off += used;
        if (rc == TL_RELP_AGAIN) {
            break;
        }
        struct tl_relp_event ev = {0};
        if (rc == TL_RELP_OK) {
            rc = tl_relp_client_handle(&f->cl, &fr, &ev, err, sizeof(err));
        }
        if (rc == TL_RELP_OK && ev.type == TL_RELP_EV_ACKED) {
            acked++;
            continue;
        }
        release(f, acked, true);
        acked = 0;
        if (rc == TL_RELP_ERROR) {
            char why[400];
            snprintf(why, sizeof(why), "RELP protocol error: %s", err);
            disconnect(f, TL_LOG_WARNING, why);
            schedule_reconnect(f);
            return;
        }
        switch (ev.type) {
        case TL_RELP_EV_OPENED:
            f->relp_open = true;
            break;
        case TL_RELP_EV_NAKED: {
            unsigned suppressed = 0;
            if (tl_ratelimit_ok(&f->out->rl, 10, &suppressed)) {
                int l = ev.len > 200 ? 200 : (int)ev.len;
                tl_warn("output %s: the RELP server refused a message: %.*s; it is dropped",
                        f->conf->name, l, ev.data ? (const char *)ev.data : "");
            }
            atomic_fetch_add_explicit(&f->out->stats.dropped, 1, memory_order_relaxed);
            release(f, 1, false);
            break;
        }
        case TL_RELP_EV_SERVERCLOSE:
            tl_buf_consume(&f->rbuf, off);
            disconnect(f, TL_LOG_NOTICE, "the RELP server is shutting down (serverclose); "
                                         "unacknowledged messages will be resent");
            schedule_reconnect(f);
            return;
        case TL_RELP_EV_CLOSED:
            f->relp_open = false;
            break;
        default:
            break;
        }
    }
    release(f, acked, true);
    tl_buf_consume(&f->rbuf, off);
}

/* The receiver never sends syslog data; read to see EOF, errors and TLS housekeeping.
 * A RELP server sends its answers. */
static void read_side(struct fwd *f)
{
    uint8_t scratch[READ_DISCARD];
    /* Until the stream is empty: TLS returns one record per read, and records OpenSSL has
     * already taken off the socket (a RELP server sends one small record per ack) would
     * otherwise wait, unseen by epoll, for the next event. */
    for (int i = 0; i < 100000; i++) {
        size_t n = 0;
        enum tl_io rc = tl_stream_read(f->s, scratch, sizeof(scratch), &n);
        if (rc == TL_IO_OK) {
            if (f->is_relp) {
                if (!tl_buf_append(&f->rbuf, scratch, n)) {
                    disconnect(f, TL_LOG_ERROR, "out of memory for RELP responses");
                    schedule_reconnect(f);
                    return;
                }
                relp_responses(f);
                if (f->state != ST_UP) {
                    return;
                }
            }
            continue;
        }
        if (rc == TL_IO_AGAIN) {
            return;
        }
        const char *why = rc == TL_IO_EOF ? "the server closed the connection" : f->s->err;
        if (f->is_tls && !proved(f) &&
            (rc == TL_IO_EOF || strcmp(tl_stream_tls_fail_kind(f->s), "io_error") == 0)) {
            /* Closed (or reset) without an alert right after the handshake. */
            why = tl_stream_tls_early_close(f->s);
        }
        disconnect(f, TL_LOG_WARNING, why);
        schedule_reconnect(f);
        return;
    }
}

static void io_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events)
{
    struct fwd *f = io->data;
    (void)loop;
    if (f->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fail_attempt(f, strerror(err));
            return;
        }
        if (!(events & TL_EV_WRITE)) {
            return;
        }
        struct tl_addr peer = {0};
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getpeername(f->fd, (struct sockaddr *)&ss, &sl) == 0) {
            tl_addr_from_sockaddr(&peer, (struct sockaddr *)&ss, sl);
        }
        if (f->is_tls) {
            char err_text[512];
            struct tl_tls_ctx *ctx = tl_tls_slot_get(&f->tls);
            f->s = tl_stream_tls_new(f->fd, &peer, ctx, TL_TLS_CLIENT,
                                     f->conf->targets[f->target].host, err_text,
                                     sizeof(err_text));
            tl_tls_ctx_unref(ctx);
            if (!f->s) {
                f->fd = -1; /* closed by the constructor */
                fail_attempt(f, err_text);
                return;
            }
            f->state = ST_HANDSHAKE;
            arm(f, timeout_cb,
                (int64_t)(f->conf->tls.handshake_timeout_ms ? f->conf->tls.handshake_timeout_ms
                                                            : 10000));
            do_handshake(f);
            return;
        }
        f->s = tl_stream_tcp_new(f->fd, &peer);
        if (!f->s) {
            f->fd = -1;
            fail_attempt(f, "out of memory");
            return;
        }
        connected(f);
        return;
    }
    if (f->state == ST_HANDSHAKE) {
        do_handshake(f);
        return;
    }
    if (f->state != ST_UP) {
        return;
    }
    if (f->conf->transport == TL_TR_UDP) {
        if (events & TL_EV_WRITE) {
            pump(f);
        }
        if (events & TL_EV_READ) {
            /* ICMP port unreachable surfaces as a read error on a connected UDP socket. */
            uint8_t b[512];
            while (recv(f->fd, b, sizeof(b), MSG_DONTWAIT) >= 0 || errno == ECONNREFUSED) {
            }
        }
        return;
    }
    if (events & (TL_EV_READ | TL_EV_ERROR)) {
        read_side(f);
        if (f->state != ST_UP) {
            return;
        }
    }
    pump(f);
}

static int open_socket(struct fwd *f, const struct addrinfo *ai, char *why, size_t whylen)
{
    int type = f->conf->transport == TL_TR_UDP ? SOCK_DGRAM : SOCK_STREAM;
    int fd = socket(ai->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        return -1;
    }
    if (type == SOCK_STREAM) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        snprintf(why, whylen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void try_connect(struct tl_ev_loop *loop, void *arg)
{
    struct fwd *f = arg;
    (void)loop;
    if (f->state != ST_IDLE) {
        return;
    }
    const struct tl_conf_target *t = &f->conf->targets[f->target];
    if (!f->next_addr) {
        if (f->addrs) {
            freeaddrinfo(f->addrs);
            f->addrs = NULL;
        }
        char port[8];
        snprintf(port, sizeof(port), "%u", t->port);
        struct addrinfo hints = {0};
        hints.ai_socktype = f->conf->transport == TL_TR_UDP ? SOCK_DGRAM : SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
        /* Resolved on every attempt: a loghost that moved is found again. */
        int rc = getaddrinfo(t->host, port, &hints, &f->addrs);
        if (rc != 0) {
            char why[300];
            snprintf(why, sizeof(why), "cannot resolve '%s': %s", t->host, gai_strerror(rc));
            f->addrs = NULL;
            f->fd = -1;
            f->state = ST_CONNECTING;
            fail_attempt(f, why);
            return;
        }
        f->next_addr = f->addrs;
    }
    struct addrinfo *ai = f->next_addr;
    f->next_addr = ai->ai_next;
    char why[300] = "no address";
    int fd = open_socket(f, ai, why, sizeof(why));
    f->fd = fd;
    f->state = ST_CONNECTING;
    if (fd < 0) {
        fail_attempt(f, why);
        return;
    }
    tl_ev_io_init(&f->io, fd, io_cb, f);
    if (f->conf->transport == TL_TR_UDP) {
        f->next_addr = NULL;
        f->state = ST_UP;
        tl_ev_set(f->loop, &f->io, TL_EV_READ);
        tl_info("output %s: sending to %s:%u over udp", f->conf->name, t->host, t->port);
        pump(f);
        return;
    }
    tl_ev_set(f->loop, &f->io, TL_EV_WRITE);
    arm(f, timeout_cb,
        (int64_t)(f->conf->connect_timeout_ms ? f->conf->connect_timeout_ms : 10000));
}

/* After a TLS reload, on the output's thread: the server we are connected to must pass the
 * new policy, or the connection is closed and the next one is verified afresh. */
static void recheck_server(struct fwd *f)
{
    char why[512];
    if (f->state != ST_UP || !f->is_tls || tl_stream_tls_recheck(f->s, &f->tls, why,
                                                                 sizeof(why))) {
        return;
    }
    char msg[600];
    snprintf(msg, sizeof(msg), "the reloaded TLS policy refuses this server: %s", why);
    disconnect(f, TL_LOG_WARNING, msg);
    schedule_reconnect(f);
}

static void before_sleep(struct tl_ev_loop *loop, void *arg)
{
    struct fwd *f = arg;
    (void)loop;
    if (atomic_exchange(&f->recheck, false)) {
        recheck_server(f);
    }
    if (!f->stopping && tl_mq_closed(&f->out->q)) {
        f->stopping = true;
        /* One deadline for the whole stop, set by the server when it began. */
        f->stop_deadline = atomic_load(&f->out->stop_deadline_ms);
        if (f->stop_deadline == 0) {
            f->stop_deadline = tl_now_ms() + (int64_t)f->conf->drain_timeout_ms;
        }
    }
    pump(f);
}

static size_t pending_messages(struct fwd *f)
{
    return tl_mq_len(&f->out->q) + (f->n_held - f->held_pos) +
           (f->dq ? (size_t)tl_dq_count(f->dq) : f->n_fr);
}

static void dq_tick(struct tl_ev_loop *loop, void *arg)
{
    struct fwd *f = arg;
    char err[300];
    errno = 0;
    if (!f->dq_failing) {
        if (tl_dq_tick(f->dq, tl_now_ms(), err, sizeof(err))) {
            f->dq_unflushed = NONE;
            settle_update(f);
        } else {
            dq_fail(f, err, errno);
        }
    }
    uint64_t every = f->conf->queue_sync_interval_ms ? f->conf->queue_sync_interval_ms : 1000;
    tl_ev_timer_start(loop, &f->dq_timer, (int64_t)every);
}

/* Drops what the queue still holds (at the very end); returns how many. */
static size_t drop_queued(struct fwd *f)
{
    size_t n = f->n_held - f->held_pos;
    for (size_t i = f->held_pos; i < f->n_held; i++) {
        tl_msg_unref(f->held[i]);
    }
    f->held_pos = f->n_held = 0;
    struct tl_msg *batch[POP_MAX];
    size_t k;
    while ((k = tl_mq_pop(&f->out->q, batch, POP_MAX, 0)) > 0) {
        for (size_t i = 0; i < k; i++) {
            tl_msg_unref(batch[i]);
        }
        n += k;
    }
    return n;
}

/* A clean stop with a disk part: what was in flight goes back to its place on disk (it is
 * read again first after the next start), and what is still queued in memory is written
 * after it, in order. Whatever the disk cannot take is counted and said. */
static void persist_at_stop(struct fwd *f)
{
    disconnect(f, TL_LOG_DEBUG, NULL);
    f->dq_failing = false; /* one last try */
    fill(f);
    size_t lost = drop_queued(f);
    if (f->dq_unflushed != NONE) {
        lost += (size_t)tl_dq_discard_unwritten(f->dq);
        f->dq_unflushed = NONE;
    }
    dq_count_stat(f);
    tl_notice("output %s: stopping: %llu messages wait in the disk queue %s for the next start",
              f->conf->name, (unsigned long long)tl_dq_count(f->dq), f->conf->queue_dir);
    if (lost) {
        atomic_fetch_add(&f->out->stats.dropped, lost);
        tl_error("output %s: stopping: %zu messages could not be written to the disk queue %s "
                 "(%s) and are lost",
                 f->conf->name, lost, f->conf->queue_dir,
                 f->dq_episode ? f->dq_fail_why : "queue.max_bytes reached");
    }
}

void *tl_out_fwd_main(void *arg)
{
    struct tl_output *out = arg;
    struct fwd *f = out->impl;
    srand((unsigned)time(NULL) ^ (unsigned)(uintptr_t)f);
    tl_ev_set_before_sleep(f->loop, before_sleep, f);
    if (f->dq) {
        tl_ev_timer_start(f->loop, &f->dq_timer, 1000);
    }
    try_connect(f->loop, f);
    for (;;) {
        tl_ev_run_once(f->loop, 500);
        if (!f->stopping) {
            continue;
        }
        if (pending_messages(f) == 0) {
            break;
        }
        if (f->dq && (f->n_fr == 0 || tl_now_ms() >= f->stop_deadline)) {
            /* In-flight messages had their chance to be acknowledged; the rest waits on
             * disk. */
            persist_at_stop(f);
            break;
        }
        if (tl_now_ms() >= f->stop_deadline) {
            size_t lost = f->n_fr + drop_queued(f);
            f->n_fr = 0;
            f->buf.len = 0;
            atomic_fetch_add(&out->stats.dropped, lost);
            tl_error("output %s: stopping with %zu messages undelivered after drain_timeout "
                     "(%llu ms): they are lost",
                     f->conf->name, lost, (unsigned long long)f->conf->drain_timeout_ms);
            break;
        }
    }
    /* RELP: close the session (the server answers once everything is acknowledged). */
    if (f->is_relp && f->state == ST_UP && f->relp_open &&
        tl_relp_client_close(&f->cl, &f->wire)) {
        int64_t until = tl_now_ms() + 1000;
        while (f->state == ST_UP && f->relp_open && tl_now_ms() < until) {
            relp_pump(f);
            tl_ev_run_once(f->loop, 20);
        }
    }
    /* Orderly close: TLS close_notify, then FIN. */
    if (f->s && f->state == ST_UP) {
        for (int i = 0; i < 50 && tl_stream_shutdown(f->s) == TL_IO_AGAIN; i++) {
            tl_ev_run_once(f->loop, 20);
        }
    }
    disconnect(f, TL_LOG_DEBUG, NULL);
    /* Whatever is still queued is released. */
    struct tl_msg *batch[POP_MAX];
    size_t n;
    while ((n = tl_mq_pop(&out->q, batch, POP_MAX, 0)) > 0) {
        for (size_t i = 0; i < n; i++) {
            tl_msg_unref(batch[i]);
        }
    }
    return NULL;
}

static void fwd_free(struct fwd *f);

bool tl_out_fwd_init(struct tl_output *out)
{
    struct fwd *f = calloc(1, sizeof(*f));
    if (!f) {
        return false;
    }
    f->out = out;
    f->conf = out->conf;
    f->fd = -1;
    f->loop = tl_ev_loop_new();
    tl_buf_init(&f->buf, 0);
    tl_buf_init(&f->one, 0);
    tl_ev_timer_init(&f->timer, try_connect, f);
    tl_ev_timer_init(&f->ack_timer, ack_poll, f);
    tl_ev_timer_init(&f->dq_retry, dq_retry_cb, f);
    f->dq_unflushed = NONE;
    if (!f->loop) {
        free(f);
        return false;
    }
    f->is_relp = out->conf->transport == TL_TR_RELP;
    tl_buf_init(&f->wire, 0);
    tl_buf_init(&f->rbuf, 0);
    if (out->conf->transport == TL_TR_TLS || (f->is_relp && out->conf->relp_tls)) {
        char err[1024];
        char owner[96];
        snprintf(owner, sizeof(owner), "output %s", out->conf->name);
        if (!tl_tls_slot_init(&f->tls, &out->conf->tls, TL_TLS_CLIENT, owner, err,
                              sizeof(err))) {
            tl_error("%s", err);
            tl_ev_loop_free(f->loop);
            free(f);
            return false;
        }
        f->is_tls = true;
    }
    if (out->conf->queue_dir) {
        struct tl_dq_opts o = {0};
        o.dir = out->conf->queue_dir;
        o.max_bytes = out->conf->queue_max_bytes;
        o.segment_bytes = out->conf->queue_segment_bytes;
        o.sync = out->conf->queue_sync == TL_QSYNC_NONE     ? TL_DQ_SYNC_NONE
                 : out->conf->queue_sync == TL_QSYNC_ALWAYS ? TL_DQ_SYNC_ALWAYS
                                                            : TL_DQ_SYNC_INTERVAL;
        o.sync_interval_ms = out->conf->queue_sync_interval_ms;
        struct tl_dq_recovery rec;
        char err[512];
        f->dq = tl_dq_open(&o, &rec, err, sizeof(err));
        if (!f->dq) {
            tl_error("output %s: %s", out->conf->name, err);
            fwd_free(f);
            return false;
        }
        if (rec.detail[0]) {
            /* Every anomaly, with the messages it concerns (lost, or delivered again). */
            tl_warn("output %s: disk queue %s: at start: %s (in all: lost %llu, delivered "
                    "again %llu, to deliver %llu)",
                    out->conf->name, out->conf->queue_dir, rec.detail,
                    (unsigned long long)rec.lost_records, (unsigned long long)rec.redelivered,
                    (unsigned long long)rec.records);
        }
        if (rec.records) {
            tl_notice("output %s: %llu messages from the disk queue %s are delivered first",
                      out->conf->name, (unsigned long long)rec.records, out->conf->queue_dir);
        }
        tl_ev_timer_init(&f->dq_timer, dq_tick, f);
    }
    out->impl = f;
    out->q.notify = fwd_wake;
    out->q.notify_arg = f;
    return true;
}

static void fwd_free(struct fwd *f)
{
    if (f->s) {
        tl_stream_free(f->s);
    } else if (f->fd >= 0) {
        close(f->fd);
    }
    if (f->is_tls) {
        tl_tls_slot_fini(&f->tls);
    }
    if (f->addrs) {
        freeaddrinfo(f->addrs);
    }
    for (size_t i = f->held_pos; i < f->n_held; i++) {
        tl_msg_unref(f->held[i]);
    }
    tl_dq_close(f->dq);
    tl_buf_fini(&f->buf);
    tl_buf_fini(&f->one);
    tl_buf_fini(&f->wire);
    tl_buf_fini(&f->rbuf);
    free(f->fr);
    tl_ev_loop_free(f->loop);
    free(f);
}

void tl_out_fwd_free(struct tl_output *out)
{
    if (out->impl) {
        fwd_free(out->impl);
        out->impl = NULL;
    }
}

struct tl_tls_slot *tl_out_fwd_tls(struct tl_output *out)
{
    struct fwd *f = out->impl;
    return f && f->is_tls ? &f->tls : NULL;
}

void tl_out_fwd_recheck(struct tl_output *out)
{
    struct fwd *f = out->impl;
    if (f && f->is_tls) {
        atomic_store(&f->recheck, true);
        tl_ev_wake(f->loop);
    }
}
