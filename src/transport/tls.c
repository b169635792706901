/*
 * tls.c: the TLS stream (RFC 5425) on OpenSSL 3, and peer verification.
 *
 * Non-blocking throughout: every SSL call's SSL_ERROR_WANT_READ / WANT_WRITE becomes the
 * stream's wants(), so the event loop waits for exactly what OpenSSL needs (no busy loop on
 * EAGAIN), and pending() exposes records OpenSSL has already decrypted, which epoll cannot
 * see. Peer verification is decided in the verify callback with the rules of tls_verify.c,
 * so a peer that fails the policy gets a TLS alert during the handshake (RFC 5425 §5) and
 * the log line says why in operator terms. Contexts are tls_ctx.c's.
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
    enum tl_hs_reason hs;        /* why the handshake failed; TL_HS_OTHER until known */
    /* The end a read met after returning the records before it (TL_EOF or
     * TL_E_IO, err already written); TL_OK when none. */
    enum tl_rc read_end;
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
    struct fail_certs *fc = t->fc ? t->fc : calloc(1, sizeof(*fc));
    if (!fc) {
        return; /* the log line then lacks the certificate details */
    }
    t->fc = fc;
    if (leaf && tl_peer_cert_from_x509(leaf, &fc->peer, NULL) == TL_OK) {
        fc->have_peer = true;
    }
    if (at_depth && at_depth != leaf &&
        tl_peer_cert_from_x509(at_depth, &fc->at_depth, NULL) == TL_OK) {
        fc->have_at_depth = true;
    }
}

int tl_tls_verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_stream *t = ssl ? SSL_get_ex_data(ssl, tl_tls_ex_index()) : NULL;
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
        bool listed = tl_peer_cert_from_x509(cur, &pc, NULL) == TL_OK &&
                      tl_peer_cert_fingerprint_listed(&pc, c->fps, c->n_fps);
        tl_peer_cert_fini(&pc);
        if (listed) {
            X509_STORE_CTX_set_error(xs, X509_V_OK);
            return 1;
        }
        record_failure(t, TL_VERIFY_FINGERPRINT, 0, 0, leaf, NULL);
        t->hs = TL_HS_FINGERPRINT_MISMATCH;
        X509_STORE_CTX_set_error(xs, ERR_FOR_POLICY);
        return 0;
    }
    if (!ok) {
        long r = X509_STORE_CTX_get_error(xs);
        record_failure(t, TL_VERIFY_CHAIN, r, depth, leaf, cur);
        switch (r) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            t->hs = TL_HS_EXPIRED;
            break;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            t->hs = TL_HS_NOT_YET_VALID;
            break;
        case X509_V_ERR_CERT_REVOKED:
            t->hs = TL_HS_REVOKED;
            break;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            t->hs = TL_HS_UNKNOWN_CA;
            break;
        case X509_V_ERR_UNABLE_TO_GET_CRL:
        case X509_V_ERR_CRL_HAS_EXPIRED:
        case X509_V_ERR_CRL_NOT_YET_VALID:
            /* Our CRL configuration, not the peer's certificate (the default alert,
             * unknown_ca, would send the peer looking for the wrong problem). */
            t->hs = TL_HS_CRL_PROBLEM;
            X509_STORE_CTX_set_error(xs, ERR_FOR_LOCAL);
            break;
        default:
            t->hs = TL_HS_BAD_CERTIFICATE;
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
        t->hs = TL_HS_CA_AS_LEAF;
        X509_STORE_CTX_set_error(xs, ERR_FOR_CA_LEAF);
        return 0;
    }
    if (depth == 0 && c->auth == TL_AUTH_NAME) {
        struct tl_peer_cert pc;
        bool permitted = false;
        if (tl_peer_cert_from_x509(cur, &pc, NULL) == TL_OK) {
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
            t->hs = TL_HS_NAME_MISMATCH;
            X509_STORE_CTX_set_error(xs, ERR_FOR_POLICY);
            return 0;
        }
    }
    return 1;
}

/* ---- The stream ---------------------------------------------------------------------------- */

/* Before SSL_accept: does the client speak TLS at all? A TLS connection starts with a
 * handshake record: 0x16, then version 0x03 0x0N. */
static enum tl_rc check_first_bytes(struct tls_stream *t)
{
    uint8_t b[24];
    ssize_t n = recv(t->base.fd, b, sizeof(b), MSG_PEEK);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            t->wants = TL_WANT_READ;
            return TL_AGAIN;
        }
        snprintf(t->base.err, sizeof(t->base.err), "read failed before the TLS handshake: %s",
                 strerror(errno));
        t->hs = TL_HS_IO_ERROR;
        return TL_E_IO;
    }
    if (n == 0) {
        snprintf(t->base.err, sizeof(t->base.err),
                 "the peer closed the connection before starting a TLS handshake");
        t->hs = TL_HS_CLOSED_EARLY;
        return TL_E_IO;
    }
    if (b[0] == 0x16 && (n < 2 || b[1] == 0x03)) {
        t->checked_first_bytes = true;
        return TL_OK;
    }
    char ex[24 * 4 + 4];
    tl_quote_bytes(ex, b, (size_t)n, 24);
    bool syslog_like = b[0] == '<' || (b[0] >= '1' && b[0] <= '9');
    snprintf(t->base.err, sizeof(t->base.err),
             "the client sent %s instead of a TLS handshake (first bytes: \"%s\"); hint: "
             "configure the sender for TLS (e.g. rsyslog StreamDriverMode=1, syslog-ng "
             "transport(tls)), or send plaintext to a tcp input instead",
             syslog_like ? "plaintext syslog" : "data that is not TLS", ex);
    t->hs = TL_HS_PLAINTEXT;
    return TL_E_IO;
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
    vf.auth_mode = tl_tls_auth_name(t->ctx->auth);
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
    memset(pc, 0, sizeof(*pc));
    return x && tl_peer_cert_from_x509(x, pc, NULL) == TL_OK;
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
        t->hs = TL_HS_CLIENT_CERTIFICATE_REQUIRED;
    } else if (alert == TL_ALERT_HANDSHAKE_FAILURE) {
        t->hs = TL_HS_HANDSHAKE_FAILURE_ALERT;
    } else if (alert == TL_ALERT_INTERNAL_ERROR) {
        t->hs = TL_HS_PEER_INTERNAL_ERROR;
    } else {
        t->hs = TL_HS_PEER_REJECTED_OUR_CERTIFICATE;
    }
    return true;
}

/* Turns a failed SSL call into a sentence in base.err (and the reason, t->hs). */
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
            t->hs = TL_HS_CLOSED_IN_HANDSHAKE;
        } else {
            snprintf(err, cap, "connection %s: %s", phase,
                     sys ? strerror(sys) : "closed by the peer");
            t->hs = TL_HS_IO_ERROR;
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
    enum tl_hs_reason kind = TL_HS_HANDSHAKE_FAILED;
    char detail[200];
    const char *r = ERR_reason_error_string(e);
    snprintf(detail, sizeof(detail), "%s", r ? r : "unknown error");
    switch (reason) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        snprintf(err, cap, "the peer sent no certificate but auth mode '%s' requires one; "
                           "hint: configure a client certificate on the sender (tls.cert_file "
                           "and tls.key_file; rsyslog: StreamDriver.CertFile/KeyFile; "
                           "syslog-ng: cert-file()/key-file())",
                 tl_tls_auth_name(t->ctx->auth));
        kind = TL_HS_NO_CLIENT_CERTIFICATE;
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
        kind = TL_HS_PROTOCOL_VERSION;
        break;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
        if (!server) {
            snprintf(err, cap, "the server did not answer with TLS (%s): is this port a "
                               "plaintext syslog listener? hint: point the target at the "
                               "receiver's TLS port (usually 6514), or use transport: tcp",
                     detail);
            kind = TL_HS_NOT_TLS;
        } else {
            snprintf(err, cap, "TLS protocol version mismatch or garbage from the client (%s); "
                               "this side accepts TLS 1.%u and later (tls.min_version)",
                     detail, t->ctx->min_version - 10);
            kind = TL_HS_PROTOCOL_VERSION;
        }
        break;
    case SSL_R_NO_SHARED_CIPHER:
        snprintf(err, cap, "no cipher in common with the peer (%s); hint: compare tls.ciphers "
                           "(TLS 1.2) and tls.ciphersuites (TLS 1.3) with the peer's settings",
                 detail);
        kind = TL_HS_NO_SHARED_CIPHER;
        break;
    default:
        snprintf(err, cap, "TLS %s failed: %s", phase, detail);
        break;
    }
    t->hs = kind;
    ERR_clear_error();
}

static enum tl_rc after_ssl_call(struct tls_stream *t, int rc, const char *phase)
{
    int se = SSL_get_error(t->ssl, rc);
    switch (se) {
    case SSL_ERROR_WANT_READ:
        t->wants = TL_WANT_READ;
        return TL_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        t->wants = TL_WANT_WRITE;
        return TL_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        if (t->handshake_done) {
            return TL_EOF;
        }
        explain_ssl_error(t, se, phase);
        return TL_E_IO;
    case SSL_ERROR_SYSCALL:
        if (t->handshake_done && errno == 0 && ERR_peek_error() == 0) {
            return TL_EOF;
        }
        explain_ssl_error(t, se, phase);
        return TL_E_IO;
    default:
        explain_ssl_error(t, se, phase);
        return TL_E_IO;
    }
}

static enum tl_rc tls_handshake(struct tl_stream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    if (t->handshake_done) {
        return TL_OK;
    }
    if (t->role == TL_TLS_SERVER && !t->checked_first_bytes) {
        enum tl_rc rc = check_first_bytes(t);
        if (rc != TL_OK) {
            return rc;
        }
    }
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->handshake_done = true;
        t->wants = TL_WANT_READ;
        /* From now on an input must tell an end the sender meant (close_notify) from a TCP
         * connection cut in the middle of a message: read_failed makes both an EOF, and
         * tl_stream_tls_close_notified says which one it was. */
        if (t->role == TL_TLS_SERVER) {
            SSL_clear_options(t->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
        }
        return TL_OK;
    }
    return after_ssl_call(t, rc, "handshake");
}

static enum tl_rc read_failed(struct tls_stream *t, int rc)
{
    if (SSL_get_error(t->ssl, rc) == SSL_ERROR_SSL &&
        ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        /* TCP ended without close_notify (server role, see tls_handshake). */
        ERR_clear_error();
        return TL_EOF;
    }
    enum tl_rc r = after_ssl_call(t, rc, "read");
    if (r == TL_EOF && (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN)) {
        /* RFC 5425 §4.4: answer the peer's close_notify. */
        SSL_shutdown(t->ssl);
    }
    return r;
}

static enum tl_rc tls_read(struct tl_stream *s, void *buf, size_t len, size_t *nread)
{
    struct tls_stream *t = (struct tls_stream *)s;
    *nread = 0;
    if (t->read_end != TL_OK) {
        enum tl_rc r = t->read_end;
        t->read_end = TL_OK;
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
            enum tl_rc r = read_failed(t, rc);
            if (r != TL_AGAIN) {
                t->read_end = r;
            }
            break;
        }
        got += more;
    }
    *nread = got;
    return TL_OK;
}

static enum tl_rc tls_write(struct tl_stream *s, const void *buf, size_t len, size_t *nwritten)
{
    struct tls_stream *t = (struct tls_stream *)s;
    *nwritten = 0;
    clear_errors();
    errno = 0;
    int rc = SSL_write_ex(t->ssl, buf, len, nwritten);
    if (rc == 1) {
        return TL_OK;
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

static enum tl_rc tls_shutdown(struct tl_stream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    if (!t->handshake_done) {
        return TL_OK;
    }
    ERR_clear_error();
    int rc = SSL_shutdown(t->ssl);
    if (rc >= 0) {
        /* 0: our close_notify is sent; waiting for the peer's is not required. */
        return TL_OK;
    }
    int se = SSL_get_error(t->ssl, rc);
    ERR_clear_error();
    if (se == SSL_ERROR_WANT_WRITE) {
        t->wants = TL_WANT_WRITE;
        return TL_AGAIN;
    }
    if (se == SSL_ERROR_WANT_READ) {
        t->wants = TL_WANT_READ;
        return TL_AGAIN;
    }
    return TL_OK;
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
    (void)tl_tls_ex_index();
    struct tls_stream *t = calloc(1, sizeof(*t));
    if (t) {
        t->hs = TL_HS_OTHER;
    }
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
    SSL_set_ex_data(ssl, tl_tls_ex_index(), t);
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
    struct tl_peer_id *id = NULL;
    if (tl_peer_cert_from_x509(x, &pc, NULL) == TL_OK) {
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

enum tl_hs_reason tl_stream_tls_fail_reason(const struct tl_stream *s)
{
    const struct tls_stream *t = (const struct tls_stream *)s;
    return t->hs;
}

static const char *const hs_reason_names[TL_HS_REASONS] = {
    "unknown_ca",
    "expired",
    "not_yet_valid",
    "revoked",
    "bad_certificate",
    "name_mismatch",
    "fingerprint_mismatch",
    "no_client_certificate",
    "protocol_version",
    "no_shared_cipher",
    "plaintext",
    "closed_early",
    "closed_in_handshake",
    "timeout",
    "peer_rejected_our_certificate",
    "io_error",
    "handshake_failed",
    "not_tls",
    "handshake_failure_alert",
    "ca_as_leaf",
    "crl_problem",
    "peer_internal_error",
    "client_certificate_required",
    "closed_after_handshake",
    "other",
};

const char *tl_hs_reason_name(enum tl_hs_reason r)
{
    return (unsigned)r < TL_HS_REASONS ? hs_reason_names[r] : "other";
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
    t->hs = TL_HS_CLOSED_AFTER_HANDSHAKE;
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
                     tl_tls_auth_name(now->auth));
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
                X509_STORE_CTX_set_verify_cb(xs, tl_tls_verify_cb);
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

bool tl_stream_tls_close_notified(const struct tl_stream *s)
{
    const struct tls_stream *t = (const struct tls_stream *)s;
    return (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}

const char *tl_tls_library_version(void)
{
    return OPENSSL_VERSION_TEXT;
}
