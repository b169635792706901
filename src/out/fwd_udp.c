/*
 * fwd_udp.c: syslog over UDP (RFC 5426): one message per datagram, as formatted. UDP gives
 * no delivery guarantee: a datagram the kernel took is as far as a message can be followed,
 * so it leaves the window at once.
 */
#include <errno.h>
#include <sys/socket.h>

#include "out/fwd.h"

static bool udp_frame(struct fwd *f, const uint8_t *msg, size_t len)
{
    return tl_buf_append(&f->win.buf, msg, len);
}

static enum tl_rc udp_send(struct fwd *f)
{
    struct fwd_window *w = &f->win;
    if (w->buf.len == w->sent) {
        return TL_AGAIN;
    }
    size_t start = 0;
    size_t i = 0;
    for (; i < w->n_fr; i++) {
        ssize_t n = send(f->c.fd, w->buf.data + start, w->fr[i].end - start, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (n < 0 && errno != ECONNREFUSED) {
            atomic_fetch_add(&f->out->stats.write_errors, 1);
        }
        /* An ICMP refusal is counted and the message is gone, as with any UDP syslog
         * sender. */
        if (n < 0) {
            atomic_fetch_add(&f->out->stats.dropped, 1);
        }
        start = w->fr[i].end;
    }
    fwd_handed(f, i);
    fwd_release(f, i, false);
    return w->n_fr ? TL_AGAIN : TL_OK;
}

/* ICMP port unreachable surfaces as a read error on a connected UDP socket: read them all. */
static void udp_readable(struct fwd *f)
{
    uint8_t b[512];
    while (recv(f->c.fd, b, sizeof(b), MSG_DONTWAIT) >= 0 || errno == ECONNREFUSED) {
    }
}

const struct fwd_proto fwd_udp = {
    .name = "udp",
    .datagram = true,
    .frame = udp_frame,
    .send = udp_send,
    .wants_write = fwd_has_unsent,
    .on_readable = udp_readable,
};
