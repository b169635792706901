/*
 * tls.c: TLS contexts and the TLS stream (RFC 5425) on OpenSSL 3.
 *
 * Non-blocking throughout: every SSL call's SSL_ERROR_WANT_READ / WANT_WRITE becomes the
 * stream's wants(), so the event loop waits for exactly what OpenSSL needs (no busy loop on
 * EAGAIN), and pending() exposes records OpenSSL has already decrypted, which epoll cannot
 * see. Peer verification is decided in the verify callback with the rules of tls_verify.c,
 * so a peer that fails the policy gets a TLS alert during the handshake (RFC 5425 §5) and
 * the log line says why in operator terms.
 */
#include "transport/tls.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
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

struct tls_stream {
    struct tl_stream base;
    SSL *ssl;
    struct tl_tls_ctx *ctx;
    enum tl_tls_role role;
    unsigned wants;
    bool handshake_done;
    bool checked_first_bytes;
    char *server_name;             /* client: the name dialled */
    /* What the verify callback found wrong, for the log line. */
    bool failed;
    enum tl_verify_fail fail;
    long x509_result;
    int depth;
    /* The certificates involved, allocated only on a failure (they are large, and every
     * connection carries this struct while it lives). */
    struct fail_certs *fc;
    const char *fail_kind;
    /* The end a read met after returning the records before it (TL_IO_EOF or
     * TL_IO_ERROR, err already written); TL_IO_OK when none. */
    enum tl_io read_end;
};

/* Before an SSL call on the data path: ERR_clear_error walks and resets every slot of the
 * thread's error queue, a measurable cost once per record; the queue is almost always
 * empty already, and peeking is cheap. */
static void clear_errors(void)
{
    if (ERR_peek_error() != 0) {
        ERR_clear_error();
    }
}

struct fail_certs {
    struct tl_peer_cert peer;     /* the peer's certificate */
    struct tl_peer_cert at_depth; /* the certificate the error is about */
    bool have_peer;
    bool have_at_depth;
};

static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void make_ex_index(void)
{
    ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static const char *auth_name(enum tl_auth_mode a)
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

/* The first entry of OpenSSL's error queue as text, and the queue emptied. */
static const char *ssl_err_text(char *out, size_t cap)
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

static char *read_password(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read tls.key_password_file %s: %s", path, strerror(errno));
        return NULL;
    }
    char line[1024];
    char *pw = NULL;
    if (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        pw = strdup(line);
    } else {
        snprintf(err, errlen, "tls.key_password_file %s is empty", path);
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
static bool check_secret_mode(const char *owner, const char *what, const char *path, char *err,
                              size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return true; /* loading it reports the problem */
    }
    unsigned mode = (unsigned)(st.st_mode & 07777);
    if (st.st_mode & 07) {
        snprintf(err, errlen, "%s: %s %s is readable by others (mode %04o): anyone on this host "
                 "could use it; fix: chmod 600 %s (or 640 with a group that holds only the "
                 "daemon's user)", owner, what, path, mode, path);
        return false;
    }
    /* The daemon's own unprivileged group (the packaged _tlslogd, or group: after the drop)
     * is the documented owner of a 0640 key: no warning for that one. */
    if ((st.st_mode & 070) && (st.st_gid != getegid() || getegid() == 0)) {
        tl_warn("%s: %s %s is readable by its group (mode %04o); fine if that group holds only "
                "the daemon's user, otherwise fix: chmod 600 %s", owner, what, path, mode, path);
    }
    return true;
}

static bool load_crl(SSL_CTX *ssl, const char *path, char *err, size_t errlen)
{
    BIO *b = BIO_new_file(path, "r");
    if (!b) {
        snprintf(err, errlen, "cannot read tls.crl_file %s: %s", path, strerror(errno));
        ERR_clear_error();
        return false;
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
        snprintf(err, errlen, "tls.crl_file %s holds no PEM CRL (\"-----BEGIN X509 CRL-----\")",
                 path);
        return false;
    }
    /* Every certificate of the chain, not only the peer's own: a revoked intermediate CA
     * must stop everything it issued. */
    X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return true;
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
    char e[128];
    if (tl_peer_cert_from_x509(x, &pc, e, sizeof(e))) {
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
static bool check_crl_coverage(const struct tl_conf_tls *conf, const char *owner, char *err,
                               size_t errlen)
{
    if (conf->ca_file && strcmp(conf->ca_file, "system") == 0) {
        snprintf(err, errlen, "%s: tls.crl_file is set with tls.ca_file: system: every CA of "
                 "the system store would need its CRL in %s; fix: put the CAs you rely on in a "
                 "tls.ca_file of their own", owner, conf->crl_file);
        return false;
    }
    STACK_OF(X509) *cas = sk_X509_new_null();
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
    bool ok = cas && crls;
    if (!ok) {
        snprintf(err, errlen, "%s: out of memory", owner);
    }
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
            snprintf(err, errlen, "%s: tls.crl_file %s holds no CRL issued by the CA '%s' (from "
                     "%s): with tls.crl_file set, every certificate of a chain is checked "
                     "against its issuer's CRL, and every peer that CA vouches for would be "
                     "refused; fix: add that CA's current CRL to %s (openssl ca -gencrl), or "
                     "remove that CA from the trusted CAs", owner, conf->crl_file,
                     subject_of(ca, name, sizeof(name)),
                     conf->ca_dir ? "tls.ca_file/ca_dir" : "tls.ca_file", conf->crl_file);
            ok = false;
        }
    }
    sk_X509_pop_free(cas, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    return ok;
}

/* A ca_file that holds only a leaf (often our own certificate by mistake) anchors nothing. */
static bool check_ca_file(const struct tl_conf_tls *conf, const char *owner, char *err,
                          size_t errlen)
{
    if (!conf->ca_file || strcmp(conf->ca_file, "system") == 0) {
        return true;
    }
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (!certs) {
        return true;
    }
    read_pem_objects(conf->ca_file, certs, NULL);
    bool anchor = false;
    for (int i = 0; !anchor && i < sk_X509_num(certs); i++) {
        X509 *x = sk_X509_value(certs, i);
        /* A self-signed leaf anchors itself: that very peer is trusted. */
        anchor = (X509_get_extension_flags(x) & EXFLAG_CA) || X509_self_signed(x, 0) == 1;
    }
    ERR_clear_error();
    if (!anchor && sk_X509_num(certs) > 0) {
        X509 *x = sk_X509_value(certs, 0);
        char subj[512];
        char iss[512];
        struct tl_peer_cert pc;
        char e[128];
        snprintf(iss, sizeof(iss), "?");
        if (tl_peer_cert_from_x509(x, &pc, e, sizeof(e))) {
            snprintf(iss, sizeof(iss), "%s", pc.issuer);
        }
        tl_peer_cert_fini(&pc);
        snprintf(err, errlen, "%s: tls.ca_file %s holds no CA certificate: '%s' is a leaf "
                 "certificate (CA:FALSE) issued by '%s', and cannot vouch for anyone; fix: set "
                 "tls.ca_file to the certificate of the CA that issues the peers' certificates "
                 "(here probably '%s')", owner, conf->ca_file, subject_of(x, subj, sizeof(subj)),
                 iss, iss);
    }
    sk_X509_pop_free(certs, X509_free);
    return anchor || err[0] == '\0';
}

/*
 * Our own certificate must be valid now: every peer that verifies it would refuse it, and the
 * cause is found fastest here, at start (or at a reload, which then keeps the previous one).
 */
static bool check_own_dates(SSL_CTX *ssl, const struct tl_conf_tls *conf, const char *owner,
                            char *err, size_t errlen)
{
    X509 *leaf = SSL_CTX_get0_certificate(ssl);
    if (!leaf) {
        return true;
    }
    char when[TL_TIME_STRLEN];
    char subj[512];
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
        tl_asn1_time_text(X509_get0_notAfter(leaf), when, sizeof(when), NULL);
        snprintf(err, errlen, "%s: our certificate expired on %s: renew it (tls.cert_file %s, "
                 "subject %s); every peer that verifies it would refuse it, so tlslogd does not "
                 "start with it", owner, when, conf->cert_file,
                 subject_of(leaf, subj, sizeof(subj)));
        ERR_clear_error();
        return false;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
        tl_asn1_time_text(X509_get0_notBefore(leaf), when, sizeof(when), NULL);
        snprintf(err, errlen, "%s: our certificate is not valid before %s (tls.cert_file %s, "
                 "subject %s): check this host's clock, or wait until then", owner, when,
                 conf->cert_file, subject_of(leaf, subj, sizeof(subj)));
        ERR_clear_error();
        return false;
    }
    if (X509_get_extension_flags(leaf) & EXFLAG_CA) {
        tl_warn("%s: our certificate in tls.cert_file %s is a CA certificate (CA:TRUE): tlslogd "
                "peers refuse a CA certificate as a peer's own; use a leaf certificate", owner,
                conf->cert_file);
    }
    ERR_clear_error();
    return true;
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

static int verify_cb(int ok, X509_STORE_CTX *xs);

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
                                  const char *owner, char *err, size_t errlen)
{
    pthread_once(&ex_once, make_ex_index);
    ERR_clear_error();
    struct tl_tls_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "%s: out of memory", owner);
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
        snprintf(err, errlen, "%s: cannot create a TLS context: %s", owner,
                 ssl_err_text(e, sizeof(e)));
        goto fail;
    }
    SSL_CTX_set_min_proto_version(c->ssl,
                                  conf->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    /* No renegotiation, no compression; a peer that drops TCP without close_notify is an
     * EOF the framer judges (on a frame boundary it is harmless), not an error. */
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
        snprintf(err, errlen, "%s: cannot set the default TLS 1.2 ciphers (%s)", owner,
                 ssl_err_text(e, sizeof(e)));
        goto fail;
    }
    if (conf->ciphers && SSL_CTX_set_cipher_list(c->ssl, conf->ciphers) != 1) {
        snprintf(err, errlen, "%s: tls.ciphers '%s' selects no cipher OpenSSL knows (%s)",
                 owner, conf->ciphers, ssl_err_text(e, sizeof(e)));
        goto fail;
    }
    if (conf->ciphersuites && SSL_CTX_set_ciphersuites(c->ssl, conf->ciphersuites) != 1) {
        snprintf(err, errlen, "%s: tls.ciphersuites '%s' is not a valid TLS 1.3 suite list (%s)",
                 owner, conf->ciphersuites, ssl_err_text(e, sizeof(e)));
        goto fail;
    }
    if (conf->ca_file && strcmp(conf->ca_file, "system") == 0) {
        if (SSL_CTX_set_default_verify_paths(c->ssl) != 1) {
            snprintf(err, errlen, "%s: cannot load the system trust store (%s)", owner,
                     ssl_err_text(e, sizeof(e)));
            goto fail;
        }
        if (conf->ca_dir && SSL_CTX_load_verify_dir(c->ssl, conf->ca_dir) != 1) {
            snprintf(err, errlen, "%s: cannot use tls.ca_dir %s (%s)", owner, conf->ca_dir,
                     ssl_err_text(e, sizeof(e)));
            goto fail;
        }
    } else if (conf->ca_file || conf->ca_dir) {
        if (conf->ca_file && SSL_CTX_load_verify_file(c->ssl, conf->ca_file) != 1) {
            int sys = errno;
            snprintf(err, errlen, "%s: cannot load tls.ca_file %s: %s", owner, conf->ca_file,
                     access(conf->ca_file, R_OK) != 0 ? strerror(sys)
                                                      : "no PEM certificate in it");
            ERR_clear_error();
            goto fail;
        }
        if (conf->ca_dir && SSL_CTX_load_verify_dir(c->ssl, conf->ca_dir) != 1) {
            snprintf(err, errlen, "%s: cannot use tls.ca_dir %s (%s)", owner, conf->ca_dir,
                     ssl_err_text(e, sizeof(e)));
            goto fail;
        }
        err[0] = '\0';
        if (!check_ca_file(conf, owner, err, errlen)) {
            goto fail;
        }
    } else if (c->auth == TL_AUTH_CERTVALID || c->auth == TL_AUTH_NAME) {
        snprintf(err, errlen,
                 "%s: auth mode '%s' verifies the peer's certificate against trusted CAs, but "
                 "none is configured; set tls.ca_file (a PEM file, or \"system\") or "
                 "tls.ca_dir",
                 owner, auth_name(c->auth));
        goto fail;
    }
    if (conf->cert_file || conf->key_file) {
        if (!conf->cert_file || !conf->key_file) {
            snprintf(err, errlen, "%s: tls.cert_file and tls.key_file go together; set both",
                     owner);
            goto fail;
        }
        if (SSL_CTX_use_certificate_chain_file(c->ssl, conf->cert_file) != 1) {
            int sys = errno;
            snprintf(err, errlen, "%s: cannot load tls.cert_file %s: %s", owner, conf->cert_file,
                     access(conf->cert_file, R_OK) != 0 ? strerror(sys)
                                                        : ssl_err_text(e, sizeof(e)));
            ERR_clear_error();
            goto fail;
        }
        if (!check_secret_mode(owner, "private key", conf->key_file, err, errlen)) {
            goto fail;
        }
        if (conf->key_password_file) {
            if (!check_secret_mode(owner, "tls.key_password_file", conf->key_password_file, err,
                                   errlen)) {
                goto fail;
            }
            password = read_password(conf->key_password_file, err, errlen);
            if (!password) {
                goto fail;
            }
            SSL_CTX_set_default_passwd_cb(c->ssl, password_cb);
            SSL_CTX_set_default_passwd_cb_userdata(c->ssl, password);
        }
        if (SSL_CTX_use_PrivateKey_file(c->ssl, conf->key_file, SSL_FILETYPE_PEM) != 1) {
            int sys = errno;
            if (key_mismatch_in_queue()) {
                snprintf(err, errlen,
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
            snprintf(err, errlen, "%s: cannot load tls.key_file %s: %s", owner, conf->key_file,
                     why);
            ERR_clear_error();
            goto fail;
        }
        SSL_CTX_set_default_passwd_cb(c->ssl, NULL);
        SSL_CTX_set_default_passwd_cb_userdata(c->ssl, NULL);
        if (SSL_CTX_check_private_key(c->ssl) != 1) {
            snprintf(err, errlen, "%s: tls.key_file %s is not the key of the certificate in %s",
                     owner, conf->key_file, conf->cert_file);
            ERR_clear_error();
            goto fail;
        }
        if (!check_own_dates(c->ssl, conf, owner, err, errlen)) {
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
        snprintf(err, errlen,
                 "%s: a TLS input needs a certificate: set tls.cert_file and tls.key_file "
                 "(make one with: tlslog cert issue)",
                 owner);
        goto fail;
    }
    if (conf->crl_file && (!load_crl(c->ssl, conf->crl_file, err, errlen) ||
                           !check_crl_coverage(conf, owner, err, errlen))) {
        goto fail;
    }
    c->has_crl = conf->crl_file != NULL;
    if (c->auth == TL_AUTH_FINGERPRINT) {
        if (conf->n_fingerprints == 0) {
            snprintf(err, errlen, "%s: auth mode 'fingerprint' needs at least one entry in "
                                  "tls.fingerprints (see: tlslog cert info PEER.pem)",
                     owner);
            goto fail;
        }
        c->fps = calloc(conf->n_fingerprints, sizeof(*c->fps));
        if (!c->fps) {
            snprintf(err, errlen, "%s: out of memory", owner);
            goto fail;
        }
        for (size_t i = 0; i < conf->n_fingerprints; i++) {
            char why[200];
            if (!tl_fingerprint_parse(conf->fingerprints[i], &c->fps[i], why, sizeof(why))) {
                snprintf(err, errlen, "%s: tls.fingerprints: %s", owner, why);
                goto fail;
            }
        }
        c->n_fps = conf->n_fingerprints;
    }
    if (conf->n_permitted_peers) {
        c->permitted = calloc(conf->n_permitted_peers, sizeof(char *));
        if (!c->permitted) {
            snprintf(err, errlen, "%s: out of memory", owner);
            goto fail;
        }
        for (size_t i = 0; i < conf->n_permitted_peers; i++) {
            c->permitted[i] = strdup(conf->permitted_peers[i]);
            if (!c->permitted[i]) {
                snprintf(err, errlen, "%s: out of memory", owner);
                goto fail;
            }
            c->n_permitted++;
        }
    } else if (c->auth == TL_AUTH_NAME && role == TL_TLS_SERVER) {
        snprintf(err, errlen, "%s: auth mode 'name' needs tls.permitted_peers: the names (or "
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
    SSL_CTX_set_verify(c->ssl, mode, c->auth == TL_AUTH_ANON ? NULL : verify_cb);
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

bool tl_tls_slot_init(struct tl_tls_slot *slot, const struct tl_conf_tls *c,
                      enum tl_tls_role role, const char *owner, char *err, size_t errlen)
{
    memset(slot, 0, sizeof(*slot));
    pthread_mutex_init(&slot->lock, NULL);
    slot->conf = c;
    slot->role = role;
    snprintf(slot->owner, sizeof(slot->owner), "%s", owner);
    slot->ctx = tl_tls_ctx_new(c, role, owner, err, errlen);
    if (slot->ctx && role == TL_TLS_CLIENT && slot->ctx->auth == TL_AUTH_ANON) {
        tl_warn("%s: tls.auth is anon: the server's certificate is not verified (encryption "
                "only; anyone on the path can pose as the server); set tls.auth: name and "
                "tls.ca_file to verify it",
                owner);
    }
    return slot->ctx != NULL;
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

/* ---- Verification -------------------------------------------------------------------------- */

static void record_failure(struct tls_stream *t, enum tl_verify_fail kind, long result,
                           int depth, X509 *leaf, X509 *at_depth)
{
    if (t->failed) {
        return;
    }
    t->failed = true;
    t->fail = kind;
    t->x509_result = result;
    t->depth = depth;
    char e[128];
    struct fail_certs *fc = t->fc ? t->fc : calloc(1, sizeof(*fc));
    if (!fc) {
        return; /* the log line then lacks the certificate details */
    }
    t->fc = fc;
    if (leaf && tl_peer_cert_from_x509(leaf, &fc->peer, e, sizeof(e))) {
        fc->have_peer = true;
    }
    if (at_depth && at_depth != leaf &&
        tl_peer_cert_from_x509(at_depth, &fc->at_depth, e, sizeof(e))) {
        fc->have_at_depth = true;
    }
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_stream *t = ssl ? SSL_get_ex_data(ssl, ex_index) : NULL;
    if (!t) {
        return ok;
    }
    struct tl_tls_ctx *c = t->ctx;
    int depth = X509_STORE_CTX_get_error_depth(xs);
    X509 *cur = X509_STORE_CTX_get_current_cert(xs);
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    if (c->auth == TL_AUTH_FINGERPRINT) {
        /* RFC 5425 §5.1: the fingerprint alone authorises; no CA is needed, so chain
         * errors do not count. The decision is taken on the peer's own certificate. */
        if (depth > 0) {
            return 1;
        }
        struct tl_peer_cert pc;
        char e[128];
        bool listed = tl_peer_cert_from_x509(cur, &pc, e, sizeof(e)) &&
                      tl_peer_cert_fingerprint_listed(&pc, c->fps, c->n_fps);
        tl_peer_cert_fini(&pc);
        if (listed) {
            X509_STORE_CTX_set_error(xs, X509_V_OK);
            return 1;
        }
        record_failure(t, TL_VERIFY_FINGERPRINT, 0, 0, leaf, NULL);
        t->fail_kind = "fingerprint_mismatch";
        X509_STORE_CTX_set_error(xs, ERR_FOR_POLICY);
        return 0;
    }
    if (!ok) {
        long r = X509_STORE_CTX_get_error(xs);
        record_failure(t, TL_VERIFY_CHAIN, r, depth, leaf, cur);
        switch (r) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            t->fail_kind = "expired";
            break;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            t->fail_kind = "not_yet_valid";
            break;
        case X509_V_ERR_CERT_REVOKED:
            t->fail_kind = "revoked";
            break;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            t->fail_kind = "unknown_ca";
            break;
        case X509_V_ERR_UNABLE_TO_GET_CRL:
        case X509_V_ERR_CRL_HAS_EXPIRED:
        case X509_V_ERR_CRL_NOT_YET_VALID:
            /* Our CRL configuration, not the peer's certificate (the default alert,
             * unknown_ca, would send the peer looking for the wrong problem). */
            t->fail_kind = "crl_problem";
            X509_STORE_CTX_set_error(xs, ERR_FOR_LOCAL);
            break;
        default:
            t->fail_kind = "bad_certificate";
            break;
        }
        return 0;
    }
    if (depth == 0 && (X509_get_extension_flags(cur) & EXFLAG_CA)) {
        /* A CA certificate as the peer's own: whoever holds its key can issue any
         * certificate; a leaf is CA:FALSE. (Not in fingerprint mode: a pinned
         * certificate is trusted as itself, and openssl req -x509 marks its self-signed
         * certificates CA:TRUE.) */
        record_failure(t, TL_VERIFY_CA_AS_LEAF, 0, 0, cur, NULL);
        t->fail_kind = "ca_as_leaf";
        X509_STORE_CTX_set_error(xs, ERR_FOR_CA_LEAF);
        return 0;
    }
    if (depth == 0 && c->auth == TL_AUTH_NAME) {
        struct tl_peer_cert pc;
        char e[128];
        bool permitted = false;
        if (tl_peer_cert_from_x509(cur, &pc, e, sizeof(e))) {
            if (c->n_permitted) {
                permitted = tl_peer_cert_permitted(&pc, (const char *const *)c->permitted,
                                                   c->n_permitted);
            } else if (t->server_name) {
                /* An output without permitted_peers: the server must carry the name we
                 * dialled (RFC 5425 §5.2). */
                const char *want = t->server_name;
                permitted = tl_peer_cert_permitted(&pc, &want, 1);
            }
        }
        tl_peer_cert_fini(&pc);
        if (!permitted) {
            record_failure(t, TL_VERIFY_NAME, 0, 0, cur, NULL);
            t->fail_kind = "name_mismatch";
            X509_STORE_CTX_set_error(xs, ERR_FOR_POLICY);
            return 0;
        }
    }
    return 1;
}

/* ---- The stream ---------------------------------------------------------------------------- */

/* Before SSL_accept: does the client speak TLS at all? A TLS connection starts with a
 * handshake record: 0x16, then version 0x03 0x0N. */
static enum tl_io check_first_bytes(struct tls_stream *t)
{
    uint8_t b[24];
    ssize_t n = recv(t->base.fd, b, sizeof(b), MSG_PEEK);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            t->wants = TL_WANT_READ;
            return TL_IO_AGAIN;
        }
        snprintf(t->base.err, sizeof(t->base.err), "read failed before the TLS handshake: %s",
                 strerror(errno));
        t->fail_kind = "io_error";
        return TL_IO_ERROR;
    }
    if (n == 0) {
        snprintf(t->base.err, sizeof(t->base.err),
                 "the peer closed the connection before starting a TLS handshake");
        t->fail_kind = "closed_early";
        return TL_IO_ERROR;
    }
    if (b[0] == 0x16 && (n < 2 || b[1] == 0x03)) {
        t->checked_first_bytes = true;
        return TL_IO_OK;
    }
    char ex[24 * 4 + 4];
    tl_quote_bytes(ex, b, (size_t)n, 24);
    bool syslog_like = b[0] == '<' || (b[0] >= '1' && b[0] <= '9');
    snprintf(t->base.err, sizeof(t->base.err),
             "the client sent %s instead of a TLS handshake (first bytes: \"%s\"); hint: "
             "configure the sender for TLS (e.g. rsyslog StreamDriverMode=1, syslog-ng "
             "transport(tls)), or send plaintext to a tcp input instead",
             syslog_like ? "plaintext syslog" : "data that is not TLS", ex);
    t->fail_kind = "plaintext";
    return TL_IO_ERROR;
}

/* What the verify callback found wrong, in the operator's words. */
static void failure_text(const struct tls_stream *t, char *err, size_t cap)
{
    bool server = t->role == TL_TLS_SERVER;
    struct tl_verify_failure vf = {0};
    vf.kind = t->fail;
    vf.side = server ? TL_VERIFY_INPUT : TL_VERIFY_OUTPUT;
    vf.x509_result = t->x509_result;
    vf.depth = t->depth;
    vf.peer = t->fc && t->fc->have_peer ? &t->fc->peer : NULL;
    vf.at_depth = t->fc && t->fc->have_at_depth ? &t->fc->at_depth : NULL;
    vf.auth_mode = auth_name(t->ctx->auth);
    const char *dialled = t->server_name;
    if (t->ctx->n_permitted) {
        vf.names = (const char *const *)t->ctx->permitted;
        vf.n_names = t->ctx->n_permitted;
    } else {
        vf.names = &dialled;
        vf.n_names = dialled ? 1 : 0;
    }
    vf.names_key = t->ctx->n_permitted || server ? "tls.permitted_peers"
                                                 : "the target host name (or set "
                                                   "tls.permitted_peers)";
    vf.fp_key = "tls.fingerprints";
    vf.ca_key = "tls.ca_file (or tls.ca_dir)";
    vf.crl_key = "tls.crl_file";
    tl_verify_message(&vf, err, cap);
}

/* Our own certificate, read out for messages; false when we have none. */
static bool own_cert(const struct tls_stream *t, struct tl_peer_cert *pc)
{
    X509 *x = SSL_get_certificate(t->ssl);
    char e[128];
    memset(pc, 0, sizeof(*pc));
    return x && tl_peer_cert_from_x509(x, pc, e, sizeof(e));
}

/* An alert the peer sent about our certificate: true with the sentence in err. */
static bool explain_alert(struct tls_stream *t, int alert, char *err, size_t cap)
{
    struct tl_peer_cert ours;
    bool have = own_cert(t, &ours);
    enum tl_verify_side side = t->role == TL_TLS_SERVER ? TL_VERIFY_INPUT : TL_VERIFY_OUTPUT;
    size_t n = tl_alert_message(alert, side, have ? &ours : NULL, t->ctx->cert_keys, err, cap);
    tl_peer_cert_fini(&ours);
    if (n == 0) {
        return false;
    }
    if (alert == TL_ALERT_CERTIFICATE_REQUIRED || (!have && side == TL_VERIFY_OUTPUT &&
                                                   alert != TL_ALERT_INTERNAL_ERROR)) {
        t->fail_kind = "client_certificate_required";
    } else if (alert == TL_ALERT_HANDSHAKE_FAILURE) {
        t->fail_kind = "handshake_failure_alert";
    } else if (alert == TL_ALERT_INTERNAL_ERROR) {
        t->fail_kind = "peer_internal_error";
    } else {
        t->fail_kind = "peer_rejected_our_certificate";
    }
    return true;
}

/* Turns a failed SSL call into a sentence in base.err (and fail_kind). */
static void explain_ssl_error(struct tls_stream *t, int ssl_error, const char *phase)
{
    char *err = t->base.err;
    size_t cap = sizeof(t->base.err);
    unsigned long e = ERR_peek_last_error();
    int reason = ERR_GET_REASON(e);
    bool server = t->role == TL_TLS_SERVER;
    if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN || e == 0) {
        int sys = errno;
        if (!t->handshake_done) {
            snprintf(err, cap, "the peer closed the connection during the TLS handshake%s",
                     server ? " (it may not trust our certificate: check its CA "
                              "configuration and its log)"
                            : " (it may require a client certificate (set tls.cert_file and "
                              "tls.key_file), or not trust ours: check its log)");
            t->fail_kind = "closed_in_handshake";
        } else {
            snprintf(err, cap, "connection %s: %s", phase,
                     sys ? strerror(sys) : "closed by the peer");
            t->fail_kind = "io_error";
        }
        ERR_clear_error();
        return;
    }
    if (t->failed) {
        failure_text(t, err, cap);
        ERR_clear_error();
        return;
    }
    int alert = ERR_GET_LIB(e) == ERR_LIB_SSL && reason > SSL_AD_REASON_OFFSET &&
                        reason < SSL_AD_REASON_OFFSET + 256
                    ? reason - SSL_AD_REASON_OFFSET
                    : -1;
    if (alert > 0 && explain_alert(t, alert, err, cap)) {
        ERR_clear_error();
        return;
    }
    const char *kind = "handshake_failed";
    char detail[200];
    const char *r = ERR_reason_error_string(e);
    snprintf(detail, sizeof(detail), "%s", r ? r : "unknown error");
    switch (reason) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        snprintf(err, cap, "the peer sent no certificate but auth mode '%s' requires one; "
                           "hint: configure a client certificate on the sender (tls.cert_file "
                           "and tls.key_file; rsyslog: StreamDriver.CertFile/KeyFile; "
                           "syslog-ng: cert-file()/key-file())",
                 auth_name(t->ctx->auth));
        kind = "no_client_certificate";
        break;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
        snprintf(err, cap,
                 "TLS protocol version mismatch (%s): this side accepts TLS 1.%u and later "
                 "(tls.min_version) and the peer offers none of those, or the reverse; hint: "
                 "upgrade the peer to TLS 1.%u or later%s",
                 detail, t->ctx->min_version - 10, t->ctx->min_version - 10,
                 t->ctx->min_version == 13 ? ", or set tls.min_version: \"1.2\"" : "");
        kind = "protocol_version";
        break;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
        if (!server) {
            snprintf(err, cap, "the server did not answer with TLS (%s): is this port a "
                               "plaintext syslog listener? hint: point the target at the "
                               "receiver's TLS port (usually 6514), or use transport: tcp",
                     detail);
            kind = "not_tls";
        } else {
            snprintf(err, cap, "TLS protocol version mismatch or garbage from the client (%s); "
                               "this side accepts TLS 1.%u and later (tls.min_version)",
                     detail, t->ctx->min_version - 10);
            kind = "protocol_version";
        }
        break;
    case SSL_R_NO_SHARED_CIPHER:
        snprintf(err, cap, "no cipher in common with the peer (%s); hint: compare tls.ciphers "
                           "(TLS 1.2) and tls.ciphersuites (TLS 1.3) with the peer's settings",
                 detail);
        kind = "no_shared_cipher";
        break;
    default:
        snprintf(err, cap, "TLS %s failed: %s", phase, detail);
        break;
    }
    t->fail_kind = kind;
    ERR_clear_error();
}

static enum tl_io after_ssl_call(struct tls_stream *t, int rc, const char *phase)
{
    int se = SSL_get_error(t->ssl, rc);
    switch (se) {
    case SSL_ERROR_WANT_READ:
        t->wants = TL_WANT_READ;
        return TL_IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        t->wants = TL_WANT_WRITE;
        return TL_IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        if (t->handshake_done) {
            return TL_IO_EOF;
        }
        explain_ssl_error(t, se, phase);
        return TL_IO_ERROR;
    case SSL_ERROR_SYSCALL:
        if (t->handshake_done && errno == 0 && ERR_peek_error() == 0) {
            return TL_IO_EOF;
        }
        explain_ssl_error(t, se, phase);
        return TL_IO_ERROR;
    default:
        explain_ssl_error(t, se, phase);
        return TL_IO_ERROR;
    }
}

static enum tl_io tls_handshake(struct tl_stream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    if (t->handshake_done) {
        return TL_IO_OK;
    }
    if (t->role == TL_TLS_SERVER && !t->checked_first_bytes) {
        enum tl_io rc = check_first_bytes(t);
        if (rc != TL_IO_OK) {
            return rc;
        }
    }
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->handshake_done = true;
        t->wants = TL_WANT_READ;
        return TL_IO_OK;
    }
    return after_ssl_call(t, rc, "handshake");
}

static enum tl_io read_failed(struct tls_stream *t, int rc)
{
    enum tl_io r = after_ssl_call(t, rc, "read");
    if (r == TL_IO_EOF && (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN)) {
        /* RFC 5425 §4.4: answer the peer's close_notify. */
        SSL_shutdown(t->ssl);
    }
    return r;
}

static enum tl_io tls_read(struct tl_stream *s, void *buf, size_t len, size_t *nread)
{
    struct tls_stream *t = (struct tls_stream *)s;
    *nread = 0;
    if (t->read_end != TL_IO_OK) {
        enum tl_io r = t->read_end;
        t->read_end = TL_IO_OK;
        return r;
    }
    clear_errors();
    errno = 0;
    size_t got = 0;
    int rc = SSL_read_ex(t->ssl, buf, len, &got);
    if (rc != 1) {
        return read_failed(t, rc);
    }
    /* SSL_read returns one record at a time, and many senders (loggen among them) write
     * one message per record: take every record OpenSSL already holds, so the framer and
     * the batch see one large read rather than one per message. */
    while (got < len && SSL_has_pending(t->ssl)) {
        size_t more = 0;
        errno = 0;
        rc = SSL_read_ex(t->ssl, (uint8_t *)buf + got, len - got, &more);
        if (rc != 1) {
            /* Report what came before first; the end (if it is one) on the next call. */
            enum tl_io r = read_failed(t, rc);
            if (r != TL_IO_AGAIN) {
                t->read_end = r;
            }
            break;
        }
        got += more;
    }
    *nread = got;
    return TL_IO_OK;
}

static enum tl_io tls_write(struct tl_stream *s, const void *buf, size_t len, size_t *nwritten)
{
    struct tls_stream *t = (struct tls_stream *)s;
    *nwritten = 0;
    clear_errors();
    errno = 0;
    int rc = SSL_write_ex(t->ssl, buf, len, nwritten);
    if (rc == 1) {
        return TL_IO_OK;
    }
    return after_ssl_call(t, rc, "write");
}

static unsigned tls_wants(const struct tl_stream *s)
{
    return ((const struct tls_stream *)s)->wants;
}

static size_t tls_pending(const struct tl_stream *s)
{
    const struct tls_stream *t = (const struct tls_stream *)s;
    int n = SSL_pending(t->ssl);
    if (n > 0) {
        return (size_t)n;
    }
    /* With read-ahead, raw bytes of the next record may sit in OpenSSL's buffer. */
    return SSL_has_pending(t->ssl) ? 1 : 0;
}

static enum tl_io tls_shutdown(struct tl_stream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    if (!t->handshake_done) {
        return TL_IO_OK;
    }
    ERR_clear_error();
    int rc = SSL_shutdown(t->ssl);
    if (rc >= 0) {
        /* 0: our close_notify is sent; waiting for the peer's is not required. */
        return TL_IO_OK;
    }
    int se = SSL_get_error(t->ssl, rc);
    ERR_clear_error();
    if (se == SSL_ERROR_WANT_WRITE) {
        t->wants = TL_WANT_WRITE;
        return TL_IO_AGAIN;
    }
    if (se == SSL_ERROR_WANT_READ) {
        t->wants = TL_WANT_READ;
        return TL_IO_AGAIN;
    }
    return TL_IO_OK;
}

static void tls_free(struct tl_stream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    SSL_free(t->ssl);
    if (s->fd >= 0) {
        close(s->fd);
    }
    tl_tls_ctx_unref(t->ctx);
    if (t->fc) {
        tl_peer_cert_fini(&t->fc->peer);
        tl_peer_cert_fini(&t->fc->at_depth);
        free(t->fc);
    }
    free(t->server_name);
    free(t);
}

static uint64_t tls_wire_written(const struct tl_stream *s)
{
    const struct tls_stream *t = (const struct tls_stream *)s;
    BIO *w = SSL_get_wbio(t->ssl);
    return w ? BIO_number_written(w) : 0;
}

static const struct tl_stream_ops tls_ops = {
    .name = "tls",
    .handshake = tls_handshake,
    .read = tls_read,
    .write = tls_write,
    .wants = tls_wants,
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .free = tls_free,
    .wire_written = tls_wire_written,
};

bool tl_stream_is_tls(const struct tl_stream *s)
{
    return s && s->ops == &tls_ops;
}

static bool is_ip_literal(const char *host)
{
    struct tl_san_ip ip;
    return tl_ip_pattern_parse(host, &ip);
}

struct tl_stream *tl_stream_tls_new(int fd, const struct tl_addr *peer, struct tl_tls_ctx *ctx,
                                    enum tl_tls_role role, const char *server_name, char *err,
                                    size_t errlen)
{
    pthread_once(&ex_once, make_ex_index);
    struct tls_stream *t = calloc(1, sizeof(*t));
    SSL *ssl = t ? SSL_new(ctx->ssl) : NULL;
    if (!ssl) {
        snprintf(err, errlen, "out of memory for a TLS session");
        free(t);
        close(fd);
        ERR_clear_error();
        return NULL;
    }
    t->base.ops = &tls_ops;
    t->base.fd = fd;
    if (peer) {
        t->base.peer = *peer;
    }
    t->ssl = ssl;
    t->role = role;
    t->ctx = ctx;
    tl_tls_ctx_ref(ctx);
    t->wants = TL_WANT_READ;
    if (server_name) {
        t->server_name = strdup(server_name);
    }
    SSL_set_ex_data(ssl, ex_index, t);
    SSL_set_fd(ssl, fd);
    if (role == TL_TLS_SERVER) {
        SSL_set_accept_state(ssl);
    } else {
        SSL_set_connect_state(ssl);
        /* SNI carries a host name, never an address (RFC 6066 §3). */
        if (t->server_name && !is_ip_literal(t->server_name)) {
            SSL_set_tlsext_host_name(ssl, t->server_name);
        }
        t->wants = TL_WANT_WRITE;
    }
    return &t->base;
}

struct tl_peer_id *tl_stream_tls_peer_id(struct tl_stream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    X509 *x = SSL_get1_peer_certificate(t->ssl);
    bool verified = t->ctx->auth != TL_AUTH_ANON;
    if (!x) {
        return tl_peer_id_new(false, NULL, NULL, "anonymous", NULL, NULL, 0);
    }
    struct tl_peer_cert pc;
    char e[128];
    struct tl_peer_id *id = NULL;
    if (tl_peer_cert_from_x509(x, &pc, e, sizeof(e))) {
        char names[512];
        tl_peer_cert_names(&pc, names, sizeof(names));
        /* Every name the certificate is matched by: dNSNames (or the CN without them) and
         * the IP SANs. */
        size_t n = 0;
        const char *list[64];
        for (size_t i = 0; i < pc.n_dns && n < 64; i++) {
            list[n++] = pc.dns[i];
        }
        if (pc.n_dns == 0 && pc.cn) {
            list[n++] = pc.cn;
        }
        for (size_t i = 0; i < pc.n_ips && n < 64; i++) {
            list[n++] = pc.ips[i].text;
        }
        id = tl_peer_id_new(verified, n ? list[0] : NULL, pc.subject, names, pc.sha256_text,
                            list, n);
    }
    tl_peer_cert_fini(&pc);
    X509_free(x);
    return id;
}

const char *tl_stream_tls_session(struct tl_stream *s, char *out, size_t cap)
{
    struct tls_stream *t = (struct tls_stream *)s;
    snprintf(out, cap, "%s, %s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
    return out;
}

const char *tl_stream_tls_fail_kind(const struct tl_stream *s)
{
    const struct tls_stream *t = (const struct tls_stream *)s;
    return t->fail_kind ? t->fail_kind : "other";
}

const char *tl_stream_tls_early_close(struct tl_stream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    struct tl_peer_cert ours;
    char *err = t->base.err;
    size_t cap = sizeof(t->base.err);
    bool client = t->role == TL_TLS_CLIENT;
    if (own_cert(t, &ours)) {
        char names[160];
        tl_peer_cert_names(&ours, names, sizeof(names));
        snprintf(err, cap, "%s closed the connection right after the TLS handshake without an "
                 "alert: it most likely refused our certificate (%s, issued by '%s'), as "
                 "rsyslog does when it does not trust our CA or does not permit our names "
                 "(TLS 1.3 settles the client certificate after the client's handshake); hint: "
                 "its log says why", client ? "the loghost" : "the client", names, ours.issuer);
    } else {
        snprintf(err, cap, "%s closed the connection right after the TLS handshake without an "
                 "alert: it most likely requires a client certificate; hint: set %s",
                 client ? "the loghost" : "the client", t->ctx->cert_keys);
    }
    tl_peer_cert_fini(&ours);
    t->fail_kind = "closed_after_handshake";
    return err;
}

bool tl_stream_tls_recheck(struct tl_stream *s, struct tl_tls_slot *slot, char *why,
                           size_t cap)
{
    struct tls_stream *t = (struct tls_stream *)s;
    struct tl_tls_ctx *now = tl_tls_slot_get(slot);
    if (now == t->ctx) {
        tl_tls_ctx_unref(now);
        return true;
    }
    bool ok = true;
    if (now->auth != TL_AUTH_ANON) {
        X509 *leaf = SSL_get0_peer_certificate(t->ssl);
        if (!leaf) {
            snprintf(why, cap, "the peer sent no certificate but auth mode '%s' requires one",
                     auth_name(now->auth));
            ok = false;
        } else {
            /* The chain the peer sent at the handshake (kept with the session), verified
             * against the new store and policy by the same callback as a handshake. */
            struct tl_tls_ctx *was = t->ctx;
            t->ctx = now;
            t->failed = false;
            X509_STORE_CTX *xs = X509_STORE_CTX_new();
            ok = xs && X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(now->ssl), leaf,
                                           SSL_get_peer_cert_chain(t->ssl)) == 1;
            if (ok) {
                X509_STORE_CTX_set_default(xs, t->role == TL_TLS_SERVER ? "ssl_client"
                                                                        : "ssl_server");
                X509_STORE_CTX_set_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx(), t->ssl);
                X509_STORE_CTX_set_verify_cb(xs, verify_cb);
                ok = X509_verify_cert(xs) == 1;
                if (!ok && t->failed) {
                    failure_text(t, why, cap);
                } else if (!ok) {
                    snprintf(why, cap, "certificate verify failed: %s",
                             tl_verify_reason(X509_STORE_CTX_get_error(xs)));
                }
            } else {
                snprintf(why, cap, "out of memory re-checking the peer's certificate");
            }
            X509_STORE_CTX_free(xs);
            ERR_clear_error();
            t->ctx = was;
        }
    }
    if (ok) {
        /* Passed: from now on the connection answers to the new policy. */
        tl_tls_ctx_unref(t->ctx);
        t->ctx = now;
    } else {
        tl_tls_ctx_unref(now);
    }
    return ok;
}
