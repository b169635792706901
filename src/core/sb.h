/*
 * sb.h: a bounded text builder for messages: appends into a caller's buffer, always
 * NUL-terminated, and remembers whether anything was cut so that the result can end in
 * "..." instead of silently losing its tail. No allocation; one owner at a time.
 */
#ifndef TL_CORE_SB_H
#define TL_CORE_SB_H

#include <stdbool.h>
#include <stddef.h>

struct tl_sb {
    char *out;
    size_t cap;
    size_t len;
    bool cut;
};

void tl_sb_init(struct tl_sb *b, char *out, size_t cap);
void tl_sb_putn(struct tl_sb *b, const char *s, size_t n);
void tl_sb_puts(struct tl_sb *b, const char *s);
void tl_sb_printf(struct tl_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes n bytes a peer or a config file chose: printable ASCII as is, the rest as \xNN. */
void tl_sb_put_escaped_n(struct tl_sb *b, const char *s, size_t n);
void tl_sb_put_escaped(struct tl_sb *b, const char *s);
/* Ends the text ("..." when something was cut); returns its length. */
size_t tl_sb_done(struct tl_sb *b);

#endif
