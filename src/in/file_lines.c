/* file_lines.c: see file_lines.h. */
#include "in/file_lines.h"

#include <string.h>

static enum tl_lines_rc give(struct tl_line_msg *out, size_t len, size_t consumed, bool deliver,
                             bool truncated)
{
    out->len = len;
    out->consumed = consumed;
    out->deliver = deliver;
    out->truncated = truncated;
    return TL_LINES_MSG;
}

/* The rest of a message that was cut: up to the end of the cut line, then (multiline) the
 * lines up to the next start line. Sets *consumed to what it dropped. */
static void skip_rest(struct tl_lines *l, const uint8_t *p, size_t n, bool flush,
                      size_t *consumed)
{
    size_t i = 0;

    if (l->skip == TL_LINES_SKIP_LINE) {
        const uint8_t *nl = memchr(p, '\n', n);

        if (nl == NULL) {
            *consumed = n;
            if (flush) {
                l->skip = TL_LINES_SKIP_NONE;
            }
            return;
        }
        i = (size_t)(nl - p) + 1;
        l->skip = l->is_start != NULL ? TL_LINES_SKIP_CONT : TL_LINES_SKIP_NONE;
    }
    while (l->skip == TL_LINES_SKIP_CONT && i < n) {
        const uint8_t *nl = memchr(p + i, '\n', n - i);

        if (nl == NULL) {
            if (flush) {
                l->skip = TL_LINES_SKIP_NONE; /* the partial line is a message of its own */
            } else if (n - i > l->max) {
                /* Too long to be told apart: a continuation (or a start) line longer than a
                 * message may be; drop it with the rest. */
                i = n;
                l->skip = TL_LINES_SKIP_LINE;
            }
            break;
        }
        size_t len = (size_t)(nl - (p + i));
        if (l->is_start(l->ctx, p + i, len)) {
            l->skip = TL_LINES_SKIP_NONE;
            break;
        }
        i += len + 1;
    }
    if (flush && l->skip == TL_LINES_SKIP_CONT) {
        l->skip = TL_LINES_SKIP_NONE;
    }
    *consumed = i;
}

static enum tl_lines_rc single(struct tl_lines *l, const uint8_t *p, size_t n, bool flush,
                               struct tl_line_msg *out)
{
    size_t lim = n <= l->max ? n : l->max + 1;
    const uint8_t *nl = memchr(p, '\n', lim);

    if (nl != NULL) {
        return give(out, (size_t)(nl - p), (size_t)(nl - p) + 1, true, false);
    }
    if (n > l->max) {
        l->skip = TL_LINES_SKIP_LINE;
        return give(out, l->max, l->max, true, true);
    }
    if (flush) {
        return give(out, n, n, true, false);
    }
    return TL_LINES_MORE;
}

/* Everything there is one message (flush): without its final newline, cut to max. */
static enum tl_lines_rc all(struct tl_lines *l, size_t n, const uint8_t *p,
                            struct tl_line_msg *out)
{
    size_t len = p[n - 1] == '\n' ? n - 1 : n;

    if (len > l->max) {
        return give(out, l->max, n, true, true);
    }
    return give(out, len, n, true, false);
}

static enum tl_lines_rc multi(struct tl_lines *l, const uint8_t *p, size_t n, bool flush,
                              struct tl_line_msg *out)
{
    const uint8_t *nl = memchr(p, '\n', n);

    if (nl == NULL) {
        if (n > l->max) {
            l->skip = TL_LINES_SKIP_LINE;
            return give(out, l->max, l->max, true, true);
        }
        return flush ? all(l, n, p, out) : TL_LINES_MORE;
    }
    /* p[0..i) are complete lines of this message, i its next line's first byte. */
    size_t i = (size_t)(nl - p) + 1;
    while (i < n && i - 1 <= l->max) {
        const uint8_t *e = memchr(p + i, '\n', n - i);

        if (e == NULL && !flush) {
            break;
        }
        /* At a flush the unfinished last line is taken as it is. */
        size_t len = e != NULL ? (size_t)(e - (p + i)) : n - i;
        if (l->is_start(l->ctx, p + i, len)) {
            return i - 1 > l->max ? give(out, l->max, i, true, true)
                                  : give(out, i - 1, i, true, false);
        }
        if (e == NULL) {
            break;
        }
        i += len + 1;
    }
    if (i - 1 > l->max) {
        /* Already too long, and its end not in sight: cut, and skip its other lines. */
        l->skip = TL_LINES_SKIP_CONT;
        return give(out, l->max, i, true, true);
    }
    if (flush) {
        return all(l, n, p, out);
    }
    if (n - i > l->max) {
        /* The unfinished line after them is longer than a message may be, whatever it turns
         * out to be: send the complete lines, and that line (cut) is the next message. */
        return give(out, i - 1, i, true, false);
    }
    return TL_LINES_MORE;
}

enum tl_lines_rc tl_lines_next(struct tl_lines *l, const uint8_t *p, size_t n, bool flush,
                               struct tl_line_msg *out)
{
    memset(out, 0, sizeof(*out));
    if (l->skip != TL_LINES_SKIP_NONE) {
        size_t dropped = 0;

        skip_rest(l, p, n, flush, &dropped);
        if (dropped > 0) {
            return give(out, 0, dropped, false, false);
        }
        if (l->skip != TL_LINES_SKIP_NONE) {
            return TL_LINES_MORE;
        }
    }
    if (n == 0) {
        return TL_LINES_MORE;
    }
    return l->is_start == NULL ? single(l, p, n, flush, out) : multi(l, p, n, flush, out);
}
