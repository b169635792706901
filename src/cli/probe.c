/*
 * probe.c: `tlslog probe HOST:PORT`, a diagnosis of a TLS syslog receiver (RFC 5425).
 *
 * It connects, runs a TLS handshake with verification switched off (so that it gets as far as
 * possible and sees everything the server presents), records the chain exactly as the server
 * sent it, and then judges that chain the way each authentication mode would (anon,
 * certvalid, name, fingerprint), with the rules of tls_verify.c and tlslogd's own wording.
 * Whatever fails is said in plain words with what to change: the CA to trust, the name to
 * connect by or to permit, the fingerprint to pin, a client certificate to give, or that the
 * port does not speak TLS at all.
 *
 * This file talks to OpenSSL directly (like the certificate tool) because it must see what a
 * verifying connection hides: the whole chain of a server that would be refused, the
 * server's CertificateRequest, and the alerts it sends.
 */
#include "cli/probe.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "core/addr.h"
#include "core/log.h"
#include "transport/tls_verify.h"

#define PROG "tlslog probe"
#define DEFAULT_TIMEOUT_MS 10000
/* After a handshake in which the server asked for our certificate, how long to wait for it to
 * reject that certificate (TLS 1.3 clients finish before the server has judged it). */
#define REJECT_WAIT_MS 1000
#define NO_ALERT (-1)

/* TLS alert descriptions (RFC 8446 §6). */
enum {
    AD_HANDSHAKE_FAILURE = 40,
    AD_BAD_CERTIFICATE = 42,
    AD_UNSUPPORTED_CERTIFICATE = 43,
    AD_CERTIFICATE_REVOKED = 44,
    AD_CERTIFICATE_EXPIRED = 45,
    AD_CERTIFICATE_UNKNOWN = 46,
    AD_UNKNOWN_CA = 48,
    AD_ACCESS_DENIED = 49,
    AD_PROTOCOL_VERSION = 70,
    AD_INSUFFICIENT_SECURITY = 71,
    AD_UNRECOGNIZED_NAME = 112,
    AD_CERTIFICATE_REQUIRED = 116,
};

static const char usage_text[] =
    "usage: tlslog probe HOST:PORT [--ca FILE] [--cert FILE --key FILE] [--peer NAME]\n"
    "                    [--timeout SECONDS]\n"
    "\n"
    "Connects to a TLS syslog receiver (port default 6514) and shows what it presents: the\n"
    "TLS version and cipher, its certificate chain as sent (names, validity, fingerprints),\n"
    "whether it asks for a client certificate, and for each authentication mode (anon,\n"
    "certvalid, name, fingerprint) whether it would be accepted and what to change if not.\n"
    "Exit status 0 when the handshake works (or is refused only for want of a client\n"
    "certificate we were not given) and, given --ca, the chain verifies and a certificate\n"
    "name matches; 1 otherwise; 2 for a usage error.\n"
    "\n"
    "  --ca FILE               the CA(s) to verify the chain with (\"system\": the system store)\n"
    "  --cert FILE --key FILE  a client certificate (chain) and key to present\n"
    "  --peer NAME             the name the server's certificate must carry (repeatable;\n"
    "                          default HOST)\n"
    "  --timeout SECONDS       bound on connecting and on the handshake (default 10; also\n"
    "                          500ms, 1m)\n";

enum {
    OPT_CA = 256,
    OPT_CERT,
    OPT_KEY,
    OPT_PEER,
    OPT_TIMEOUT,
};

static const struct option long_options[] = {
    { "ca", required_argument, NULL, OPT_CA },
    { "cert", required_argument, NULL, OPT_CERT },
    { "key", required_argument, NULL, OPT_KEY },
    { "peer", required_argument, NULL, OPT_PEER },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

struct opts {
    const char *server;
    const char *ca;
    const char *cert;
    const char *key;
    const char **peers;       /* argv strings; the array is ours */
    size_t n_peers;
    int64_t timeout_ms;
};

/* What went wrong before or during the handshake. */
enum failure {
    F_NONE = 0,
    F_NO_ANSWER,          /* the server never answered the ClientHello */
    F_PLAINTEXT,          /* it answered with bytes that are not TLS */
    F_CLOSED,             /* it closed the connection */
    F_CLIENT_CERT,        /* it wants a client certificate we did not give */
    F_CERT_REJECTED,      /* it refused the client certificate we gave */
    F_OTHER,
};

struct probe {
    const struct opts *o;
    struct tl_cli_target target;
    X509_STORE *store;             /* from --ca; NULL without */
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    STACK_OF(X509) *chain;         /* as the server sent it, its own certificate first */
    bool cert_requested;           /* the server sent a CertificateRequest */
    int alert_in;                  /* the last alert the server sent, or NO_ALERT */
    int alert_out;                 /* the last alert we sent */
    unsigned char first[32];       /* the first bytes the server sent */
    size_t n_first;
    bool handshake_ok;
    bool closed_cleanly;           /* the server sent close_notify right after the handshake */
    enum failure fail;
    char problem[1024];            /* fail in plain words */
};

/* ---- options ------------------------------------------------------------------------------ */

static int parse_opts(struct opts *o, int argc, char **argv)
{
    int c;
    char why[200];
    struct tl_err e;
    o->peers = calloc((size_t)argc, sizeof(*o->peers));
    if (o->peers == NULL) {
        return tl_cli_fail("out of memory");
    }
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage_text, stdout);
            return TL_CLI_OK;
        case '?':
        case ':':
            return tl_cli_getopt_error(PROG, c, argv);
        case OPT_CA:
            o->ca = optarg;
            break;
        case OPT_CERT:
            o->cert = optarg;
            break;
        case OPT_KEY:
            o->key = optarg;
            break;
        case OPT_PEER:
            if (tl_name_pattern_check(optarg, &e) != TL_OK) {
                return tl_cli_usage_error(PROG, "--peer %s", tl_err_text(&e, why, sizeof(why)));
            }
            o->peers[o->n_peers++] = optarg;
            break;
        case OPT_TIMEOUT:
            if (!tl_cli_parse_timeout(optarg, &o->timeout_ms)) {
                return tl_cli_usage_error(PROG, "--timeout '%s': seconds (or 500ms, 1m), at "
                                                "most 1h", optarg);
            }
            break;
        default:
            return tl_cli_usage_error(PROG, "unexpected option");
        }
    }
    if (optind >= argc) {
        return tl_cli_usage_error(PROG, "name the server: HOST:PORT");
    }
    if (argc - optind > 1) {
        return tl_cli_usage_error(PROG, "probe one server at a time ('%s' is extra)",
                                  argv[optind + 1]);
    }
    o->server = argv[optind];
    if ((o->cert == NULL) != (o->key == NULL)) {
        return tl_cli_usage_error(PROG, "--cert and --key go together");
    }
    return -1;
}

/* OpenSSL's reason for the failure just seen; empties the queue. */
static const char *ssl_why(char *out, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    snprintf(out, cap, "%s", r != NULL ? r : "unknown OpenSSL error");
    ERR_clear_error();
    return out;
}

/* ---- TLS setup ---------------------------------------------------------------------------- */

/* Replaces OpenSSL's chain verification: keeps the chain as sent and accepts it, so that the
 * handshake goes on whatever the chain is; it is judged afterwards. */
static int record_chain(X509_STORE_CTX *xs, void *arg)
{
    struct probe *p = arg;
    STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(xs);
    if (p->chain == NULL) {
        if (sent != NULL && sk_X509_num(sent) > 0) {
            p->chain = X509_chain_up_ref(sent);
        } else if (X509_STORE_CTX_get0_cert(xs) != NULL) {
            p->chain = sk_X509_new_null();
            X509 *leaf = X509_STORE_CTX_get0_cert(xs);
            if (p->chain != NULL && X509_up_ref(leaf) == 1 && sk_X509_push(p->chain, leaf) <= 0) {
                X509_free(leaf);
            }
        }
    }
    return 1;
}

/* Watches the handshake for the server's CertificateRequest and for alerts either way. */
static void watch_messages(int write_p, int version, int content_type, const void *buf,
                           size_t len, SSL *ssl, void *arg)
{
    struct probe *p = arg;
    const unsigned char *b = buf;
    (void)version;
    (void)ssl;
    if (content_type == SSL3_RT_ALERT && len == 2) {
        if (write_p) {
            p->alert_out = b[1];
        } else {
            p->alert_in = b[1];
        }
    } else if (content_type == SSL3_RT_HANDSHAKE && !write_p && len > 0 &&
               b[0] == SSL3_MT_CERTIFICATE_REQUEST) {
        p->cert_requested = true;
    }
}

static bool load_ca(struct probe *p)
{
    const char *ca = p->o->ca;
    p->store = X509_STORE_new();
    if (p->store == NULL) {
        tl_cli_fail("out of memory");
        return false;
    }
    if (strcmp(ca, "system") == 0) {
        if (X509_STORE_set_default_paths(p->store) != 1) {
            char e[160];
            fprintf(stderr, "%s: cannot load the system trust store: %s\n", PROG,
                    ssl_why(e, sizeof(e)));
            return false;
        }
        return true;
    }
    if (access(ca, R_OK) != 0) {
        fprintf(stderr, "%s: cannot read --ca %s: %s\n", PROG, ca, strerror(errno));
        return false;
    }
    if (X509_STORE_load_file(p->store, ca) != 1) {
        fprintf(stderr, "%s: --ca %s holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")\n",
                PROG, ca);
        ERR_clear_error();
        return false;
    }
    return true;
}

static bool make_ctx(struct probe *p)
{
    const struct opts *o = p->o;
    char e[160];
    p->ctx = SSL_CTX_new(TLS_client_method());
    if (p->ctx == NULL) {
        fprintf(stderr, "%s: cannot create a TLS context: %s\n", PROG, ssl_why(e, sizeof(e)));
        return false;
    }
    /* What tlslogd accepts: TLS 1.2 and later. */
    SSL_CTX_set_min_proto_version(p->ctx, TLS1_2_VERSION);
    /* Whole reads, so that a plaintext answer is seen as text rather than 5 bytes. */
    SSL_CTX_set_read_ahead(p->ctx, 1);
    SSL_CTX_set_verify(p->ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_cert_verify_callback(p->ctx, record_chain, p);
    SSL_CTX_set_msg_callback(p->ctx, watch_messages);
    SSL_CTX_set_msg_callback_arg(p->ctx, p);
    if (o->cert == NULL) {
        return true;
    }
    if (access(o->cert, R_OK) != 0) {
        fprintf(stderr, "%s: cannot read --cert %s: %s\n", PROG, o->cert, strerror(errno));
        return false;
    }
    if (SSL_CTX_use_certificate_chain_file(p->ctx, o->cert) != 1) {
        fprintf(stderr, "%s: cannot load --cert %s: %s\n", PROG, o->cert, ssl_why(e, sizeof(e)));
        return false;
    }
    if (access(o->key, R_OK) != 0) {
        fprintf(stderr, "%s: cannot read --key %s: %s\n", PROG, o->key, strerror(errno));
        return false;
    }
    if (SSL_CTX_use_PrivateKey_file(p->ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(p->ctx) != 1) {
        ERR_clear_error();
        fprintf(stderr, "%s: --key %s is not a PEM private key (unencrypted) of the certificate "
                        "in --cert %s\n", PROG, o->key, o->cert);
        return false;
    }
    return true;
}

/* ---- the handshake ------------------------------------------------------------------------ */

/* Keeps the first bytes the server sent as OpenSSL reads them, to tell a plaintext port. */
static long watch_reads(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
                        int ret, size_t *processed)
{
    struct probe *p = (struct probe *)BIO_get_callback_arg(b);
    (void)len;
    (void)argi;
    (void)argl;
    if (p != NULL && oper == (BIO_CB_READ | BIO_CB_RETURN) && ret > 0 && processed != NULL &&
        p->n_first < sizeof(p->first)) {
        size_t n = sizeof(p->first) - p->n_first;
        if (n > *processed) {
            n = *processed;
        }
        memcpy(p->first + p->n_first, argp, n);
        p->n_first += n;
    }
    return ret;
}

/* When the server's first bytes are not TLS, says so and returns true. */
static bool spoke_plaintext(struct probe *p)
{
    if (p->n_first == 0 || tl_cli_looks_tls(p->first, p->n_first)) {
        return false;
    }
    char ex[120];
    tl_cli_excerpt(p->first, p->n_first, ex, sizeof(ex));
    p->fail = F_PLAINTEXT;
    snprintf(p->problem, sizeof(p->problem),
             "the port speaks plaintext (not TLS): the server answered our TLS ClientHello with "
             "\"%s\"; hint: use the receiver's TLS port (usually 6514), or --transport tcp", ex);
    return true;
}

/* Did the failed SSL call see the server close the connection? (OpenSSL 3 reports an EOF
 * without close_notify as an error of its own.) Call before the error queue is emptied. */
static bool closed_by_server(int ssl_error)
{
    return ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN ||
           (ssl_error == SSL_ERROR_SSL &&
            ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
}

static const char *alert_name(int a)
{
    switch (a) {
    case AD_HANDSHAKE_FAILURE:
        return "handshake_failure";
    case AD_BAD_CERTIFICATE:
        return "bad_certificate";
    case AD_UNSUPPORTED_CERTIFICATE:
        return "unsupported_certificate";
    case AD_CERTIFICATE_REVOKED:
        return "certificate_revoked";
    case AD_CERTIFICATE_EXPIRED:
        return "certificate_expired";
    case AD_CERTIFICATE_UNKNOWN:
        return "certificate_unknown";
    case AD_UNKNOWN_CA:
        return "unknown_ca";
    case AD_ACCESS_DENIED:
        return "access_denied";
    case AD_PROTOCOL_VERSION:
        return "protocol_version";
    case AD_INSUFFICIENT_SECURITY:
        return "insufficient_security";
    case AD_UNRECOGNIZED_NAME:
        return "unrecognized_name";
    case AD_CERTIFICATE_REQUIRED:
        return "certificate_required";
    default:
        return SSL_alert_desc_string_long(a);
    }
}

static bool alert_about_our_cert(int a)
{
    return a == AD_BAD_CERTIFICATE || a == AD_UNSUPPORTED_CERTIFICATE ||
           a == AD_CERTIFICATE_REVOKED || a == AD_CERTIFICATE_EXPIRED ||
           a == AD_CERTIFICATE_UNKNOWN || a == AD_UNKNOWN_CA || a == AD_ACCESS_DENIED;
}

/* Puts a failed SSL call (handshake, or the read after it) into plain words. */
static void explain(struct probe *p, int ssl_error)
{
    unsigned long e = ERR_peek_last_error();
    int reason = ERR_GET_REASON(e);
    bool have_cert = p->o->cert != NULL;
    bool closed = closed_by_server(ssl_error);
    char why[160];
    ssl_why(why, sizeof(why));
    if (!have_cert && (p->alert_in == AD_CERTIFICATE_REQUIRED ||
                       reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
                       (p->cert_requested && (closed || p->alert_in != NO_ALERT)))) {
        p->fail = F_CLIENT_CERT;
        snprintf(p->problem, sizeof(p->problem),
                 "the server asks for a client certificate (mutual authentication): give --cert "
                 "and --key (a certificate issued by a CA the server trusts; tlslogd: "
                 "tls.cert_file and tls.key_file)%s%s%s",
                 p->alert_in != NO_ALERT ? " [alert " : "",
                 p->alert_in != NO_ALERT ? alert_name(p->alert_in) : "",
                 p->alert_in != NO_ALERT ? "]" : "");
        return;
    }
    if (have_cert && (alert_about_our_cert(p->alert_in) ||
                      (p->cert_requested && p->alert_in == AD_CERTIFICATE_REQUIRED))) {
        /* The same words as tlslogd and tlslog send use for the same alert. */
        struct tl_peer_cert ours;
        X509 *x = SSL_get_certificate(p->ssl);
        bool have = x != NULL && tl_peer_cert_from_x509(x, &ours, NULL) == TL_OK;
        p->fail = F_CERT_REJECTED;
        if (tl_alert_message(p->alert_in, TL_VERIFY_OUTPUT, have ? &ours : NULL,
                             "--cert and --key", p->problem, sizeof(p->problem)) == 0) {
            snprintf(p->problem, sizeof(p->problem), "the server rejected our client "
                     "certificate (alert %s); hint: the server's log says why",
                     alert_name(p->alert_in));
        }
        if (have) {
            tl_peer_cert_fini(&ours);
        }
        return;
    }
    p->fail = F_OTHER;
    if (p->alert_in == AD_PROTOCOL_VERSION || reason == SSL_R_UNSUPPORTED_PROTOCOL ||
        reason == SSL_R_VERSION_TOO_LOW || reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
        reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION) {
        snprintf(p->problem, sizeof(p->problem),
                 "no TLS version in common (%s): we offer TLS 1.2 and 1.3, as tlslogd does; "
                 "hint: upgrade the server to TLS 1.2 or later", why);
    } else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG) {
        p->fail = F_PLAINTEXT;
        snprintf(p->problem, sizeof(p->problem),
                 "the port speaks plaintext (not TLS): %s; hint: use the receiver's TLS port "
                 "(usually 6514)", why);
    } else if (p->alert_in == AD_HANDSHAKE_FAILURE || p->alert_in == AD_INSUFFICIENT_SECURITY ||
               reason == SSL_R_NO_SHARED_CIPHER) {
        snprintf(p->problem, sizeof(p->problem),
                 "the server aborted the handshake (alert %s): no cipher in common, or it "
                 "requires something of the client it did not get; hint: its log says which",
                 alert_name(p->alert_in != NO_ALERT ? p->alert_in : AD_HANDSHAKE_FAILURE));
    } else if (p->alert_in == AD_UNRECOGNIZED_NAME) {
        snprintf(p->problem, sizeof(p->problem),
                 "the server does not serve the name '%s' we asked for (SNI, alert "
                 "unrecognized_name); hint: connect by the name it is configured with",
                 p->target.host);
    } else if (p->alert_in != NO_ALERT) {
        snprintf(p->problem, sizeof(p->problem), "the server aborted the handshake with alert %s "
                 "(%s)", alert_name(p->alert_in), why);
    } else if (closed) {
        p->fail = F_CLOSED;
        snprintf(p->problem, sizeof(p->problem),
                 "the server closed the connection during the TLS handshake%s",
                 p->cert_requested ? " after asking for our certificate (it does not accept the "
                                     "one we gave; its log says why)"
                                   : " (its log says why)");
    } else {
        snprintf(p->problem, sizeof(p->problem), "TLS handshake failed: %s", why);
    }
}

static bool handshake(struct probe *p, int64_t deadline)
{
    char d[32];
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int rc = SSL_do_handshake(p->ssl);
        if (rc == 1) {
            return true;
        }
        int se = SSL_get_error(p->ssl, rc);
        if (spoke_plaintext(p)) {
            return false;
        }
        if (se != SSL_ERROR_WANT_READ && se != SSL_ERROR_WANT_WRITE) {
            if (p->n_first == 0 && closed_by_server(se)) {
                p->fail = F_CLOSED;
                snprintf(p->problem, sizeof(p->problem),
                         "the server closed the connection without answering our TLS "
                         "ClientHello: the port may be a plaintext syslog listener, or the "
                         "server refuses this client (its log says why)");
                ERR_clear_error();
                return false;
            }
            explain(p, se);
            return false;
        }
        if (tl_cli_wait(p->fd, se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) != 0) {
            continue;
        }
        if (p->n_first == 0) {
            p->fail = F_NO_ANSWER;
            snprintf(p->problem, sizeof(p->problem),
                     "no TLS answer within %s: the port may be a plaintext syslog listener (it "
                     "takes our TLS ClientHello as data and waits for more); hint: use the "
                     "receiver's TLS port (usually 6514), or send plaintext with --transport tcp",
                     tl_cli_duration_text(p->o->timeout_ms, d, sizeof(d)));
        } else {
            p->fail = F_OTHER;
            snprintf(p->problem, sizeof(p->problem),
                     "the TLS handshake did not complete within %s (the server stopped "
                     "answering)", tl_cli_duration_text(p->o->timeout_ms, d, sizeof(d)));
        }
        return false;
    }
}

/*
 * In TLS 1.3 our side of the handshake completes before the server has judged our
 * certificate (or noticed we sent none): a refusal arrives as an alert just after. Waits a
 * moment for one when the server asked for a certificate. Returns false with p->fail set when
 * the server refused.
 */
static bool check_accepted(struct probe *p, int64_t deadline)
{
    int64_t until = tl_now_ms() + REJECT_WAIT_MS;
    if (until > deadline) {
        until = deadline;
    }
    unsigned char buf[4096];
    for (;;) {
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        int rc = SSL_read_ex(p->ssl, buf, sizeof(buf), &n);
        if (rc == 1) {
            continue; /* a syslog receiver sends no data; ignore it */
        }
        int se = SSL_get_error(p->ssl, rc);
        if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE) {
            if (tl_cli_wait(p->fd, se == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, until) == 0) {
                return true; /* no complaint: accepted */
            }
            continue;
        }
        if (se == SSL_ERROR_ZERO_RETURN && (p->alert_in == NO_ALERT || p->alert_in == 0)) {
            /* A clean close (close_notify) is no refusal: a server that refuses our
             * certificate sends an alert (OpenSSL, GnuTLS, tlslogd) or drops the TCP
             * connection (rsyslog). s_server with its stdin closed does this. */
            p->closed_cleanly = true;
            ERR_clear_error();
            return true;
        }
        /* An alert, or a close: a receiver that checks names after the handshake (rsyslog)
         * just drops us. */
        explain(p, se);
        return false;
    }
}

/* ---- the report --------------------------------------------------------------------------- */

static void print_cert(X509 *x, int i, int n)
{
    struct tl_peer_cert pc;
    char err[256];
    char names[1024];
    struct tl_err ce;
    if (tl_peer_cert_from_x509(x, &pc, &ce) != TL_OK) {
        printf("certificate %d of %d: cannot be read: %s\n", i + 1, n,
               tl_err_text(&ce, err, sizeof(err)));
        return;
    }
    uint32_t flags = X509_get_extension_flags(x);
    bool is_ca = (flags & EXFLAG_CA) != 0;
    printf("certificate %d of %d%s\n", i + 1, n, i == 0 ? " (the server's own)" : "");
    printf("  subject:      %s\n", pc.subject);
    printf("  issuer:       %s\n", pc.issuer);
    printf("  kind:         %s%s\n", is_ca ? "CA" : "leaf",
           X509_self_signed(x, 0) == 1 ? ", self-signed" : "");
    tl_peer_cert_names(&pc, names, sizeof(names));
    printf("  names:        %s\n", names);
    const char *state = "valid now";
    if (X509_cmp_time(X509_get0_notAfter(x), NULL) < 0) {
        state = "EXPIRED";
    } else if (X509_cmp_time(X509_get0_notBefore(x), NULL) > 0) {
        state = "not yet valid";
    }
    ERR_clear_error();
    printf("  validity:     %s to %s: %s\n", pc.not_before, pc.not_after, state);
    if (pc.key_bits > 0) {
        printf("  key:          %s %d bits\n", pc.key_type, pc.key_bits);
    } else {
        printf("  key:          %s\n", pc.key_type);
    }
    printf("  fingerprint:  %s\n", pc.sha256_text);
    tl_peer_cert_fini(&pc);
}

static void print_chain(const struct probe *p)
{
    int n = p->chain != NULL ? sk_X509_num(p->chain) : 0;
    if (n == 0) {
        printf("server certificate: none received\n");
        return;
    }
    printf("server certificate chain as sent (%d certificate%s):\n", n, n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
        print_cert(sk_X509_value(p->chain, i), i, n);
    }
}

/* The failure text printed after "FAILED: "; also the stderr line. */
struct verdicts {
    bool chain_ok;
    bool name_ok;
    bool checked;             /* --ca given and a chain to check */
    char first[1200];         /* the first problem, for stderr */
};

static void note_first(struct verdicts *v, const char *what)
{
    if (v->first[0] == '\0') {
        snprintf(v->first, sizeof(v->first), "%s", what);
    }
}

/* Is the verify error one about a CA we do not trust? */
static bool untrusted_ca(long r)
{
    return r == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           r == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           r == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
           r == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
           r == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT;
}

/* certvalid: the chain as sent, against the --ca store, as a TLS client checks a server. */
static void judge_chain(const struct probe *p, const struct tl_peer_cert *leaf,
                        struct verdicts *v)
{
    X509_STORE_CTX *xs = X509_STORE_CTX_new();
    X509 *x0 = sk_X509_value(p->chain, 0);
    if (xs == NULL || X509_STORE_CTX_init(xs, p->store, x0, p->chain) != 1) {
        printf("  certvalid:    not checked: out of memory\n");
        X509_STORE_CTX_free(xs);
        note_first(v, "out of memory");
        return;
    }
    X509_STORE_CTX_set_default(xs, "ssl_server");
    if (X509_verify_cert(xs) == 1) {
        v->chain_ok = true;
        printf("  certvalid:    ok: the chain verifies against --ca %s\n", p->o->ca);
        X509_STORE_CTX_free(xs);
        return;
    }
    long r = X509_STORE_CTX_get_error(xs);
    int depth = X509_STORE_CTX_get_error_depth(xs);
    X509 *cur = X509_STORE_CTX_get_current_cert(xs);
    struct tl_peer_cert at;
    bool have_at = cur != NULL && cur != x0 && tl_peer_cert_from_x509(cur, &at, NULL) == TL_OK;
    struct tl_verify_failure f;
    memset(&f, 0, sizeof(f));
    f.kind = TL_VERIFY_CHAIN;
    f.side = TL_VERIFY_OUTPUT;
    f.x509_result = r;
    f.depth = depth;
    f.peer = leaf;
    f.at_depth = have_at ? &at : NULL;
    f.ca_key = "--ca (tlslogd: tls.ca_file)";
    f.fp_key = "tls.fingerprints";
    char msg[1024];
    tl_verify_message(&f, msg, sizeof(msg));
    printf("  certvalid:    FAILED: %s\n", msg);
    note_first(v, msg);
    if (untrusted_ca(r)) {
        int n = sk_X509_num(p->chain);
        X509 *top = sk_X509_value(p->chain, n - 1);
        struct tl_peer_cert tp;
        if (tl_peer_cert_from_x509(top, &tp, NULL) == TL_OK) {
            if (X509_self_signed(top, 0) == 1) {
                printf("                the CA needed: '%s' (the server sent this root itself: "
                       "give its certificate with --ca if you trust it)\n", tp.subject);
            } else {
                printf("                the CA needed: '%s' (the issuer of the last certificate "
                       "the server sent): give its certificate with --ca\n", tp.issuer);
            }
            tl_peer_cert_fini(&tp);
        }
    }
    if (have_at) {
        tl_peer_cert_fini(&at);
    }
    X509_STORE_CTX_free(xs);
    ERR_clear_error();
}

/* The name to suggest: the first dNSName, else the first IP, else the CN. */
static const char *suggest_name(const struct tl_peer_cert *pc)
{
    if (pc->n_dns > 0) {
        return pc->dns[0];
    }
    if (pc->n_ips > 0) {
        return pc->ips[0].text;
    }
    return pc->cn;
}

/* name: certvalid plus a certificate name matching --peer or HOST (RFC 5425 §5.2). */
static void judge_name(const struct probe *p, const struct tl_peer_cert *leaf,
                       struct verdicts *v)
{
    const char *host = p->target.host;
    const char *const *patterns = p->o->n_peers ? p->o->peers : &host;
    size_t n = p->o->n_peers ? p->o->n_peers : 1;
    v->name_ok = tl_peer_cert_permitted(leaf, patterns, n);
    if (v->name_ok) {
        printf("  name:         %s: the certificate carries %s%s\n",
               !v->checked ? "names match" : v->chain_ok ? "ok" : "names match, but the chain "
                                                                   "fails (see certvalid)",
               p->o->n_peers ? "a --peer name" : host,
               v->checked ? "" : " (chain not checked: give --ca)");
        return;
    }
    struct tl_verify_failure f;
    memset(&f, 0, sizeof(f));
    f.kind = TL_VERIFY_NAME;
    f.side = TL_VERIFY_OUTPUT;
    f.peer = leaf;
    f.names = patterns;
    f.n_names = n;
    f.names_key = p->o->n_peers ? "--peer" : "the host name connected to";
    char msg[1024];
    tl_verify_message(&f, msg, sizeof(msg));
    printf("  name:         FAILED: %s\n", msg);
    const char *s = suggest_name(leaf);
    if (s != NULL) {
        printf("                connect by the name %s (tlslog send --server %s:%u), or permit "
               "it: --peer %s (tlslogd: tls.permitted_peers: [\"%s\"])\n",
               s, s, (unsigned)p->target.port, s, s);
    }
    if (v->checked) {
        note_first(v, msg);
    }
}

static void print_verdicts(const struct probe *p, struct verdicts *v)
{
    int n = p->chain != NULL ? sk_X509_num(p->chain) : 0;
    printf("authentication modes:\n");
    if (p->handshake_ok) {
        printf("  anon:         ok: the handshake works (the server is not checked)%s\n",
               p->closed_cleanly ? "; then the server closed the connection cleanly "
                                   "(close_notify, no alert: not a refusal of our certificate)"
                                 : "");
    } else if (p->fail == F_CLIENT_CERT && p->o->cert == NULL) {
        /* Only our missing certificate stands in the way: the server is doing its job. */
        printf("  anon:         needs a client certificate: %s\n", p->problem);
    } else {
        printf("  anon:         FAILED: %s\n", p->problem);
        note_first(v, p->problem);
    }
    if (n == 0) {
        printf("  certvalid:    not checked: the server sent no certificate\n");
        printf("  name:         not checked: the server sent no certificate\n");
        printf("  fingerprint:  not checked: the server sent no certificate\n");
        return;
    }
    struct tl_peer_cert leaf;
    char e[200];
    struct tl_err ce;
    if (tl_peer_cert_from_x509(sk_X509_value(p->chain, 0), &leaf, &ce) != TL_OK) {
        tl_err_text(&ce, e, sizeof(e));
        printf("  certvalid:    FAILED: the server's certificate cannot be read: %s\n", e);
        note_first(v, e);
        return;
    }
    v->checked = p->store != NULL;
    if (p->store != NULL) {
        judge_chain(p, &leaf, v);
    } else {
        printf("  certvalid:    not checked: give --ca (the CA that should have issued the "
               "server's certificate)\n");
    }
    judge_name(p, &leaf, v);
    printf("  fingerprint:  to pin this certificate (tlslogd: tls.auth: fingerprint; tlslog "
           "send: --fingerprint):\n");
    printf("                fingerprints: [\"%s\"]\n", leaf.sha256_text);
    tl_peer_cert_fini(&leaf);
}

static void print_session(const struct probe *p)
{
    printf("TLS:            %s, %s\n", SSL_get_version(p->ssl), SSL_get_cipher_name(p->ssl));
}

static void print_client_cert(const struct probe *p)
{
    if (!p->cert_requested) {
        printf("client certificate: not asked for\n");
        return;
    }
    if (p->o->cert != NULL) {
        printf("client certificate: the server asks for one (mutual authentication); we sent "
               "--cert %s\n", p->o->cert);
    } else {
        printf("client certificate: the server asks for one (mutual authentication); we have "
               "none: give --cert and --key\n");
    }
    STACK_OF(X509_NAME) *cas = SSL_get_client_CA_list(p->ssl);
    for (int i = 0; cas != NULL && i < sk_X509_NAME_num(cas); i++) {
        char name[512];
        X509_NAME_oneline(sk_X509_NAME_value(cas, i), name, sizeof(name));
        printf("  the server accepts certificates issued by: %s\n", name);
    }
}

/* ---- main --------------------------------------------------------------------------------- */

static int run(struct probe *p)
{
    const struct opts *o = p->o;
    int64_t deadline = tl_now_ms() + o->timeout_ms;
    struct tl_addr peer;
    struct tl_err e;
    char why[1024];

    if (o->ca != NULL && !load_ca(p)) {
        return TL_CLI_FAIL;
    }
    if (!make_ctx(p)) {
        return TL_CLI_FAIL;
    }
    p->fd = tl_cli_connect(&p->target, SOCK_STREAM, deadline, &peer, &e);
    if (p->fd < 0) {
        if (e.sys_errno == ECONNREFUSED) {
            fprintf(stderr, "%s: nothing listens on %s (connection refused)\n", PROG,
                    p->target.text);
        } else {
            fprintf(stderr, "%s: cannot connect to %s: %s\n", PROG, p->target.text,
                    tl_err_text(&e, why, sizeof(why)));
        }
        return TL_CLI_FAIL;
    }
    char addr[TL_ADDR_STRLEN];
    tl_addr_format(&peer, true, addr, sizeof(addr));
    printf("probe of %s: TCP connection to %s\n", p->target.text, addr);
    p->ssl = SSL_new(p->ctx);
    if (p->ssl == NULL || SSL_set_fd(p->ssl, p->fd) != 1) {
        return tl_cli_fail("out of memory");
    }
    struct tl_san_ip ip;
    if (!tl_ip_pattern_parse(p->target.host, &ip)) {
        /* SNI carries a host name, never an address (RFC 6066 §3). */
        SSL_set_tlsext_host_name(p->ssl, p->target.host);
    }
    BIO *rbio = SSL_get_rbio(p->ssl);
    BIO_set_callback_arg(rbio, (char *)p);
    BIO_set_callback_ex(rbio, watch_reads);
    SSL_set_connect_state(p->ssl);
    deadline = tl_now_ms() + o->timeout_ms;
    p->handshake_ok = handshake(p, deadline);
    if (p->handshake_ok && p->cert_requested) {
        p->handshake_ok = check_accepted(p, deadline);
    }
    if (p->handshake_ok || p->chain != NULL) {
        print_session(p);
    }
    if (p->handshake_ok || p->chain != NULL || p->cert_requested) {
        print_client_cert(p);
        print_chain(p);
    }
    struct verdicts v;
    memset(&v, 0, sizeof(v));
    print_verdicts(p, &v);
    /* A server that refuses us only for want of a client certificate is a sound mutual-TLS
     * server: the probe of it succeeds, and says what the client still needs. */
    bool only_cert = !p->handshake_ok && p->fail == F_CLIENT_CERT && o->cert == NULL &&
                     p->chain != NULL;
    bool ok = (p->handshake_ok || only_cert) && (p->store == NULL || (v.chain_ok && v.name_ok));
    if (ok && only_cert) {
        printf("result: ok for the server; it requires a client certificate (mutual "
               "authentication): give --cert and --key to check that it accepts yours\n");
    } else if (ok) {
        printf("result: ok\n");
    } else {
        printf("result: FAILED\n");
        fprintf(stderr, "%s: %s: %s\n", PROG, p->target.text, v.first);
    }
    if (p->handshake_ok) {
        /* Our close_notify; the server's answer is not awaited. */
        ERR_clear_error();
        SSL_shutdown(p->ssl);
    }
    ERR_clear_error();
    return ok ? TL_CLI_OK : TL_CLI_FAIL;
}

int tl_cli_probe_main(int argc, char **argv)
{
    struct opts o;
    struct probe p;
    char why[200];

    /* A peer that closes while we write must be an error return (EPIPE), not a signal. */
    signal(SIGPIPE, SIG_IGN);
    memset(&o, 0, sizeof(o));
    o.timeout_ms = DEFAULT_TIMEOUT_MS;
    memset(&p, 0, sizeof(p));
    p.o = &o;
    p.fd = -1;
    p.alert_in = NO_ALERT;
    p.alert_out = NO_ALERT;
    int rc = parse_opts(&o, argc, argv);
    struct tl_err e;
    if (rc < 0 && tl_cli_target_parse(o.server, 6514, &p.target, &e) != TL_OK) {
        rc = tl_cli_usage_error(PROG, "'%s': %s", o.server, tl_err_text(&e, why, sizeof(why)));
    }
    if (rc < 0) {
        rc = run(&p);
        fflush(stdout);
    }
    SSL_free(p.ssl);
    if (p.fd >= 0) {
        close(p.fd);
    }
    SSL_CTX_free(p.ctx);
    X509_STORE_free(p.store);
    sk_X509_pop_free(p.chain, X509_free);
    tl_cli_target_fini(&p.target);
    free(o.peers);
    return rc;
}
