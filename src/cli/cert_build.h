/*
 * cert_build.h: the keys, certificates and CRLs of `tlslog cert`.
 *
 * What is built is fixed by RFC 5425 and by what OpenSSL, GnuTLS and the rsyslog and
 * syslog-ng TLS drivers accept without extra configuration:
 *   - CA: self-signed X.509v3, basicConstraints critical CA:TRUE, keyUsage critical
 *     keyCertSign+cRLSign, SKI, AKI.
 *   - peer: basicConstraints critical CA:FALSE, keyUsage critical digitalSignature (plus
 *     keyEncipherment for RSA), extendedKeyUsage serverAuth+clientAuth (a syslog peer is a
 *     TLS server on one side and a client on the other), subjectAltName with every name
 *     (RFC 5425 §5.2 matches dNSName and iPAddress SANs), SKI, AKI.
 *   - serial numbers: 16 random bytes, positive (RFC 5280 §4.1.2.2).
 *   - CRL: v2, CRL number and AKI (RFC 5280 §5.2), every earlier revocation kept.
 *
 * A function that fails has printed one sentence (tl_cli_fail) and returns NULL.
 * Single-threaded.
 */
#ifndef TL_CLI_CERT_BUILD_H
#define TL_CLI_CERT_BUILD_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cli/cert_pem.h"
#include "core/names.h"

enum tl_key_alg {
    TL_KEY_EC = 0,  /* ECDSA P-256 */
    TL_KEY_RSA = 1, /* RSA 3072 */
};

/* What a certificate is made of. */
struct tl_cert_spec {
    const char *cn;                 /* the subject's CN; NULL: empty subject */
    const char *const *dns;         /* dNSName SANs */
    size_t n_dns;
    const struct tl_san_ip *ips;    /* iPAddress SANs */
    size_t n_ips;
    bool is_ca;
    enum tl_key_alg alg;            /* of the certificate's own key */
    unsigned long days;
    const struct tl_cert_ca *issuer; /* NULL: self-signed */
};

/* "ECDSA P-256", "RSA 3072" */
const char *tl_cert_key_desc(enum tl_key_alg alg);
/* A new key, or NULL. */
EVP_PKEY *tl_cert_make_key(enum tl_key_alg alg);

/*
 * Makes and signs a certificate for key (its public half goes in) as s describes, valid from
 * a little before now (a peer's clock may lag; never before the issuer) for s->days, but never
 * beyond the issuer: *clamped tells whether notAfter had to be cut to the issuer's.
 */
X509 *tl_cert_make(const struct tl_cert_spec *s, EVP_PKEY *key, bool *clamped);

/*
 * A new CRL of ca: the entries of old (NULL: none) plus serial, unless old has it already
 * (*already), next update in days, number one past old's. *count: the revoked certificates
 * it lists.
 */
X509_CRL *tl_cert_make_crl(const struct tl_cert_ca *ca, X509_CRL *old, ASN1_INTEGER *serial,
                           unsigned long days, bool *already, int *count);

#endif
