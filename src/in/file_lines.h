/*
 * file_lines.h: the file input's message splitter, pure (no I/O, no allocation): finds the
 * next message at the front of the bytes read from a file and not yet delivered.
 *
 * Lines end with '\n' (not part of the message). Without multiline every line is a message.
 * With multiline (is_start set) a message is a line that starts one plus the lines after it
 * that do not, joined by their '\n'; it is complete once the next start line is complete,
 * so the last message of a file waits (see flush). A line (or a multiline message) longer
 * than max is cut to its first max bytes, marked truncated, and the rest of it is skipped.
 *
 * flush says that no more bytes are coming for now (the partial timeout passed, or a
 * rotated file is finished): what is there is the last message, even without its newline;
 * bytes written after it start a new message.
 *
 * The caller keeps the bytes p[0..n) between calls, drops out->consumed bytes from the front
 * after each TL_LINES_MSG (delivering p[0..out->len) when out->deliver), and calls again
 * until TL_LINES_MORE. Whenever n > 2 * max + 1 a call makes progress, so a buffer of
 * 2 * max + 2 bytes or more never stalls.
 */
#ifndef TL_IN_FILE_LINES_H
#define TL_IN_FILE_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tl_lines_skip {
    TL_LINES_SKIP_NONE = 0,
    TL_LINES_SKIP_LINE, /* the rest of a line that was cut */
    TL_LINES_SKIP_CONT, /* multiline: continuation lines of a message that was cut */
};

struct tl_lines {
    size_t max;  /* max_message_size */
    /* Multiline: whether the complete line p[0..len) starts a message; NULL: every line is
     * a message. */
    bool (*is_start)(void *ctx, const uint8_t *line, size_t len);
    void *ctx;
    enum tl_lines_skip skip;
};

struct tl_line_msg {
    size_t len;       /* the message is p[0..len) */
    size_t consumed;  /* bytes to drop from the front, the message and its newline included */
    bool deliver;     /* false: the consumed bytes were the rest of a cut message */
    bool truncated;   /* the message was cut to max bytes */
};

enum tl_lines_rc {
    TL_LINES_MORE = 0, /* no complete message: wait for more bytes (or flush) */
    TL_LINES_MSG,      /* *out says what to deliver and drop */
};

enum tl_lines_rc tl_lines_next(struct tl_lines *l, const uint8_t *p, size_t n, bool flush,
                               struct tl_line_msg *out);

#endif
