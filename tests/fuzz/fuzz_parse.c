/*
 * fuzz_parse.c: libFuzzer harness for tl_parse, the STRUCTURED-DATA iterator and tl_format.
 *
 * The input is one message as the framer would hand it over. Checked for every input:
 * every slice lies inside raw; the stored SD iterates cleanly; every format succeeds; file
 * output has no control bytes but TAB; the RFC 5424 header is always PRINTUSASCII; JSON is
 * well-formed UTF-8; and RFC 5424 output parses back to the same RFC 5424 output.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/buf.h"
#include "core/msg.h"
#include "parse/format.h"
#include "parse/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* A zone with daylight saving, so local-time paths see both offsets and the gaps. */
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    return 0;
}

static bool slice_ok(const struct tl_msg *m, struct tl_slice s)
{
    return (uint64_t)s.off + s.len <= m->raw_len;
}

static const uint8_t *json_ws(const uint8_t *p, const uint8_t *e)
{
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')) {
        p++;
    }
    return p;
}

/* A small RFC 8259 validator; returns the end of the value or NULL. */
static const uint8_t *json_value(const uint8_t *p, const uint8_t *e, int depth)
{
    p = json_ws(p, e);
    if (p >= e || depth > 8) {
        return NULL;
    }
    if (*p == '"') {
        for (p++; p < e && *p != '"'; p++) {
            if (*p < 0x20) {
                return NULL;
            }
            if (*p == '\\') {
                p++;
                if (p >= e || !memchr("\"\\/bfnrtu", *p, 9)) {
                    return NULL;
                }
            }
        }
        return p < e ? p + 1 : NULL;
    }
    if (*p == '{') {
        p = json_ws(p + 1, e);
        if (p < e && *p == '}') {
            return p + 1;
        }
        for (;;) {
            p = json_ws(p, e);
            if (p >= e || *p != '"' || !(p = json_value(p, e, depth + 1))) {
                return NULL;
            }
            p = json_ws(p, e);
            if (p >= e || *p++ != ':' || !(p = json_value(p, e, depth + 1))) {
                return NULL;
            }
            p = json_ws(p, e);
            if (p < e && *p == ',') {
                p++;
                continue;
            }
            return p < e && *p == '}' ? p + 1 : NULL;
        }
    }
    if (*p >= '0' && *p <= '9') {
        while (p < e && *p >= '0' && *p <= '9') {
            p++;
        }
        return p;
    }
    if (e - p >= 4 && (memcmp(p, "true", 4) == 0 || memcmp(p, "null", 4) == 0)) {
        return p + 4;
    }
    return NULL;
}

static bool valid_utf8(const uint8_t *p, size_t n)
{
    size_t k = 0;
    while (k < n) {
        uint8_t c = p[k];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            k++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (k + len > n) {
            return false;
        }
        for (size_t j = 1; j < len; j++) {
            if ((p[k + j] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[k + j] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        k += len;
    }
    return true;
}

/* Walks an SD text; returns true when it was well-formed to the end. */
static bool walk_sd(const uint8_t *p, size_t len)
{
    struct tl_sd_iter it;
    uint8_t tmp[256];
    enum tl_sd_kind k;
    int guard = 0;

    tl_sd_iter_init(&it, p, len);
    while ((k = tl_sd_next(&it)) != TL_SD_END) {
        CHECK(++guard <= (int)len + 1);
        CHECK(it.id >= p && it.id + it.id_len <= p + len && it.id_len > 0 && it.id_len <= 32);
        if (k == TL_SD_PARAM) {
            CHECK(it.name >= p && it.name + it.name_len <= p + len);
            CHECK(it.value >= p && it.value + it.value_len <= p + len);
            if (it.value_len <= sizeof(tmp)) {
                CHECK(tl_sd_unescape(it.value, it.value_len, tmp) <= it.value_len);
            }
        }
    }
    CHECK(it.pos <= len);
    return it.pos == len && it.id == NULL;
}

static void check_formats(const struct tl_msg *m, struct tl_buf *b, struct tl_buf *first5424)
{
    for (int f = TL_FMT_RFC5424; f <= TL_FMT_RAW; f++) {
        for (int file = 0; file < 2; file++) {
            tl_buf_reset(b);
            CHECK(tl_format(m, (enum tl_format)f, file != 0, b));
            if (f == TL_FMT_JSON) {
                CHECK(json_value(b->data, b->data + b->len, 0) == b->data + b->len);
                CHECK(valid_utf8(b->data, b->len));
            } else if (file && f != TL_FMT_RAW) {
                for (size_t k = 0; k < b->len; k++) {
                    CHECK(b->data[k] >= 0x20 || b->data[k] == '\t');
                }
            }
            if (f == TL_FMT_RFC5424) {
                size_t sp = 0;
                for (size_t k = 0; k < b->len && sp < 6; k++) {
                    if (b->data[k] == ' ') {
                        sp++;
                    } else {
                        CHECK(b->data[k] >= 33 && b->data[k] <= 126);
                    }
                }
                CHECK(sp == 6);
                if (!file && first5424) {
                    tl_buf_reset(first5424);
                    CHECK(tl_buf_append(first5424, b->data, b->len));
                }
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t families[] = {0, AF_INET, AF_INET6, AF_UNIX};
    struct tl_msg *m = tl_msg_new(data, size);
    if (!m) {
        return 0;
    }
    /* Receive times spread over a few years so the year guessing of RFC 3164 is exercised
     * around both ends of the year and across DST changes. */
    uint32_t h = 2166136261u;
    for (size_t k = 0; k < size && k < 64; k++) {
        h = (h ^ data[k]) * 16777619u;
    }
    m->recv_sec = 1700000000 + (int64_t)(h % (4u * 366u * 86400u));
    m->recv_usec = h % 1000000u;
    m->peer.family = families[(h >> 8) & 3];
    m->peer.port = 514;
    m->peer.addr[0] = (uint8_t)h;
    tl_parse(m);

    CHECK(slice_ok(m, m->timestamp) && slice_ok(m, m->hostname) && slice_ok(m, m->app_name) &&
          slice_ok(m, m->procid) && slice_ok(m, m->msgid) && slice_ok(m, m->sd) &&
          slice_ok(m, m->msg));
    CHECK(m->facility < 24 && m->severity < 8 && m->ts_frac_digits <= 6 && m->ts_usec < 1000000);
    CHECK(m->proto == TL_PROTO_RFC5424 || m->proto == TL_PROTO_RFC3164);
    if (m->sd.len) {
        CHECK(m->proto == TL_PROTO_RFC5424);
        CHECK(walk_sd(tl_msg_at(m, m->sd), m->sd.len));
    }
    (void)walk_sd(data, size);

    struct tl_buf b;
    struct tl_buf a;
    struct tl_buf c;
    tl_buf_init(&b, 0);
    tl_buf_init(&a, 0);
    tl_buf_init(&c, 0);
    check_formats(m, &b, &a);

    /* RFC 5424 output is a fixed point of parse + format. */
    struct tl_msg *m2 = tl_msg_new(a.data, a.len);
    if (m2) {
        m2->recv_sec = m->recv_sec;
        m2->recv_usec = m->recv_usec;
        m2->peer = m->peer;
        tl_parse(m2);
        CHECK(m2->proto == TL_PROTO_RFC5424);
        CHECK(!(m2->flags & TL_MSG_MALFORMED));
        check_formats(m2, &b, &c);
        CHECK(c.len == a.len && memcmp(c.data, a.data, a.len) == 0);
        tl_msg_unref(m2);
    }
    tl_buf_fini(&a);
    tl_buf_fini(&b);
    tl_buf_fini(&c);
    tl_msg_unref(m);
    return 0;
}
