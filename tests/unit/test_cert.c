/*
 * test_cert.c: the pieces of `tlslog cert` on their own: building keys, certificates and CRLs
 * (cli/cert_build.h) and their files (cli/cert_pem.h): a CA and a peer made, written, read
 * back and verified; what the files' modes are; that nothing is overwritten unless asked;
 * what a CA directory with the wrong key or a file holding no certificate says.
 * test_tlslog_cert.py drives the same through the commands.
 *
 * Each test works in a directory of its own under $TMPDIR (or /tmp), removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <ftw.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/cert_build.h"
#include "cli/cert_pem.h"
#include "transport/tls_verify.h"

struct dir {
    char path[PATH_MAX];
};

static int dir_setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    struct dir *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        return -1;
    }
    snprintf(d->path, sizeof(d->path), "%s/test_cert.XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(d->path) == NULL) {
        free(d);
        return -1;
    }
    umask(022);
    *state = d;
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int dir_teardown(void **state)
{
    struct dir *d = *state;
    int rc = nftw(d->path, remove_one, 16, FTW_DEPTH | FTW_PHYS);

    free(d);
    return rc;
}

static const char *in(const struct dir *d, const char *name, char *out)
{
    assert_true(tl_cert_path_in(out, PATH_MAX, d->path, name));
    return out;
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* Makes a CA in dir/ca.pem and dir/ca-key.pem and loads it back. */
static void make_ca(const struct dir *d, enum tl_key_alg alg, unsigned long days,
                    struct tl_cert_ca *ca)
{
    char cert_path[PATH_MAX];
    char key_path[PATH_MAX];
    struct tl_cert_spec spec = {.cn = "Test CA", .is_ca = true, .alg = alg, .days = days};
    EVP_PKEY *key = tl_cert_make_key(alg);
    X509 *cert;
    bool clamped = true;

    assert_non_null(key);
    cert = tl_cert_make(&spec, key, &clamped);
    assert_non_null(cert);
    assert_false(clamped);
    assert_true(tl_cert_write_new(in(d, "ca-key.pem", key_path), 0600, false,
                                  &(struct tl_pem_out){.key = key}));
    assert_true(tl_cert_write_new(in(d, "ca.pem", cert_path), 0644, false,
                                  &(struct tl_pem_out){.cert = cert}));
    X509_free(cert);
    EVP_PKEY_free(key);
    assert_true(tl_cert_ca_load(ca, d->path, true));
    assert_null(ca->chain);
}

static X509 *make_peer(const struct tl_cert_ca *ca, unsigned long days, EVP_PKEY **key,
                       bool *clamped)
{
    static const char *const dns[] = {"log1.example.net", "*.logs.example.net"};
    struct tl_san_ip ip;
    struct tl_cert_spec spec;

    assert_true(tl_ip_pattern_parse("192.0.2.7", &ip));
    spec = (struct tl_cert_spec){.cn = dns[0], .dns = dns, .n_dns = 2, .ips = &ip, .n_ips = 1,
                                 .alg = TL_KEY_EC, .days = days, .issuer = ca};
    *key = tl_cert_make_key(TL_KEY_EC);
    assert_non_null(*key);
    return tl_cert_make(&spec, *key, clamped);
}

/* A CA and a peer it issued: the extensions RFC 5425 peers need, signed by the CA. */
static void test_issue(void **state)
{
    struct dir *d = *state;
    struct tl_cert_ca ca;
    struct tl_peer_cert pc;
    char names[256];
    EVP_PKEY *key;
    bool clamped = true;
    X509 *leaf;
    EXTENDED_KEY_USAGE *eku;

    memset(&ca, 0, sizeof(ca));
    make_ca(d, TL_KEY_EC, 3650, &ca);
    assert_int_equal(X509_check_ca(ca.cert), 1);
    leaf = make_peer(&ca, 825, &key, &clamped);
    assert_non_null(leaf);
    assert_false(clamped);
    assert_int_equal(X509_verify(leaf, X509_get0_pubkey(ca.cert)), 1);
    assert_int_equal(X509_check_issued(ca.cert, leaf), X509_V_OK);
    assert_int_equal(X509_check_ca(leaf), 0);
    assert_int_equal(X509_check_private_key(leaf, key), 1);
    eku = X509_get_ext_d2i(leaf, NID_ext_key_usage, NULL, NULL);
    assert_non_null(eku);
    assert_int_equal(sk_ASN1_OBJECT_num(eku), 2);
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    assert_int_equal(tl_peer_cert_from_x509(leaf, &pc, NULL), TL_OK);
    tl_peer_cert_names(&pc, names, sizeof(names));
    assert_string_equal(names, "DNS:log1.example.net, DNS:*.logs.example.net, IP:192.0.2.7");
    assert_string_equal(pc.subject, "CN=log1.example.net");
    assert_string_equal(pc.issuer, "CN=Test CA");
    /* 16 random bytes with the top bits 01: always 32 hex digits, positive. */
    assert_int_equal(strlen(pc.serial), 32);
    assert_true(pc.serial[0] >= '4' && pc.serial[0] <= '7');
    tl_peer_cert_fini(&pc);
    X509_free(leaf);
    EVP_PKEY_free(key);
    tl_cert_ca_fini(&ca);
}

/* A certificate never outlives its CA: it ends with it, and says so. */
static void test_clamped_to_ca(void **state)
{
    struct dir *d = *state;
    struct tl_cert_ca ca;
    EVP_PKEY *key;
    bool clamped = false;
    X509 *leaf;

    memset(&ca, 0, sizeof(ca));
    make_ca(d, TL_KEY_EC, 30, &ca);
    leaf = make_peer(&ca, 825, &key, &clamped);
    assert_non_null(leaf);
    assert_true(clamped);
    assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(leaf), X509_get0_notAfter(ca.cert)),
                     0);
    X509_free(leaf);
    EVP_PKEY_free(key);
    tl_cert_ca_fini(&ca);
}

/* Keys are 0600 on a new inode; nothing is overwritten unless asked. */
static void test_files(void **state)
{
    struct dir *d = *state;
    char path[PATH_MAX];
    char sub[PATH_MAX];
    EVP_PKEY *key = tl_cert_make_key(TL_KEY_RSA);

    assert_non_null(key);
    assert_string_equal(tl_cert_key_desc(TL_KEY_RSA), "RSA 3072");
    in(d, "k.pem", path);
    assert_true(tl_cert_check_free(path, false));
    assert_true(tl_cert_write_new(path, 0600, false, &(struct tl_pem_out){.key = key}));
    assert_int_equal(mode_of(path), 0600);
    assert_false(tl_cert_check_free(path, false));
    assert_true(tl_cert_check_free(path, true));
    /* Without replace, O_EXCL refuses it even when the check was skipped. */
    assert_false(tl_cert_write_new(path, 0600, false, &(struct tl_pem_out){.key = key}));
    /* With replace: a new file, even when the old one had a looser mode. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_true(tl_cert_write_new(path, 0600, true, &(struct tl_pem_out){.key = key}));
    assert_int_equal(mode_of(path), 0600);
    /* A directory is never "free", forced or not. */
    assert_true(tl_cert_make_dirs(in(d, "a/b", sub)));
    assert_int_equal(mode_of(sub), 0700);
    assert_false(tl_cert_check_free(sub, true));
    /* A key file is not a certificate, and says what it is. */
    assert_null(tl_cert_load_cert(path));
    EVP_PKEY_free(key);
}

/* A CA directory whose key is not the certificate's is refused. */
static void test_ca_wrong_key(void **state)
{
    struct dir *d = *state;
    struct tl_cert_ca ca;
    char key_path[PATH_MAX];
    EVP_PKEY *other = tl_cert_make_key(TL_KEY_EC);

    memset(&ca, 0, sizeof(ca));
    make_ca(d, TL_KEY_EC, 365, &ca);
    tl_cert_ca_fini(&ca);
    assert_non_null(other);
    assert_true(tl_cert_write_new(in(d, "ca-key.pem", key_path), 0600, true,
                                  &(struct tl_pem_out){.key = other}));
    assert_false(tl_cert_ca_load(&ca, d->path, false));
    assert_null(ca.cert);
    EVP_PKEY_free(other);
}

/* Revoking: the CRL is written, read back (signed by the CA), and a second revocation of the
 * same serial keeps one entry and a higher number. */
static void test_crl(void **state)
{
    struct dir *d = *state;
    struct tl_cert_ca ca;
    char crl_path[PATH_MAX];
    X509_CRL *old = NULL;
    X509_CRL *crl;
    X509_CRL *again;
    ASN1_INTEGER *n1;
    ASN1_INTEGER *n2;
    EVP_PKEY *key;
    bool clamped;
    bool already = true;
    int count = 0;
    X509 *leaf;

    memset(&ca, 0, sizeof(ca));
    make_ca(d, TL_KEY_EC, 365, &ca);
    leaf = make_peer(&ca, 30, &key, &clamped);
    assert_non_null(leaf);
    in(d, "crl.pem", crl_path);
    assert_true(tl_cert_load_crl(&ca, crl_path, &old));
    assert_null(old);
    crl = tl_cert_make_crl(&ca, NULL, X509_get_serialNumber(leaf), 30, &already, &count);
    assert_non_null(crl);
    assert_false(already);
    assert_int_equal(count, 1);
    assert_true(tl_cert_write_replace(crl_path, 0644, &(struct tl_pem_out){.crl = crl}));
    assert_int_equal(mode_of(crl_path), 0644);
    assert_true(tl_cert_load_crl(&ca, crl_path, &old));
    assert_non_null(old);
    again = tl_cert_make_crl(&ca, old, X509_get_serialNumber(leaf), 30, &already, &count);
    assert_non_null(again);
    assert_true(already);
    assert_int_equal(count, 1);
    assert_int_equal(X509_CRL_verify(again, X509_get0_pubkey(ca.cert)), 1);
    n1 = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    n2 = X509_CRL_get_ext_d2i(again, NID_crl_number, NULL, NULL);
    assert_non_null(n1);
    assert_non_null(n2);
    assert_true(ASN1_INTEGER_cmp(n1, n2) < 0);
    ASN1_INTEGER_free(n1);
    ASN1_INTEGER_free(n2);
    X509_CRL_free(again);
    X509_CRL_free(old);
    X509_CRL_free(crl);
    X509_free(leaf);
    EVP_PKEY_free(key);
    tl_cert_ca_fini(&ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_issue, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_clamped_to_ca, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_files, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_ca_wrong_key, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_crl, dir_setup, dir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
