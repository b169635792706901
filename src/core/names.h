/*
 * names.h: host names, configured name patterns, IP literals and certificate fingerprints
 * as text: the one set of rules shared by the configuration loader, tlslog and the TLS layer
 * (RFC 5425 §5.1, §5.2). Pure functions, no OpenSSL, no state: any thread may call them.
 * Pointer arguments are borrowed for the call; NULL is accepted wherever a string is and
 * never matches anything.
 */
#ifndef TL_CORE_NAMES_H
#define TL_CORE_NAMES_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/* ---- Host names ------------------------------------------------------------------------- */

enum tl_host_problem {
    TL_HOST_OK = 0,
    TL_HOST_EMPTY,
    TL_HOST_EMPTY_LABEL,   /* a leading dot, "..", or nothing after the last dot */
    TL_HOST_STAR,          /* '*': only a pattern's whole left-most label may be one */
    TL_HOST_BAD_CHAR,
    TL_HOST_HYPHEN,        /* a label starts or ends with '-' */
    TL_HOST_LONG_LABEL,    /* a label of more than 63 bytes */
    TL_HOST_TOO_LONG,      /* more than 253 bytes */
    TL_HOST_BAD_IPV4,      /* digits and dots only, but not an IPv4 address */
};

/*
 * The one host-name validator (configured listen and target hosts, certificate names, name
 * patterns): RFC 1123 labels of letters, digits and '-' ('_' tolerated, as real-world names
 * have it), 1..63 bytes, no '-' at either end, at most 253 bytes, and a name of digits and
 * dots only must be an IPv4 address (a typo of one is not a host name). s[0..len) carries no
 * trailing dot. `at` gets the offset of the first offending byte.
 */
enum tl_host_problem tl_hostname_problem(const char *s, size_t len, size_t *at);

/* The same with one trailing dot allowed: TL_OK, or TL_E_CONFIG with a sentence in err (may
 * be NULL: "'a..b' is not a host name or IP address"). */
enum tl_rc tl_hostname_check(const char *s, size_t len, struct tl_err *err);

/* ---- Name matching ---------------------------------------------------------------------- */

/*
 * The one matcher for configured names (permitted_peers on inputs, and any name pattern an
 * output is given). Returns true when `name` (a name from a certificate: dNSName SAN, or the
 * CN when there is none) is covered by `pattern` (from the configuration).
 *
 *   - ASCII case-insensitive, byte for byte otherwise: no locale, no Unicode folding.
 *     Internationalised names must be configured in ACE form ("xn--bcher-kva.example"),
 *     RFC 5425 §5.2, and are compared like any other name.
 *   - One trailing dot on either side is ignored: "host.example.net." == "host.example.net".
 *   - "*.example.net" matches any name with exactly one more, non-empty, left-most label:
 *     "a.example.net" yes; "a.b.example.net", "example.net", ".example.net" no. A wildcard
 *     never matches an address-like name (last label all digits, "192.0.2.1").
 *   - '*' anywhere else ("*", "a*.example.net", "*.*.net", "host.*") is not a wildcard. It
 *     stays a literal character, and since '*' cannot occur in a host name such a pattern
 *     never matches; tl_name_pattern_check reports it so the config loader can refuse it.
 *   - Both sides must be host names: letters, digits, '-', '_' and dots, no empty label.
 *     Anything else (empty string, space, NUL-escaped certificate names, UTF-8) never
 *     matches, on either side.
 * IP addresses are not compared here: see tl_ip_match.
 */
bool tl_name_match(const char *pattern, const char *name);

/*
 * Certificate-side wildcards (RFC 5425 §5.2, RFC 6125 §6.4.3): returns true when the name
 * presented in a certificate, `cert_dns_name`, covers the exact host name `wanted` (the name
 * an output dialled, or an exact permitted_peers entry). Same rules as tl_name_match, except
 * that the wildcard comes from the certificate: "*.example.net" matches "a.example.net"
 * only, and it must be followed by at least two labels ("*.net" matches nothing). `wanted`
 * is never a pattern: if it contains '*' the result is false.
 */
bool tl_cert_name_match(const char *cert_dns_name, const char *wanted);

/*
 * Checks a configured name pattern once, at config load, so that an entry that can never
 * match is reported instead of silently refusing every peer. Returns TL_OK for an IPv4/IPv6
 * literal and for a pattern tl_name_match can match; otherwise TL_E_CONFIG with a sentence in
 * `err` (may be NULL: "'a*.example.net': '*' is a wildcard only as the whole left-most label
 * ...").
 */
enum tl_rc tl_name_pattern_check(const char *pattern, struct tl_err *err);

/* One iPAddress SAN, or a configured IP literal (RFC 5425 §5.2: compared as octets). */
struct tl_san_ip {
    int family;                   /* AF_INET or AF_INET6; 0: not a valid address */
    unsigned char addr[16];       /* 4 or 16 bytes used, network order */
    char text[INET6_ADDRSTRLEN];  /* "192.0.2.1", "2001:db8::1" (inet_ntop form) */
};

/*
 * Parses `pattern` with inet_pton as IPv4, then IPv6 (brackets allowed: "[2001:db8::1]").
 * Returns true and fills `out` for an IP literal; false for anything else (a host name, a
 * zone id "fe80::1%eth0", a trailing dot).
 */
bool tl_ip_pattern_parse(const char *pattern, struct tl_san_ip *out);

/*
 * True when `pattern` is an IP literal whose bytes equal the SAN's: "::1" matches a SAN
 * written 0:0:0:0:0:0:0:1. Families must agree: an IPv4 pattern never matches an IPv6 SAN,
 * not even the IPv4-mapped "::ffff:192.0.2.1", and the reverse.
 */
bool tl_ip_match(const char *pattern, const struct tl_san_ip *ip);

/* Same family and the same bytes. */
bool tl_san_ip_equal(const struct tl_san_ip *a, const struct tl_san_ip *b);

/* ---- Fingerprints (RFC 5425 §4.2.2, §5.1) ------------------------------------------------- */

#define TL_SHA256_LEN 32
#define TL_SHA1_LEN 20
/* Text forms with their NUL: "SHA256:" + 32 "XX:" - 1, and "SHA1:" + 20 "XX:" - 1. */
enum tl_fp_alg {
    TL_FP_SHA1 = 1,
    TL_FP_SHA256 = 2,
};

struct tl_fingerprint {
    enum tl_fp_alg alg;
    size_t len;                        /* TL_SHA1_LEN or TL_SHA256_LEN */
    unsigned char md[TL_SHA256_LEN];
};

/*
 * Parses one configured fingerprint: a label, ':', then the digest in hex. Labels, in any
 * case: "SHA256", "SHA-256", "SHA1", "SHA-1" (the hyphenated ones are RFC 5425 §4.2.2's).
 * Hex digits in any case, bytes optionally separated by single colons:
 * "SHA256:AB:CD:...", "sha-256:abcd...". Returns TL_OK, or TL_E_CONFIG with a sentence in
 * `err` (may be NULL) for a missing or unknown label, a non-hex character, a misplaced colon,
 * or a digest of the wrong length ("SHA256 fingerprint has 31 bytes, expected 32 (64 hex
 * digits)").
 */
enum tl_rc tl_fingerprint_parse(const char *text, struct tl_fingerprint *out, struct tl_err *err);

#endif
