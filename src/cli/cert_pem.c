/*
 * cert_pem.c: the files of `tlslog cert` (see cert_pem.h): reading certificates, keys, CRLs
 * and a CA directory, and writing PEM files that are never overwritten unless asked, keys
 * with mode 0600 on a new inode.
 */
#include "cli/cert_pem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/cli.h"
#include "core/fsutil.h"

/* A certificate or key file larger than this is not one. */
#define FILE_MAX (16 * 1024 * 1024)

/* OpenSSL's reason for the failure just seen, for the end of a sentence; empties the queue. */
const char *tl_cert_ssl_why(void)
{
    static char why[160];
    unsigned long e = ERR_peek_last_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    snprintf(why, sizeof(why), "%s", reason != NULL ? reason : "unknown OpenSSL error");
    ERR_clear_error();
    return why;
}

/* "DIR/NAME" into out; false (with the error printed) when it does not fit. */
bool tl_cert_path_in(char *out, size_t cap, const char *dir, const char *name)
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
bool tl_cert_path_cat(char *out, size_t cap, const char *prefix, const char *suffix)
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

void tl_cert_scan_fini(struct tl_cert_scan *s)
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
static bool scan_push(struct tl_cert_scan *s, X509 *x, const char *path)
{
    if (x == NULL) {
        tl_cli_fail("certificate %d in %s cannot be decoded: %s", sk_X509_num(s->certs) + 1,
                    path, tl_cert_ssl_why());
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
static bool scan_file(const char *path, struct tl_cert_scan *s)
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
            tl_cli_fail("%s holds a damaged PEM block (%s)", path, tl_cert_ssl_why());
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
        tl_cert_scan_fini(s);
    }
    return ok;
}

/* scan_file, then a clear sentence when the file holds no certificate at all. */
bool tl_cert_load_certs(const char *path, struct tl_cert_scan *s)
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
    tl_cert_scan_fini(s);
    return false;
}

/* The first certificate in `path`, or NULL with the error printed. */
X509 *tl_cert_load_cert(const char *path)
{
    struct tl_cert_scan s;
    X509 *x;
    if (!tl_cert_load_certs(path, &s)) {
        return NULL;
    }
    x = sk_X509_shift(s.certs);
    tl_cert_scan_fini(&s);
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
        const char *why = tl_cert_ssl_why();
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

void tl_cert_ca_fini(struct tl_cert_ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    sk_X509_pop_free(ca->chain, X509_free);
    memset(ca, 0, sizeof(*ca));
}

bool tl_cert_ca_load(struct tl_cert_ca *ca, const char *dir, bool with_chain)
{
    char chain_path[PATH_MAX];
    struct stat st;
    memset(ca, 0, sizeof(*ca));
    if (!tl_cert_path_in(ca->cert_path, sizeof(ca->cert_path), dir, "ca.pem") ||
        !tl_cert_path_in(ca->key_path, sizeof(ca->key_path), dir, "ca-key.pem") ||
        !tl_cert_path_in(chain_path, sizeof(chain_path), dir, "chain.pem")) {
        return false;
    }
    if (stat(ca->cert_path, &st) != 0 && errno == ENOENT) {
        tl_cli_fail("there is no CA in %s (no %s); make one with 'tlslog cert ca --out %s'", dir,
                    ca->cert_path, dir);
        return false;
    }
    ca->cert = tl_cert_load_cert(ca->cert_path);
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
        struct tl_cert_scan s;
        if (!tl_cert_load_certs(chain_path, &s)) {
            goto fail;
        }
        ca->chain = s.certs;
        s.certs = NULL;
        tl_cert_scan_fini(&s);
    }
    return true;
fail:
    tl_cert_ca_fini(ca);
    return false;
}

/* ---- reading a CRL ------------------------------------------------------------------------ */

/* Reads DIR/crl.pem when it exists and checks that this CA signed it. *old = NULL when the
 * file does not exist yet. */
bool tl_cert_load_crl(const struct tl_cert_ca *ca, const char *path, X509_CRL **old)
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
                    path, tl_cert_ssl_why());
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

/* ---- writing files ------------------------------------------------------------------------ */

static bool pem_write(FILE *f, const struct tl_pem_out *o)
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
static bool write_fd(int fd, const char *path, const struct tl_pem_out *o)
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
        const char *why = ERR_peek_last_error() != 0 ? tl_cert_ssl_why() : strerror(e);
        tl_cli_fail("cannot write %s: %s", path, why);
    }
    if (fclose(f) != 0 && ok) {
        tl_cli_fail("cannot write %s: %s", path, strerror(errno));
        ok = false;
    }
    return ok;
}

/* True when `path` may be written: it does not exist, or --force was given. */
bool tl_cert_check_free(const char *path, bool force)
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
bool tl_cert_write_new(const char *path, mode_t mode, bool replace, const struct tl_pem_out *o)
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
bool tl_cert_write_replace(const char *path, mode_t mode, const struct tl_pem_out *o)
{
    char tmp[PATH_MAX];
    int fd;
    if (!tl_cert_path_cat(tmp, sizeof(tmp), path, ".XXXXXX")) {
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
bool tl_cert_make_dirs(const char *dir)
{
    struct stat st;
    if (!tl_mkdir_p(dir, 0700, true)) {
        tl_cli_fail("cannot create the directory %s: %s", dir, strerror(errno));
        return false;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        tl_cli_fail("%s exists and is not a directory", dir);
        return false;
    }
    return true;
}
