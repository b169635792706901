/*
 * text.h: small text helpers shared by the layers that quote what a peer sent.
 */
#ifndef TL_CORE_TEXT_H
#define TL_CORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Quotes peer bytes for an error message, so it stays one readable line: printable ASCII as
 * is, anything else (and the backslash and the quote) as \xNN; at most max bytes are shown,
 * then "...". out must hold max * 4 + 4 bytes; it is always NUL-terminated.
 */
void tl_quote_bytes(char *out, const uint8_t *p, size_t n, size_t max);

/*
 * Shows text a person wrote (a configuration value) in an error message: at most TL_SHOW_MAX
 * bytes, control bytes as \xNN, other bytes (UTF-8 included) as they are, then "..." when it
 * was cut. out holds cap bytes, TL_SHOW_LEN for the whole of it; always NUL-terminated.
 * Returns out.
 */
#define TL_SHOW_MAX 80
#define TL_SHOW_LEN (TL_SHOW_MAX * 4 + 80) /* each byte at most 4 chars, "...", room to spare */
const char *tl_show_text(const char *s, size_t len, char *out, size_t cap);

/*
 * What an operator can do about a failed write or open of a file (errno err): "free space
 * on its file system", "let the daemon's user write there", ... A fixed string.
 */
const char *tl_write_remedy(int err);

/*
 * Whether a write or open failure is the storage's state (full, read-only, no permission,
 * I/O error, out of descriptors), which goes away when someone acts: the writer keeps what
 * it holds and retries. Otherwise (a name too long, a directory in the way) it is the data's.
 */
bool tl_write_error_transient(int err);

#endif
