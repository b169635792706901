/*
 * text.h: small text helpers shared by the layers that quote what a peer sent.
 */
#ifndef TL_CORE_TEXT_H
#define TL_CORE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Quotes peer bytes for an error message, so it stays one readable line: printable ASCII as
 * is, anything else (and the backslash and the quote) as \xNN; at most max bytes are shown,
 * then "...". out must hold max * 4 + 4 bytes; it is always NUL-terminated.
 */
void tl_quote_bytes(char *out, const uint8_t *p, size_t n, size_t max);

#endif
