/*
 * tls_verify.h: who is the TLS peer, is it allowed, and if not, why not in plain words.
 *
 * This module holds every peer-verification decision that does not depend on the state of a
 * TLS connection, so that inputs (we are the TLS server, the peer is a sender) and outputs
 * (we are the TLS client, the peer is a receiver) use one set of rules (RFC 5425 §5):
 *
 *   - name matching (§5.2): tl_name_match for configured patterns, tl_cert_name_match for
 *     wildcards presented in certificates, tl_ip_match for iPAddress SANs;
 *   - the peer's identity read out of its certificate (struct tl_peer_cert), for matching and
 *     for the connect log line (subject, SANs, fingerprint);
 *   - policy: tl_peer_cert_permitted (permitted_peers, or the one name an output dials) and
 *     fingerprints (§5.1, §4.2.2: tl_fingerprint_parse, tl_peer_cert_fingerprint_listed);
 *   - operator messages for every verification failure, with the config key to change
 *     (tl_verify_reason, tl_verify_message).
 *
 * Path validation itself is OpenSSL's job (tls_ctx.c sets up the store); this module only
 * explains its X509_V_ERR_* result. Nothing here keeps state: every function is reentrant
 * and may be called from any thread. Pointer arguments are borrowed for the duration of the
 * call; NULL is accepted wherever a string is, and never matches anything.
 */
#ifndef TL_TRANSPORT_TLS_VERIFY_H
#define TL_TRANSPORT_TLS_VERIFY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "core/names.h"

/* ---- The peer's certificate -------------------------------------------------------------- */

#define TL_FP_SHA256_STRLEN (7 + TL_SHA256_LEN * 3)
#define TL_FP_SHA1_STRLEN (5 + TL_SHA1_LEN * 3)
#define TL_FP_STRLEN TL_FP_SHA256_STRLEN
/* "2026-11-23 10:00:00 UTC" with its NUL, with room for odd years. */
#define TL_TIME_STRLEN 32

/*
 * What we know about one certificate, copied out of the X509 so that it can be logged and
 * matched after the connection is gone. Text fields are printable ASCII: bytes outside
 * 0x20..0x7e and '\' in names are written as "\xNN", which also makes such a name unable to
 * match anything (a dNSName "bank.example\x00.evil.net" cannot pass for "bank.example").
 */
struct tl_peer_cert {
    char *subject;             /* RFC 2253 one-line, most specific first: "CN=client1,O=Example" */
    char *issuer;              /* same form */
    char *serial;              /* upper-case hex, as `openssl x509 -serial` prints it */
    char **dns;                /* dNSName SANs, in certificate order */
    size_t n_dns;
    struct tl_san_ip *ips;     /* iPAddress SANs, in certificate order */
    size_t n_ips;
    char *cn;                  /* the subject's last (most specific) CN; NULL when none. Used as
                                * a name only when n_dns == 0 (RFC 5425 §5.2, RFC 6125 §6.4.4) */
    char not_before[TL_TIME_STRLEN]; /* "2026-11-23 10:00:00 UTC"; "(invalid date)" */
    char not_after[TL_TIME_STRLEN];
    time_t not_before_t;       /* 0 when the date cannot be read */
    time_t not_after_t;
    unsigned char sha256[TL_SHA256_LEN];      /* digests of the DER certificate */
    unsigned char sha1[TL_SHA1_LEN];
    char sha256_text[TL_FP_SHA256_STRLEN];    /* "SHA256:AB:CD:...", rsyslog's syntax */
    char sha1_text[TL_FP_SHA1_STRLEN];        /* "SHA1:AB:CD:..." */
    char key_type[24];         /* "RSA", "EC", "ED25519", ...; "unknown" */
    int key_bits;              /* 2048, 256, ...; 0 when unknown */
};

/*
 * Writes a certificate or CRL date as "2026-11-23 10:00:00 UTC" (the form of every log line
 * and of tlslog cert), or "(invalid date)"; *when (may be NULL) gets it as time_t, 0 when
 * invalid. NULL t is invalid (ASN1_TIME_to_tm would read it as "now").
 */
void tl_asn1_time_text(const ASN1_TIME *t, char *text, size_t cap, time_t *when);

/*
 * Fills `out` from `x` (borrowed, not kept). TL_OK, or with `out` left empty (safe to fini)
 * and a sentence in `err` (may be NULL): TL_E_RESOURCE when memory runs out, TL_E_TLS when
 * there is no certificate, or it has more than one subjectAltName extension or one that
 * cannot be decoded (RFC 5280 §4.2; refuse such a peer). Unreadable dates do not fail: they
 * read "(invalid date)" and 0.
 */
enum tl_rc tl_peer_cert_from_x509(X509 *x, struct tl_peer_cert *out, struct tl_err *err);

/* Frees what tl_peer_cert_from_x509 allocated and zeroes `pc`. NULL and repeated calls are fine. */
void tl_peer_cert_fini(struct tl_peer_cert *pc);

/*
 * Writes the names the certificate is matched by, for log lines:
 * "DNS:a.example.net, DNS:b.example.net, IP:192.0.2.1", then ", CN:foo" (or only "CN:foo")
 * when there is no dNSName SAN; "no names" when there is nothing. Always NUL-terminates when
 * cap > 0; a list that does not fit ends in "...". Returns the length written.
 */
size_t tl_peer_cert_names(const struct tl_peer_cert *pc, char *out, size_t cap);

/*
 * Policy check for permitted_peers (RFC 5425 §5.2). True when one of the `n` patterns covers
 * the certificate:
 *   - an IP-literal pattern (tl_ip_pattern_parse) against the iPAddress SANs only;
 *   - any other pattern against each dNSName SAN, or the CN when there is no dNSName SAN,
 *     with tl_name_match (configured wildcards) or tl_cert_name_match (a wildcard in the
 *     certificate covering an exact pattern).
 * An output checks the server with the one name or address it dialled: patterns = &host, n = 1.
 * No pattern, NULL patterns or pc == NULL: false (default deny).
 */
bool tl_peer_cert_permitted(const struct tl_peer_cert *pc, const char *const *patterns, size_t n);

/* ---- Fingerprints (RFC 5425 §4.2.2, §5.1) ------------------------------------------------- */

/* Writes the canonical form "SHA256:AB:CD:..." / "SHA1:..."; returns the length written. */
size_t tl_fingerprint_format(const struct tl_fingerprint *fp, char *out, size_t cap);

/* True when `x`'s digest with fp's algorithm equals fp. False for NULL or a digest failure. */
bool tl_fingerprint_matches(const struct tl_fingerprint *fp, X509 *x);

/* True when one of the `n` fingerprints is the certificate's (SHA-1 or SHA-256). */
bool tl_peer_cert_fingerprint_listed(const struct tl_peer_cert *pc,
                                     const struct tl_fingerprint *fps, size_t n);

/* ---- Explaining a failure ----------------------------------------------------------------- */

/*
 * A short, fixed sentence for an OpenSSL verify result (SSL_get_verify_result,
 * X509_STORE_CTX_get_error): "the certificate has expired". Codes without a sentence of
 * our own get OpenSSL's text. Never NULL; the string is static.
 */
const char *tl_verify_reason(long x509_verify_result);

enum tl_verify_side {
    TL_VERIFY_INPUT = 1,   /* we are the TLS server; the peer is a sending client */
    TL_VERIFY_OUTPUT = 2,  /* we are the TLS client; the peer is the receiving server */
};

enum tl_verify_fail {
    TL_VERIFY_CHAIN = 1,    /* path validation failed: x509_result says why */
    TL_VERIFY_NAME,         /* no certificate name matches `names` */
    TL_VERIFY_FINGERPRINT,  /* the certificate's fingerprint is not among the configured ones */
    TL_VERIFY_NO_CERT,      /* the peer presented no certificate */
    TL_VERIFY_CA_AS_LEAF,   /* the peer's own certificate is a CA certificate (CA:TRUE) */
};

/*
 * Everything tl_verify_message needs; zero-initialise it and set what applies. The *_key
 * fields are the config locations named in hints (e.g. "tls.ca_file (/etc/tlslogd.yaml:27)");
 * NULL picks the default shown.
 */
struct tl_verify_failure {
    enum tl_verify_fail kind;
    enum tl_verify_side side;
    long x509_result;                   /* TL_VERIFY_CHAIN: X509_V_ERR_* */
    int depth;                          /* TL_VERIFY_CHAIN: 0 = the peer's own certificate */
    const struct tl_peer_cert *peer;    /* the peer's certificate; NULL if none was presented */
    const struct tl_peer_cert *at_depth; /* TL_VERIFY_CHAIN: the certificate at `depth`;
                                          * NULL means `peer` */
    const char *const *names;           /* TL_VERIFY_NAME: the patterns that did not match */
    size_t n_names;
    const char *auth_mode;              /* TL_VERIFY_NO_CERT: "certvalid" */
    const char *ca_key;                 /* "tls.ca_file (or tls.ca_dir)" */
    const char *crl_key;                /* "tls.crl_file" */
    const char *names_key;              /* "permitted_peers" */
    const char *fp_key;                 /* "fingerprints" */
    const char *client_cert_key;        /* "tls.cert_file and tls.key_file" */
};

/*
 * Writes the operator message for a verification failure: a fixed, searchable sentence that
 * names the certificate, then "; hint: " and what to change. Examples:
 *   certificate verify failed: the peer's certificate was issued by 'CN=Other CA' which is
 *     not among the trusted CAs; hint: add that CA to tls.ca_file (or tls.ca_dir) ...
 *   certificate expired on 2026-01-01 00:00:00 UTC (subject CN=client1); hint: renew ...
 * X509_V_ERR_HOSTNAME_MISMATCH / IP_ADDRESS_MISMATCH with TL_VERIFY_CHAIN are reported as
 * TL_VERIFY_NAME. The owner adds its own name and the peer address. Always NUL-terminates
 * when cap > 0 (a message that does not fit ends in "..."); returns the length written.
 */
size_t tl_verify_message(const struct tl_verify_failure *f, char *out, size_t cap);

/* ---- Alerts the peer sent ----------------------------------------------------------------- */

/* TLS alert descriptions (RFC 8446 §6.2) that a refusal can carry. */
enum tl_alert {
    TL_ALERT_HANDSHAKE_FAILURE = 40,
    TL_ALERT_BAD_CERTIFICATE = 42,
    TL_ALERT_UNSUPPORTED_CERTIFICATE = 43,
    TL_ALERT_CERTIFICATE_REVOKED = 44,
    TL_ALERT_CERTIFICATE_EXPIRED = 45,
    TL_ALERT_CERTIFICATE_UNKNOWN = 46,
    TL_ALERT_UNKNOWN_CA = 48,
    TL_ALERT_ACCESS_DENIED = 49,
    TL_ALERT_INTERNAL_ERROR = 80,
    TL_ALERT_CERTIFICATE_REQUIRED = 116,
};

/* "access_denied", "unknown_ca", ...: RFC 8446's name; "alert N" for others (static). */
const char *tl_alert_name(int alert);

/* True for the alerts that say the peer refused our certificate. */
bool tl_alert_refuses_cert(int alert);

/*
 * The operator message for an alert the peer sent during or right after the handshake, when
 * it is about our certificate: who refused what, in plain words, and what to do. `side` is
 * ours: TL_VERIFY_OUTPUT (we are the client: "the loghost refused our certificate: alert
 * access_denied: it does not permit the names in our certificate (DNS:app.other.org); ...")
 * or TL_VERIFY_INPUT (we are the server: "the client refused our certificate: ..."). `ours`
 * is our certificate (NULL when we have none); `cert_keys` names where ours is configured
 * ("tls.cert_file and tls.key_file", "--cert and --key"). Returns 0 (and writes nothing) for
 * an alert that is not about a certificate; else the length written (always NUL-terminated).
 */
size_t tl_alert_message(int alert, enum tl_verify_side side, const struct tl_peer_cert *ours,
                        const char *cert_keys, char *out, size_t cap);

#endif
