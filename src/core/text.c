#include "core/text.h"

void tl_quote_bytes(char *out, const uint8_t *p, size_t n, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t shown = n < max ? n : max;
    size_t o = 0;

    for (size_t i = 0; i < shown; i++) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
        }
    }
    if (shown < n) {
        out[o++] = '.';
        out[o++] = '.';
        out[o++] = '.';
    }
    out[o] = '\0';
}
