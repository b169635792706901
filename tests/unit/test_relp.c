/*
 * test_relp.c: the RELP codec and the client/server session state machines.
 *
 * Every parser stream goes through a simulated connection one byte at a time, at every
 * split point into two reads, and in 200 random splittings, and must give the same frames
 * (or the same error) every time. The sessions are driven frame by frame with the bytes
 * librelp puts on the wire, and finally a client and a server talk to each other through
 * buffers for 10,000 messages.
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
#include "relp/relp.h"
#include "splits.h"

#define N(arr) (sizeof(arr) / sizeof((arr)[0]))
#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1


/* ---- parser harness ---------------------------------------------------------------- */

struct exp {
    uint32_t txnr;
    const char *cmd;
    const char *data;
    size_t len;
};

#define E(tx, c, lit) { (tx), (c), (lit), sizeof(lit) - 1 }

struct spec {
    const char *name;
    const uint8_t *stream;
    size_t len;
    size_t max;
    const struct exp *exp;
    size_t nexp;
    const char *err; /* NULL: must end cleanly; else a substring of the error */
};

struct got {
    uint32_t txnr;
    char cmd[TL_RELP_CMD_MAX + 1];
    uint8_t *data;
    size_t len;
};

struct outcome {
    struct got *frames;
    size_t n;
    size_t cap;
    bool error;
    char err[512];
};

static void outcome_fini(struct outcome *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->frames[i].data);
    }
    free(o->frames);
    memset(o, 0, sizeof(*o));
}

static void record(struct outcome *o, const struct tl_relp_frame *fr)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->frames = realloc(o->frames, o->cap * sizeof(*o->frames));
        assert_non_null(o->frames);
    }
    struct got *g = &o->frames[o->n++];
    g->txnr = fr->txnr;
    memcpy(g->cmd, fr->cmd, sizeof(g->cmd));
    g->data = malloc(fr->len + 1);
    assert_non_null(g->data);
    memcpy(g->data, fr->data, fr->len);
    g->len = fr->len;
}

/*
 * Plays a connection: the stream arrives in reads ending at ends[0..n), into a read buffer
 * of max + TL_RELP_OVERHEAD bytes, the most the parser promises to need.
 */
static void run(const struct spec *sp, const size_t *ends, size_t nends, struct outcome *o)
{
    size_t cap = sp->max + TL_RELP_OVERHEAD;
    uint8_t *buf = malloc(cap);
    size_t have = 0;
    size_t fed = 0;
    struct tl_relp_parser p;
    struct tl_relp_frame fr;
    struct tl_err e;
    size_t used;
    enum tl_rc rc;

    assert_non_null(buf);
    memset(o, 0, sizeof(*o));
    tl_relp_parser_init(&p, sp->max);
    for (size_t k = 0; k < nends; k++) {
        while (fed < ends[k]) {
            size_t n = ends[k] - fed;
            if (n > cap - have) {
                n = cap - have;
            }
            assert_true(n > 0);
            memcpy(buf + have, sp->stream + fed, n);
            have += n;
            fed += n;
            size_t off = 0;
            for (;;) {
                memset(&fr, 0xa5, sizeof(fr));
                rc = tl_relp_next(&p, buf + off, have - off, &fr, &used, &e);
                assert_true(used <= have - off);
                if (rc == TL_E_PROTO) {
                    assert_int_equal(used, 0);
                    o->error = true;
                    tl_err_text(&e, o->err, sizeof(o->err));
                    goto out;
                }
                if (rc == TL_AGAIN) {
                    assert_int_equal(used, 0);
                    break;
                }
                assert_int_equal(rc, TL_OK);
                assert_true(used > 0);
                assert_true(fr.len <= sp->max);
                assert_true(fr.data >= buf + off && fr.data + fr.len <= buf + have);
                assert_true(strlen(fr.cmd) >= 1 && strlen(fr.cmd) <= TL_RELP_CMD_MAX);
                record(o, &fr);
                off += used;
            }
            /* The promise: a pending frame never needs more than max + overhead bytes. */
            assert_true(have - off < cap);
            assert_int_equal(p.consumed, fed - (have - off));
            memmove(buf, buf + off, have - off);
            have -= off;
        }
    }
    if (tl_relp_finish(&p, have, &e) == TL_E_PROTO) {
        o->error = true;
        tl_err_text(&e, o->err, sizeof(o->err));
    }
out:
    free(buf);
}

static const char *compare(const struct spec *sp, const struct outcome *o)
{
    static char why[1024];

    if (o->n != sp->nexp) {
        snprintf(why, sizeof(why), "got %zu frames, want %zu (error: %s)", o->n, sp->nexp,
                 o->error ? o->err : "none");
        return why;
    }
    for (size_t i = 0; i < o->n; i++) {
        const struct got *g = &o->frames[i];
        const struct exp *e = &sp->exp[i];
        if (g->txnr != e->txnr || strcmp(g->cmd, e->cmd) != 0 || g->len != e->len ||
            memcmp(g->data, e->data, e->len) != 0) {
            snprintf(why, sizeof(why), "frame %zu: got %u %s %zu '%.*s', want %u %s %zu '%.*s'",
                     i, g->txnr, g->cmd, g->len, (int)g->len, (const char *)g->data, e->txnr,
                     e->cmd, e->len, (int)e->len, e->data);
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

static void check_n(const struct spec *sp, bool every_split, int nrandom)
{
    assert_true(check_splits(sp->len, every_split, nrandom, run_one, sp));
    size_t all = sp->len;
    run_check(sp, &all, 1, "all at once");
}

static void check(const struct spec *sp)
{
    check_n(sp, true, 200);
}

#define SPEC(nm, lit, mx, exps, e)                                                             \
    {                                                                                          \
        .name = (nm), .stream = (const uint8_t *)(lit), .len = sizeof(lit) - 1, .max = (mx),  \
        .exp = (exps), .nexp = N(exps), .err = (e)                                             \
    }
#define SPEC0(nm, lit, mx, e)                                                                  \
    {                                                                                          \
        .name = (nm), .stream = (const uint8_t *)(lit), .len = sizeof(lit) - 1, .max = (mx),  \
        .exp = NULL, .nexp = 0, .err = (e)                                                     \
    }

/* ---- parser: every frame shape ------------------------------------------------------- */

/* What omrelp (librelp 1.11) sends to open, byte for byte. */
#define LIBRELP_OPEN                                                                           \
    "1 open 86 relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\n"      \
    "commands=syslog\n"

static void test_parse_librelp_session(void **state)
{
    static const struct exp e[] = {
        E(1, "open",
          "relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\n"
          "commands=syslog"),
        E(2, "syslog", "<13>1 2024-01-01T00:00:00Z h app - - - hello"),
        E(3, "syslog", "<13>x"),
        E(4, "close", ""),
    };
    struct spec sp = SPEC("librelp session",
                          LIBRELP_OPEN "2 syslog 44 <13>1 2024-01-01T00:00:00Z h app - - - hello\n"
                                       "3 syslog 5 <13>x\n4 close 0\n",
                          1024, e, NULL);
    check(&sp);
}

static void test_parse_server_frames(void **state)
{
    static const struct exp e[] = {
        E(1, "rsp", "200 OK\nrelp_version=0\ncommands=syslog"),
        E(2, "rsp", "200 OK"),
        E(3, "rsp", "500 queue full"),
        E(4, "rsp", ""),
        E(0, "serverclose", ""),
    };
    struct spec sp = SPEC("server frames",
                          "1 rsp 37 200 OK\nrelp_version=0\ncommands=syslog\n2 rsp 6 200 OK\n"
                          "3 rsp 14 500 queue full\n4 rsp 0\n0 serverclose 0\n",
                          64, e, NULL);
    check(&sp);
}

static void test_parse_transparent_data(void **state)
{
    /* DATA is counted, not scanned: LF, NUL, SP, digits and "frames" inside are data. */
    static const struct exp e[] = {
        E(7, "syslog", "a\nb\0c d"),
        E(8, "syslog", "\n"),
        E(9, "syslog", "9 syslog 1 x\n"),
        E(10, "syslog", " "),
    };
    struct spec sp = SPEC("transparent", "7 syslog 7 a\nb\0c d\n8 syslog 1 \n\n"
                                         "9 syslog 13 9 syslog 1 x\n\n10 syslog 1  \n",
                          64, e, NULL);
    check(&sp);
}

static void test_parse_limits(void **state)
{
    /* 9-digit TXNR, 32-letter command, leading zeros, DATALEN exactly max. */
    static const struct exp e[] = {
        E(999999999, "syslog", "abcdefghij"),
        E(1, "abcdefghijklmnopqrstuvwxyzABCDEF", ""),
        E(1, "rsp", "200 OK"),
        E(0, "serverclose", ""),
        E(42, "SysLog", "x"),
    };
    struct spec sp = SPEC("limits", "999999999 syslog 10 abcdefghij\n"
                                    "1 abcdefghijklmnopqrstuvwxyzABCDEF 0\n"
                                    "000000001 rsp 000000006 200 OK\n00 serverclose 00\n"
                                    "42 SysLog 1 x\n",
                          10, e, NULL);
    check(&sp);
}

static void test_parse_empty(void **state)
{
    struct spec sp = SPEC0("empty", "", 16, NULL);
    size_t none = 0;
    run_check(&sp, &none, 0, "empty");
}

/* ---- parser: errors -------------------------------------------------------------------- */

static void test_parse_err_oversize(void **state)
{
    static const struct exp e[] = { E(1, "syslog", "0123456789") };
    struct spec sp = SPEC("oversize", "1 syslog 10 0123456789\n2 syslog 11 0123456789a\n", 10,
                          e,
                          "RELP frame of 11 bytes exceeds max_message_size=10 (frame at stream "
                          "offset 23)");
    check(&sp);
    /* Reported as soon as the header is complete, before any of the DATA arrives. */
    struct spec sp2 = SPEC0("oversize early", "1 syslog 999999999 ", 10,
                            "RELP frame of 999999999 bytes exceeds max_message_size=10");
    check(&sp2);
}

static void test_parse_err_trailer(void **state)
{
    static const struct exp e[] = { E(1, "syslog", "abc") };
    struct spec sp = SPEC("no trailer", "1 syslog 3 abc\n2 syslog 3 abcd\n", 64, e,
                          "RELP frame not terminated by LF after DATA at stream offset 29 "
                          "(got 'd'");
    check(&sp);
    /* An off-by-one DATALEN from a sender that counts the LF. */
    struct spec sp2 = SPEC0("count includes LF", "1 syslog 4 abc\n2 close 0\n", 64,
                            "not terminated by LF after DATA at stream offset 15");
    check(&sp2);
}

static void test_parse_err_txnr(void **state)
{
    struct spec a = SPEC0("letter", "x syslog 0\n", 64,
                          "invalid RELP frame at stream offset 0: expected a TXNR digit, got 'x'");
    struct spec b = SPEC0("10 digits", "1234567890 syslog 0\n", 64,
                          "invalid RELP TXNR '1234567890' at stream offset 0: more than 9 digits");
    struct spec c = SPEC0("no SP", "12\tsyslog 0\n", 64,
                          "at stream offset 2: expected SP after the TXNR, got '\\x09'");
    struct spec d = SPEC0("leading SP", " 1 syslog 0\n", 64, "expected a TXNR digit, got ' '");
    static const struct exp e1[] = { E(1, "close", "") };
    struct spec e = SPEC("stray LF between frames", "1 close 0\n\n2 close 0\n", 64, e1,
                         "invalid RELP frame at stream offset 10: expected a TXNR digit, got "
                         "'\\x0a' after the previous frame");
    struct spec f = SPEC0("negative", "-1 syslog 0\n", 64, "expected a TXNR digit, got '-'");
    check(&a);
    check(&b);
    check(&c);
    check(&d);
    check(&e);
    check(&f);
}

static void test_parse_err_command(void **state)
{
    struct spec a = SPEC0("digit in command", "1 sys1og 0\n", 64,
                          "invalid RELP command 'sys1' at stream offset 2: must be 1-32 ASCII "
                          "letters");
    struct spec b = SPEC0("33 letters", "1 abcdefghijklmnopqrstuvwxyzABCDEFG 0\n", 64,
                          "invalid RELP command 'abcdefghijklmnop...' at stream offset 2: longer "
                          "than 32 letters");
    struct spec c = SPEC0("empty command", "1  0\n", 64,
                          "invalid RELP command ' ' at stream offset 2");
    struct spec d = SPEC0("non-ASCII", "1 sysl\xc3\xb6g 0\n", 64,
                          "invalid RELP command 'sysl\\xc3' at stream offset 2");
    struct spec e = SPEC0("LF in command", "1 close\n", 64,
                          "invalid RELP command 'close\\x0a' at stream offset 2");
    check(&a);
    check(&b);
    check(&c);
    check(&d);
    check(&e);
}

static void test_parse_err_datalen(void **state)
{
    struct spec a = SPEC0("empty DATALEN", "1 close \n", 64,
                          "invalid RELP frame at stream offset 8: expected a DATALEN digit, got "
                          "'\\x0a'");
    struct spec b = SPEC0("10 digits", "1 syslog 1234567890 x\n", 64,
                          "invalid RELP DATALEN '1234567890' at stream offset 9: more than 9 "
                          "digits");
    struct spec c = SPEC0("0 then SP", "1 close 0 \n", 64,
                          "at stream offset 9: DATALEN 0 must be followed by LF, got ' '");
    struct spec d = SPEC0("data without SP", "1 syslog 3\nabc\n", 64,
                          "at stream offset 10: expected SP before the 3 bytes of DATA, got "
                          "'\\x0a'");
    struct spec e = SPEC0("letter in DATALEN", "1 syslog 3x abc\n", 64,
                          "expected SP before the 3 bytes of DATA, got 'x'");
    struct spec f = SPEC0("CRLF trailer", "1 close 0\r\n", 64,
                          "DATALEN 0 must be followed by LF, got '\\x0d'");
    check(&a);
    check(&b);
    check(&c);
    check(&d);
    check(&e);
    check(&f);
}

static void test_parse_err_eof(void **state)
{
    static const struct exp e[] = { E(1, "close", "") };
    struct spec a = SPEC("partial frame at EOF", "1 close 0\n2 syslog 5 ab", 64, e,
                         "connection closed inside a RELP frame: 13 bytes of it received (frame "
                         "at stream offset 10)");
    struct spec b = SPEC0("partial header at EOF", "12", 64,
                          "connection closed inside a RELP frame: 2 bytes");
    check(&a);
    check(&b);
}

static void test_parse_sticky_error(void **state)
{
    struct tl_relp_parser p;
    struct tl_relp_frame fr;
    size_t used = 99;
    struct tl_err e;

    tl_relp_parser_init(&p, 64);
    assert_int_equal(tl_relp_next(&p, S("x"), &fr, &used, &e), TL_E_PROTO);
    assert_int_equal(used, 0);
    assert_int_equal(e.code, TL_E_PROTO);
    assert_int_equal(tl_relp_next(&p, S("1 close 0\n"), &fr, &used, &e), TL_E_PROTO);
    assert_non_null(strstr(e.cause, "already failed"));
    assert_int_equal(tl_relp_finish(&p, 0, &e), TL_E_PROTO);
    /* A NULL err is fine. */
    tl_relp_parser_init(&p, 64);
    assert_int_equal(tl_relp_next(&p, S("?"), &fr, &used, NULL), TL_E_PROTO);
    /* The remedy is apart from the cause; tl_err_text joins them as the log line shows. */
    char text[300];
    tl_relp_parser_init(&p, 10);
    assert_int_equal(tl_relp_next(&p, S("1 syslog 11 "), &fr, &used, &e), TL_E_PROTO);
    assert_string_equal(e.cause, "RELP frame of 11 bytes exceeds max_message_size=10 (frame at "
                                 "stream offset 0)");
    assert_string_equal(e.remedy, "raise max_message_size, RELP cannot truncate");
    assert_string_equal(tl_err_text(&e, text, sizeof(text)),
                        "RELP frame of 11 bytes exceeds max_message_size=10 (frame at stream "
                        "offset 0); hint: raise max_message_size, RELP cannot truncate");
}

/* ---- encoder ----------------------------------------------------------------------- */

static void test_encode_shapes(void **state)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    assert_true(tl_relp_encode(&b, 1, "open", "relp_version=0", 14));
    assert_true(tl_relp_encode(&b, 2, "syslog", "a\nb", 3));
    assert_true(tl_relp_encode(&b, 3, "close", NULL, 0));
    assert_true(tl_relp_encode(&b, 0, "serverclose", "", 0));
    assert_true(tl_relp_encode(&b, 999999999, "rsp", "200 OK", 6));
    static const char want[] = "1 open 14 relp_version=0\n2 syslog 3 a\nb\n3 close 0\n"
                               "0 serverclose 0\n999999999 rsp 6 200 OK\n";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.data, want, b.len);

    /* Refusals leave the buffer as it was. */
    size_t before = b.len;
    assert_false(tl_relp_encode(&b, 1000000000u, "rsp", "x", 1));
    assert_false(tl_relp_encode(&b, 1, "", "x", 1));
    assert_false(tl_relp_encode(&b, 1, "sys log", "x", 1));
    assert_false(tl_relp_encode(&b, 1, "syslog1", "x", 1));
    assert_false(tl_relp_encode(&b, 1, "abcdefghijklmnopqrstuvwxyzABCDEFG", NULL, 0));
    assert_true(tl_relp_encode(&b, 1, "abcdefghijklmnopqrstuvwxyzABCDEF", NULL, 0));
    b.len = before;
    assert_false(tl_relp_encode(&b, 1, NULL, NULL, 0));
    assert_false(tl_relp_encode(&b, 1, "syslog", NULL, 3));
    assert_false(tl_relp_encode(&b, 1, "syslog", "x", (size_t)TL_RELP_DATALEN_MAX + 1));
    assert_int_equal(b.len, before);
    tl_buf_fini(&b);

    /* A full buffer: all or nothing. */
    tl_buf_init(&b, 24);
    assert_true(tl_relp_encode(&b, 1, "syslog", "hello", 5)); /* 17 bytes */
    assert_false(tl_relp_encode(&b, 2, "close", NULL, 0));  /* 10 more do not fit */
    assert_int_equal(b.len, 17);
    tl_buf_fini(&b);
}

static void test_encode_roundtrip(void **state)
{
    enum { NFRAMES = 300, MAXD = 700 };
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    struct exp *e = calloc(NFRAMES, sizeof(*e));
    char (*cmds)[TL_RELP_CMD_MAX + 1] = calloc(NFRAMES, sizeof(*cmds));
    uint8_t *pool = malloc(MAXD);
    struct tl_buf b;

    assert_non_null(e);
    assert_non_null(cmds);
    assert_non_null(pool);
    rng_state = 0x1234567890abcdefull;
    for (size_t i = 0; i < MAXD; i++) {
        pool[i] = (uint8_t)rng(); /* any byte, LF and NUL included */
    }
    tl_buf_init(&b, 0);
    for (size_t i = 0; i < NFRAMES; i++) {
        size_t cl = 1 + (size_t)(rng() % TL_RELP_CMD_MAX);
        for (size_t k = 0; k < cl; k++) {
            cmds[i][k] = letters[rng() % (sizeof(letters) - 1)];
        }
        uint32_t txnr = (uint32_t)(rng() % 4 == 0 ? rng() % 10 : rng() % (TL_RELP_TXNR_MAX + 1));
        size_t len = rng() % 3 == 0 ? 0 : (size_t)(rng() % (MAXD + 1));
        size_t off = (size_t)(rng() % (MAXD - len + 1));
        e[i].txnr = txnr;
        e[i].cmd = cmds[i];
        e[i].data = (const char *)pool + off;
        e[i].len = len;
        assert_true(tl_relp_encode(&b, txnr, cmds[i], pool + off, len));
    }
    struct spec sp = { .name = "roundtrip", .stream = b.data, .len = b.len, .max = MAXD,
                       .exp = e, .nexp = NFRAMES };
    check_n(&sp, false, 20);
    tl_buf_fini(&b);
    free(pool);
    free(cmds);
    free(e);
}

static void test_txnr_next(void **state)
{
    assert_int_equal(tl_relp_txnr_next(1), 2);
    assert_int_equal(tl_relp_txnr_next(999999998), 999999999);
    assert_int_equal(tl_relp_txnr_next(999999999), 1);
}

/* ---- sessions: helpers ------------------------------------------------------------- */

/* Parses exactly one frame out of a literal. */
static struct tl_relp_frame one(const uint8_t *p, size_t n)
{
    struct tl_relp_parser ps;
    struct tl_relp_frame fr;
    size_t used;
    struct tl_err e;

    tl_relp_parser_init(&ps, 4096);
    enum tl_rc rc = tl_relp_next(&ps, p, n, &fr, &used, &e);
    if (rc != TL_OK || used != n) {
        fail_msg("frame '%.*s' did not parse: %s", (int)n, (const char *)p,
                 rc == TL_E_PROTO ? e.cause : "incomplete");
    }
    return fr;
}

#define FR(lit) one(S(lit))

static void expect_out(struct tl_buf *out, const char *want)
{
    size_t n = strlen(want);
    if (out->len != n || memcmp(out->data, want, n) != 0) {
        fail_msg("out is '%.*s', want '%s'", (int)out->len, (const char *)out->data, want);
    }
    tl_buf_reset(out);
}

static enum tl_rc srv(struct tl_relp_server *s, struct tl_relp_frame fr, struct tl_buf *out,
                           struct tl_relp_event *ev, char *err)
{
    struct tl_err e;
    enum tl_rc rc = tl_relp_server_frame(s, &fr, out, ev, &e);
    if (rc != TL_OK) {
        tl_err_text(&e, err, 256);
    }
    return rc;
}

#define OUR_OFFERS "relp_version=0\nrelp_software=tlslogd," TL_VERSION "\ncommands=syslog"

/* ---- server -------------------------------------------------------------------------- */

static void test_server_conversation(void **state)
{
    struct tl_relp_server s;
    struct tl_relp_event ev;
    struct tl_buf out;
    char err[256];
    char want[256];

    tl_buf_init(&out, 0);
    tl_relp_server_init(&s, 0);
    assert_false(tl_relp_server_done(&s));

    assert_int_equal(srv(&s, FR(LIBRELP_OPEN), &out, &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_OPEN);
    assert_int_equal(ev.len, 86);
    assert_memory_equal(ev.data, "relp_version=0\n", 15);
    snprintf(want, sizeof(want), "1 rsp %zu 200 OK\n" OUR_OFFERS "\n",
             sizeof("200 OK\n" OUR_OFFERS) - 1);
    expect_out(&out, want);

    assert_int_equal(srv(&s, FR("2 syslog 5 hello\n"), &out, &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_SYSLOG);
    assert_int_equal(ev.txnr, 2);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "hello", 5);
    assert_int_equal(srv(&s, FR("3 syslog 1 x\n"), &out, &ev, err), TL_OK);
    assert_int_equal(srv(&s, FR("4 syslog 0\n"), &out, &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_SYSLOG);
    assert_int_equal(ev.len, 0);
    assert_int_equal(tl_relp_server_pending(&s), 3);
    assert_int_equal(out.len, 0); /* nothing is acknowledged by itself */

    /* Answers go in order: 3 before 2 is refused. */
    assert_false(tl_relp_server_ack(&s, 3, &out));
    assert_false(tl_relp_server_ack(&s, 9, &out));
    assert_int_equal(out.len, 0);
    assert_true(tl_relp_server_ack(&s, 2, &out));
    expect_out(&out, "2 rsp 6 200 OK\n");
    assert_true(tl_relp_server_nak(&s, 3, "queue full\nsecond line", &out));
    expect_out(&out, "3 rsp 14 500 queue full\n");

    /* close while 4 is pending: its rsp waits behind the ack of 4. */
    assert_int_equal(srv(&s, FR("5 close 0\n"), &out, &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_CLOSE);
    assert_int_equal(out.len, 0);
    assert_false(tl_relp_server_done(&s));
    assert_true(tl_relp_server_ack(&s, 4, &out));
    expect_out(&out, "4 rsp 6 200 OK\n5 rsp 0\n0 serverclose 0\n");
    assert_true(tl_relp_server_done(&s));
    assert_int_equal(tl_relp_server_pending(&s), 0);
    assert_false(tl_relp_server_ack(&s, 5, &out));

    /* Anything after close is an error. */
    assert_int_equal(srv(&s, FR("6 syslog 1 y\n"), &out, &ev, err), TL_E_PROTO);
    assert_non_null(strstr(err, "after close"));
    tl_buf_fini(&out);
}

static void test_server_close_idle_and_nak_text(void **state)
{
    struct tl_relp_server s;
    struct tl_relp_event ev;
    struct tl_buf out;
    char err[256];

    tl_buf_init(&out, 0);
    tl_relp_server_init(&s, 0);
    assert_int_equal(srv(&s, FR("1 open 30 relp_version=0\ncommands=syslog\n"), &out, &ev,
                         err),
                     TL_OK);
    tl_buf_reset(&out);
    assert_int_equal(srv(&s, FR("2 syslog 1 a\n"), &out, &ev, err), TL_OK);
    /* An empty reason still gives a well-formed rsp; a long one is cut at 80 bytes. */
    assert_true(tl_relp_server_nak(&s, 2, "", &out));
    expect_out(&out, "2 rsp 9 500 error\n");
    assert_int_equal(srv(&s, FR("3 syslog 1 a\n"), &out, &ev, err), TL_OK);
    char reason[200];
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    assert_true(tl_relp_server_nak(&s, 3, reason, &out));
    assert_memory_equal(out.data, "3 rsp 84 500 rrrr", 17);
    assert_int_equal(out.len, 2 + 4 + 3 + 84 + 1);
    tl_buf_reset(&out);
    /* Close with nothing pending is answered at once. */
    assert_int_equal(srv(&s, FR("4 close 0\n"), &out, &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_CLOSE);
    expect_out(&out, "4 rsp 0\n0 serverclose 0\n");
    assert_true(tl_relp_server_done(&s));
    tl_buf_fini(&out);
}

struct srv_err_case {
    const char *name;
    const char *frames[4]; /* fed in order; the last one must fail */
    const char *err;
    const char *out; /* what the failing frame appends */
};

static void test_server_errors(void **state)
{
    static const struct srv_err_case cases[] = {
        { "syslog before open", { "1 syslog 1 x\n" }, "syslog (TXNR 1) before open",
          "1 rsp 38 500 command disabled: session not open\n0 serverclose 0\n" },
        { "no syslog offer", { "1 open 14 relp_version=0\n" },
          "does not offer the syslog command (offers: 'relp_version=0')",
          "1 rsp 44 500 required command not supported by client\n0 serverclose 0\n" },
        { "other commands only", { "1 open 36 relp_version=0\ncommands=eventlog,sys\n" },
          "does not offer the syslog command",
          "1 rsp 44 500 required command not supported by client\n0 serverclose 0\n" },
        { "bad version", { "1 open 30 relp_version=x\ncommands=syslog\n" },
          "invalid relp_version offer",
          "1 rsp 30 500 invalid relp_version offer\n0 serverclose 0\n" },
        { "second open", { LIBRELP_OPEN, "2 open 30 relp_version=0\ncommands=syslog\n" },
          "second open (TXNR 2)",
          "2 rsp 43 500 protocol error: connection already open\n0 serverclose 0\n" },
        { "second open with pending",
          { LIBRELP_OPEN, "2 syslog 1 x\n", "3 open 30 relp_version=0\ncommands=syslog\n" },
          "second open (TXNR 3)", "0 serverclose 0\n" },
        { "first TXNR not 1", { "2 open 30 relp_version=0\ncommands=syslog\n" },
          "'open' with TXNR 2, expected TXNR 1", "0 serverclose 0\n" },
        { "TXNR gap", { LIBRELP_OPEN, "2 syslog 1 x\n", "4 syslog 1 x\n" },
          "'syslog' with TXNR 4, expected TXNR 3", "0 serverclose 0\n" },
        { "TXNR repeated", { LIBRELP_OPEN, "2 syslog 1 x\n", "2 syslog 1 x\n" },
          "with TXNR 2, expected TXNR 3", "0 serverclose 0\n" },
        { "client hint", { LIBRELP_OPEN, "0 serverclose 0\n" },
          "hint 'serverclose' (TXNR 0)", "0 serverclose 0\n" },
        { "rsp from client", { LIBRELP_OPEN, "2 rsp 6 200 OK\n" },
          "unexpected command 'rsp' (TXNR 2)", "2 rsp 19 500 unknown command\n0 serverclose 0\n" },
        { "unknown command", { LIBRELP_OPEN, "2 starttls 0\n" }, "unexpected command 'starttls'",
          "2 rsp 19 500 unknown command\n0 serverclose 0\n" },
        { "after close", { LIBRELP_OPEN, "2 close 0\n", "3 syslog 1 x\n" },
          "'syslog' (TXNR 3) after close", "0 serverclose 0\n" },
    };
    char err[256];

    for (size_t i = 0; i < N(cases); i++) {
        const struct srv_err_case *c = &cases[i];
        struct tl_relp_server s;
        struct tl_relp_event ev;
        struct tl_buf out;
        size_t nf = 0;

        while (nf < N(c->frames) && c->frames[nf] != NULL) {
            nf++;
        }
        tl_buf_init(&out, 0);
        tl_relp_server_init(&s, 0);
        for (size_t k = 0; k < nf; k++) {
            tl_buf_reset(&out);
            enum tl_rc rc = srv(&s, one((const uint8_t *)c->frames[k], strlen(c->frames[k])),
                                     &out, &ev, err);
            if (k + 1 < nf && rc != TL_OK) {
                fail_msg("%s: frame %zu failed: %s", c->name, k, err);
            }
            if (k + 1 == nf) {
                if (rc != TL_E_PROTO) {
                    fail_msg("%s: no error", c->name);
                }
                if (strstr(err, c->err) == NULL) {
                    fail_msg("%s: error '%s', want '%s'", c->name, err, c->err);
                }
                if (out.len != strlen(c->out) || memcmp(out.data, c->out, out.len) != 0) {
                    fail_msg("%s: out '%.*s', want '%s'", c->name, (int)out.len,
                             (const char *)out.data, c->out);
                }
            }
        }
        /* Once failed, always failed, and nothing more goes out. */
        tl_buf_reset(&out);
        assert_int_equal(srv(&s, FR("9 syslog 1 x\n"), &out, &ev, err), TL_E_PROTO);
        assert_false(tl_relp_server_ack(&s, 2, &out));
        assert_int_equal(out.len, 0);
        tl_buf_fini(&out);
    }
}

static void test_server_limits_and_shutdown(void **state)
{
    struct tl_relp_server s;
    struct tl_relp_event ev;
    struct tl_buf out;
    char err[256];

    tl_buf_init(&out, 0);
    tl_relp_server_init(&s, 2);
    assert_int_equal(srv(&s, FR(LIBRELP_OPEN), &out, &ev, err), TL_OK);
    assert_int_equal(srv(&s, FR("2 syslog 1 a\n"), &out, &ev, err), TL_OK);
    assert_int_equal(srv(&s, FR("3 syslog 1 b\n"), &out, &ev, err), TL_OK);
    tl_buf_reset(&out);
    assert_int_equal(srv(&s, FR("4 syslog 1 c\n"), &out, &ev, err), TL_E_PROTO);
    assert_non_null(strstr(err, "more than 2 messages unacknowledged"));
    expect_out(&out, "0 serverclose 0\n");

    /* Shutdown: the hint, then nothing is accepted or answered. */
    tl_relp_server_init(&s, 0);
    assert_int_equal(srv(&s, FR(LIBRELP_OPEN), &out, &ev, err), TL_OK);
    assert_int_equal(srv(&s, FR("2 syslog 1 a\n"), &out, &ev, err), TL_OK);
    tl_buf_reset(&out);
    assert_true(tl_relp_server_shutdown(&s, &out));
    expect_out(&out, "0 serverclose 0\n");
    assert_false(tl_relp_server_ack(&s, 2, &out));
    assert_false(tl_relp_server_shutdown(&s, &out));
    assert_int_equal(srv(&s, FR("3 syslog 1 b\n"), &out, &ev, err), TL_E_PROTO);
    assert_int_equal(out.len, 0);
    tl_buf_fini(&out);

    /* A full out buffer: the ack is refused and can be retried. */
    tl_buf_init(&out, 40);
    tl_relp_server_init(&s, 0);
    struct tl_buf big;
    tl_buf_init(&big, 0);
    assert_int_equal(srv(&s, FR(LIBRELP_OPEN), &big, &ev, err), TL_OK);
    assert_int_equal(srv(&s, FR("2 syslog 1 a\n"), &out, &ev, err), TL_OK);
    assert_int_equal(srv(&s, FR("3 close 0\n"), &out, &ev, err), TL_OK);
    assert_true(tl_buf_append(&out, "0123456789", 10));
    assert_false(tl_relp_server_ack(&s, 2, &out)); /* 15 + 8 + 16 bytes do not fit in 30 */
    assert_int_equal(out.len, 10);
    tl_buf_reset(&out);
    assert_true(tl_relp_server_ack(&s, 2, &out));
    expect_out(&out, "2 rsp 6 200 OK\n3 rsp 0\n0 serverclose 0\n");
    tl_buf_fini(&out);
    tl_buf_fini(&big);

    /* Open with an out buffer too small for the rsp. */
    tl_buf_init(&out, 8);
    tl_relp_server_init(&s, 0);
    assert_int_equal(srv(&s, FR(LIBRELP_OPEN), &out, &ev, err), TL_E_PROTO);
    assert_non_null(strstr(err, "output buffer full"));
    tl_buf_fini(&out);
}

/* ---- client ------------------------------------------------------------------------ */

/* What imrelp (librelp 1.11) answers to open, byte for byte. */
#define LIBRELP_OPEN_RSP                                                                       \
    "1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\n" \
    "commands=syslog\n"

static enum tl_rc cli(struct tl_relp_client *c, struct tl_relp_frame fr,
                           struct tl_relp_event *ev, char *err)
{
    struct tl_err e;
    enum tl_rc rc = tl_relp_client_handle(c, &fr, ev, &e);
    if (rc != TL_OK) {
        tl_err_text(&e, err, 256);
    }
    return rc;
}

static void open_client(struct tl_relp_client *c, size_t window, struct tl_buf *out)
{
    struct tl_relp_event ev;
    char err[256];
    char want[256];

    tl_relp_client_init(c, window);
    assert_false(tl_relp_client_can_send(c));
    assert_true(tl_relp_client_open(c, out));
    assert_false(tl_relp_client_open(c, out));
    snprintf(want, sizeof(want), "1 open %zu " OUR_OFFERS "\n", sizeof(OUR_OFFERS) - 1);
    expect_out(out, want);
    assert_false(tl_relp_client_send(c, "x", 1, out, NULL)); /* not before the rsp */
    if (cli(c, FR(LIBRELP_OPEN_RSP), &ev, err) != TL_OK) {
        fail_msg("open rsp refused: %s", err);
    }
    assert_int_equal(ev.type, TL_RELP_EV_OPENED);
    assert_int_equal(ev.txnr, 1);
    assert_int_equal(ev.len, 86);
    assert_true(tl_relp_client_is_open(c));
}

static void test_client_conversation(void **state)
{
    struct tl_relp_client c;
    struct tl_relp_event ev;
    struct tl_buf out;
    uint32_t t;
    char err[256];

    tl_buf_init(&out, 0);
    open_client(&c, 3, &out);
    assert_true(tl_relp_client_send(&c, "<13>a", 5, &out, &t));
    assert_int_equal(t, 2);
    assert_true(tl_relp_client_send(&c, "b\nc", 3, &out, &t));
    assert_true(tl_relp_client_send(&c, "", 0, &out, &t));
    assert_int_equal(t, 4);
    expect_out(&out, "2 syslog 5 <13>a\n3 syslog 3 b\nc\n4 syslog 0\n");
    assert_int_equal(tl_relp_client_unacked(&c), 3);

    /* Window full. */
    assert_false(tl_relp_client_can_send(&c));
    assert_false(tl_relp_client_send(&c, "d", 1, &out, &t));
    assert_int_equal(out.len, 0);

    assert_int_equal(cli(&c, FR("2 rsp 6 200 OK\n"), &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_ACKED);
    assert_int_equal(ev.txnr, 2);
    assert_true(tl_relp_client_can_send(&c));
    assert_true(tl_relp_client_send(&c, "d", 1, &out, &t));
    assert_int_equal(t, 5);
    expect_out(&out, "5 syslog 1 d\n");

    /* A NAK carries the server's text. */
    assert_int_equal(cli(&c, FR("3 rsp 22 500 queue full\nignored\n"), &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_NAKED);
    assert_int_equal(ev.txnr, 3);
    assert_int_equal(ev.len, 14);
    assert_memory_equal(ev.data, "500 queue full", 14);
    assert_int_equal(cli(&c, FR("4 rsp 6 200 OK\n"), &ev, err), TL_OK);
    assert_int_equal(cli(&c, FR("5 rsp 3 200\n"), &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_ACKED);
    assert_int_equal(tl_relp_client_unacked(&c), 0);

    /* Close: librelp answers with empty data. */
    assert_true(tl_relp_client_send(&c, "e", 1, &out, &t));
    assert_true(tl_relp_client_close(&c, &out));
    expect_out(&out, "6 syslog 1 e\n7 close 0\n");
    assert_false(tl_relp_client_send(&c, "f", 1, &out, &t));
    assert_false(tl_relp_client_close(&c, &out));
    assert_int_equal(cli(&c, FR("6 rsp 6 200 OK\n"), &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_ACKED);
    assert_int_equal(cli(&c, FR("7 rsp 0\n"), &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_CLOSED);
    assert_int_equal(ev.txnr, 7);
    /* imrelp sends the hint right after its close rsp. */
    assert_int_equal(cli(&c, FR("0 serverclose 0\n"), &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_SERVERCLOSE);
    assert_int_equal(cli(&c, FR("8 rsp 6 200 OK\n"), &ev, err), TL_E_PROTO);
    assert_non_null(strstr(err, "after the session ended"));
    tl_buf_fini(&out);
}

static void test_client_serverclose(void **state)
{
    struct tl_relp_client c;
    struct tl_relp_event ev;
    struct tl_buf out;
    uint32_t t;
    char err[256];

    tl_buf_init(&out, 0);
    open_client(&c, 0, &out);
    assert_int_equal(c.window, TL_RELP_DEFAULT_WINDOW);
    for (int i = 0; i < 5; i++) {
        assert_true(tl_relp_client_send(&c, "m", 1, &out, &t));
    }
    assert_int_equal(cli(&c, FR("2 rsp 6 200 OK\n"), &ev, err), TL_OK);
    assert_int_equal(cli(&c, FR("0 serverclose 0\n"), &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_SERVERCLOSE);
    assert_int_equal(tl_relp_client_unacked(&c), 4); /* the caller resends these */
    assert_false(tl_relp_client_can_send(&c));
    assert_int_equal(cli(&c, FR("3 rsp 6 200 OK\n"), &ev, err), TL_E_PROTO);

    /* serverclose while opening (imrelp shutting down) */
    tl_relp_client_init(&c, 0);
    assert_true(tl_relp_client_open(&c, &out));
    assert_int_equal(cli(&c, FR("0 serverclose 0\n"), &ev, err), TL_OK);
    assert_int_equal(ev.type, TL_RELP_EV_SERVERCLOSE);
    tl_buf_fini(&out);
}

struct cl_err_case {
    const char *name;
    const char *rsp; /* the failing frame, after open + 2 sends (TXNRs 2, 3) */
    bool opened;     /* whether the open rsp was fed first */
    const char *err;
};

static void test_client_errors(void **state)
{
    static const struct cl_err_case cases[] = {
        { "open refused", "1 rsp 44 500 required command not supported by client\n", false,
          "RELP server refused the session: '500 required command not supported by client'" },
        { "open rsp empty", "1 rsp 0\n", false, "refused the session: ''" },
        { "open rsp without syslog", "1 rsp 21 200 OK\nrelp_version=0\n", false,
          "does not offer the syslog command: 'relp_version=0'" },
        { "open rsp without version", "1 rsp 22 200 OK\ncommands=syslog\n", false,
          "no usable relp_version" },
        { "open rsp version 1", "1 rsp 37 200 OK\nrelp_version=1\ncommands=syslog\n", false,
          "no usable relp_version (we speak 0)" },
        { "rsp for the future", "4 rsp 6 200 OK\n", true,
          "rsp for TXNR 4 out of order: the oldest command waiting for one is TXNR 2" },
        { "out of order", "3 rsp 6 200 OK\n", true, "rsp for TXNR 3 out of order" },
        { "rsp txnr 0", "0 rsp 6 200 OK\n", true, "rsp for TXNR 0 out of order" },
        { "malformed rsp", "2 rsp 2 OK\n", true, "malformed rsp for TXNR 2: 'OK'" },
        { "rsp code then junk", "2 rsp 4 200x\n", true, "malformed rsp for TXNR 2" },
        { "command from server", "2 syslog 1 x\n", true, "unexpected command 'syslog'" },
        { "serverclose with txnr", "5 serverclose 0\n", true, "serverclose with TXNR 5" },
    };
    char err[256];

    for (size_t i = 0; i < N(cases); i++) {
        const struct cl_err_case *k = &cases[i];
        struct tl_relp_client c;
        struct tl_relp_event ev;
        struct tl_buf out;
        uint32_t t;

        tl_buf_init(&out, 0);
        tl_relp_client_init(&c, 0);
        assert_true(tl_relp_client_open(&c, &out));
        if (k->opened) {
            assert_int_equal(cli(&c, FR(LIBRELP_OPEN_RSP), &ev, err), TL_OK);
            assert_true(tl_relp_client_send(&c, "a", 1, &out, &t));
            assert_true(tl_relp_client_send(&c, "b", 1, &out, &t));
        }
        if (cli(&c, one((const uint8_t *)k->rsp, strlen(k->rsp)), &ev, err) != TL_E_PROTO) {
            fail_msg("%s: no error", k->name);
        }
        if (strstr(err, k->err) == NULL) {
            fail_msg("%s: error '%s', want '%s'", k->name, err, k->err);
        }
        assert_false(tl_relp_client_can_send(&c));
        assert_false(tl_relp_client_send(&c, "z", 1, &out, &t));
        assert_int_equal(cli(&c, FR("2 rsp 6 200 OK\n"), &ev, err), TL_E_PROTO);
        tl_buf_fini(&out);
    }

    /* An rsp with nothing outstanding. */
    struct tl_relp_client c;
    struct tl_relp_event ev;
    tl_relp_client_init(&c, 0);
    assert_int_equal(cli(&c, FR("1 rsp 6 200 OK\n"), &ev, err), TL_E_PROTO);
    assert_non_null(strstr(err, "but no command awaits one"));
}

/* ---- client and server together ---------------------------------------------------- */

/*
 * Moves bytes from one side's out buffer to the other side's read buffer in random-sized
 * pieces and parses what arrived. Returns the number of frames handed to the callback.
 */
struct pipe_end {
    struct tl_buf in;
    struct tl_relp_parser parser;
};

static void transfer(struct tl_buf *from, struct pipe_end *to, size_t max_piece)
{
    size_t n = from->len;
    if (n == 0) {
        return;
    }
    size_t piece = 1 + (size_t)(rng() % max_piece);
    if (piece < n) {
        n = piece;
    }
    assert_true(tl_buf_append(&to->in, from->data, n));
    tl_buf_consume(from, n);
}

struct convo {
    struct tl_relp_client cl;
    struct tl_relp_server sv;
    struct tl_buf c2s; /* client's out */
    struct tl_buf s2c; /* server's out */
    struct pipe_end at_srv;
    struct pipe_end at_cl;
    uint32_t *srv_pending; /* TXNRs the server has not acked yet, in order */
    size_t srv_npending;
    size_t sent;
    size_t received;
    size_t acked;
    bool server_closing;
    bool closed;
    size_t nmsgs;
};

static void msg_text(size_t i, char *buf, size_t cap, size_t *len)
{
    /* Sizes vary, some messages carry LF and digits that look like headers. */
    int n = snprintf(buf, cap, "<13>1 - host app %zu - - message %zu%s", i, i,
                     i % 7 == 0 ? "\n1 syslog 3 abc\n" : "");
    *len = (size_t)n + (i % 13) * 37;
    memset(buf + n, 'x', (i % 13) * 37);
}

static void srv_side(struct convo *cv)
{
    struct tl_relp_frame fr;
    struct tl_relp_event ev;
    size_t used;
    size_t off = 0;
    struct tl_err e;
    char want[1024];
    size_t wlen;

    for (;;) {
        enum tl_rc rc = tl_relp_next(&cv->at_srv.parser, cv->at_srv.in.data + off,
                                     cv->at_srv.in.len - off, &fr, &used, &e);
        if (rc == TL_AGAIN) {
            break;
        }
        if (rc != TL_OK) {
            fail_msg("server parser: %s", e.cause);
        }
        off += used;
        if (tl_relp_server_frame(&cv->sv, &fr, &cv->s2c, &ev, &e) != TL_OK) {
            fail_msg("server session: %s", e.cause);
        }
        if (ev.type == TL_RELP_EV_SYSLOG) {
            msg_text(cv->received, want, sizeof(want), &wlen);
            if (ev.len != wlen || memcmp(ev.data, want, wlen) != 0) {
                fail_msg("message %zu arrived as '%.*s'", cv->received, (int)ev.len,
                         (const char *)ev.data);
            }
            cv->received++;
            cv->srv_pending[cv->srv_npending++] = ev.txnr;
        } else if (ev.type == TL_RELP_EV_CLOSE) {
            cv->server_closing = true;
        }
    }
    tl_buf_consume(&cv->at_srv.in, off);
    /* Acknowledge some of what is pending, oldest first, as a queue would. */
    size_t k = cv->srv_npending == 0 ? 0 : (size_t)(rng() % (cv->srv_npending + 1));
    if (cv->server_closing) {
        k = cv->srv_npending;
    }
    for (size_t i = 0; i < k; i++) {
        assert_true(tl_relp_server_ack(&cv->sv, cv->srv_pending[i], &cv->s2c));
    }
    memmove(cv->srv_pending, cv->srv_pending + k, (cv->srv_npending - k) * sizeof(uint32_t));
    cv->srv_npending -= k;
}

static void cl_side(struct convo *cv, uint32_t *expect_ack)
{
    struct tl_relp_frame fr;
    struct tl_relp_event ev;
    size_t used;
    size_t off = 0;
    struct tl_err e;

    for (;;) {
        enum tl_rc rc = tl_relp_next(&cv->at_cl.parser, cv->at_cl.in.data + off,
                                     cv->at_cl.in.len - off, &fr, &used, &e);
        if (rc == TL_AGAIN) {
            break;
        }
        if (rc != TL_OK) {
            fail_msg("client parser: %s", e.cause);
        }
        off += used;
        if (tl_relp_client_handle(&cv->cl, &fr, &ev, &e) != TL_OK) {
            fail_msg("client session: %s", e.cause);
        }
        if (ev.type == TL_RELP_EV_ACKED) {
            /* In send order: the caller's FIFO of sent messages stays valid. */
            assert_int_equal(ev.txnr, *expect_ack);
            *expect_ack = tl_relp_txnr_next(*expect_ack);
            cv->acked++;
        } else if (ev.type == TL_RELP_EV_CLOSED) {
            cv->closed = true;
        } else if (cv->closed) {
            assert_int_equal(ev.type, TL_RELP_EV_SERVERCLOSE);
        } else {
            assert_int_equal(ev.type, TL_RELP_EV_OPENED);
        }
    }
    tl_buf_consume(&cv->at_cl.in, off);
}

static void converse(size_t nmsgs, size_t window, uint32_t first_txnr)
{
    struct convo cv;
    char msg[1024];
    size_t mlen;
    uint32_t t;

    memset(&cv, 0, sizeof(cv));
    cv.nmsgs = nmsgs;
    tl_relp_client_init(&cv.cl, window);
    window = cv.cl.window;
    cv.srv_pending = calloc(window + 1, sizeof(uint32_t));
    assert_non_null(cv.srv_pending);
    tl_relp_server_init(&cv.sv, 0);
    /* Start the numbering near the wrap if asked: both sides must agree. */
    cv.cl.next = first_txnr;
    cv.sv.expect = first_txnr;
    tl_buf_init(&cv.c2s, 0);
    tl_buf_init(&cv.s2c, 0);
    tl_buf_init(&cv.at_srv.in, 0);
    tl_buf_init(&cv.at_cl.in, 0);
    /* Never a NULL data pointer, so "data + off" is always defined. */
    assert_true(tl_buf_reserve(&cv.at_srv.in, 1));
    assert_true(tl_buf_reserve(&cv.at_cl.in, 1));
    tl_relp_parser_init(&cv.at_srv.parser, 1024);
    tl_relp_parser_init(&cv.at_cl.parser, 1024);

    uint32_t expect_ack = tl_relp_txnr_next(first_txnr);
    assert_true(tl_relp_client_open(&cv.cl, &cv.c2s));
    size_t rounds = 0;
    while (!cv.closed || cv.s2c.len > 0 || cv.at_cl.in.len > 0) {
        assert_true(++rounds < 10 * nmsgs + 1000);
        size_t burst = 1 + (size_t)(rng() % 64);
        while (burst-- > 0 && cv.sent < nmsgs && tl_relp_client_can_send(&cv.cl)) {
            msg_text(cv.sent, msg, sizeof(msg), &mlen);
            assert_true(tl_relp_client_send(&cv.cl, msg, mlen, &cv.c2s, &t));
            cv.sent++;
        }
        if (cv.sent == nmsgs && tl_relp_client_is_open(&cv.cl)) {
            assert_true(tl_relp_client_close(&cv.cl, &cv.c2s));
        }
        assert_true(tl_relp_client_unacked(&cv.cl) <= window);
        transfer(&cv.c2s, &cv.at_srv, rng() % 2 ? 7 : 40000);
        srv_side(&cv);
        transfer(&cv.s2c, &cv.at_cl, rng() % 2 ? 5 : 40000);
        cl_side(&cv, &expect_ack);
    }
    assert_int_equal(cv.sent, nmsgs);
    assert_int_equal(cv.received, nmsgs);
    assert_int_equal(cv.acked, nmsgs);
    assert_true(tl_relp_server_done(&cv.sv));
    assert_int_equal(tl_relp_client_unacked(&cv.cl), 0);
    assert_int_equal(cv.c2s.len + cv.s2c.len + cv.at_srv.in.len + cv.at_cl.in.len, 0);
    tl_buf_fini(&cv.c2s);
    tl_buf_fini(&cv.s2c);
    tl_buf_fini(&cv.at_srv.in);
    tl_buf_fini(&cv.at_cl.in);
    free(cv.srv_pending);
}

static void test_client_server_10000(void **state)
{
    rng_state = 0xfeedfacecafebeefull;
    converse(10000, 0, 1);
    converse(2000, 1, 1);
    converse(3000, 17, 1);
}

static void test_txnr_wrap(void **state)
{
    /* open gets 999999997; messages 999999998, 999999999, 1, 2, ... */
    rng_state = 0x0123456789abcdefull;
    converse(50, 4, 999999997);
    converse(50, 1, 999999999);

    /* And on the wire. */
    struct tl_relp_client c;
    struct tl_relp_event ev;
    struct tl_buf out;
    uint32_t t;
    char err[256];
    tl_buf_init(&out, 0);
    tl_relp_client_init(&c, 8);
    c.next = 999999998;
    assert_true(tl_relp_client_open(&c, &out));
    tl_buf_reset(&out);
    assert_int_equal(cli(&c,
                         FR("999999998 rsp 37 200 OK\nrelp_version=0\ncommands=syslog\n"),
                         &ev, err),
                     TL_OK);
    assert_true(tl_relp_client_send(&c, "a", 1, &out, &t));
    assert_int_equal(t, 999999999);
    assert_true(tl_relp_client_send(&c, "b", 1, &out, &t));
    assert_int_equal(t, 1);
    expect_out(&out, "999999999 syslog 1 a\n1 syslog 1 b\n");
    assert_int_equal(cli(&c, FR("1 rsp 6 200 OK\n"), &ev, err), TL_E_PROTO);
    tl_buf_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_librelp_session),
        cmocka_unit_test(test_parse_server_frames),
        cmocka_unit_test(test_parse_transparent_data),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_parse_empty),
        cmocka_unit_test(test_parse_err_oversize),
        cmocka_unit_test(test_parse_err_trailer),
        cmocka_unit_test(test_parse_err_txnr),
        cmocka_unit_test(test_parse_err_command),
        cmocka_unit_test(test_parse_err_datalen),
        cmocka_unit_test(test_parse_err_eof),
        cmocka_unit_test(test_parse_sticky_error),
        cmocka_unit_test(test_encode_shapes),
        cmocka_unit_test(test_encode_roundtrip),
        cmocka_unit_test(test_txnr_next),
        cmocka_unit_test(test_server_conversation),
        cmocka_unit_test(test_server_close_idle_and_nak_text),
        cmocka_unit_test(test_server_errors),
        cmocka_unit_test(test_server_limits_and_shutdown),
        cmocka_unit_test(test_client_conversation),
        cmocka_unit_test(test_client_serverclose),
        cmocka_unit_test(test_client_errors),
        cmocka_unit_test(test_client_server_10000),
        cmocka_unit_test(test_txnr_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
