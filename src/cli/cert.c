/*
 * cert.c: `tlslog cert`, the certificates syslog over TLS needs (RFC 5425), one command each.
 *
 * What each command writes is fixed by the RFC and by what OpenSSL, GnuTLS and the rsyslog
 * and syslog-ng TLS drivers accept without extra configuration:
 *   - CA: self-signed X.509v3, basicConstraints critical CA:TRUE, keyUsage critical
 *     keyCertSign+cRLSign, SKI, AKI.
 *   - peer: basicConstraints critical CA:FALSE, keyUsage critical digitalSignature (plus
 *     keyEncipherment for RSA), extendedKeyUsage serverAuth+clientAuth (a syslog peer is a
 *     TLS server on one side and a client on the other), subjectAltName with every name
 *     (RFC 5425 §5.2 matches dNSName and iPAddress SANs), SKI, AKI.
 *   - serial numbers: 16 random bytes, positive (RFC 5280 §4.1.2.2).
 *   - CRL: v2, CRL number and AKI (RFC 5280 §5.2), every earlier revocation kept.
 *
 * Files are never overwritten without --force: keys are created with O_CREAT|O_EXCL and mode
 * 0600, and every output path is checked before any key is generated, so a refused command
 * changes nothing. The CRL is replaced atomically (temporary file, then rename).
 */
#include "cli/cert.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/cli.h"
#include "transport/tls_verify.h"

#define CA_DAYS_DEFAULT 3650UL
#define LEAF_DAYS_DEFAULT 825UL
#define CRL_DAYS_DEFAULT 30UL
#define DAYS_MAX 36500UL
#define CRL_DAYS_MAX 3650UL
#define CA_NAME_DEFAULT "Example Log CA"
/* notBefore is set this far in the past, so that a peer whose clock is a little behind
 * does not reject a certificate made a moment ago. */
#define SKEW_SECONDS 300L
#define SERIAL_BYTES 16
/* ub-common-name, RFC 5280 appendix A.1. */
#define CN_MAX 64
/* A certificate or key file larger than this is not one. */
#define FILE_MAX (16 * 1024 * 1024)

enum key_alg {
    KEY_EC = 0,
    KEY_RSA = 1,
};

/* ---- small helpers ------------------------------------------------------------------------ */

/* OpenSSL's reason for the failure just seen, for the end of a sentence; empties the queue. */
static const char *ssl_why(void)
{
    static char why[160];
    unsigned long e = ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    snprintf(why, sizeof(why), "%s", reason != NULL ? reason : "unknown OpenSSL error");
    ERR_clear_error();
    return why;
}

/* "DIR/NAME" into out; false (with the error printed) when it does not fit. */
static bool path_in(char *out, size_t cap, const char *dir, const char *name)
{
    size_t dlen = strlen(dir);
    const char *sep = dlen > 0 && dir[dlen - 1] == '/' ? "" : "/";
    int n = snprintf(out, cap, "%s%s%s", dir, sep, name);
    if (n < 0 || (size_t)n >= cap) {
        tl_cli_fail("the path %s%s%s is too long", dir, sep, name);
        return false;
    }
    return true;
}

/* "PREFIXsuffix" into out; false (with the error printed) when it does not fit. */
static bool path_cat(char *out, size_t cap, const char *prefix, const char *suffix)
{
    int n = snprintf(out, cap, "%s%s", prefix, suffix);
    if (n < 0 || (size_t)n >= cap) {
        tl_cli_fail("the path %s%s is too long", prefix, suffix);
        return false;
    }
    return true;
}

/* Reads a whole (small) file. *data is NUL-terminated, for the text searches below. */
static bool read_all(const char *path, unsigned char **data, size_t *len)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t used = 0;
    size_t cap = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            tl_cli_fail("%s does not exist", path);
        } else {
            tl_cli_fail("cannot open %s: %s", path, strerror(errno));
        }
        return false;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        tl_cli_fail("%s is not a regular file", path);
        close(fd);
        return false;
    }
    for (;;) {
        ssize_t n;
        if (cap - used < 2) {
            size_t ncap = cap == 0 ? 16384 : cap * 2;
            unsigned char *nbuf;
            if (ncap > FILE_MAX + 2) {
                tl_cli_fail("%s is larger than %d MiB, too large for a certificate or key file",
                            path, FILE_MAX / (1024 * 1024));
                goto fail;
            }
            nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                tl_cli_fail("out of memory reading %s", path);
                goto fail;
            }
            buf = nbuf;
            cap = ncap;
        }
        n = read(fd, buf + used, cap - used - 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            tl_cli_fail("cannot read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0) {
            break;
        }
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    *data = buf;
    *len = used;
    return true;
fail:
    close(fd);
    if (buf != NULL) {
        OPENSSL_cleanse(buf, cap);
    }
    free(buf);
    return false;
}

/* Frees file contents that may hold a private key. */
static void free_secret(unsigned char *data, size_t len)
{
    if (data != NULL) {
        OPENSSL_cleanse(data, len);
    }
    free(data);
}

/* ---- reading certificates and keys -------------------------------------------------------- */

/* What a PEM (or DER) file holds. */
struct scan {
    STACK_OF(X509) *certs;
    bool has_key;
    bool has_crl;
    bool has_csr;
    bool has_pubkey;
};

static void scan_fini(struct scan *s)
{
    sk_X509_pop_free(s->certs, X509_free);
    memset(s, 0, sizeof(*s));
}

static bool is_cert_block(const char *name)
{
    return strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_OLD) == 0 ||
           strcmp(name, PEM_STRING_X509_TRUSTED) == 0;
}

/* Takes one decoded certificate into s->certs. */
static bool scan_push(struct scan *s, X509 *x, const char *path)
{
    if (x == NULL) {
        tl_cli_fail("certificate %d in %s cannot be decoded: %s", sk_X509_num(s->certs) + 1,
                    path, ssl_why());
        return false;
    }
    if (sk_X509_push(s->certs, x) <= 0) {
        X509_free(x);
        tl_cli_fail("out of memory reading %s", path);
        return false;
    }
    return true;
}

/*
 * Reads every PEM block in `path`: certificates into s->certs, in file order; other kinds are
 * only noted. A file without any PEM block may be one DER certificate. Prints the error and
 * returns false when the file cannot be read or a block is damaged.
 */
static bool scan_file(const char *path, struct scan *s)
{
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    bool ok = false;
    int blocks = 0;

    memset(s, 0, sizeof(*s));
    s->certs = sk_X509_new_null();
    if (s->certs == NULL) {
        tl_cli_fail("out of memory reading %s", path);
        return false;
    }
    if (!read_all(path, &data, &len)) {
        goto out;
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL) {
        tl_cli_fail("out of memory reading %s", path);
        goto out;
    }
    ERR_clear_error();
    for (;;) {
        char *name = NULL;
        char *header = NULL;
        unsigned char *der = NULL;
        long der_len = 0;
        bool pushed = true;
        if (PEM_read_bio(bio, &name, &header, &der, &der_len) != 1) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                break;
            }
            tl_cli_fail("%s holds a damaged PEM block (%s)", path, ssl_why());
            goto out;
        }
        blocks++;
        if (is_cert_block(name)) {
            const unsigned char *p = der;
            X509 *x = strcmp(name, PEM_STRING_X509_TRUSTED) == 0 ? d2i_X509_AUX(NULL, &p, der_len)
                                                                  : d2i_X509(NULL, &p, der_len);
            pushed = scan_push(s, x, path);
        } else if (strstr(name, "PRIVATE KEY") != NULL) {
            s->has_key = true;
        } else if (strcmp(name, PEM_STRING_X509_CRL) == 0) {
            s->has_crl = true;
        } else if (strstr(name, "CERTIFICATE REQUEST") != NULL) {
            s->has_csr = true;
        } else if (strstr(name, "PUBLIC KEY") != NULL) {
            s->has_pubkey = true;
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        if (der != NULL) {
            OPENSSL_cleanse(der, (size_t)der_len);
        }
        OPENSSL_free(der);
        if (!pushed) {
            goto out;
        }
    }
    if (blocks == 0 && len > 0 && data[0] == 0x30) {
        /* No PEM at all: maybe one DER certificate (ASN.1 SEQUENCE). */
        const unsigned char *p = data;
        X509 *x = d2i_X509(NULL, &p, (long)len);
        ERR_clear_error();
        if (x != NULL && p == data + len) {
            if (!scan_push(s, x, path)) {
                goto out;
            }
        } else {
            X509_free(x);
        }
    }
    ok = true;
out:
    BIO_free(bio);
    free_secret(data, len);
    if (!ok) {
        scan_fini(s);
    }
    return ok;
}

/* scan_file, then a clear sentence when the file holds no certificate at all. */
static bool load_certs(const char *path, struct scan *s)
{
    if (!scan_file(path, s)) {
        return false;
    }
    if (sk_X509_num(s->certs) > 0) {
        return true;
    }
    if (s->has_key) {
        tl_cli_fail("%s holds a private key, not a certificate", path);
    } else if (s->has_crl) {
        tl_cli_fail("%s holds a certificate revocation list, not a certificate", path);
    } else if (s->has_csr) {
        tl_cli_fail("%s holds a certificate request, not a certificate", path);
    } else if (s->has_pubkey) {
        tl_cli_fail("%s holds a public key, not a certificate", path);
    } else {
        tl_cli_fail("%s holds no certificate (no PEM 'BEGIN CERTIFICATE' block)", path);
    }
    scan_fini(s);
    return false;
}

/* The first certificate in `path`, or NULL with the error printed. */
static X509 *load_cert(const char *path)
{
    struct scan s;
    X509 *x;
    if (!load_certs(path, &s)) {
        return NULL;
    }
    x = sk_X509_shift(s.certs);
    scan_fini(&s);
    return x;
}

/* Never prompt for a passphrase: tlslog writes and reads unencrypted keys only. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static EVP_PKEY *load_key(const char *path)
{
    unsigned char *data = NULL;
    size_t len = 0;
    BIO *bio;
    EVP_PKEY *key = NULL;
    if (!read_all(path, &data, &len)) {
        return NULL;
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio != NULL) {
        key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
    }
    if (key == NULL) {
        const char *why = ssl_why();
        if (strstr((const char *)data, "ENCRYPTED") != NULL) {
            tl_cli_fail("%s is an encrypted key; tlslog reads unencrypted keys only "
                        "(decrypt a copy with 'openssl pkey')", path);
        } else if (strstr((const char *)data, "BEGIN CERTIFICATE") != NULL) {
            tl_cli_fail("%s holds a certificate, not a private key", path);
        } else {
            tl_cli_fail("%s holds no private key tlslog can read (%s)", path, why);
        }
    }
    free_secret(data, len);
    return key;
}

/* A CA directory: ca.pem, ca-key.pem, and for issuing the optional chain.pem. */
struct ca {
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) *chain;   /* DIR/chain.pem when present: appended to issued certificates */
    char cert_path[PATH_MAX];
    char key_path[PATH_MAX];
};

static void ca_fini(struct ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    sk_X509_pop_free(ca->chain, X509_free);
    memset(ca, 0, sizeof(*ca));
}

static bool ca_load(struct ca *ca, const char *dir, bool with_chain)
{
    char chain_path[PATH_MAX];
    struct stat st;
    memset(ca, 0, sizeof(*ca));
    if (!path_in(ca->cert_path, sizeof(ca->cert_path), dir, "ca.pem") ||
        !path_in(ca->key_path, sizeof(ca->key_path), dir, "ca-key.pem") ||
        !path_in(chain_path, sizeof(chain_path), dir, "chain.pem")) {
        return false;
    }
    if (stat(ca->cert_path, &st) != 0 && errno == ENOENT) {
        tl_cli_fail("there is no CA in %s (no %s); make one with 'tlslog cert ca --out %s'", dir,
                    ca->cert_path, dir);
        return false;
    }
    ca->cert = load_cert(ca->cert_path);
    if (ca->cert == NULL) {
        goto fail;
    }
    if (X509_check_ca(ca->cert) == 0) {
        tl_cli_fail("%s is not a CA certificate (its basicConstraints do not say CA:TRUE)",
                    ca->cert_path);
        goto fail;
    }
    ca->key = load_key(ca->key_path);
    if (ca->key == NULL) {
        goto fail;
    }
    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        ERR_clear_error();
        tl_cli_fail("%s is not the private key of %s", ca->key_path, ca->cert_path);
        goto fail;
    }
    if (with_chain && stat(chain_path, &st) == 0) {
        struct scan s;
        if (!load_certs(chain_path, &s)) {
            goto fail;
        }
        ca->chain = s.certs;
        s.certs = NULL;
        scan_fini(&s);
    }
    return true;
fail:
    ca_fini(ca);
    return false;
}

/* ---- writing files ------------------------------------------------------------------------ */

/* What goes into one output file, in this order. */
struct pem_out {
    const EVP_PKEY *key;
    const X509 *cert;
    const STACK_OF(X509) *chain;
    const X509_CRL *crl;
};

static bool pem_write(FILE *f, const struct pem_out *o)
{
    /* PKCS#8, unencrypted: what tlslogd, rsyslog and syslog-ng all read. */
    if (o->key != NULL && PEM_write_PrivateKey(f, o->key, NULL, NULL, 0, NULL, NULL) != 1) {
        return false;
    }
    if (o->cert != NULL && PEM_write_X509(f, o->cert) != 1) {
        return false;
    }
    for (int i = 0; o->chain != NULL && i < sk_X509_num(o->chain); i++) {
        if (PEM_write_X509(f, sk_X509_value(o->chain, i)) != 1) {
            return false;
        }
    }
    if (o->crl != NULL && PEM_write_X509_CRL(f, o->crl) != 1) {
        return false;
    }
    return true;
}

/* Writes `o` into the open `fd` (taken: always closed) and syncs it. */
static bool write_fd(int fd, const char *path, const struct pem_out *o)
{
    FILE *f = fdopen(fd, "w");
    bool ok;
    if (f == NULL) {
        tl_cli_fail("cannot write %s: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    ok = pem_write(f, o) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (!ok) {
        int e = errno;
        const char *why = ERR_peek_last_error() != 0 ? ssl_why() : strerror(e);
        tl_cli_fail("cannot write %s: %s", path, why);
    }
    if (fclose(f) != 0 && ok) {
        tl_cli_fail("cannot write %s: %s", path, strerror(errno));
        ok = false;
    }
    return ok;
}

/* True when `path` may be written: it does not exist, or --force was given. */
static bool check_free(const char *path, bool force)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!force) {
            tl_cli_fail("%s already exists; pass --force to replace it", path);
            return false;
        }
        if (S_ISDIR(st.st_mode)) {
            tl_cli_fail("%s is a directory", path);
            return false;
        }
        return true;
    }
    if (errno != ENOENT) {
        tl_cli_fail("cannot check %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

/*
 * Creates `path` with `mode` (before the umask) and writes `o`. An existing file is an error
 * unless `replace`, which unlinks it first: the new file is always a new inode created with
 * O_EXCL, so a key never inherits an old file's mode or a planted symlink. A failed write
 * removes what it created.
 */
static bool write_new(const char *path, mode_t mode, bool replace, const struct pem_out *o)
{
    int fd;
    if (replace && unlink(path) != 0 && errno != ENOENT) {
        tl_cli_fail("cannot remove the old %s: %s", path, strerror(errno));
        return false;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        if (errno == EEXIST) {
            tl_cli_fail("%s already exists; pass --force to replace it", path);
        } else {
            tl_cli_fail("cannot create %s: %s", path, strerror(errno));
        }
        return false;
    }
    if (!write_fd(fd, path, o)) {
        unlink(path);
        return false;
    }
    return true;
}

/* Replaces `path` atomically: readers see the old file or the new one, never half of one. */
static bool write_replace(const char *path, mode_t mode, const struct pem_out *o)
{
    char tmp[PATH_MAX];
    int fd;
    if (!path_cat(tmp, sizeof(tmp), path, ".XXXXXX")) {
        return false;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        tl_cli_fail("cannot create a temporary file next to %s: %s", path, strerror(errno));
        return false;
    }
    if (fchmod(fd, mode) != 0) {
        tl_cli_fail("cannot set the mode of %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return false;
    }
    if (!write_fd(fd, tmp, o)) {
        unlink(tmp);
        return false;
    }
    if (rename(tmp, path) != 0) {
        tl_cli_fail("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

/* mkdir -p with mode 0700 for what it creates. */
static bool make_dirs(const char *dir)
{
    char buf[PATH_MAX];
    struct stat st;
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof(buf)) {
        tl_cli_fail("'%s' is not a usable directory name", dir);
        return false;
    }
    memcpy(buf, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
                tl_cli_fail("cannot create the directory %s: %s", buf, strerror(errno));
                return false;
            }
            buf[i] = c;
        }
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        tl_cli_fail("%s exists and is not a directory", dir);
        return false;
    }
    return true;
}

/* ---- making keys and certificates --------------------------------------------------------- */

static const char *key_desc(enum key_alg alg)
{
    return alg == KEY_RSA ? "RSA 3072" : "ECDSA P-256";
}

static EVP_PKEY *make_key(enum key_alg alg)
{
    EVP_PKEY *key = alg == KEY_RSA ? EVP_RSA_gen(3072) : EVP_EC_gen("P-256");
    if (key == NULL) {
        tl_cli_fail("cannot generate an %s key: %s", key_desc(alg), ssl_why());
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

struct cert_spec {
    const char *cn;                 /* the subject's CN; NULL: empty subject */
    const char *const *dns;         /* dNSName SANs */
    size_t n_dns;
    const struct tl_san_ip *ips;    /* iPAddress SANs */
    size_t n_ips;
    bool is_ca;
    enum key_alg alg;               /* of the certificate's own key */
    unsigned long days;
    const struct ca *issuer;        /* NULL: self-signed */
};

/*
 * Makes and signs a certificate for `key` as `s` describes. *clamped tells whether notAfter
 * had to be cut to the issuer's. Returns NULL with the error printed.
 */
static X509 *make_cert(const struct cert_spec *s, EVP_PKEY *key, bool *clamped)
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
    } else if (s->alg == KEY_RSA) {
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
    tl_cli_fail("cannot make the certificate: %s", ssl_why());
    X509_free(x);
    return NULL;
}

/* ---- options ------------------------------------------------------------------------------ */

enum {
    OPT_OUT = 1u << 0,
    OPT_CA = 1u << 1,
    OPT_NAME = 1u << 2,       /* one --name (the CA's) */
    OPT_NAMES = 1u << 3,      /* --name, repeatable (DNS names) */
    OPT_IP = 1u << 4,
    OPT_DAYS = 1u << 5,
    OPT_KEY = 1u << 6,
    OPT_FORCE = 1u << 7,
    OPT_CRL_DAYS = 1u << 8,
    OPT_GROUP = 1u << 9,      /* the key's group, mode 0640 (a daemon that drops root) */
};

struct opts {
    const char *prog;           /* "tlslog cert issue" */
    const char *out;
    const char *ca_dir;
    const char *ca_name;
    const char **names;         /* argv pointers */
    size_t n_names;
    struct tl_san_ip *ips;
    size_t n_ips;
    unsigned long days;
    unsigned long crl_days;
    enum key_alg key;
    bool force;
    const char *group;          /* --group: the key file's group */
    gid_t gid;
    char **args;                /* the operands after the options */
    int n_args;
};

static void opts_fini(struct opts *o)
{
    free(o->names);
    free(o->ips);
}

static const struct {
    const char *name;
    int has_arg;
    int val;
    unsigned flags;
} all_options[] = {
    { "out", required_argument, 'o', OPT_OUT },
    { "ca", required_argument, 'c', OPT_CA },
    { "name", required_argument, 'n', OPT_NAME | OPT_NAMES },
    { "ip", required_argument, 'i', OPT_IP },
    { "days", required_argument, 'd', OPT_DAYS },
    { "key", required_argument, 'k', OPT_KEY },
    { "force", no_argument, 'f', OPT_FORCE },
    { "crl-days", required_argument, 'r', OPT_CRL_DAYS },
    { "group", required_argument, 'g', OPT_GROUP },
};

#define N_OPTIONS (sizeof(all_options) / sizeof(all_options[0]))

static int set_once(struct opts *o, const char **slot, const char *opt, const char *value)
{
    if (*slot != NULL) {
        return tl_cli_usage_error(o->prog, "%s given twice", opt);
    }
    *slot = value;
    return -1;
}

static int take_option(struct opts *o, unsigned allowed, int c, const char *arg)
{
    switch (c) {
    case 'o':
        return set_once(o, &o->out, "--out", arg);
    case 'c':
        return set_once(o, &o->ca_dir, "--ca", arg);
    case 'n':
        if ((allowed & OPT_NAMES) != 0) {
            o->names[o->n_names++] = arg;
            return -1;
        }
        return set_once(o, &o->ca_name, "--name", arg);
    case 'i':
        if (!tl_ip_pattern_parse(arg, &o->ips[o->n_ips])) {
            return tl_cli_usage_error(o->prog, "--ip '%s' is not an IPv4 or IPv6 address", arg);
        }
        o->n_ips++;
        return -1;
    case 'd':
        if (!tl_cli_parse_ulong(arg, 1, DAYS_MAX, &o->days)) {
            return tl_cli_usage_error(o->prog, "--days takes a number of days from 1 to %lu, "
                                      "not '%s'", DAYS_MAX, arg);
        }
        return -1;
    case 'r':
        if (!tl_cli_parse_ulong(arg, 1, CRL_DAYS_MAX, &o->crl_days)) {
            return tl_cli_usage_error(o->prog, "--crl-days takes a number of days from 1 to %lu, "
                                      "not '%s'", CRL_DAYS_MAX, arg);
        }
        return -1;
    case 'k':
        if (strcmp(arg, "ec") == 0 || strcmp(arg, "ecdsa") == 0) {
            o->key = KEY_EC;
        } else if (strcmp(arg, "rsa") == 0) {
            o->key = KEY_RSA;
        } else {
            return tl_cli_usage_error(o->prog, "--key is 'ec' or 'rsa', not '%s'", arg);
        }
        return -1;
    case 'f':
        o->force = true;
        return -1;
    case 'g': {
        struct group *gr = getgrnam(arg);
        unsigned long id;
        if (gr == NULL && tl_cli_parse_ulong(arg, 0, UINT32_MAX - 1, &id)) {
            gr = getgrgid((gid_t)id);
        }
        if (gr == NULL) {
            return tl_cli_usage_error(o->prog, "--group '%s' is not a group of this system", arg);
        }
        o->gid = gr->gr_gid;
        return set_once(o, &o->group, "--group", arg);
    }
    default:
        return tl_cli_usage_error(o->prog, "unexpected option");
    }
}

/*
 * Parses the options in `allowed` (OPT_*) plus --help. Returns -1 to go on, or the exit status
 * to return at once (TL_CLI_OK after --help, TL_CLI_USAGE after a usage error).
 */
static int parse_opts(struct opts *o, const char *usage, unsigned allowed, int argc, char **argv)
{
    struct option longopts[N_OPTIONS + 2];
    size_t n = 0;
    int c;

    /* Every repeatable option takes a value, so argc bounds how many there can be. */
    o->names = calloc((size_t)argc, sizeof(*o->names));
    o->ips = calloc((size_t)argc, sizeof(*o->ips));
    if (o->names == NULL || o->ips == NULL) {
        return tl_cli_fail("out of memory");
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if ((all_options[i].flags & allowed) != 0) {
            longopts[n].name = all_options[i].name;
            longopts[n].has_arg = all_options[i].has_arg;
            longopts[n].flag = NULL;
            longopts[n].val = all_options[i].val;
            n++;
        }
    }
    longopts[n] = (struct option){ "help", no_argument, NULL, 'h' };
    longopts[n + 1] = (struct option){ NULL, 0, NULL, 0 };

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        int rc;
        if (c == 'h') {
            fputs(usage, stdout);
            return TL_CLI_OK;
        }
        if (c == '?' || c == ':') {
            return tl_cli_getopt_error(o->prog, c, argv);
        }
        rc = take_option(o, allowed, c, optarg);
        if (rc >= 0) {
            return rc;
        }
    }
    o->args = argv + optind;
    o->n_args = argc - optind;
    return -1;
}

/* No operands expected. */
static int no_args(const struct opts *o)
{
    if (o->n_args > 0) {
        return tl_cli_usage_error(o->prog, "unexpected argument '%s'", o->args[0]);
    }
    return -1;
}

/* A CN we can write: 1..64 bytes of printable text (UTF-8 allowed, no control characters). */
static bool cn_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > CN_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x20 || ch == 0x7f) {
            return false;
        }
    }
    return true;
}

/*
 * A host name for a dNSName SAN: labels of letters, digits, '-' and '_' (1..63 bytes, no '-'
 * at either end), at most 253 bytes, no trailing dot; "*" is allowed as the whole first label
 * when at least two labels follow (RFC 6125 §6.4.3, as tls_verify.c matches it).
 */
static bool dns_name_ok(const char *name)
{
    size_t len = strlen(name);
    size_t labels = 0;
    const char *p = name;
    bool wildcard = false;
    if (len == 0 || len > 253) {
        return false;
    }
    if (strncmp(name, "*.", 2) == 0) {
        wildcard = true;
        p += 2;
    }
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t llen = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (llen == 0 || llen > 63 || p[0] == '-' || p[llen - 1] == '-') {
            return false;
        }
        for (size_t i = 0; i < llen; i++) {
            unsigned char ch = (unsigned char)p[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
                return false;
            }
        }
        labels++;
        if (dot == NULL) {
            break;
        }
        p = dot + 1;
    }
    return !wildcard || labels >= 2;
}

/* Checks --name values for issue and self-signed; returns -1 or a usage status. */
static int check_peer_names(const struct opts *o)
{
    if (o->n_names + o->n_ips == 0) {
        return tl_cli_usage_error(o->prog, "give the peer's name with --name (or --ip)");
    }
    for (size_t i = 0; i < o->n_names; i++) {
        struct tl_san_ip ip;
        if (tl_ip_pattern_parse(o->names[i], &ip)) {
            return tl_cli_usage_error(o->prog, "'%s' is an IP address; pass it with --ip",
                                      o->names[i]);
        }
        if (!dns_name_ok(o->names[i])) {
            return tl_cli_usage_error(o->prog, "--name '%s' is not a valid DNS name (letters, "
                                      "digits, '-' and dots; '*' only as the whole first label)",
                                      o->names[i]);
        }
    }
    return -1;
}

/* The subject CN for a peer: the first name, or the first address when there is no name.
 * A name longer than a CN may be only lives in the subjectAltName. */
static const char *peer_cn(const struct opts *o)
{
    if (o->n_names > 0) {
        return strlen(o->names[0]) <= CN_MAX ? o->names[0] : NULL;
    }
    return o->ips[0].text;
}

/* "--out host.pem" means the prefix "host". */
static void strip_pem(char *prefix)
{
    size_t len = strlen(prefix);
    if (len > 4 && strcmp(prefix + len - 4, ".pem") == 0) {
        prefix[len - 4] = '\0';
    }
}

/* Key and certificate paths for --out PREFIX. */
static bool peer_paths(const char *out, char *cert_path, char *key_path, size_t cap)
{
    char prefix[PATH_MAX];
    if (!path_cat(prefix, sizeof(prefix), out, "")) {
        return false;
    }
    strip_pem(prefix);
    if (prefix[0] == '\0' || prefix[strlen(prefix) - 1] == '/') {
        tl_cli_fail("--out wants a file name prefix such as 'host' or 'certs/host', not '%s'",
                    out);
        return false;
    }
    return path_cat(cert_path, cap, prefix, ".pem") && path_cat(key_path, cap, prefix, "-key.pem");
}

/* ---- tlslog cert ca ----------------------------------------------------------------------- */

static const char ca_usage[] =
    "usage: tlslog cert ca --out DIR [--name NAME] [--days N] [--key ec|rsa] [--force]\n"
    "\n"
    "Makes a certificate authority for your syslog peers: DIR/ca.pem, to give to every\n"
    "peer (tls.ca_file), and DIR/ca-key.pem, which signs their certificates: keep it secret\n"
    "and off the log hosts. DIR is created with mode 0700 if it is missing.\n"
    "\n"
    "  --out DIR      where to write ca.pem and ca-key.pem\n"
    "  --name NAME    the CA's name (subject CN), default \"" CA_NAME_DEFAULT "\"\n"
    "  --days N       how long the CA is valid, default 3650 days\n"
    "  --key ec|rsa   ECDSA P-256 (default) or RSA 3072\n"
    "  --force        replace an existing CA (what it issued will no longer verify)\n"
    "\n"
    "Next: tlslog cert issue --ca DIR --name HOST --out HOST\n";

static int cmd_ca(int argc, char **argv)
{
    struct opts o = { .prog = "tlslog cert ca", .days = CA_DAYS_DEFAULT };
    char cert_path[PATH_MAX];
    char key_path[PATH_MAX];
    char until[TL_TIME_STRLEN];
    char err[256];
    struct tl_peer_cert pc;
    struct cert_spec spec;
    struct stat st;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    bool clamped = false;
    int rc = parse_opts(&o, ca_usage, OPT_OUT | OPT_NAME | OPT_DAYS | OPT_KEY | OPT_FORCE,
                        argc, argv);
    if (rc < 0) {
        rc = no_args(&o);
    }
    if (rc >= 0) {
        goto out;
    }
    if (o.out == NULL) {
        rc = tl_cli_usage_error(o.prog, "--out DIR is required");
        goto out;
    }
    if (o.ca_name == NULL) {
        o.ca_name = CA_NAME_DEFAULT;
    }
    if (!cn_ok(o.ca_name)) {
        rc = tl_cli_usage_error(o.prog, "--name takes 1 to %d printable characters", CN_MAX);
        goto out;
    }
    rc = TL_CLI_FAIL;
    if (!path_in(cert_path, sizeof(cert_path), o.out, "ca.pem") ||
        !path_in(key_path, sizeof(key_path), o.out, "ca-key.pem")) {
        goto out;
    }
    if (stat(o.out, &st) == 0 && !S_ISDIR(st.st_mode)) {
        tl_cli_fail("%s exists and is not a directory", o.out);
        goto out;
    }
    if (!check_free(key_path, o.force) || !check_free(cert_path, o.force) ||
        !make_dirs(o.out)) {
        goto out;
    }
    key = make_key(o.key);
    if (key == NULL) {
        goto out;
    }
    spec = (struct cert_spec){ .cn = o.ca_name, .is_ca = true, .alg = o.key, .days = o.days };
    cert = make_cert(&spec, key, &clamped);
    if (cert == NULL) {
        goto out;
    }
    if (!tl_peer_cert_from_x509(cert, &pc, err, sizeof(err))) {
        tl_cli_fail("cannot read back the new certificate: %s", err);
        goto out;
    }
    if (!write_new(key_path, 0600, o.force, &(struct pem_out){ .key = key })) {
        tl_peer_cert_fini(&pc);
        goto out;
    }
    if (!write_new(cert_path, 0644, o.force, &(struct pem_out){ .cert = cert })) {
        unlink(key_path);
        tl_peer_cert_fini(&pc);
        goto out;
    }
    tl_asn1_time_text(X509_get0_notAfter(cert), until, sizeof(until), NULL);
    printf("wrote %s: the CA's %s private key (mode 0600); keep it secret and off the log "
           "hosts\n", key_path, key_desc(o.key));
    printf("wrote %s: CA certificate \"%s\", valid until %s; give it to every peer "
           "(tls.ca_file)\n", cert_path, pc.subject, until);
    printf("fingerprint: %s\n", pc.sha256_text);
    printf("next: tlslog cert issue --ca %s --name HOST --out HOST\n", o.out);
    tl_peer_cert_fini(&pc);
    rc = TL_CLI_OK;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    opts_fini(&o);
    return rc;
}

/* ---- tlslog cert issue / self-signed ------------------------------------------------------ */

/*
 * --group: the key goes to that group with mode 0640, so that a tlslogd that dropped root to
 * a user of the group (user:, group:) can read it again at SIGHUP; the owner stays who ran
 * the command. The key is removed when that cannot be done: a 0600 key the daemon cannot
 * read would fail later, at a reload.
 */
static bool give_key_group(const struct opts *o, const char *key_path)
{
    if (o->group == NULL) {
        return true;
    }
    if (chown(key_path, (uid_t)-1, o->gid) != 0 || chmod(key_path, 0640) != 0) {
        tl_cli_fail("cannot give %s to group %s with mode 0640: %s%s", key_path, o->group,
                    strerror(errno), errno == EPERM ? " (run as root, or as a member of that "
                                                      "group)" : "");
        unlink(key_path);
        return false;
    }
    return true;
}

static const char issue_usage[] =
    "usage: tlslog cert issue --ca DIR --name DNSNAME [--name ...] [--ip ADDR ...] --out PREFIX\n"
    "                         [--days N] [--key ec|rsa] [--force] [--group GROUP]\n"
    "\n"
    "Makes a key and a certificate for one syslog peer, signed by the CA in DIR (from\n"
    "'tlslog cert ca'): PREFIX.pem (tls.cert_file; followed by DIR/chain.pem if there is one)\n"
    "and PREFIX-key.pem (tls.key_file, mode 0600). The certificate is good for both TLS server\n"
    "and client use, so one peer can receive and send with it.\n"
    "\n"
    "  --ca DIR       the CA directory (ca.pem, ca-key.pem)\n"
    "  --name NAME    a DNS name of the peer; repeat for more. The first is also the CN\n"
    "  --ip ADDR      an IPv4 or IPv6 address of the peer; repeat for more\n"
    "  --out PREFIX   write PREFIX.pem and PREFIX-key.pem\n"
    "  --days N       how long it is valid, default 825 days (never beyond the CA)\n"
    "  --key ec|rsa   ECDSA P-256 (default) or RSA 3072\n"
    "  --force        replace existing files\n"
    "  --group GROUP  give the key to GROUP with mode 0640 (for a tlslogd that runs with\n"
    "                 user: and group:, or as a service user of that group)\n";

static const char self_signed_usage[] =
    "usage: tlslog cert self-signed --name DNSNAME [--name ...] [--ip ADDR ...] --out PREFIX\n"
    "                               [--days N] [--key ec|rsa] [--force] [--group GROUP]\n"
    "\n"
    "Makes a key and a self-signed certificate for fingerprint authentication (RFC 5425\n"
    "section 4.2.1, tls.auth: fingerprint): PREFIX.pem and PREFIX-key.pem (mode 0600). Prints the\n"
    "fingerprint line to paste into the configuration of the peers that talk to this one.\n"
    "\n"
    "  --name NAME    a DNS name of this host; repeat for more. The first is also the CN\n"
    "  --ip ADDR      an IPv4 or IPv6 address of this host; repeat for more\n"
    "  --out PREFIX   write PREFIX.pem and PREFIX-key.pem\n"
    "  --days N       how long it is valid, default 825 days\n"
    "  --key ec|rsa   ECDSA P-256 (default) or RSA 3072\n"
    "  --force        replace existing files\n"
    "  --group GROUP  give the key to GROUP with mode 0640 (see issue --help)\n";

static int make_peer(int argc, char **argv, bool self_signed)
{
    struct opts o = {
        .prog = self_signed ? "tlslog cert self-signed" : "tlslog cert issue",
        .days = LEAF_DAYS_DEFAULT,
    };
    unsigned allowed = OPT_NAMES | OPT_IP | OPT_OUT | OPT_DAYS | OPT_KEY | OPT_FORCE | OPT_GROUP;
    char cert_path[PATH_MAX];
    char key_path[PATH_MAX];
    char until[TL_TIME_STRLEN];
    char names[512];
    char err[256];
    struct tl_peer_cert pc;
    struct ca ca;
    struct cert_spec spec;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    bool clamped = false;
    int rc;

    memset(&ca, 0, sizeof(ca));
    memset(&pc, 0, sizeof(pc));
    rc = parse_opts(&o, self_signed ? self_signed_usage : issue_usage,
                    allowed | (self_signed ? 0 : OPT_CA), argc, argv);
    if (rc < 0) {
        rc = no_args(&o);
    }
    if (rc < 0 && !self_signed && o.ca_dir == NULL) {
        rc = tl_cli_usage_error(o.prog, "--ca DIR is required");
    }
    if (rc < 0) {
        rc = check_peer_names(&o);
    }
    if (rc < 0 && o.out == NULL) {
        rc = tl_cli_usage_error(o.prog, "--out PREFIX is required");
    }
    if (rc >= 0) {
        goto out;
    }
    rc = TL_CLI_FAIL;
    if (!peer_paths(o.out, cert_path, key_path, sizeof(cert_path)) ||
        !check_free(key_path, o.force) || !check_free(cert_path, o.force)) {
        goto out;
    }
    if (!self_signed) {
        if (!ca_load(&ca, o.ca_dir, true)) {
            goto out;
        }
        if (X509_cmp_time(X509_get0_notAfter(ca.cert), NULL) < 0) {
            tl_asn1_time_text(X509_get0_notAfter(ca.cert), until, sizeof(until), NULL);
            tl_cli_fail("the CA in %s expired on %s; make a new one with 'tlslog cert ca'",
                        o.ca_dir, until);
            goto out;
        }
    }
    key = make_key(o.key);
    if (key == NULL) {
        goto out;
    }
    spec = (struct cert_spec){
        .cn = peer_cn(&o),
        .dns = o.names,
        .n_dns = o.n_names,
        .ips = o.ips,
        .n_ips = o.n_ips,
        .alg = o.key,
        .days = o.days,
        .issuer = self_signed ? NULL : &ca,
    };
    cert = make_cert(&spec, key, &clamped);
    if (cert == NULL) {
        goto out;
    }
    if (!tl_peer_cert_from_x509(cert, &pc, err, sizeof(err))) {
        tl_cli_fail("cannot read back the new certificate: %s", err);
        goto out;
    }
    tl_asn1_time_text(X509_get0_notAfter(cert), until, sizeof(until), NULL);
    if (!write_new(key_path, 0600, o.force, &(struct pem_out){ .key = key }) ||
        !give_key_group(&o, key_path)) {
        goto out;
    }
    if (!write_new(cert_path, 0644, o.force, &(struct pem_out){ .cert = cert,
                                                               .chain = ca.chain })) {
        unlink(key_path);
        goto out;
    }
    if (clamped) {
        tl_cli_note("the certificate expires on %s, with the CA in %s, not after %lu days",
                    until, o.ca_dir, o.days);
    }
    tl_peer_cert_names(&pc, names, sizeof(names));
    if (o.group != NULL) {
        printf("wrote %s: %s private key (mode 0640, group %s: readable by a tlslogd running "
               "with that group)\n", key_path, key_desc(o.key), o.group);
    } else {
        printf("wrote %s: %s private key (mode 0600)\n", key_path, key_desc(o.key));
    }
    if (self_signed) {
        printf("wrote %s: self-signed certificate for %s, valid until %s\n", cert_path, names,
               until);
        printf("# for tlslogd peers (tls: auth: fingerprint), in their tls section:\n");
        printf("fingerprints: [\"%s\"]\n", pc.sha256_text);
        printf("# for rsyslog peers (StreamDriverAuthMode=\"x509/fingerprint\"):\n");
        printf("StreamDriverPermittedPeers=\"%s\"\n", pc.sha256_text);
    } else {
        printf("wrote %s: certificate for %s, issued by \"%s\", valid until %s%s\n", cert_path,
               names, pc.issuer, until,
               ca.chain != NULL ? ", followed by the CA's chain.pem" : "");
        printf("fingerprint: %s\n", pc.sha256_text);
    }
    rc = TL_CLI_OK;
out:
    tl_peer_cert_fini(&pc);
    X509_free(cert);
    EVP_PKEY_free(key);
    ca_fini(&ca);
    opts_fini(&o);
    return rc;
}

static int cmd_issue(int argc, char **argv)
{
    return make_peer(argc, argv, false);
}

static int cmd_self_signed(int argc, char **argv)
{
    return make_peer(argc, argv, true);
}

/* ---- tlslog cert revoke ------------------------------------------------------------------- */

static const char revoke_usage[] =
    "usage: tlslog cert revoke --ca DIR [--crl-days N] CERT.pem\n"
    "\n"
    "Adds the certificate in CERT.pem, which the CA in DIR issued, to the CA's revocation\n"
    "list DIR/crl.pem (created on first use; earlier revocations are kept). Give crl.pem to\n"
    "the peers (tls.crl_file) and renew it before its next update date, for example by\n"
    "revoking the same certificate again.\n"
    "\n"
    "  --ca DIR        the CA directory (ca.pem, ca-key.pem, crl.pem)\n"
    "  --crl-days N    the CRL's next update is N days from now, default 30\n";

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

/* Reads DIR/crl.pem when it exists and checks that this CA signed it. *old = NULL when the
 * file does not exist yet. */
static bool load_old_crl(const struct ca *ca, const char *path, X509_CRL **old)
{
    unsigned char *data = NULL;
    size_t len = 0;
    struct stat st;
    BIO *bio;
    *old = NULL;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        return true;
    }
    if (!read_all(path, &data, &len)) {
        return false;
    }
    bio = BIO_new_mem_buf(data, (int)len);
    if (bio != NULL) {
        *old = PEM_read_bio_X509_CRL(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
    }
    free(data);
    if (*old == NULL) {
        tl_cli_fail("%s holds no CRL tlslog can read (%s); move it away to start a new one",
                    path, ssl_why());
        return false;
    }
    if (X509_CRL_verify(*old, X509_get0_pubkey(ca->cert)) != 1) {
        ERR_clear_error();
        tl_cli_fail("%s was not signed by the CA in %s; move it away to start a new one", path,
                    ca->cert_path);
        X509_CRL_free(*old);
        *old = NULL;
        return false;
    }
    return true;
}

/* A new CRL: the old one's entries (without a second entry for `serial`), plus `serial`. */
static X509_CRL *make_crl(const struct ca *ca, X509_CRL *old, ASN1_INTEGER *serial,
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
    tl_cli_fail("cannot make the CRL: %s", ssl_why());
    ASN1_TIME_free(now_t);
    ASN1_TIME_free(next_t);
    ASN1_INTEGER_free(number);
    X509_EXTENSION_free(aki);
    X509_CRL_free(crl);
    return NULL;
}

static int cmd_revoke(int argc, char **argv)
{
    struct opts o = { .prog = "tlslog cert revoke", .crl_days = CRL_DAYS_DEFAULT };
    char crl_path[PATH_MAX];
    char next_text[TL_TIME_STRLEN];
    char err[256];
    struct tl_peer_cert pc;
    struct ca ca;
    X509 *cert = NULL;
    X509_CRL *old = NULL;
    X509_CRL *crl = NULL;
    bool already = false;
    int count = 0;
    int rc;

    memset(&ca, 0, sizeof(ca));
    memset(&pc, 0, sizeof(pc));
    rc = parse_opts(&o, revoke_usage, OPT_CA | OPT_CRL_DAYS, argc, argv);
    if (rc < 0 && o.ca_dir == NULL) {
        rc = tl_cli_usage_error(o.prog, "--ca DIR is required");
    }
    if (rc < 0 && o.n_args != 1) {
        rc = tl_cli_usage_error(o.prog, o.n_args == 0 ? "name the certificate to revoke"
                                                      : "revoke one certificate at a time");
    }
    if (rc >= 0) {
        goto out;
    }
    rc = TL_CLI_FAIL;
    if (!ca_load(&ca, o.ca_dir, false) ||
        !path_in(crl_path, sizeof(crl_path), o.ca_dir, "crl.pem")) {
        goto out;
    }
    cert = load_cert(o.args[0]);
    if (cert == NULL) {
        goto out;
    }
    if (!tl_peer_cert_from_x509(cert, &pc, err, sizeof(err))) {
        tl_cli_fail("cannot read %s: %s", o.args[0], err);
        goto out;
    }
    if (X509_cmp(cert, ca.cert) == 0) {
        tl_cli_fail("%s is the CA certificate itself; to retire a CA, stop trusting its ca.pem",
                    o.args[0]);
        goto out;
    }
    /* Issued by this CA: the issuer name and key identifier match, and its key signed it. */
    if (X509_check_issued(ca.cert, cert) != X509_V_OK ||
        X509_verify(cert, X509_get0_pubkey(ca.cert)) != 1) {
        ERR_clear_error();
        tl_cli_fail("%s was not issued by the CA in %s (its issuer is \"%s\"); revoke it with "
                    "the CA that issued it", o.args[0], o.ca_dir, pc.issuer);
        goto out;
    }
    if (!load_old_crl(&ca, crl_path, &old)) {
        goto out;
    }
    crl = make_crl(&ca, old, X509_get_serialNumber(cert), o.crl_days, &already, &count);
    if (crl == NULL || !write_replace(crl_path, 0644, &(struct pem_out){ .crl = crl })) {
        goto out;
    }
    tl_asn1_time_text(X509_CRL_get0_nextUpdate(crl), next_text, sizeof(next_text), NULL);
    if (already) {
        printf("serial %s (%s) was already revoked; %s re-signed\n", pc.serial, pc.subject,
               crl_path);
    } else {
        printf("revoked serial %s (%s) in %s\n", pc.serial, pc.subject, crl_path);
    }
    printf("%s lists %d revoked certificate%s; next update %s; give it to the peers "
           "(tls.crl_file)\n", crl_path, count, count == 1 ? "" : "s", next_text);
    rc = TL_CLI_OK;
out:
    tl_peer_cert_fini(&pc);
    X509_CRL_free(crl);
    X509_CRL_free(old);
    X509_free(cert);
    ca_fini(&ca);
    opts_fini(&o);
    return rc;
}

/* ---- tlslog cert info --------------------------------------------------------------------- */

static const char info_usage[] =
    "usage: tlslog cert info FILE\n"
    "\n"
    "Shows every certificate in FILE (PEM; a chain file lists each one, numbered, or one DER\n"
    "certificate): subject, issuer, serial, names, validity, key, CA or leaf, extended key\n"
    "usage, and the fingerprints in the form tls.fingerprints takes them.\n";

static void print_eku(X509 *x)
{
    int crit = 0;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
    fputs("  ext key usage: ", stdout);
    if (eku == NULL) {
        ERR_clear_error();
        puts(crit == -1 ? "(none: any use)" : "(unreadable)");
        return;
    }
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        const ASN1_OBJECT *obj = sk_ASN1_OBJECT_value(eku, i);
        int nid = OBJ_obj2nid(obj);
        char oid[80];
        if (nid != NID_undef) {
            snprintf(oid, sizeof(oid), "%s", OBJ_nid2sn(nid));
        } else if (OBJ_obj2txt(oid, sizeof(oid), obj, 1) <= 0) {
            snprintf(oid, sizeof(oid), "?");
        }
        printf("%s%s", i > 0 ? ", " : "", oid);
    }
    puts("");
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
}

static void print_names(const struct tl_peer_cert *pc)
{
    fputs("  names:         ", stdout);
    for (size_t i = 0; i < pc->n_dns; i++) {
        printf("%sDNS:%s", i > 0 ? ", " : "", pc->dns[i]);
    }
    for (size_t i = 0; i < pc->n_ips; i++) {
        printf("%sIP:%s", i + pc->n_dns > 0 ? ", " : "", pc->ips[i].text);
    }
    if (pc->n_dns + pc->n_ips == 0) {
        fputs("(no subjectAltName)", stdout);
    }
    puts("");
}

static bool print_cert(X509 *x, int i, int n, const char *path)
{
    struct tl_peer_cert pc;
    char err[256];
    uint32_t flags;
    if (!tl_peer_cert_from_x509(x, &pc, err, sizeof(err))) {
        tl_cli_fail("certificate %d of %d in %s cannot be read: %s", i, n, path, err);
        return false;
    }
    flags = X509_get_extension_flags(x);
    printf("certificate %d of %d in %s\n", i, n, path);
    printf("  subject:       %s\n", pc.subject);
    printf("  issuer:        %s\n", pc.issuer);
    printf("  serial:        %s\n", pc.serial);
    printf("  kind:          %s%s\n", (flags & EXFLAG_CA) != 0 ? "CA" : "leaf",
           X509_self_signed(x, 0) == 1 ? ", self-signed" : "");
    print_names(&pc);
    printf("  not before:    %s\n", pc.not_before);
    printf("  not after:     %s\n", pc.not_after);
    if (X509_cmp_time(X509_get0_notAfter(x), NULL) < 0) {
        printf("  validity:      EXPIRED since %s\n", pc.not_after);
    } else if (X509_cmp_time(X509_get0_notBefore(x), NULL) > 0) {
        printf("  validity:      NOT YET VALID until %s\n", pc.not_before);
    } else {
        printf("  validity:      valid now\n");
    }
    ERR_clear_error();
    if (pc.key_bits > 0) {
        printf("  key:           %s %d bits\n", pc.key_type, pc.key_bits);
    } else {
        printf("  key:           %s\n", pc.key_type);
    }
    print_eku(x);
    printf("  fingerprints:  %s\n", pc.sha256_text);
    printf("                 %s\n", pc.sha1_text);
    tl_peer_cert_fini(&pc);
    return true;
}

static int cmd_info(int argc, char **argv)
{
    struct opts o = { .prog = "tlslog cert info" };
    struct scan s;
    int n;
    int rc = parse_opts(&o, info_usage, 0, argc, argv);
    if (rc < 0 && o.n_args != 1) {
        rc = tl_cli_usage_error(o.prog, o.n_args == 0 ? "name the file to show"
                                                      : "show one file at a time");
    }
    if (rc >= 0) {
        opts_fini(&o);
        return rc;
    }
    if (!load_certs(o.args[0], &s)) {
        opts_fini(&o);
        return TL_CLI_FAIL;
    }
    rc = TL_CLI_OK;
    n = sk_X509_num(s.certs);
    for (int i = 0; i < n; i++) {
        if (i > 0) {
            puts("");
        }
        if (!print_cert(sk_X509_value(s.certs, i), i + 1, n, o.args[0])) {
            rc = TL_CLI_FAIL;
        }
    }
    if (s.has_key) {
        tl_cli_note("%s also holds a private key: keep it mode 0600", o.args[0]);
    }
    scan_fini(&s);
    opts_fini(&o);
    return rc;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static const struct tl_cli_cmd cert_commands[] = {
    { "ca", cmd_ca, "make a CA: DIR/ca.pem and DIR/ca-key.pem" },
    { "issue", cmd_issue, "make a key and a certificate for one peer, signed by the CA" },
    { "self-signed", cmd_self_signed, "make a key and a self-signed certificate for "
                                      "fingerprint authentication" },
    { "revoke", cmd_revoke, "add a certificate to the CA's revocation list, DIR/crl.pem" },
    { "info", cmd_info, "show what a certificate or chain file holds, with its fingerprints" },
};

int tl_cli_cert_main(int argc, char **argv)
{
    return tl_cli_dispatch("tlslog cert",
                           "tlslog cert: certificates for syslog over TLS (RFC 5425).",
                           cert_commands, sizeof(cert_commands) / sizeof(cert_commands[0]),
                           argc, argv);
}
