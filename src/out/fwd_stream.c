/*
 * fwd_stream.c: syslog over a byte stream, TCP (RFC 6587) or TLS (RFC 5425), octet-counted
 * or one message per line. Several messages go out per write (and so per TLS record). The
 * receiver sends nothing: what it acknowledges is its TCP's acknowledgement of our bytes
 * (fwd_window.c), and reading is only for EOF, errors and TLS housekeeping.
 */
#include <string.h>

#include "frame/frame.h"
#include "out/fwd.h"

static bool frame_octet(struct fwd *f, const uint8_t *msg, size_t len)
{
    return tl_frame_encode_octet(&f->win.buf, msg, len);
}

static bool frame_lf(struct fwd *f, const uint8_t *msg, size_t len)
{
    struct tl_buf *b = &f->win.buf;
    size_t at = b->len;
    if (!tl_frame_encode_lf(b, msg, len)) {
        return false;
    }
    /* LF framing cannot carry an LF inside a message: it would split it. */
    uint8_t *p = len ? memchr(b->data + at, '\n', len) : NULL;
    for (; p; p = memchr(p, '\n', (size_t)(b->data + at + len - p))) {
        *p++ = ' ';
    }
    return true;
}

static enum tl_rc stream_send(struct fwd *f)
{
    struct fwd_window *w = &f->win;
    if (w->buf.len == w->sent) {
        return TL_AGAIN;
    }
    size_t n = 0;
    enum tl_rc rc = fwd_conn_write(f, w->buf.data + w->sent, w->buf.len - w->sent, &n);
    if (rc == TL_OK) {
        w->sent += n;
        fwd_after_write(f);
    }
    return rc;
}

static void stream_readable(struct fwd *f)
{
    fwd_conn_read(f, NULL);
}

const struct fwd_proto fwd_stream_octet = {
    .name = "octet-counted stream",
    .frame = frame_octet,
    .send = stream_send,
    .wants_write = fwd_has_unsent,
    .on_readable = stream_readable,
};

const struct fwd_proto fwd_stream_lf = {
    .name = "LF-framed stream",
    .frame = frame_lf,
    .send = stream_send,
    .wants_write = fwd_has_unsent,
    .on_readable = stream_readable,
};
