/*
 * test_parse.c: RFC 5424 / RFC 3164 parsing, detection and the STRUCTURED-DATA iterator.
 *
 * Local time matters for RFC 3164 timestamps, so main() pins TZ to Central European rules
 * (UTC+1, UTC+2 in summer) before anything runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/msg.h"
#include "parse/format.h"
#include "parse/parse.h"

#define TZ_CET "CET-1CEST,M3.5.0,M10.5.0/3"

/* 2026-01-20T12:00:00Z: a winter receive time for most RFC 3164 cases. */
#define RECV_JAN2026 1768910400LL

static struct tl_msg *parse_n(const void *p, size_t n, int64_t recv)
{
    struct tl_msg *m = tl_msg_new(p, n);
    assert_non_null(m);
    m->recv_sec = recv;
    tl_parse(m);
    return m;
}

static struct tl_msg *parse_s(const char *s, int64_t recv)
{
    return parse_n(s, strlen(s), recv);
}

static void check_invariants(const struct tl_msg *m)
{
    const struct tl_slice *all[] = {&m->timestamp, &m->hostname, &m->app_name, &m->procid,
                                    &m->msgid, &m->sd, &m->msg};
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
        assert_true((uint64_t)all[k]->off + all[k]->len <= m->raw_len);
    }
    assert_true(m->facility < 24);
    assert_true(m->severity < 8);
    assert_true(m->ts_frac_digits <= 6);
    assert_true(m->ts_usec < 1000000);
    assert_true(m->proto == TL_PROTO_RFC5424 || m->proto == TL_PROTO_RFC3164);
    if (m->hostname.len) {
        assert_true(m->flags & TL_MSG_HAS_HOST);
    }
}

static void check_slice(const struct tl_msg *m, struct tl_slice s, const char *want,
                        const char *what)
{
    size_t wl = strlen(want);
    if (s.len != wl || memcmp(m->raw + s.off, want, wl) != 0) {
        fail_msg("%s: got [%.*s] want [%s]", what, (int)s.len, (const char *)m->raw + s.off,
                 want);
    }
}

#define SLICE(m, field, want) check_slice((m), (m)->field, (want), #field)

/* True when all of flags are set. */
static bool has(const struct tl_msg *m, uint32_t flags)
{
    return (m->flags & flags) == flags;
}

/* ---- RFC 5424 §6.5 examples ---------------------------------------------------------- */

static void test_5424_example1(void **state)
{
    (void)state;
    struct tl_msg *m = parse_s("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
                               "\xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8",
                               RECV_JAN2026);
    check_invariants(m);
    assert_int_equal(m->proto, TL_PROTO_RFC5424);
    assert_int_equal(m->facility, 4);
    assert_int_equal(m->severity, 2);
    assert_int_equal(m->flags, TL_MSG_HAS_PRI | TL_MSG_HAS_TS | TL_MSG_TS_HAS_TZ |
                                   TL_MSG_HAS_BOM | TL_MSG_HAS_HOST);
    assert_int_equal(m->ts_sec, 1065910455);
    assert_int_equal(m->ts_usec, 3000);
    assert_int_equal(m->ts_frac_digits, 3);
    assert_int_equal(m->ts_tzoff, 0);
    SLICE(m, timestamp, "2003-10-11T22:14:15.003Z");
    SLICE(m, hostname, "mymachine.example.com");
    SLICE(m, app_name, "su");
    SLICE(m, procid, "");
    SLICE(m, msgid, "ID47");
    SLICE(m, sd, "");
    SLICE(m, msg, "'su root' failed for lonvick on /dev/pts/8");
    tl_msg_unref(m);
}

static void test_5424_example2(void **state)
{
    (void)state;
    struct tl_msg *m = parse_s("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
                               "%% It's time to make the do-nuts.",
                               RECV_JAN2026);
    check_invariants(m);
    assert_int_equal(m->facility, 20);
    assert_int_equal(m->severity, 5);
    assert_int_equal(m->flags & (TL_MSG_MALFORMED | TL_MSG_HAS_BOM), 0);
    assert_int_equal(m->ts_sec, 1061727255);
    assert_int_equal(m->ts_usec, 3);
    assert_int_equal(m->ts_frac_digits, 6);
    assert_int_equal(m->ts_tzoff, -420);
    SLICE(m, hostname, "192.0.2.1");
    SLICE(m, app_name, "myproc");
    SLICE(m, procid, "8710");
    SLICE(m, msgid, "");
    SLICE(m, msg, "%% It's time to make the do-nuts.");
    tl_msg_unref(m);
}

static void test_5424_example3(void **state)
{
    (void)state;
    struct tl_msg *m = parse_s(
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] "
        "\xEF\xBB\xBF"
        "An application event log entry...",
        RECV_JAN2026);
    check_invariants(m);
    assert_false(has(m, TL_MSG_MALFORMED));
    assert_true(has(m, TL_MSG_HAS_BOM));
    SLICE(m, app_name, "evntslog");
    SLICE(m, sd, "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]");
    SLICE(m, msg, "An application event log entry...");
    tl_msg_unref(m);
}

static void test_5424_example4(void **state)
{
    (void)state;
    struct tl_msg *m = parse_s(
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
        "[examplePriority@32473 class=\"high\"]",
        RECV_JAN2026);
    check_invariants(m);
    assert_int_equal(m->flags & (TL_MSG_MALFORMED | TL_MSG_HAS_BOM), 0);
    SLICE(m, sd, "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
                 "[examplePriority@32473 class=\"high\"]");
    SLICE(m, msg, "");

    struct tl_sd_iter it;
    tl_sd_iter_init(&it, tl_msg_at(m, m->sd), m->sd.len);
    assert_int_equal(tl_sd_next(&it), TL_SD_ELEMENT);
    assert_int_equal(it.id_len, 17);
    assert_memory_equal(it.id, "exampleSDID@32473", 17);
    assert_int_equal(tl_sd_next(&it), TL_SD_PARAM);
    assert_memory_equal(it.name, "iut", 3);
    assert_int_equal(it.value_len, 1);
    assert_int_equal(it.value[0], '3');
    assert_int_equal(tl_sd_next(&it), TL_SD_PARAM);
    assert_int_equal(tl_sd_next(&it), TL_SD_PARAM);
    assert_memory_equal(it.value, "1011", 4);
    assert_int_equal(tl_sd_next(&it), TL_SD_ELEMENT);
    assert_memory_equal(it.id, "examplePriority@32473", 21);
    assert_int_equal(tl_sd_next(&it), TL_SD_PARAM);
    assert_memory_equal(it.id, "examplePriority@32473", 21);
    assert_memory_equal(it.name, "class", 5);
    assert_memory_equal(it.value, "high", 4);
    assert_int_equal(tl_sd_next(&it), TL_SD_END);
    assert_int_equal(it.pos, it.len);
    assert_null(it.id);
    assert_int_equal(tl_sd_next(&it), TL_SD_END);
    tl_msg_unref(m);
}

/* ---- RFC 5424: the other paths -------------------------------------------------------- */

static void test_5424_nilvalues(void **state)
{
    (void)state;
    struct tl_msg *m = parse_s("<13>1 - - - - - -", RECV_JAN2026);
    check_invariants(m);
    assert_int_equal(m->proto, TL_PROTO_RFC5424);
    assert_int_equal(m->flags, TL_MSG_HAS_PRI);
    assert_int_equal(m->timestamp.len + m->hostname.len + m->app_name.len + m->procid.len +
                         m->msgid.len + m->sd.len + m->msg.len,
                     0);
    tl_msg_unref(m);

    m = parse_s("<13>1 - - - - - - just text", RECV_JAN2026);
    assert_int_equal(m->flags, TL_MSG_HAS_PRI);
    SLICE(m, msg, "just text");
    tl_msg_unref(m);

    /* "-" followed by more than a space is not NILVALUE. */
    m = parse_s("<13>1 - h a p m -x", RECV_JAN2026);
    assert_true(has(m, TL_MSG_MALFORMED));
    SLICE(m, sd, "");
    SLICE(m, msg, "-x");
    tl_msg_unref(m);
}

static void test_5424_sd_escapes(void **state)
{
    (void)state;
    struct tl_msg *m = parse_s("<0>1 2026-01-02T03:04:05+05:30 h a p m "
                               "[x@1 a=\"q\\\"uote\" b=\"back\\\\slash\" c=\"br\\]acket\" "
                               "d=\"un]escaped\" e=\"\\n kept\"] esc",
                               RECV_JAN2026);
    check_invariants(m);
    assert_false(has(m, TL_MSG_MALFORMED));
    assert_int_equal(m->ts_tzoff, 330);
    SLICE(m, msg, "esc");

    static const char *const want[] = {"q\"uote", "back\\slash", "br]acket", "un]escaped",
                                       "\\n kept"};
    struct tl_sd_iter it;
    uint8_t out[64];
    tl_sd_iter_init(&it, tl_msg_at(m, m->sd), m->sd.len);
    assert_int_equal(tl_sd_next(&it), TL_SD_ELEMENT);
    for (size_t k = 0; k < 5; k++) {
        assert_int_equal(tl_sd_next(&it), TL_SD_PARAM);
        assert_true(it.value_len <= sizeof(out));
        size_t n = tl_sd_unescape(it.value, it.value_len, out);
        assert_int_equal(n, strlen(want[k]));
        assert_memory_equal(out, want[k], n);
    }
    assert_int_equal(tl_sd_next(&it), TL_SD_END);
    assert_int_equal(it.pos, it.len);
    tl_msg_unref(m);
}

static void test_sd_unescape(void **state)
{
    (void)state;
    uint8_t out[32];
    const char *in = "a\\\"b\\\\c\\]d\\xe\\";
    size_t n = tl_sd_unescape((const uint8_t *)in, strlen(in), out);
    assert_int_equal(n, 11);
    assert_memory_equal(out, "a\"b\\c]d\\xe\\", 11);
    assert_int_equal(tl_sd_unescape((const uint8_t *)"", 0, out), 0);
    /* "\\\"" is an escaped backslash followed by a quote byte. */
    n = tl_sd_unescape((const uint8_t *)"\\\\\\\"", 4, out);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\\\"", 2);
}

static void test_sd_iter_negative(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "x",                   /* not an element */
        "[",                   /* nothing after [ */
        "[]",                  /* empty SD-ID */
        "[a",                  /* unterminated */
        "[a b]",               /* param without = */
        "[a b=]",              /* value without quotes */
        "[a b=\"1]",           /* unterminated value */
        "[a b=\"1\"",          /* element not closed */
        "[a b=\"1\"x]",        /* junk after value */
        "[a  b=\"1\"]",        /* two spaces */
        "[a =\"1\"]",          /* empty PARAM-NAME */
        "[a\"b c=\"1\"]",      /* '"' in SD-ID */
        "[a b=\"1\"] [c]",     /* space between elements */
        "[abcdefghijklmnopqrstuvwxyz0123456]", /* SD-ID of 33 chars */
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        struct tl_sd_iter it;
        int guard = 0;
        tl_sd_iter_init(&it, (const uint8_t *)bad[k], strlen(bad[k]));
        while (tl_sd_next(&it) != TL_SD_END) {
            assert_true(++guard < 10);
        }
        if (it.pos == it.len && it.id == NULL) {
            fail_msg("accepted malformed SD %s", bad[k]);
        }
    }
    struct tl_sd_iter it;
    tl_sd_iter_init(&it, (const uint8_t *)"", 0);
    assert_int_equal(tl_sd_next(&it), TL_SD_END);
    assert_int_equal(it.pos, 0);

    tl_sd_iter_init(&it, (const uint8_t *)"[a][b c=\"\"]", 11);
    assert_int_equal(tl_sd_next(&it), TL_SD_ELEMENT);
    assert_int_equal(tl_sd_next(&it), TL_SD_ELEMENT);
    assert_int_equal(tl_sd_next(&it), TL_SD_PARAM);
    assert_int_equal(it.value_len, 0);
    assert_int_equal(tl_sd_next(&it), TL_SD_END);
    assert_int_equal(it.pos, it.len);
}

static void test_5424_bad_sd(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *sd;
        const char *msg;
    } cases[] = {
        {"<13>1 - h a p m [x@1 a=\"1] rest \"of\" it", "", "[x@1 a=\"1] rest \"of\" it"},
        {"<13>1 - h a p m [x@1 a] text", "", "[x@1 a] text"},
        {"<13>1 - h a p m no structured data here", "", "no structured data here"},
        {"<13>1 - h a p m [ok a=\"1\"][bad", "[ok a=\"1\"]", "[bad"},
        {"<13>1 - h a p m [ok a=\"1\"]x", "[ok a=\"1\"]", "x"},
        {"<13>1 - h a p m [ok a=\"1\"][b c=\"2\" d] tail", "[ok a=\"1\"]", "[b c=\"2\" d] tail"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct tl_msg *m = parse_s(cases[k].in, RECV_JAN2026);
        check_invariants(m);
        assert_int_equal(m->proto, TL_PROTO_RFC5424);
        assert_true(has(m, TL_MSG_MALFORMED));
        SLICE(m, hostname, "h");
        SLICE(m, msgid, "m");
        SLICE(m, sd, cases[k].sd);
        SLICE(m, msg, cases[k].msg);
        tl_msg_unref(m);
    }
}

static void test_5424_bom(void **state)
{
    (void)state;
    struct tl_msg *m = parse_s("<13>1 - h a - - - \xEF\xBB\xBF", RECV_JAN2026);
    assert_true(has(m, TL_MSG_HAS_BOM));
    assert_false(has(m, TL_MSG_MALFORMED));
    assert_int_equal(m->msg.len, 0);
    tl_msg_unref(m);

    /* Only a whole BOM counts. */
    m = parse_s("<13>1 - h a - - - \xEF\xBBx", RECV_JAN2026);
    assert_false(has(m, TL_MSG_HAS_BOM));
    SLICE(m, msg, "\xEF\xBBx");
    tl_msg_unref(m);
}

static void test_5424_bad_pri(void **state)
{
    (void)state;
    static const char *const ins[] = {
        "<192>1 2026-01-01T00:00:00Z h a p m - text",
        "<999>1 2026-01-01T00:00:00Z h a p m - text",
        "<0192>1 2026-01-01T00:00:00Z h a p m - text",
        "<123456>1 2026-01-01T00:00:00Z h a p m - text",
    };
    for (size_t k = 0; k < sizeof(ins) / sizeof(ins[0]); k++) {
        struct tl_msg *m = parse_s(ins[k], RECV_JAN2026);
        check_invariants(m);
        assert_int_equal(m->proto, TL_PROTO_RFC5424);
        assert_true(has(m, TL_MSG_MALFORMED));
        assert_false(has(m, TL_MSG_HAS_PRI));
        assert_int_equal(m->facility, 1);
        assert_int_equal(m->severity, 5);
        assert_true(has(m, TL_MSG_HAS_TS));
        SLICE(m, hostname, "h");
        SLICE(m, msg, "text");
        tl_msg_unref(m);
    }
    struct tl_msg *m = parse_s("<191>1 - - - - - -", RECV_JAN2026);
    assert_int_equal(m->facility, 23);
    assert_int_equal(m->severity, 7);
    assert_false(has(m, TL_MSG_MALFORMED));
    tl_msg_unref(m);
    m = parse_s("<0>1 - - - - - -", RECV_JAN2026);
    assert_int_equal(m->facility, 0);
    assert_int_equal(m->severity, 0);
    assert_true(has(m, TL_MSG_HAS_PRI));
    tl_msg_unref(m);
}

static void test_5424_bad_version(void **state)
{
    (void)state;
    static const char *const ins[] = {
        "<13>2 2003-10-11T22:14:15.003Z host app - - - msg",
        "<13>10 2003-10-11T22:14:15.003Z host app - - - msg",
        "<13>2 - host app - - - msg",
    };
    for (size_t k = 0; k < sizeof(ins) / sizeof(ins[0]); k++) {
        struct tl_msg *m = parse_s(ins[k], RECV_JAN2026);
        check_invariants(m);
        assert_int_equal(m->proto, TL_PROTO_RFC3164);
        assert_true(has(m, TL_MSG_MALFORMED));
        assert_true(has(m, TL_MSG_HAS_PRI));
        /* Nothing is lost: the text after PRI is MSG. */
        assert_int_equal(m->msg.off, 4);
        assert_int_equal(m->msg.len, strlen(ins[k]) - 4);
        tl_msg_unref(m);
    }
    /* A 3164 message that merely starts with a digit is not flagged. */
    struct tl_msg *m = parse_s("<13>2 things happened", RECV_JAN2026);
    assert_false(has(m, TL_MSG_MALFORMED));
    SLICE(m, msg, "2 things happened");
    tl_msg_unref(m);
    /* Version 1 without the SP: not RFC 5424. */
    m = parse_s("<13>1", RECV_JAN2026);
    assert_int_equal(m->proto, TL_PROTO_RFC3164);
    SLICE(m, msg, "1");
    tl_msg_unref(m);
}

static void test_5424_truncated(void **state)
{
    (void)state;
    const char *full = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 77 ID47 "
                       "[exampleSDID@32473 iut=\"3\"] An application event log entry";
    size_t fl = strlen(full);
    size_t sd_at = strstr(full, "[ex") - full;
    size_t host_at = strstr(full, " mymachine") - full;
    for (size_t cut = 0; cut <= fl; cut++) {
        struct tl_msg *m = parse_n(full, cut, RECV_JAN2026);
        check_invariants(m);
        if (cut >= 7) {
            assert_int_equal(m->proto, TL_PROTO_RFC5424);
        }
        if (cut > 7 && cut <= host_at) {
            /* Cut inside the timestamp: a prefix of it may still be one ("...T22:14:15"
             * without offset), else it is MSG. */
            assert_true(has(m, TL_MSG_MALFORMED));
            assert_true(m->msg.len == 0 || m->msg.off == 7);
        }
        if (cut > host_at && cut <= sd_at) {
            /* The header ends early: fields so far are kept. */
            assert_true(has(m, TL_MSG_MALFORMED | TL_MSG_HAS_TS));
            assert_int_equal(m->msg.len, 0);
        }
        tl_msg_unref(m);
    }
    struct tl_msg *m = parse_s("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog",
                               RECV_JAN2026);
    assert_true(has(m, TL_MSG_MALFORMED | TL_MSG_HAS_TS));
    SLICE(m, hostname, "mymachine.example.com");
    SLICE(m, app_name, "evntslog");
    SLICE(m, procid, "");
    tl_msg_unref(m);

    m = parse_s("<13>1 ", RECV_JAN2026);
    assert_int_equal(m->proto, TL_PROTO_RFC5424);
    assert_true(has(m, TL_MSG_MALFORMED));
    tl_msg_unref(m);
}

static void test_5424_timestamps(void **state)
{
    (void)state;
    static const struct {
        const char *ts;
        int64_t sec;
        uint32_t usec;
        int digits;
        int off;
        bool malformed;
    } ok[] = {
        {"2026-01-01t00:00:00.123456789z", 1767225600, 123456, 6, 0, false},
        {"2026-01-01T00:00:00Z", 1767225600, 0, 0, 0, false},
        {"2026-01-01T00:00:00.5+01:00", 1767222000, 500000, 1, 60, false},
        {"2026-01-01T00:00:00-00:00", 1767225600, 0, 0, 0, false},
        {"2026-06-30T23:59:60Z", 1782864000, 0, 0, 0, false},
        {"2024-02-29T12:00:00+14:00", 1709157600, 0, 0, 840, false},
        {"1970-01-01T00:00:00-12:00", 43200, 0, 0, -720, false},
        {"0001-01-01T00:00:00Z", -62135596800LL, 0, 0, 0, false},
        /* Not RFC 3339 but understood: flagged. */
        {"2026-01-01T00:00:00+0100", 1767222000, 0, 0, 60, true},
        /* No offset: the receiver's local time (CET, +01:00 in January). */
        {"2026-01-01T00:00:00.25", 1767222000, 250000, 2, 60, true},
        {"2026-07-01T00:00:00", 1782856800, 0, 0, 120, true},
    };
    char buf[128];
    for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
        snprintf(buf, sizeof(buf), "<13>1 %s h a - - - x", ok[k].ts);
        struct tl_msg *m = parse_s(buf, RECV_JAN2026);
        check_invariants(m);
        if (!has(m, TL_MSG_HAS_TS) || m->ts_sec != ok[k].sec || m->ts_usec != ok[k].usec ||
            m->ts_frac_digits != ok[k].digits || m->ts_tzoff != ok[k].off ||
            has(m, TL_MSG_MALFORMED) != ok[k].malformed) {
            fail_msg("%s: sec %lld usec %u digits %u off %d flags %#x", ok[k].ts,
                     (long long)m->ts_sec, m->ts_usec, m->ts_frac_digits, m->ts_tzoff, m->flags);
        }
        SLICE(m, timestamp, ok[k].ts);
        SLICE(m, hostname, "h");
        SLICE(m, msg, "x");
        tl_msg_unref(m);
    }
    static const char *const bad[] = {
        "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:61Z",
        "2026-01-01 00:00:00Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+01:60", "2026-01-01T00:00:00+1", "26-01-01T00:00:00Z",
        "2026-01-01T00:00:00Zjunk", "Jan  1 00:00:00", "hello",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        snprintf(buf, sizeof(buf), "<13>1 %s h a - - - x", bad[k]);
        struct tl_msg *m = parse_s(buf, RECV_JAN2026);
        check_invariants(m);
        assert_int_equal(m->proto, TL_PROTO_RFC5424);
        if (has(m, TL_MSG_HAS_TS) || !has(m, TL_MSG_MALFORMED)) {
            fail_msg("accepted bad timestamp %s", bad[k]);
        }
        /* Everything from the bad timestamp on is MSG. */
        assert_int_equal(m->msg.off, 6);
        assert_int_equal(m->msg.off + m->msg.len, strlen(buf));
        tl_msg_unref(m);
    }
}

static void test_5424_lenient_header(void **state)
{
    (void)state;
    /* Runs of spaces between header fields are skipped, but flagged. */
    struct tl_msg *m = parse_s("<13>1  2026-01-01T00:00:00Z  h   a p  m  - x", RECV_JAN2026);
    check_invariants(m);
    assert_true(has(m, TL_MSG_MALFORMED | TL_MSG_HAS_TS));
    SLICE(m, hostname, "h");
    SLICE(m, app_name, "a");
    SLICE(m, procid, "p");
    SLICE(m, msgid, "m");
    SLICE(m, msg, "x");
    tl_msg_unref(m);

    /* Over-long fields and bytes outside PRINTUSASCII are kept and flagged. */
    char buf[512];
    memset(buf, 0, sizeof(buf));
    snprintf(buf, sizeof(buf), "<13>1 - h %.*s - - - x", 49,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    m = parse_s(buf, RECV_JAN2026);
    assert_true(has(m, TL_MSG_MALFORMED));
    assert_int_equal(m->app_name.len, 49);
    tl_msg_unref(m);
    m = parse_s("<13>1 - h\x01st a - - - x", RECV_JAN2026);
    assert_true(has(m, TL_MSG_MALFORMED));
    SLICE(m, hostname, "h\x01st");
    tl_msg_unref(m);
    m = parse_s("<13>1 - h a - ID-that-is-longer-than-32-characters - x", RECV_JAN2026);
    assert_true(has(m, TL_MSG_MALFORMED));
    tl_msg_unref(m);
}

static void test_trailing_and_nul(void **state)
{
    (void)state;
    static const char in5424[] = "<13>1 - h a - - - line\0with nul\r\n\0";
    struct tl_msg *m = parse_n(in5424, sizeof(in5424) - 1, RECV_JAN2026);
    check_invariants(m);
    assert_int_equal(m->raw_len, sizeof(in5424) - 1);
    assert_int_equal(m->msg.len, 13);
    assert_memory_equal(tl_msg_at(m, m->msg), "line\0with nul", 13);
    tl_msg_unref(m);

    static const char in3164[] = "<13>Jan 15 10:00:00 host app: a\0b\n";
    m = parse_n(in3164, sizeof(in3164) - 1, RECV_JAN2026);
    check_invariants(m);
    SLICE(m, app_name, "app");
    assert_int_equal(m->msg.len, 3);
    assert_memory_equal(tl_msg_at(m, m->msg), "a\0b", 3);
    tl_msg_unref(m);

    /* Trailing bytes are not part of the last header field either. */
    m = parse_s("<13>1 - - - - - -\n", RECV_JAN2026);
    assert_false(has(m, TL_MSG_MALFORMED));
    assert_int_equal(m->msg.len, 0);
    tl_msg_unref(m);

    m = parse_n("", 0, RECV_JAN2026);
    check_invariants(m);
    assert_int_equal(m->proto, TL_PROTO_RFC3164);
    assert_int_equal(m->msg.len, 0);
    assert_int_equal(m->flags, 0);
    tl_msg_unref(m);

    m = parse_n("\n\r\0", 3, RECV_JAN2026);
    assert_int_equal(m->msg.len, 0);
    tl_msg_unref(m);
}

static void test_parse_keeps_truncated_flag(void **state)
{
    (void)state;
    struct tl_msg *m = tl_msg_new("<13>1 - h a - - - cut", 21);
    m->flags = TL_MSG_TRUNCATED | TL_MSG_HAS_BOM | TL_MSG_MALFORMED;
    tl_parse(m);
    assert_int_equal(m->flags, TL_MSG_TRUNCATED | TL_MSG_HAS_PRI | TL_MSG_HAS_HOST);
    /* Parsing again gives the same answer. */
    tl_parse(m);
    assert_int_equal(m->flags, TL_MSG_TRUNCATED | TL_MSG_HAS_PRI | TL_MSG_HAS_HOST);
    tl_msg_unref(m);

    m = tl_msg_new("plain", 5);
    assert_false(tl_parse_rfc5424(m));
    assert_int_equal(m->proto, TL_PROTO_UNKNOWN);
    assert_int_equal(m->msg.len, 5);
    tl_msg_unref(m);
}

/* ---- RFC 3164 ------------------------------------------------------------------------- */

struct exp3164 {
    const char *in;
    const char *host;
    const char *app;
    const char *pid;
    const char *msg;
    int pri;      /* -1: no PRI */
    bool has_ts;
    bool malformed;
};

static void check_3164(const struct exp3164 *e, int64_t recv)
{
    struct tl_msg *m = parse_s(e->in, recv);
    check_invariants(m);
    if (m->proto != TL_PROTO_RFC3164) {
        fail_msg("%s: proto %u", e->in, m->proto);
    }
    check_slice(m, m->hostname, e->host, e->in);
    check_slice(m, m->app_name, e->app, e->in);
    check_slice(m, m->procid, e->pid, e->in);
    check_slice(m, m->msg, e->msg, e->in);
    if (e->pri >= 0) {
        assert_true(has(m, TL_MSG_HAS_PRI));
        assert_int_equal(m->facility * 8 + m->severity, e->pri);
    } else {
        assert_false(has(m, TL_MSG_HAS_PRI));
        assert_int_equal(m->facility, 1);
        assert_int_equal(m->severity, 5);
    }
    if (has(m, TL_MSG_HAS_TS) != e->has_ts || has(m, TL_MSG_MALFORMED) != e->malformed) {
        fail_msg("%s: flags %#x", e->in, m->flags);
    }
    assert_int_equal(m->msgid.len + m->sd.len, 0);
    tl_msg_unref(m);
}

static void test_3164_common(void **state)
{
    (void)state;
    static const struct exp3164 cases[] = {
        /* RFC 3164 §5.4 */
        {"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
         "mymachine", "su", "", "'su root' failed for lonvick on /dev/pts/8", 34, true, false},
        {"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", "10.0.0.99", "", "", "Use the BFG!", 13,
         true, false},
        {"<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.",
         "mymachine", "myproc", "10", "%% It's time to make the do-nuts.", 165, true, false},
        /* util-linux logger --rfc3164, and its default form to /dev/log */
        {"<13>Nov 23 11:22:33 myhost root: hello", "myhost", "root", "", "hello", 13, true, false},
        {"<13>Nov 23 11:22:33 root: hello", "", "root", "", "hello", 13, true, false},
        {"<13>Nov 23 11:35:24 mytag[9595]: hello devlog pid", "", "mytag", "9595",
         "hello devlog pid", 13, true, false},
        {"<13>Jan  1 00:00:00 myhost sshd[123]: x", "myhost", "sshd", "123", "x", 13, true, false},
        {"<13>Jan  1 00:00:00 sshd[123]: x", "", "sshd", "123", "x", 13, true, false},
        /* syslog(3) users */
        {"<6>Jan  5 00:00:01 web01 kernel: [12345.678901] usb 1-1: new device", "web01", "kernel",
         "", "[12345.678901] usb 1-1: new device", 6, true, false},
        {"<22>Jan  5 00:02:03 mail postfix/smtpd[1888]: connect from unknown[192.0.2.10]", "mail",
         "postfix/smtpd", "1888", "connect from unknown[192.0.2.10]", 22, true, false},
        {"<86>Jan  5 00:03:04 web01 sudo:    alice : TTY=pts/0", "web01", "sudo", "",
         "   alice : TTY=pts/0", 86, true, false},
        {"<85>Jan  5 00:04:07 web01 (sd-pam)[1001]: session closed", "web01", "(sd-pam)", "1001",
         "session closed", 85, true, false},
        {"<27>Jan 05 00:04:08 web01 dhclient[777]: DHCPREQUEST", "web01", "dhclient", "777",
         "DHCPREQUEST", 27, true, false},
        {"<27>Jan 5 00:04:08 web01 dhclient[777]: bare day", "web01", "dhclient", "777",
         "bare day", 27, true, false},
        /* rsyslog RSYSLOG_ForwardFormat, syslog-ng ts-format(iso) and frac-digits(3) */
        {"<13>2024-01-15T10:00:00.123456+01:00 host tag[12]: msg", "host", "tag", "12", "msg", 13,
         true, false},
        {"<38>2024-01-15T10:00:00+01:00 myhost sshd[1234]: iso timestamp", "myhost", "sshd",
         "1234", "iso timestamp", 38, true, false},
        {"<38>Nov 23 11:22:33.000 myhost sshd[1234]: Accepted publickey", "myhost", "sshd", "1234",
         "Accepted publickey", 38, true, false},
        {"<166>2024-01-15T10:00:00.123Z esx01.example.com Hostd: info hostd[2099886] done",
         "esx01.example.com", "Hostd", "", "info hostd[2099886] done", 166, true, false},
        /* Juniper */
        {"<28>Mar 18 13:40:41 router1 mib2d[1390]: SNMP_TRAP_LINK_DOWN: ifIndex 602", "router1",
         "mib2d", "1390", "SNMP_TRAP_LINK_DOWN: ifIndex 602", 28, true, false},
        {"<30>Mar 18 13:40:42 ex4300 /kernel: tcp_timer_keep: Dropping", "ex4300", "/kernel", "",
         "tcp_timer_keep: Dropping", 30, true, false},
        /* HP ProCurve, ArubaOS (year after the time), Aruba CX */
        {"<14>Jan 15 10:00:00 10.0.0.5 00076 ports: port 1 is now on-line", "10.0.0.5", "", "",
         "00076 ports: port 1 is now on-line", 14, true, false},
        {"<143>Jan 15 10:00:00 2024 10.1.1.1 stm[2486]: <501093> <NOTI> |stm| Auth", "10.1.1.1",
         "stm", "2486", "<501093> <NOTI> |stm| Auth", 143, true, false},
        {"<134>Jan 15 10:00:00 ArubaSwitch-01 hpe-restd[1234]: Event|2006|LOG_INFO",
         "ArubaSwitch-01", "hpe-restd", "1234", "Event|2006|LOG_INFO", 134, true, false},
        /* Fortigate key=value, MikroTik, Palo Alto, Ubiquiti */
        {"<189>date=2024-01-15 time=10:00:00 devname=\"FGT60F\" logid=\"0000000013\"", "", "", "",
         "date=2024-01-15 time=10:00:00 devname=\"FGT60F\" logid=\"0000000013\"", 189, false,
         false},
        {"<30>firewall,info input: in:ether1 out:(unknown 0)", "", "", "",
         "firewall,info input: in:ether1 out:(unknown 0)", 30, false, false},
        {"<14>Jan 15 10:00:00 PA-220 1,2024/01/15 10:00:00,0128,TRAFFIC", "PA-220", "", "",
         "1,2024/01/15 10:00:00,0128,TRAFFIC", 14, true, false},
        {"<30>Jan 15 10:00:00 U6-Lite,a1b2c3,v6.5.28: hostapd: ath0: STA", "", "", "",
         "U6-Lite,a1b2c3,v6.5.28: hostapd: ath0: STA", 30, true, false},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        check_3164(&cases[k], RECV_JAN2026);
    }
}

static void test_3164_cisco(void **state)
{
    (void)state;
    static const struct exp3164 cases[] = {
        {"<189>123: *Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured from console by vty0",
         "", "", "", "%SYS-5-CONFIG_I: Configured from console by vty0", 189, true, false},
        {"<189>45: Jan 15 10:00:00.123: %LINK-3-UPDOWN: Interface Gi0/1, changed state to up", "",
         "", "", "%LINK-3-UPDOWN: Interface Gi0/1, changed state to up", 189, true, false},
        {"<187>46: 000013: Jan 15 10:00:00.123 CET: %LINEPROTO-5-UPDOWN: Line protocol", "", "",
         "", "%LINEPROTO-5-UPDOWN: Line protocol", 187, true, false},
        {"<189>47: router1: *Jan 15 2024 10:00:00.456 UTC: %SEC_LOGIN-5-LOGIN_SUCCESS: Login",
         "router1", "", "", "%SEC_LOGIN-5-LOGIN_SUCCESS: Login", 189, true, false},
        {"<189>48: .Jan 15 10:00:00.456 PST: %SYS-6-CLOCKUPDATE: clock", "", "", "",
         "%SYS-6-CLOCKUPDATE: clock", 189, true, false},
        {"<134>1234: hostname: %SYS-6-LOGGINGHOST_STARTSTOP: Logging to host", "hostname", "", "",
         "%SYS-6-LOGGINGHOST_STARTSTOP: Logging to host", 134, false, false},
        {"<134>1234: %SYS-6-LOGGINGHOST_STARTSTOP: no timestamps", "", "", "",
         "%SYS-6-LOGGINGHOST_STARTSTOP: no timestamps", 134, false, false},
        /* ASA: year before the time, ':' after it, or " : " after the host */
        {"<166>Jan 15 2024 10:00:00: %ASA-6-302013: Built outbound TCP connection", "", "", "",
         "%ASA-6-302013: Built outbound TCP connection", 166, true, false},
        {"<166>Jan 15 2024 10:00:00 asa1 : %ASA-6-302014: Teardown TCP connection", "asa1", "",
         "", "%ASA-6-302014: Teardown TCP connection", 166, true, false},
        {"<166>%ASA-6-302015: Built outbound UDP connection 3", "", "", "",
         "%ASA-6-302015: Built outbound UDP connection 3", 166, false, false},
        /* NX-OS */
        {"<189>: 2024 Jan 15 10:00:00 UTC: %ETHPORT-5-IF_UP: Interface Ethernet1/1 is up", "", "",
         "", "%ETHPORT-5-IF_UP: Interface Ethernet1/1 is up", 189, true, false},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        check_3164(&cases[k], RECV_JAN2026);
    }
    /* The UTC zone name is honoured; the year comes from the receive time. */
    struct tl_msg *m = parse_s("<189>123: *Jan 15 18:48:50.483 UTC: %SYS-5-CONFIG_I: x",
                               RECV_JAN2026);
    assert_true(has(m, TL_MSG_TS_HAS_TZ));
    assert_int_equal(m->ts_sec, 1768502930);
    assert_int_equal(m->ts_usec, 483000);
    assert_int_equal(m->ts_frac_digits, 3);
    SLICE(m, timestamp, "Jan 15 18:48:50.483 UTC");
    tl_msg_unref(m);
    /* Other zone names are ambiguous: local time. */
    m = parse_s("<187>46: Jan 15 10:00:00 PST: %X-5-Y: z", RECV_JAN2026);
    assert_false(has(m, TL_MSG_TS_HAS_TZ));
    assert_int_equal(m->ts_tzoff, 60);
    tl_msg_unref(m);
}

static void test_3164_odd(void **state)
{
    (void)state;
    static const struct exp3164 cases[] = {
        {"Jan 15 10:00:00 host app: no pri", "host", "app", "", "no pri", -1, true, false},
        {"no pri and no timestamp at all", "", "", "", "no pri and no timestamp at all", -1, false,
         false},
        {"<999>Jan 15 10:00:00 host app: pri out of range", "host", "app", "", "pri out of range",
         -1, true, true},
        {"<1000>x", "", "", "", "x", -1, false, true},
        {"<abc>not a pri", "", "", "", "<abc>not a pri", -1, false, false},
        {"<13", "", "", "", "<13", -1, false, false},
        {"<>", "", "", "", "<>", -1, false, false},
        {"<13>", "", "", "", "", 13, false, false},
        {"<13> Jan 15 10:00:00 host app: space after PRI", "host", "app", "",
         "space after PRI", 13, true, false},
        {"<13>Jan 15 10:00:00 host just a message without tag", "host", "", "",
         "just a message without tag", 13, true, false},
        {"<13>Jan 15 10:00:00 host this_tag_is_much_longer_than_the_forty_eight_bytes_allowed: x",
         "host", "", "", "this_tag_is_much_longer_than_the_forty_eight_bytes_allowed: x", 13, true,
         false},
        {"<13>Jan 15 10:00:00 host abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv: 48", "host",
         "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv", "", "48", 13, true, false},
        {"<13>Jan 15 10:00:00 host app[]: empty pid", "host", "app", "", "empty pid", 13, true,
         false},
        {"<13>Jan 15 10:00:00 host app[12] no colon", "host", "app", "12", "no colon", 13, true,
         false},
        {"<13>Jan 15 10:00:00 host app[12 unclosed", "host", "", "", "app[12 unclosed", 13, true,
         false},
        {"<13>Jan 15 10:00:00 host app:no space", "host", "", "", "app:no space", 13, true, false},
        {"<13>Jan 15 10:00:00 host app:  two spaces", "host", "app", "", " two spaces", 13, true,
         false},
        {"<13>Jan 15 10:00:00 host app:", "host", "app", "", "", 13, true, false},
        {"<13>Jan 15 10:00:00 host app[7]", "host", "app", "7", "", 13, true, false},
        {"<13>Jan 15 10:00:00 host", "", "", "", "host", 13, true, false},
        {"<13>Jan 15 10:00:00 host ", "host", "", "", "", 13, true, false},
        {"<13>Jan 15 10:00:00", "", "", "", "", 13, true, false},
        {"<13>Jan 15 10:00:00 fe80::1 app: v6 host", "fe80::1", "app", "", "v6 host", 13, true,
         false},
        {"<13>Jan 15 10:00:00 {\"json\":1}", "", "", "", "{\"json\":1}", 13, true, false},
        {"<13>12345: text after a number", "", "", "", "text after a number", 13, false, false},
        {"<13>12345:no space", "", "", "", "12345:no space", 13, false, false},
        /* Not timestamps: the text stays. */
        {"<13>Jan 32 10:00:00 host app: x", "", "", "", "Jan 32 10:00:00 host app: x", 13, false,
         false},
        {"<13>Jan 15 25:00:00 host app: x", "", "", "", "Jan 15 25:00:00 host app: x", 13, false,
         false},
        {"<13>Foo 15 10:00:00 host app: x", "", "", "", "Foo 15 10:00:00 host app: x", 13, false,
         false},
        {"<13>Jan 15 10:00 host app: x", "", "", "", "Jan 15 10:00 host app: x", 13, false, false},
        {"<13>Jan 15 10:00:00x host app: x", "", "", "", "Jan 15 10:00:00x host app: x", 13, false,
         false},
        {"<13>2024-01-15T10:00:00Zx app: x", "", "", "", "2024-01-15T10:00:00Zx app: x", 13, false,
         false},
        {"<13>*Jan: x", "", "", "", "*Jan: x", 13, false, false},
        /* A valid-looking date that does not exist near the receive time. */
        {"<13>Feb 30 10:00:00 host app: x", "host", "app", "", "x", 13, false, true},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        check_3164(&cases[k], RECV_JAN2026);
    }
}

static void test_3164_timestamps(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t recv;
        int64_t sec;
        int off;
        const char *ts;
    } cases[] = {
        /* Local time of the receiver (CET / CEST), year from the receive time. */
        {"<13>Jan 15 10:00:00 h a: x", RECV_JAN2026, 1768467600, 60, "Jan 15 10:00:00"},
        {"<13>Jul 15 10:00:00 h a: x", 1784116800, 1784102400, 120, "Jul 15 10:00:00"},
        /* Dec/Jan rollover, both ways. */
        {"<13>Dec 31 23:59:50 h a: x", 1767225630, 1767221990, 60, "Dec 31 23:59:50"},
        {"<13>Jan  1 00:00:05 h a: x", 1767221990, 1767222005, 60, "Jan  1 00:00:05"},
        /* Feb 29 resolves to the leap year nearby. */
        {"<13>Feb 29 12:00:00 h a: x", 1835395200, 1835434800, 60, "Feb 29 12:00:00"},
        /* Explicit years. */
        {"<13>Jan 15 2024 10:00:00 h a: x", RECV_JAN2026, 1705309200, 60, "Jan 15 2024 10:00:00"},
        {"<13>Jan 15 10:00:00 2024 h a: x", RECV_JAN2026, 1705309200, 60, "Jan 15 10:00:00 2024"},
        {"<13>2024 Jan 15 10:00:00 h a: x", RECV_JAN2026, 1705309200, 60, "2024 Jan 15 10:00:00"},
        {"<13>Aug 24 05:34:00 UTC 1987 h a: x", RECV_JAN2026, 556781640, 0,
         "Aug 24 05:34:00 UTC 1987"},
        /* ISO timestamps in place of the BSD one. */
        {"<13>2024-01-15T10:00:00.123+01:00 h a: x", RECV_JAN2026, 1705309200, 60,
         "2024-01-15T10:00:00.123+01:00"},
        {"<13>2024-07-15T10:00:00 h a: x", RECV_JAN2026, 1721030400, 120, "2024-07-15T10:00:00"},
        /* Daylight saving gap (02:30 does not exist on 2026-03-29 in CET): still a time. */
        {"<13>Mar 29 02:30:00 h a: x", 1774742400, 1774747800, 60, "Mar 29 02:30:00"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct tl_msg *m = parse_s(cases[k].in, cases[k].recv);
        check_invariants(m);
        if (!has(m, TL_MSG_HAS_TS) || m->ts_sec != cases[k].sec || m->ts_tzoff != cases[k].off) {
            fail_msg("%s: sec %lld off %d flags %#x", cases[k].in, (long long)m->ts_sec,
                     m->ts_tzoff, m->flags);
        }
        check_slice(m, m->timestamp, cases[k].ts, cases[k].in);
        check_slice(m, m->hostname, "h", cases[k].in);
        check_slice(m, m->app_name, "a", cases[k].in);
        check_slice(m, m->msg, "x", cases[k].in);
        tl_msg_unref(m);
    }
    struct tl_msg *m = parse_s("<13>2024-01-15T10:00:00.123456+01:00 host tag[12]: msg",
                               RECV_JAN2026);
    assert_true(has(m, TL_MSG_TS_HAS_TZ));
    assert_int_equal(m->ts_usec, 123456);
    assert_int_equal(m->ts_frac_digits, 6);
    tl_msg_unref(m);
    m = parse_s("<13>Jan 15 10:00:00.1234567 h a: x", RECV_JAN2026);
    assert_int_equal(m->ts_usec, 123456);
    assert_int_equal(m->ts_frac_digits, 6);
    assert_false(has(m, TL_MSG_TS_HAS_TZ));
    tl_msg_unref(m);
}

static void test_direct_3164(void **state)
{
    (void)state;
    /* tl_parse_rfc3164 on RFC 5424 text: nothing lost, never a crash. */
    const char *in = "<13>1 2026-01-01T00:00:00Z h a - - - x";
    struct tl_msg *m = tl_msg_new(in, strlen(in));
    tl_parse_rfc3164(m);
    check_invariants(m);
    assert_int_equal(m->proto, TL_PROTO_RFC3164);
    assert_true(has(m, TL_MSG_HAS_PRI));
    SLICE(m, msg, "1 2026-01-01T00:00:00Z h a - - - x");
    tl_msg_unref(m);
}

/* ---- sample files --------------------------------------------------------------------- */

typedef void (*line_fn)(const uint8_t *p, size_t n, void *ctx);

static size_t for_each_line(const char *name, line_fn fn, void *ctx)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", TL_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail_msg("cannot open %s", path);
    }
    char line[8192];
    size_t count = 0;
    while (fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\n') {
            n--;
        }
        if (n == 0 || (n >= 2 && line[0] == '#' && line[1] == ' ')) {
            continue;
        }
        fn((const uint8_t *)line, n, ctx);
        count++;
    }
    fclose(f);
    return count;
}

static void format_once(const struct tl_msg *m, enum tl_format f, bool for_file,
                        struct tl_buf *out)
{
    tl_buf_reset(out);
    assert_true(tl_format(m, f, for_file, out));
}

/* Formatting as RFC 5424 and parsing that again must be a fixed point. */
static void check_5424_fixed_point(const struct tl_msg *m)
{
    struct tl_buf a;
    struct tl_buf b;
    tl_buf_init(&a, 0);
    tl_buf_init(&b, 0);
    format_once(m, TL_FMT_RFC5424, false, &a);
    struct tl_msg *m2 = parse_n(a.data, a.len, m->recv_sec);
    check_invariants(m2);
    if (m2->proto != TL_PROTO_RFC5424 || has(m2, TL_MSG_MALFORMED)) {
        fail_msg("re-parse of %.*s: proto %u flags %#x", (int)a.len, (const char *)a.data,
                 m2->proto, m2->flags);
    }
    format_once(m2, TL_FMT_RFC5424, false, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
        fail_msg("not a fixed point:\n%.*s\n%.*s", (int)a.len, (const char *)a.data, (int)b.len,
                 (const char *)b.data);
    }
    tl_msg_unref(m2);
    tl_buf_fini(&a);
    tl_buf_fini(&b);
}

static void sample_5424(const uint8_t *p, size_t n, void *ctx)
{
    (void)ctx;
    struct tl_msg *m = parse_n(p, n, RECV_JAN2026);
    check_invariants(m);
    if (m->proto != TL_PROTO_RFC5424 || has(m, TL_MSG_MALFORMED)) {
        fail_msg("%.*s: proto %u flags %#x", (int)n, (const char *)p, m->proto, m->flags);
    }
    /* Canonical input comes back byte for byte (a NILVALUE timestamp is replaced by the
     * receive time, so those do not). */
    struct tl_buf out;
    tl_buf_init(&out, 0);
    format_once(m, TL_FMT_RFC5424, false, &out);
    if (has(m, TL_MSG_HAS_TS) && (out.len != n || memcmp(out.data, p, n) != 0)) {
        fail_msg("round trip:\n%.*s\n%.*s", (int)n, (const char *)p, (int)out.len,
                 (const char *)out.data);
    }
    tl_buf_fini(&out);
    check_5424_fixed_point(m);
    tl_msg_unref(m);
}

static void sample_3164(const uint8_t *p, size_t n, void *ctx)
{
    (void)ctx;
    struct tl_msg *m = parse_n(p, n, RECV_JAN2026);
    check_invariants(m);
    if (m->proto != TL_PROTO_RFC3164) {
        fail_msg("%.*s: proto %u", (int)n, (const char *)p, m->proto);
    }
    /* Every sample is something a real sender emits: nothing in them is malformed, and each
     * yields some structure beyond MSG. */
    if (has(m, TL_MSG_MALFORMED) && memcmp(p, "<999>", 5) != 0) {
        fail_msg("%.*s: flags %#x", (int)n, (const char *)p, m->flags);
    }
    check_5424_fixed_point(m);
    tl_msg_unref(m);
}

/* Every prefix and many one-byte changes of each sample: invariants hold, nothing crashes. */
static void sample_mutate(const uint8_t *p, size_t n, void *ctx)
{
    (void)ctx;
    static const uint8_t subst[] = {' ', '[', ']', '"', '\\', '=', ':', '<', '>', '-', '0',
                                    '\0', '\n', 0xEF, 0xFF, 'T', 'Z', '.'};
    uint8_t buf[8192];
    for (size_t cut = 0; cut <= n; cut++) {
        struct tl_msg *m = parse_n(p, cut, RECV_JAN2026);
        check_invariants(m);
        tl_msg_unref(m);
    }
    memcpy(buf, p, n);
    for (size_t at = 0; at < n; at++) {
        for (size_t s = 0; s < sizeof(subst); s++) {
            uint8_t keep = buf[at];
            buf[at] = subst[s];
            struct tl_msg *m = parse_n(buf, n, RECV_JAN2026);
            check_invariants(m);
            tl_msg_unref(m);
            buf[at] = keep;
        }
    }
}

static void test_samples_5424(void **state)
{
    (void)state;
    assert_true(for_each_line("samples-5424.txt", sample_5424, NULL) >= 20);
}

static void test_samples_3164(void **state)
{
    (void)state;
    assert_true(for_each_line("samples-3164.txt", sample_3164, NULL) >= 40);
}

static void test_samples_mutated(void **state)
{
    (void)state;
    for_each_line("samples-5424.txt", sample_mutate, NULL);
    for_each_line("samples-3164.txt", sample_mutate, NULL);
}

int main(void)
{
    setenv("TZ", TZ_CET, 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5424_example1),
        cmocka_unit_test(test_5424_example2),
        cmocka_unit_test(test_5424_example3),
        cmocka_unit_test(test_5424_example4),
        cmocka_unit_test(test_5424_nilvalues),
        cmocka_unit_test(test_5424_sd_escapes),
        cmocka_unit_test(test_sd_unescape),
        cmocka_unit_test(test_sd_iter_negative),
        cmocka_unit_test(test_5424_bad_sd),
        cmocka_unit_test(test_5424_bom),
        cmocka_unit_test(test_5424_bad_pri),
        cmocka_unit_test(test_5424_bad_version),
        cmocka_unit_test(test_5424_truncated),
        cmocka_unit_test(test_5424_timestamps),
        cmocka_unit_test(test_5424_lenient_header),
        cmocka_unit_test(test_trailing_and_nul),
        cmocka_unit_test(test_parse_keeps_truncated_flag),
        cmocka_unit_test(test_3164_common),
        cmocka_unit_test(test_3164_cisco),
        cmocka_unit_test(test_3164_odd),
        cmocka_unit_test(test_3164_timestamps),
        cmocka_unit_test(test_direct_3164),
        cmocka_unit_test(test_samples_5424),
        cmocka_unit_test(test_samples_3164),
        cmocka_unit_test(test_samples_mutated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
