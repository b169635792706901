/*
 * buf.h: a growable byte buffer with a hard ceiling (like curl's dynbuf).
 *
 * Appends grow the buffer up to max bytes and fail beyond it, so a buffer can never eat
 * memory without bound. Not thread-safe: one owner at a time.
 */
#ifndef TL_CORE_BUF_H
#define TL_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tl_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;  /* hard ceiling on len; 0 means SIZE_MAX */
};

void tl_buf_init(struct tl_buf *b, size_t max);
void tl_buf_fini(struct tl_buf *b);

/* Makes room for at least n more bytes. Returns false (buffer unchanged) past max or
 * when out of memory. */
bool tl_buf_reserve(struct tl_buf *b, size_t n);

/* Appends; each returns false, leaving len unchanged, when the result would exceed max. */
bool tl_buf_append(struct tl_buf *b, const void *p, size_t n);
bool tl_buf_putc(struct tl_buf *b, uint8_t c);
bool tl_buf_puts(struct tl_buf *b, const char *s);
bool tl_buf_printf(struct tl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends the decimal form of v. */
bool tl_buf_put_u64(struct tl_buf *b, uint64_t v);

static inline void tl_buf_reset(struct tl_buf *b)
{
    b->len = 0;
}

/* Removes the first n bytes (n <= len). */
void tl_buf_consume(struct tl_buf *b, size_t n);

#endif
