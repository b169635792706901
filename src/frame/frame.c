/*
 * frame.c: RFC 6587 / RFC 5425 framing; see frame.h for the contract.
 *
 * The framer keeps almost no state between calls: a frame that is not complete yet is
 * parsed again from its first byte on the next call (an octet count is at most 11 bytes),
 * except that for LF framing f->scan remembers how far the search for the terminator got,
 * so a sender trickling a long line byte by byte costs O(n) rather than O(n^2).
 * The only state that must survive is "discard the rest of an oversized message"
 * (ST_SKIP_OCTET with f->skip, ST_SKIP_LF).
 *
 * Bound on what the caller has to keep (frame.h promises max_message_size + 12): a pending
 * octet frame is at most 10 digits + SP + (max - 1) bytes of body before it is either
 * complete or cut; a pending LF frame is at most max bytes plus one CR whose fate depends on
 * the next byte.
 */
#include "frame/frame.h"
#include "core/text.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

enum {
    ST_FRAME = 0,  /* between frames: the next byte that is not LF/CR/NUL starts one */
    ST_LF,         /* data[0] starts an LF frame; f->scan bytes hold no terminator */
    ST_SKIP_OCTET, /* discarding f->skip more bytes of an oversized octet-counted frame */
    ST_SKIP_LF,    /* discarding an oversized LF frame up to and including its LF or NUL */
};

/* RFC 5425 §4.3.1 sets no upper bound on MSG-LEN; anything above 2^31 is surely garbage,
 * and 10 digits are enough for it. */
#define MAX_COUNT_DIGITS 10
#define MAX_OCTET_COUNT ((uint64_t)1 << 31)

/* How much of the peer's bytes an error message quotes. */
#define SNIPPET_BYTES 16

int tl_framing_from_name(const char *name)
{
    if (name == NULL) {
        return -1;
    }
    if (strcmp(name, "auto") == 0) {
        return TL_FRAMING_AUTO;
    }
    if (strcmp(name, "octet-counted") == 0) {
        return TL_FRAMING_OCTET;
    }
    if (strcmp(name, "lf") == 0) {
        return TL_FRAMING_LF;
    }
    return -1;
}

const char *tl_framing_name(enum tl_framing f)
{
    switch (f) {
    case TL_FRAMING_AUTO:
        return "auto";
    case TL_FRAMING_OCTET:
        return "octet-counted";
    case TL_FRAMING_LF:
        return "lf";
    default:
        return "unknown";
    }
}

void tl_framer_init(struct tl_framer *f, enum tl_framing mode, size_t max_message_size)
{
    f->mode = mode;
    f->max = max_message_size;
    f->state = ST_FRAME;
    f->skip = 0;
    f->consumed = 0;
    f->scan = 0;
}

static void set_frame(struct tl_framer *f, struct tl_frame *fr, const uint8_t *p, size_t len)
{
    fr->p = p;
    fr->orig_len = len;
    fr->truncated = len > f->max;
    fr->len = fr->truncated ? f->max : len;
}

/*
 * An octet-counted frame starts at data[start] (a digit). RFC 5425 §4.3.1 and
 * RFC 6587 §3.4.1: MSG-LEN = NONZERO-DIGIT *DIGIT, then exactly one SP, then MSG-LEN bytes.
 * The count is checked byte by byte so an error is reported at the first bad byte,
 * whatever the chunking.
 */
static enum tl_rc octet_frame(struct tl_framer *f, const uint8_t *data, size_t len,
                                    size_t start, struct tl_frame *fr, size_t *used, struct tl_err *err,
                                    bool eof)
{
    const uint8_t *p = data + start;
    size_t avail = len - start;
    uint64_t offset = f->consumed + start;
    uint64_t count = 0;
    size_t i;
    char seen[SNIPPET_BYTES * 4 + 4];

    *used = start;
    for (i = 0; i < avail && p[i] != ' '; i++) {
        uint8_t c = p[i];
        if (c < '0' || c > '9') {
            tl_quote_bytes(seen, p, i + 1, SNIPPET_BYTES);
            TL_FAIL(err, TL_E_PROTO, "if the sender uses newline framing, set framing: lf",
                    "invalid octet count '%s' at stream offset %llu",
                    seen, (unsigned long long)offset);
        }
        if (i == 0 && c == '0') {
            /* Only reachable in TL_FRAMING_OCTET: AUTO sends a leading 0 to LF framing. */
            tl_quote_bytes(seen, p, 1, SNIPPET_BYTES);
            TL_FAIL(err, TL_E_PROTO, NULL,
                    "invalid octet count '%s' at stream offset %llu: MSG-LEN must start "
                    "with 1-9 (RFC 5425 section 4.3.1)",
                    seen, (unsigned long long)offset);
        }
        if (i >= MAX_COUNT_DIGITS) {
            tl_quote_bytes(seen, p, i + 1, SNIPPET_BYTES);
            TL_FAIL(err, TL_E_PROTO, NULL,
                    "invalid octet count '%s' at stream offset %llu: more than %d digits",
                    seen, (unsigned long long)offset, MAX_COUNT_DIGITS);
        }
        count = count * 10 + (uint64_t)(c - '0');
        if (count > MAX_OCTET_COUNT) {
            tl_quote_bytes(seen, p, i + 1, SNIPPET_BYTES);
            TL_FAIL(err, TL_E_PROTO, NULL,
                    "invalid octet count '%s' at stream offset %llu: larger than 2^31",
                    seen, (unsigned long long)offset);
        }
    }
    if (i == avail) {
        if (eof) {
            tl_quote_bytes(seen, p, avail, SNIPPET_BYTES);
            TL_FAIL(err, TL_E_PROTO, NULL,
                    "connection closed inside the octet count '%s' at stream offset %llu",
                    seen, (unsigned long long)offset);
        }
        return TL_AGAIN;
    }
    assert(i > 0);

    size_t hdr = i + 1;
    size_t body = avail - hdr;
    size_t msglen = (size_t)count;
    /* What must be present before anything can be returned: the whole message, or the
     * first max bytes of an oversized one. */
    size_t need = msglen <= f->max ? msglen : f->max;

    if (body < need) {
        if (eof) {
            TL_FAIL(err, TL_E_PROTO, NULL,
                    "connection closed inside an octet-counted frame: %zu of %zu bytes "
                    "received (frame at stream offset %llu)",
                    body, msglen, (unsigned long long)offset);
        }
        return TL_AGAIN;
    }
    set_frame(f, fr, p + hdr, msglen);
    if (!fr->truncated) {
        *used = start + hdr + msglen;
        return TL_OK;
    }
    /* Oversized: hand out the first max bytes now and drop the rest as it arrives, which
     * keeps the stream in sync without ever buffering more than max bytes. */
    size_t rest = msglen - f->max;
    size_t here = body - f->max;
    if (here > rest) {
        here = rest;
    }
    *used = start + hdr + f->max + here;
    f->skip = rest - here;
    f->state = f->skip > 0 ? ST_SKIP_OCTET : ST_FRAME;
    return TL_OK;
}

/*
 * Finds the end of an LF/NUL-terminated region in p[from..n): the index of the first LF
 * or NUL, or n if there is none. Two memchr passes beat one byte loop checking both.
 */
static size_t find_end(const uint8_t *p, size_t from, size_t n)
{
    if (from >= n) {
        return n;
    }
    const uint8_t *lf = memchr(p + from, '\n', n - from);
    size_t end = lf != NULL ? (size_t)(lf - p) : n;
    if (end > from) {
        const uint8_t *nul = memchr(p + from, '\0', end - from);
        if (nul != NULL) {
            end = (size_t)(nul - p);
        }
    }
    return end;
}

/*
 * A non-transparent frame starts at data[start] (RFC 6587 §3.4.2): it ends at LF, or at
 * NUL as some old senders use; a CR right before the LF belongs to a CRLF line end and is
 * dropped.
 */
static enum tl_rc lf_frame(struct tl_framer *f, const uint8_t *data, size_t len,
                                 size_t start, struct tl_frame *fr, size_t *used, bool eof)
{
    const uint8_t *p = data + start;
    size_t avail = len - start;
    size_t from = f->state == ST_LF ? f->scan : 0;
    size_t end = find_end(p, from, avail);

    if (end < avail) {
        size_t n = end;
        if (p[end] == '\n' && n > 0 && p[n - 1] == '\r') {
            n--;
        }
        f->state = ST_FRAME;
        f->scan = 0;
        set_frame(f, fr, p, n);
        *used = start + end + 1;
        return TL_OK;
    }

    /* No terminator yet. A trailing CR may still turn out to be half of a CRLF, so it
     * does not count toward the length; at end of stream it is dropped all the same. */
    size_t n = avail;
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    if (eof || n > f->max) {
        f->scan = 0;
        if (n == 0) {
            f->state = ST_FRAME;
            *used = len;
            return TL_AGAIN;
        }
        set_frame(f, fr, p, n);
        *used = len;
        /* Cut before the end: what remains of the line is discarded up to its LF. */
        f->state = eof ? ST_FRAME : ST_SKIP_LF;
        return TL_OK;
    }
    f->state = ST_LF;
    f->scan = avail;
    *used = start;
    return TL_AGAIN;
}

static enum tl_rc frame_one(struct tl_framer *f, const uint8_t *data, size_t len,
                                  struct tl_frame *fr, size_t *used, struct tl_err *err,
                                  bool eof)
{
    size_t pos = 0;

    if (f->state == ST_SKIP_OCTET) {
        uint64_t n = len;
        if (n > f->skip) {
            n = f->skip;
        }
        pos = (size_t)n;
        f->skip -= n;
        if (f->skip > 0) {
            *used = pos;
            return TL_AGAIN;
        }
        f->state = ST_FRAME;
    } else if (f->state == ST_SKIP_LF) {
        pos = find_end(data, 0, len);
        if (pos == len) {
            *used = len;
            return TL_AGAIN;
        }
        pos++;
        f->state = ST_FRAME;
    } else if (f->state == ST_LF) {
        if (len == 0) {
            *used = 0;
            return TL_AGAIN;
        }
        return lf_frame(f, data, len, 0, fr, used, eof);
    }

    /* RFC 6587 §3.4.2 senders end frames with LF, CRLF or NUL; whatever of those is left
     * between frames (and empty lines) is not a message. */
    while (pos < len && (data[pos] == '\n' || data[pos] == '\r' || data[pos] == '\0')) {
        pos++;
    }
    if (pos == len) {
        *used = len;
        return TL_AGAIN;
    }

    uint8_t c = data[pos];
    if (f->mode == TL_FRAMING_LF) {
        return lf_frame(f, data, len, pos, fr, used, eof);
    }
    if (c >= '1' && c <= '9') {
        return octet_frame(f, data, len, pos, fr, used, err, eof);
    }
    if (f->mode != TL_FRAMING_OCTET) {
        return lf_frame(f, data, len, pos, fr, used, eof);
    }
    *used = pos;
    if (c == '0') {
        return octet_frame(f, data, len, pos, fr, used, err, eof);
    }
    char seen[SNIPPET_BYTES * 4 + 4];
    tl_quote_bytes(seen, data + pos, len - pos, SNIPPET_BYTES);
    TL_FAIL(err, TL_E_PROTO, "if the sender uses newline framing, set framing: lf or auto",
            "expected an octet count, got '%s' at stream offset %llu",
            seen, (unsigned long long)(f->consumed + pos));
}

enum tl_rc tl_framer_next(struct tl_framer *f, const uint8_t *data, size_t len,
                          struct tl_frame *frame, size_t *used, struct tl_err *err)
{
    *used = 0;
    enum tl_rc rc = frame_one(f, data, len, frame, used, err, false);
    assert(*used <= len);
    f->consumed += *used;
    return rc;
}

enum tl_rc tl_framer_finish(struct tl_framer *f, const uint8_t *data, size_t len,
                            struct tl_frame *frame, struct tl_err *err)
{
    size_t used = 0;
    enum tl_rc rc = frame_one(f, data, len, frame, &used, err, true);
    f->consumed += used;
    return rc;
}

/* Number of decimal digits of v (v > 0). */
static size_t digits(size_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/*
 * An empty message cannot be framed: RFC 5425 §4.3.1 makes MSG-LEN a NONZERO-DIGIT run,
 * and an empty line is skipped by every receiver. Both encoders append nothing for it and
 * report success, so a caller that waits on false for room never waits forever.
 */
bool tl_frame_encode_octet(struct tl_buf *out, const uint8_t *msg, size_t len)
{
    if (len == 0) {
        return true;
    }
    size_t nd = digits(len);
    if (len > SIZE_MAX - nd - 1 || !tl_buf_reserve(out, nd + 1 + len)) {
        return false;
    }
    uint8_t *w = out->data + out->len;
    size_t v = len;
    for (size_t i = nd; i > 0; i--) {
        w[i - 1] = (uint8_t)('0' + v % 10);
        v /= 10;
    }
    w[nd] = ' ';
    memcpy(w + nd + 1, msg, len);
    out->len += nd + 1 + len;
    return true;
}

bool tl_frame_encode_lf(struct tl_buf *out, const uint8_t *msg, size_t len)
{
    if (len == 0) {
        return true;
    }
    if (len == SIZE_MAX || !tl_buf_reserve(out, len + 1)) {
        return false;
    }
    uint8_t *w = out->data + out->len;
    memcpy(w, msg, len);
    w[len] = '\n';
    out->len += len + 1;
    return true;
}
