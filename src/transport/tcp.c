/* Plain TCP implementation of the stream interface. */
#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/stream.h"

struct tcp_stream {
    struct tl_stream base;
    unsigned wants;
    uint64_t written;
};

static enum tl_rc tcp_handshake(struct tl_stream *s)
{
    (void)s;
    return TL_OK;
}

static enum tl_rc tcp_read(struct tl_stream *s, void *buf, size_t len, size_t *nread)
{
    struct tcp_stream *t = (struct tcp_stream *)s;
    *nread = 0;
    for (;;) {
        ssize_t r = recv(s->fd, buf, len, 0);
        if (r > 0) {
            *nread = (size_t)r;
            return TL_OK;
        }
        if (r == 0) {
            return TL_EOF;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            t->wants = TL_WANT_READ;
            return TL_AGAIN;
        }
        snprintf(s->err, sizeof(s->err), "read failed: %s", strerror(errno));
        return TL_E_IO;
    }
}

static enum tl_rc tcp_write(struct tl_stream *s, const void *buf, size_t len, size_t *nwritten)
{
    struct tcp_stream *t = (struct tcp_stream *)s;
    *nwritten = 0;
    for (;;) {
        ssize_t w = send(s->fd, buf, len, MSG_NOSIGNAL);
        if (w >= 0) {
            *nwritten = (size_t)w;
            t->written += (uint64_t)w;
            return TL_OK;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            t->wants = TL_WANT_WRITE;
            return TL_AGAIN;
        }
        snprintf(s->err, sizeof(s->err), "write failed: %s", strerror(errno));
        return TL_E_IO;
    }
}

static unsigned tcp_wants(const struct tl_stream *s)
{
    return ((const struct tcp_stream *)s)->wants;
}

static size_t tcp_pending(const struct tl_stream *s)
{
    (void)s;
    return 0;
}

static enum tl_rc tcp_shutdown(struct tl_stream *s)
{
    shutdown(s->fd, SHUT_WR);
    return TL_OK;
}

static void tcp_free(struct tl_stream *s)
{
    if (s->fd >= 0) {
        close(s->fd);
    }
    free(s);
}

static uint64_t tcp_wire_written(const struct tl_stream *s)
{
    return ((const struct tcp_stream *)s)->written;
}

uint64_t tl_stream_unacked(const struct tl_stream *s)
{
    int n = 0;
    if (ioctl(s->fd, SIOCOUTQ, &n) < 0 || n < 0) {
        return 0;
    }
    return (uint64_t)n;
}

bool tl_stream_peer_gone(const struct tl_stream *s)
{
    struct pollfd p = {.fd = s->fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) {
        return false;
    }
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static const struct tl_stream_ops tcp_ops = {
    .name = "tcp",
    .handshake = tcp_handshake,
    .read = tcp_read,
    .write = tcp_write,
    .wants = tcp_wants,
    .pending = tcp_pending,
    .shutdown = tcp_shutdown,
    .free = tcp_free,
    .wire_written = tcp_wire_written,
};

struct tl_stream *tl_stream_tcp_new(int fd, const struct tl_addr *peer)
{
    struct tcp_stream *t = calloc(1, sizeof(*t));
    if (!t) {
        close(fd);
        return NULL;
    }
    t->base.ops = &tcp_ops;
    t->base.fd = fd;
    if (peer) {
        t->base.peer = *peer;
    }
    t->wants = TL_WANT_READ;
    return &t->base;
}
