#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tl_buf_init(struct tl_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX;
}

void tl_buf_fini(struct tl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

bool tl_buf_reserve(struct tl_buf *b, size_t n)
{
    if (n > b->max - b->len) {
        return false;
    }
    size_t need = b->len + n;
    if (need <= b->cap) {
        return true;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    if (cap > b->max) {
        cap = b->max;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

bool tl_buf_append(struct tl_buf *b, const void *p, size_t n)
{
    if (n == 0) {
        return true;
    }
    if (!tl_buf_reserve(b, n)) {
        return false;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

bool tl_buf_putc(struct tl_buf *b, uint8_t c)
{
    if (b->len < b->cap) {
        b->data[b->len++] = c;
        return true;
    }
    return tl_buf_append(b, &c, 1);
}

bool tl_buf_puts(struct tl_buf *b, const char *s)
{
    return tl_buf_append(b, s, strlen(s));
}

bool tl_buf_printf(struct tl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return false;
    }
    if ((size_t)n < sizeof(small)) {
        return tl_buf_append(b, small, (size_t)n);
    }
    if (!tl_buf_reserve(b, (size_t)n + 1)) {
        return false;
    }
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return true;
}

bool tl_buf_put_u64(struct tl_buf *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return tl_buf_append(b, tmp + i, sizeof(tmp) - i);
}

void tl_buf_consume(struct tl_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
