/* send_relp.c: `tlslog send --transport relp`: a RELP session, every message acknowledged. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/send_int.h"
#include "core/log.h"
#include "relp/relp.h"
#include "transport/stream.h"

/* ---- relp -------------------------------------------------------------------------------- */

struct relp {
    struct tl_relp_client cl;
    struct tl_relp_parser rp;
    bool opened;
    bool close_sent;
    bool closed;                     /* the server answered our close */
    uint64_t acked;
};

/* Parses what the server sent and acts on each rsp; TL_CLI_OK to go on, else the exit status
 * after the failure was reported. */
static int relp_frames(struct sender *x, struct relp *r, int64_t *progress)
{
    char err[300];
    struct tl_err e; /* filled only when the session fails */
    size_t off = 0;
    int rc = -1;
    while (rc < 0 && off < x->in.len) {
        struct tl_relp_frame fr;
        struct tl_relp_event ev;
        size_t used = 0;
        enum tl_rc prc = tl_relp_next(&r->rp, x->in.data + off, x->in.len - off, &fr, &used, &e);
        off += used;
        if (prc == TL_AGAIN) {
            break;
        }
        if (prc == TL_OK && tl_relp_client_handle(&r->cl, &fr, &ev, &e) == TL_OK) {
            *progress = tl_now_ms();
            switch (ev.type) {
            case TL_RELP_EV_OPENED:
                r->opened = true;
                break;
            case TL_RELP_EV_ACKED:
                r->acked++;
                x->n_written = r->acked;
                break;
            case TL_RELP_EV_NAKED:
                snprintf(err, sizeof(err), "the server refused message %llu: %.*s",
                         (unsigned long long)r->acked + 1, (int)(ev.len > 200 ? 200 : ev.len),
                         ev.data != NULL ? (const char *)ev.data : "");
                rc = tl_send_fail_stream(x, err);
                break;
            case TL_RELP_EV_SERVERCLOSE:
                rc = tl_send_fail_stream(x, "the server ended the RELP session (serverclose) before "
                                    "acknowledging everything");
                break;
            case TL_RELP_EV_CLOSED:
                r->closed = true;
                rc = TL_CLI_OK;
                break;
            default:
                break;
            }
            continue;
        }
        tl_err_text(&e, err, sizeof(err));
        rc = r->opened ? tl_send_fail_stream(x, err) : tl_send_fail_connect(x, err);
    }
    tl_buf_consume(&x->in, off);
    return rc < 0 ? TL_CLI_OK : (r->closed ? -2 : rc);
}

/* Reads what the server sent into x->in; TL_AGAIN when nothing more is there. */
static enum tl_rc relp_read(struct sender *x)
{
    for (;;) {
        if (!tl_buf_reserve(&x->in, 16384)) {
            snprintf(x->s->err, sizeof(x->s->err), "out of memory");
            return TL_E_IO;
        }
        size_t n = 0;
        enum tl_rc rc = tl_stream_read(x->s, x->in.data + x->in.len, 16384, &n);
        if (rc != TL_OK) {
            return rc;
        }
        x->in.len += n;
    }
}

int tl_send_run_relp(struct sender *x)
{
    int rc = tl_send_open_stream(x);
    if (rc != TL_CLI_OK) {
        return rc;
    }
    const struct opts *o = x->o;
    struct relp r;
    memset(&r, 0, sizeof(r));
    tl_relp_client_init(&r.cl, 0);
    tl_relp_parser_init(&r.rp, 1024 * 1024);
    if (!tl_relp_client_open(&r.cl, &x->out)) {
        return tl_send_fail_oom();
    }
    int64_t progress = tl_now_ms();
    bool source_done = false;
    x->rate_start = tl_now_ms();
    for (;;) {
        enum src_state st = SRC_OK;
        int64_t wake = TL_CLI_NO_DEADLINE;
        bool failed = false;
        while (r.opened && !source_done && tl_relp_client_can_send(&r.cl) &&
               x->out.len - x->sent < FILL_BYTES) {
            st = tl_send_next_message(x, &wake, &failed);
            if (failed) {
                return tl_send_fail_oom();
            }
            if (st == SRC_END) {
                source_done = true;
                break;
            }
            if (st != SRC_OK) {
                break;
            }
            uint32_t txnr = 0;
            if (!tl_relp_client_send(&r.cl, x->one.data, x->one.len, &x->out, &txnr)) {
                return tl_send_fail_oom();
            }
            if (o->rate) {
                break;
            }
        }
        if (source_done && !r.close_sent && tl_relp_client_unacked(&r.cl) == 0) {
            if (!tl_relp_client_close(&r.cl, &x->out)) {
                return tl_send_fail_oom();
            }
            r.close_sent = true;
        }
        enum tl_rc w = tl_send_flush(x, &progress);
        bool blocked = w == TL_AGAIN;
        if (w != TL_OK && w != TL_AGAIN) {
            return tl_send_fail_stream(x, w == TL_EOF ? "the server closed the connection"
                                                 : x->s->err);
        }
        if (x->sent == x->out.len) {
            tl_buf_reset(&x->out);
            x->sent = 0;
        }
        bool more_now = !blocked && r.opened && !source_done &&
                        tl_relp_client_can_send(&r.cl) &&
                        (st == SRC_OK || (st == SRC_WAIT_RATE && wake <= tl_now_ms()));
        if (more_now) {
            continue;
        }
        /* Waiting for the server (open, acks, close) or a stalled write is bounded; waiting
         * for stdin or the rate is not. */
        bool waiting = blocked || !r.opened || tl_relp_client_unacked(&r.cl) > 0 ||
                       r.close_sent;
        int64_t deadline = waiting ? progress + o->timeout_ms : TL_CLI_NO_DEADLINE;
        if (st == SRC_WAIT_RATE && wake < deadline) {
            deadline = wake;
        }
        struct pollfd p[2];
        int n = tl_send_wait_stream(x, p, blocked,
                            st == SRC_NEED_INPUT && tl_relp_client_can_send(&r.cl), deadline);
        if (n < 0 && errno != EINTR) {
            return tl_send_fail_stream(x, strerror(errno));
        }
        if (waiting && tl_now_ms() >= progress + o->timeout_ms) {
            char d[32];
            char why[300];
            snprintf(why, sizeof(why), "no RELP answer from the server for %s (%s)",
                     tl_cli_duration_text(o->timeout_ms, d, sizeof(d)),
                     !r.opened ? "to our open: is it a RELP port?"
                     : r.close_sent ? "to our close" : "acknowledgements stopped");
            return r.opened ? tl_send_fail_stream(x, why) : tl_send_fail_connect(x, why);
        }
        if (n > 0 && (p[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
            enum tl_rc rd = relp_read(x);
            int fr = relp_frames(x, &r, &progress);
            if (fr == -2) {
                /* The server answered our close: every message was acknowledged. */
                for (int i = 0; i < 50 && tl_stream_shutdown(x->s) == TL_AGAIN; i++) {
                    tl_cli_wait(x->s->fd, tl_send_poll_events(tl_stream_wants(x->s)),
                                tl_now_ms() + 20);
                }
                return TL_CLI_OK;
            }
            if (fr != TL_CLI_OK) {
                return fr;
            }
            if (rd == TL_EOF) {
                return r.opened ? tl_send_fail_stream(x, "the server closed the connection")
                                : tl_send_fail_connect(x, "the server closed the connection without "
                                                  "answering our RELP open (is it a RELP "
                                                  "port?)");
            }
            if (rd == TL_E_IO) {
                return r.opened ? tl_send_fail_stream(x, x->s->err) : tl_send_fail_connect(x, x->s->err);
            }
        }
        if (n > 0 && p[1].revents != 0 && !tl_send_read_stdin(&x->src)) {
            return tl_send_fail_stdin();
        }
    }
}
