/*
 * send.c: `tlslog send`, a logger that speaks syslog over TLS (RFC 5425), TCP (RFC 6587) and
 * UDP (RFC 5426).
 *
 * It uses the daemon's own pieces, so that what it sends and how it fails match tlslogd's
 * forward output: tl_tls_ctx_new and the TLS stream (verification, and the plain-words
 * reason of a failure), tl_format (RFC 5424 / RFC 3164 as forwarded), and the framers.
 *
 * One connection, one thread, non-blocking I/O driven by poll(2) with deadlines: the socket
 * is watched for reading all the time, so a server that closes or rejects us is noticed at
 * once, and TLS records the server sends (session tickets, alerts) are consumed. Messages
 * are framed into one buffer and written in large batches (many frames per TLS record).
 *
 * Success means every byte was written and, for TCP and TLS, the connection was closed in
 * order: our close_notify (TLS) or FIN, then the server's close or EOF, which it sends only
 * after it has read everything before it. With RELP (relp/relp.h: client session, window of
 * unacknowledged messages) it means every message was acknowledged with "rsp 200", and the
 * session was closed.
 */
#include "cli/send.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "conf/conf.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/msg.h"
#include "frame/frame.h"
#include "parse/format.h"
#include "relp/relp.h"
#include "transport/stream.h"
#include "transport/tls.h"
#include "transport/tls_verify.h"

#include "cli/send_int.h"


/* ---- messages ----------------------------------------------------------------------------- */

/* UTC offset of local time in minutes, looked up once per second. */
static int local_offset(struct sender *x, int64_t sec)
{
    if (sec != x->tz_sec) {
        struct tm tm;
        time_t t = (time_t)sec;
        x->tz_off = localtime_r(&t, &tm) != NULL ? (int)(tm.tm_gmtoff / 60) : 0;
        x->tz_sec = sec;
    }
    return x->tz_off;
}

/* Formats one message into x->one as it goes on the wire (no framing). */
static bool format_message(struct sender *x, const char *text, size_t len)
{
    const struct opts *o = x->o;
    size_t hlen = strlen(o->hostname);
    size_t tlen = strlen(o->tag);
    struct tl_msg *m = tl_msg_new_extra(text, len, hlen + tlen);
    if (m == NULL) {
        return false;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    m->proto = TL_PROTO_RFC5424;
    m->flags = TL_MSG_HAS_PRI | TL_MSG_HAS_TS | TL_MSG_TS_HAS_TZ | TL_MSG_HAS_HOST;
    m->facility = (uint8_t)o->facility;
    m->severity = (uint8_t)o->severity;
    m->ts_sec = now.tv_sec;
    m->ts_usec = (uint32_t)(now.tv_nsec / 1000);
    m->ts_frac_digits = 6;
    m->ts_tzoff = (int16_t)local_offset(x, now.tv_sec);
    m->recv_sec = now.tv_sec;
    m->recv_usec = m->ts_usec;
    m->msg.off = 0;
    m->msg.len = (uint32_t)len;
    m->hostname = tl_msg_add(m, o->hostname, hlen);
    m->app_name = tl_msg_add(m, o->tag, tlen);
    tl_buf_reset(&x->one);
    bool ok = tl_format(m, o->format, false, &x->one);
    tl_msg_unref(m);
    return ok;
}

/* The next line of stdin (without its LF, and a CR before it); false when none is complete. */
static bool next_line(struct source *src, const char **p, size_t *len)
{
    for (;;) {
        size_t avail = src->in.len - src->in_off;
        if (avail == 0) {
            return false;
        }
        const char *start = (const char *)src->in.data + src->in_off;
        const char *lf = memchr(start, '\n', avail);
        size_t n;
        size_t skip;
        if (lf != NULL) {
            n = (size_t)(lf - start);
            skip = n + 1;
        } else if (avail >= LINE_MAX_BYTES || src->in_eof) {
            n = avail < LINE_MAX_BYTES ? avail : LINE_MAX_BYTES;
            skip = n;
        } else {
            return false;
        }
        src->in_off += skip;
        if (n > 0 && start[n - 1] == '\r') {
            n--;
        }
        if (n == 0) {
            continue; /* empty lines carry nothing */
        }
        *p = start;
        *len = n;
        return true;
    }
}

/* Reads what stdin has; false with errno on a read error. */
bool tl_send_read_stdin(struct source *src)
{
    if (src->in_off > 0 && src->in_off * 2 >= src->in.len) {
        tl_buf_consume(&src->in, src->in_off);
        src->in_off = 0;
    }
    if (!tl_buf_reserve(&src->in, READ_CHUNK)) {
        errno = ENOMEM;
        return false;
    }
    for (;;) {
        ssize_t r = read(STDIN_FILENO, src->in.data + src->in.len, READ_CHUNK);
        if (r > 0) {
            src->in.len += (size_t)r;
            return true;
        }
        if (r == 0) {
            src->in_eof = true;
            return true;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return true;
        }
        return false;
    }
}

/* The next message of the source, formatted into x->one. *wake: when SRC_WAIT_RATE is due. */
enum src_state tl_send_next_message(struct sender *x, int64_t *wake, bool *failed)
{
    struct source *src = &x->src;
    const char *p = NULL;
    size_t len = 0;
    *failed = false;
    if (x->o->rate) {
        int64_t due = x->rate_start + (int64_t)(x->n_formatted * 1000 / x->o->rate);
        if (tl_now_ms() < due) {
            *wake = due;
            return SRC_WAIT_RATE;
        }
    }
    if (src->count) {
        if (src->seq >= src->count) {
            return SRC_END;
        }
        src->seq++;
        tl_buf_reset(&src->text);
        if (!tl_buf_puts(&src->text, src->msgs[0]) ||
            !tl_buf_printf(&src->text, " seq=%lu", src->seq)) {
            *failed = true;
            return SRC_END;
        }
        p = (const char *)src->text.data;
        len = src->text.len;
    } else if (!src->from_stdin) {
        if (src->next >= src->n_msgs) {
            return SRC_END;
        }
        p = src->msgs[src->next++];
        len = strlen(p);
    } else if (!next_line(src, &p, &len)) {
        return src->in_eof ? SRC_END : SRC_NEED_INPUT;
    }
    if (!format_message(x, p, len)) {
        *failed = true;
        return SRC_END;
    }
    x->n_formatted++;
    return SRC_OK;
}

/* ---- failures ----------------------------------------------------------------------------- */

int tl_send_fail_connect(const struct sender *x, const char *why)
{
    fprintf(stderr, "%s: cannot connect to %s: %s\n", PROG, x->target.text, why);
    return TL_CLI_FAIL;
}

/* A server that rejects our certificate does so after our side of a TLS 1.3 handshake has
 * finished: the alert comes with the first read. */
static bool rejected_us(const struct sender *x)
{
    if (x->s == NULL || !tl_stream_is_tls(x->s)) {
        return false;
    }
    switch (tl_stream_tls_fail_reason(x->s)) {
    case TL_HS_PEER_REJECTED_OUR_CERTIFICATE:
    case TL_HS_CLIENT_CERTIFICATE_REQUIRED:
    case TL_HS_HANDSHAKE_FAILURE_ALERT:
    case TL_HS_PEER_INTERNAL_ERROR:
    case TL_HS_CLOSED_AFTER_HANDSHAKE:
        return true;
    default:
        return false;
    }
}

/* Writes what x->out holds past x->sent until all of it is written (TL_OK) or the stream
 * takes no more now (TL_AGAIN); *progress is the time bytes last went out. Otherwise the
 * stream's result (TL_EOF, TL_E_*; x->s->err says why), for the caller to report. */
enum tl_rc tl_send_flush(struct sender *x, int64_t *progress)
{
    while (x->sent < x->out.len) {
        size_t n = 0;
        enum tl_rc w = tl_stream_write(x->s, x->out.data + x->sent, x->out.len - x->sent, &n);
        if (w != TL_OK) {
            return w;
        }
        x->sent += n;
        *progress = tl_now_ms();
    }
    return TL_OK;
}

/* A failure once connected; a rejection of our certificate is still "cannot connect". */
int tl_send_fail_stream(const struct sender *x, const char *why)
{
    if (rejected_us(x)) {
        return tl_send_fail_connect(x, why);
    }
    fprintf(stderr, "%s: connection to %s failed after %llu of %llu messages were %s: %s\n",
            PROG, x->target.text, (unsigned long long)x->n_written,
            (unsigned long long)x->n_formatted,
            x->o->transport == TL_TR_RELP ? "acknowledged" : "written", why);
    return TL_CLI_FAIL;
}

/*
 * The server closed (rc TL_EOF) or failed the connection (TL_E_IO) before our close.
 * Over TLS and soon after the handshake, a close or reset without an alert is how a server
 * that checks our certificate after the handshake (rsyslog) refuses it: say so.
 */
static int fail_closed(struct sender *x, enum tl_rc rc)
{
    if (tl_stream_is_tls(x->s)) {
        bool young = tl_now_ms() < x->hs_done_ms + x->settle_ms + 1000;
        bool reset = rc == TL_E_IO &&
                     tl_stream_tls_fail_reason(x->s) == TL_HS_IO_ERROR;
        if (young && (rc == TL_EOF || reset)) {
            return tl_send_fail_connect(x, tl_stream_tls_early_close(x->s));
        }
    }
    if (rc == TL_EOF) {
        return tl_send_fail_stream(x, "the server closed the connection");
    }
    return tl_send_fail_stream(x, x->s->err);
}

int tl_send_fail_oom(void)
{
    fprintf(stderr, "%s: out of memory\n", PROG);
    return TL_CLI_FAIL;
}

int tl_send_fail_stdin(void)
{
    fprintf(stderr, "%s: cannot read stdin: %s\n", PROG, strerror(errno));
    return TL_CLI_FAIL;
}

/* ---- stream transports (tcp, tls) ------------------------------------------------------- */

short tl_send_poll_events(unsigned wants)
{
    short ev = 0;
    if (wants & TL_WANT_READ) {
        ev |= POLLIN;
    }
    if (wants & TL_WANT_WRITE) {
        ev |= POLLOUT;
    }
    return ev ? ev : POLLIN;
}

/* Waits until the stream (for reading, and for what a blocked write needs) or, with
 * want_input, stdin is ready, or until deadline. Fills p[0] (stream) and p[1] (stdin);
 * returns poll's result. Reads always go on until AGAIN: what OpenSSL still holds then is
 * a partial record, which needs the socket anyway (so tl_stream_pending is not consulted). */
int tl_send_wait_stream(const struct sender *x, struct pollfd p[2], bool blocked,
                        bool want_input, int64_t deadline)
{
    nfds_t nfds = 1;
    p[0].fd = x->s->fd;
    p[0].events = POLLIN;
    p[0].revents = 0;
    if (blocked) {
        p[0].events |= tl_send_poll_events(tl_stream_wants(x->s));
    }
    p[1].revents = 0;
    if (want_input) {
        p[1].fd = STDIN_FILENO;
        p[1].events = POLLIN;
        nfds = 2;
    }
    return poll(p, nfds, tl_cli_ms_left(deadline));
}

/* The TLS context from the options: files are checked before anything is sent. */
static struct tl_tls_ctx *make_ctx(const struct opts *o)
{
    const struct {
        const char *opt;
        const char *path;
    } files[] = { { "--ca", o->ca }, { "--cert", o->cert }, { "--key", o->key } };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *f = files[i].path;
        if (f != NULL && !(i == 0 && strcmp(f, "system") == 0) && access(f, R_OK) != 0) {
            fprintf(stderr, "%s: cannot read %s %s: %s\n", PROG, files[i].opt, f,
                    strerror(errno));
            return NULL;
        }
    }
    struct tl_conf_tls c;
    char err[1024];
    memset(&c, 0, sizeof(c));
    c.ca_file = o->ca;
    c.cert_file = o->cert;
    c.key_file = o->key;
    c.auth = o->auth;
    c.min_version = 12;
    c.permitted_peers = o->peers;
    c.n_permitted_peers = o->n_peers;
    c.fingerprints = o->fps;
    c.n_fingerprints = o->n_fps;
    struct tl_err e;
    struct tl_tls_ctx *ctx = tl_tls_ctx_new(&c, TL_TLS_CLIENT, PROG, &e);
    if (ctx == NULL) {
        fprintf(stderr, "%s\n", tl_err_text(&e, err, sizeof(err)));
    } else {
        tl_tls_ctx_set_cert_keys(ctx, "--cert and --key");
    }
    return ctx;
}

int tl_send_open_stream(struct sender *x)
{
    const struct opts *o = x->o;
    struct tl_tls_ctx *ctx = NULL;
    if (o->use_tls && (ctx = make_ctx(o)) == NULL) {
        return TL_CLI_FAIL;
    }
    int64_t deadline = tl_now_ms() + o->timeout_ms;
    struct tl_addr peer;
    struct tl_err e;
    char why[1024];
    int fd = tl_cli_connect(&x->target, SOCK_STREAM, deadline, &peer, &e);
    if (fd < 0) {
        tl_tls_ctx_unref(ctx);
        return tl_send_fail_connect(x, tl_err_text(&e, why, sizeof(why)));
    }
    if (ctx == NULL) {
        x->s = tl_stream_tcp_new(fd, &peer);
        return x->s != NULL ? TL_CLI_OK : tl_send_fail_oom();
    }
    char err[1024];
    x->s = tl_stream_tls_new(fd, &peer, ctx, TL_TLS_CLIENT, x->target.host, err, sizeof(err));
    tl_tls_ctx_unref(ctx);
    if (x->s == NULL) {
        return tl_send_fail_connect(x, err);
    }
    int64_t hs_start = tl_now_ms();
    deadline = hs_start + o->timeout_ms;
    bool answered = false;
    for (;;) {
        enum tl_rc rc = tl_stream_handshake(x->s);
        if (rc == TL_OK) {
            /* The server's verdict on our certificate may still come (TLS 1.3): it is
             * awaited for a few handshake round trips before the send is called a success
             * (close_stream). */
            x->hs_done_ms = tl_now_ms();
            x->settle_ms = 3 * (x->hs_done_ms - hs_start) + 300;
            if (x->settle_ms > o->timeout_ms) {
                x->settle_ms = o->timeout_ms;
            }
            break;
        }
        if (rc == TL_EOF) {
            return tl_send_fail_connect(x, "the server closed the connection during the TLS handshake "
                                   "(does it speak TLS on this port?)");
        }
        if (rc == TL_E_IO && !answered &&
            tl_stream_tls_fail_reason(x->s) == TL_HS_CLOSED_IN_HANDSHAKE) {
            /* Closed before we saw a byte of TLS from it (OpenSSL may have read the answer
             * first, so this cannot be sure). */
            return tl_send_fail_connect(x, "the server closed the connection during the TLS handshake "
                                   "(the port may be a plaintext syslog listener, or the server "
                                   "wants a client certificate: 'tlslog probe' tells which)");
        }
        if (rc == TL_E_IO) {
            return tl_send_fail_connect(x, x->s->err);
        }
        short ev = tl_cli_wait(x->s->fd, tl_send_poll_events(tl_stream_wants(x->s)), deadline);
        char d[32];
        if (ev == 0) {
            snprintf(why, sizeof(why),
                     answered ? "TLS handshake timed out after %s (the server stopped answering)"
                              : "TLS handshake timed out after %s: no TLS answer (the port may be "
                                "a plaintext syslog listener; 'tlslog probe' tells more)",
                     tl_cli_duration_text(o->timeout_ms, d, sizeof(d)));
            return tl_send_fail_connect(x, why);
        }
        if (answered || (ev & (POLLIN | POLLHUP | POLLERR)) == 0) {
            continue;
        }
        /* The server's first bytes, before OpenSSL reads them: a plaintext listener that
         * closes on our ClientHello, or answers in plaintext, is named as such. */
        char ex[120];
        switch (tl_cli_peek_tls(x->s->fd, ex, sizeof(ex))) {
        case TL_CLI_ANSWER_CLOSED:
            return tl_send_fail_connect(x, "the server closed the connection without answering the TLS "
                                   "handshake (the port may be a plaintext syslog listener; "
                                   "'tlslog probe' tells more)");
        case TL_CLI_ANSWER_NOT_TLS:
            snprintf(why, sizeof(why),
                     "the server answered in plaintext, not TLS (\"%s\"): use the receiver's TLS "
                     "port (usually 6514), or --transport tcp", ex);
            return tl_send_fail_connect(x, why);
        default:
            answered = true;
            break;
        }
    }
    return TL_CLI_OK;
}

/* Appends x->one to the output buffer, framed. */
static bool frame_message(struct sender *x)
{
    bool ok;
    if (x->o->framing == TL_FRAMING_LF) {
        /* LF framing cannot carry an LF inside a message: it would split it (as out_fwd). */
        for (size_t j = 0; j < x->one.len; j++) {
            if (x->one.data[j] == '\n') {
                x->one.data[j] = ' ';
            }
        }
        ok = tl_frame_encode_lf(&x->out, x->one.data, x->one.len);
    } else {
        ok = tl_frame_encode_octet(&x->out, x->one.data, x->one.len);
    }
    if (ok && x->n_ends == x->cap_ends) {
        size_t cap = x->cap_ends ? x->cap_ends * 2 : 1024;
        size_t *e = realloc(x->ends, cap * sizeof(*e));
        if (e == NULL) {
            return false;
        }
        x->ends = e;
        x->cap_ends = cap;
    }
    if (ok) {
        x->ends[x->n_ends++] = x->out.len;
    }
    return ok;
}

/* Counts the frames written completely and drops the written bytes. */
static void trim_written(struct sender *x)
{
    size_t done = 0;
    while (done < x->n_ends && x->ends[done] <= x->sent) {
        done++;
    }
    x->n_written += done;
    if (x->sent == x->out.len) {
        tl_buf_reset(&x->out);
        x->sent = 0;
        x->n_ends = 0;
        return;
    }
    if (x->sent < FILL_BYTES) {
        /* Moving the tail is only worth it once a good part of the buffer is written. */
        memmove(x->ends, x->ends + done, (x->n_ends - done) * sizeof(size_t));
        x->n_ends -= done;
        return;
    }
    size_t bytes = x->sent;
    tl_buf_consume(&x->out, bytes);
    memmove(x->ends, x->ends + done, (x->n_ends - done) * sizeof(size_t));
    x->n_ends -= done;
    for (size_t i = 0; i < x->n_ends; i++) {
        x->ends[i] -= bytes;
    }
    x->sent = 0;
}

/*
 * Reads and discards what the server sends (a syslog receiver sends no data; TLS records such
 * as session tickets and alerts are processed on the way). Returns TL_AGAIN when nothing
 * more is there, TL_EOF or TL_E_IO as the stream says.
 */
static enum tl_rc drain_reads(struct sender *x)
{
    uint8_t scratch[16384];
    for (;;) {
        size_t n = 0;
        enum tl_rc rc = tl_stream_read(x->s, scratch, sizeof(scratch), &n);
        if (rc != TL_OK) {
            return rc;
        }
    }
}

/* Sends close_notify (TLS) or FIN (TCP), then waits for the server's close. */
static int close_stream(struct sender *x)
{
    if (tl_stream_is_tls(x->s)) {
        /* Before our close_notify: a server that refuses us closes on its own, without
         * waiting for ours; after it, its close would look like the answer to ours. */
        int64_t until = x->hs_done_ms + x->settle_ms;
        for (;;) {
            enum tl_rc rc = drain_reads(x);
            if (rc == TL_EOF || rc == TL_E_IO) {
                return rc == TL_E_IO && rejected_us(x) ? tl_send_fail_connect(x, x->s->err)
                                                           : fail_closed(x, rc);
            }
            if (tl_now_ms() >= until || tl_cli_wait(x->s->fd, POLLIN, until) == 0) {
                break;
            }
        }
    }
    int64_t deadline = tl_now_ms() + x->o->timeout_ms;
    char d[32];
    char why[600];
    for (;;) {
        enum tl_rc rc = tl_stream_shutdown(x->s);
        if (rc != TL_AGAIN) {
            break;
        }
        if (tl_cli_wait(x->s->fd, tl_send_poll_events(tl_stream_wants(x->s)), deadline) == 0) {
            break;
        }
    }
    for (;;) {
        enum tl_rc rc = drain_reads(x);
        if (rc == TL_EOF) {
            return TL_CLI_OK;
        }
        if (rc == TL_E_IO) {
            if (rejected_us(x)) {
                return tl_send_fail_connect(x, x->s->err);
            }
            snprintf(why, sizeof(why), "while closing: %s", x->s->err);
            return tl_send_fail_stream(x, why);
        }
        if (tl_cli_wait(x->s->fd, POLLIN, deadline) == 0) {
            snprintf(why, sizeof(why),
                     "the server did not close the connection within %s after the last message "
                     "(%s), so delivery is not confirmed",
                     tl_cli_duration_text(x->o->timeout_ms, d, sizeof(d)),
                     tl_stream_is_tls(x->s) ? "TLS close_notify sent" : "FIN sent");
            return tl_send_fail_stream(x, why);
        }
    }
}

static int run_stream(struct sender *x)
{
    int rc = tl_send_open_stream(x);
    if (rc != TL_CLI_OK) {
        return rc;
    }
    const struct opts *o = x->o;
    int64_t progress = tl_now_ms();
    x->rate_start = tl_now_ms();
    for (;;) {
        enum src_state st = SRC_OK;
        int64_t wake = TL_CLI_NO_DEADLINE;
        bool failed = false;
        while (x->out.len - x->sent < FILL_BYTES) {
            st = tl_send_next_message(x, &wake, &failed);
            if (failed) {
                return tl_send_fail_oom();
            }
            if (st != SRC_OK) {
                break;
            }
            if (!frame_message(x)) {
                return tl_send_fail_oom();
            }
            if (o->rate) {
                break; /* paced: each message goes out when it is due */
            }
        }
        enum tl_rc w = tl_send_flush(x, &progress);
        bool blocked = w == TL_AGAIN;
        if (w == TL_E_IO) {
            /* The reason may be waiting to be read: an alert that rejects us. */
            char werr[sizeof(x->s->err)];
            memcpy(werr, x->s->err, sizeof(werr));
            if (drain_reads(x) == TL_E_IO && rejected_us(x)) {
                return tl_send_fail_connect(x, x->s->err);
            }
            return tl_send_fail_stream(x, werr);
        }
        if (w != TL_OK && w != TL_AGAIN) {
            return tl_send_fail_stream(x, "the server closed the connection");
        }
        trim_written(x);
        if (st == SRC_END && x->out.len == 0) {
            return close_stream(x);
        }
        if (!blocked && (st == SRC_OK || (st == SRC_WAIT_RATE && wake <= tl_now_ms()))) {
            continue; /* more to take from the source at once */
        }
        int64_t deadline = TL_CLI_NO_DEADLINE;
        if (blocked) {
            deadline = progress + o->timeout_ms;
        } else if (st == SRC_WAIT_RATE) {
            deadline = wake;
        }
        struct pollfd p[2];
        int n = tl_send_wait_stream(x, p, blocked, st == SRC_NEED_INPUT, deadline);
        if (n < 0 && errno != EINTR) {
            return tl_send_fail_stream(x, strerror(errno));
        }
        if (blocked && tl_now_ms() >= progress + o->timeout_ms) {
            char d[32];
            char why[200];
            snprintf(why, sizeof(why), "the server took no data for %s (it stopped reading)",
                     tl_cli_duration_text(o->timeout_ms, d, sizeof(d)));
            return tl_send_fail_stream(x, why);
        }
        if (n > 0 && (p[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
            enum tl_rc r = drain_reads(x);
            if (r == TL_EOF || r == TL_E_IO) {
                return r == TL_E_IO && rejected_us(x) ? tl_send_fail_connect(x, x->s->err)
                                                          : fail_closed(x, r);
            }
        }
        if (n > 0 && p[1].revents != 0 && !tl_send_read_stdin(&x->src)) {
            return tl_send_fail_stdin();
        }
    }
}

/* ---- udp ---------------------------------------------------------------------------------- */

/* Sends one datagram; returns 0, or an errno with a sentence in why. */
static int send_datagram(struct sender *x, char *why, size_t whylen)
{
    int64_t deadline = tl_now_ms() + x->o->timeout_ms;
    for (;;) {
        ssize_t w = send(x->udp_fd, x->one.data, x->one.len, 0);
        if (w >= 0) {
            x->n_written++;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (tl_cli_wait(x->udp_fd, POLLOUT, deadline) == 0) {
                snprintf(why, whylen, "the socket stayed full for %lld ms",
                         (long long)x->o->timeout_ms);
                return ETIMEDOUT;
            }
            continue;
        }
        int e = errno;
        if (e == ECONNREFUSED) {
            snprintf(why, whylen, "Connection refused: nothing listens on %s (udp: the host "
                                  "answered ICMP port unreachable)", x->target.text);
        } else if (e == EMSGSIZE) {
            snprintf(why, whylen, "a message of %zu bytes does not fit in one UDP datagram "
                                  "(use --transport tcp or tls for long messages)", x->one.len);
        } else {
            snprintf(why, whylen, "%s", strerror(e));
        }
        return e;
    }
}

static int run_udp(struct sender *x)
{
    const struct opts *o = x->o;
    struct tl_addr peer;
    struct tl_err cerr;
    char why[1024];
    x->udp_fd = tl_cli_connect(&x->target, SOCK_DGRAM, tl_now_ms() + o->timeout_ms, &peer, &cerr);
    if (x->udp_fd < 0) {
        return tl_send_fail_connect(x, tl_err_text(&cerr, why, sizeof(why)));
    }
    x->rate_start = tl_now_ms();
    for (;;) {
        int64_t wake = TL_CLI_NO_DEADLINE;
        bool failed = false;
        enum src_state st = tl_send_next_message(x, &wake, &failed);
        if (failed) {
            return tl_send_fail_oom();
        }
        if (st == SRC_OK) {
            int e = send_datagram(x, why, sizeof(why));
            if (e != 0) {
                return e == ECONNREFUSED || x->n_written == 0 ? tl_send_fail_connect(x, why)
                                                              : tl_send_fail_stream(x, why);
            }
            continue;
        }
        if (st == SRC_END) {
            break;
        }
        if (st == SRC_WAIT_RATE) {
            struct timespec ts;
            int left = tl_cli_ms_left(wake);
            ts.tv_sec = left / 1000;
            ts.tv_nsec = (long)(left % 1000) * 1000000L;
            nanosleep(&ts, NULL);
            continue;
        }
        /* SRC_NEED_INPUT: stdin may take its time. */
        if (tl_cli_wait(STDIN_FILENO, POLLIN, TL_CLI_NO_DEADLINE) != 0 &&
            !tl_send_read_stdin(&x->src)) {
            return tl_send_fail_stdin();
        }
    }
    /* On a connected UDP socket an ICMP port unreachable for an earlier datagram shows up
     * as ECONNREFUSED on the next call: give the last one a moment to be refused. */
    if (x->n_written > 0) {
        uint8_t b[16];
        tl_cli_wait(x->udp_fd, POLLIN, tl_now_ms() + UDP_REFUSAL_WAIT_MS);
        if (recv(x->udp_fd, b, sizeof(b), MSG_DONTWAIT) < 0 && errno == ECONNREFUSED) {
            snprintf(why, sizeof(why), "Connection refused: nothing listens on %s (udp: the "
                                       "host answered ICMP port unreachable)", x->target.text);
            return tl_send_fail_connect(x, why);
        }
    }
    return TL_CLI_OK;
}

/* ---- main --------------------------------------------------------------------------------- */

int tl_cli_send_main(int argc, char **argv)
{
    struct opts o;
    struct sender x;
    char why[200];

    /* A peer that closes while we write must be an error return (EPIPE), not a signal. */
    signal(SIGPIPE, SIG_IGN);
    memset(&o, 0, sizeof(o));
    o.transport = TL_TR_TLS;
    o.framing = -1;
    o.format = TL_FMT_RFC5424;
    o.facility = 1;
    o.severity = 5;
    o.tag = "tlslog";
    o.timeout_ms = DEFAULT_TIMEOUT_MS;
    int rc = tl_send_parse_opts(&o, argc, argv);
    memset(&x, 0, sizeof(x));
    x.o = &o;
    x.udp_fd = -1;
    x.tz_sec = INT64_MIN;
    uint16_t default_port = o.transport == TL_TR_TLS ? 6514 : o.transport == TL_TR_RELP ? 2514
                                                                                       : 514;
    struct tl_err e;
    if (rc < 0 && tl_cli_target_parse(o.server, default_port, &x.target, &e) != TL_OK) {
        rc = tl_cli_usage_error(PROG, "--server '%s': %s", o.server,
                                tl_err_text(&e, why, sizeof(why)));
    }
    if (rc >= 0) {
        free(o.peers);
        free(o.fps);
        return rc;
    }
    x.src.msgs = o.msgs;
    x.src.n_msgs = o.n_msgs;
    x.src.count = o.count;
    x.src.from_stdin = o.n_msgs == 0;
    tl_buf_init(&x.src.in, 0);
    tl_buf_init(&x.src.text, 0);
    tl_buf_init(&x.one, 0);
    tl_buf_init(&x.out, 0);

    tl_buf_init(&x.in, 0);

    switch (o.transport) {
    case TL_TR_UDP:
        rc = run_udp(&x);
        break;
    case TL_TR_RELP:
        rc = tl_send_run_relp(&x);
        break;
    default:
        rc = run_stream(&x);
        break;
    }

    tl_stream_free(x.s);
    if (x.udp_fd >= 0) {
        close(x.udp_fd);
    }
    tl_buf_fini(&x.src.in);
    tl_buf_fini(&x.src.text);
    tl_buf_fini(&x.one);
    tl_buf_fini(&x.out);
    tl_buf_fini(&x.in);
    free(x.ends);
    tl_cli_target_fini(&x.target);
    free(o.peers);
    free(o.fps);
    return rc;
}
