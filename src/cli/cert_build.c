/*
 * cert_build.c: the certificates and CRLs of `tlslog cert` (see cert_build.h): keys,
 * X.509v3 certificates with the extensions RFC 5425 peers need, signed by a CA or by
 * themselves, and v2 CRLs.
 */
#include "cli/cert_build.h"

#include <sys/socket.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/cli.h"

/* notBefore is set this far in the past, so that a peer whose clock is a little behind
 * does not reject a certificate made a moment ago. */
#define SKEW_SECONDS 300L
#define SERIAL_BYTES 16

/* ---- keys and certificates ---------------------------------------------------------------- */

const char *tl_cert_key_desc(enum tl_key_alg alg)
{
    return alg == TL_KEY_RSA ? "RSA 3072" : "ECDSA P-256";
}

EVP_PKEY *tl_cert_make_key(enum tl_key_alg alg)
{
    EVP_PKEY *key = alg == TL_KEY_RSA ? EVP_RSA_gen(3072) : EVP_EC_gen("P-256");
    if (key == NULL) {
        tl_cli_fail("cannot generate an %s key: %s", tl_cert_key_desc(alg), tl_cert_ssl_why());
    }
    return key;
}

/* RFC 5280 §4.1.2.2: positive, at most 20 octets. 16 random bytes with the top bits 01: the
 * number is positive, never zero and always 16 bytes long. */
static bool set_random_serial(X509 *x)
{
    unsigned char b[SERIAL_BYTES];
    BIGNUM *bn;
    bool ok;
    if (RAND_bytes(b, sizeof(b)) != 1) {
        return false;
    }
    b[0] = (unsigned char)((b[0] & 0x3f) | 0x40);
    bn = BN_bin2bn(b, sizeof(b), NULL);
    ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static bool add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    bool ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* Built here rather than from a "DNS:a,IP:b" string, so that no name is ever parsed as
 * config syntax. Critical when the subject is empty (RFC 5280 §4.2.1.6). */
static bool add_sans(X509 *x, const char *const *dns, size_t n_dns,
                     const struct tl_san_ip *ips, size_t n_ips, bool critical)
{
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    bool ok = false;
    if (gens == NULL) {
        return false;
    }
    for (size_t i = 0; i < n_dns + n_ips; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_STRING *v = i < n_dns ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();
        bool set;
        if (g == NULL || v == NULL) {
            GENERAL_NAME_free(g);
            ASN1_STRING_free(v);
            goto out;
        }
        if (i < n_dns) {
            set = ASN1_STRING_set(v, dns[i], -1) == 1;
        } else {
            const struct tl_san_ip *ip = &ips[i - n_dns];
            set = ASN1_STRING_set(v, ip->addr, ip->family == AF_INET ? 4 : 16) == 1;
        }
        GENERAL_NAME_set0_value(g, i < n_dns ? GEN_DNS : GEN_IPADD, v);
        if (!set || sk_GENERAL_NAME_push(gens, g) <= 0) {
            GENERAL_NAME_free(g);
            goto out;
        }
    }
    ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical ? 1 : 0,
                           X509V3_ADD_DEFAULT) == 1;
out:
    GENERAL_NAMES_free(gens);
    return ok;
}

/*
 * Makes and signs a certificate for `key` as `s` describes. *clamped tells whether notAfter
 * had to be cut to the issuer's. Returns NULL with the error printed.
 */
X509 *tl_cert_make(const struct tl_cert_spec *s, EVP_PKEY *key, bool *clamped)
{
    X509 *x = X509_new();
    X509 *issuer_cert = s->issuer != NULL ? s->issuer->cert : NULL;
    EVP_PKEY *sign_key = s->issuer != NULL ? s->issuer->key : key;
    X509_NAME *subject;
    X509V3_CTX ctx;
    time_t now = time(NULL);
    const char *ku;

    *clamped = false;
    if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 || !set_random_serial(x)) {
        goto fail;
    }
    subject = X509_get_subject_name(x);
    if (s->cn != NULL &&
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)s->cn,
                                   -1, -1, 0) != 1) {
        goto fail;
    }
    if (X509_set_issuer_name(x, issuer_cert != NULL ? X509_get_subject_name(issuer_cert)
                                                    : subject) != 1) {
        goto fail;
    }
    if (X509_time_adj_ex(X509_getm_notBefore(x), 0, -SKEW_SECONDS, &now) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)s->days, 0, &now) == NULL) {
        goto fail;
    }
    if (issuer_cert != NULL &&
        X509_cmp_time(X509_get0_notBefore(issuer_cert), &(time_t){ now - SKEW_SECONDS }) > 0 &&
        X509_set1_notBefore(x, X509_get0_notBefore(issuer_cert)) != 1) {
        /* Nor does it start before its CA (a CA made a minute ago). */
        goto fail;
    }
    if (issuer_cert != NULL) {
        /* A certificate that outlives its CA fails to verify from the CA's last day on, so
         * end it with the CA instead of promising what cannot be kept. */
        time_t want = now + (time_t)s->days * 86400;
        int cmp = X509_cmp_time(X509_get0_notAfter(issuer_cert), &want);
        if (cmp == 0) {
            tl_cli_fail("cannot read the expiry date of %s", s->issuer->cert_path);
            X509_free(x);
            return NULL;
        }
        if (cmp < 0) {
            if (X509_set1_notAfter(x, X509_get0_notAfter(issuer_cert)) != 1) {
                goto fail;
            }
            *clamped = true;
        }
    }
    if (X509_set_pubkey(x, key) != 1) {
        goto fail;
    }
    X509V3_set_ctx(&ctx, issuer_cert != NULL ? issuer_cert : x, x, NULL, NULL, 0);
    if (s->is_ca) {
        ku = "critical,keyCertSign,cRLSign";
    } else if (s->alg == TL_KEY_RSA) {
        ku = "critical,digitalSignature,keyEncipherment";
    } else {
        ku = "critical,digitalSignature";
    }
    if (!add_ext(x, &ctx, NID_basic_constraints, s->is_ca ? "critical,CA:TRUE"
                                                           : "critical,CA:FALSE") ||
        !add_ext(x, &ctx, NID_key_usage, ku)) {
        goto fail;
    }
    if (!s->is_ca && !add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth")) {
        goto fail;
    }
    if (s->n_dns + s->n_ips > 0 &&
        !add_sans(x, s->dns, s->n_dns, s->ips, s->n_ips, s->cn == NULL)) {
        goto fail;
    }
    /* SKI first: for a self-signed certificate the AKI is taken from it. */
    if (!add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
        !add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")) {
        goto fail;
    }
    if (X509_sign(x, sign_key, EVP_sha256()) <= 0) {
        goto fail;
    }
    return x;
fail:
    tl_cli_fail("cannot make the certificate: %s", tl_cert_ssl_why());
    X509_free(x);
    return NULL;
}

/* ---- CRLs --------------------------------------------------------------------------------- */

/* The previous CRL's number (RFC 5280 §5.2.3) plus one; 1 for the first CRL. */
static ASN1_INTEGER *next_crl_number(X509_CRL *old)
{
    ASN1_INTEGER *prev = old != NULL ? X509_CRL_get_ext_d2i(old, NID_crl_number, NULL, NULL)
                                     : NULL;
    BIGNUM *bn = prev != NULL ? ASN1_INTEGER_to_BN(prev, NULL) : BN_new();
    ASN1_INTEGER *next = NULL;
    if (bn != NULL && BN_add_word(bn, 1) == 1) {
        next = BN_to_ASN1_INTEGER(bn, NULL);
    }
    BN_free(bn);
    ASN1_INTEGER_free(prev);
    return next;
}

/* A new CRL: the old one's entries (without a second entry for `serial`), plus `serial`. */
X509_CRL *tl_cert_make_crl(const struct tl_cert_ca *ca, X509_CRL *old, ASN1_INTEGER *serial,
                           unsigned long days, bool *already, int *count)
{
    X509_CRL *crl = X509_CRL_new();
    STACK_OF(X509_REVOKED) *prev = old != NULL ? X509_CRL_get_REVOKED(old) : NULL;
    ASN1_TIME *now_t = NULL;
    ASN1_TIME *next_t = NULL;
    ASN1_INTEGER *number = NULL;
    X509_REVOKED *rev = NULL;
    X509_EXTENSION *aki = NULL;
    X509V3_CTX ctx;
    time_t now = time(NULL);

    *already = false;
    now_t = ASN1_TIME_adj(NULL, now, 0, 0);
    next_t = ASN1_TIME_adj(NULL, now, (int)days, 0);
    if (crl == NULL || now_t == NULL || next_t == NULL ||
        X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) != 1 ||
        X509_CRL_set1_lastUpdate(crl, now_t) != 1 || X509_CRL_set1_nextUpdate(crl, next_t) != 1) {
        goto fail;
    }
    for (int i = 0; i < sk_X509_REVOKED_num(prev); i++) {
        const X509_REVOKED *r = sk_X509_REVOKED_value(prev, i);
        X509_REVOKED *copy;
        if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(r), serial) == 0) {
            *already = true;
        }
        copy = X509_REVOKED_dup(r);
        if (copy == NULL || X509_CRL_add0_revoked(crl, copy) != 1) {
            X509_REVOKED_free(copy);
            goto fail;
        }
    }
    if (!*already) {
        rev = X509_REVOKED_new();
        if (rev == NULL || X509_REVOKED_set_serialNumber(rev, serial) != 1 ||
            X509_REVOKED_set_revocationDate(rev, now_t) != 1 ||
            X509_CRL_add0_revoked(crl, rev) != 1) {
            X509_REVOKED_free(rev);
            goto fail;
        }
    }
    number = next_crl_number(old);
    X509V3_set_ctx(&ctx, ca->cert, NULL, NULL, crl, 0);
    aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (number == NULL || aki == NULL || X509_CRL_add_ext(crl, aki, -1) != 1 ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0) != 1 ||
        X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, ca->key, EVP_sha256()) <= 0) {
        goto fail;
    }
    *count = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));
    ASN1_TIME_free(now_t);
    ASN1_TIME_free(next_t);
    ASN1_INTEGER_free(number);
    X509_EXTENSION_free(aki);
    return crl;
fail:
    tl_cli_fail("cannot make the CRL: %s", tl_cert_ssl_why());
    ASN1_TIME_free(now_t);
    ASN1_TIME_free(next_t);
    ASN1_INTEGER_free(number);
    X509_EXTENSION_free(aki);
    X509_CRL_free(crl);
    return NULL;
}

