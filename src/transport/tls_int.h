/*
 * tls_int.h: what the two halves of the TLS layer share (tls_ctx.c: contexts and slots;
 * tls.c: verification and the stream). Private to src/transport: nothing else includes it.
 */
#ifndef TL_TRANSPORT_TLS_INT_H
#define TL_TRANSPORT_TLS_INT_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdatomic.h>

#include "transport/tls.h"
#include "transport/tls_verify.h"

struct tl_tls_ctx {
    atomic_uint refs;
    SSL_CTX *ssl;
    enum tl_tls_role role;
    enum tl_auth_mode auth;
    char **permitted;
    size_t n_permitted;
    struct tl_fingerprint *fps;
    size_t n_fps;
    bool has_crl;
    bool system_cas;           /* tls.ca_file: system (the metrics list no CAs then) */
    unsigned min_version;      /* 12 or 13 */
    char owner[96];
    const char *cert_keys;     /* where our certificate is configured, for hints */
};

/* TLS 1.2 suites when tls.ciphers is not set: forward secrecy and AEAD only (no CBC, no RSA
 * key exchange). TLS 1.3 suites stay OpenSSL's default, which are all of that kind. */
#define DEFAULT_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

/*
 * Which alert a refusal sends. OpenSSL 3.0 derives the alert from the verification error
 * (ssl_x509err2alert) and has no path to send access_denied from the verify callback, so a
 * peer whose names or fingerprint are not permitted is refused with certificate_unknown,
 * which no other result of ours uses: the other side can still say what it means. Our own
 * CRL trouble (none, expired, not yet valid) is not the peer's fault: internal_error.
 */
#define ERR_FOR_POLICY X509_V_ERR_PERMITTED_VIOLATION  /* -> certificate_unknown */
#define ERR_FOR_LOCAL X509_V_ERR_UNSPECIFIED           /* -> internal_error */
#define ERR_FOR_CA_LEAF X509_V_ERR_INVALID_PURPOSE     /* -> unsupported_certificate */

/* The SSL ex_data index under which a connection's tls_stream hangs (made once). */
int tl_tls_ex_index(void);
/* The verify callback of every context (tls.c): the policy of tls_verify.c. */
int tl_tls_verify_cb(int ok, X509_STORE_CTX *xs);
/* "anon", "certvalid", ...: the word for an auth mode. */
const char *tl_tls_auth_name(enum tl_auth_mode a);
/* The first entry of OpenSSL's error queue as text, and the queue emptied. */
const char *tl_tls_ssl_err_text(char *out, size_t cap);

#endif
