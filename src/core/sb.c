/* sb.c: the bounded text builder of sb.h. */
#include "core/sb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tl_sb_init(struct tl_sb *b, char *out, size_t cap)
{
    b->out = out;
    b->cap = cap;
    b->len = 0;
    b->cut = false;
    if (cap > 0) {
        out[0] = '\0';
    }
}

void tl_sb_putn(struct tl_sb *b, const char *s, size_t n)
{
    if (b->cap == 0) {
        b->cut = b->cut || n > 0;
        return;
    }
    size_t room = b->cap - 1 - b->len;
    if (n > room) {
        n = room;
        b->cut = true;
    }
    memcpy(b->out + b->len, s, n);
    b->len += n;
    b->out[b->len] = '\0';
}

void tl_sb_puts(struct tl_sb *b, const char *s)
{
    tl_sb_putn(b, s, strlen(s));
}


void tl_sb_printf(struct tl_sb *b, const char *fmt, ...)
{
    if (b->cap == 0) {
        b->cut = true;
        return;
    }
    size_t room = b->cap - b->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->out + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->out[b->len] = '\0';
        return;
    }
    if ((size_t)n >= room) {
        b->len = b->cap - 1;
        b->cut = true;
    } else {
        b->len += (size_t)n;
    }
}

/* Writes n bytes a peer or a config file chose: printable ASCII as is, the rest as \xNN. */
void tl_sb_put_escaped_n(struct tl_sb *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) {
            tl_sb_putn(b, s + i, 1);
        } else {
            tl_sb_printf(b, "\\x%02X", c);
        }
    }
}

void tl_sb_put_escaped(struct tl_sb *b, const char *s)
{
    tl_sb_put_escaped_n(b, s, strlen(s));
}

size_t tl_sb_done(struct tl_sb *b)
{
    if (b->cut && b->cap >= 4) {
        memcpy(b->out + b->cap - 4, "...", 4);
        b->len = b->cap - 1;
    }
    return b->len;
}
