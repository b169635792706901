/*
 * frame.h: RFC 6587 / RFC 5425 framing of a byte stream into syslog messages.
 *
 * The decoder is a pure, incremental state machine: the caller owns the bytes (one read
 * buffer per connection) and hands the framer whatever it has not consumed yet; frames are
 * returned as pointers into those bytes, so nothing is copied. One decoder per connection;
 * not thread-safe.
 *
 * Framing is detected per frame in TL_FRAMING_AUTO: a frame starting with a digit 1-9 is
 * octet-counted ("MSG-LEN SP MSG"); anything else is non-transparent, ended by LF (a CR
 * before it is dropped) or NUL. LF, CR and NUL bytes between frames are skipped.
 *
 * max_message_size: a longer message is cut to max bytes and returned with truncated set
 * (orig_len tells the size it claimed or, for LF framing, at least how long it was); the
 * rest of it is skipped and the stream stays in sync.
 */
#ifndef TL_FRAME_FRAME_H
#define TL_FRAME_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/buf.h"

enum tl_framing {
    TL_FRAMING_AUTO = 0,
    TL_FRAMING_OCTET, /* octet-counted only: a frame not starting with a digit is an error */
    TL_FRAMING_LF,    /* non-transparent only: digits are just message text */
};

/* tl_framer_next's results (core/err.h): TL_OK: *frame holds one message; TL_AGAIN: need
 * more bytes, data[*used..len) must be kept and presented again; TL_E_PROTO: the stream is
 * broken (bad octet count): close the connection. */

struct tl_frame {
    const uint8_t *p;  /* points into the caller's data */
    size_t len;        /* <= max_message_size */
    bool truncated;
    size_t orig_len;   /* with truncated: the length the sender claimed (octet counting) or
                          the length seen before giving up (LF framing, a lower bound) */
};

struct tl_framer {
    enum tl_framing mode;
    size_t max;        /* max_message_size */
    int state;         /* internal */
    uint64_t skip;     /* bytes still to discard from an oversized octet-counted frame */
    uint64_t consumed; /* total bytes consumed, for error messages */
    size_t scan;       /* internal: bytes of a pending LF frame already searched for its end */
};

/* Parses "auto" / "octet-counted" / "lf"; returns -1 when unknown. */
int tl_framing_from_name(const char *name);
const char *tl_framing_name(enum tl_framing f);

void tl_framer_init(struct tl_framer *f, enum tl_framing mode, size_t max_message_size);

/*
 * Finds the next frame in data[0..len). *used is always set to the number of bytes the
 * caller may drop from the front (a frame, its header and trailer, skipped bytes).
 * TL_OK: *frame points into data (valid until the caller drops or moves the bytes).
 * TL_AGAIN: keep data[*used..len), append more, call again. The framer never needs
 *   more than max_message_size + 12 unconsumed bytes to make progress.
 * TL_E_PROTO: err (may be NULL) says what is wrong, e.g.
 *   "invalid octet count 'abc' at stream offset 1234", with a remedy where there is one.
 */
enum tl_rc tl_framer_next(struct tl_framer *f, const uint8_t *data, size_t len,
                          struct tl_frame *frame, size_t *used, struct tl_err *err);

/*
 * At end of stream with data[0..len) left over: an unterminated LF frame is returned as
 * TL_OK (a sender may omit the last LF). A partial octet-counted frame is
 * TL_E_PROTO with a message naming how many bytes were missing; nothing left is
 * TL_AGAIN.
 */
enum tl_rc tl_framer_finish(struct tl_framer *f, const uint8_t *data, size_t len,
                            struct tl_frame *frame, struct tl_err *err);

/* Encoders: append one message framed for the wire. */
bool tl_frame_encode_octet(struct tl_buf *out, const uint8_t *msg, size_t len);
bool tl_frame_encode_lf(struct tl_buf *out, const uint8_t *msg, size_t len);

#endif
