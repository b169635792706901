/*
 * fwd_relp.c: RELP (over TCP or TLS), as rsyslog's omrelp speaks it. The window holds the
 * formatted messages unframed; the frames of the current session are encoded into its own
 * send buffer (wire), so that after a reconnect the same messages go out again under the
 * new session's numbers. A message leaves the window on its "rsp 200"; a refused one is
 * dropped and counted. The session is opened on connect and closed at a clean stop.
 */
#include <stdio.h>

#include "out/fwd.h"

#define RESPONSE_MAX (1u << 20)

static bool relp_init(struct fwd *f)
{
    tl_buf_init(&f->relp.wire, 0);
    tl_buf_init(&f->relp.rbuf, 0);
    /* No more messages in memory than the window takes: the rest wait in the queue (or on
     * disk), and of their bytes no more than one send buffer's worth, encoded or not. */
    f->win.max_frames = f->conf->relp_window ? f->conf->relp_window : 1024;
    f->win.max_bytes = FWD_FILL_BYTES;
    return true;
}

static void relp_fini(struct fwd *f)
{
    tl_buf_fini(&f->relp.wire);
    tl_buf_fini(&f->relp.rbuf);
}

/* As is: the frame is encoded when the session sends it. */
static bool relp_frame(struct fwd *f, const uint8_t *msg, size_t len)
{
    return tl_buf_append(&f->win.buf, msg, len);
}

static bool relp_ready(const struct fwd *f)
{
    return f->relp.open;
}

static void relp_connected(struct fwd *f)
{
    struct fwd_relp_state *r = &f->relp;
    tl_relp_client_init(&r->cl, f->conf->relp_window);
    tl_relp_parser_init(&r->rp, RESPONSE_MAX);
    tl_relp_client_open(&r->cl, &r->wire);
}

/* Encodes what the window allows, then writes. */
static enum tl_rc relp_send(struct fwd *f)
{
    struct fwd_window *w = &f->win;
    struct fwd_relp_state *r = &f->relp;
    size_t start = w->sent;
    size_t fresh = 0;
    while (r->open && w->n_marked + fresh < w->n_fr && tl_relp_client_can_send(&r->cl) &&
           r->wire.len < FWD_FILL_BYTES) {
        size_t end = w->fr[w->n_marked + fresh].end;
        uint32_t txnr;
        if (!tl_relp_client_send(&r->cl, w->buf.data + start, end - start, &r->wire, &txnr)) {
            break;
        }
        fresh++;
        start = end;
    }
    fwd_handed(f, fresh);
    if (r->wire.len == 0) {
        return TL_AGAIN;
    }
    size_t n = 0;
    enum tl_rc rc = fwd_conn_write(f, r->wire.data, r->wire.len, &n);
    if (rc == TL_OK) {
        tl_buf_consume(&r->wire, n);
    }
    return rc;
}

static bool relp_wants_write(const struct fwd *f)
{
    return f->relp.wire.len > 0;
}

/* The server's answers. */
static void relp_responses(struct fwd *f)
{
    struct fwd_relp_state *r = &f->relp;
    size_t off = 0;
    struct tl_err e; /* filled only when the session fails */
    /* Acks come one per message, in order: release them together (a release moves the
     * frames still waiting, so one call per ack would cost the whole window each time). */
    size_t acked = 0;
    for (;;) {
        struct tl_relp_frame fr;
        size_t used = 0;
        enum tl_rc rc = tl_relp_next(&r->rp, r->rbuf.data + off, r->rbuf.len - off, &fr, &used, &e);
        off += used;
        if (rc == TL_AGAIN) {
            break;
        }
        struct tl_relp_event ev = {0};
        if (rc == TL_OK) {
            rc = tl_relp_client_handle(&r->cl, &fr, &ev, &e);
        }
        if (rc == TL_OK && ev.type == TL_RELP_EV_ACKED) {
            acked++;
            continue;
        }
        fwd_release(f, acked, true);
        acked = 0;
        if (rc == TL_E_PROTO) {
            char err[300];
            char why[400];
            snprintf(why, sizeof(why), "RELP protocol error: %s",
                     tl_err_text(&e, err, sizeof(err)));
            fwd_conn_lost(f, TL_LOG_WARNING, why);
            return;
        }
        switch (ev.type) {
        case TL_RELP_EV_OPENED:
            r->open = true;
            break;
        case TL_RELP_EV_NAKED: {
            int l = ev.len > 200 ? 200 : (int)ev.len;
            tl_log_rl(&f->out->rl, 10, TL_LOG_WARNING,
                      "output %s: the RELP server refused a message: %.*s; it is dropped",
                      f->conf->name, l, ev.data ? (const char *)ev.data : "");
            atomic_fetch_add_explicit(&f->out->stats.dropped, 1, memory_order_relaxed);
            fwd_release(f, 1, false);
            break;
        }
        case TL_RELP_EV_SERVERCLOSE:
            tl_buf_consume(&r->rbuf, off);
            fwd_conn_lost(f, TL_LOG_NOTICE, "the RELP server is shutting down (serverclose); "
                                            "unacknowledged messages will be resent");
            return;
        case TL_RELP_EV_CLOSED:
            r->open = false;
            break;
        default:
            break;
        }
    }
    fwd_release(f, acked, true);
    tl_buf_consume(&r->rbuf, off);
}

static bool relp_data(struct fwd *f, const uint8_t *p, size_t n)
{
    if (!tl_buf_append(&f->relp.rbuf, p, n)) {
        fwd_conn_lost(f, TL_LOG_ERROR, "out of memory for RELP responses");
        return false;
    }
    relp_responses(f);
    return f->c.state == FWD_UP;
}

static void relp_readable(struct fwd *f)
{
    fwd_conn_read(f, relp_data);
}

static void relp_disconnected(struct fwd *f)
{
    f->relp.open = false;
    tl_buf_reset(&f->relp.wire);
    tl_buf_reset(&f->relp.rbuf);
}

/* A clean stop: close the session; the server answers once everything is acknowledged. */
static void relp_close(struct fwd *f)
{
    struct fwd_relp_state *r = &f->relp;
    if (f->c.state != FWD_UP || !r->open || !tl_relp_client_close(&r->cl, &r->wire)) {
        return;
    }
    int64_t until = tl_now_ms() + 1000;
    while (f->c.state == FWD_UP && r->open && tl_now_ms() < until) {
        fwd_pump(f);
        tl_ev_run_once(f->loop, 20);
    }
}

const struct fwd_proto fwd_relp = {
    .name = "relp",
    .init = relp_init,
    .fini = relp_fini,
    .frame = relp_frame,
    .ready = relp_ready,
    .on_connect = relp_connected,
    .send = relp_send,
    .wants_write = relp_wants_write,
    .on_readable = relp_readable,
    .on_disconnect = relp_disconnected,
    .close = relp_close,
};
