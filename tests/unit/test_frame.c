/*
 * test_frame.c: the RFC 6587 / RFC 5425 framer, fed every stream in every chunking.
 *
 * A framer bug typically shows only at one particular split of the input (a count cut
 * after its last digit, a CR at the end of a read), so each stream goes through a
 * simulated connection one byte at a time, at every split point into two reads, and in
 * 200 random splittings, and must give the same frames every time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "frame/frame.h"
#include "splits.h"

/* One expected frame. orig_lo < orig_hi only for a truncated LF frame, whose orig_len is a
 * lower bound that depends on how much had arrived when the framer gave up. */
struct exp {
    const uint8_t *p;
    size_t len;
    bool truncated;
    size_t orig_lo;
    size_t orig_hi;
};

#define F(lit) { (const uint8_t *)(lit), sizeof(lit) - 1, false, sizeof(lit) - 1, sizeof(lit) - 1 }
#define T(lit, orig) { (const uint8_t *)(lit), sizeof(lit) - 1, true, (orig), (orig) }
#define TB(lit, lo, hi) { (const uint8_t *)(lit), sizeof(lit) - 1, true, (lo), (hi) }
#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1
#define N(arr) (sizeof(arr) / sizeof((arr)[0]))

struct spec {
    const char *name;
    const uint8_t *stream;
    size_t len;
    enum tl_framing mode;
    size_t max;
    const struct exp *exp;
    size_t nexp;
    const char *err; /* NULL: the stream must end cleanly; else a substring of the error */
};

struct got {
    uint8_t *p;
    size_t len;
    bool truncated;
    size_t orig_len;
};

struct outcome {
    struct got *frames;
    size_t n;
    size_t cap;
    bool error;
    char err[256];
};


static void outcome_fini(struct outcome *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->frames[i].p);
    }
    free(o->frames);
    memset(o, 0, sizeof(*o));
}

static void record(struct outcome *o, const struct tl_frame *fr)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->frames = realloc(o->frames, o->cap * sizeof(*o->frames));
        assert_non_null(o->frames);
    }
    struct got *g = &o->frames[o->n++];
    g->p = malloc(fr->len + 1);
    assert_non_null(g->p);
    if (fr->len > 0) {
        memcpy(g->p, fr->p, fr->len);
    }
    g->len = fr->len;
    g->truncated = fr->truncated;
    g->orig_len = fr->orig_len;
}

static void check_frame(const struct tl_frame *fr, const uint8_t *data, size_t len, size_t max)
{
    assert_true(fr->len <= max);
    assert_true(fr->p >= data);
    assert_true(fr->p + fr->len <= data + len);
    if (fr->truncated) {
        assert_int_equal(fr->len, max);
        assert_true(fr->orig_len > max);
    } else {
        assert_int_equal(fr->orig_len, fr->len);
    }
}

/*
 * Plays a connection: the stream arrives in reads ending at ends[0..n) (ascending, the last
 * one len), into a read buffer of max + 64 bytes like the daemon's; after each read the
 * framer is called until AGAIN and the consumed bytes are dropped.
 */
static void run(const struct spec *sp, const size_t *ends, size_t nends, struct outcome *o)
{
    size_t cap = sp->max + 64;
    uint8_t *buf = malloc(cap);
    size_t have = 0;
    size_t fed = 0;
    struct tl_framer f;
    struct tl_frame fr;
    struct tl_err e;
    size_t used;
    enum tl_rc rc;

    assert_non_null(buf);
    memset(o, 0, sizeof(*o));
    tl_framer_init(&f, sp->mode, sp->max);
    for (size_t k = 0; k < nends; k++) {
        while (fed < ends[k]) {
            size_t n = ends[k] - fed;
            if (n > cap - have) {
                n = cap - have;
            }
            /* The framer promised to need at most max + 12 bytes, so there is room. */
            assert_true(n > 0);
            memcpy(buf + have, sp->stream + fed, n);
            have += n;
            fed += n;
            size_t off = 0;
            for (;;) {
                memset(&fr, 0xa5, sizeof(fr));
                rc = tl_framer_next(&f, buf + off, have - off, &fr, &used, &e);
                assert_true(used <= have - off);
                if (rc == TL_E_PROTO) {
                    o->error = true;
                    tl_err_text(&e, o->err, sizeof(o->err));
                    goto out;
                }
                if (rc == TL_AGAIN) {
                    off += used;
                    break;
                }
                assert_int_equal(rc, TL_OK);
                assert_true(used > 0);
                check_frame(&fr, buf + off, have - off, sp->max);
                record(o, &fr);
                off += used;
            }
            assert_true(have - off <= sp->max + 12);
            assert_int_equal(f.consumed, fed - (have - off));
            memmove(buf, buf + off, have - off);
            have -= off;
        }
    }
    rc = tl_framer_finish(&f, buf, have, &fr, &e);
    if (rc == TL_E_PROTO) {
        o->error = true;
        tl_err_text(&e, o->err, sizeof(o->err));
    } else if (rc == TL_OK) {
        check_frame(&fr, buf, have, sp->max);
        record(o, &fr);
    }
out:
    free(buf);
}

/* Returns NULL when o matches sp, else what differs (a static string). */
static const char *compare(const struct spec *sp, const struct outcome *o)
{
    static char why[512];

    if (o->n != sp->nexp) {
        snprintf(why, sizeof(why), "got %zu frames, want %zu (error: %s)", o->n, sp->nexp,
                 o->error ? o->err : "none");
        return why;
    }
    for (size_t i = 0; i < o->n; i++) {
        const struct got *g = &o->frames[i];
        const struct exp *e = &sp->exp[i];
        if (g->len != e->len || memcmp(g->p, e->p, e->len) != 0) {
            snprintf(why, sizeof(why), "frame %zu: got %zu bytes '%.*s', want %zu '%.*s'", i,
                     g->len, (int)g->len, (const char *)g->p, e->len, (int)e->len,
                     (const char *)e->p);
            return why;
        }
        if (g->truncated != e->truncated || g->orig_len < e->orig_lo ||
            g->orig_len > e->orig_hi) {
            snprintf(why, sizeof(why), "frame %zu: truncated %d orig_len %zu, want %d %zu..%zu",
                     i, g->truncated, g->orig_len, e->truncated, e->orig_lo, e->orig_hi);
            return why;
        }
    }
    if (sp->err == NULL && o->error) {
        snprintf(why, sizeof(why), "unexpected error: %s", o->err);
        return why;
    }
    if (sp->err != NULL && !o->error) {
        snprintf(why, sizeof(why), "no error, want '%s'", sp->err);
        return why;
    }
    if (sp->err != NULL && strstr(o->err, sp->err) == NULL) {
        snprintf(why, sizeof(why), "error '%s', want '%s'", o->err, sp->err);
        return why;
    }
    return NULL;
}

static void run_check(const struct spec *sp, const size_t *ends, size_t nends, const char *how)
{
    struct outcome o;
    run(sp, ends, nends, &o);
    const char *why = compare(sp, &o);
    if (why != NULL) {
        fail_msg("%s (%s): %s", sp->name, how, why);
    }
    outcome_fini(&o);
}

static void run_one(const void *arg, const size_t *ends, size_t nends, const char *how)
{
    run_check(arg, ends, nends, how);
}

static void check_with(const struct spec *sp, bool every_split, int nrandom)
{
    assert_true(check_splits(sp->len, every_split, nrandom, run_one, sp));
}

static void check(const struct spec *sp)
{
    if (sp->len == 0) {
        size_t none = 0;
        run_check(sp, &none, 0, "empty");
        return;
    }
    check_with(sp, true, 200);
}

#define SPEC(nm, stream_lit, md, mx, exps, e)                                                  \
    {                                                                                          \
        .name = (nm), .stream = (const uint8_t *)(stream_lit), .len = sizeof(stream_lit) - 1, \
        .mode = (md), .max = (mx), .exp = (exps), .nexp = N(exps), .err = (e)                  \
    }
#define SPEC0(nm, stream_lit, md, mx, e)                                                       \
    {                                                                                          \
        .name = (nm), .stream = (const uint8_t *)(stream_lit), .len = sizeof(stream_lit) - 1, \
        .mode = (md), .max = (mx), .exp = NULL, .nexp = 0, .err = (e)                          \
    }

/* The same stream must give the same frames in a second mode. */
static void check_mode(const struct spec *sp, enum tl_framing mode)
{
    struct spec other = *sp;
    other.mode = mode;
    check(&other);
}

static void test_pure_octet(void **state)
{
    static const struct exp e[] = { F("hello"), F("hello world"), F("abc"), F("1") };
    struct spec sp = SPEC("pure octet", "5 hello11 hello world3 abc1 1", TL_FRAMING_AUTO, 1024,
                          e, NULL);
    check(&sp);
    check_mode(&sp, TL_FRAMING_OCTET);
}

static void test_octet_transparent(void **state)
{
    /* RFC 6587 §3.4.1: octet counting is transparent; LF, NUL, CR and digits are data. */
    static const struct exp e[] = { F("a\nb\0c d"), F("\r\n"), F("12 34"), F("<1>x\n") };
    struct spec sp = SPEC("octet transparent", "7 a\nb\0c d2 \r\n5 12 345 <1>x\n",
                          TL_FRAMING_AUTO, 64, e, NULL);
    check(&sp);
    check_mode(&sp, TL_FRAMING_OCTET);
}

static void test_octet_second_space_is_data(void **state)
{
    /* Exactly one SP follows MSG-LEN (RFC 5425 §4.3.1); a second one is message text. */
    static const struct exp e[] = { F(" hell"), F("o") };
    struct spec sp = SPEC("two spaces", "5  hello", TL_FRAMING_AUTO, 64, e, NULL);
    check(&sp);
}

static void test_octet_multi_digit(void **state)
{
    static const char body[] = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmno"
                               "pqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789xy";
    struct tl_buf b;
    tl_buf_init(&b, 0);
    assert_true(tl_frame_encode_octet(&b, (const uint8_t *)body, sizeof(body) - 1));
    assert_true(tl_frame_encode_octet(&b, (const uint8_t *)"x", 1));
    assert_memory_equal(b.data, "120 ", 4);
    struct exp e[] = { F(body), F("x") };
    struct spec sp = { .name = "3-digit count", .stream = b.data, .len = b.len,
                       .mode = TL_FRAMING_AUTO, .max = 200, .exp = e, .nexp = N(e) };
    check(&sp);
    tl_buf_fini(&b);
}

static void test_pure_lf(void **state)
{
    static const struct exp e[] = { F("<13>a"), F("<14>bb"), F("<15>ccc") };
    struct spec sp = SPEC("pure lf", "<13>a\n<14>bb\n<15>ccc\n", TL_FRAMING_AUTO, 64, e, NULL);
    check(&sp);
    check_mode(&sp, TL_FRAMING_LF);
}

static void test_crlf(void **state)
{
    /* Only one CR, the one right before the LF, belongs to the line end. */
    static const struct exp e[] = { F("<13>a"), F("<14>b\r"), F("<15>c\rd"), F(" ") };
    struct spec sp = SPEC("crlf", "<13>a\r\n<14>b\r\r\n\r\n<15>c\rd\r\n \r\n", TL_FRAMING_AUTO,
                          64, e, NULL);
    check(&sp);
    check_mode(&sp, TL_FRAMING_LF);
}

static void test_nul_terminators(void **state)
{
    /* A CR before NUL is not part of a CRLF and stays in the message. */
    static const struct exp e[] = { F("<13>a"), F("<14>b"), F("<15>c"), F("<16>d\r") };
    struct spec sp = SPEC("nul", "<13>a\0<14>b\0\0<15>c\n\0<16>d\r\0", TL_FRAMING_AUTO, 64, e,
                          NULL);
    check(&sp);
    check_mode(&sp, TL_FRAMING_LF);
}

static void test_mixed(void **state)
{
    /* Framing is detected per frame, so a sender may switch (RFC 6587 §3.4). */
    static const struct exp e[] = { F("hello"), F("<13>x"), F("abc"), F("<14>y"), F("5") };
    struct spec sp = SPEC("mixed", "5 hello<13>x\n3 abc<14>y\r\n1 5", TL_FRAMING_AUTO, 64, e,
                          NULL);
    check(&sp);
}

static void test_lf_between_octet(void **state)
{
    static const struct exp e[] = { F("hello"), F("abc"), F("d") };
    struct spec sp = SPEC("lf between octet", "5 hello\n\r\n3 abc\0\n\r1 d\n", TL_FRAMING_AUTO,
                          64, e, NULL);
    check(&sp);
    check_mode(&sp, TL_FRAMING_OCTET);
}

static void test_empty_lines(void **state)
{
    static const struct exp e[] = { F("<13>a"), F("<14>b") };
    struct spec sp = SPEC("empty lines", "\n\n\r\n\0<13>a\n\n\n\r\n<14>b\n\n", TL_FRAMING_AUTO,
                          64, e, NULL);
    check(&sp);
    check_mode(&sp, TL_FRAMING_LF);
    struct spec only = SPEC0("only empty lines", "\n\r\n\0\r\r\n", TL_FRAMING_AUTO, 64, NULL);
    check(&only);
    check_mode(&only, TL_FRAMING_OCTET);
    check_mode(&only, TL_FRAMING_LF);
    struct spec empty = SPEC0("empty", "", TL_FRAMING_AUTO, 64, NULL);
    check(&empty);
}

static void test_oversized_octet(void **state)
{
    static const struct exp e[] = { T("abcdefgh", 12), F("hello") };
    struct spec sp = SPEC("oversized octet", "12 abcdefghijkl5 hello", TL_FRAMING_AUTO, 8, e,
                          NULL);
    check(&sp);
    check_mode(&sp, TL_FRAMING_OCTET);

    /* The skipped rest looks like frames (counts, LFs); it must not be parsed as such. */
    static const struct exp e2[] = { T("<1>a\n3 x", 30), F("<2>b"), F("xyz") };
    struct spec sp2 = SPEC("oversized octet, tricky rest",
                           "30 <1>a\n3 x\n9 123456789\n1 \n\n12 3\n<2>b\n3 xyz", TL_FRAMING_AUTO,
                           8, e2, NULL);
    check(&sp2);

    /* Much bigger than the read buffer (max + 64). */
    struct tl_buf b;
    tl_buf_init(&b, 0);
    static uint8_t big[5000];
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t)(i * 7);
    }
    assert_true(tl_frame_encode_octet(&b, big, sizeof(big)));
    assert_true(tl_frame_encode_octet(&b, big, 16));
    assert_true(tl_frame_encode_octet(&b, big, sizeof(big)));
    struct exp e3[] = { { big, 16, true, 5000, 5000 }, { big, 16, false, 16, 16 },
                        { big, 16, true, 5000, 5000 } };
    struct spec sp3 = { .name = "oversized octet, huge", .stream = b.data, .len = b.len,
                        .mode = TL_FRAMING_AUTO, .max = 16, .exp = e3, .nexp = N(e3) };
    check_with(&sp3, true, 200);
    tl_buf_fini(&b);
}

static void test_oversized_lf(void **state)
{
    /* "<13>abcdefghij" is 14 bytes; the framer may give up after max + 1 of them. */
    static const struct exp e[] = { TB("<13>abcd", 9, 14), F("<14>b"), TB("<15>xxxx", 9, 10),
                                    F("<16>c") };
    struct spec sp = SPEC("oversized lf", "<13>abcdefghij\n<14>b\n<15>xxxxxx\r\n<16>c\n",
                          TL_FRAMING_AUTO, 8, e, NULL);
    check(&sp);
    check_mode(&sp, TL_FRAMING_LF);

    /* The skipped rest holds an octet count, which must not be parsed; NUL ends it too. */
    static const struct exp e2[] = { TB("<13>abcd5", 10, 16), F("hello"), TB("<14>12345", 10, 15),
                                     F("<15>") };
    struct spec sp2 = SPEC("oversized lf, tricky rest",
                           "<13>abcd5 hello\r\r\n5 hello<14>1234567890a\0<15>\n",
                           TL_FRAMING_AUTO, 9, e2, NULL);
    check(&sp2);

    /* Much longer than the read buffer. */
    static uint8_t big[3001];
    memset(big, 'x', sizeof(big));
    big[0] = '<';
    big[sizeof(big) - 1] = '\n';
    struct tl_buf b;
    tl_buf_init(&b, 0);
    assert_true(tl_buf_append(&b, big, sizeof(big)));
    assert_true(tl_buf_puts(&b, "<1>ok\n"));
    assert_true(tl_buf_append(&b, big, sizeof(big) - 1));
    struct exp e3[] = { { big, 32, true, 33, 3000 }, F("<1>ok"), { big, 32, true, 33, 3000 } };
    struct spec sp3 = { .name = "oversized lf, huge", .stream = b.data, .len = b.len,
                        .mode = TL_FRAMING_AUTO, .max = 32, .exp = e3, .nexp = N(e3) };
    check_with(&sp3, true, 200);
    tl_buf_fini(&b);
}

static void test_size_boundaries(void **state)
{
    static const struct exp e[] = { F("abcdefg"), F("abcdefgh"), T("abcdefgh", 9),
                                    F("<13>abc"), F("<13>abcd"), F("<13>abcd"),
                                    TB("<13>abcd", 9, 9), F("<13>abcd"), TB("<13>abcd", 9, 10),
                                    F("<1>") };
    struct spec sp = SPEC("max-1, max, max+1",
                          "7 abcdefg8 abcdefgh9 abcdefghi"
                          "<13>abc\n<13>abcd\n<13>abcd\r\n<13>abcde\n<13>abcd\0"
                          "<13>abcd\rX\n<1>\n",
                          TL_FRAMING_AUTO, 8, e, NULL);
    check(&sp);

    /* Exactly max bytes at end of stream, without a terminator. */
    static const struct exp e2[] = { F("<13>abcd") };
    struct spec sp2 = SPEC("max at eof", "<13>abcd\r", TL_FRAMING_AUTO, 8, e2, NULL);
    check(&sp2);
    static const struct exp e3[] = { TB("<13>abcd", 9, 9) };
    struct spec sp3 = SPEC("max+1 at eof", "<13>abcde", TL_FRAMING_AUTO, 8, e3, NULL);
    check(&sp3);

    /* The smallest limits still make progress. */
    static const struct exp e4[] = { T("h", 5), TB("<", 2, 3), F("x"), T("y", 2) };
    struct spec sp4 = SPEC("max 1", "5 hello<1>\nx\n2 yz", TL_FRAMING_AUTO, 1, e4, NULL);
    check(&sp4);
    static const struct exp e5[] = { T("", 5), TB("", 1, 3), T("", 1) };
    struct spec sp5 = SPEC("max 0", "5 hello<1>\n1 y", TL_FRAMING_AUTO, 0, e5, NULL);
    check(&sp5);
}

static void test_broken_counts(void **state)
{
    static const struct exp hello[] = { F("hello") };
    struct spec specs[] = {
        SPEC0("12a", "12a hello", TL_FRAMING_AUTO, 64,
              "invalid octet count '12a' at stream offset 0"),
        SPEC("12a after a frame", "5 hello\n\n12a", TL_FRAMING_AUTO, 64, hello,
             "invalid octet count '12a' at stream offset 9"),
        SPEC0("tab", "5\thello", TL_FRAMING_AUTO, 64, "invalid octet count '5\\x09'"),
        SPEC0("0 in octet mode", "0 ", TL_FRAMING_OCTET, 64,
              "invalid octet count '0' at stream offset 0"),
        SPEC0("01 in octet mode", "01 a", TL_FRAMING_OCTET, 64,
              "invalid octet count '0' at stream offset 0"),
        SPEC0("11 digits", "12345678901 x", TL_FRAMING_AUTO, 64,
              "invalid octet count '12345678901' at stream offset 0: more than 10 digits"),
        SPEC0("more than 2^31", "2147483649 x", TL_FRAMING_AUTO, 64,
              "invalid octet count '2147483649' at stream offset 0: larger than 2^31"),
        SPEC0("way more than 2^31", "9999999999 x", TL_FRAMING_AUTO, 64,
              "invalid octet count '9999999999' at stream offset 0: larger than 2^31"),
        SPEC0("2^31 is allowed", "2147483648 abc", TL_FRAMING_AUTO, 64,
              "connection closed inside an octet-counted frame: 3 of 2147483648 bytes"),
        SPEC0("count then eof", "12", TL_FRAMING_AUTO, 64,
              "connection closed inside the octet count '12' at stream offset 0"),
        SPEC0("count, space, eof", "\n12 ", TL_FRAMING_AUTO, 64,
              "connection closed inside an octet-counted frame: 0 of 12 bytes received"),
        SPEC("partial body", "5 hello5 hel", TL_FRAMING_AUTO, 64, hello,
             "connection closed inside an octet-counted frame: 3 of 5 bytes received"),
        SPEC0("partial oversized body", "50 hel", TL_FRAMING_AUTO, 8,
              "connection closed inside an octet-counted frame: 3 of 50 bytes received"),
        SPEC0("quoting", "1\x01\xff'\\", TL_FRAMING_AUTO, 64,
              "invalid octet count '1\\x01' at"),
    };
    for (size_t i = 0; i < N(specs); i++) {
        check(&specs[i]);
    }
}

static void test_auto_leading_zero_is_text(void **state)
{
    /* frame.h: only 1-9 starts an octet count in auto mode; "0 ..." and "-5 ..." are text. */
    static const struct exp e[] = { F("0 abc"), F("01 a"), F("-5 hello") };
    struct spec sp = SPEC("auto 0", "0 abc\n01 a\n-5 hello\n", TL_FRAMING_AUTO, 64, e, NULL);
    check(&sp);
}

static void test_octet_mode_rejects_lf(void **state)
{
    static const struct exp hello[] = { F("hello") };
    struct spec specs[] = {
        SPEC0("octet mode '<'", "<13>hello\n", TL_FRAMING_OCTET, 64,
              "expected an octet count, got '<"),
        SPEC("octet mode '<' later", "5 hello\r\n<13>x", TL_FRAMING_OCTET, 64, hello,
             "at stream offset 9"),
        SPEC0("octet mode space", " 5 hello", TL_FRAMING_OCTET, 64,
              "expected an octet count, got ' "),
    };
    for (size_t i = 0; i < N(specs); i++) {
        check(&specs[i]);
    }
}

static void test_lf_mode_digits_are_text(void **state)
{
    static const struct exp e[] = { F("5 hello"), F("12a"), F("0 x"), F("3 abcdef") };
    struct spec sp = SPEC("lf mode digits", "5 hello\n12a\n0 x\r\n3 abcdef", TL_FRAMING_LF, 64,
                          e, NULL);
    check(&sp);
}

static void test_finish(void **state)
{
    static const struct exp abc[] = { F("<13>abc") };
    static const struct exp digits[] = { F("12 x") };
    static const struct exp trunc[] = { T("abcdefgh", 12) };
    static const struct exp trunc_lf[] = { TB("<13>abcd", 9, 14) };
    struct spec specs[] = {
        SPEC("unterminated", "<13>abc", TL_FRAMING_AUTO, 64, abc, NULL),
        SPEC("unterminated CR", "<13>abc\r", TL_FRAMING_AUTO, 64, abc, NULL),
        SPEC("unterminated after blank", "\r\n\n<13>abc", TL_FRAMING_AUTO, 64, abc, NULL),
        SPEC("unterminated, lf mode", "12 x", TL_FRAMING_LF, 64, digits, NULL),
        SPEC0("only whitespace", "\r\n\0", TL_FRAMING_AUTO, 64, NULL),
        SPEC("skipping oversized octet", "12 abcdefghij", TL_FRAMING_AUTO, 8, trunc, NULL),
        SPEC("skipping oversized lf", "<13>abcdefghij", TL_FRAMING_AUTO, 8, trunc_lf, NULL),
        SPEC0("partial octet", "5 hel", TL_FRAMING_AUTO, 64,
              "connection closed inside an octet-counted frame: 3 of 5 bytes received"),
        SPEC0("partial octet, octet mode", "\n5 hel", TL_FRAMING_OCTET, 64,
              "3 of 5 bytes received (frame at stream offset 1)"),
    };
    for (size_t i = 0; i < N(specs); i++) {
        check(&specs[i]);
    }
}

static void test_api_edges(void **state)
{
    struct tl_framer f;
    struct tl_frame fr;
    size_t used = 99;
    struct tl_err e;
    char err[128];

    tl_framer_init(&f, TL_FRAMING_AUTO, 64);
    assert_int_equal(tl_framer_next(&f, NULL, 0, &fr, &used, &e), TL_AGAIN);
    assert_int_equal(used, 0);
    assert_int_equal(tl_framer_finish(&f, NULL, 0, &fr, &e), TL_AGAIN);

    /* No place for the text: still an error. With one: the code, the cause and the remedy. */
    tl_framer_init(&f, TL_FRAMING_OCTET, 64);
    assert_int_equal(tl_framer_next(&f, S("<1>"), &fr, &used, NULL), TL_E_PROTO);
    assert_int_equal(tl_framer_next(&f, S("<1>"), &fr, &used, &e), TL_E_PROTO);
    assert_int_equal(e.code, TL_E_PROTO);
    assert_string_equal(e.cause, "expected an octet count, got '<1>' at stream offset 0");
    assert_string_equal(e.remedy, "if the sender uses newline framing, set framing: lf or auto");

    /* Long garbage is quoted in a bounded way. */
    tl_framer_init(&f, TL_FRAMING_OCTET, 64);
    assert_int_equal(tl_framer_next(&f, S("<13>1 2024-01-01T00:00:00Z host app"), &fr, &used,
                                    &e),
                     TL_E_PROTO);
    tl_err_text(&e, err, sizeof(err));
    assert_non_null(strstr(err, "got '<13>1 2024-01-01...' at stream offset 0"));

    /* Several frames from one buffer, and consumed counts across calls. */
    tl_framer_init(&f, TL_FRAMING_AUTO, 64);
    const uint8_t *d = (const uint8_t *)"\n3 abc<1>x\n";
    assert_int_equal(tl_framer_next(&f, d, 11, &fr, &used, &e), TL_OK);
    assert_int_equal(used, 6);
    assert_ptr_equal(fr.p, d + 3);
    assert_int_equal(tl_framer_next(&f, d + 6, 5, &fr, &used, &e), TL_OK);
    assert_int_equal(used, 5);
    assert_int_equal(f.consumed, 11);

    /* Called again with nothing new in the middle of an LF frame. */
    tl_framer_init(&f, TL_FRAMING_AUTO, 64);
    assert_int_equal(tl_framer_next(&f, S("<1>ab"), &fr, &used, &e),
                     TL_AGAIN);
    assert_int_equal(used, 0);
    assert_int_equal(tl_framer_next(&f, d, 0, &fr, &used, &e), TL_AGAIN);
    assert_int_equal(used, 0);
    assert_int_equal(tl_framer_next(&f, S("<1>ab"), &fr, &used, &e),
                     TL_AGAIN);
    assert_int_equal(tl_framer_next(&f, S("<1>abc\n"), &fr, &used, &e),
                     TL_OK);
    assert_int_equal(fr.len, 6);
    assert_int_equal(used, 7);
}

static void test_framing_names(void **state)
{
    assert_int_equal(tl_framing_from_name("auto"), TL_FRAMING_AUTO);
    assert_int_equal(tl_framing_from_name("octet-counted"), TL_FRAMING_OCTET);
    assert_int_equal(tl_framing_from_name("lf"), TL_FRAMING_LF);
    assert_int_equal(tl_framing_from_name("LF"), -1);
    assert_int_equal(tl_framing_from_name("octet"), -1);
    assert_int_equal(tl_framing_from_name(""), -1);
    assert_int_equal(tl_framing_from_name(NULL), -1);
    assert_string_equal(tl_framing_name((enum tl_framing)7), "unknown");
    for (int m = TL_FRAMING_AUTO; m <= TL_FRAMING_LF; m++) {
        assert_int_equal(tl_framing_from_name(tl_framing_name((enum tl_framing)m)), m);
    }
}

static void test_encoders(void **state)
{
    struct tl_buf b;

    tl_buf_init(&b, 0);
    assert_true(tl_frame_encode_octet(&b, S("hello")));
    assert_true(tl_frame_encode_lf(&b, S("<1>x")));
    assert_true(tl_frame_encode_octet(&b, S("0123456789")));
    assert_int_equal(b.len, 7 + 5 + 13);
    assert_memory_equal(b.data, "5 hello<1>x\n10 0123456789", b.len);
    /* An empty message cannot be framed (MSG-LEN is nonzero): nothing is appended. */
    assert_true(tl_frame_encode_octet(&b, S("")));
    assert_true(tl_frame_encode_lf(&b, S("")));
    assert_int_equal(b.len, 25);
    tl_buf_fini(&b);

    /* At the ceiling: false, buffer unchanged; exactly fitting is fine. */
    tl_buf_init(&b, 10);
    assert_true(tl_frame_encode_octet(&b, S("abc")));
    assert_false(tl_frame_encode_octet(&b, S("abcde")));
    assert_int_equal(b.len, 5);
    assert_false(tl_frame_encode_lf(&b, S("abcde")));
    assert_int_equal(b.len, 5);
    assert_true(tl_frame_encode_lf(&b, S("abcd")));
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "3 abcabcd\n", 10);
    assert_false(tl_frame_encode_lf(&b, S("a")));
    tl_buf_fini(&b);
}

static size_t random_message(uint8_t *m, size_t maxlen, bool for_lf)
{
    size_t len = 1 + (size_t)(rng() % maxlen);
    for (size_t i = 0; i < len; i++) {
        m[i] = (uint8_t)rng();
        if (for_lf) {
            /* A message sent with LF framing cannot hold LF or NUL, and a CR at its end
             * would be taken for half of a CRLF. */
            while (m[i] == '\n' || m[i] == '\0' || m[i] == '\r') {
                m[i] = (uint8_t)rng();
            }
        }
    }
    if (for_lf) {
        m[0] = '<';
    }
    return len;
}

/* 1000 random messages, encoded one way or the other, decoded in random reads. */
static void round_trip(const char *name, enum tl_framing mode, int which, size_t max)
{
    enum { COUNT = 1000, MAXLEN = 300 };
    uint8_t *msgs = malloc(COUNT * MAXLEN);
    struct exp *e = calloc(COUNT, sizeof(*e));
    struct tl_buf b;

    assert_non_null(msgs);
    assert_non_null(e);
    tl_buf_init(&b, 0);
    rng_state = 0x1234567887654321ull + (uint64_t)which;
    for (size_t i = 0; i < COUNT; i++) {
        bool lf = which == 1 || (which == 2 && rng() % 2 == 0);
        uint8_t *m = msgs + i * MAXLEN;
        size_t len = random_message(m, MAXLEN, lf);
        assert_true(lf ? tl_frame_encode_lf(&b, m, len) : tl_frame_encode_octet(&b, m, len));
        if (lf && rng() % 4 == 0) {
            /* Some senders end lines with CRLF. */
            b.data[b.len - 1] = '\r';
            assert_true(tl_buf_putc(&b, '\n'));
        }
        e[i].p = m;
        e[i].len = len > max ? max : len;
        e[i].truncated = len > max;
        e[i].orig_lo = len > max && lf ? max + 1 : len;
        e[i].orig_hi = len;
    }
    struct spec sp = { .name = name, .stream = b.data, .len = b.len, .mode = mode, .max = max,
                       .exp = e, .nexp = COUNT };
    check_with(&sp, false, 20);
    tl_buf_fini(&b);
    free(e);
    free(msgs);
}

static void test_round_trip(void **state)
{
    round_trip("octet, auto", TL_FRAMING_AUTO, 0, 1024);
    round_trip("octet, octet mode", TL_FRAMING_OCTET, 0, 1024);
    round_trip("lf, lf mode", TL_FRAMING_LF, 1, 1024);
    round_trip("lf, auto", TL_FRAMING_AUTO, 1, 1024);
    round_trip("mixed, auto", TL_FRAMING_AUTO, 2, 1024);
    round_trip("mixed, auto, truncating", TL_FRAMING_AUTO, 2, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pure_octet),
        cmocka_unit_test(test_octet_transparent),
        cmocka_unit_test(test_octet_second_space_is_data),
        cmocka_unit_test(test_octet_multi_digit),
        cmocka_unit_test(test_pure_lf),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_nul_terminators),
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_lf_between_octet),
        cmocka_unit_test(test_empty_lines),
        cmocka_unit_test(test_oversized_octet),
        cmocka_unit_test(test_oversized_lf),
        cmocka_unit_test(test_size_boundaries),
        cmocka_unit_test(test_broken_counts),
        cmocka_unit_test(test_auto_leading_zero_is_text),
        cmocka_unit_test(test_octet_mode_rejects_lf),
        cmocka_unit_test(test_lf_mode_digits_are_text),
        cmocka_unit_test(test_finish),
        cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_framing_names),
        cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
