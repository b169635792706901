/*
 * tls_verify.c: peer names, certificate identity, fingerprints and failure messages for TLS
 * (RFC 5425 §5). See tls_verify.h for the contracts.
 *
 * Everything the peer controls (certificate names, DNs) is escaped to printable ASCII when it
 * is copied out, and the matcher accepts host-name characters only, so an escaped or odd name
 * can be shown in a log line but never matched.
 */
#include "transport/tls_verify.h"

#include "core/sb.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

/* How many names or patterns a failure message lists before it says "N more": a certificate
 * with hundreds of SANs must not push the hint out of the line. */
#define LIST_MAX 8

/* ---- certificate contents ----------------------------------------------------------------- */

/* Copies n peer-chosen bytes as a C string, escaping what is not printable ASCII and, when
 * esc_backslash, '\' itself (so that "\x00" in the result can only mean an escaped byte). */
static char *dup_escaped(const unsigned char *p, size_t n, bool esc_backslash)
{
    if (n > (SIZE_MAX - 1) / 4) {
        return NULL;
    }
    char *s = malloc(n * 4 + 1);
    if (s == NULL) {
        return NULL;
    }
    size_t o = 0;
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7f && !(esc_backslash && c == '\\')) {
            s[o++] = (char)c;
        } else {
            s[o++] = '\\';
            s[o++] = 'x';
            s[o++] = hex[c >> 4];
            s[o++] = hex[c & 15];
        }
    }
    s[o] = '\0';
    return s;
}

static char *dup_cstr(const char *s)
{
    return dup_escaped((const unsigned char *)s, strlen(s), false);
}

/* RFC 2253 form, most specific RDN first. XN_FLAG_RFC2253 already escapes control and
 * non-ASCII bytes with '\'; dup_escaped only guards against anything it let through. */
static char *name_oneline(const X509_NAME *nm)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return NULL;
    }
    char *s = NULL;
    if (X509_NAME_print_ex(bio, nm, 0, XN_FLAG_RFC2253) >= 0) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        if (n >= 0) {
            s = dup_escaped((const unsigned char *)(n > 0 ? data : ""), (size_t)n, false);
        }
    }
    BIO_free(bio);
    return s;
}

static char *serial_hex(const ASN1_INTEGER *serial)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    if (bn == NULL) {
        return NULL;
    }
    char *hex = BN_bn2hex(bn);
    BN_free(bn);
    if (hex == NULL) {
        return NULL;
    }
    char *s = dup_cstr(hex);
    OPENSSL_free(hex);
    return s;
}

/* The last CN is the most specific one (RFC 6125 §6.4.4 leaves the choice to us; this is what
 * the common clients do). */
static bool read_cn(X509 *x, struct tl_peer_cert *out)
{
    const X509_NAME *nm = X509_get_subject_name(x);
    int last = -1;
    for (int i = -1; (i = X509_NAME_get_index_by_NID(nm, NID_commonName, i)) >= 0;) {
        last = i;
    }
    if (last < 0) {
        return true;
    }
    const ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, last));
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, data);
    if (n >= 0) {
        out->cn = dup_escaped(utf8, (size_t)n, true);
        OPENSSL_free(utf8);
    } else {
        /* Undecodable (odd BMPString): keep the raw bytes, escaped, so it shows but never
         * matches. */
        out->cn = dup_escaped(ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data), true);
    }
    return out->cn != NULL;
}

static enum tl_rc read_sans(X509 *x, struct tl_peer_cert *out, struct tl_err *err)
{
    int crit = 0;
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL) {
        if (crit == -1) {
            return TL_OK;
        }
        if (crit == -2) {
            TL_FAIL(err, TL_E_TLS, NULL,
                    "the certificate has more than one subjectAltName extension (RFC 5280 "
                    "section 4.2 forbids it)");
        }
        TL_FAIL(err, TL_E_TLS, NULL,
                "the certificate's subjectAltName extension cannot be decoded");
    }
    enum tl_rc rc = TL_E_RESOURCE;
    int n = sk_GENERAL_NAME_num(gens);
    size_t nd = 0;
    size_t ni = 0;
    for (int i = 0; i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        nd += g->type == GEN_DNS;
        ni += g->type == GEN_IPADD;
    }
    if (nd > 0 && (out->dns = calloc(nd, sizeof(*out->dns))) == NULL) {
        goto oom;
    }
    if (ni > 0 && (out->ips = calloc(ni, sizeof(*out->ips))) == NULL) {
        goto oom;
    }
    for (int i = 0; i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS) {
            const ASN1_STRING *s = g->d.dNSName;
            /* Escaping '\' and NUL keeps "bank.example\0.evil.net" from ever reading as
             * "bank.example" (the null-prefix attack). */
            char *d = dup_escaped(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), true);
            if (d == NULL) {
                goto oom;
            }
            out->dns[out->n_dns++] = d;
        } else if (g->type == GEN_IPADD) {
            const ASN1_STRING *s = g->d.iPAddress;
            struct tl_san_ip *ip = &out->ips[out->n_ips++];
            int len = ASN1_STRING_length(s);
            if (len == 4 || len == 16) {
                ip->family = len == 4 ? AF_INET : AF_INET6;
                memcpy(ip->addr, ASN1_STRING_get0_data(s), (size_t)len);
                inet_ntop(ip->family, ip->addr, ip->text, sizeof(ip->text));
            } else {
                /* RFC 5280 §4.2.1.6: 4 or 16 octets in a SAN; anything else cannot match. */
                snprintf(ip->text, sizeof(ip->text), "invalid (%d bytes)", len);
            }
        }
    }
    rc = TL_OK;
    goto out;
oom:
    TL_ERR(err, TL_E_RESOURCE, NULL, "out of memory while reading the certificate's names");
out:
    GENERAL_NAMES_free(gens);
    return rc;
}

void tl_asn1_time_text(const ASN1_TIME *t, char *text, size_t cap, time_t *when)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    /* ASN1_TIME_to_tm(NULL) would give the current time: never what we mean here. */
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        snprintf(text, cap, "(invalid date)");
        if (when) {
            *when = 0;
        }
        return;
    }
    /* ASN1_TIME_to_tm gives in-range fields (years 0..9999); the modulos tell the compiler. */
    snprintf(text, cap, "%04u-%02u-%02u %02u:%02u:%02u UTC",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u);
    if (when) {
        *when = timegm(&tm);
    }
}

static void hex_colons(const char *label, const unsigned char *md, size_t len, struct tl_sb *b)
{
    static const char hex[] = "0123456789ABCDEF";
    tl_sb_puts(b, label);
    for (size_t i = 0; i < len; i++) {
        char pair[3] = { hex[md[i] >> 4], hex[md[i] & 15], ':' };
        tl_sb_putn(b, pair, i + 1 < len ? 3 : 2);
    }
}

static void fp_text(const char *label, const unsigned char *md, size_t len, char *out, size_t cap)
{
    struct tl_sb b;
    tl_sb_init(&b, out, cap);
    hex_colons(label, md, len, &b);
    tl_sb_done(&b);
}

static bool read_digests(X509 *x, struct tl_peer_cert *out)
{
    unsigned int n256 = 0;
    unsigned int n1 = 0;
    if (X509_digest(x, EVP_sha256(), out->sha256, &n256) != 1 || n256 != TL_SHA256_LEN ||
        X509_digest(x, EVP_sha1(), out->sha1, &n1) != 1 || n1 != TL_SHA1_LEN) {
        return false;
    }
    fp_text("SHA256:", out->sha256, TL_SHA256_LEN, out->sha256_text, sizeof(out->sha256_text));
    fp_text("SHA1:", out->sha1, TL_SHA1_LEN, out->sha1_text, sizeof(out->sha1_text));
    return true;
}

static void read_key(X509 *x, struct tl_peer_cert *out)
{
    EVP_PKEY *pk = X509_get0_pubkey(x);
    const char *type = NULL;
    if (pk != NULL) {
        type = EVP_PKEY_get0_type_name(pk);
        if (type == NULL) {
            type = OBJ_nid2sn(EVP_PKEY_get_base_id(pk));
        }
        out->key_bits = EVP_PKEY_get_bits(pk);
    }
    snprintf(out->key_type, sizeof(out->key_type), "%s", type != NULL ? type : "unknown");
}

enum tl_rc tl_peer_cert_from_x509(X509 *x, struct tl_peer_cert *out, struct tl_err *err)
{
    enum tl_rc rc;
    memset(out, 0, sizeof(*out));
    if (x == NULL) {
        TL_FAIL(err, TL_E_TLS, NULL, "no certificate");
    }
    out->subject = name_oneline(X509_get_subject_name(x));
    out->issuer = name_oneline(X509_get_issuer_name(x));
    out->serial = serial_hex(X509_get0_serialNumber(x));
    if (out->subject == NULL || out->issuer == NULL || out->serial == NULL || !read_cn(x, out)) {
        rc = TL_ERR(err, TL_E_RESOURCE, NULL, "out of memory while reading the certificate");
        goto fail;
    }
    rc = read_sans(x, out, err);
    if (rc != TL_OK) {
        goto fail;
    }
    if (!read_digests(x, out)) {
        rc = TL_ERR(err, TL_E_TLS, NULL, "cannot compute the certificate's SHA-256/SHA-1 digest");
        goto fail;
    }
    tl_asn1_time_text(X509_get0_notBefore(x), out->not_before, sizeof(out->not_before),
                      &out->not_before_t);
    tl_asn1_time_text(X509_get0_notAfter(x), out->not_after, sizeof(out->not_after),
                      &out->not_after_t);
    read_key(x, out);
    return TL_OK;
fail:
    tl_peer_cert_fini(out);
    return rc;
}

void tl_peer_cert_fini(struct tl_peer_cert *pc)
{
    if (pc == NULL) {
        return;
    }
    free(pc->subject);
    free(pc->issuer);
    free(pc->serial);
    free(pc->cn);
    for (size_t i = 0; i < pc->n_dns; i++) {
        free(pc->dns[i]);
    }
    free(pc->dns);
    free(pc->ips);
    memset(pc, 0, sizeof(*pc));
}

/* The names a certificate is matched by, at most `max` of them, then "... (N more)". */
static void put_names(struct tl_sb *b, const struct tl_peer_cert *pc, size_t max)
{
    size_t total = pc->n_dns + pc->n_ips + (pc->n_dns == 0 && pc->cn != NULL);
    size_t shown = 0;
    if (total == 0) {
        tl_sb_puts(b, "no names");
        return;
    }
    for (size_t i = 0; i < pc->n_dns && shown < max; i++, shown++) {
        tl_sb_printf(b, "%sDNS:%s", shown ? ", " : "", pc->dns[i]);
    }
    for (size_t i = 0; i < pc->n_ips && shown < max; i++, shown++) {
        tl_sb_printf(b, "%sIP:%s", shown ? ", " : "", pc->ips[i].text);
    }
    if (pc->n_dns == 0 && pc->cn != NULL && shown < max) {
        tl_sb_printf(b, "%sCN:%s", shown ? ", " : "", pc->cn);
        shown++;
    }
    if (shown < total) {
        tl_sb_printf(b, ", ... (%zu more)", total - shown);
    }
}

size_t tl_peer_cert_names(const struct tl_peer_cert *pc, char *out, size_t cap)
{
    struct tl_sb b;
    tl_sb_init(&b, out, cap);
    if (pc == NULL) {
        tl_sb_puts(&b, "no certificate");
    } else {
        put_names(&b, pc, SIZE_MAX);
    }
    return tl_sb_done(&b);
}

static bool name_permitted(const char *name, const char *pattern)
{
    return tl_name_match(pattern, name) || tl_cert_name_match(name, pattern);
}

bool tl_peer_cert_permitted(const struct tl_peer_cert *pc, const char *const *patterns, size_t n)
{
    if (pc == NULL || patterns == NULL) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const char *p = patterns[i];
        struct tl_san_ip want;
        if (p == NULL) {
            continue;
        }
        if (tl_ip_pattern_parse(p, &want)) {
            for (size_t j = 0; j < pc->n_ips; j++) {
                if (tl_san_ip_equal(&want, &pc->ips[j])) {
                    return true;
                }
            }
            continue;
        }
        /* RFC 5425 §5.2 / RFC 6125 §6.4.4: the CN is a name only without dNSName SANs. */
        if (pc->n_dns == 0) {
            if (pc->cn != NULL && name_permitted(pc->cn, p)) {
                return true;
            }
            continue;
        }
        for (size_t j = 0; j < pc->n_dns; j++) {
            if (name_permitted(pc->dns[j], p)) {
                return true;
            }
        }
    }
    return false;
}

size_t tl_fingerprint_format(const struct tl_fingerprint *fp, char *out, size_t cap)
{
    struct tl_sb b;
    tl_sb_init(&b, out, cap);
    if (fp != NULL && (fp->alg == TL_FP_SHA1 || fp->alg == TL_FP_SHA256)) {
        hex_colons(fp->alg == TL_FP_SHA1 ? "SHA1:" : "SHA256:", fp->md, fp->len, &b);
    }
    return tl_sb_done(&b);
}

bool tl_fingerprint_matches(const struct tl_fingerprint *fp, X509 *x)
{
    if (fp == NULL || x == NULL) {
        return false;
    }
    const EVP_MD *md = NULL;
    if (fp->alg == TL_FP_SHA256 && fp->len == TL_SHA256_LEN) {
        md = EVP_sha256();
    } else if (fp->alg == TL_FP_SHA1 && fp->len == TL_SHA1_LEN) {
        md = EVP_sha1();
    } else {
        return false;
    }
    unsigned char got[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    return X509_digest(x, md, got, &n) == 1 && n == fp->len && memcmp(got, fp->md, n) == 0;
}

bool tl_peer_cert_fingerprint_listed(const struct tl_peer_cert *pc,
                                     const struct tl_fingerprint *fps, size_t n)
{
    if (pc == NULL || fps == NULL) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (fps[i].alg == TL_FP_SHA256 && fps[i].len == TL_SHA256_LEN &&
            memcmp(fps[i].md, pc->sha256, TL_SHA256_LEN) == 0) {
            return true;
        }
        if (fps[i].alg == TL_FP_SHA1 && fps[i].len == TL_SHA1_LEN &&
            memcmp(fps[i].md, pc->sha1, TL_SHA1_LEN) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- failure messages --------------------------------------------------------------------- */

const char *tl_verify_reason(long r)
{
    switch (r) {
    case X509_V_OK:
        return "no error";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return "the certificate was issued by a CA that is not trusted";
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return "the certificate chain ends in a CA that is not trusted";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return "the certificate is self-signed and not trusted";
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return "the certificate has expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return "the certificate is not valid yet";
    case X509_V_ERR_CERT_REVOKED:
        return "the certificate has been revoked";
    case X509_V_ERR_UNABLE_TO_GET_CRL:
        return "no CRL was found for the certificate's issuer";
    case X509_V_ERR_CRL_HAS_EXPIRED:
        return "the CRL has expired";
    case X509_V_ERR_CRL_NOT_YET_VALID:
        return "the CRL is not valid yet";
    case X509_V_ERR_INVALID_PURPOSE:
        return "the certificate's extended key usage does not allow this TLS role";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return "the certificate's names do not match the expected peer";
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return "the certificate's signature does not verify";
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        return "the certificate chain is longer than the allowed verify depth";
    case X509_V_ERR_EE_KEY_TOO_SMALL:
        return "the certificate's key is too small for the security level";
    case X509_V_ERR_CA_KEY_TOO_SMALL:
    case X509_V_ERR_CA_MD_TOO_WEAK:
        return "a CA in the chain uses a key or digest too weak for the security level";
    case X509_V_ERR_INVALID_CA:
        return "a certificate in the chain acts as a CA but is not a CA certificate";
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
        return "the certificate has a malformed validity date";
    default:
        return X509_verify_cert_error_string(r);
    }
}

static const char *or_default(const char *s, const char *def)
{
    return s != NULL ? s : def;
}

static const char *dn(const char *s)
{
    return s == NULL ? "(unknown)" : (s[0] == '\0' ? "(empty name)" : s);
}

static void put_patterns(struct tl_sb *b, const char *const *names, size_t n)
{
    tl_sb_puts(b, "[");
    for (size_t i = 0; i < n && i < LIST_MAX; i++) {
        tl_sb_puts(b, i ? ", " : "");
        tl_sb_put_escaped(b, names != NULL && names[i] != NULL ? names[i] : "");
    }
    if (n > LIST_MAX) {
        tl_sb_printf(b, ", ... (%zu more)", n - LIST_MAX);
    }
    tl_sb_puts(b, "]");
}

static void msg_no_cert(struct tl_sb *b, const struct tl_verify_failure *f)
{
    if (f->auth_mode != NULL) {
        tl_sb_puts(b, "the peer sent no certificate but auth mode '");
        tl_sb_put_escaped(b, f->auth_mode);
        tl_sb_puts(b, "' requires one");
    } else {
        tl_sb_puts(b, "the peer sent no certificate but the auth mode requires one");
    }
    if (f->side == TL_VERIFY_OUTPUT) {
        tl_sb_puts(b, "; hint: configure a certificate and key on the server");
    } else {
        tl_sb_printf(b, "; hint: configure %s on the client",
                  or_default(f->client_cert_key, "tls.cert_file and tls.key_file"));
    }
}

static void msg_name(struct tl_sb *b, const struct tl_verify_failure *f)
{
    const struct tl_peer_cert *pc = f->peer;
    bool out = f->side == TL_VERIFY_OUTPUT;
    const char *key = or_default(f->names_key, out ? "the server name" : "permitted_peers");
    size_t total = pc->n_dns + pc->n_ips + (pc->n_dns == 0 && pc->cn != NULL);
    if (total == 0) {
        tl_sb_printf(b, "certificate (subject %s) carries no DNS name, IP address or CN to match "
                  "%s ", dn(pc->subject), key);
        put_patterns(b, f->names, f->n_names);
        tl_sb_puts(b, "; hint: reissue it with a subjectAltName naming the host");
        return;
    }
    tl_sb_puts(b, "certificate names ");
    put_names(b, pc, LIST_MAX);
    tl_sb_printf(b, " do not match %s ", key);
    put_patterns(b, f->names, f->n_names);
    if (out) {
        tl_sb_puts(b, "; hint: connect to the server by one of these names, or reissue its "
                "certificate with the name you use");
    } else {
        tl_sb_printf(b, "; hint: add one of its names to %s", key);
    }
}

static void msg_fingerprint(struct tl_sb *b, const struct tl_verify_failure *f)
{
    const struct tl_peer_cert *pc = f->peer;
    const char *key = or_default(f->fp_key, "fingerprints");
    tl_sb_printf(b, "certificate fingerprint %s (subject %s) is not in %s; hint: if this peer is "
              "legitimate, add this line to %s: \"%s\"", pc->sha256_text, dn(pc->subject), key,
              key, pc->sha256_text);
}

static void msg_ca_as_leaf(struct tl_sb *b, const struct tl_verify_failure *f)
{
    const struct tl_peer_cert *pc = f->peer;
    tl_sb_printf(b, "certificate (subject %s) is a CA certificate (basicConstraints CA:TRUE), not "
              "a leaf: a CA certificate is never accepted as a peer's own certificate; hint: "
              "issue the %s a leaf certificate (CA:FALSE) from the CA", dn(pc->subject),
              f->side == TL_VERIFY_OUTPUT ? "server" : "client");
}

static void msg_chain(struct tl_sb *b, const struct tl_verify_failure *f)
{
    const struct tl_peer_cert *c = f->at_depth != NULL ? f->at_depth : f->peer;
    const char *subject = dn(c != NULL ? c->subject : NULL);
    const char *issuer = dn(c != NULL ? c->issuer : NULL);
    const char *ca_key = or_default(f->ca_key, "tls.ca_file (or tls.ca_dir)");
    const char *crl_key = or_default(f->crl_key, "tls.crl_file");
    bool out = f->side == TL_VERIFY_OUTPUT;

    switch (f->x509_result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        tl_sb_printf(b, "certificate verify failed: the peer's certificate was issued by '%s'",
                  issuer);
        if (f->depth > 0 && c != NULL && strcmp(subject, issuer) != 0) {
            tl_sb_printf(b, " (through '%s')", subject);
        }
        tl_sb_printf(b, " which is not among the trusted CAs; hint: add that CA to %s", ca_key);
        if (f->x509_result != X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN) {
            /* Field survey pain 9: a peer that sends only its leaf looks exactly like this. */
            tl_sb_puts(b, "; if it is an intermediate CA, the peer must send it after its own "
                    "certificate in its cert file");
        }
        break;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        tl_sb_printf(b, "certificate verify failed: the peer's certificate '%s' is self-signed and "
                  "not among the trusted CAs; hint: add it to %s", subject, ca_key);
        if (c != NULL) {
            tl_sb_printf(b, ", or list its fingerprint \"%s\" in %s", c->sha256_text,
                      or_default(f->fp_key, "fingerprints"));
        }
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        tl_sb_printf(b, "certificate expired on %s (subject %s); hint: %s",
                  c != NULL ? c->not_after : "(unknown date)", subject,
                  f->depth > 0 ? "renew that CA certificate (in the peer's chain or in the CA file)"
                               : "renew the peer's certificate");
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        tl_sb_printf(b, "certificate is not valid before %s (subject %s); hint: check the clocks of "
                  "both hosts", c != NULL ? c->not_before : "(unknown date)", subject);
        break;
    case X509_V_ERR_CERT_REVOKED:
        if (f->depth > 0) {
            /* CRLs are checked for the whole chain: an intermediate CA can be revoked. */
            tl_sb_printf(b, "the CA certificate '%s' (serial %s) in the peer's chain has been revoked "
                      "by the CRL in %s; hint: the peer needs a certificate from a CA that is not "
                      "revoked", subject, c != NULL && c->serial != NULL ? c->serial : "?",
                      crl_key);
            break;
        }
        tl_sb_printf(b, "certificate (%s, serial %s) has been revoked by the CRL in %s; hint: the "
                  "peer needs a new certificate", subject,
                  c != NULL && c->serial != NULL ? c->serial : "?", crl_key);
        break;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
        tl_sb_printf(b, "certificate verify failed: no CRL issued by '%s' was found in %s; hint: add "
                  "that CA's current CRL to %s", issuer, crl_key, crl_key);
        break;
    case X509_V_ERR_CRL_HAS_EXPIRED:
        tl_sb_printf(b, "the CRL issued by '%s' in %s has expired; hint: fetch a fresh CRL from that "
                  "CA", issuer, crl_key);
        break;
    case X509_V_ERR_CRL_NOT_YET_VALID:
        tl_sb_printf(b, "the CRL issued by '%s' in %s is not valid yet; hint: check this host's "
                  "clock", issuer, crl_key);
        break;
    case X509_V_ERR_INVALID_PURPOSE:
        tl_sb_printf(b, "certificate (subject %s) is not allowed for TLS %s authentication by its "
                  "extended key usage; hint: reissue it with extendedKeyUsage %s", subject,
                  out ? "server" : "client", out ? "serverAuth" : "clientAuth");
        break;
    default:
        tl_sb_printf(b, "certificate verify failed: %s (subject %s, depth %d)",
                  tl_verify_reason(f->x509_result), subject, f->depth);
        break;
    }
}

size_t tl_verify_message(const struct tl_verify_failure *f, char *out, size_t cap)
{
    struct tl_sb b;
    tl_sb_init(&b, out, cap);
    if (f == NULL) {
        tl_sb_puts(&b, "certificate verification failed");
        return tl_sb_done(&b);
    }
    enum tl_verify_fail kind = f->kind;
    if (kind == TL_VERIFY_CHAIN && (f->x509_result == X509_V_ERR_HOSTNAME_MISMATCH ||
                                    f->x509_result == X509_V_ERR_IP_ADDRESS_MISMATCH)) {
        kind = TL_VERIFY_NAME;
    }
    /* Without a certificate there is no name or fingerprint to disagree with. */
    if ((kind == TL_VERIFY_NAME || kind == TL_VERIFY_FINGERPRINT ||
         kind == TL_VERIFY_CA_AS_LEAF) && f->peer == NULL) {
        kind = TL_VERIFY_NO_CERT;
    }
    switch (kind) {
    case TL_VERIFY_CHAIN:
        msg_chain(&b, f);
        break;
    case TL_VERIFY_NAME:
        msg_name(&b, f);
        break;
    case TL_VERIFY_FINGERPRINT:
        msg_fingerprint(&b, f);
        break;
    case TL_VERIFY_NO_CERT:
        msg_no_cert(&b, f);
        break;
    case TL_VERIFY_CA_AS_LEAF:
        msg_ca_as_leaf(&b, f);
        break;
    default:
        tl_sb_puts(&b, "certificate verification failed");
        break;
    }
    return tl_sb_done(&b);
}

/* ---- alerts ------------------------------------------------------------------------------- */

const char *tl_alert_name(int alert)
{
    switch (alert) {
    case TL_ALERT_HANDSHAKE_FAILURE:
        return "handshake_failure";
    case TL_ALERT_BAD_CERTIFICATE:
        return "bad_certificate";
    case TL_ALERT_UNSUPPORTED_CERTIFICATE:
        return "unsupported_certificate";
    case TL_ALERT_CERTIFICATE_REVOKED:
        return "certificate_revoked";
    case TL_ALERT_CERTIFICATE_EXPIRED:
        return "certificate_expired";
    case TL_ALERT_CERTIFICATE_UNKNOWN:
        return "certificate_unknown";
    case TL_ALERT_UNKNOWN_CA:
        return "unknown_ca";
    case TL_ALERT_ACCESS_DENIED:
        return "access_denied";
    case TL_ALERT_INTERNAL_ERROR:
        return "internal_error";
    case TL_ALERT_CERTIFICATE_REQUIRED:
        return "certificate_required";
    default:
        return "another alert";
    }
}

bool tl_alert_refuses_cert(int alert)
{
    switch (alert) {
    case TL_ALERT_BAD_CERTIFICATE:
    case TL_ALERT_UNSUPPORTED_CERTIFICATE:
    case TL_ALERT_CERTIFICATE_REVOKED:
    case TL_ALERT_CERTIFICATE_EXPIRED:
    case TL_ALERT_CERTIFICATE_UNKNOWN:
    case TL_ALERT_UNKNOWN_CA:
    case TL_ALERT_ACCESS_DENIED:
    case TL_ALERT_CERTIFICATE_REQUIRED:
        return true;
    default:
        return false;
    }
}

/* "our certificate (DNS:a.example.net, ...)" material: at most 4 names, so that the hint
 * keeps its room in a log line. */
static void put_our_names(struct tl_sb *b, const struct tl_peer_cert *ours)
{
    if (ours == NULL) {
        tl_sb_puts(b, "none");
        return;
    }
    put_names(b, ours, 4);
}

size_t tl_alert_message(int alert, enum tl_verify_side side, const struct tl_peer_cert *ours,
                        const char *cert_keys, char *out, size_t cap)
{
    bool client = side == TL_VERIFY_OUTPUT;
    const char *who = client ? "the loghost" : "the client";
    const char *keys = or_default(cert_keys, "tls.cert_file and tls.key_file");
    const char *issuer = dn(ours != NULL ? ours->issuer : NULL);
    struct tl_sb b;
    if (!tl_alert_refuses_cert(alert) && alert != TL_ALERT_HANDSHAKE_FAILURE &&
        alert != TL_ALERT_INTERNAL_ERROR) {
        if (cap > 0) {
            out[0] = '\0';
        }
        return 0;
    }
    tl_sb_init(&b, out, cap);
    if (alert == TL_ALERT_CERTIFICATE_REQUIRED || (ours == NULL && client)) {
        tl_sb_printf(&b, "%s requires a client certificate (alert %s); hint: set %s", who,
                  tl_alert_name(alert), keys);
        return tl_sb_done(&b);
    }
    switch (alert) {
    case TL_ALERT_ACCESS_DENIED:
    case TL_ALERT_CERTIFICATE_UNKNOWN:
        /* tlslogd sends certificate_unknown for a name or fingerprint it does not permit:
         * OpenSSL 3.0 maps verification results to a fixed set of alerts, without
         * access_denied. */
        tl_sb_printf(&b, "%s refused our certificate: alert %s: it does not permit the names in "
                  "our certificate (", who, tl_alert_name(alert));
        put_our_names(&b, ours);
        if (client) {
            tl_sb_printf(&b, "), or our fingerprint %s; hint: ask for one of them to be added to "
                      "its permitted_peers (or the fingerprint to its fingerprints), or use a "
                      "certificate with a permitted name", ours->sha256_text);
        } else {
            tl_sb_puts(&b, ") for the name it connects to; hint: the client must connect by one of "
                    "these names, or permit one (tlslogd: tls.permitted_peers, rsyslog: "
                    "StreamDriverPermittedPeers), or pin our fingerprint");
        }
        break;
    case TL_ALERT_UNKNOWN_CA:
        tl_sb_printf(&b, "%s refused our certificate: alert unknown_ca: it does not trust '%s', the "
                  "CA that issued our certificate; hint: install that CA's certificate in its CA "
                  "file (tlslogd: tls.ca_file, rsyslog: DefaultNetstreamDriverCAFile, syslog-ng: "
                  "ca-file()), or, if it is an intermediate CA, append it to our certificate file", who,
                  issuer);
        break;
    case TL_ALERT_CERTIFICATE_EXPIRED:
        tl_sb_printf(&b, "%s refused our certificate: alert certificate_expired: our certificate "
                  "(valid until %s) has expired by its clock, or a CRL it checks has; hint: renew "
                  "our certificate, or compare the two hosts' clocks", who,
                  ours->not_after);
        break;
    case TL_ALERT_CERTIFICATE_REVOKED:
        tl_sb_printf(&b, "%s refused our certificate: alert certificate_revoked: our certificate "
                  "(serial %s) or a CA above it is revoked by a CRL it holds; hint: get a new "
                  "certificate", who, ours->serial != NULL ? ours->serial : "?");
        break;
    case TL_ALERT_BAD_CERTIFICATE:
        tl_sb_printf(&b, "%s refused our certificate: alert bad_certificate: it finds our "
                  "certificate (", who);
        put_our_names(&b, ours);
        tl_sb_printf(&b, ") invalid: not valid before %s by its clock, a signature that does not "
                  "verify, or (OpenSSL peers) names that do not match the name it %s; hint: its "
                  "log says which", ours->not_before, client ? "expects" : "connects to");
        break;
    case TL_ALERT_UNSUPPORTED_CERTIFICATE:
        tl_sb_printf(&b, "%s refused our certificate: alert unsupported_certificate: its extended "
                  "key usage does not allow TLS %s authentication, or it is a CA certificate "
                  "(CA:TRUE); hint: reissue it as a leaf certificate with extendedKeyUsage %s",
                  who, client ? "client" : "server", client ? "clientAuth" : "serverAuth");
        break;
    case TL_ALERT_INTERNAL_ERROR:
        tl_sb_printf(&b, "%s aborted the handshake with alert internal_error: a tlslogd peer sends "
                  "it when it has no current CRL for a CA in our chain ('%s'), or its CRL "
                  "expired; hint: its log names the CRL", who, issuer);
        break;
    case TL_ALERT_HANDSHAKE_FAILURE:
    default:
        if (ours != NULL) {
            tl_sb_printf(&b, "%s aborted the handshake (alert handshake_failure): it refused our "
                      "certificate (", who);
            put_our_names(&b, ours);
            tl_sb_puts(&b, ") without saying why (older tlslogd versions do this when the names "
                    "are not permitted), or there is no cipher in common; hint: its log says "
                    "which");
        } else {
            tl_sb_printf(&b, "%s aborted the handshake (alert handshake_failure): no cipher in "
                      "common, or it wants something we did not send; hint: compare tls.ciphers "
                      "and tls.ciphersuites with its settings; its log says which", who);
        }
        break;
    }
    return tl_sb_done(&b);
}
