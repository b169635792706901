/*
 * in_listen.c: the listeners of the stream inputs (tcp, tls, relp): accepting, the checks of
 * the connection limits on a new connection (max_connections, max_connections_per_source,
 * max_handshakes), and what happens out of file descriptors (the listener pauses instead of
 * spinning). Each accepted connection is in_stream.c's from then on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "ev/loop.h"
#include "in/in.h"
#include "in/limits.h"
#include "in/stream_int.h"

/* Out of file descriptors: how long a listener waits before it tries to accept again. */
#define ACCEPT_RETRY_MS 100

struct listener {
    struct tl_in_item item;
    struct tl_ev_io io;
    struct tl_input *in;
    struct tl_worker *w;
    bool out_of_fds;             /* accepts paused until the backlog is drained again */
    struct tl_ev_timer retry;
};

/*
 * Out of file descriptors (or socket memory): the pending connection stays in the kernel's
 * backlog, and a level-triggered listener would report it again at once, spinning. Take the
 * listener out of the loop and try again in ACCEPT_RETRY_MS; new connections wait in the
 * backlog meanwhile. One line per episode and input, until the backlog is drained again.
 */
static void listener_pause(struct listener *l, int err)
{
    struct tl_ev_loop *loop = tl_worker_loop(l->w);
    struct tl_input *in = l->in;
    tl_ev_del(loop, &l->io);
    tl_ev_timer_start(loop, &l->retry, ACCEPT_RETRY_MS);
    if (l->out_of_fds) {
        return;
    }
    l->out_of_fds = true;
    if (atomic_fetch_add(&in->lim->accept_paused, 1) != 0) {
        return; /* another listener of this input said it already */
    }
    atomic_store(&in->lim->paused_since_ms, tl_now_ms());
    atomic_fetch_add_explicit(&in->stats.accept_pauses, 1, memory_order_relaxed);
    unsigned long long open = atomic_load(&in->stats.conn_open);
    struct rlimit rl;
    char limit[64] = "unknown";
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        snprintf(limit, sizeof(limit), "%llu", (unsigned long long)rl.rlim_cur);
    }
    if (err == EMFILE) {
        tl_error("input %s: cannot accept connections: tlslogd has reached its limit of %s "
                 "open files (RLIMIT_NOFILE), with %llu connections open on this input; new "
                 "connections wait in the listen backlog and are accepted as others close "
                 "(accepting is retried every %d ms); hint: raise LimitNOFILE= (systemd) or "
                 "ulimit -n, or lower max_connections",
                 in->conf->name, limit, open, ACCEPT_RETRY_MS);
    } else if (err == ENFILE) {
        tl_error("input %s: cannot accept connections: the system's limit of open files "
                 "(fs.file-max) is reached, with %llu connections open on this input; new "
                 "connections wait in the listen backlog (accepting is retried every %d ms); "
                 "hint: raise fs.file-max, lower max_connections, or find the process that "
                 "holds the files",
                 in->conf->name, open, ACCEPT_RETRY_MS);
    } else {
        tl_error("input %s: cannot accept connections: %s, with %llu connections open on this "
                 "input; new connections wait in the listen backlog (accepting is retried "
                 "every %d ms); hint: lower max_connections or free memory",
                 in->conf->name, strerror(err), open, ACCEPT_RETRY_MS);
    }
}

/* The backlog is empty: an episode out of file descriptors is over for this listener. */
static void listener_caught_up(struct listener *l)
{
    if (!l->out_of_fds) {
        return;
    }
    l->out_of_fds = false;
    struct tl_input *in = l->in;
    if (atomic_fetch_sub(&in->lim->accept_paused, 1) != 1) {
        return;
    }
    tl_info("input %s: accepting connections again: every waiting connection was accepted "
            "(accepts were paused for %lld ms)",
            in->conf->name, (long long)(tl_now_ms() - atomic_load(&in->lim->paused_since_ms)));
}

static void accept_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events);

static void listener_retry(struct tl_ev_loop *loop, void *arg)
{
    struct listener *l = arg;
    if (!tl_ev_set(loop, &l->io, TL_EV_READ)) {
        tl_ev_timer_start(loop, &l->retry, ACCEPT_RETRY_MS);
        return;
    }
    accept_cb(loop, &l->io, TL_EV_READ);
}

/* The checks of the connection limits on a new connection from peer. False: refused (and
 * said why); true: it holds a slot of max_connections_per_source (*counted). */
static bool admit(struct listener *l, const struct tl_addr *peer, const char *peer_text,
                  bool *counted)
{
    struct tl_input *in = l->in;
    const struct tl_conf_input *conf = in->conf;
    *counted = false;
    uint64_t open = atomic_load_explicit(&in->stats.conn_open, memory_order_relaxed);
    if (open >= conf->max_connections) {
        atomic_fetch_add_explicit(&in->stats.conn_rejected, 1, memory_order_relaxed);
        tl_in_peer_warn(in, peer_text, "connection refused: max_connections reached");
        return false;
    }
    enum tl_src_rc rc = tl_src_take(&in->lim->sources, peer, conf->max_conn_per_source);
    if (rc != TL_SRC_OK) {
        char what[300];
        if (rc == TL_SRC_FULL) {
            atomic_fetch_add_explicit(&in->stats.refused_source, 1, memory_order_relaxed);
            snprintf(what, sizeof(what),
                     "connection refused: this address already has %zu connections open "
                     "(max_connections_per_source); hint: a sender that leaks connections, or "
                     "an attack; raise max_connections_per_source for a relay or NAT that "
                     "sends for many hosts",
                     conf->max_conn_per_source);
        } else {
            snprintf(what, sizeof(what), "connection refused: out of memory");
        }
        tl_in_peer_warn(in, peer_text, what);
        return false;
    }
    *counted = true;
    if (in->has_tls &&
        atomic_load_explicit(&in->lim->handshakes, memory_order_relaxed) >=
            conf->max_handshakes &&
        !tl_in_conn_drop_oldest_handshake(in, l->w)) {
        atomic_fetch_add_explicit(&in->stats.handshakes_dropped, 1, memory_order_relaxed);
        tl_in_peer_warn(in, peer_text,
                  "connection refused: max_handshakes TLS handshakes are in progress on this "
                  "input (on other threads)");
        tl_src_put(&in->lim->sources, peer);
        *counted = false;
        return false;
    }
    return true;
}

static void accept_cb(struct tl_ev_loop *loop, struct tl_ev_io *io, unsigned events)
{
    struct listener *l = io->data;
    struct tl_input *in = l->in;
    (void)events;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t slen = sizeof(ss);
        int fd = accept4(io->fd, (struct sockaddr *)&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK) {
                listener_caught_up(l);
                return;
            }
            if (e == EINTR || e == ECONNABORTED) {
                return;
            }
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                listener_pause(l, e);
                return;
            }
            tl_log_rl(&in->rl, 20, TL_LOG_ERROR, "input %s: accept failed: %s", in->conf->name,
                      strerror(e));
            return;
        }
        struct tl_addr peer;
        tl_addr_from_sockaddr(&peer, (struct sockaddr *)&ss, slen);
        char peer_text[TL_ADDR_STRLEN];
        tl_addr_format(&peer, true, peer_text, sizeof(peer_text));
        bool counted = false;
        if (!admit(l, &peer, peer_text, &counted)) {
            close(fd);
            continue;
        }
        tl_in_conn_start(in, l->w, fd, &peer, peer_text, counted);
    }
    /* 64 accepted: out of file descriptors, the episode ends only when an accept finds the
     * backlog empty, and a backlog emptied by this very turn raises no more events. */
    if (l->out_of_fds && !tl_ev_timer_armed(&l->retry)) {
        tl_ev_timer_start(loop, &l->retry, ACCEPT_RETRY_MS);
    }
}

/* Shutdown: connections the kernel completed but we had not accepted yet hold data their
 * senders consider delivered: accept them so the drain reads it. */
static void listener_drain(struct tl_in_item *it)
{
    struct listener *l = (struct listener *)it;
    for (int i = 0; i < 64; i++) {
        uint64_t before = atomic_load(&l->in->stats.conn_total);
        accept_cb(tl_worker_loop(l->w), &l->io, TL_EV_READ);
        if (atomic_load(&l->in->stats.conn_total) - before < 64) {
            break;
        }
    }
}

static void listener_close(struct tl_in_item *it)
{
    struct listener *l = (struct listener *)it;
    tl_ev_timer_stop(tl_worker_loop(l->w), &l->retry);
    if (l->out_of_fds) {
        atomic_fetch_sub(&l->in->lim->accept_paused, 1);
    }
    tl_ev_del(tl_worker_loop(l->w), &l->io);
    tl_worker_remove_item(l->w, &l->item);
    close(l->io.fd);
    free(l);
}

bool tl_in_stream_attach(struct tl_input *in, struct tl_worker *w, int fd)
{
    struct listener *l = calloc(1, sizeof(*l));
    if (!l) {
        close(fd);
        return false;
    }
    l->in = in;
    l->w = w;
    l->item.drain = listener_drain;
    l->item.close = listener_close;
    l->item.in = in;
    tl_ev_timer_init(&l->retry, listener_retry, l);
    tl_ev_io_init(&l->io, fd, accept_cb, l);
    if (!tl_ev_set(tl_worker_loop(w), &l->io, TL_EV_READ)) {
        tl_error("input %s: cannot watch listener: %s", in->conf->name, strerror(errno));
        close(fd);
        free(l);
        return false;
    }
    tl_worker_add_item(w, &l->item);
    return true;
}
