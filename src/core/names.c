/*
 * names.c: host names, name patterns, IP literals and fingerprints as text (see names.h).
 * No OpenSSL here: the configuration loader and tlslog use it as well as the TLS layer.
 */
#include "core/names.h"

#include "core/sb.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- host names --------------------------------------------------------------------------- */

/* Our own ASCII folding: tolower() depends on the locale, and names are ASCII (RFC 5425 §5.2
 * compares internationalised names in their ACE form). */
static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static bool ascii_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen) {
        return false;
    }
    for (size_t i = 0; i < alen; i++) {
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) {
            return false;
        }
    }
    return true;
}

/* LDH (RFC 1123 §2.1) plus '_', which real certificates and service names carry. */
static bool is_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* Checks s[0..len) as a host name (without a trailing dot): RFC 1123 labels of letters,
 * digits and '-', '_' tolerated, 1..63 bytes, no '-' at either end; at most 253 bytes; a name
 * of digits and dots only must be an IPv4 address. `at` gets the offset of the first
 * offending byte (or of the label in question). */
enum tl_host_problem tl_hostname_problem(const char *s, size_t len, size_t *at)
{
    *at = 0;
    if (len == 0) {
        return TL_HOST_EMPTY;
    }
    size_t label = 0;
    size_t start = 0;
    bool numeric = true;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        *at = i;
        if (c == '.') {
            if (label == 0) {
                return TL_HOST_EMPTY_LABEL;
            }
            if (s[i - 1] == '-') {
                *at = i - 1;
                return TL_HOST_HYPHEN;
            }
            label = 0;
            start = i + 1;
            continue;
        }
        if (c == '*') {
            return TL_HOST_STAR;
        }
        if (!is_host_char(c)) {
            return TL_HOST_BAD_CHAR;
        }
        if (c == '-' && label == 0) {
            return TL_HOST_HYPHEN;
        }
        if (!(c >= '0' && c <= '9')) {
            numeric = false;
        }
        if (++label > 63) {
            *at = start;
            return TL_HOST_LONG_LABEL;
        }
    }
    *at = len;
    if (label == 0) {
        return TL_HOST_EMPTY_LABEL;
    }
    if (s[len - 1] == '-') {
        *at = len - 1;
        return TL_HOST_HYPHEN;
    }
    if (len > 253) {
        return TL_HOST_TOO_LONG;
    }
    if (numeric) {
        char buf[16];
        struct in_addr a4;
        if (len >= sizeof(buf)) {
            return TL_HOST_BAD_IPV4;
        }
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (inet_pton(AF_INET, buf, &a4) != 1) {
            return TL_HOST_BAD_IPV4;
        }
    }
    return TL_HOST_OK;
}

static bool is_host(const char *s, size_t len)
{
    size_t at;
    return tl_hostname_problem(s, len, &at) == TL_HOST_OK;
}

enum tl_rc tl_hostname_check(const char *s, size_t len, struct tl_err *err)
{
    char shown[300];
    struct tl_sb b;
    tl_sb_init(&b, shown, sizeof(shown));
    tl_sb_put_escaped_n(&b, s, len > 64 ? 64 : len);
    if (len > 64) {
        tl_sb_puts(&b, "...");
    }
    tl_sb_done(&b);
    size_t n = len > 0 && s[len - 1] == '.' ? len - 1 : len;
    size_t at;
    switch (tl_hostname_problem(s, n, &at)) {
    case TL_HOST_OK:
        return TL_OK;
    case TL_HOST_TOO_LONG:
        TL_FAIL(err, TL_E_CONFIG, NULL, "the host name is longer than 253 characters");
    case TL_HOST_BAD_IPV4:
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not a valid IPv4 address", shown);
    default:
        TL_FAIL(err, TL_E_CONFIG, NULL, "'%s' is not a host name or IP address", shown);
    }
}

/* Length without one trailing dot: "host.example.net." names the same host as
 * "host.example.net" (the absolute form), so either may be configured or presented. */
static size_t strip_dot(const char *s)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '.') {
        n--;
    }
    return n;
}

/* RFC 1123 §2.1: a top-level label is never all digits, so a name ending in one is an address
 * written as text, and a wildcard must not stand for one of its octets. */
static bool is_address_like(const char *s, size_t len)
{
    size_t i = len;
    while (i > 0 && s[i - 1] != '.') {
        if (s[i - 1] < '0' || s[i - 1] > '9') {
            return false;
        }
        i--;
    }
    return i < len;
}

/*
 * "*." + suffix against a host name: the wildcard stands for exactly one whole, non-empty,
 * left-most label (RFC 5425 §5.2: "*.example.com" matches neither "example.com" nor
 * "a.b.example.com"). min_dots: how many dots the suffix needs (certificate wildcards may not
 * cover a whole top-level domain).
 */
static bool wildcard_match(const char *suffix, size_t slen, const char *name, size_t nlen,
                           size_t min_dots)
{
    if (!is_host(suffix, slen) || !is_host(name, nlen) || is_address_like(name, nlen)) {
        return false;
    }
    size_t dots = 0;
    for (size_t i = 0; i < slen; i++) {
        dots += suffix[i] == '.';
    }
    if (dots < min_dots) {
        return false;
    }
    const char *dot = memchr(name, '.', nlen);
    if (dot == NULL) {
        return false;
    }
    size_t rest = nlen - (size_t)(dot - name) - 1;
    return ascii_eq(dot + 1, rest, suffix, slen);
}

static bool starts_wild(const char *s, size_t len)
{
    return len >= 2 && s[0] == '*' && s[1] == '.';
}

bool tl_name_match(const char *pattern, const char *name)
{
    if (pattern == NULL || name == NULL) {
        return false;
    }
    size_t plen = strip_dot(pattern);
    size_t nlen = strip_dot(name);
    if (!is_host(name, nlen)) {
        return false;
    }
    if (starts_wild(pattern, plen)) {
        return wildcard_match(pattern + 2, plen - 2, name, nlen, 0);
    }
    return is_host(pattern, plen) && ascii_eq(pattern, plen, name, nlen);
}

bool tl_cert_name_match(const char *cert_dns_name, const char *wanted)
{
    if (cert_dns_name == NULL || wanted == NULL) {
        return false;
    }
    size_t clen = strip_dot(cert_dns_name);
    size_t wlen = strip_dot(wanted);
    if (!is_host(wanted, wlen)) {
        return false;
    }
    if (starts_wild(cert_dns_name, clen)) {
        return wildcard_match(cert_dns_name + 2, clen - 2, wanted, wlen, 1);
    }
    return is_host(cert_dns_name, clen) && ascii_eq(cert_dns_name, clen, wanted, wlen);
}

enum tl_rc tl_name_pattern_check(const char *pattern, struct tl_err *err)
{
    struct tl_san_ip ip;
    if (pattern == NULL || pattern[0] == '\0') {
        TL_FAIL(err, TL_E_CONFIG, NULL, "empty peer name: it can never match");
    }
    if (tl_ip_pattern_parse(pattern, &ip)) {
        return TL_OK;
    }
    size_t len = strip_dot(pattern);
    size_t skip = starts_wild(pattern, len) ? 2 : 0;
    size_t at;
    enum tl_host_problem pr = tl_hostname_problem(pattern + skip, len - skip, &at);
    if (pr == TL_HOST_OK) {
        return TL_OK;
    }
    char shown[160];
    struct tl_sb b;
    tl_sb_init(&b, shown, sizeof(shown));
    tl_sb_put_escaped(&b, pattern);
    tl_sb_done(&b);
    unsigned char c = (unsigned char)pattern[skip + at];
    switch (pr) {
    case TL_HOST_STAR:
        TL_ERR(err, TL_E_CONFIG, NULL,
               "'%s': '*' is a wildcard only as the whole left-most label (\"*.example.net\"); "
               "here it is a literal character and the name can never match",
               shown);
        break;
    case TL_HOST_BAD_CHAR:
        if (c >= 0x80) {
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "'%s': byte 0x%02X at character %zu is not allowed in a host name; "
                   "write internationalised names in ACE form (xn--...), RFC 5425 section 5.2",
                   shown, c, skip + at + 1);
        } else if (c >= 0x20 && c < 0x7f) {
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "'%s': '%c' at character %zu is not allowed in a host name, so the name "
                   "can never match",
                   shown, c, skip + at + 1);
        } else {
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "'%s': byte 0x%02X at character %zu is not allowed in a host name, so the "
                   "name can never match",
                   shown, c, skip + at + 1);
        }
        break;
    case TL_HOST_HYPHEN:
        TL_ERR(err, TL_E_CONFIG, NULL,
               "'%s': a label starts or ends with '-' (character %zu), which a "
               "host name cannot, so the name can never match",
               shown, skip + at + 1);
        break;
    case TL_HOST_LONG_LABEL:
        TL_ERR(err, TL_E_CONFIG, NULL,
               "'%s': a label is longer than 63 characters, so the name can "
               "never match",
               shown);
        break;
    case TL_HOST_TOO_LONG:
        TL_ERR(err, TL_E_CONFIG, NULL, "'%s' is longer than 253 characters, so it can never match",
               shown);
        break;
    case TL_HOST_BAD_IPV4:
        TL_ERR(err, TL_E_CONFIG, NULL, "'%s' is neither a host name nor a valid IP address", shown);
        break;
    case TL_HOST_EMPTY:
    case TL_HOST_EMPTY_LABEL:
    case TL_HOST_OK:
    default:
        TL_ERR(err, TL_E_CONFIG, NULL,
               "'%s' has an empty label (a leading dot or '..'), so it can never "
               "match",
               shown);
        break;
    }
    return TL_E_CONFIG;
}

/* ---- IP addresses ------------------------------------------------------------------------- */

bool tl_ip_pattern_parse(const char *pattern, struct tl_san_ip *out)
{
    memset(out, 0, sizeof(*out));
    if (pattern == NULL) {
        return false;
    }
    char buf[INET6_ADDRSTRLEN + 2];
    size_t len = strlen(pattern);
    const char *p = pattern;
    /* "[v6]" is how addresses are written next to a port; accept it on its own too. */
    if (len >= 2 && pattern[0] == '[' && pattern[len - 1] == ']') {
        p = pattern + 1;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (p == pattern && inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
    } else {
        memset(out, 0, sizeof(*out));
        return false;
    }
    inet_ntop(out->family, out->addr, out->text, sizeof(out->text));
    return true;
}

static size_t ip_len(int family)
{
    return family == AF_INET ? 4 : 16;
}

bool tl_san_ip_equal(const struct tl_san_ip *a, const struct tl_san_ip *b)
{
    /* RFC 5425 §5.2: octet comparison. Families must agree: an IPv4-mapped IPv6 SAN is a
     * different identity from the IPv4 one (RFC 6125 gives no mapping rule). */
    return a->family != 0 && a->family == b->family &&
           memcmp(a->addr, b->addr, ip_len(a->family)) == 0;
}

bool tl_ip_match(const char *pattern, const struct tl_san_ip *ip)
{
    struct tl_san_ip want;
    if (ip == NULL || !tl_ip_pattern_parse(pattern, &want)) {
        return false;
    }
    return tl_san_ip_equal(&want, ip);
}

/* ---- fingerprints ------------------------------------------------------------------------- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = lower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static void describe_char(unsigned char c, char *out, size_t cap)
{
    if (c >= 0x21 && c < 0x7f) {
        snprintf(out, cap, "'%c'", c);
    } else if (c == ' ') {
        snprintf(out, cap, "a space");
    } else {
        snprintf(out, cap, "byte 0x%02X", c);
    }
}

static bool fp_label(const char *s, size_t n, struct tl_fingerprint *out)
{
    if (ascii_eq(s, n, "sha256", 6) || ascii_eq(s, n, "sha-256", 7)) {
        out->alg = TL_FP_SHA256;
        out->len = TL_SHA256_LEN;
        return true;
    }
    if (ascii_eq(s, n, "sha1", 4) || ascii_eq(s, n, "sha-1", 5)) {
        out->alg = TL_FP_SHA1;
        out->len = TL_SHA1_LEN;
        return true;
    }
    return false;
}

static const char *fp_alg_name(enum tl_fp_alg alg)
{
    return alg == TL_FP_SHA1 ? "SHA1" : "SHA256";
}

enum tl_rc tl_fingerprint_parse(const char *text, struct tl_fingerprint *out, struct tl_err *err)
{
    memset(out, 0, sizeof(*out));
    if (text == NULL || text[0] == '\0') {
        TL_FAIL(err, TL_E_CONFIG, NULL, "empty fingerprint; expected e.g. \"SHA256:AB:CD:...\"");
    }
    const char *colon = strchr(text, ':');
    size_t llen = colon != NULL ? (size_t)(colon - text) : strlen(text);
    if (!fp_label(text, llen, out)) {
        bool hexish = llen > 0;
        for (size_t i = 0; i < llen; i++) {
            hexish = hexish && hexval((unsigned char)text[i]) >= 0;
        }
        if (colon == NULL || hexish) {
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "fingerprint has no algorithm label; write it as "
                   "\"SHA256:<hex>\" or \"SHA1:<hex>\"");
        } else {
            /* Show the label, not the whole line: it may be a pasted key or garbage. */
            char shown[100];
            struct tl_sb b;
            tl_sb_init(&b, shown, sizeof(shown));
            tl_sb_put_escaped_n(&b, text, llen < 24 ? llen : 24);
            tl_sb_done(&b);
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "unknown fingerprint algorithm '%s'; expected SHA256 or SHA1 "
                   "(also written sha-256, sha-1)",
                   shown);
        }
        memset(out, 0, sizeof(*out));
        return TL_E_CONFIG;
    }
    if (colon == NULL) {
        TL_ERR(err, TL_E_CONFIG, NULL, "%s fingerprint has no digest; expected \"%s:<hex>\"",
               fp_alg_name(out->alg), fp_alg_name(out->alg));
        memset(out, 0, sizeof(*out));
        return TL_E_CONFIG;
    }
    size_t nbytes = 0;
    const char *p = colon + 1;
    bool after_colon = true;  /* the label's colon: a byte must come first */
    while (*p != '\0') {
        size_t pos = (size_t)(p - text) + 1;
        if (*p == ':') {
            if (after_colon || p[1] == '\0') {
                TL_ERR(err, TL_E_CONFIG, NULL,
                       "fingerprint has a misplaced ':' at character %zu; write "
                       "each byte as two hex digits, optionally separated by single colons",
                       pos);
                goto fail;
            }
            after_colon = true;
            p++;
            continue;
        }
        int hi = hexval((unsigned char)p[0]);
        int lo = hi >= 0 && p[1] != '\0' ? hexval((unsigned char)p[1]) : -1;
        if (hi < 0 || lo < 0) {
            if (hi >= 0 && (p[1] == '\0' || p[1] == ':')) {
                TL_ERR(err, TL_E_CONFIG, NULL,
                       "fingerprint has a lone hex digit at character %zu; each "
                       "byte is two hex digits",
                       pos);
            } else {
                char what[24];
                describe_char((unsigned char)p[hi < 0 ? 0 : 1], what, sizeof(what));
                TL_ERR(err, TL_E_CONFIG, NULL,
                       "fingerprint has %s at character %zu where a hex digit "
                       "was expected",
                       what, hi < 0 ? pos : pos + 1);
            }
            goto fail;
        }
        if (nbytes < out->len) {
            out->md[nbytes] = (unsigned char)(hi << 4 | lo);
        }
        nbytes++;
        after_colon = false;
        p += 2;
    }
    if (nbytes != out->len) {
        const char *looks = "";
        if (out->alg == TL_FP_SHA256 && nbytes == TL_SHA1_LEN) {
            looks = "; it looks like a SHA1 fingerprint: label it SHA1";
        } else if (out->alg == TL_FP_SHA1 && nbytes == TL_SHA256_LEN) {
            looks = "; it looks like a SHA256 fingerprint: label it SHA256";
        }
        TL_ERR(err, TL_E_CONFIG, NULL,
               "%s fingerprint has %zu bytes, expected %zu (%zu hex digits)%s",
               fp_alg_name(out->alg), nbytes, out->len, out->len * 2, looks);
        goto fail;
    }
    return TL_OK;
fail:
    memset(out, 0, sizeof(*out));
    return TL_E_CONFIG;
}

