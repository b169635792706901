/*
 * fuzz_names.c: libFuzzer target for tls_verify: name and IP matching, configured-pattern
 * checks, fingerprint parsing, failure messages, and certificate extraction.
 *
 * Input: split at the first NUL into a pattern and a name (the name runs to the next NUL or
 * the end). Both strings are also parsed as fingerprints, and an input that starts like DER
 * (0x30) is also read as a certificate. Besides "no crash, no overflow", it checks properties
 * the matcher must have whatever the bytes: ASCII case does not matter, one trailing dot does
 * not matter, without '*' the relation is symmetric, a certificate name without '*' matches
 * as a configured one would, a match implies the pattern passes tl_name_pattern_check, a
 * wildcard adds exactly one label, IP patterns agree with inet_pton, and a parsed fingerprint
 * survives format and re-parse. Messages are written into exact-size heap buffers of every
 * small size so that ASan sees any write past the end.
 */
#include "transport/tls_verify.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            __builtin_trap();                                                                  \
        }                                                                                      \
    } while (0)

static char *dup_upper(const char *s)
{
    size_t n = strlen(s);
    char *u = malloc(n + 1);
    CHECK(u != NULL);
    for (size_t i = 0; i <= n; i++) {
        u[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    }
    return u;
}

static char *dup_dot(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 2);
    CHECK(d != NULL);
    memcpy(d, s, n);
    d[n] = '.';
    d[n + 1] = '\0';
    return d;
}

/* Length without one trailing dot (the matcher ignores it). */
static size_t strip_dot(const char *s)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '.') {
        n--;
    }
    return n;
}

static bool ends_dot(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && s[n - 1] == '.';
}

static size_t count_dots(const char *s)
{
    size_t n = strip_dot(s);
    size_t dots = 0;
    for (size_t i = 0; i < n; i++) {
        dots += s[i] == '.';
    }
    return dots;
}

static void check_names(const char *p, const char *n)
{
    bool r = tl_name_match(p, n);
    struct tl_err err;

    if (r) {
        CHECK(tl_name_pattern_check(p, &err) == TL_OK);
        if (p[0] == '*') {
            CHECK(count_dots(n) == count_dots(p));
        } else {
            CHECK(strip_dot(p) == strip_dot(n));
        }
    }
    char *pu = dup_upper(p);
    char *nu = dup_upper(n);
    CHECK(tl_name_match(pu, n) == r);
    CHECK(tl_name_match(p, nu) == r);
    CHECK(tl_cert_name_match(pu, nu) == tl_cert_name_match(p, n));
    free(pu);
    free(nu);
    if (!ends_dot(n)) {
        char *nd = dup_dot(n);
        CHECK(tl_name_match(p, nd) == r);
        CHECK(tl_cert_name_match(p, nd) == tl_cert_name_match(p, n));
        free(nd);
    }
    if (!ends_dot(p)) {
        char *pd = dup_dot(p);
        CHECK(tl_name_match(pd, n) == r);
        free(pd);
    }
    if (strchr(p, '*') == NULL && strchr(n, '*') == NULL) {
        CHECK(tl_name_match(n, p) == r);
    }
    if (strchr(p, '*') == NULL) {
        CHECK(tl_cert_name_match(p, n) == r);
    }
    if (tl_cert_name_match(p, n)) {
        CHECK(strchr(n, '*') == NULL);
    }
    if (tl_name_pattern_check(n, &err) != TL_OK) {
        CHECK(err.code == TL_E_CONFIG && err.cause[0] != '\0');
    }
}

/* The reference: what inet_pton alone says the pattern is. */
static int ref_ip(const char *p, unsigned char *addr)
{
    size_t len = strlen(p);
    char buf[64];
    if (len < sizeof(buf) && inet_pton(AF_INET, p, addr) == 1) {
        return AF_INET;
    }
    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
        p++;
        len -= 2;
    }
    if (len >= sizeof(buf)) {
        return 0;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1 ? AF_INET6 : 0;
}

static void check_ips(const char *p, const char *n)
{
    struct tl_san_ip pat;
    unsigned char ref[16];
    int fam = ref_ip(p, ref);
    bool is_ip = tl_ip_pattern_parse(p, &pat);
    CHECK(is_ip == (fam != 0));
    if (is_ip) {
        CHECK(pat.family == fam);
        CHECK(memcmp(pat.addr, ref, fam == AF_INET ? 4 : 16) == 0);
    }
    struct tl_san_ip san;
    if (tl_ip_pattern_parse(n, &san)) {
        bool want = is_ip && pat.family == san.family &&
                    memcmp(pat.addr, san.addr, pat.family == AF_INET ? 4 : 16) == 0;
        CHECK(tl_ip_match(p, &san) == want);
    }
}

static void check_fingerprint(const char *s)
{
    struct tl_fingerprint fp;
    struct tl_err err;
    if (tl_fingerprint_parse(s, &fp, &err) != TL_OK) {
        CHECK(err.code == TL_E_CONFIG && err.cause[0] != '\0');
        CHECK(fp.len == 0);
        return;
    }
    CHECK((fp.alg == TL_FP_SHA256 && fp.len == TL_SHA256_LEN) ||
          (fp.alg == TL_FP_SHA1 && fp.len == TL_SHA1_LEN));
    char text[TL_FP_STRLEN];
    size_t n = tl_fingerprint_format(&fp, text, sizeof(text));
    CHECK(n == (fp.alg == TL_FP_SHA1 ? TL_FP_SHA1_STRLEN : TL_FP_SHA256_STRLEN) - 1);
    struct tl_fingerprint again;
    CHECK(tl_fingerprint_parse(text, &again, NULL) == TL_OK);
    CHECK(again.alg == fp.alg && again.len == fp.len && memcmp(again.md, fp.md, fp.len) == 0);
}

/* Every message kind, into exact-size heap buffers of a few sizes. */
static void check_messages(const struct tl_peer_cert *pc, const char *const *names,
                           size_t n_names, const char *key, size_t small)
{
    static const long codes[] = {
        X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
        X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_CERT_HAS_EXPIRED,
        X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_REVOKED, X509_V_ERR_UNABLE_TO_GET_CRL,
        X509_V_ERR_CRL_HAS_EXPIRED, X509_V_ERR_CRL_NOT_YET_VALID, X509_V_ERR_INVALID_PURPOSE,
        X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_PATH_LOOP, 999,
    };
    const size_t caps[] = { 0, 1, 3, 4, small, 4096 };
    for (int kind = TL_VERIFY_CHAIN; kind <= TL_VERIFY_NO_CERT + 1; kind++) {
        for (size_t c = 0; c < sizeof(codes) / sizeof(codes[0]); c++) {
            if (kind != TL_VERIFY_CHAIN && c > 0) {
                break;
            }
            struct tl_verify_failure f;
            memset(&f, 0, sizeof(f));
            f.kind = (enum tl_verify_fail)kind;
            f.side = (c & 1) ? TL_VERIFY_OUTPUT : TL_VERIFY_INPUT;
            f.x509_result = codes[c];
            f.depth = (int)(c & 3);
            f.peer = pc;
            f.names = names;
            f.n_names = n_names;
            f.auth_mode = key;
            f.ca_key = (c & 2) ? key : NULL;
            f.crl_key = key;
            f.names_key = (c & 1) ? NULL : key;
            for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
                char *buf = malloc(caps[i] + 1);
                CHECK(buf != NULL);
                size_t len = tl_verify_message(&f, buf, caps[i]);
                if (caps[i] > 0) {
                    CHECK(len < caps[i]);
                    CHECK(strlen(buf) == len);
                } else {
                    CHECK(len == 0);
                }
                free(buf);
            }
        }
    }
    for (size_t cap = 0; cap < 8; cap++) {
        char *buf = malloc(cap + 1);
        CHECK(buf != NULL);
        size_t len = tl_peer_cert_names(pc, buf, cap);
        CHECK(cap == 0 ? len == 0 : len < cap && strlen(buf) == len);
        free(buf);
    }
}

/* A made-up certificate whose only name is `n` (as dNSName, or as CN when the first input
 * byte is odd), checked against `p`. */
static void check_peer(const char *p, const char *n, bool as_cn, size_t small)
{
    struct tl_peer_cert pc;
    memset(&pc, 0, sizeof(pc));
    char *name = strdup(n);
    char *issuer = strdup(p);
    CHECK(name != NULL && issuer != NULL);
    struct tl_san_ip ip;
    bool n_is_ip = tl_ip_pattern_parse(n, &ip);
    if (as_cn) {
        pc.cn = name;
    } else {
        pc.dns = &name;
        pc.n_dns = 1;
    }
    if (n_is_ip) {
        pc.ips = &ip;
        pc.n_ips = 1;
    }
    pc.subject = name;
    pc.issuer = issuer;
    pc.serial = name;
    memcpy(pc.sha256_text, "SHA256:00", 10);

    const char *pats[2] = { p, n };
    struct tl_san_ip pip;
    bool r = tl_peer_cert_permitted(&pc, pats, 1);
    if (tl_ip_pattern_parse(p, &pip)) {
        CHECK(r == (n_is_ip && tl_ip_match(p, &ip)));
    } else {
        CHECK(r == (tl_name_match(p, n) || tl_cert_name_match(n, p)));
    }
    check_messages(&pc, pats, 2, p, small);
    free(name);
    free(issuer);
}

static void check_der(const uint8_t *data, size_t size, const char *p)
{
    const unsigned char *q = data;
    X509 *x = d2i_X509(NULL, &q, (long)size);
    if (x == NULL) {
        return;
    }
    struct tl_peer_cert pc;
    struct tl_err err;
    if (tl_peer_cert_from_x509(x, &pc, &err) == TL_OK) {
        const char *pats[1] = { p };
        (void)tl_peer_cert_permitted(&pc, pats, 1);
        check_messages(&pc, pats, 1, "tls.ca_file", 40);
        struct tl_fingerprint fp;
        CHECK(tl_fingerprint_parse(pc.sha256_text, &fp, NULL) == TL_OK);
        CHECK(tl_fingerprint_matches(&fp, x));
        CHECK(tl_peer_cert_fingerprint_listed(&pc, &fp, 1));
        tl_peer_cert_fini(&pc);
    } else {
        CHECK(pc.subject == NULL);
    }
    X509_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) {
        return 0;
    }
    char *buf = malloc(size + 1);
    CHECK(buf != NULL);
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *pattern = buf;
    size_t plen = strlen(buf);
    const char *name = plen < size ? buf + plen + 1 : "";

    check_names(pattern, name);
    check_ips(pattern, name);
    check_fingerprint(pattern);
    check_fingerprint(name);
    check_peer(pattern, name, size > 0 && (data[0] & 1), 5 + size % 64);
    if (size > 0 && data[0] == 0x30) {
        check_der(data, size, name);
    }
    free(buf);
    return 0;
}
