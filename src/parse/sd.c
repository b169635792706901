/*
 * sd.c: iteration over RFC 5424 STRUCTURED-DATA (§6.3) and PARAM-VALUE unescaping.
 *
 * The iterator keeps its place in pos; "inside an SD-ELEMENT" is id != NULL, so the public
 * struct needs no hidden state. The text was well-formed exactly when TL_SD_END comes back
 * with pos == len and id == NULL (every element closed); the RFC 5424 parser and the JSON
 * formatter rely on that to tell a clean end from a broken one.
 */
#include "parse/parse.h"

#include <string.h>

/* RFC 5424 §6.3.2: SD-NAME = 1*32PRINTUSASCII except '=', SP, ']', %d34 (") */
static bool sd_name_char(uint8_t c)
{
    return c > 32 && c < 127 && c != '=' && c != ']' && c != '"';
}

static size_t sd_name(const uint8_t *p, size_t len, size_t pos)
{
    size_t i = pos;
    while (i < len && sd_name_char(p[i])) {
        i++;
    }
    return i - pos <= 32 ? i - pos : 0;
}

void tl_sd_iter_init(struct tl_sd_iter *it, const uint8_t *sd, size_t len)
{
    memset(it, 0, sizeof(*it));
    it->p = sd;
    it->len = len;
}

enum tl_sd_kind tl_sd_next(struct tl_sd_iter *it)
{
    const uint8_t *p = it->p;
    size_t len = it->len;

    it->name = NULL;
    it->name_len = 0;
    it->value = NULL;
    it->value_len = 0;
    for (;;) {
        if (it->pos >= len) {
            return TL_SD_END;
        }
        uint8_t c = p[it->pos];
        if (!it->id) {
            /* Between elements: SD-ELEMENT = "[" SD-ID *(SP SD-PARAM) "]" */
            if (c != '[') {
                return TL_SD_END;
            }
            size_t n = sd_name(p, len, it->pos + 1);
            size_t after = it->pos + 1 + n;
            if (n == 0 || after >= len || (p[after] != ' ' && p[after] != ']')) {
                return TL_SD_END;
            }
            it->id = p + it->pos + 1;
            it->id_len = n;
            it->pos = after;
            return TL_SD_ELEMENT;
        }
        if (c == ']') {
            it->pos++;
            it->id = NULL;
            it->id_len = 0;
            continue;
        }
        if (c != ' ') {
            return TL_SD_END;
        }
        /* SD-PARAM = PARAM-NAME "=" %d34 PARAM-VALUE %d34 */
        size_t name = it->pos + 1;
        size_t n = sd_name(p, len, name);
        size_t i = name + n;
        if (n == 0 || i + 1 >= len || p[i] != '=' || p[i + 1] != '"') {
            return TL_SD_END;
        }
        size_t v = i + 2;
        i = v;
        /* RFC 5424 §6.3.3: '"', '\' and ']' MUST be escaped. An unescaped ']' is accepted
         * (many senders forget it, and the closing quote still delimits the value). */
        while (i < len && p[i] != '"') {
            i += (p[i] == '\\' && i + 1 < len) ? 2 : 1;
        }
        if (i >= len) {
            return TL_SD_END;
        }
        it->name = p + name;
        it->name_len = n;
        it->value = p + v;
        it->value_len = i - v;
        it->pos = i + 1;
        return TL_SD_PARAM;
    }
}

size_t tl_sd_unescape(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\\' && i + 1 < len &&
            (in[i + 1] == '"' || in[i + 1] == '\\' || in[i + 1] == ']')) {
            i++;
        }
        out[o++] = in[i];
    }
    return o;
}
