/*
 * test_tls_verify.c: peer names, certificate identity, fingerprints and failure messages.
 *
 * The matchers are tested from tables (RFC 5425 §5.2 cases, plus the ones other daemons got
 * wrong: wildcard depth, IPv6 text forms, IPv4 against IPv6, NUL in a dNSName). Certificates
 * are made here with the OpenSSL API at fixed dates, and verified with a fixed "now", so that
 * every verify result is a real X509_V_ERR_* from OpenSSL and every message can be compared
 * whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "transport/tls_verify.h"

#define N(arr) (sizeof(arr) / sizeof((arr)[0]))

/* ---- tables ------------------------------------------------------------------------------- */

struct name_row {
    const char *pattern;
    const char *name;
    bool match;
};

static const struct name_row name_rows[] = {
    /* exact, case, trailing dot */
    { "host.example.net", "host.example.net", true },
    { "HOST.Example.NET", "host.example.net", true },
    { "host.example.net", "HOST.EXAMPLE.NET", true },
    { "host.example.net.", "host.example.net", true },
    { "host.example.net", "host.example.net.", true },
    { "host.example.net.", "host.example.net.", true },
    { "host.example.net..", "host.example.net", false },
    { "host.example.net", "host.example.net..", false },
    { "host.example.net", "host.example.ne", false },
    { "host.example.net", "host.example.nett", false },
    { "host.example.net", "xhost.example.net", false },
    { "host.example.net", "host", false },
    { "host", "host", true },
    { "a-b_c.example.net", "A-B_C.example.net", true },
    /* configured wildcard: exactly one whole left-most label */
    { "*.example.net", "a.example.net", true },
    { "*.example.net", "A.EXAMPLE.NET", true },
    { "*.EXAMPLE.net", "a.example.net.", true },
    { "*.example.net.", "a.example.net", true },
    { "*.example.net", "a.b.example.net", false },
    { "*.example.net", "example.net", false },
    { "*.example.net", ".example.net", false },
    { "*.example.net", "a.example.net.evil", false },
    { "*.example.net", "aexample.net", false },
    { "*.example.net", "a.example.org", false },
    { "*.example.net", "*.example.net", false },
    { "*.net", "example.net", true },
    { "*.0.2.1", "192.0.2.1", false },
    /* '*' anywhere else is literal and never matches */
    { "*", "host", false },
    { "*", "*", false },
    { "*.", "a", false },
    { "a*.example.net", "a.example.net", false },
    { "a*.example.net", "ab.example.net", false },
    { "a*.example.net", "a*.example.net", false },
    { "*a.example.net", "ba.example.net", false },
    { "*.*.net", "a.b.net", false },
    { "*.*.net", "a.example.net", false },
    { "host.*", "host.net", false },
    { "ex*ample.net", "example.net", false },
    /* IDN: compared in ACE form only */
    { "xn--bcher-kva.example", "xn--bcher-kva.example", true },
    { "XN--BCHER-KVA.example", "xn--bcher-kva.example", true },
    { "*.xn--bcher-kva.example", "www.xn--bcher-kva.example", true },
    { "b\xc3\xbc" "cher.example", "b\xc3\xbc" "cher.example", false },
    { "xn--bcher-kva.example", "b\xc3\xbc" "cher.example", false },
    /* empty and malformed */
    { "", "", false },
    { "", "host", false },
    { "host", "", false },
    { ".", ".", false },
    { ".", "", false },
    { ".example.net", ".example.net", false },
    { "a..example.net", "a..example.net", false },
    { "host name", "host name", false },
    /* escaped certificate names (NUL-prefix attack) never match */
    { "bank.example", "bank.example\\x00.evil.net", false },
    { "bank.example\\x00.evil.net", "bank.example\\x00.evil.net", false },
    /* textual only: addresses are compared as bytes by tl_ip_match */
    { "192.0.2.1", "192.0.2.1", true },
    { "host.example.net", NULL, false },
    { NULL, "host.example.net", false },
};

static void test_name_match_table(void **state)
{
    (void)state;
    size_t bad = 0;
    for (size_t i = 0; i < N(name_rows); i++) {
        const struct name_row *r = &name_rows[i];
        bool got = tl_name_match(r->pattern, r->name);
        if (got != r->match) {
            fprintf(stderr, "row %zu: tl_name_match(\"%s\", \"%s\") = %d, want %d\n", i,
                    r->pattern ? r->pattern : "(null)", r->name ? r->name : "(null)", got,
                    r->match);
            bad++;
        }
        /* Without '*' in either, the relation is symmetric. */
        if (r->pattern != NULL && r->name != NULL && strchr(r->pattern, '*') == NULL &&
            strchr(r->name, '*') == NULL && tl_name_match(r->name, r->pattern) != r->match) {
            fprintf(stderr, "row %zu: not symmetric\n", i);
            bad++;
        }
    }
    assert_true(N(name_rows) >= 40);
    assert_int_equal(bad, 0);
}

static const struct name_row cert_rows[] = {
    /* { certificate dNSName, wanted exact name, match } */
    { "*.example.net", "a.example.net", true },
    { "*.example.net", "A.Example.Net.", true },
    { "*.example.net.", "a.example.net", true },
    { "*.EXAMPLE.NET", "www.example.net", true },
    { "*.example.net", "a.b.example.net", false },
    { "*.example.net", "example.net", false },
    { "*.example.net", ".example.net", false },
    { "*.example.net", "*.example.net", false },
    { "*.example.net", "a*.example.net", false },
    { "*.net", "example.net", false },
    { "*", "host", false },
    { "a*.example.net", "ab.example.net", false },
    { "*a.example.net", "ba.example.net", false },
    { "*.*.example.net", "a.b.example.net", false },
    { "host.example.net", "host.example.net", true },
    { "HOST.example.net", "host.EXAMPLE.net.", true },
    { "host.example.net", "other.example.net", false },
    { "*.0.2.1", "192.0.2.1", false },
    { "*.xn--bcher-kva.example", "www.xn--bcher-kva.example", true },
    { "*.example.net", "", false },
    { "", "a.example.net", false },
    { "bank.example\\x00.evil.net", "bank.example", false },
    { NULL, "a.example.net", false },
    { "*.example.net", NULL, false },
};

static void test_cert_name_match_table(void **state)
{
    (void)state;
    size_t bad = 0;
    for (size_t i = 0; i < N(cert_rows); i++) {
        const struct name_row *r = &cert_rows[i];
        bool got = tl_cert_name_match(r->pattern, r->name);
        if (got != r->match) {
            fprintf(stderr, "row %zu: tl_cert_name_match(\"%s\", \"%s\") = %d, want %d\n", i,
                    r->pattern ? r->pattern : "(null)", r->name ? r->name : "(null)", got,
                    r->match);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

struct ip_row {
    const char *pattern;
    const char *san;   /* written as the SAN's bytes would print; NULL: a 5-byte SAN */
    bool match;
};

static const struct ip_row ip_rows[] = {
    { "192.0.2.1", "192.0.2.1", true },
    { "192.0.2.1", "192.0.2.2", false },
    { "10.0.0.1", "10.0.0.1", true },
    { "192.0.2.1", "::ffff:192.0.2.1", false },        /* IPv4 pattern, v4-mapped SAN */
    { "::ffff:192.0.2.1", "192.0.2.1", false },        /* v4-mapped pattern, IPv4 SAN */
    { "::ffff:192.0.2.1", "::ffff:c000:201", true },   /* same bytes, other text */
    { "2001:db8::1", "2001:0db8:0:0:0:0:0:1", true },
    { "2001:0DB8:0000::0001", "2001:db8::1", true },
    { "[2001:db8::1]", "2001:db8::1", true },
    { "2001:db8::1", "2001:db8::2", false },
    { "::1", "0:0:0:0:0:0:0:1", true },
    { "::1", "127.0.0.1", false },
    { "127.0.0.1", "::1", false },
    { "::", "0.0.0.0", false },
    { "0.0.0.0", "::", false },
    { "192.0.2.1.", "192.0.2.1", false },              /* not an address: a name */
    { "[192.0.2.1]", "192.0.2.1", false },             /* brackets are for IPv6 */
    { "fe80::1%eth0", "fe80::1", false },              /* zone ids never match */
    { "1.2.3", "1.2.3.0", false },
    { "host.example.net", "192.0.2.1", false },
    { "", "192.0.2.1", false },
    { "192.0.2.1", NULL, false },
};

static struct tl_san_ip san_from_text(const char *text)
{
    struct tl_san_ip ip;
    memset(&ip, 0, sizeof(ip));
    if (text == NULL) {
        return ip;  /* family 0: a SAN of the wrong length */
    }
    ip.family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(ip.family, text, ip.addr), 1);
    inet_ntop(ip.family, ip.addr, ip.text, sizeof(ip.text));
    return ip;
}

static void test_ip_match_table(void **state)
{
    (void)state;
    size_t bad = 0;
    for (size_t i = 0; i < N(ip_rows); i++) {
        struct tl_san_ip san = san_from_text(ip_rows[i].san);
        bool got = tl_ip_match(ip_rows[i].pattern, &san);
        if (got != ip_rows[i].match) {
            fprintf(stderr, "row %zu: tl_ip_match(\"%s\", %s) = %d\n", i, ip_rows[i].pattern,
                    ip_rows[i].san ? ip_rows[i].san : "(bad SAN)", got);
            bad++;
        }
    }
    assert_int_equal(bad, 0);

    struct tl_san_ip p;
    assert_true(tl_ip_pattern_parse("2001:0DB8:0:0:0:0:0:1", &p));
    assert_int_equal(p.family, AF_INET6);
    assert_string_equal(p.text, "2001:db8::1");
    assert_true(tl_ip_pattern_parse("192.0.2.1", &p));
    assert_int_equal(p.family, AF_INET);
    assert_false(tl_ip_pattern_parse("host.example.net", &p));
    assert_int_equal(p.family, 0);
    assert_false(tl_ip_pattern_parse(NULL, &p));
    assert_false(tl_ip_match("192.0.2.1", NULL));
}

struct check_row {
    const char *pattern;
    bool ok;
    const char *err;  /* substring of the error when !ok */
};

static const struct check_row check_rows[] = {
    { "host.example.net", true, NULL },
    { "host.example.net.", true, NULL },
    { "*.example.net", true, NULL },
    { "*.net", true, NULL },
    { "192.0.2.1", true, NULL },
    { "2001:db8::1", true, NULL },
    { "[2001:db8::1]", true, NULL },
    { "xn--bcher-kva.example", true, NULL },
    { "", false, "empty peer name" },
    { NULL, false, "empty peer name" },
    { "*", false, "'*': '*' is a wildcard only as the whole left-most label" },
    { "a*.example.net", false, "here it is a literal character" },
    { "*.*.net", false, "'*.*.net': '*' is a wildcard only" },
    { "host.*", false, "wildcard only as the whole left-most label" },
    { ".example.net", false, "'.example.net' has an empty label" },
    { "a..b", false, "has an empty label" },
    { "*.", false, "'*.': '*' is a wildcard only" },
    { ".", false, "has an empty label" },
    { "host name", false, "'host name': ' ' at character 5 is not allowed in a host name" },
    { "b\xc3\xbc" "cher.example", false,
      "'b\\xC3\\xBCcher.example': byte 0xC3 at character 2 is not allowed in a host name; "
      "write internationalised names in ACE form (xn--...)" },
    { "tab\there", false, "'tab\\x09here': byte 0x09 at character 4" },
};

static void test_name_pattern_check(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(check_rows); i++) {
        struct tl_err e = {0};
        bool ok = tl_name_pattern_check(check_rows[i].pattern, &e) == TL_OK;
        const char *err = e.cause;
        if (ok != check_rows[i].ok ||
            (!ok && strstr(err, check_rows[i].err) == NULL)) {
            fprintf(stderr, "row %zu: ok=%d err=\"%s\"\n", i, ok, err);
            fail();
        }
        /* What the checker accepts must be matchable by something. */
        if (ok && check_rows[i].pattern[0] != '*') {
            struct tl_san_ip ip;
            assert_true(tl_ip_pattern_parse(check_rows[i].pattern, &ip) ||
                        tl_name_match(check_rows[i].pattern, check_rows[i].pattern));
        }
    }
}

#define H32 "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
#define H32L "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define H32C "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:" \
             "10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F"
#define H32CL "00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:" \
              "10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f"
#define H20 "000102030405060708090A0B0C0D0E0F10111213"
#define H20C "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13"
#define H20CL "00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10:11:12:13"

struct fp_row {
    const char *text;
    bool ok;
    enum tl_fp_alg alg;
    const char *err;
};

static const struct fp_row fp_rows[] = {
    { "SHA256:" H32C, true, TL_FP_SHA256, NULL },
    { "sha256:" H32L, true, TL_FP_SHA256, NULL },
    { "SHA-256:" H32, true, TL_FP_SHA256, NULL },
    { "sha-256:" H32CL, true, TL_FP_SHA256, NULL },
    { "Sha256:" H32CL, true, TL_FP_SHA256, NULL },
    { "SHA256:00:0102:03040506:07:08:090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", true,
      TL_FP_SHA256, NULL },
    { "SHA1:" H20C, true, TL_FP_SHA1, NULL },
    { "sha1:" H20CL, true, TL_FP_SHA1, NULL },
    { "sha-1:" H20, true, TL_FP_SHA1, NULL },
    { "SHA-1:" H20CL, true, TL_FP_SHA1, NULL },
    { "SHA256:" H20C, false, 0,
      "SHA256 fingerprint has 20 bytes, expected 32 (64 hex digits); it looks like a SHA1 "
      "fingerprint: label it SHA1" },
    { "SHA1:" H32, false, 0,
      "SHA1 fingerprint has 32 bytes, expected 20 (40 hex digits); it looks like a SHA256" },
    { "SHA256:" H32 "00", false, 0, "SHA256 fingerprint has 33 bytes, expected 32" },
    { "SHA256:" H20 "1415161718191A1B1C1D1E", false, 0,
      "SHA256 fingerprint has 31 bytes, expected 32 (64 hex digits)" },
    { "SHA1:" H20 H20 H20, false, 0, "SHA1 fingerprint has 60 bytes, expected 20" },
    { "SHA256:", false, 0, "SHA256 fingerprint has 0 bytes, expected 32" },
    { "SHA256", false, 0, "SHA256 fingerprint has no digest; expected \"SHA256:<hex>\"" },
    { "sha-1", false, 0, "SHA1 fingerprint has no digest" },
    { "SHA256:" H32 "0", false, 0, "lone hex digit at character 72" },
    { "SHA256:0:01", false, 0, "lone hex digit at character 8" },
    { "SHA256:0G" H32, false, 0, "fingerprint has 'G' at character 9 where a hex digit" },
    { "SHA256:G0" H32, false, 0, "fingerprint has 'G' at character 8 where a hex digit" },
    { "SHA256:" H32 " ", false, 0, "fingerprint has a space at character 72" },
    { "SHA256:00\x01", false, 0, "fingerprint has byte 0x01 at character 10" },
    { "SHA256::" H32C, false, 0, "misplaced ':' at character 8" },
    { "SHA256:00::01", false, 0, "misplaced ':' at character 11" },
    { "SHA256:" H32C ":", false, 0, "misplaced ':' at character 103" },
    { "MD5:" H20, false, 0, "unknown fingerprint algorithm 'MD5'; expected SHA256 or SHA1" },
    { "SHA512:" H32, false, 0, "unknown fingerprint algorithm 'SHA512'" },
    { "SHA_256:" H32, false, 0, "unknown fingerprint algorithm 'SHA_256'" },
    { " SHA256:" H32, false, 0, "unknown fingerprint algorithm ' SHA256'" },
    { "SHA\x01:" H32, false, 0, "unknown fingerprint algorithm 'SHA\\x01'" },
    { H32C, false, 0, "fingerprint has no algorithm label" },
    { H32, false, 0, "fingerprint has no algorithm label" },
    { "", false, 0, "empty fingerprint" },
    { NULL, false, 0, "empty fingerprint" },
};

static void test_fingerprint_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(fp_rows); i++) {
        const struct fp_row *r = &fp_rows[i];
        struct tl_fingerprint fp;
        struct tl_err e = {0};
        bool ok = tl_fingerprint_parse(r->text, &fp, &e) == TL_OK;
        const char *err = e.cause;
        if (ok != r->ok || (!ok && strstr(err, r->err) == NULL)) {
            fprintf(stderr, "row %zu: \"%s\": ok=%d err=\"%s\"\n", i, r->text ? r->text : "",
                    ok, err);
            fail();
        }
        if (!ok) {
            assert_int_equal(fp.len, 0);
            continue;
        }
        assert_int_equal(fp.alg, r->alg);
        assert_int_equal(fp.len, r->alg == TL_FP_SHA1 ? 20 : 32);
        for (size_t j = 0; j < fp.len; j++) {
            assert_int_equal(fp.md[j], j);
        }
        char text[TL_FP_STRLEN];
        size_t n = tl_fingerprint_format(&fp, text, sizeof(text));
        assert_string_equal(text, r->alg == TL_FP_SHA1 ? "SHA1:" H20C : "SHA256:" H32C);
        assert_int_equal(n, strlen(text));
    }
    /* The text buffers are exactly large enough. */
    struct tl_fingerprint fp;
    assert_int_equal(tl_fingerprint_parse("SHA256:" H32, &fp, NULL), TL_OK);
    char exact[TL_FP_SHA256_STRLEN];
    assert_int_equal(tl_fingerprint_format(&fp, exact, sizeof(exact)), TL_FP_SHA256_STRLEN - 1);
    assert_int_equal(tl_fingerprint_parse("SHA1:" H20, &fp, NULL), TL_OK);
    char exact1[TL_FP_SHA1_STRLEN];
    assert_int_equal(tl_fingerprint_format(&fp, exact1, sizeof(exact1)), TL_FP_SHA1_STRLEN - 1);
}

/* ---- certificates ------------------------------------------------------------------------- */

struct cert_spec {
    const char *cn;          /* NULL: no CN */
    const char *san;         /* X509V3 config text "DNS:a,IP:1.2.3.4"; NULL: no SAN */
    const char *not_before;  /* "YYYYMMDDHHMMSSZ" */
    const char *not_after;
    long serial;
    const char *eku;         /* "clientAuth", ...; NULL: none */
    bool ca;
};

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

static void set_time(ASN1_TIME *t, const char *when)
{
    assert_int_equal(ASN1_TIME_set_string_X509(t, when), 1);
}

/* Builds a certificate for `key`, signed by issuer_key (NULL: self-signed). The subject is
 * O=tlslogd tests, CN=<cn>, printed in RFC 2253 order as "CN=<cn>,O=tlslogd tests". */
static X509 *make_cert(const struct cert_spec *s, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), s->serial), 1);
    set_time(X509_getm_notBefore(x), s->not_before);
    set_time(X509_getm_notAfter(x), s->not_after);
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                                (const unsigned char *)"tlslogd tests", -1, -1,
                                                0), 1);
    if (s->cn != NULL) {
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                    (const unsigned char *)s->cn, -1, -1, 0), 1);
    }
    assert_int_equal(X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer)
                                                            : name), 1);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    if (s->ca) {
        add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (s->san != NULL) {
        add_ext(x, &ctx, NID_subject_alt_name, s->san);
    }
    if (s->eku != NULL) {
        add_ext(x, &ctx, NID_ext_key_usage, s->eku);
    }
    assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static X509_CRL *make_crl(X509 *ca, EVP_PKEY *ca_key, long revoked, const char *last,
                          const char *next)
{
    X509_CRL *crl = X509_CRL_new();
    assert_non_null(crl);
    assert_int_equal(X509_CRL_set_version(crl, 1), 1);
    assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)), 1);
    ASN1_TIME *t = ASN1_TIME_new();
    set_time(t, last);
    assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
    set_time(t, next);
    assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
    if (revoked != 0) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_INTEGER *serial = ASN1_INTEGER_new();
        assert_int_equal(ASN1_INTEGER_set(serial, revoked), 1);
        assert_int_equal(X509_REVOKED_set_serialNumber(r, serial), 1);
        set_time(t, last);
        assert_int_equal(X509_REVOKED_set_revocationDate(r, t), 1);
        assert_int_equal(X509_CRL_add0_revoked(crl, r), 1);
        ASN1_INTEGER_free(serial);
    }
    ASN1_TIME_free(t);
    assert_int_equal(X509_CRL_sort(crl), 1);
    assert_true(X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0);
    return crl;
}

/* Everything the certificate tests share, built once. "Now" is 2026-06-01 00:00:00 UTC. */
struct fixture {
    time_t now;
    EVP_PKEY *ca1_key;
    EVP_PKEY *ca2_key;
    EVP_PKEY *int_key;
    EVP_PKEY *key;
    X509 *ca1;      /* CN=Test CA 1 */
    X509 *ca2;      /* CN=Test CA 2, unrelated */
    X509 *inter;    /* CN=Test Intermediate, issued by CA 1 */
    X509 *full;     /* DNS and IP SANs, clientAuth, serial 0x1001, issued by CA 1 */
    X509 *cn_only;  /* no SAN at all */
    X509 *cn_ip;    /* CN plus an IP SAN only: the CN is a name */
    X509 *wild;     /* DNS:*.wild.example.net */
    X509 *expired;  /* 2020..2021, issued by CA 1 */
    X509 *future;   /* 2030..2031, issued by CA 1 */
    X509 *self;     /* self-signed leaf */
    X509 *via_int;  /* issued by the intermediate */
    X509 *ed;       /* Ed25519 key */
};

static struct fixture F;

static int group_setup(void **state)
{
    (void)state;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 5;
    tm.tm_mday = 1;
    F.now = timegm(&tm);

    F.ca1_key = EVP_EC_gen("P-256");
    F.ca2_key = EVP_EC_gen("P-256");
    F.int_key = EVP_EC_gen("P-256");
    F.key = EVP_EC_gen("P-256");
    assert_non_null(F.ca1_key);
    assert_non_null(F.ca2_key);
    assert_non_null(F.int_key);
    assert_non_null(F.key);

    const struct cert_spec ca1 = { "Test CA 1", NULL, "20200101000000Z", "20360101000000Z", 1,
                                   NULL, true };
    const struct cert_spec ca2 = { "Test CA 2", NULL, "20200101000000Z", "20360101000000Z", 2,
                                   NULL, true };
    const struct cert_spec inter = { "Test Intermediate", NULL, "20200101000000Z",
                                     "20360101000000Z", 3, NULL, true };
    const struct cert_spec full = {
        "client1.example.net",
        "DNS:client1.example.net,DNS:Alias.Example.NET,IP:192.0.2.1,IP:2001:db8::1",
        "20251123100000Z", "20271123100000Z", 0x1001, "clientAuth", false };
    const struct cert_spec cn_only = { "cnonly.example.net", NULL, "20250101000000Z",
                                       "20270101000000Z", 0x1002, NULL, false };
    const struct cert_spec cn_ip = { "cnip.example.net", "IP:198.51.100.7", "20250101000000Z",
                                     "20270101000000Z", 0x1003, NULL, false };
    const struct cert_spec wild = { "wild", "DNS:*.wild.example.net", "20250101000000Z",
                                    "20270101000000Z", 0x1004, NULL, false };
    const struct cert_spec expired = { "old.example.net", "DNS:old.example.net",
                                       "20200101000000Z", "20210101000000Z", 0x1005, NULL,
                                       false };
    const struct cert_spec future = { "new.example.net", "DNS:new.example.net",
                                      "20300101000000Z", "20310101000000Z", 0x1006, NULL,
                                      false };
    const struct cert_spec self = { "selfie.example.net", "DNS:selfie.example.net",
                                    "20250101000000Z", "20270101000000Z", 0x1007, NULL, false };
    const struct cert_spec via_int = { "leaf.example.net", "DNS:leaf.example.net",
                                       "20250101000000Z", "20270101000000Z", 0x1008, NULL,
                                       false };

    F.ca1 = make_cert(&ca1, F.ca1_key, NULL, NULL);
    F.ca2 = make_cert(&ca2, F.ca2_key, NULL, NULL);
    F.inter = make_cert(&inter, F.int_key, F.ca1, F.ca1_key);
    F.full = make_cert(&full, F.key, F.ca1, F.ca1_key);
    F.cn_only = make_cert(&cn_only, F.key, F.ca1, F.ca1_key);
    F.cn_ip = make_cert(&cn_ip, F.key, F.ca1, F.ca1_key);
    F.wild = make_cert(&wild, F.key, F.ca1, F.ca1_key);
    F.expired = make_cert(&expired, F.key, F.ca1, F.ca1_key);
    F.future = make_cert(&future, F.key, F.ca1, F.ca1_key);
    F.self = make_cert(&self, F.key, NULL, NULL);
    F.via_int = make_cert(&via_int, F.key, F.inter, F.int_key);

    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(ed);
    F.ed = X509_new();
    X509_set_version(F.ed, X509_VERSION_3);
    set_time(X509_getm_notBefore(F.ed), "20250101000000Z");
    set_time(X509_getm_notAfter(F.ed), "20270101000000Z");
    X509_NAME_add_entry_by_txt(X509_get_subject_name(F.ed), "CN", MBSTRING_ASC,
                               (const unsigned char *)"ed.example.net", -1, -1, 0);
    X509_set_issuer_name(F.ed, X509_get_subject_name(F.ed));
    X509_set_pubkey(F.ed, ed);
    assert_true(X509_sign(F.ed, ed, NULL) > 0);
    EVP_PKEY_free(ed);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    X509 *certs[] = { F.ca1, F.ca2, F.inter, F.full, F.cn_only, F.cn_ip, F.wild, F.expired,
                      F.future, F.self, F.via_int, F.ed };
    for (size_t i = 0; i < N(certs); i++) {
        X509_free(certs[i]);
    }
    EVP_PKEY_free(F.ca1_key);
    EVP_PKEY_free(F.ca2_key);
    EVP_PKEY_free(F.int_key);
    EVP_PKEY_free(F.key);
    return 0;
}

static void load(X509 *x, struct tl_peer_cert *pc)
{
    struct tl_err e;
    if (tl_peer_cert_from_x509(x, pc, &e) != TL_OK) {
        fprintf(stderr, "tl_peer_cert_from_x509: %s\n", e.cause);
        fail();
    }
}

/* The fingerprint computed here without the module, in the same notation. */
static void expected_fp(X509 *x, const EVP_MD *md, const char *label, char *out, size_t cap)
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(X509_digest(x, md, buf, &n), 1);
    size_t o = (size_t)snprintf(out, cap, "%s", label);
    for (unsigned int i = 0; i < n; i++) {
        o += (size_t)snprintf(out + o, cap - o, i ? ":%02X" : "%02X", buf[i]);
    }
}

static void test_cert_full(void **state)
{
    (void)state;
    struct tl_peer_cert pc;
    load(F.full, &pc);
    assert_string_equal(pc.subject, "CN=client1.example.net,O=tlslogd tests");
    assert_string_equal(pc.issuer, "CN=Test CA 1,O=tlslogd tests");
    assert_string_equal(pc.serial, "1001");
    assert_int_equal(pc.n_dns, 2);
    assert_string_equal(pc.dns[0], "client1.example.net");
    assert_string_equal(pc.dns[1], "Alias.Example.NET");
    assert_int_equal(pc.n_ips, 2);
    assert_int_equal(pc.ips[0].family, AF_INET);
    assert_string_equal(pc.ips[0].text, "192.0.2.1");
    assert_int_equal(pc.ips[1].family, AF_INET6);
    assert_string_equal(pc.ips[1].text, "2001:db8::1");
    assert_string_equal(pc.cn, "client1.example.net");
    assert_string_equal(pc.not_before, "2025-11-23 10:00:00 UTC");
    assert_string_equal(pc.not_after, "2027-11-23 10:00:00 UTC");
    assert_int_equal(pc.not_before_t, 1763892000);
    assert_int_equal(pc.not_after_t, 1763892000 + (365 + 365) * 86400);
    assert_string_equal(pc.key_type, "EC");
    assert_int_equal(pc.key_bits, 256);

    char want[TL_FP_STRLEN];
    expected_fp(F.full, EVP_sha256(), "SHA256:", want, sizeof(want));
    assert_string_equal(pc.sha256_text, want);
    assert_int_equal(strlen(pc.sha256_text), TL_FP_SHA256_STRLEN - 1);
    expected_fp(F.full, EVP_sha1(), "SHA1:", want, sizeof(want));
    assert_string_equal(pc.sha1_text, want);
    assert_int_equal(strlen(pc.sha1_text), TL_FP_SHA1_STRLEN - 1);

    char names[256];
    size_t n = tl_peer_cert_names(&pc, names, sizeof(names));
    assert_string_equal(names, "DNS:client1.example.net, DNS:Alias.Example.NET, IP:192.0.2.1, "
                        "IP:2001:db8::1");
    assert_int_equal(n, strlen(names));
    char small[20];
    n = tl_peer_cert_names(&pc, small, sizeof(small));
    assert_string_equal(small, "DNS:client1.exam...");
    assert_int_equal(n, 19);

    /* Permitted: names, wildcards, case, addresses in any text form; CN ignored for IPs. */
    const char *ok1[] = { "other.example.net", "CLIENT1.example.net." };
    const char *ok2[] = { "*.example.net" };
    const char *ok3[] = { "alias.example.net" };
    const char *ok4[] = { "2001:0db8:0:0:0:0:0:1" };
    const char *ok5[] = { "192.0.2.1" };
    const char *no1[] = { "*.other.net", "b.example.net", "client1.example" };
    const char *no2[] = { "192.0.2.2", "::ffff:192.0.2.1", "2001:db8::2" };
    const char *no3[] = { "*.*.net", "*", "client1*.example.net" };
    assert_true(tl_peer_cert_permitted(&pc, ok1, N(ok1)));
    assert_true(tl_peer_cert_permitted(&pc, ok2, N(ok2)));
    assert_true(tl_peer_cert_permitted(&pc, ok3, N(ok3)));
    assert_true(tl_peer_cert_permitted(&pc, ok4, N(ok4)));
    assert_true(tl_peer_cert_permitted(&pc, ok5, N(ok5)));
    assert_false(tl_peer_cert_permitted(&pc, no1, N(no1)));
    assert_false(tl_peer_cert_permitted(&pc, no2, N(no2)));
    assert_false(tl_peer_cert_permitted(&pc, no3, N(no3)));
    assert_false(tl_peer_cert_permitted(&pc, ok1, 0));
    assert_false(tl_peer_cert_permitted(&pc, NULL, 1));
    assert_false(tl_peer_cert_permitted(NULL, ok1, N(ok1)));

    /* Fingerprints: every accepted spelling of this certificate's digest matches it. */
    struct tl_fingerprint fp[2];
    assert_int_equal(tl_fingerprint_parse(pc.sha256_text, &fp[0], NULL), TL_OK);
    assert_true(tl_fingerprint_matches(&fp[0], F.full));
    assert_false(tl_fingerprint_matches(&fp[0], F.cn_only));
    assert_int_equal(tl_fingerprint_parse(pc.sha1_text, &fp[1], NULL), TL_OK);
    assert_true(tl_fingerprint_matches(&fp[1], F.full));
    char lower_nocolon[TL_FP_STRLEN];
    size_t o = 0;
    o += (size_t)snprintf(lower_nocolon, sizeof(lower_nocolon), "sha-256:");
    for (size_t i = 0; i < TL_SHA256_LEN; i++) {
        o += (size_t)snprintf(lower_nocolon + o, sizeof(lower_nocolon) - o, "%02x",
                              pc.sha256[i]);
    }
    struct tl_fingerprint fl;
    assert_int_equal(tl_fingerprint_parse(lower_nocolon, &fl, NULL), TL_OK);
    assert_true(tl_fingerprint_matches(&fl, F.full));
    assert_true(tl_peer_cert_fingerprint_listed(&pc, &fp[1], 1));
    assert_true(tl_peer_cert_fingerprint_listed(&pc, fp, 2));
    assert_false(tl_fingerprint_matches(NULL, F.full));
    assert_false(tl_fingerprint_matches(&fp[0], NULL));

    struct tl_peer_cert other;
    load(F.cn_only, &other);
    assert_false(tl_peer_cert_fingerprint_listed(&other, fp, 2));
    assert_false(tl_peer_cert_fingerprint_listed(&other, NULL, 0));
    tl_peer_cert_fini(&other);

    tl_peer_cert_fini(&pc);
    assert_null(pc.subject);
    assert_int_equal(pc.n_dns, 0);
    tl_peer_cert_fini(&pc);
    tl_peer_cert_fini(NULL);
}

static void test_cert_cn_rule(void **state)
{
    (void)state;
    struct tl_peer_cert pc;
    char names[128];

    /* No SAN: the CN is the name (RFC 5425 §5.2). */
    load(F.cn_only, &pc);
    assert_int_equal(pc.n_dns, 0);
    assert_int_equal(pc.n_ips, 0);
    assert_string_equal(pc.cn, "cnonly.example.net");
    tl_peer_cert_names(&pc, names, sizeof(names));
    assert_string_equal(names, "CN:cnonly.example.net");
    const char *p1[] = { "cnonly.example.net" };
    const char *p2[] = { "*.example.net" };
    const char *p3[] = { "other.example.net" };
    assert_true(tl_peer_cert_permitted(&pc, p1, 1));
    assert_true(tl_peer_cert_permitted(&pc, p2, 1));
    assert_false(tl_peer_cert_permitted(&pc, p3, 1));
    tl_peer_cert_fini(&pc);

    /* An IP SAN but no dNSName SAN: the CN still counts, next to the address. */
    load(F.cn_ip, &pc);
    tl_peer_cert_names(&pc, names, sizeof(names));
    assert_string_equal(names, "IP:198.51.100.7, CN:cnip.example.net");
    const char *p4[] = { "cnip.example.net" };
    const char *p5[] = { "198.51.100.7" };
    assert_true(tl_peer_cert_permitted(&pc, p4, 1));
    assert_true(tl_peer_cert_permitted(&pc, p5, 1));
    tl_peer_cert_fini(&pc);

    /* With a dNSName SAN the CN is not a name, even when it looks like one (RFC 6125 §6.4.4). */
    load(F.wild, &pc);
    assert_string_equal(pc.cn, "wild");
    const char *p6[] = { "wild" };
    assert_false(tl_peer_cert_permitted(&pc, p6, 1));
    tl_peer_cert_names(&pc, names, sizeof(names));
    assert_string_equal(names, "DNS:*.wild.example.net");
    /* The certificate's wildcard covers exact names one label deep only. */
    const char *w1[] = { "host.wild.example.net" };
    const char *w2[] = { "a.b.wild.example.net" };
    const char *w3[] = { "wild.example.net" };
    const char *w4[] = { "*.wild.example.net" };
    assert_true(tl_peer_cert_permitted(&pc, w1, 1));
    assert_false(tl_peer_cert_permitted(&pc, w2, 1));
    assert_false(tl_peer_cert_permitted(&pc, w3, 1));
    assert_false(tl_peer_cert_permitted(&pc, w4, 1));
    tl_peer_cert_fini(&pc);

    /* A certificate without CN and SAN has no names. */
    struct tl_peer_cert none;
    memset(&none, 0, sizeof(none));
    tl_peer_cert_names(&none, names, sizeof(names));
    assert_string_equal(names, "no names");
    tl_peer_cert_names(NULL, names, sizeof(names));
    assert_string_equal(names, "no certificate");

    load(F.ed, &pc);
    assert_string_equal(pc.key_type, "ED25519");
    assert_true(pc.key_bits > 0);
    assert_string_equal(pc.subject, "CN=ed.example.net");
    assert_string_equal(pc.serial, "0");
    tl_peer_cert_fini(&pc);
}

/* SANs a CA would never issue on purpose: NUL inside a dNSName, a 5-byte address, and a
 * second subjectAltName extension. */
static void test_cert_hostile(void **state)
{
    (void)state;
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, X509_VERSION_3);
    set_time(X509_getm_notBefore(x), "20250101000000Z");
    set_time(X509_getm_notAfter(x), "20270101000000Z");
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"bank.example", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, F.key);

    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    assert_int_equal(ASN1_STRING_set(s, "bank.example\0.evil.net", 22), 1);
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    sk_GENERAL_NAME_push(gens, g);
    g = GENERAL_NAME_new();
    ASN1_OCTET_STRING *o = ASN1_OCTET_STRING_new();
    assert_int_equal(ASN1_OCTET_STRING_set(o, (const unsigned char *)"\xc0\x00\x02\x01\x00", 5),
                     1);
    GENERAL_NAME_set0_value(g, GEN_IPADD, o);
    sk_GENERAL_NAME_push(gens, g);
    g = GENERAL_NAME_new();
    s = ASN1_IA5STRING_new();
    assert_int_equal(ASN1_STRING_set(s, "back\\slash.example", -1), 1);
    GENERAL_NAME_set0_value(g, GEN_DNS, s);
    sk_GENERAL_NAME_push(gens, g);
    assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT), 1);
    assert_true(X509_sign(x, F.key, EVP_sha256()) > 0);

    struct tl_peer_cert pc;
    load(x, &pc);
    assert_int_equal(pc.n_dns, 2);
    assert_string_equal(pc.dns[0], "bank.example\\x00.evil.net");
    assert_string_equal(pc.dns[1], "back\\x5Cslash.example");
    assert_int_equal(pc.n_ips, 1);
    assert_int_equal(pc.ips[0].family, 0);
    assert_string_equal(pc.ips[0].text, "invalid (5 bytes)");
    const char *p1[] = { "bank.example", "*.evil.net", "192.0.2.1", "back\\slash.example" };
    assert_false(tl_peer_cert_permitted(&pc, p1, N(p1)));
    char names[256];
    tl_peer_cert_names(&pc, names, sizeof(names));
    assert_string_equal(names, "DNS:bank.example\\x00.evil.net, DNS:back\\x5Cslash.example, "
                        "IP:invalid (5 bytes)");
    tl_peer_cert_fini(&pc);

    /* RFC 5280 §4.2: at most one instance of an extension. Two SAN extensions are refused. */
    assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND), 1);
    assert_true(X509_sign(x, F.key, EVP_sha256()) > 0);
    struct tl_err e;
    assert_int_equal(tl_peer_cert_from_x509(x, &pc, &e), TL_E_TLS);
    assert_string_equal(e.cause, "the certificate has more than one subjectAltName extension "
                                 "(RFC 5280 section 4.2 forbids it)");
    assert_null(pc.subject);
    tl_peer_cert_fini(&pc);
    assert_int_equal(tl_peer_cert_from_x509(NULL, &pc, &e), TL_E_TLS);
    assert_string_equal(e.cause, "no certificate");

    GENERAL_NAMES_free(gens);
    X509_free(x);
}

/* ---- verification messages ---------------------------------------------------------------- */

struct vres {
    long err;
    int depth;
    X509 *cur;   /* the certificate at `depth`, referenced */
};

static struct vres verify(X509 *leaf, X509 *const *chain, size_t nchain, X509 *trusted,
                          X509_CRL *crl, unsigned long flags, int purpose)
{
    X509_STORE *st = X509_STORE_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    assert_non_null(st);
    for (size_t i = 0; i < nchain; i++) {
        sk_X509_push(untrusted, chain[i]);
    }
    if (trusted != NULL) {
        assert_int_equal(X509_STORE_add_cert(st, trusted), 1);
    }
    if (crl != NULL) {
        assert_int_equal(X509_STORE_add_crl(st, crl), 1);
    }
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_CTX_init(ctx, st, leaf, untrusted), 1);
    X509_STORE_CTX_set_time(ctx, 0, F.now);
    if (flags != 0) {
        X509_STORE_CTX_set_flags(ctx, flags);
    }
    if (purpose != 0) {
        assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
    }
    struct vres r;
    r.err = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    r.depth = X509_STORE_CTX_get_error_depth(ctx);
    r.cur = X509_STORE_CTX_get_current_cert(ctx);
    if (r.cur != NULL) {
        X509_up_ref(r.cur);
    }
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(st);
    return r;
}

/* Runs verification, builds the message the TLS layer would, and compares it whole. */
static void expect_chain_msg(struct vres r, long want_err, int want_depth, X509 *peer_x,
                             enum tl_verify_side side, const char *want)
{
    assert_int_equal(r.err, want_err);
    assert_int_equal(r.depth, want_depth);
    assert_non_null(r.cur);
    struct tl_peer_cert peer;
    struct tl_peer_cert at;
    load(peer_x, &peer);
    load(r.cur, &at);
    struct tl_verify_failure f;
    memset(&f, 0, sizeof(f));
    f.kind = TL_VERIFY_CHAIN;
    f.side = side;
    f.x509_result = r.err;
    f.depth = r.depth;
    f.peer = &peer;
    f.at_depth = &at;
    char msg[1024];
    size_t n = tl_verify_message(&f, msg, sizeof(msg));
    assert_string_equal(msg, want);
    assert_int_equal(n, strlen(want));
    tl_peer_cert_fini(&peer);
    tl_peer_cert_fini(&at);
    X509_free(r.cur);
}

static void test_verify_ok_baseline(void **state)
{
    (void)state;
    /* The fixture is sound: good certificates verify, so the failures below are the ones
     * each test provokes and nothing else. */
    struct vres r = verify(F.full, NULL, 0, F.ca1, NULL, 0, X509_PURPOSE_SSL_CLIENT);
    assert_int_equal(r.err, X509_V_OK);
    X509_free(r.cur);
    r = verify(F.via_int, &F.inter, 1, F.ca1, NULL, 0, 0);
    assert_int_equal(r.err, X509_V_OK);
    X509_free(r.cur);
}

static void test_verify_unknown_ca(void **state)
{
    (void)state;
    expect_chain_msg(verify(F.full, NULL, 0, F.ca2, NULL, 0, 0),
                     X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 0, F.full, TL_VERIFY_INPUT,
                     "certificate verify failed: the peer's certificate was issued by "
                     "'CN=Test CA 1,O=tlslogd tests' which is not among the trusted CAs; "
                     "hint: add that CA to tls.ca_file (or tls.ca_dir); if it is an "
                     "intermediate CA, the peer must send it after its own certificate in its "
                     "cert file");
    /* The peer sent its intermediate; the root is the one we do not trust. */
    expect_chain_msg(verify(F.via_int, &F.inter, 1, F.ca2, NULL, 0, 0),
                     X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 1, F.via_int,
                     TL_VERIFY_OUTPUT,
                     "certificate verify failed: the peer's certificate was issued by "
                     "'CN=Test CA 1,O=tlslogd tests' (through 'CN=Test Intermediate,O=tlslogd "
                     "tests') which is not among the trusted CAs; hint: add that CA to "
                     "tls.ca_file (or tls.ca_dir); if it is an intermediate CA, the peer must "
                     "send it after its own certificate in its cert file");
    /* The peer sent the whole chain including its root. */
    X509 *chain[] = { F.inter, F.ca1 };
    expect_chain_msg(verify(F.via_int, chain, 2, F.ca2, NULL, 0, 0),
                     X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, 2, F.via_int, TL_VERIFY_INPUT,
                     "certificate verify failed: the peer's certificate was issued by "
                     "'CN=Test CA 1,O=tlslogd tests' which is not among the trusted CAs; "
                     "hint: add that CA to tls.ca_file (or tls.ca_dir)");

    /* Self-signed: the hint offers the fingerprint, which must name this certificate. */
    struct vres r = verify(F.self, NULL, 0, F.ca1, NULL, 0, 0);
    assert_int_equal(r.err, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
    struct tl_peer_cert pc;
    load(F.self, &pc);
    char want[512];
    snprintf(want, sizeof(want),
             "certificate verify failed: the peer's certificate 'CN=selfie.example.net,"
             "O=tlslogd tests' is self-signed and not among the trusted CAs; hint: add it to "
             "tls.ca_file (or tls.ca_dir), or list its fingerprint \"%s\" in fingerprints",
             pc.sha256_text);
    tl_peer_cert_fini(&pc);
    expect_chain_msg(r, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, 0, F.self, TL_VERIFY_INPUT,
                     want);
}

static void test_verify_dates(void **state)
{
    (void)state;
    expect_chain_msg(verify(F.expired, NULL, 0, F.ca1, NULL, 0, 0), X509_V_ERR_CERT_HAS_EXPIRED,
                     0, F.expired, TL_VERIFY_INPUT,
                     "certificate expired on 2021-01-01 00:00:00 UTC (subject "
                     "CN=old.example.net,O=tlslogd tests); hint: renew the peer's certificate");
    expect_chain_msg(verify(F.future, NULL, 0, F.ca1, NULL, 0, 0),
                     X509_V_ERR_CERT_NOT_YET_VALID, 0, F.future, TL_VERIFY_OUTPUT,
                     "certificate is not valid before 2030-01-01 00:00:00 UTC (subject "
                     "CN=new.example.net,O=tlslogd tests); hint: check the clocks of both "
                     "hosts");
}

static void test_verify_crl(void **state)
{
    (void)state;
    X509_CRL *crl = make_crl(F.ca1, F.ca1_key, 0x1001, "20260101000000Z", "20261231000000Z");
    expect_chain_msg(verify(F.full, NULL, 0, F.ca1, crl, X509_V_FLAG_CRL_CHECK, 0),
                     X509_V_ERR_CERT_REVOKED, 0, F.full, TL_VERIFY_INPUT,
                     "certificate (CN=client1.example.net,O=tlslogd tests, serial 1001) has "
                     "been revoked by the CRL in tls.crl_file; hint: the peer needs a new "
                     "certificate");
    /* The same CRL does not list the CN-only certificate. */
    struct vres r = verify(F.cn_only, NULL, 0, F.ca1, crl, X509_V_FLAG_CRL_CHECK, 0);
    assert_int_equal(r.err, X509_V_OK);
    X509_free(r.cur);
    X509_CRL_free(crl);

    expect_chain_msg(verify(F.full, NULL, 0, F.ca1, NULL, X509_V_FLAG_CRL_CHECK, 0),
                     X509_V_ERR_UNABLE_TO_GET_CRL, 0, F.full, TL_VERIFY_INPUT,
                     "certificate verify failed: no CRL issued by 'CN=Test CA 1,O=tlslogd tests' "
                     "was found in tls.crl_file; hint: add that CA's current CRL to "
                     "tls.crl_file");

    crl = make_crl(F.ca1, F.ca1_key, 0, "20260101000000Z", "20260201000000Z");
    expect_chain_msg(verify(F.cn_only, NULL, 0, F.ca1, crl, X509_V_FLAG_CRL_CHECK, 0),
                     X509_V_ERR_CRL_HAS_EXPIRED, 0, F.cn_only, TL_VERIFY_INPUT,
                     "the CRL issued by 'CN=Test CA 1,O=tlslogd tests' in tls.crl_file has "
                     "expired; hint: fetch a fresh CRL from that CA");
    X509_CRL_free(crl);

    crl = make_crl(F.ca1, F.ca1_key, 0, "20270101000000Z", "20280101000000Z");
    expect_chain_msg(verify(F.cn_only, NULL, 0, F.ca1, crl, X509_V_FLAG_CRL_CHECK, 0),
                     X509_V_ERR_CRL_NOT_YET_VALID, 0, F.cn_only, TL_VERIFY_OUTPUT,
                     "the CRL issued by 'CN=Test CA 1,O=tlslogd tests' in tls.crl_file is not "
                     "valid yet; hint: check this host's clock");
    X509_CRL_free(crl);
}

static void test_verify_purpose(void **state)
{
    (void)state;
    /* A clientAuth-only certificate presented by a server. */
    expect_chain_msg(verify(F.full, NULL, 0, F.ca1, NULL, 0, X509_PURPOSE_SSL_SERVER),
                     X509_V_ERR_INVALID_PURPOSE, 0, F.full, TL_VERIFY_OUTPUT,
                     "certificate (subject CN=client1.example.net,O=tlslogd tests) is not "
                     "allowed for TLS server authentication by its extended key usage; hint: "
                     "reissue it with extendedKeyUsage serverAuth");
}

static void test_verify_policy_messages(void **state)
{
    (void)state;
    struct tl_peer_cert pc;
    load(F.full, &pc);
    struct tl_verify_failure f;
    char msg[1024];

    const char *peers[] = { "b.example.net", "*.other.net" };
    memset(&f, 0, sizeof(f));
    f.kind = TL_VERIFY_NAME;
    f.side = TL_VERIFY_INPUT;
    f.peer = &pc;
    f.names = peers;
    f.n_names = N(peers);
    tl_verify_message(&f, msg, sizeof(msg));
    assert_string_equal(msg, "certificate names DNS:client1.example.net, DNS:Alias.Example.NET, "
                        "IP:192.0.2.1, IP:2001:db8::1 do not match permitted_peers "
                        "[b.example.net, *.other.net]; hint: add one of its names to "
                        "permitted_peers");

    /* OpenSSL's own host check failing reads the same, here from the output side. */
    const char *host[] = { "logs.example.net" };
    memset(&f, 0, sizeof(f));
    f.kind = TL_VERIFY_CHAIN;
    f.x509_result = X509_V_ERR_HOSTNAME_MISMATCH;
    f.side = TL_VERIFY_OUTPUT;
    f.peer = &pc;
    f.names = host;
    f.n_names = 1;
    f.names_key = "the target host";
    tl_verify_message(&f, msg, sizeof(msg));
    assert_string_equal(msg, "certificate names DNS:client1.example.net, DNS:Alias.Example.NET, "
                        "IP:192.0.2.1, IP:2001:db8::1 do not match the target host "
                        "[logs.example.net]; hint: connect to the server by one of these names, "
                        "or reissue its certificate with the name you use");

    /* The fingerprint hint is a line the parser accepts and that matches this certificate. */
    memset(&f, 0, sizeof(f));
    f.kind = TL_VERIFY_FINGERPRINT;
    f.side = TL_VERIFY_INPUT;
    f.peer = &pc;
    tl_verify_message(&f, msg, sizeof(msg));
    char want[512];
    snprintf(want, sizeof(want), "certificate fingerprint %s (subject CN=client1.example.net,"
             "O=tlslogd tests) is not in fingerprints; hint: if this peer is legitimate, add "
             "this line to fingerprints: \"%s\"", pc.sha256_text, pc.sha256_text);
    assert_string_equal(msg, want);
    const char *q = strstr(msg, "fingerprints: \"");
    assert_non_null(q);
    char line[TL_FP_STRLEN];
    snprintf(line, sizeof(line), "%.*s", TL_FP_SHA256_STRLEN - 1, q + strlen("fingerprints: \""));
    struct tl_fingerprint fp;
    assert_int_equal(tl_fingerprint_parse(line, &fp, NULL), TL_OK);
    assert_true(tl_fingerprint_matches(&fp, F.full));

    /* No certificate at all. */
    memset(&f, 0, sizeof(f));
    f.kind = TL_VERIFY_NO_CERT;
    f.side = TL_VERIFY_INPUT;
    f.auth_mode = "certvalid";
    tl_verify_message(&f, msg, sizeof(msg));
    assert_string_equal(msg, "the peer sent no certificate but auth mode 'certvalid' requires "
                        "one; hint: configure tls.cert_file and tls.key_file on the client");
    f.side = TL_VERIFY_OUTPUT;
    tl_verify_message(&f, msg, sizeof(msg));
    assert_string_equal(msg, "the peer sent no certificate but auth mode 'certvalid' requires "
                        "one; hint: configure a certificate and key on the server");
    /* A name check without a certificate is reported as the missing certificate. */
    f.kind = TL_VERIFY_NAME;
    f.side = TL_VERIFY_INPUT;
    f.auth_mode = "name";
    tl_verify_message(&f, msg, sizeof(msg));
    assert_string_equal(msg, "the peer sent no certificate but auth mode 'name' requires one; "
                        "hint: configure tls.cert_file and tls.key_file on the client");

    /* Config locations given by the caller replace the defaults. */
    memset(&f, 0, sizeof(f));
    f.kind = TL_VERIFY_CHAIN;
    f.x509_result = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
    f.peer = &pc;
    f.side = TL_VERIFY_INPUT;
    f.ca_key = "inputs.tls514.tls.ca_file (/etc/tlslogd.yaml:27)";
    tl_verify_message(&f, msg, sizeof(msg));
    assert_non_null(strstr(msg, "hint: add that CA to inputs.tls514.tls.ca_file "
                           "(/etc/tlslogd.yaml:27);"));

    /* Codes without a message of their own fall back to OpenSSL's words. */
    f.x509_result = X509_V_ERR_CERT_SIGNATURE_FAILURE;
    tl_verify_message(&f, msg, sizeof(msg));
    assert_string_equal(msg, "certificate verify failed: the certificate's signature does not "
                        "verify (subject CN=client1.example.net,O=tlslogd tests, depth 0)");
    f.x509_result = X509_V_ERR_PATH_LOOP;
    tl_verify_message(&f, msg, sizeof(msg));
    char fallback[256];
    snprintf(fallback, sizeof(fallback), "certificate verify failed: %s (subject "
             "CN=client1.example.net,O=tlslogd tests, depth 0)",
             X509_verify_cert_error_string(X509_V_ERR_PATH_LOOP));
    assert_string_equal(msg, fallback);

    /* A certificate with hundreds of names does not push the hint off the line. */
    struct tl_peer_cert many;
    memset(&many, 0, sizeof(many));
    char *dns[20];
    char buf[20][32];
    for (size_t i = 0; i < 20; i++) {
        snprintf(buf[i], sizeof(buf[i]), "h%zu.example.net", i);
        dns[i] = buf[i];
    }
    many.dns = dns;
    many.n_dns = 20;
    memset(&f, 0, sizeof(f));
    f.kind = TL_VERIFY_NAME;
    f.peer = &many;
    f.names = peers;
    f.n_names = N(peers);
    tl_verify_message(&f, msg, sizeof(msg));
    assert_non_null(strstr(msg, "DNS:h7.example.net, ... (12 more) do not match "
                           "permitted_peers"));
    assert_non_null(strstr(msg, "; hint: add one of its names to permitted_peers"));
    /* ...and a name-less certificate gets its own sentence. */
    struct tl_peer_cert bare;
    memset(&bare, 0, sizeof(bare));
    bare.subject = buf[0];
    f.peer = &bare;
    tl_verify_message(&f, msg, sizeof(msg));
    assert_string_equal(msg, "certificate (subject h0.example.net) carries no DNS name, IP "
                        "address or CN to match permitted_peers [b.example.net, *.other.net]; "
                        "hint: reissue it with a subjectAltName naming the host");

    tl_peer_cert_fini(&pc);
}

static void test_verify_reasons(void **state)
{
    (void)state;
    static const struct {
        long code;
        const char *text;
    } rows[] = {
        { X509_V_OK, "no error" },
        { X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
          "the certificate was issued by a CA that is not trusted" },
        { X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
          "the certificate chain ends in a CA that is not trusted" },
        { X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
          "the certificate is self-signed and not trusted" },
        { X509_V_ERR_CERT_HAS_EXPIRED, "the certificate has expired" },
        { X509_V_ERR_CERT_NOT_YET_VALID, "the certificate is not valid yet" },
        { X509_V_ERR_CERT_REVOKED, "the certificate has been revoked" },
        { X509_V_ERR_UNABLE_TO_GET_CRL, "no CRL was found for the certificate's issuer" },
        { X509_V_ERR_CRL_HAS_EXPIRED, "the CRL has expired" },
        { X509_V_ERR_CRL_NOT_YET_VALID, "the CRL is not valid yet" },
        { X509_V_ERR_INVALID_PURPOSE,
          "the certificate's extended key usage does not allow this TLS role" },
        { X509_V_ERR_HOSTNAME_MISMATCH, "the certificate's names do not match the expected peer" },
        { X509_V_ERR_IP_ADDRESS_MISMATCH,
          "the certificate's names do not match the expected peer" },
    };
    for (size_t i = 0; i < N(rows); i++) {
        assert_string_equal(tl_verify_reason(rows[i].code), rows[i].text);
    }
    assert_non_null(tl_verify_reason(-12345));
    assert_non_null(tl_verify_reason(X509_V_ERR_PATH_LOOP));
}

/* Every buffer size gives a NUL-terminated prefix of the full message, marked when cut. */
static void test_message_truncation(void **state)
{
    (void)state;
    struct tl_peer_cert pc;
    load(F.full, &pc);
    const char *peers[] = { "b.example.net" };
    struct tl_verify_failure f;
    memset(&f, 0, sizeof(f));
    f.kind = TL_VERIFY_NAME;
    f.side = TL_VERIFY_INPUT;
    f.peer = &pc;
    f.names = peers;
    f.n_names = 1;
    char full[1024];
    size_t len = tl_verify_message(&f, full, sizeof(full));
    assert_int_equal(len, strlen(full));
    for (size_t cap = 0; cap <= len + 1; cap++) {
        char *buf = malloc(cap + 1);
        assert_non_null(buf);
        buf[cap] = 'Z';  /* sentinel: nothing may be written at or past cap */
        size_t n = tl_verify_message(&f, buf, cap);
        assert_int_equal(buf[cap], 'Z');
        if (cap == 0) {
            assert_int_equal(n, 0);
        } else if (cap > len) {
            assert_string_equal(buf, full);
        } else {
            assert_int_equal(n, cap - 1);
            assert_int_equal(strlen(buf), cap - 1);
            if (cap >= 4) {
                assert_memory_equal(buf, full, cap - 4);
                assert_string_equal(buf + cap - 4, "...");
            }
        }
        free(buf);
    }
    /* (Two statements: the order in which arguments are evaluated is unspecified.) */
    len = tl_verify_message(NULL, full, sizeof(full));
    assert_string_equal(full, "certificate verification failed");
    assert_int_equal(len, strlen(full));
    tl_peer_cert_fini(&pc);
}

/* CRLs for the whole chain: the root's CRL revokes the intermediate the peer chains through.
 * Checking the leaf alone (X509_V_FLAG_CRL_CHECK) let it in; CRL_CHECK_ALL refuses it and
 * the message names the intermediate. */
static void test_verify_revoked_intermediate(void **state)
{
    (void)state;
    X509_CRL *root_crl = make_crl(F.ca1, F.ca1_key, 3, "20260101000000Z", "20261231000000Z");
    X509_CRL *int_crl = make_crl(F.inter, F.int_key, 0, "20260101000000Z", "20261231000000Z");
    struct vres r[2];
    unsigned long flags[2] = { X509_V_FLAG_CRL_CHECK,
                               X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL };
    for (int i = 0; i < 2; i++) {
        X509_STORE *st = X509_STORE_new();
        STACK_OF(X509) *untrusted = sk_X509_new_null();
        sk_X509_push(untrusted, F.inter);
        assert_int_equal(X509_STORE_add_cert(st, F.ca1), 1);
        assert_int_equal(X509_STORE_add_crl(st, root_crl), 1);
        assert_int_equal(X509_STORE_add_crl(st, int_crl), 1);
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        assert_int_equal(X509_STORE_CTX_init(ctx, st, F.via_int, untrusted), 1);
        X509_STORE_CTX_set_time(ctx, 0, F.now);
        X509_STORE_CTX_set_flags(ctx, flags[i]);
        r[i].err = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
        r[i].depth = X509_STORE_CTX_get_error_depth(ctx);
        r[i].cur = X509_STORE_CTX_get_current_cert(ctx);
        if (r[i].cur != NULL) {
            X509_up_ref(r[i].cur);
        }
        X509_STORE_CTX_free(ctx);
        sk_X509_free(untrusted);
        X509_STORE_free(st);
    }
    assert_int_equal(r[0].err, X509_V_OK);
    X509_free(r[0].cur);
    expect_chain_msg(r[1], X509_V_ERR_CERT_REVOKED, 1, F.via_int, TL_VERIFY_INPUT,
                     "the CA certificate 'CN=Test Intermediate,O=tlslogd tests' (serial 03) in "
                     "the peer's chain has been revoked by the CRL in tls.crl_file; hint: the "
                     "peer needs a certificate from a CA that is not revoked");
    X509_CRL_free(root_crl);
    X509_CRL_free(int_crl);
}

static void test_verify_ca_as_leaf(void **state)
{
    (void)state;
    struct tl_peer_cert pc;
    load(F.inter, &pc);
    struct tl_verify_failure f;
    memset(&f, 0, sizeof(f));
    f.kind = TL_VERIFY_CA_AS_LEAF;
    f.side = TL_VERIFY_INPUT;
    f.peer = &pc;
    char msg[512];
    tl_verify_message(&f, msg, sizeof(msg));
    assert_string_equal(msg, "certificate (subject CN=Test Intermediate,O=tlslogd tests) is a CA "
                        "certificate (basicConstraints CA:TRUE), not a leaf: a CA certificate "
                        "is never accepted as a peer's own certificate; hint: issue the client "
                        "a leaf certificate (CA:FALSE) from the CA");
    f.peer = NULL; /* no certificate at all: said as such */
    tl_verify_message(&f, msg, sizeof(msg));
    assert_non_null(strstr(msg, "the peer sent no certificate"));
    tl_peer_cert_fini(&pc);
}

/* Every alert a refusal can carry, both ways, in words that name our certificate. */
static void test_alert_messages(void **state)
{
    (void)state;
    struct tl_peer_cert ours;
    load(F.full, &ours);
    char msg[1024];
    const struct {
        int alert;
        enum tl_verify_side side;
        const char *want;
    } rows[] = {
        { TL_ALERT_ACCESS_DENIED, TL_VERIFY_OUTPUT,
          "the loghost refused our certificate: alert access_denied: it does not permit the "
          "names in our certificate (DNS:client1.example.net, DNS:Alias.Example.NET, "
          "IP:192.0.2.1, IP:2001:db8::1), or our fingerprint " },
        { TL_ALERT_CERTIFICATE_UNKNOWN, TL_VERIFY_OUTPUT,
          "the loghost refused our certificate: alert certificate_unknown: it does not permit "
          "the names in our certificate (" },
        { TL_ALERT_CERTIFICATE_UNKNOWN, TL_VERIFY_INPUT,
          "the client refused our certificate: alert certificate_unknown: it does not permit "
          "the names in our certificate (DNS:client1.example.net, DNS:Alias.Example.NET, "
          "IP:192.0.2.1, IP:2001:db8::1) for the name it connects to; hint: the client must "
          "connect by one of these names" },
        { TL_ALERT_UNKNOWN_CA, TL_VERIFY_OUTPUT,
          "the loghost refused our certificate: alert unknown_ca: it does not trust 'CN=Test "
          "CA 1,O=tlslogd tests', the CA that issued our certificate; hint: install" },
        { TL_ALERT_CERTIFICATE_EXPIRED, TL_VERIFY_OUTPUT,
          "the loghost refused our certificate: alert certificate_expired: our certificate "
          "(valid until 2027-11-23 10:00:00 UTC) has expired by its clock" },
        { TL_ALERT_CERTIFICATE_REVOKED, TL_VERIFY_INPUT,
          "the client refused our certificate: alert certificate_revoked: our certificate "
          "(serial 1001)" },
        { TL_ALERT_BAD_CERTIFICATE, TL_VERIFY_OUTPUT,
          "the loghost refused our certificate: alert bad_certificate: it finds our "
          "certificate (" },
        { TL_ALERT_UNSUPPORTED_CERTIFICATE, TL_VERIFY_OUTPUT,
          "the loghost refused our certificate: alert unsupported_certificate: its extended key "
          "usage does not allow TLS client authentication, or it is a CA certificate" },
        { TL_ALERT_INTERNAL_ERROR, TL_VERIFY_OUTPUT,
          "the loghost aborted the handshake with alert internal_error: a tlslogd peer sends it "
          "when it has no current CRL" },
        { TL_ALERT_HANDSHAKE_FAILURE, TL_VERIFY_INPUT,
          "the client aborted the handshake (alert handshake_failure): it refused our "
          "certificate (" },
    };
    for (size_t i = 0; i < N(rows); i++) {
        size_t n = tl_alert_message(rows[i].alert, rows[i].side, &ours, NULL, msg, sizeof(msg));
        assert_int_equal(n, strlen(msg));
        if (strncmp(msg, rows[i].want, strlen(rows[i].want)) != 0) {
            fail_msg("alert %d: got \"%s\"", rows[i].alert, msg);
        }
    }
    /* Without a certificate of ours, a refusal means the server wants one. */
    tl_alert_message(TL_ALERT_HANDSHAKE_FAILURE, TL_VERIFY_OUTPUT, NULL, "--cert and --key", msg,
                     sizeof(msg));
    assert_string_equal(msg, "the loghost requires a client certificate (alert "
                        "handshake_failure); hint: set --cert and --key");
    /* Alerts that are not about certificates get no sentence here. */
    assert_int_equal(tl_alert_message(70, TL_VERIFY_OUTPUT, &ours, NULL, msg, sizeof(msg)), 0);
    assert_string_equal(msg, "");
    assert_string_equal(tl_alert_name(TL_ALERT_ACCESS_DENIED), "access_denied");
    assert_true(tl_alert_refuses_cert(TL_ALERT_UNKNOWN_CA));
    assert_false(tl_alert_refuses_cert(TL_ALERT_HANDSHAKE_FAILURE));
    tl_peer_cert_fini(&ours);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_match_table),
        cmocka_unit_test(test_cert_name_match_table),
        cmocka_unit_test(test_ip_match_table),
        cmocka_unit_test(test_name_pattern_check),
        cmocka_unit_test(test_fingerprint_parse_table),
        cmocka_unit_test(test_cert_full),
        cmocka_unit_test(test_cert_cn_rule),
        cmocka_unit_test(test_cert_hostile),
        cmocka_unit_test(test_verify_ok_baseline),
        cmocka_unit_test(test_verify_unknown_ca),
        cmocka_unit_test(test_verify_dates),
        cmocka_unit_test(test_verify_crl),
        cmocka_unit_test(test_verify_revoked_intermediate),
        cmocka_unit_test(test_verify_ca_as_leaf),
        cmocka_unit_test(test_alert_messages),
        cmocka_unit_test(test_verify_purpose),
        cmocka_unit_test(test_verify_policy_messages),
        cmocka_unit_test(test_verify_reasons),
        cmocka_unit_test(test_message_truncation),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
