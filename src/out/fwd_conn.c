/*
 * fwd_conn.c: the forward output's connection. It connects to the first reachable target,
 * resolving the name again on every attempt (a loghost that moved is found again) and trying
 * each of its addresses, then the next target; after the last one it waits with exponential
 * backoff and jitter. Connect and TLS handshake have timeouts. A connection that stayed up
 * for reconnect_min has proved itself and resets the backoff; one refused right after the
 * handshake (TLS 1.3 settles the client certificate then) has not.
 *
 * It keeps read interest on the connection: a receiver's FIN or RST is noticed before the
 * next write, and TLS post-handshake messages (session tickets, KeyUpdate, close_notify) are
 * processed. What the bytes mean is the protocol's (struct fwd_proto).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/addr.h"
#include "out/fwd.h"

#define READ_DISCARD 16384
#define DEFAULT_TIMEOUT_MS 10000

static const char *target_text(const struct fwd *f, char *out, size_t cap)
{
    const struct tl_conf_target *t = &f->conf->targets[f->c.target];
    snprintf(out, cap, strchr(t->host, ':') ? "[%s]:%u" : "%s:%u", t->host, t->port);
    return out;
}

static void schedule_reconnect(struct fwd *f);

/* The TLS slot: a lane uses its output's, which a reload fills. */
static struct tl_tls_slot *tls_slot(struct fwd *f)
{
    return f->pool ? &f->pool->c.tls : &f->c.tls;
}

/* The stream owns the socket once it exists. */
static void close_socket(struct fwd_conn *c)
{
    if (c->s) {
        tl_stream_free(c->s);
        c->s = NULL;
    } else if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
}

/* The connection's one timer, re-aimed: reconnect delay, connect or handshake timeout. */
static void arm(struct fwd *f, tl_ev_fn *cb, int64_t after_ms)
{
    tl_ev_timer_stop(f->loop, &f->c.timer);
    f->c.timer.cb = cb;
    f->c.timer.arg = f;
    tl_ev_timer_start(f->loop, &f->c.timer, after_ms);
}

void fwd_disconnect(struct fwd *f, enum tl_log_level level, const char *why)
{
    struct fwd_conn *c = &f->c;
    if (c->state == FWD_IDLE) {
        return;
    }
    char t[300];
    if (why) {
        tl_log(level, "output %s: connection to %s lost: %s", f->conf->name,
               target_text(f, t, sizeof(t)), why);
    }
    tl_ev_del(f->loop, &c->io);
    tl_ev_timer_stop(f->loop, &c->timer);
    close_socket(c);
    c->state = FWD_IDLE;
    fwd_window_lost(f);
    if (f->proto->on_disconnect) {
        f->proto->on_disconnect(f);
    }
}

void fwd_conn_lost(struct fwd *f, enum tl_log_level level, const char *why)
{
    fwd_disconnect(f, level, why);
    schedule_reconnect(f);
}

static void fail_attempt(struct fwd *f, const char *why)
{
    struct fwd_conn *c = &f->c;
    char t[300];
    target_text(f, t, sizeof(t));
    c->failures++;
    /* The first failure of a streak is a warning; repeats every 10th attempt, so a dead
     * target is visible in the log without flooding it. */
    enum tl_log_level level = (c->failures == 1 || c->failures % 10 == 0) ? TL_LOG_WARNING
                                                                          : TL_LOG_DEBUG;
    tl_log(level, "output %s: cannot connect to %s: %s", f->conf->name, t, why);
    fwd_disconnect(f, TL_LOG_DEBUG, NULL);
    if (c->next_addr) {
        /* The same target's next address (e.g. ::1 refused, 127.0.0.1 listening). */
        tl_ev_defer(f->loop, fwd_connect, f);
        return;
    }
    if (c->addrs) {
        freeaddrinfo(c->addrs);
        c->addrs = NULL;
    }
    if (f->pool) {
        /* A lane (load balancing) keeps its target: the others already have connections. */
        schedule_reconnect(f);
        return;
    }
    c->target++;
    if (c->target < f->conf->n_targets) {
        /* Next target in order, at once. */
        tl_ev_defer(f->loop, fwd_connect, f);
        return;
    }
    c->target = 0;
    schedule_reconnect(f);
}

bool fwd_conn_proved(const struct fwd *f)
{
    uint64_t min = f->conf->reconnect_min_ms ? f->conf->reconnect_min_ms : 1000;
    return f->c.up_ms > 0 && tl_now_ms() - f->c.up_ms >= (int64_t)min;
}

static void schedule_reconnect(struct fwd *f)
{
    struct fwd_conn *c = &f->c;
    uint64_t min = f->conf->reconnect_min_ms ? f->conf->reconnect_min_ms : 1000;
    uint64_t max = f->conf->reconnect_max_ms ? f->conf->reconnect_max_ms : 60000;
    if (fwd_conn_proved(f)) {
        c->backoff_ms = 0;
    }
    c->up_ms = 0;
    if (c->backoff_ms == 0) {
        c->backoff_ms = min;
    } else {
        c->backoff_ms = c->backoff_ms * 2 > max ? max : c->backoff_ms * 2;
    }
    /* Jitter: a fleet of senders that lost the same loghost must not return in lockstep. */
    uint64_t jitter = c->backoff_ms / 5;
    uint64_t delay = c->backoff_ms - jitter + (jitter ? (uint64_t)rand() % (2 * jitter + 1) : 0);
    if (f->stopping) {
        int64_t left = f->stop_deadline - tl_now_ms();
        if (left <= 0) {
            return;
        }
        if ((int64_t)delay > left) {
            delay = (uint64_t)left;
        }
    }
    arm(f, fwd_connect, (int64_t)delay);
}

static void timeout_cb(struct tl_ev_loop *loop, void *arg)
{
    struct fwd *f = arg;
    (void)loop;
    char why[128];
    snprintf(why, sizeof(why), "%s timed out after %llu ms",
             f->c.state == FWD_CONNECTING ? "TCP connect" : "TLS handshake",
             (unsigned long long)(f->c.state == FWD_CONNECTING
                                      ? f->conf->connect_timeout_ms
                                      : f->conf->tls.handshake_timeout_ms));
    fail_attempt(f, why);
}

/* Closes the connection when the server no longer passes the TLS policy (reloaded since the
 * handshake began); true when it passes. */
static bool tls_policy_holds(struct fwd *f)
{
    char why[512];
    if (tl_stream_tls_recheck(f->c.s, tls_slot(f), why, sizeof(why))) {
        return true;
    }
    char msg[600];
    snprintf(msg, sizeof(msg), "the reloaded TLS policy refuses this server: %s", why);
    fwd_conn_lost(f, TL_LOG_WARNING, msg);
    return false;
}

static void connected(struct fwd *f)
{
    struct fwd_conn *c = &f->c;
    char t[300];
    tl_ev_timer_stop(f->loop, &c->timer);
    c->next_addr = NULL;
    c->state = FWD_UP;
    c->up_ms = tl_now_ms(); /* the backoff is reset once it has proved itself */
    if (c->failures) {
        tl_notice("output %s: connected to %s after %llu failed attempts", f->conf->name,
                  target_text(f, t, sizeof(t)), (unsigned long long)c->failures);
    } else {
        tl_info("output %s: connected to %s (%s)", f->conf->name, target_text(f, t, sizeof(t)),
                tl_transport_name(f->conf->transport));
    }
    c->failures = 0;
    if (f->lane_stats) {
        atomic_fetch_add_explicit(&f->lane_stats->connects, 1, memory_order_relaxed);
        atomic_store(&f->lane_stats->up, true);
    }
    if (c->is_tls) {
        char sess[128];
        struct tl_peer_id *id = tl_stream_tls_peer_id(c->s);
        tl_info("output %s: TLS session with %s: %s; server certificate %s (%s), %s",
                f->conf->name, t, tl_stream_tls_session(c->s, sess, sizeof(sess)),
                id && id->subject ? id->subject : "(none)", id && id->names ? id->names : "",
                id && id->sha256 ? id->sha256 : "");
        tl_peer_id_unref(id);
        /* A handshake that straddled a TLS reload answers to the new policy. */
        if (!tls_policy_holds(f)) {
            return;
        }
    }
    if (f->proto->on_connect) {
        f->proto->on_connect(f);
    }
    fwd_pump(f);
}

void fwd_update_interest(struct fwd *f)
{
    struct fwd_conn *c = &f->c;
    if (c->state == FWD_IDLE) {
        return;
    }
    unsigned mask = TL_EV_READ;
    if (c->state == FWD_CONNECTING) {
        mask = TL_EV_WRITE;
    } else if (c->s && (tl_stream_wants(c->s) & TL_WANT_WRITE)) {
        mask |= TL_EV_WRITE;
    } else if (c->state == FWD_UP && !f->deferred && f->proto->wants_write(f)) {
        mask |= TL_EV_WRITE;
    }
    tl_ev_set(f->loop, &c->io, mask);
}

static void do_handshake(struct fwd *f)
{
    enum tl_rc rc = tl_stream_handshake(f->c.s);
    if (rc == TL_OK) {
        connected(f);
        return;
    }
    if (rc == TL_AGAIN) {
        fwd_update_interest(f);
        return;
    }
    fail_attempt(f, rc == TL_EOF ? "the server closed the connection during the TLS "
                                   "handshake (does it speak TLS on this port?)"
                                 : f->c.s->err);
}

/* The TCP connect finished: wrap the socket in a stream (TLS: then the handshake). */
static void stream_up(struct fwd *f)
{
    struct fwd_conn *c = &f->c;
    struct tl_addr peer = {0};
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0) {
        tl_addr_from_sockaddr(&peer, (struct sockaddr *)&ss, sl);
    }
    if (c->is_tls) {
        char err_text[512];
        struct tl_tls_ctx *ctx = tl_tls_slot_get(tls_slot(f));
        c->s = tl_stream_tls_new(c->fd, &peer, ctx, TL_TLS_CLIENT,
                                 f->conf->targets[c->target].host, err_text, sizeof(err_text));
        tl_tls_ctx_unref(ctx);
        if (!c->s) {
            c->fd = -1; /* closed by the constructor */
            fail_attempt(f, err_text);
            return;
        }
        c->state = FWD_HANDSHAKE;
        arm(f, timeout_cb,
            (int64_t)(f->conf->tls.handshake_timeout_ms ? f->conf->tls.handshake_timeout_ms
                                                        : DEFAULT_TIMEOUT_MS));
        do_handshake(f);
        return;
    }
    c->s = tl_stream_tcp_new(c->fd, &peer);
    if (!c->s) {
        c->fd = -1;
        fail_attempt(f, "out of memory");
        return;
    }
    connected(f);
}

static void io_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events)
{
    struct fwd *f = io->data;
    struct fwd_conn *c = &f->c;
    (void)loop;
    if (c->state == FWD_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fail_attempt(f, strerror(err));
            return;
        }
        if (events & TL_EV_WRITE) {
            stream_up(f);
        }
        return;
    }
    if (c->state == FWD_HANDSHAKE) {
        do_handshake(f);
        return;
    }
    if (c->state != FWD_UP) {
        return;
    }
    if (events & (TL_EV_READ | TL_EV_ERROR)) {
        f->proto->on_readable(f);
        if (c->state != FWD_UP) {
            return;
        }
    }
    fwd_pump(f);
}

static int open_socket(const struct fwd *f, const struct addrinfo *ai, char *why, size_t whylen)
{
    int type = f->proto->datagram ? SOCK_DGRAM : SOCK_STREAM;
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

/* Resolves the current target (again: a loghost that moved is found); false after
 * fail_attempt. */
static bool resolve(struct fwd *f)
{
    struct fwd_conn *c = &f->c;
    const struct tl_conf_target *t = &f->conf->targets[c->target];
    if (c->addrs) {
        freeaddrinfo(c->addrs);
        c->addrs = NULL;
    }
    char port[8];
    snprintf(port, sizeof(port), "%u", t->port);
    struct addrinfo hints = {0};
    hints.ai_socktype = f->proto->datagram ? SOCK_DGRAM : SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    int rc = getaddrinfo(t->host, port, &hints, &c->addrs);
    if (rc != 0) {
        char why[300];
        snprintf(why, sizeof(why), "cannot resolve '%s': %s", t->host, gai_strerror(rc));
        c->addrs = NULL;
        c->fd = -1;
        c->state = FWD_CONNECTING;
        fail_attempt(f, why);
        return false;
    }
    c->next_addr = c->addrs;
    return true;
}

void fwd_connect(struct tl_ev_loop *loop, void *arg)
{
    struct fwd *f = arg;
    struct fwd_conn *c = &f->c;
    (void)loop;
    if (c->state != FWD_IDLE) {
        return;
    }
    if (!c->next_addr && !resolve(f)) {
        return;
    }
    struct addrinfo *ai = c->next_addr;
    c->next_addr = ai->ai_next;
    char why[300] = "no address";
    int fd = open_socket(f, ai, why, sizeof(why));
    c->fd = fd;
    c->state = FWD_CONNECTING;
    if (fd < 0) {
        fail_attempt(f, why);
        return;
    }
    tl_ev_io_init(&c->io, fd, io_cb, f);
    if (f->proto->datagram) {
        const struct tl_conf_target *t = &f->conf->targets[c->target];
        c->next_addr = NULL;
        c->state = FWD_UP;
        tl_ev_set(f->loop, &c->io, TL_EV_READ);
        tl_info("output %s: sending to %s:%u over %s", f->conf->name, t->host, t->port,
                f->proto->name);
        fwd_pump(f);
        return;
    }
    tl_ev_set(f->loop, &c->io, TL_EV_WRITE);
    arm(f, timeout_cb,
        (int64_t)(f->conf->connect_timeout_ms ? f->conf->connect_timeout_ms
                                              : DEFAULT_TIMEOUT_MS));
}

enum tl_rc fwd_conn_write(struct fwd *f, const uint8_t *p, size_t len, size_t *n)
{
    struct fwd_conn *c = &f->c;
    int64_t now = tl_now_ms();
    *n = 0;
    /* After a pause, first see whether the receiver closed or reset the connection: found
     * before the write, nothing is lost in a write that could not arrive. */
    if (now - c->last_write_ms > 100 && tl_stream_peer_gone(c->s)) {
        f->proto->on_readable(f);
        if (c->state != FWD_UP) {
            return TL_E_IO;
        }
    }
    enum tl_rc rc = tl_stream_write(c->s, p, len, n);
    if (rc == TL_OK) {
        c->last_write_ms = now;
        return TL_OK;
    }
    if (rc == TL_AGAIN) {
        return TL_AGAIN;
    }
    fwd_conn_lost(f, TL_LOG_WARNING, rc == TL_EOF ? "the server closed the connection"
                                                  : c->s->err);
    return TL_E_IO;
}

void fwd_conn_read(struct fwd *f, bool (*on_data)(struct fwd *f, const uint8_t *p, size_t n))
{
    struct fwd_conn *c = &f->c;
    uint8_t scratch[READ_DISCARD];
    /* Until the stream is empty: TLS returns one record per read, and records OpenSSL has
     * already taken off the socket (a RELP server sends one small record per ack) would
     * otherwise wait, unseen by epoll, for the next event. */
    for (int i = 0; i < 100000; i++) {
        size_t n = 0;
        enum tl_rc rc = tl_stream_read(c->s, scratch, sizeof(scratch), &n);
        if (rc == TL_OK) {
            if (on_data && !on_data(f, scratch, n)) {
                return;
            }
            continue;
        }
        if (rc == TL_AGAIN) {
            return;
        }
        const char *why = rc == TL_EOF ? "the server closed the connection" : c->s->err;
        if (c->is_tls && !fwd_conn_proved(f) &&
            (rc == TL_EOF || tl_stream_tls_fail_reason(c->s) == TL_HS_IO_ERROR)) {
            /* Closed (or reset) without an alert right after the handshake. */
            why = tl_stream_tls_early_close(c->s);
        }
        fwd_conn_lost(f, TL_LOG_WARNING, why);
        return;
    }
}

void fwd_conn_recheck(struct fwd *f)
{
    if (f->c.state == FWD_UP && f->c.is_tls) {
        tls_policy_holds(f);
    }
}

bool fwd_conn_init(struct fwd *f, bool tls)
{
    struct fwd_conn *c = &f->c;
    c->fd = -1;
    c->state = FWD_IDLE;
    tl_ev_timer_init(&c->timer, fwd_connect, f);
    if (tls) {
        char err[1024];
        char owner[96];
        struct tl_err e;
        snprintf(owner, sizeof(owner), "output %s", f->conf->name);
        if (tl_tls_slot_init(&c->tls, &f->conf->tls, TL_TLS_CLIENT, owner, &e) != TL_OK) {
            tl_error("%s", tl_err_text(&e, err, sizeof(err)));
            return false;
        }
        c->is_tls = true;
    }
    return true;
}

void fwd_conn_fini(struct fwd *f)
{
    struct fwd_conn *c = &f->c;
    close_socket(c);
    if (c->is_tls && !f->pool) {
        tl_tls_slot_fini(&c->tls);
        c->is_tls = false;
    }
    if (c->addrs) {
        freeaddrinfo(c->addrs);
        c->addrs = NULL;
    }
}
