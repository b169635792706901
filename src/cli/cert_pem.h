/*
 * cert_pem.h: the files of `tlslog cert`: reading certificates (PEM, or one DER), keys, CRLs
 * and a CA directory (ca.pem, ca-key.pem, chain.pem), and writing PEM files.
 *
 * Nothing is overwritten without being asked: tl_cert_check_free refuses an existing path
 * unless forced, tl_cert_write_new creates a new inode with O_CREAT|O_EXCL|O_NOFOLLOW and the
 * given mode (so a key never inherits an old file's mode or follows a planted symlink), and
 * tl_cert_write_replace replaces a file atomically (temporary file, then rename). Keys are
 * read and written unencrypted (PKCS#8 PEM); memory that held one is cleansed.
 *
 * Every function that fails has printed one sentence naming the file (tl_cli_fail) and
 * returns false or NULL. Single-threaded, like the rest of tlslog.
 */
#ifndef TL_CLI_CERT_PEM_H
#define TL_CLI_CERT_PEM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* What a PEM (or DER) file holds. */
struct tl_cert_scan {
    STACK_OF(X509) *certs;   /* every certificate, in file order */
    bool has_key;
    bool has_crl;
    bool has_csr;
    bool has_pubkey;
};

/* A CA directory: ca.pem, ca-key.pem, and for issuing the optional chain.pem. */
struct tl_cert_ca {
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) *chain;   /* DIR/chain.pem when present: appended to issued certificates */
    char cert_path[PATH_MAX];
    char key_path[PATH_MAX];
};

/* What goes into one output file, in this order; NULL members are left out. */
struct tl_pem_out {
    const EVP_PKEY *key;
    const X509 *cert;
    const STACK_OF(X509) *chain;
    const X509_CRL *crl;
};

/* OpenSSL's reason for the failure just seen, for the end of a sentence; empties OpenSSL's
 * error queue. A static buffer, valid until the next call. */
const char *tl_cert_ssl_why(void);

/* "DIR/NAME" and "PREFIXsuffix" into out; false (printed) when it does not fit. */
bool tl_cert_path_in(char *out, size_t cap, const char *dir, const char *name);
bool tl_cert_path_cat(char *out, size_t cap, const char *prefix, const char *suffix);

/* Every certificate in path (tl_cert_scan_fini frees them); false when the file cannot be
 * read, a block is damaged, or it holds no certificate (saying what it holds instead). */
bool tl_cert_load_certs(const char *path, struct tl_cert_scan *s);
void tl_cert_scan_fini(struct tl_cert_scan *s);
/* The first certificate in path, or NULL. */
X509 *tl_cert_load_cert(const char *path);

/* Loads the CA in dir: its certificate must be a CA's and ca-key.pem its key; with_chain also
 * reads chain.pem when there is one. Free with tl_cert_ca_fini (also after a failure). */
bool tl_cert_ca_load(struct tl_cert_ca *ca, const char *dir, bool with_chain);
void tl_cert_ca_fini(struct tl_cert_ca *ca);

/* The CRL in path, which ca must have signed; *crl = NULL when there is no file yet. */
bool tl_cert_load_crl(const struct tl_cert_ca *ca, const char *path, X509_CRL **crl);

/* True when path may be written: it does not exist, or force (and it is not a directory). */
bool tl_cert_check_free(const char *path, bool force);
/* Creates path with mode (before the umask) and writes o; replace unlinks an existing file
 * first. A failed write removes what it created. */
bool tl_cert_write_new(const char *path, mode_t mode, bool replace, const struct tl_pem_out *o);
/* Replaces path atomically: readers see the old file or the new one, never half of one. */
bool tl_cert_write_replace(const char *path, mode_t mode, const struct tl_pem_out *o);
/* mkdir -p with mode 0700 for what it creates; false when dir is not a directory then. */
bool tl_cert_make_dirs(const char *dir);

#endif
