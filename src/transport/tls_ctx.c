/*
 * tls_ctx.c: TLS contexts (one SSL_CTX plus the peer policy, built once, immutable and
 * reference-counted) and the slots that hold an input's or output's current context (SIGHUP
 * swaps a new one in). The checks that make a bad certificate, key, CA or CRL fail at start
 * with a sentence that says what to fix live here.
 */
#include "transport/tls_int.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/text.h"
#include "transport/tls_verify.h"

static int ex_index_value = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void make_ex_index(void)
{
    ex_index_value = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

int tl_tls_ex_index(void)
{
    pthread_once(&ex_once, make_ex_index);
    return ex_index_value;
}

const char *tl_tls_auth_name(enum tl_auth_mode a)
{
    switch (a) {
    case TL_AUTH_ANON:
        return "anon";
    case TL_AUTH_CERTVALID:
        return "certvalid";
    case TL_AUTH_NAME:
        return "name";
    case TL_AUTH_FINGERPRINT:
        return "fingerprint";
    default:
        return "default";
    }
}

const char *tl_tls_ssl_err_text(char *out, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0) {
        snprintf(out, cap, "unknown OpenSSL error");
    } else {
        const char *reason = ERR_reason_error_string(e);
        snprintf(out, cap, "%s", reason ? reason : "unknown OpenSSL error");
    }
    ERR_clear_error();
    return out;
}
/* ---- Contexts ---------------------------------------------------------------------------- */

static int password_cb(char *buf, int size, int rwflag, void *userdata)
{
    (void)rwflag;
    const char *pw = userdata;
    if (!pw) {
        return 0;
    }
    size_t n = strlen(pw);
    if (n > (size_t)size) {
        n = (size_t)size;
    }
    memcpy(buf, pw, n);
    return (int)n;
}

static char *read_password(const char *path, struct tl_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        TL_ERR_SYS(err, TL_E_CONFIG, errno, NULL, "cannot read tls.key_password_file %s: %s",
                   path, strerror(errno));
        return NULL;
    }
    char line[1024];
    char *pw = NULL;
    if (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        pw = strdup(line);
    } else {
        TL_ERR(err, TL_E_CONFIG, NULL, "tls.key_password_file %s is empty", path);
    }
    /* The password must not linger in freed memory (or stdio's buffer) for a core dump. */
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    return pw;
}

static void free_password(char *pw)
{
    if (pw) {
        OPENSSL_clear_free(pw, strlen(pw));
    }
}

/* OpenSSL loads a key that does not belong to the certificate, then refuses it with "key
 * values mismatch": say that, not "not a key". */
static bool key_mismatch_in_queue(void)
{
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
            return true;
        }
    }
    return false;
}

/*
 * A secret file (the key, its password) readable by anyone is refused: every local user could
 * impersonate us. Group-readable is a warning only: a group that holds just the daemon's user
 * is the documented way to share a key with it. `what` is "private key" or the config key.
 */
static enum tl_rc check_secret_mode(const char *owner, const char *what, const char *path,
                                    struct tl_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return TL_OK; /* loading it reports the problem */
    }
    unsigned mode = (unsigned)(st.st_mode & 07777);
    if (st.st_mode & 07) {
        TL_ERR(err, TL_E_CONFIG, NULL,
               "%s: %s %s is readable by others (mode %04o): anyone on this host "
               "could use it; fix: chmod 600 %s (or 640 with a group that holds only the "
               "daemon's user)", owner, what, path, mode, path);
        return TL_E_CONFIG;
    }
    /* The daemon's own unprivileged group (the packaged _tlslogd, or group: after the drop)
     * is the documented owner of a 0640 key: no warning for that one. */
    if ((st.st_mode & 070) && (st.st_gid != getegid() || getegid() == 0)) {
        tl_warn("%s: %s %s is readable by its group (mode %04o); fine if that group holds only "
                "the daemon's user, otherwise fix: chmod 600 %s", owner, what, path, mode, path);
    }
    return TL_OK;
}

static enum tl_rc load_crl(SSL_CTX *ssl, const char *path, struct tl_err *err)
{
    BIO *b = BIO_new_file(path, "r");
    if (!b) {
        TL_ERR_SYS(err, TL_E_CONFIG, errno, NULL, "cannot read tls.crl_file %s: %s", path,
                   strerror(errno));
        ERR_clear_error();
        return TL_E_CONFIG;
    }
    X509_STORE *st = SSL_CTX_get_cert_store(ssl);
    int n = 0;
    X509_CRL *crl;
    while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
        X509_STORE_add_crl(st, crl);
        X509_CRL_free(crl);
        n++;
    }
    ERR_clear_error();
    BIO_free(b);
    if (n == 0) {
        TL_FAIL(err, TL_E_CONFIG, NULL,
               "tls.crl_file %s holds no PEM CRL (\"-----BEGIN X509 CRL-----\")",
               path);
    }
    /* Every certificate of the chain, not only the peer's own: a revoked intermediate CA
     * must stop everything it issued. */
    X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return TL_OK;
}

/* Reads every PEM certificate and CRL of one file into the lists (either may be NULL). */
static void read_pem_objects(const char *path, STACK_OF(X509) *certs, STACK_OF(X509_CRL) *crls)
{
    BIO *b = BIO_new_file(path, "r");
    if (!b) {
        ERR_clear_error();
        return;
    }
    STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
    BIO_free(b);
    for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *xi = sk_X509_INFO_value(infos, i);
        if (xi->x509 && certs && sk_X509_push(certs, xi->x509) > 0) {
            xi->x509 = NULL;
        }
        if (xi->crl && crls && sk_X509_CRL_push(crls, xi->crl) > 0) {
            xi->crl = NULL;
        }
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    ERR_clear_error();
}

/* The same for every regular file of a directory (tls.ca_dir: HASH.0 and HASH.r0 files). */
static void read_pem_dir(const char *dir, STACK_OF(X509) *certs, STACK_OF(X509_CRL) *crls)
{
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
            stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        read_pem_objects(path, certs, crls);
    }
    closedir(d);
}

static bool crl_of(X509_CRL *crl, X509 *ca)
{
    EVP_PKEY *k = X509_get0_pubkey(ca);
    bool ok = k && X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 &&
              X509_CRL_verify(crl, k) == 1;
    ERR_clear_error();
    return ok;
}

static char *subject_of(X509 *x, char *out, size_t cap)
{
    struct tl_peer_cert pc;
    if (tl_peer_cert_from_x509(x, &pc, NULL) == TL_OK) {
        snprintf(out, cap, "%s", pc.subject);
    } else {
        snprintf(out, cap, "(unreadable name)");
    }
    tl_peer_cert_fini(&pc);
    return out;
}

/*
 * With crl_file set every certificate of a chain is checked against its issuer's CRL, and a
 * chain through a CA whose CRL is missing is refused at every handshake. Say so at start,
 * naming the CA, rather than per connection. CAs the peers send (intermediates) cannot be
 * known here; their missing CRL is reported per connection.
 */
static enum tl_rc check_crl_coverage(const struct tl_conf_tls *conf, const char *owner,
                                     struct tl_err *err)
{
    if (conf->ca_file && strcmp(conf->ca_file, "system") == 0) {
        TL_ERR(err, TL_E_CONFIG, NULL,
               "%s: tls.crl_file is set with tls.ca_file: system: every CA of "
               "the system store would need its CRL in %s; fix: put the CAs you rely on in a "
               "tls.ca_file of their own", owner, conf->crl_file);
        return TL_E_CONFIG;
    }
    STACK_OF(X509) *cas = sk_X509_new_null();
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
    enum tl_rc rc = cas && crls ? TL_OK : TL_ERR(err, TL_E_RESOURCE, NULL, "%s: out of memory",
                                                 owner);
    bool ok = rc == TL_OK;
    if (ok && conf->ca_file) {
        read_pem_objects(conf->ca_file, cas, NULL);
    }
    if (ok && conf->ca_dir) {
        read_pem_dir(conf->ca_dir, cas, crls);
    }
    if (ok) {
        read_pem_objects(conf->crl_file, NULL, crls);
    }
    for (int i = 0; ok && i < sk_X509_num(cas); i++) {
        X509 *ca = sk_X509_value(cas, i);
        if (!(X509_get_extension_flags(ca) & EXFLAG_CA)) {
            continue;
        }
        bool found = false;
        for (int j = 0; !found && j < sk_X509_CRL_num(crls); j++) {
            found = crl_of(sk_X509_CRL_value(crls, j), ca);
        }
        if (!found) {
            char name[512];
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "%s: tls.crl_file %s holds no CRL issued by the CA '%s' (from "
                   "%s): with tls.crl_file set, every certificate of a chain is checked "
                   "against its issuer's CRL, and every peer that CA vouches for would be "
                   "refused; fix: add that CA's current CRL to %s (openssl ca -gencrl), or "
                   "remove that CA from the trusted CAs", owner, conf->crl_file,
                   subject_of(ca, name, sizeof(name)),
                   conf->ca_dir ? "tls.ca_file/ca_dir" : "tls.ca_file", conf->crl_file);
            ok = false;
            rc = TL_E_CONFIG;
        }
    }
    sk_X509_pop_free(cas, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    return rc;
}

/* A ca_file that holds only a leaf (often our own certificate by mistake) anchors nothing. */
static enum tl_rc check_ca_file(const struct tl_conf_tls *conf, const char *owner,
                                struct tl_err *err)
{
    if (!conf->ca_file || strcmp(conf->ca_file, "system") == 0) {
        return TL_OK;
    }
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (!certs) {
        return TL_OK;
    }
    read_pem_objects(conf->ca_file, certs, NULL);
    bool anchor = false;
    bool leaf_only = false;
    for (int i = 0; !anchor && i < sk_X509_num(certs); i++) {
        X509 *x = sk_X509_value(certs, i);
        /* A self-signed leaf anchors itself: that very peer is trusted. */
        anchor = (X509_get_extension_flags(x) & EXFLAG_CA) || X509_self_signed(x, 0) == 1;
    }
    ERR_clear_error();
    if (!anchor && sk_X509_num(certs) > 0) {
        X509 *x = sk_X509_value(certs, 0);
        leaf_only = true;
        char subj[512];
        char iss[512];
        struct tl_peer_cert pc;
        snprintf(iss, sizeof(iss), "?");
        if (tl_peer_cert_from_x509(x, &pc, NULL) == TL_OK) {
            snprintf(iss, sizeof(iss), "%s", pc.issuer);
        }
        tl_peer_cert_fini(&pc);
        TL_ERR(err, TL_E_CONFIG, NULL, "%s: tls.ca_file %s holds no CA certificate: '%s' is a leaf "
               "certificate (CA:FALSE) issued by '%s', and cannot vouch for anyone; fix: set "
               "tls.ca_file to the certificate of the CA that issues the peers' certificates "
               "(here probably '%s')", owner, conf->ca_file, subject_of(x, subj, sizeof(subj)),
               iss, iss);
    }
    sk_X509_pop_free(certs, X509_free);
    return leaf_only ? TL_E_CONFIG : TL_OK;
}

/*
 * Our own certificate must be valid now: every peer that verifies it would refuse it, and the
 * cause is found fastest here, at start (or at a reload, which then keeps the previous one).
 */
static enum tl_rc check_own_dates(SSL_CTX *ssl, const struct tl_conf_tls *conf,
                                  const char *owner, struct tl_err *err)
{
    X509 *leaf = SSL_CTX_get0_certificate(ssl);
    if (!leaf) {
        return TL_OK;
    }
    char when[TL_TIME_STRLEN];
    char subj[512];
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
        tl_asn1_time_text(X509_get0_notAfter(leaf), when, sizeof(when), NULL);
        TL_ERR(err, TL_E_CONFIG, NULL,
               "%s: our certificate expired on %s: renew it (tls.cert_file %s, "
               "subject %s); every peer that verifies it would refuse it, so tlslogd does not "
               "start with it", owner, when, conf->cert_file,
               subject_of(leaf, subj, sizeof(subj)));
        ERR_clear_error();
        return TL_E_CONFIG;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
        tl_asn1_time_text(X509_get0_notBefore(leaf), when, sizeof(when), NULL);
        TL_ERR(err, TL_E_CONFIG, NULL,
               "%s: our certificate is not valid before %s (tls.cert_file %s, "
               "subject %s): check this host's clock, or wait until then", owner, when,
               conf->cert_file, subject_of(leaf, subj, sizeof(subj)));
        ERR_clear_error();
        return TL_E_CONFIG;
    }
    if (X509_get_extension_flags(leaf) & EXFLAG_CA) {
        tl_warn("%s: our certificate in tls.cert_file %s is a CA certificate (CA:TRUE): tlslogd "
                "peers refuse a CA certificate as a peer's own; use a leaf certificate", owner,
                conf->cert_file);
    }
    ERR_clear_error();
    return TL_OK;
}

/* Warns when our certificate's chain cannot be built to a configured CA: a peer that trusts
 * only those CAs would refuse it (rsyslog#2762: a server that sends only its leaf). */
static void check_own_chain(struct tl_tls_ctx *c, const struct tl_conf_tls *conf)
{
    X509 *leaf = SSL_CTX_get0_certificate(c->ssl);
    if (!leaf || (!conf->ca_file && !conf->ca_dir)) {
        return;
    }
    STACK_OF(X509) *chain = NULL;
    SSL_CTX_get0_chain_certs(c->ssl, &chain);
    X509_STORE_CTX *xs = X509_STORE_CTX_new();
    if (!xs) {
        return;
    }
    if (X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(c->ssl), leaf, chain) == 1) {
        /* Only the path matters here: revocation and dates of our own certificate are
         * other checks (check_own_dates). */
        X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(xs);
        X509_VERIFY_PARAM_clear_flags(vp, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
        X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_NO_CHECK_TIME);
        if (X509_verify_cert(xs) != 1) {
            int e = X509_STORE_CTX_get_error(xs);
            tl_warn("%s: the certificate in tls.cert_file %s does not chain to the CAs in "
                    "tls.ca_file/ca_dir (%s); peers that trust only those CAs will refuse it: "
                    "append the intermediate CA certificates to %s",
                    c->owner, conf->cert_file, tl_verify_reason(e), conf->cert_file);
        }
    }
    X509_STORE_CTX_free(xs);
    ERR_clear_error();
}


void tl_tls_ctx_ref(struct tl_tls_ctx *ctx)
{
    atomic_fetch_add(&ctx->refs, 1);
}

void tl_tls_ctx_unref(struct tl_tls_ctx *ctx)
{
    if (!ctx || atomic_fetch_sub(&ctx->refs, 1) != 1) {
        return;
    }
    SSL_CTX_free(ctx->ssl);
    for (size_t i = 0; i < ctx->n_permitted; i++) {
        free(ctx->permitted[i]);
    }
    free(ctx->permitted);
    free(ctx->fps);
    free(ctx);
}

enum tl_auth_mode tl_tls_ctx_auth(const struct tl_tls_ctx *ctx)
{
    return ctx->auth;
}

void tl_tls_ctx_set_cert_keys(struct tl_tls_ctx *ctx, const char *words)
{
    ctx->cert_keys = words;
}

struct tl_tls_ctx *tl_tls_ctx_new(const struct tl_conf_tls *conf, enum tl_tls_role role,
                                  const char *owner, struct tl_err *err)
{
    (void)tl_tls_ex_index();
    ERR_clear_error();
    struct tl_tls_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "%s: out of memory", owner);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->role = role;
    c->cert_keys = "tls.cert_file and tls.key_file";
    c->min_version = conf->min_version == 13 ? 13 : 12;
    snprintf(c->owner, sizeof(c->owner), "%s", owner);
    c->auth = conf->auth;
    if (c->auth == TL_AUTH_DEFAULT) {
        c->auth = role == TL_TLS_SERVER ? TL_AUTH_ANON : TL_AUTH_NAME;
    }
    char e[256];
    char *password = NULL;
    c->ssl = SSL_CTX_new(role == TL_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (!c->ssl) {
        TL_ERR(err, TL_E_TLS, NULL, "%s: cannot create a TLS context: %s", owner,
               tl_tls_ssl_err_text(e, sizeof(e)));
        goto fail;
    }
    SSL_CTX_set_min_proto_version(c->ssl,
                                  conf->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    /* No renegotiation, no compression; a peer that drops TCP without close_notify is an
     * EOF the framer judges (on a frame boundary it is harmless), not an error (inputs
     * learn which kind of EOF it was: see tls_handshake). */
    SSL_CTX_set_options(c->ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(c->ssl, 1);
    /* Never 0-RTT: syslog data must not be replayable (RFC 9662). */
    SSL_CTX_set_max_early_data(c->ssl, 0);
    if (role == TL_TLS_SERVER) {
        /* No resumption: every connection is verified against the current policy (RFC
         * 5425 §4.2.3), and clients that never read (loggen) are not sent tickets they
         * would reset the connection over. Syslog connections are long-lived. */
        SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(c->ssl, 0);
        SSL_CTX_set_options(c->ssl, SSL_OP_NO_TICKET);
    }
    if (!conf->ciphers && SSL_CTX_set_cipher_list(c->ssl, DEFAULT_CIPHERS) != 1) {
        TL_ERR(err, TL_E_CONFIG, NULL, "%s: cannot set the default TLS 1.2 ciphers (%s)", owner,
               tl_tls_ssl_err_text(e, sizeof(e)));
        goto fail;
    }
    if (conf->ciphers && SSL_CTX_set_cipher_list(c->ssl, conf->ciphers) != 1) {
        TL_ERR(err, TL_E_CONFIG, NULL, "%s: tls.ciphers '%s' selects no cipher OpenSSL knows (%s)",
               owner, conf->ciphers, tl_tls_ssl_err_text(e, sizeof(e)));
        goto fail;
    }
    if (conf->ciphersuites && SSL_CTX_set_ciphersuites(c->ssl, conf->ciphersuites) != 1) {
        TL_ERR(err, TL_E_CONFIG, NULL,
               "%s: tls.ciphersuites '%s' is not a valid TLS 1.3 suite list (%s)",
               owner, conf->ciphersuites, tl_tls_ssl_err_text(e, sizeof(e)));
        goto fail;
    }
    c->system_cas = conf->ca_file && strcmp(conf->ca_file, "system") == 0;
    if (c->system_cas) {
        if (SSL_CTX_set_default_verify_paths(c->ssl) != 1) {
            TL_ERR(err, TL_E_CONFIG, NULL, "%s: cannot load the system trust store (%s)", owner,
                   tl_tls_ssl_err_text(e, sizeof(e)));
            goto fail;
        }
        if (conf->ca_dir && SSL_CTX_load_verify_dir(c->ssl, conf->ca_dir) != 1) {
            TL_ERR(err, TL_E_CONFIG, NULL, "%s: cannot use tls.ca_dir %s (%s)", owner, conf->ca_dir,
                   tl_tls_ssl_err_text(e, sizeof(e)));
            goto fail;
        }
    } else if (conf->ca_file || conf->ca_dir) {
        if (conf->ca_file && SSL_CTX_load_verify_file(c->ssl, conf->ca_file) != 1) {
            int sys = errno;
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "%s: cannot load tls.ca_file %s: %s", owner, conf->ca_file,
                   access(conf->ca_file, R_OK) != 0 ? strerror(sys)
                                                    : "no PEM certificate in it");
            ERR_clear_error();
            goto fail;
        }
        if (conf->ca_dir && SSL_CTX_load_verify_dir(c->ssl, conf->ca_dir) != 1) {
            TL_ERR(err, TL_E_CONFIG, NULL, "%s: cannot use tls.ca_dir %s (%s)", owner, conf->ca_dir,
                   tl_tls_ssl_err_text(e, sizeof(e)));
            goto fail;
        }
        if (check_ca_file(conf, owner, err) != TL_OK) {
            goto fail;
        }
    } else if (c->auth == TL_AUTH_CERTVALID || c->auth == TL_AUTH_NAME) {
        TL_ERR(err, TL_E_CONFIG, NULL,
               "%s: auth mode '%s' verifies the peer's certificate against trusted CAs, but "
               "none is configured; set tls.ca_file (a PEM file, or \"system\") or "
               "tls.ca_dir",
               owner, tl_tls_auth_name(c->auth));
        goto fail;
    }
    if (conf->cert_file || conf->key_file) {
        if (!conf->cert_file || !conf->key_file) {
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "%s: tls.cert_file and tls.key_file go together; set both",
                   owner);
            goto fail;
        }
        if (SSL_CTX_use_certificate_chain_file(c->ssl, conf->cert_file) != 1) {
            int sys = errno;
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "%s: cannot load tls.cert_file %s: %s", owner, conf->cert_file,
                   access(conf->cert_file, R_OK) != 0 ? strerror(sys)
                                                      : tl_tls_ssl_err_text(e, sizeof(e)));
            ERR_clear_error();
            goto fail;
        }
        if (check_secret_mode(owner, "private key", conf->key_file, err) != TL_OK) {
            goto fail;
        }
        if (conf->key_password_file) {
            if (check_secret_mode(owner, "tls.key_password_file", conf->key_password_file,
                                  err) != TL_OK) {
                goto fail;
            }
            password = read_password(conf->key_password_file, err);
            if (!password) {
                goto fail;
            }
            SSL_CTX_set_default_passwd_cb(c->ssl, password_cb);
            SSL_CTX_set_default_passwd_cb_userdata(c->ssl, password);
        }
        if (SSL_CTX_use_PrivateKey_file(c->ssl, conf->key_file, SSL_FILETYPE_PEM) != 1) {
            int sys = errno;
            if (key_mismatch_in_queue()) {
                TL_ERR(err, TL_E_CONFIG, NULL,
                       "%s: tls.key_file %s is not the key of the certificate in %s", owner,
                       conf->key_file, conf->cert_file);
                ERR_clear_error();
                goto fail;
            }
            const char *why = access(conf->key_file, R_OK) != 0 ? strerror(sys)
                              : conf->key_password_file
                                  ? "wrong password in tls.key_password_file, or not a PEM key"
                                  : "not a PEM private key (or it is encrypted: set "
                                    "tls.key_password_file)";
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "%s: cannot load tls.key_file %s: %s", owner, conf->key_file,
                   why);
            ERR_clear_error();
            goto fail;
        }
        SSL_CTX_set_default_passwd_cb(c->ssl, NULL);
        SSL_CTX_set_default_passwd_cb_userdata(c->ssl, NULL);
        if (SSL_CTX_check_private_key(c->ssl) != 1) {
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "%s: tls.key_file %s is not the key of the certificate in %s",
                   owner, conf->key_file, conf->cert_file);
            ERR_clear_error();
            goto fail;
        }
        if (check_own_dates(c->ssl, conf, owner, err) != TL_OK) {
            goto fail;
        }
        /* A certificate file without its chain makes OpenSSL build the chain it sends at
         * every handshake, verifying our own certificate's signature against the CA store
         * (a third of an ECDSA handshake with tls.ca_file set): build it once here. What
         * cannot be completed is sent as far as it goes, as OpenSSL would. */
        STACK_OF(X509) *have = NULL;
        if (SSL_CTX_get0_chain_certs(c->ssl, &have) == 1 && sk_X509_num(have) <= 0 &&
            SSL_CTX_build_cert_chain(c->ssl, SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR) != 1) {
            ERR_clear_error();
        }
    } else if (role == TL_TLS_SERVER) {
        TL_ERR(err, TL_E_CONFIG, NULL,
               "%s: a TLS input needs a certificate: set tls.cert_file and tls.key_file "
               "(make one with: tlslog cert issue)",
               owner);
        goto fail;
    }
    if (conf->crl_file && (load_crl(c->ssl, conf->crl_file, err) != TL_OK ||
                           check_crl_coverage(conf, owner, err) != TL_OK)) {
        goto fail;
    }
    c->has_crl = conf->crl_file != NULL;
    if (c->auth == TL_AUTH_FINGERPRINT) {
        if (conf->n_fingerprints == 0) {
            TL_ERR(err, TL_E_CONFIG, NULL,
                   "%s: auth mode 'fingerprint' needs at least one entry in "
                                "tls.fingerprints (see: tlslog cert info PEER.pem)",
                   owner);
            goto fail;
        }
        c->fps = calloc(conf->n_fingerprints, sizeof(*c->fps));
        if (!c->fps) {
            TL_ERR(err, TL_E_RESOURCE, NULL, "%s: out of memory", owner);
            goto fail;
        }
        for (size_t i = 0; i < conf->n_fingerprints; i++) {
            struct tl_err fe;
            if (tl_fingerprint_parse(conf->fingerprints[i], &c->fps[i], &fe) != TL_OK) {
                char why[200];
                TL_ERR(err, TL_E_CONFIG, NULL, "%s: tls.fingerprints: %s", owner,
                       tl_err_text(&fe, why, sizeof(why)));
                goto fail;
            }
        }
        c->n_fps = conf->n_fingerprints;
    }
    if (conf->n_permitted_peers) {
        c->permitted = calloc(conf->n_permitted_peers, sizeof(char *));
        if (!c->permitted) {
            TL_ERR(err, TL_E_RESOURCE, NULL, "%s: out of memory", owner);
            goto fail;
        }
        for (size_t i = 0; i < conf->n_permitted_peers; i++) {
            c->permitted[i] = strdup(conf->permitted_peers[i]);
            if (!c->permitted[i]) {
                TL_ERR(err, TL_E_RESOURCE, NULL, "%s: out of memory", owner);
                goto fail;
            }
            c->n_permitted++;
        }
    } else if (c->auth == TL_AUTH_NAME && role == TL_TLS_SERVER) {
        TL_ERR(err, TL_E_CONFIG, NULL,
               "%s: auth mode 'name' needs tls.permitted_peers: the names (or "
                            "patterns like *.example.net) of the clients allowed to send",
               owner);
        goto fail;
    }
    int mode = SSL_VERIFY_NONE;
    if (c->auth != TL_AUTH_ANON) {
        mode = SSL_VERIFY_PEER;
        if (role == TL_TLS_SERVER) {
            /* Mutual authentication: every mode but anon requires a client certificate. */
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        }
    }
    SSL_CTX_set_verify(c->ssl, mode, c->auth == TL_AUTH_ANON ? NULL : tl_tls_verify_cb);
    if (role == TL_TLS_SERVER) {
        static const unsigned char sid[] = "tlslogd";
        SSL_CTX_set_session_id_context(c->ssl, sid, sizeof(sid) - 1);
    }
    check_own_chain(c, conf);
    free_password(password);
    ERR_clear_error();
    return c;

fail:
    free_password(password);
    tl_tls_ctx_unref(c);
    return NULL;
}

enum tl_rc tl_tls_slot_init(struct tl_tls_slot *slot, const struct tl_conf_tls *c,
                            enum tl_tls_role role, const char *owner, struct tl_err *err)
{
    memset(slot, 0, sizeof(*slot));
    pthread_mutex_init(&slot->lock, NULL);
    slot->conf = c;
    slot->role = role;
    snprintf(slot->owner, sizeof(slot->owner), "%s", owner);
    slot->ctx = tl_tls_ctx_new(c, role, owner, err);
    if (slot->ctx && role == TL_TLS_CLIENT && slot->ctx->auth == TL_AUTH_ANON) {
        tl_warn("%s: tls.auth is anon: the server's certificate is not verified (encryption "
                "only; anyone on the path can pose as the server); set tls.auth: name and "
                "tls.ca_file to verify it",
                owner);
    }
    return slot->ctx != NULL ? TL_OK : (err ? err->code : TL_E_CONFIG);
}

void tl_tls_slot_fini(struct tl_tls_slot *slot)
{
    tl_tls_ctx_unref(slot->ctx);
    slot->ctx = NULL;
    pthread_mutex_destroy(&slot->lock);
}

struct tl_tls_ctx *tl_tls_slot_get(struct tl_tls_slot *slot)
{
    pthread_mutex_lock(&slot->lock);
    struct tl_tls_ctx *c = slot->ctx;
    tl_tls_ctx_ref(c);
    pthread_mutex_unlock(&slot->lock);
    return c;
}

void tl_tls_slot_swap(struct tl_tls_slot *slot, struct tl_tls_ctx *ctx)
{
    pthread_mutex_lock(&slot->lock);
    struct tl_tls_ctx *old = slot->ctx;
    slot->ctx = ctx;
    pthread_mutex_unlock(&slot->lock);
    tl_tls_ctx_unref(old);
}

