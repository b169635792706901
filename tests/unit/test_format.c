/*
 * test_format.c: the rfc5424, rfc3164, json and raw formatters.
 *
 * main() pins TZ to Central European rules (UTC+1, UTC+2 in summer): messages without their
 * own timestamp are shown at the receive time in the receiver's zone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/buf.h"
#include "core/msg.h"
#include "parse/format.h"
#include "parse/parse.h"

#define TZ_CET "CET-1CEST,M3.5.0,M10.5.0/3"

/* 2026-01-20T12:00:00Z */
#define RECV 1768910400LL

static struct tl_msg *mk_n(const void *p, size_t n, int family)
{
    struct tl_msg *m = tl_msg_new(p, n);
    assert_non_null(m);
    m->recv_sec = RECV;
    m->recv_usec = 500000;
    m->peer.family = (uint16_t)family;
    m->peer.port = 514;
    if (family == AF_INET) {
        assert_int_equal(inet_pton(AF_INET, "192.0.2.1", m->peer.addr), 1);
    } else if (family == AF_INET6) {
        assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", m->peer.addr), 1);
    }
    tl_parse(m);
    return m;
}

static struct tl_msg *mk(const char *s, int family)
{
    return mk_n(s, strlen(s), family);
}

/* Formats m and compares with want (a C string). */
static void expect(const struct tl_msg *m, enum tl_format f, bool for_file, const char *want)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    assert_true(tl_format(m, f, for_file, &b));
    size_t wl = strlen(want);
    if (b.len != wl || (wl > 0 && memcmp(b.data, want, wl) != 0)) {
        fail_msg("%s%s:\n got  %.*s\n want %s", tl_format_name(f), for_file ? " (file)" : "",
                 (int)b.len, (const char *)b.data, want);
    }
    tl_buf_fini(&b);
}

static void expect_fmt(const char *in, int family, enum tl_format f, bool for_file,
                       const char *want)
{
    struct tl_msg *m = mk(in, family);
    expect(m, f, for_file, want);
    tl_msg_unref(m);
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(tl_format_from_name("rfc5424"), TL_FMT_RFC5424);
    assert_int_equal(tl_format_from_name("rfc3164"), TL_FMT_RFC3164);
    assert_int_equal(tl_format_from_name("json"), TL_FMT_JSON);
    assert_int_equal(tl_format_from_name("raw"), TL_FMT_RAW);
    assert_int_equal(tl_format_from_name("JSON"), TL_FMT_JSON);
    assert_int_equal(tl_format_from_name("bogus"), -1);
    assert_int_equal(tl_format_from_name(""), -1);
    for (int f = TL_FMT_RFC5424; f <= TL_FMT_RAW; f++) {
        assert_int_equal(tl_format_from_name(tl_format_name((enum tl_format)f)), f);
    }
    assert_string_equal(tl_format_name((enum tl_format)42), "?");
}

static void test_5424_canonical(void **state)
{
    (void)state;
    static const char *const canon[] = {
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' "
        "failed for lonvick on /dev/pts/8",
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for "
        "lonvick on /dev/pts/8",
        "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make "
        "the do-nuts.",
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 "
        "iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event log entry...",
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 "
        "iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 "
        "class=\"high\"]",
        "<0>1 2026-01-02T03:04:05+05:30 h a p m [x@1 a=\"q\\\"uote\" b=\"back\\\\slash\" "
        "c=\"br\\]acket\"] esc",
        "<191>1 2026-12-31T23:59:59.123456Z host-1 app.name 12345 MSG-ID - h\xc3\xa9llo "
        "w\xc3\xb6rld \xe2\x9c\x93",
        "<13>1 2026-01-01T00:00:00Z h - - - - nil fields",
        "<13>1 2026-01-01T00:00:00.1Z h a - - - tab\there",
        "<14>1 2026-11-23T11:25:56.849075+00:00 vm app 42 - [timeQuality tzKnown=\"1\" "
        "isSynced=\"0\"] logger style",
        "<14>1 2026-11-23T11:25:56.849075-00:00 vm app 42 - - unknown offset",
        "<13>1 2026-01-01T00:00:00Z h a - - - \xEF\xBB\xBF",
        "<13>1 2026-01-01T00:00:00Z h a - - -  leading space",
    };
    for (size_t k = 0; k < sizeof(canon) / sizeof(canon[0]); k++) {
        expect_fmt(canon[k], AF_INET, TL_FMT_RFC5424, false, canon[k]);
        expect_fmt(canon[k], AF_INET, TL_FMT_RFC5424, true, canon[k]);
    }
}

static void test_5424_conversions(void **state)
{
    (void)state;
    /* Lower case and extra digits are normalised. */
    expect_fmt("<13>1 2026-01-01t00:00:00.123456789z h a - - - x", 0, TL_FMT_RFC5424, false,
               "<13>1 2026-01-01T00:00:00.123456Z h a - - - x");
    /* No timestamp: the receive time, local offset, six digits. */
    expect_fmt("<13>1 - h a - - - x", 0, TL_FMT_RFC5424, false,
               "<13>1 2026-01-20T13:00:00.500000+01:00 h a - - - x");
    /* RFC 3164 in, RFC 5424 out: local time with its offset, TAG split, no SD. */
    expect_fmt("<13>Jan 15 10:00:00 host tag[12]: msg", AF_INET, TL_FMT_RFC5424, false,
               "<13>1 2026-01-15T10:00:00+01:00 host tag 12 - - msg");
    expect_fmt("<13>Jul 15 10:00:00.250 host tag: msg", AF_INET, TL_FMT_RFC5424, false,
               "<13>1 2026-07-15T10:00:00.250+02:00 host tag - - - msg");
    expect_fmt("<13>2024-01-15T10:00:00.123456+01:00 host tag[12]: msg", 0, TL_FMT_RFC5424,
               false, "<13>1 2024-01-15T10:00:00.123456+01:00 host tag 12 - - msg");
    expect_fmt("<189>123: *Jan 15 18:48:50.483 UTC: %SYS-5-CONFIG_I: x", AF_INET, TL_FMT_RFC5424,
               false, "<189>1 2026-01-15T18:48:50.483Z 192.0.2.1 - - - - %SYS-5-CONFIG_I: x");
    /* No PRI: user.notice. A bad PRI the same. */
    expect_fmt("no pri", 0, TL_FMT_RFC5424, false,
               "<13>1 2026-01-20T13:00:00.500000+01:00 - - - - - no pri");
    expect_fmt("<999>1 - h a - - - x", 0, TL_FMT_RFC5424, false,
               "<13>1 2026-01-20T13:00:00.500000+01:00 h a - - - x");
    /* Malformed SD is not copied as SD (the parser put it in MSG). */
    expect_fmt("<13>1 2026-01-01T00:00:00Z h a - - [bad msg", 0, TL_FMT_RFC5424, false,
               "<13>1 2026-01-01T00:00:00Z h a - - - [bad msg");
    /* Only PRI. */
    expect_fmt("<13>", 0, TL_FMT_RFC5424, false,
               "<13>1 2026-01-20T13:00:00.500000+01:00 - - - - -");
}

static void test_5424_header_sanitising(void **state)
{
    (void)state;
    /* RFC 5424 §6.2.4-§6.2.7: PRINTUSASCII only, and length limits. */
    expect_fmt("<13>1 - h\x01st a\x7f" "pp - - - x", 0, TL_FMT_RFC5424, false,
               "<13>1 2026-01-20T13:00:00.500000+01:00 h_st a_pp - - - x");
    char in[1200];
    char want[1200];
    char host[301];
    char app[61];
    char pid[141];
    char mid[41];
    memset(host, 'h', 300);
    host[300] = '\0';
    memset(app, 'a', 60);
    app[60] = '\0';
    memset(pid, 'p', 140);
    pid[140] = '\0';
    memset(mid, 'm', 40);
    mid[40] = '\0';
    snprintf(in, sizeof(in), "<13>1 2026-01-01T00:00:00Z %s %s %s %s - x", host, app, pid, mid);
    snprintf(want, sizeof(want), "<13>1 2026-01-01T00:00:00Z %.255s %.48s %.128s %.32s - x",
             host, app, pid, mid);
    expect_fmt(in, 0, TL_FMT_RFC5424, false, want);
    /* A word with bytes no host name has is not taken for one. */
    expect_fmt("<13>Jan 15 10:00:00 h\xc3\xa9st app: x", 0, TL_FMT_RFC5424, false,
               "<13>1 2026-01-15T10:00:00+01:00 - - - - - h\xc3\xa9st app: x");
}

static void test_hostname_fallback(void **state)
{
    (void)state;
    const char *in = "<13>1 2026-01-01T00:00:00Z - a - - - x";
    expect_fmt(in, AF_INET, TL_FMT_RFC5424, false,
               "<13>1 2026-01-01T00:00:00Z 192.0.2.1 a - - - x");
    expect_fmt(in, AF_INET6, TL_FMT_RFC5424, false,
               "<13>1 2026-01-01T00:00:00Z 2001:db8::1 a - - - x");
    expect_fmt(in, AF_UNIX, TL_FMT_RFC5424, false, "<13>1 2026-01-01T00:00:00Z - a - - - x");
    expect_fmt(in, 0, TL_FMT_RFC5424, false, "<13>1 2026-01-01T00:00:00Z - a - - - x");
    expect_fmt(in, AF_INET, TL_FMT_RFC3164, true, "Jan  1 00:00:00 192.0.2.1 a: x");
    expect_fmt(in, AF_INET6, TL_FMT_RFC3164, true, "Jan  1 00:00:00 2001:db8::1 a: x");
    expect_fmt(in, AF_UNIX, TL_FMT_RFC3164, true, "Jan  1 00:00:00 localhost a: x");
    expect_fmt(in, 0, TL_FMT_RFC3164, true, "Jan  1 00:00:00 localhost a: x");
    /* logger to /dev/log: no host in the message. */
    expect_fmt("<13>Nov 23 11:22:33 root: hello", AF_UNIX, TL_FMT_RFC3164, true,
               "Nov 23 11:22:33 localhost root: hello");
}

static void test_3164_output(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *file;
        const char *net;
    } cases[] = {
        {"<13>Nov  3 04:05:06 myhost app[123]: hello", "Nov  3 04:05:06 myhost app[123]: hello",
         "<13>Nov  3 04:05:06 myhost app[123]: hello"},
        {"<13>Nov 13 14:05:06 myhost app: no pid", "Nov 13 14:05:06 myhost app: no pid",
         "<13>Nov 13 14:05:06 myhost app: no pid"},
        {"<13>1 2026-03-04T05:06:07.000Z host5 app5 99 - - from 5424",
         "Mar  4 05:06:07 host5 app5[99]: from 5424",
         "<13>Mar  4 05:06:07 host5 app5[99]: from 5424"},
        {"<13>1 2026-12-24T23:59:58Z host6 app6 - ID1 - no procid",
         "Dec 24 23:59:58 host6 app6: no procid", "<13>Dec 24 23:59:58 host6 app6: no procid"},
        /* procid without app-name: no TAG. */
        {"<13>1 2026-12-24T23:59:58Z host7 - 42 - - no app", "Dec 24 23:59:58 host7 no app",
         "<13>Dec 24 23:59:58 host7 no app"},
        /* The sender's own offset is kept: its clock, not ours. */
        {"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% do-nuts",
         "Aug 24 05:14:15 192.0.2.1 myproc[8710]: %% do-nuts",
         "<165>Aug 24 05:14:15 192.0.2.1 myproc[8710]: %% do-nuts"},
        {"<13>Jan  5 00:00:01 web01 kernel: [1.2] usb", "Jan  5 00:00:01 web01 kernel: [1.2] usb",
         "<13>Jan  5 00:00:01 web01 kernel: [1.2] usb"},
        {"<14>Jan 15 10:00:00 10.0.0.5 00076 ports: port 1",
         "Jan 15 10:00:00 10.0.0.5 00076 ports: port 1",
         "<14>Jan 15 10:00:00 10.0.0.5 00076 ports: port 1"},
        {"<13>Jan 15 10:00:00 host app:", "Jan 15 10:00:00 host app:",
         "<13>Jan 15 10:00:00 host app:"},
        {"<13>Jan 15 10:00:00 host app:  two", "Jan 15 10:00:00 host app:  two",
         "<13>Jan 15 10:00:00 host app:  two"},
        /* No timestamp: the receive time in local time. */
        {"<189>date=2024-01-15 time=10:00:00 devname=\"FGT60F\"",
         "Jan 20 13:00:00 192.0.2.1 date=2024-01-15 time=10:00:00 devname=\"FGT60F\"",
         "<189>Jan 20 13:00:00 192.0.2.1 date=2024-01-15 time=10:00:00 devname=\"FGT60F\""},
        {"<189>123: *Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured",
         "Mar  1 18:48:50 192.0.2.1 %SYS-5-CONFIG_I: Configured",
         "<189>Mar  1 18:48:50 192.0.2.1 %SYS-5-CONFIG_I: Configured"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        expect_fmt(cases[k].in, AF_INET, TL_FMT_RFC3164, true, cases[k].file);
        expect_fmt(cases[k].in, AF_INET, TL_FMT_RFC3164, false, cases[k].net);
    }
}

static void test_control_chars(void **state)
{
    (void)state;
    const char *in = "<13>1 2026-01-01T00:00:00Z h app - - - line1\nline2\x01x\x1fy\tz\x7f";
    expect_fmt(in, 0, TL_FMT_RFC5424, true,
               "<13>1 2026-01-01T00:00:00Z h app - - - line1#012line2#001x#037y\tz\x7f");
    expect_fmt(in, 0, TL_FMT_RFC3164, true,
               "Jan  1 00:00:00 h app: line1#012line2#001x#037y\tz\x7f");
    expect_fmt(in, 0, TL_FMT_RFC5424, false, in);
    expect_fmt(in, 0, TL_FMT_RFC3164, false,
               "<13>Jan  1 00:00:00 h app: line1\nline2\x01x\x1fy\tz\x7f");
    expect_fmt(in, 0, TL_FMT_RAW, true, in);
    /* NUL bytes inside MSG; control characters inside SD values. */
    static const char nul[] = "<13>1 2026-01-01T00:00:00Z h a - - [x@1 v=\"a\nb\"] p\0q";
    struct tl_msg *m = mk_n(nul, sizeof(nul) - 1, 0);
    expect(m, TL_FMT_RFC5424, true, "<13>1 2026-01-01T00:00:00Z h a - - [x@1 v=\"a#012b\"] p#000q");
    expect(m, TL_FMT_JSON, true,
           "{\"timestamp\":\"2026-01-01T00:00:00Z\",\"received\":\"2026-01-20T12:00:00.500000Z\","
           "\"proto\":\"rfc5424\",\"facility\":\"user\",\"severity\":\"notice\",\"pri\":13,"
           "\"hostname\":\"h\",\"app_name\":\"a\",\"procid\":null,\"msgid\":null,"
           "\"structured_data\":{\"x@1\":{\"v\":\"a\\nb\"}},\"msg\":\"p\\u0000q\"}");
    tl_msg_unref(m);
}

static void test_json_exact(void **state)
{
    (void)state;
    expect_fmt("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
               "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] "
               "\xEF\xBB\xBF"
               "An application event log entry...",
               AF_INET, TL_FMT_JSON, true,
               "{\"timestamp\":\"2003-10-11T22:14:15.003Z\","
               "\"received\":\"2026-01-20T12:00:00.500000Z\",\"peer\":\"192.0.2.1:514\","
               "\"proto\":\"rfc5424\",\"facility\":\"local4\",\"severity\":\"notice\",\"pri\":165,"
               "\"hostname\":\"mymachine.example.com\",\"app_name\":\"evntslog\",\"procid\":null,"
               "\"msgid\":\"ID47\",\"structured_data\":{\"exampleSDID@32473\":{\"iut\":\"3\","
               "\"eventSource\":\"Application\",\"eventID\":\"1011\"}},"
               "\"msg\":\"An application event log entry...\"}");
    expect_fmt("<38>Nov  3 04:05:06 myhost app[123]: hello json", AF_INET6, TL_FMT_JSON, false,
               "{\"timestamp\":\"2025-11-03T04:05:06+01:00\","
               "\"received\":\"2026-01-20T12:00:00.500000Z\",\"peer\":\"[2001:db8::1]:514\","
               "\"proto\":\"rfc3164\",\"facility\":\"auth\",\"severity\":\"info\",\"pri\":38,"
               "\"hostname\":\"myhost\",\"app_name\":\"app\",\"procid\":\"123\",\"msgid\":null,"
               "\"structured_data\":null,\"msg\":\"hello json\"}");
    /* No host anywhere, a unix peer, a bad PRI: malformed. */
    expect_fmt("<999>x", AF_UNIX, TL_FMT_JSON, false,
               "{\"timestamp\":\"2026-01-20T13:00:00.500000+01:00\","
               "\"received\":\"2026-01-20T12:00:00.500000Z\",\"peer\":\"local\","
               "\"proto\":\"rfc3164\",\"facility\":\"user\",\"severity\":\"notice\",\"pri\":13,"
               "\"hostname\":null,\"app_name\":null,\"procid\":null,\"msgid\":null,"
               "\"structured_data\":null,\"msg\":\"x\",\"malformed\":true}");
    /* An unparsed message (tl_parse never ran). */
    struct tl_msg *m = tl_msg_new("abc", 3);
    m->recv_sec = RECV;
    m->flags |= TL_MSG_TRUNCATED;
    expect(m, TL_FMT_JSON, false,
           "{\"timestamp\":\"2026-01-20T13:00:00.000000+01:00\","
           "\"received\":\"2026-01-20T12:00:00.000000Z\",\"proto\":\"unknown\","
           "\"facility\":\"user\",\"severity\":\"notice\",\"pri\":13,\"hostname\":null,"
           "\"app_name\":null,\"procid\":null,\"msgid\":null,\"structured_data\":null,"
           "\"msg\":\"\",\"truncated\":true}");
    tl_msg_unref(m);
}

static void test_json_escaping(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        const char *json;
    } cases[] = {
        {"\"quoted\" \\ back\\slash \xc3\xa9", "\\\"quoted\\\" \\\\ back\\\\slash \xc3\xa9"},
        {"\b\f\n\r\t\x01\x1f\x7f", "\\b\\f\\n\\r\\t\\u0001\\u001f\x7f"},
        /* Not UTF-8: each byte as Latin-1. */
        {"\xff\xfe", "\\u00ff\\u00fe"},
        {"caf\xe9", "caf\\u00e9"},
        {"\xc0\x80 overlong", "\\u00c0\\u0080 overlong"},
        {"\xed\xa0\x80 surrogate", "\\u00ed\\u00a0\\u0080 surrogate"},
        {"\xf4\x90\x80\x80 too big", "\\u00f4\\u0090\\u0080\\u0080 too big"},
        {"\xe2\x9c cut", "\\u00e2\\u009c cut"},
        {"\xf0\x9f\x98\x80 emoji \xe2\x9c\x93", "\xf0\x9f\x98\x80 emoji \xe2\x9c\x93"},
        {"\xef\xbf\xbf \xf4\x8f\xbf\xbf edge", "\xef\xbf\xbf \xf4\x8f\xbf\xbf edge"},
        {"end \xc3", "end \\u00c3"},
    };
    char in[256];
    char want[512];
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        snprintf(in, sizeof(in), "<13>1 2026-01-01T00:00:00Z h a - - - %s", cases[k].msg);
        snprintf(want, sizeof(want),
                 "{\"timestamp\":\"2026-01-01T00:00:00Z\","
                 "\"received\":\"2026-01-20T12:00:00.500000Z\",\"proto\":\"rfc5424\","
                 "\"facility\":\"user\",\"severity\":\"notice\",\"pri\":13,\"hostname\":\"h\","
                 "\"app_name\":\"a\",\"procid\":null,\"msgid\":null,\"structured_data\":null,"
                 "\"msg\":\"%s\"}",
                 cases[k].json);
        expect_fmt(in, 0, TL_FMT_JSON, true, want);
    }
}

static void test_json_sd(void **state)
{
    (void)state;
    struct tl_buf b;
    tl_buf_init(&b, 0);
    struct tl_msg *m = mk("<0>1 2026-01-02T03:04:05+05:30 h a p m "
                          "[x@1 a=\"q\\\"uote\" b=\"back\\\\slash\" c=\"br\\]acket\" d=\"\\n\" "
                          "e=\"\xff\"][y@2][z@3 k=\"\"] esc",
                          0);
    assert_true(tl_format(m, TL_FMT_JSON, true, &b));
    const char *want = "\"structured_data\":{\"x@1\":{\"a\":\"q\\\"uote\",\"b\":\"back\\\\slash\","
                       "\"c\":\"br]acket\",\"d\":\"\\\\n\",\"e\":\"\\u00ff\"},\"y@2\":{},"
                       "\"z@3\":{\"k\":\"\"}},\"msg\":\"esc\"}";
    assert_true(b.len > strlen(want));
    if (memcmp(b.data + b.len - strlen(want), want, strlen(want)) != 0) {
        fail_msg("got %.*s", (int)b.len, (const char *)b.data);
    }

    /* A damaged SD slice (not from the parser) is written raw instead. */
    m->sd.len -= 4;
    tl_buf_reset(&b);
    assert_true(tl_format(m, TL_FMT_JSON, true, &b));
    want = "\"structured_data\":null,\"structured_data_raw\":\"[x@1 a=\\\"q\\\\\\\"uote\\\" "
           "b=\\\"back\\\\\\\\slash\\\" c=\\\"br\\\\]acket\\\" d=\\\"\\\\n\\\" e=\\\"\\u00ff\\\"]"
           "[y@2][z@3 k\",\"msg\":\"esc\"}";
    if (b.len < strlen(want) || memcmp(b.data + b.len - strlen(want), want, strlen(want)) != 0) {
        fail_msg("got %.*s", (int)b.len, (const char *)b.data);
    }
    tl_msg_unref(m);
    tl_buf_fini(&b);
}

static void test_raw(void **state)
{
    (void)state;
    static const char in[] = "\xff\xfe binary-ish \x01\x7f\r\n\0";
    struct tl_msg *m = mk_n(in, sizeof(in) - 1, 0);
    expect(m, TL_FMT_RAW, false, "\xff\xfe binary-ish \x01\x7f");
    expect(m, TL_FMT_RAW, true, "\xff\xfe binary-ish \x01\x7f");
    tl_msg_unref(m);
    m = mk_n("\n", 1, 0);
    expect(m, TL_FMT_RAW, false, "");
    tl_msg_unref(m);
}

static void test_buffer_ceiling(void **state)
{
    (void)state;
    struct tl_msg *m = mk("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
                          "[exampleSDID@32473 iut=\"3\"] An application event log entry...",
                          AF_INET);
    for (int f = TL_FMT_RFC5424; f <= TL_FMT_RAW; f++) {
        struct tl_buf full;
        tl_buf_init(&full, 0);
        assert_true(tl_format(m, (enum tl_format)f, true, &full));
        /* Any smaller ceiling fails and leaves what was there before untouched. */
        for (size_t max = 3; max < full.len + 3; max++) {
            struct tl_buf b;
            tl_buf_init(&b, max);
            assert_true(tl_buf_append(&b, "abc", 3));
            bool ok = tl_format(m, (enum tl_format)f, true, &b);
            if (ok) {
                assert_int_equal(b.len, 3 + full.len);
                assert_memory_equal(b.data + 3, full.data, full.len);
            } else {
                assert_true(max < 3 + full.len);
                assert_int_equal(b.len, 3);
                assert_memory_equal(b.data, "abc", 3);
            }
            tl_buf_fini(&b);
        }
        /* Appends after what is already there. */
        struct tl_buf two;
        tl_buf_init(&two, 0);
        assert_true(tl_format(m, (enum tl_format)f, true, &two));
        assert_true(tl_format(m, (enum tl_format)f, true, &two));
        assert_int_equal(two.len, 2 * full.len);
        tl_buf_fini(&two);
        tl_buf_fini(&full);
    }
    tl_msg_unref(m);
}

static void test_odd_fields(void **state)
{
    (void)state;
    /* Fields set by hand beyond what the parser produces stay inside raw and valid. */
    struct tl_msg *m = mk("<13>1 2026-01-01T00:00:00Z h a - - - x", AF_INET);
    m->facility = 200;
    m->severity = 9;
    m->msg.len = 1000;
    m->hostname.off = 5000;
    m->ts_tzoff = 30000;
    expect(m, TL_FMT_RFC5424, false, "<9>1 2026-01-05T03:59:00+99:59 192.0.2.1 a - - - x");
    m->flags &= ~(uint32_t)TL_MSG_HAS_TS;
    m->recv_sec = INT64_MAX;
    expect(m, TL_FMT_RFC3164, true, "Dec 31 23:59:59 192.0.2.1 a: x");
    m->recv_sec = INT64_MIN;
    expect(m, TL_FMT_RFC3164, true, "Jan  1 00:00:00 192.0.2.1 a: x");
    tl_msg_unref(m);
}

/* ---- sample files: every format of every sample is well-formed ------------------------ */

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
                if (p >= e || !strchr("\"\\/bfnrtu", *p)) {
                    return NULL;
                }
            }
        }
        return p < e ? p + 1 : NULL;
    }
    if (*p == '{' || *p == '[') {
        uint8_t close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        p = json_ws(p + 1, e);
        if (p < e && *p == close) {
            return p + 1;
        }
        for (;;) {
            if (obj) {
                p = json_ws(p, e);
                if (p >= e || *p != '"' || !(p = json_value(p, e, depth + 1))) {
                    return NULL;
                }
                p = json_ws(p, e);
                if (p >= e || *p++ != ':') {
                    return NULL;
                }
            }
            if (!(p = json_value(p, e, depth + 1))) {
                return NULL;
            }
            p = json_ws(p, e);
            if (p < e && *p == ',') {
                p++;
                continue;
            }
            return p < e && *p == close ? p + 1 : NULL;
        }
    }
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        while (p < e && strchr("+-.eE0123456789", *p)) {
            p++;
        }
        return p;
    }
    static const char *const words[] = {"true", "false", "null"};
    for (size_t k = 0; k < 3; k++) {
        size_t wl = strlen(words[k]);
        if ((size_t)(e - p) >= wl && memcmp(p, words[k], wl) == 0) {
            return p + wl;
        }
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

static void check_all_formats(const struct tl_msg *m)
{
    struct tl_buf b;
    tl_buf_init(&b, 0);
    for (int f = TL_FMT_RFC5424; f <= TL_FMT_RAW; f++) {
        for (int file = 0; file < 2; file++) {
            tl_buf_reset(&b);
            assert_true(tl_format(m, (enum tl_format)f, file != 0, &b));
            if (f == TL_FMT_JSON) {
                const uint8_t *end = json_value(b.data, b.data + b.len, 0);
                if (!end || end != b.data + b.len || !valid_utf8(b.data, b.len)) {
                    fail_msg("bad JSON: %.*s", (int)b.len, (const char *)b.data);
                }
            } else if (file && f != TL_FMT_RAW) {
                for (size_t k = 0; k < b.len; k++) {
                    if (b.data[k] < 0x20 && b.data[k] != '\t') {
                        fail_msg("control byte in file output: %.*s", (int)b.len,
                                 (const char *)b.data);
                    }
                }
            }
            if (f == TL_FMT_RFC5424) {
                /* The header is always valid: PRI, version, 6 PRINTUSASCII fields. */
                size_t sp = 0;
                size_t k = 0;
                while (k < b.len && sp < 6) {
                    if (b.data[k] == ' ') {
                        sp++;
                    } else if (b.data[k] < 33 || b.data[k] > 126) {
                        fail_msg("bad header: %.*s", (int)b.len, (const char *)b.data);
                    }
                    k++;
                }
                assert_int_equal(sp, 6);
            }
        }
    }
    tl_buf_fini(&b);
}

static void sample(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", TL_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail_msg("cannot open %s", path);
    }
    char line[8192];
    int count = 0;
    while (fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\n') {
            n--;
        }
        if (n == 0 || (n >= 2 && line[0] == '#' && line[1] == ' ')) {
            continue;
        }
        static const int families[] = {0, AF_INET, AF_INET6, AF_UNIX};
        struct tl_msg *m = mk_n(line, n, families[count % 4]);
        check_all_formats(m);
        tl_msg_unref(m);
        count++;
    }
    fclose(f);
    assert_true(count > 20);
}

static void test_samples(void **state)
{
    (void)state;
    sample("samples-5424.txt");
    sample("samples-3164.txt");
    /* And some nasty ones. */
    static const char nasty[] = "<13>1 - h\x01 a\xff - - [x@1 k=\"\xc3\x28\n\"] \xed\xa0\x80\0\x1b";
    struct tl_msg *m = mk_n(nasty, sizeof(nasty) - 1, AF_INET);
    check_all_formats(m);
    tl_msg_unref(m);
}

int main(void)
{
    setenv("TZ", TZ_CET, 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_5424_canonical),
        cmocka_unit_test(test_5424_conversions),
        cmocka_unit_test(test_5424_header_sanitising),
        cmocka_unit_test(test_hostname_fallback),
        cmocka_unit_test(test_3164_output),
        cmocka_unit_test(test_control_chars),
        cmocka_unit_test(test_json_exact),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_json_sd),
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_buffer_ceiling),
        cmocka_unit_test(test_odd_fields),
        cmocka_unit_test(test_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
