/*
 * stream.h: the one byte-stream interface every connection-oriented input and output uses.
 *
 * A tl_stream wraps one connected, non-blocking socket. Implementations: plain TCP
 * (tcp.c) and TLS (tls.c, next). Callers never know which one they hold: they call
 * tl_stream_read / tl_stream_write, and when a call says TL_AGAIN they ask
 * tl_stream_wants() which readiness (read, write, or both) to wait for in the event loop.
 * After a successful read they must also consume tl_stream_pending() bytes: data an
 * implementation already holds (TLS records decrypted ahead) is invisible to epoll.
 *
 * Errors: a call that returns TL_E_IO leaves a sentence in stream->err saying what went
 * wrong in operator terms; the owner logs it once, adding its own name and the peer.
 * A stream belongs to the thread whose loop watches its fd.
 */
#ifndef TL_TRANSPORT_STREAM_H
#define TL_TRANSPORT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/msg.h"

/* Results (core/err.h): TL_OK; TL_AGAIN: nothing can be done now, wait for tl_stream_wants();
 * TL_EOF: the peer closed the connection cleanly; TL_E_IO: see stream->err. */

enum {
    TL_WANT_READ = 1u << 0,
    TL_WANT_WRITE = 1u << 1,
};

struct tl_stream;

struct tl_stream_ops {
    const char *name;  /* "tcp", "tls" */
    /* Drives a handshake; TL_OK once done (plain TCP: at once). */
    enum tl_rc (*handshake)(struct tl_stream *s);
    enum tl_rc (*read)(struct tl_stream *s, void *buf, size_t len, size_t *nread);
    enum tl_rc (*write)(struct tl_stream *s, const void *buf, size_t len, size_t *nwritten);
    unsigned (*wants)(const struct tl_stream *s);
    size_t (*pending)(const struct tl_stream *s);
    /* Starts an orderly close (TLS close_notify); TL_AGAIN until it is done. */
    enum tl_rc (*shutdown)(struct tl_stream *s);
    /* Closes the fd and frees everything. */
    void (*free)(struct tl_stream *s);
    /* Bytes handed to the kernel so far (TLS: ciphertext, records included). With the
     * socket's unacknowledged count (tl_stream_unacked) this tells which writes the peer's
     * TCP has acknowledged. */
    uint64_t (*wire_written)(const struct tl_stream *s);
};

struct tl_stream {
    const struct tl_stream_ops *ops;
    int fd;
    struct tl_addr peer;
    char err[512];
};

static inline enum tl_rc tl_stream_handshake(struct tl_stream *s)
{
    return s->ops->handshake(s);
}
static inline enum tl_rc tl_stream_read(struct tl_stream *s, void *buf, size_t len, size_t *n)
{
    return s->ops->read(s, buf, len, n);
}
static inline enum tl_rc tl_stream_write(struct tl_stream *s, const void *buf, size_t len,
                                         size_t *n)
{
    return s->ops->write(s, buf, len, n);
}
static inline unsigned tl_stream_wants(const struct tl_stream *s)
{
    return s->ops->wants(s);
}
static inline size_t tl_stream_pending(const struct tl_stream *s)
{
    return s->ops->pending(s);
}
static inline enum tl_rc tl_stream_shutdown(struct tl_stream *s)
{
    return s->ops->shutdown(s);
}
static inline uint64_t tl_stream_wire_written(const struct tl_stream *s)
{
    return s->ops->wire_written(s);
}

/* Bytes written to the socket that the peer's TCP has not acknowledged yet (SIOCOUTQ). */
uint64_t tl_stream_unacked(const struct tl_stream *s);

/* True when the peer has closed or reset the connection (checked without reading):
 * detects a dead connection before writing to it. */
bool tl_stream_peer_gone(const struct tl_stream *s);

static inline void tl_stream_free(struct tl_stream *s)
{
    if (s) {
        s->ops->free(s);
    }
}

/* Plain TCP: takes ownership of fd (connected, non-blocking). NULL when out of memory (fd
 * is closed then). */
struct tl_stream *tl_stream_tcp_new(int fd, const struct tl_addr *peer);

#endif
