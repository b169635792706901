/*
 * fwd_window.h: the forward output's acknowledgement window: the messages it framed for the
 * wire, oldest first, kept from the moment they are framed until the receiver has them.
 *
 * One buffer holds the framed bytes; one record per message (struct fwd_frame) says where it
 * ends in the buffer, where on the wire its last byte went, whether it came from the spool and
 * its number in the output's queue. The frames are in two parts: the first n_marked were
 * handed to the transport (their bytes, up to sent, are written or encoded), the rest wait
 * for their turn. Releasing forgets a prefix of the handed ones (acknowledged, or given up);
 * rewinding, after a connection broke, makes every frame wait again, from its first byte.
 *
 * Pure bookkeeping: no I/O, no counters. The forward output's thread owns it; fwd.h has the
 * glue to the connection, the counters and the spool.
 */
#ifndef TL_OUT_FWD_WINDOW_H
#define TL_OUT_FWD_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define FWD_FILL_BYTES (256 * 1024)   /* unsent bytes framed ahead of the socket */
#define FWD_HOLD_BYTES (32u << 20)    /* framed bytes held for a resend, at most */

struct fwd_frame {
    size_t end;          /* end offset in buf */
    uint64_t wire_end;   /* stream bytes written once its last byte went out; 0: not handed */
    bool disk;           /* read from the spool (acknowledged there when released) */
    uint64_t seq;        /* without a spool: its number in the output's queue (load
                          * balancing with a spool: its read number, fwd_lb.c) */
    uint64_t key;        /* load balancing: its hash key, to find its next lane */
};

struct fwd_window {
    struct tl_buf buf;   /* framed messages, oldest first */
    size_t sent;         /* bytes of buf handed to the transport */
    struct fwd_frame *fr;
    size_t n_fr;
    size_t cap_fr;
    size_t n_marked;     /* frames whose last byte was handed to the transport */
    size_t max_frames;   /* frames held at most (RELP: its window); SIZE_MAX: no limit */
    size_t max_bytes;    /* bytes held at most (FWD_HOLD_BYTES unless the protocol says) */
};

void fwd_window_init(struct fwd_window *w);
void fwd_window_fini(struct fwd_window *w);

/* Room for one more message: fewer than max_frames held, fewer than FWD_FILL_BYTES unsent and
 * fewer than max_bytes held. */
bool fwd_window_room(const struct fwd_window *w);

/* How many more frames max_frames allows. */
static inline size_t fwd_window_free_frames(const struct fwd_window *w)
{
    return w->max_frames - w->n_fr;
}

/* Framing one message: reserve a record (false: out of memory), append its framed bytes to
 * buf, then push: what buf gained since the last frame is that message. Inline: once per
 * message. */
bool fwd_window_grow(struct fwd_window *w);

static inline bool fwd_window_reserve(struct fwd_window *w)
{
    return w->n_fr < w->cap_fr || fwd_window_grow(w);
}

static inline void fwd_window_push(struct fwd_window *w, bool disk, uint64_t seq)
{
    struct fwd_frame *fr = &w->fr[w->n_fr++];
    fr->end = w->buf.len;
    fr->wire_end = 0;
    fr->disk = disk;
    fr->seq = seq;
}

/* A stream wrote the bytes up to sent: the frames that end there are marked with the stream's
 * wire position wire (bytes written in all; 0 counts as 1). Returns how many were newly
 * marked. */
size_t fwd_window_mark(struct fwd_window *w, uint64_t wire);

/* The next n whole frames were handed to the transport (datagrams sent, RELP frames
 * encoded): sent moves to the end of the last of them. */
void fwd_window_handed(struct fwd_window *w, size_t n);

/* How many frames, from the first, lie before wire position acked (and can be released). */
size_t fwd_window_acked(const struct fwd_window *w, uint64_t acked);

/* Forgets the first n frames (capped at the frames held); returns how many of them came from
 * the spool. */
size_t fwd_window_release(struct fwd_window *w, size_t n);

/* The connection broke: every frame waits again, from its first byte. Returns how many had
 * been handed to the transport (they go out again and may be duplicates). */
size_t fwd_window_rewind(struct fwd_window *w);

/* Forgets every frame (they are in the spool still, or given up). */
void fwd_window_clear(struct fwd_window *w);

#endif
