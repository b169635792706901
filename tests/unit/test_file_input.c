/*
 * test_file_input.c: the pure parts of the file input: the splitter (lines, multiline,
 * max_message_size, the partial flush; fed whole and byte by byte), the glob split, the
 * position records of the state file, where a file is read from at start (saved, inode
 * reuse, truncated while stopped) and the copytruncate check; and its keys as the loader
 * takes them (defaults, a glob longer than a socket path, the errors --check reports).
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

#include "conf/conf.h"
#include "in/file_lines.h"
#include "in/file_pos.h"

/* A line starts a message when it begins with a digit (a timestamp, in real logs). */
static bool digit_start(void *ctx, const uint8_t *line, size_t len)
{
    (void)ctx;
    return len > 0 && line[0] >= '0' && line[0] <= '9';
}

#define MAX_OUT 64

struct run {
    char msgs[MAX_OUT][256];
    bool trunc[MAX_OUT];
    size_t n;
    size_t left; /* bytes still held at the end */
};

/* Feeds text to a splitter in pieces of step bytes (0: all at once), keeping the unconsumed
 * bytes as the file input does; flushes at the end when flush. */
static void feed(struct tl_lines *l, const char *text, size_t step, bool flush, struct run *r)
{
    uint8_t buf[4096];
    size_t len = 0;
    size_t at = 0;
    size_t total = strlen(text);
    struct tl_line_msg m;

    memset(r, 0, sizeof(*r));
    while (at < total || flush) {
        size_t take = step == 0 ? total - at : (total - at < step ? total - at : step);
        bool last = at + take == total;
        memcpy(buf + len, text + at, take);
        len += take;
        at += take;
        bool fl = flush && last;
        while (tl_lines_next(l, buf, len, fl, &m) == TL_LINES_MSG) {
            assert_true(m.consumed > 0 && m.consumed <= len);
            if (m.deliver) {
                assert_true(r->n < MAX_OUT);
                assert_true(m.len <= l->max);
                memcpy(r->msgs[r->n], buf, m.len);
                r->msgs[r->n][m.len] = '\0';
                r->trunc[r->n] = m.truncated;
                r->n++;
            }
            memmove(buf, buf + m.consumed, len - m.consumed);
            len -= m.consumed;
        }
        if (last) {
            break;
        }
    }
    r->left = len;
}

struct split_case {
    const char *text;
    bool multi;
    size_t max;
    bool flush;
    const char *want[8];   /* NULL-terminated; a leading '!' marks a truncated message */
    size_t left;           /* bytes held at the end (step 0) */
};

static const struct split_case cases[] = {
    {"a\nbb\n\nccc\n", false, 100, false, {"a", "bb", "", "ccc"}, 0},
    {"a\nbb", false, 100, false, {"a"}, 2},
    {"a\nbb", false, 100, true, {"a", "bb"}, 0},
    {"abcdefgh\nxy\n", false, 4, false, {"!abcd", "xy"}, 0},
    {"abcd\nxy\n", false, 4, false, {"abcd", "xy"}, 0},
    {"abcdefgh", false, 4, false, {"!abcd"}, 0},
    {"crlf\r\n", false, 100, false, {"crlf\r"}, 0},
    /* multiline: a message waits for the next start line (or the flush) */
    {"1 a\n  at x\n  at y\n2 b\n", true, 100, false, {"1 a\n  at x\n  at y"}, 4},
    {"1 a\n  at x\n2 b\n", true, 100, true, {"1 a\n  at x", "2 b"}, 0},
    {"cont\n1 a\n", true, 100, true, {"cont", "1 a"}, 0},
    {"1 a\n2 b\n3", true, 100, false, {"1 a"}, 5},
    {"1 a\n2 b\n3", true, 100, true, {"1 a", "2 b", "3"}, 0},
    /* multiline cut at max, its other lines skipped up to the next start line */
    {"1 abcdefgh\n  more\n  more\n2 b\n3\n", true, 6, false, {"!1 abcd", "2 b"}, 2},
    {"1 ab\n  xx\n  yy\n2 b\n3\n", true, 6, false, {"!1 ab\n ", "2 b"}, 2},
    {"1 abcdefghij", true, 6, true, {"!1 abcd"}, 0},
};

static void check_case(const struct split_case *c, size_t step)
{
    struct tl_lines l = {.max = c->max, .is_start = c->multi ? digit_start : NULL};
    struct run r;
    size_t n = 0;

    feed(&l, c->text, step, c->flush, &r);
    while (c->want[n] != NULL) {
        n++;
    }
    if (r.n != n) {
        fail_msg("'%s' step %zu: %zu messages, want %zu", c->text, step, r.n, n);
    }
    for (size_t i = 0; i < n; i++) {
        const char *w = c->want[i];
        bool t = w[0] == '!';
        assert_string_equal(r.msgs[i], w + (t ? 1 : 0));
        assert_int_equal(r.trunc[i], t);
    }
    if (step == 0) {
        assert_int_equal(r.left, c->left);
    }
}

static void test_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_case(&cases[i], 0);
        /* Byte by byte: the same messages (what is held at the end may differ only where a
         * cut message's rest was dropped early). */
        check_case(&cases[i], 1);
        check_case(&cases[i], 3);
    }
}

/* However the bytes arrive, a buffer of 2 * max + 2 bytes never stalls. */
static void test_progress(void **state)
{
    static const char *texts[] = {
        "1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n  bbbbbbbbbbbbbbbbbbbbbbbbbbbb\n",
                                  "1 a\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                                  "  cccccccccccccccccccccccccccccccccccccccccccccccc\n1\n"};
    (void)state;
    for (int multi = 0; multi < 2; multi++) {
        for (size_t t = 0; t < 3; t++) {
            struct tl_lines l = {.max = 8, .is_start = multi ? digit_start : NULL};
            struct tl_line_msg m;
            const uint8_t *p = (const uint8_t *)texts[t];
            size_t n = strlen(texts[t]);
            size_t guard = 0;
            while (n > 2 * l.max + 1 && guard++ < 100) {
                size_t take = 2 * l.max + 2;
                assert_int_equal(tl_lines_next(&l, p, take, false, &m), TL_LINES_MSG);
                p += m.consumed;
                n -= m.consumed;
            }
            assert_true(n <= 2 * l.max + 1);
        }
    }
}

static void test_glob_split(void **state)
{
    char dir[64];
    char pat[64];

    (void)state;
    assert_true(tl_fpos_split("/var/log/app/*.log", dir, sizeof(dir), pat, sizeof(pat)));
    assert_string_equal(dir, "/var/log/app");
    assert_string_equal(pat, "*.log");
    assert_true(tl_fpos_split("app.log", dir, sizeof(dir), pat, sizeof(pat)));
    assert_string_equal(dir, ".");
    assert_string_equal(pat, "app.log");
    assert_true(tl_fpos_split("/x.log", dir, sizeof(dir), pat, sizeof(pat)));
    assert_string_equal(dir, "/");
    assert_string_equal(pat, "x.log");
    assert_false(tl_fpos_split("/var/log/", dir, sizeof(dir), pat, sizeof(pat)));
    assert_false(tl_fpos_split("/a/b", dir, 2, pat, sizeof(pat)));
}

static void test_records(void **state)
{
    struct tl_fpos p = {.dev = 2049, .ino = 123456789, .off = 4711, .head_len = 200,
                        .head_hash = 0x0123456789abcdefull};
    struct tl_fpos q = {0};
    char key[TL_FPOS_KEY_LEN];
    char val[256];
    uint64_t dev;
    uint64_t ino;

    (void)state;
    tl_fpos_key(p.dev, p.ino, key, sizeof(key));
    assert_string_equal(key, "2049:123456789");
    assert_true(tl_fpos_parse_key(key, &dev, &ino));
    assert_true(dev == 2049 && ino == 123456789);
    assert_true(tl_fpos_encode(&p, "/var/log/a b.log", val, sizeof(val)));
    assert_string_equal(val, "4711 200 0123456789abcdef /var/log/a b.log");
    assert_true(tl_fpos_decode((const uint8_t *)val, strlen(val), &q));
    assert_true(q.off == 4711 && q.head_len == 200 && q.head_hash == p.head_hash);
    assert_false(tl_fpos_encode(&p, "/var/log/a.log", val, 10));
    static const char *bad[] = {"", "12", "12 3", "x 3 00 p", "-1 3 00 p", "1 999 00 p",
                                "1 3 zz p", "99999999999999999999999 1 0 p"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (tl_fpos_decode((const uint8_t *)bad[i], strlen(bad[i]), &q)) {
            fail_msg("'%s' was taken", bad[i]);
        }
    }
    static const char *bad_keys[] = {"", "12", ":3", "3:", "1:2:3", "a:1", "1: 2"};
    for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
        if (tl_fpos_parse_key(bad_keys[i], &dev, &ino)) {
            fail_msg("key '%s' was taken", bad_keys[i]);
        }
    }
}

static void test_start(void **state)
{
    const uint8_t head[] = "2026-12-01 first line of the file\nsecond\n";
    const uint8_t other[] = "2026-12-02 another file on the same inode\n";
    size_t hn = sizeof(head) - 1;
    struct tl_fpos saved = {.off = 20, .head_len = (uint32_t)hn,
                            .head_hash = tl_fpos_hash(head, hn)};
    uint64_t off = 99;

    (void)state;
    assert_int_equal(tl_fpos_start(NULL, head, hn, 100, &off), TL_FPOS_NEW);
    assert_int_equal(tl_fpos_start(&saved, head, hn, 100, &off), TL_FPOS_RESUME);
    assert_int_equal(off, 20);
    /* Inode reuse: another file's first bytes (or fewer than were hashed). */
    assert_int_equal(tl_fpos_start(&saved, other, sizeof(other) - 1, 100, &off), TL_FPOS_REUSED);
    assert_int_equal(off, 0);
    assert_int_equal(tl_fpos_start(&saved, head, 10, 10, &off), TL_FPOS_REUSED);
    /* The same start but shorter than the position: truncated while stopped. */
    saved.off = 500;
    assert_int_equal(tl_fpos_start(&saved, head, hn, 100, &off), TL_FPOS_SHRUNK);
    assert_int_equal(off, 0);
    /* Copytruncate while running. */
    uint64_t h = tl_fpos_hash(head, hn);
    assert_false(tl_fpos_truncated(100, (uint32_t)hn, h, 150, head, hn));
    assert_true(tl_fpos_truncated(100, (uint32_t)hn, h, 50, head, hn));
    assert_true(tl_fpos_truncated(100, (uint32_t)hn, h, 150, other, sizeof(other) - 1));
    assert_true(tl_fpos_truncated(100, (uint32_t)hn, h, 0, head, 0));
    assert_false(tl_fpos_truncated(0, 0, tl_fpos_hash(head, 0), 0, head, 0));
}

static struct tl_conf *load(const char *text, struct tl_conf_errors *errs)
{
    return tl_conf_load_string(text, strlen(text), "t.yaml", errs);
}

#define OUT "outputs:\n  - name: o\n    type: stdout\n"

static void test_conf(void **state)
{
    struct tl_conf_errors errs = {0};
    char text[1024];
    char longpath[200];

    (void)state;
    memset(longpath, 'd', sizeof(longpath));
    memcpy(longpath, "/var/log/", 9);
    memcpy(longpath + sizeof(longpath) - 7, "/*.log", 7);
    snprintf(text, sizeof(text), "inputs:\n  - name: f\n    transport: file\n    path: %s\n" OUT,
             longpath);
    struct tl_conf *c = load(text, &errs);
    assert_non_null(c);
    assert_string_equal(c->state_dir, "/var/lib/tlslogd");
    const struct tl_conf_input *in = &c->inputs[0];
    assert_int_equal(in->transport, TL_TR_FILE);
    assert_string_equal(in->path, longpath);
    assert_int_equal(in->start_at, TL_START_BEGINNING);
    assert_null(in->tag);
    assert_null(in->multiline_start);
    assert_int_equal(in->facility, 1);
    assert_int_equal(in->severity, 5);
    assert_int_equal(in->partial_timeout_ms, 5000);
    tl_conf_free(c);
    tl_conf_errors_fini(&errs);

    c = load("state_dir: /tmp/st\ninputs:\n  - name: f\n    transport: file\n"
             "    path: a/*.log\n    start_at: end\n    tag: web\n    facility: local7\n"
             "    severity: debug\n    multiline_start: \"^\\\\d\"\n"
             "    partial_timeout: 250ms\n" OUT, &errs);
    assert_non_null(c);
    in = &c->inputs[0];
    assert_string_equal(c->state_dir, "/tmp/st");
    assert_int_equal(in->start_at, TL_START_END);
    assert_string_equal(in->tag, "web");
    assert_int_equal(in->facility, 23);
    assert_int_equal(in->severity, 7);
    assert_string_equal(in->multiline_start, "^\\d");
    assert_int_equal(in->partial_timeout_ms, 250);
    tl_conf_free(c);
    tl_conf_errors_fini(&errs);

    static const char *const bad[][2] = {
        {"    path: /var/*/x.log\n", "has a wildcard in a directory"},
        {"    path: /var/log/\n", "ends with '/'; name the files to follow"},
        {"    path: x.log\n    multiline_start: \"(a\"\n",
         "multiline_start: '(a' is not a valid regex: missing closing parenthesis"},
        {"    path: x.log\n    facility: local8\n", "facility: 'local8' is not one of kern,"},
        {"    path: x.log\n    severity: warn\n", "severity: 'warn' is not one of emerg,"},
        {"    path: x.log\n    start_at: middle\n", "'middle' is not one of beginning, end"},
        {"    path: x.log\n    partial_timeout: 2h\n", "partial_timeout: '2h' is out of range"},
        {"    path: x.log\n    listen: 514\n", "listen applies only to udp, tcp, tls and relp"},
        {"    tag: x\n", "missing required key 'path' (unix and file inputs need it)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "inputs:\n  - name: f\n    transport: file\n%s" OUT,
                 bad[i][0]);
        c = load(text, &errs);
        assert_null(c);
        bool found = false;
        for (size_t j = 0; j < errs.n; j++) {
            found |= strstr(errs.lines[j], bad[i][1]) != NULL;
        }
        if (!found) {
            for (size_t j = 0; j < errs.n; j++) {
                print_message("  got: %s\n", errs.lines[j]);
            }
            fail_msg("'%s': no error with '%s'", bad[i][0], bad[i][1]);
        }
        tl_conf_errors_fini(&errs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),     cmocka_unit_test(test_progress),
        cmocka_unit_test(test_glob_split), cmocka_unit_test(test_records),
        cmocka_unit_test(test_start),     cmocka_unit_test(test_conf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
