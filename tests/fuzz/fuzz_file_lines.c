/*
 * fuzz_file_lines.c: libFuzzer target for the file input's pure parts: the splitter
 * (in/file_lines.h) and the position records of its state file (in/file_pos.h).
 *
 * The first byte chooses the settings: bit 0 multiline (a line starts a message when it
 * begins with a digit), bit 1 a flush at the end, bits 2-7 max (4..67 bytes); the rest is
 * the file's bytes, fed in pieces whose sizes come from the data itself, into a buffer of
 * 2 * max + 2 bytes as the input keeps one. Checked for every input: each message is at most
 * max bytes and lies inside the buffer; what is consumed is never more than what is there;
 * the buffer never stalls (it always has room for the next piece); and without multiline, a
 * message holds no newline and, unless cut or flushed, is followed by one. The
 * same bytes are also decoded as a position value and a key, which must not crash, and a
 * decoded value encodes and decodes back to itself.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "in/file_lines.h"
#include "in/file_pos.h"

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool digit_start(void *ctx, const uint8_t *line, size_t len)
{
    (void)ctx;
    return len > 0 && line[0] >= '0' && line[0] <= '9';
}

static void positions(const uint8_t *data, size_t size)
{
    struct tl_fpos p = {0};
    struct tl_fpos q = {0};
    char val[512];
    char key[TL_FPOS_KEY_LEN + 1];
    uint64_t dev;
    uint64_t ino;

    if (tl_fpos_decode(data, size, &p)) {
        CHECK(p.head_len <= TL_FPOS_HEAD);
        CHECK(tl_fpos_encode(&p, "/x", val, sizeof(val)));
        CHECK(tl_fpos_decode((const uint8_t *)val, strlen(val), &q));
        CHECK(p.off == q.off && p.head_len == q.head_len && p.head_hash == q.head_hash);
    }
    size_t n = size < TL_FPOS_KEY_LEN ? size : TL_FPOS_KEY_LEN;
    memcpy(key, data, n);
    key[n] = '\0';
    if (tl_fpos_parse_key(key, &dev, &ino)) {
        char again[TL_FPOS_KEY_LEN];
        tl_fpos_key(dev, ino, again, sizeof(again));
        CHECK(tl_fpos_parse_key(again, &dev, &ino));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    positions(data, size);
    uint8_t mode = data[0];
    const uint8_t *text = data + 1;
    size_t total = size - 1;
    struct tl_lines l = {.max = 4 + (mode >> 2), .is_start = (mode & 1) ? digit_start : NULL};
    bool flush = (mode & 2) != 0;
    size_t cap = 2 * l.max + 2;
    uint8_t *buf = malloc(cap);
    size_t len = 0;
    size_t at = 0;
    struct tl_line_msg m;

    CHECK(buf != NULL);
    while (at < total || flush) {
        size_t take = at < total ? 1 + text[at] % 17 : 0;
        if (take > total - at) {
            take = total - at;
        }
        CHECK(take == 0 || cap - len >= 1); /* never stalled */
        if (take > cap - len) {
            take = cap - len;
        }
        memcpy(buf + len, text + at, take);
        len += take;
        at += take;
        bool last = at == total;
        while (tl_lines_next(&l, buf, len, flush && last, &m) == TL_LINES_MSG) {
            CHECK(m.consumed > 0 && m.consumed <= len);
            CHECK(!m.deliver || m.len <= l.max);
            CHECK(!m.deliver || m.len <= m.consumed);
            if (!l.is_start && m.deliver) {
                CHECK(memchr(buf, '\n', m.len) == NULL);
                CHECK(m.truncated || m.consumed == m.len || buf[m.len] == '\n');
            }
            memmove(buf, buf + m.consumed, len - m.consumed);
            len -= m.consumed;
        }
        if (last) {
            break;
        }
    }
    free(buf);
    return 0;
}
