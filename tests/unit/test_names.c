/* Unit tests for core/names.h: the host-name validator, the configured-name matcher and the
 * fingerprint parser, as tables of inputs and the exact results (and sentences) expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/names.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A label of n letters (n <= 64), in a static buffer per slot. */
static const char *label_of(size_t n, int slot)
{
    static char bufs[4][65];
    char *b = bufs[slot];
    memset(b, 'a', n);
    b[n] = '\0';
    return b;
}

/* ---- tl_hostname_check ------------------------------------------------------------------- */

struct host_row {
    const char *what;
    const char *name;
    const char *cause; /* NULL: valid */
};

static void check_host(const char *what, const char *name, size_t len, const char *cause)
{
    struct tl_err e;
    memset(&e, 0, sizeof(e));
    enum tl_rc rc = tl_hostname_check(name, len, &e);
    if (cause == NULL) {
        if (rc != TL_OK) {
            fail_msg("%s: '%s' refused: %s", what, name, e.cause);
        }
        return;
    }
    if (rc != TL_E_CONFIG || e.code != TL_E_CONFIG) {
        fail_msg("%s: '%s' accepted (rc %s)", what, name, tl_rc_name(rc));
    }
    if (strcmp(e.cause, cause) != 0) {
        fail_msg("%s: cause \"%s\", want \"%s\"", what, e.cause, cause);
    }
    assert_string_equal(e.remedy, "");
    /* Without a place for the sentence: the same result. */
    assert_int_equal(tl_hostname_check(name, len, NULL), TL_E_CONFIG);
}

static void test_hostname_table(void **state)
{
    (void)state;
    static const struct host_row rows[] = {
        {"one label", "localhost", NULL},
        {"three labels", "host.example.net", NULL},
        {"mixed case", "Host.EXAMPLE.net", NULL},
        {"inner hyphen", "my-host.example.net", NULL},
        {"underscore tolerated", "_srv.example.net", NULL},
        {"digit label in a name", "123.example.net", NULL},
        {"IPv4 literal", "192.0.2.1", NULL},
        {"trailing dot", "host.example.net.", NULL},
        {"IDN A-label", "xn--bcher-kva.example", NULL},
        {"IDN A-label TLD", "example.xn--p1ai", NULL},
        {"empty", "", "'' is not a host name or IP address"},
        {"only a dot", ".", "'.' is not a host name or IP address"},
        {"two trailing dots", "host.example.net..",
         "'host.example.net..' is not a host name or IP address"},
        {"leading dot", ".example.net", "'.example.net' is not a host name or IP address"},
        {"empty label", "a..b", "'a..b' is not a host name or IP address"},
        {"leading hyphen", "-host.example.net",
         "'-host.example.net' is not a host name or IP address"},
        {"trailing hyphen", "host-.example.net",
         "'host-.example.net' is not a host name or IP address"},
        {"trailing hyphen, last label", "host.example-",
         "'host.example-' is not a host name or IP address"},
        {"space", "a b", "'a b' is not a host name or IP address"},
        {"star", "*.example.net", "'*.example.net' is not a host name or IP address"},
        {"UTF-8 (not an A-label)", "b\xc3\xbc" "cher.example",
         "'b\\xC3\\xBCcher.example' is not a host name or IP address"},
        {"digits only", "12345", "'12345' is not a valid IPv4 address"},
        {"bad IPv4", "192.0.2.256", "'192.0.2.256' is not a valid IPv4 address"},
        {"IPv4 with five parts", "1.2.3.4.5", "'1.2.3.4.5' is not a valid IPv4 address"},
    };
    for (size_t i = 0; i < N(rows); i++) {
        check_host(rows[i].what, rows[i].name, strlen(rows[i].name), rows[i].cause);
    }
}

static void test_hostname_lengths(void **state)
{
    (void)state;
    char name[300];

    /* A label of 63 bytes is the longest there is. */
    snprintf(name, sizeof(name), "%s.example", label_of(63, 0));
    check_host("63-byte label", name, strlen(name), NULL);
    snprintf(name, sizeof(name), "%s.example", label_of(64, 0));
    char want[120];
    /* The sentence shows the first 64 bytes, then "...". */
    snprintf(want, sizeof(want), "'%s...' is not a host name or IP address", label_of(64, 1));
    check_host("64-byte label", name, strlen(name), want);

    /* 253 bytes in all is the longest name: four labels of 63 and one of 1, dots between. */
    snprintf(name, sizeof(name), "%s.%s.%s.%s.a", label_of(61, 0), label_of(63, 1),
             label_of(63, 2), label_of(61, 3));
    assert_int_equal(strlen(name), 253);
    check_host("253 bytes", name, strlen(name), NULL);
    /* With the trailing dot it is still 253 bytes of name. */
    strcat(name, ".");
    check_host("253 bytes and a dot", name, strlen(name), NULL);
    snprintf(name, sizeof(name), "%s.%s.%s.%s.ab", label_of(61, 0), label_of(63, 1),
             label_of(63, 2), label_of(61, 3));
    assert_int_equal(strlen(name), 254);
    check_host("254 bytes", name, strlen(name), "the host name is longer than 253 characters");

    /* Only len bytes count: the rest of the string is not looked at. */
    check_host("prefix", "host.example.net:514", 16, NULL);
    check_host("embedded NUL", "a\0b", 3, "'a\\x00b' is not a host name or IP address");
}

/* ---- the name pattern matcher ------------------------------------------------------------ */

struct match_row {
    const char *pattern;
    const char *name;
    bool match;      /* tl_name_match(pattern, name) */
    bool cert_match; /* tl_cert_name_match(pattern as the certificate's name, name) */
};

static void test_name_match_table(void **state)
{
    (void)state;
    static const struct match_row rows[] = {
        /* exact names, ASCII case folding, one trailing dot on either side */
        {"host.example.net", "host.example.net", true, true},
        {"HOST.Example.NET", "host.example.net", true, true},
        {"host.example.net", "HOST.EXAMPLE.NET", true, true},
        {"host.example.net.", "host.example.net", true, true},
        {"host.example.net", "host.example.net.", true, true},
        {"host.example.net", "host.example.ne", false, false},
        {"host.example.net", "xhost.example.net", false, false},
        {"xn--bcher-kva.example", "XN--BCHER-KVA.example", true, true},
        /* a wildcard is a whole left-most label, matching exactly one non-empty label */
        {"*.example.net", "a.example.net", true, true},
        {"*.example.net", "A.EXAMPLE.NET", true, true},
        {"*.EXAMPLE.net", "web-1.example.NET", true, true},
        {"*.example.net", "a.b.example.net", false, false},
        {"*.example.net", "example.net", false, false},
        {"*.example.net", ".example.net", false, false},
        {"*.example.net", "a.example.net.evil", false, false},
        {"*.example.net", "aexample.net", false, false},
        {"*.example.net", "a.bexample.net", false, false},
        /* '*' anywhere else is no wildcard and matches nothing */
        {"a*.example.net", "ab.example.net", false, false},
        {"*a.example.net", "ba.example.net", false, false},
        {"*.*.net", "a.b.net", false, false},
        {"host.*", "host.net", false, false},
        {"*", "host", false, false},
        /* a certificate's wildcard needs two labels after it; an address is never covered */
        {"*.net", "a.net", true, false},
        {"*.0.2.1", "192.0.2.1", false, false},
        /* garbage on either side */
        {"", "", false, false},
        {"host.example.net", "host .example.net", false, false},
        {"host..net", "host..net", false, false},
    };
    for (size_t i = 0; i < N(rows); i++) {
        const struct match_row *r = &rows[i];
        if (tl_name_match(r->pattern, r->name) != r->match) {
            fail_msg("tl_name_match(\"%s\", \"%s\") is not %d", r->pattern, r->name, r->match);
        }
        if (tl_cert_name_match(r->pattern, r->name) != r->cert_match) {
            fail_msg("tl_cert_name_match(\"%s\", \"%s\") is not %d", r->pattern, r->name,
                     r->cert_match);
        }
    }
    assert_false(tl_name_match(NULL, "a"));
    assert_false(tl_name_match("a", NULL));
    /* The name side is never a pattern. */
    assert_false(tl_cert_name_match("*.example.net", "*.example.net"));
}

struct pattern_row {
    const char *pattern;
    const char *cause; /* NULL: accepted */
};

static void test_name_pattern_check_table(void **state)
{
    (void)state;
    static const struct pattern_row rows[] = {
        {"host.example.net", NULL},
        {"*.example.net", NULL},
        {"host.example.net.", NULL},
        {"192.0.2.1", NULL},
        {"::1", NULL},
        {"[2001:db8::1]", NULL},
        {"", "empty peer name: it can never match"},
        {"a*.example.net",
         "'a*.example.net': '*' is a wildcard only as the whole left-most label "
         "(\"*.example.net\"); here it is a literal character and the name can never match"},
        {"*.*.net",
         "'*.*.net': '*' is a wildcard only as the whole left-most label (\"*.example.net\"); "
         "here it is a literal character and the name can never match"},
        {"host name", "'host name': ' ' at character 5 is not allowed in a host name, so the "
                      "name can never match"},
        {"b\xc3\xbc" "cher.example",
         "'b\\xC3\\xBCcher.example': byte 0xC3 at character 2 is not allowed in a host name; "
         "write internationalised names in ACE form (xn--...), RFC 5425 section 5.2"},
        {"-a.example", "'-a.example': a label starts or ends with '-' (character 1), which a "
                       "host name cannot, so the name can never match"},
        {"a..example", "'a..example' has an empty label (a leading dot or '..'), so it can "
                       "never match"},
        {"192.0.2.300", "'192.0.2.300' is neither a host name nor a valid IP address"},
    };
    for (size_t i = 0; i < N(rows); i++) {
        struct tl_err e;
        memset(&e, 0, sizeof(e));
        enum tl_rc rc = tl_name_pattern_check(rows[i].pattern, &e);
        if (rows[i].cause == NULL) {
            if (rc != TL_OK) {
                fail_msg("'%s' refused: %s", rows[i].pattern, e.cause);
            }
            continue;
        }
        assert_int_equal(rc, TL_E_CONFIG);
        assert_int_equal(e.code, TL_E_CONFIG);
        assert_non_null(e.where);
        if (strcmp(e.cause, rows[i].cause) != 0) {
            fail_msg("'%s': cause \"%s\", want \"%s\"", rows[i].pattern, e.cause, rows[i].cause);
        }
        assert_int_equal(tl_name_pattern_check(rows[i].pattern, NULL), TL_E_CONFIG);
    }
    assert_int_equal(tl_name_pattern_check(NULL, NULL), TL_E_CONFIG);
}

/* ---- tl_fingerprint_parse ---------------------------------------------------------------- */

#define HEX20 "000102030405060708090A0B0C0D0E0F10111213"
#define HEX20C "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13"
#define HEX32 HEX20 "1415161718191A1B1C1D1E1F"
#define HEX32C HEX20C ":14:15:16:17:18:19:1A:1B:1C:1D:1E:1F"

struct fp_row {
    const char *text;
    enum tl_fp_alg alg; /* 0: refused */
    const char *cause;
};

static void test_fingerprint_table(void **state)
{
    (void)state;
    static const struct fp_row rows[] = {
        {"SHA256:" HEX32C, TL_FP_SHA256, NULL},
        {"SHA256:" HEX32, TL_FP_SHA256, NULL},
        {"sha-256:" HEX32, TL_FP_SHA256, NULL},
        {"Sha-256:" HEX32C, TL_FP_SHA256, NULL},
        {"SHA1:" HEX20C, TL_FP_SHA1, NULL},
        {"sha1:" HEX20, TL_FP_SHA1, NULL},
        {"SHA-1:" HEX20, TL_FP_SHA1, NULL},
        {"", 0, "empty fingerprint; expected e.g. \"SHA256:AB:CD:...\""},
        {HEX32, 0,
         "fingerprint has no algorithm label; write it as \"SHA256:<hex>\" or \"SHA1:<hex>\""},
        {"MD5:" HEX20, 0,
         "unknown fingerprint algorithm 'MD5'; expected SHA256 or SHA1 (also written sha-256, "
         "sha-1)"},
        {"SHA256", 0, "SHA256 fingerprint has no digest; expected \"SHA256:<hex>\""},
        {"SHA256:" HEX20 "1415161718191A1B1C1D1E", 0,
         "SHA256 fingerprint has 31 bytes, expected 32 (64 hex digits)"},
        {"SHA256:" HEX32 "20", 0, "SHA256 fingerprint has 33 bytes, expected 32 (64 hex digits)"},
        {"SHA256:" HEX20, 0,
         "SHA256 fingerprint has 20 bytes, expected 32 (64 hex digits); it looks like a SHA1 "
         "fingerprint: label it SHA1"},
        {"SHA1:" HEX32C, 0,
         "SHA1 fingerprint has 32 bytes, expected 20 (40 hex digits); it looks like a SHA256 "
         "fingerprint: label it SHA256"},
        {"SHA1:0G" HEX20, 0, "fingerprint has 'G' at character 7 where a hex digit was expected"},
        {"SHA1:zz", 0, "fingerprint has 'z' at character 6 where a hex digit was expected"},
        {"SHA1:00 11", 0,
         "fingerprint has a space at character 8 where a hex digit was expected"},
        {"SHA1:00::11", 0,
         "fingerprint has a misplaced ':' at character 9; write each byte as two hex digits, "
         "optionally separated by single colons"},
        {"SHA1:00:", 0,
         "fingerprint has a misplaced ':' at character 8; write each byte as two hex digits, "
         "optionally separated by single colons"},
        {"SHA1:001", 0,
         "fingerprint has a lone hex digit at character 8; each byte is two hex digits"},
    };
    for (size_t i = 0; i < N(rows); i++) {
        const struct fp_row *r = &rows[i];
        struct tl_fingerprint fp;
        struct tl_err e;
        memset(&e, 0, sizeof(e));
        enum tl_rc rc = tl_fingerprint_parse(r->text, &fp, &e);
        if (r->alg != 0) {
            if (rc != TL_OK) {
                fail_msg("\"%s\" refused: %s", r->text, e.cause);
            }
            assert_int_equal(fp.alg, r->alg);
            assert_int_equal(fp.len, r->alg == TL_FP_SHA1 ? TL_SHA1_LEN : TL_SHA256_LEN);
            for (size_t j = 0; j < fp.len; j++) {
                assert_int_equal(fp.md[j], j);
            }
            continue;
        }
        assert_int_equal(rc, TL_E_CONFIG);
        assert_int_equal(e.code, TL_E_CONFIG);
        if (strcmp(e.cause, r->cause) != 0) {
            fail_msg("\"%s\": cause \"%s\", want \"%s\"", r->text, e.cause, r->cause);
        }
        /* A refused text leaves nothing half-parsed behind. */
        assert_int_equal(fp.len, 0);
        assert_int_equal(tl_fingerprint_parse(r->text, &fp, NULL), TL_E_CONFIG);
    }
    struct tl_fingerprint fp;
    assert_int_equal(tl_fingerprint_parse(NULL, &fp, NULL), TL_E_CONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostname_table),
        cmocka_unit_test(test_hostname_lengths),
        cmocka_unit_test(test_name_match_table),
        cmocka_unit_test(test_name_pattern_check_table),
        cmocka_unit_test(test_fingerprint_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
