/*
 * tls_certinfo.c: see tls_certinfo.h.
 */
#include "transport/tls_certinfo.h"

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "transport/tls_int.h"
#include "transport/tls_verify.h"

/* One certificate to fn; false when fn says stop. An unreadable one is skipped. */
static bool one(X509 *x, const char *role, bool (*fn)(const struct tl_cert_expiry *, void *),
                void *arg, size_t *n)
{
    struct tl_cert_expiry e = {.role = role};
    struct tl_peer_cert pc;

    if (tl_peer_cert_from_x509(x, &pc, NULL) != TL_OK) {
        return true;
    }
    snprintf(e.subject, sizeof(e.subject), "%s", pc.subject);
    e.not_after = (int64_t)pc.not_after_t;
    tl_peer_cert_fini(&pc);
    (*n)++;
    return fn(&e, arg);
}

size_t tl_tls_slot_each_cert(struct tl_tls_slot *slot,
                             bool (*fn)(const struct tl_cert_expiry *, void *), void *arg)
{
    struct tl_tls_ctx *ctx = tl_tls_slot_get(slot);
    size_t n = 0;
    bool go = true;

    if (ctx == NULL) {
        return 0;
    }
    X509 *leaf = SSL_CTX_get0_certificate(ctx->ssl);
    if (leaf != NULL) {
        STACK_OF(X509) *chain = NULL;
        go = one(leaf, "certificate", fn, arg, &n);
        /* The chain sent after it: from cert_file, or built once at start (tls_ctx.c), which
         * ends with the root. A root is a trust anchor (role ca when we trust it ourselves),
         * not part of our own chain: left out. */
        if (SSL_CTX_get0_chain_certs(ctx->ssl, &chain) == 1) {
            for (int i = 0; go && i < sk_X509_num(chain); i++) {
                X509 *x = sk_X509_value(chain, i);
                if (!(X509_get_extension_flags(x) & EXFLAG_SS)) {
                    go = one(x, "certificate", fn, arg, &n);
                }
            }
        }
    }
    if (go && !ctx->system_cas) {
        /* get1: a copy taken under the store's lock (handshakes read the store meanwhile). */
        STACK_OF(X509) *cas = X509_STORE_get1_all_certs(SSL_CTX_get_cert_store(ctx->ssl));
        for (int i = 0; go && i < sk_X509_num(cas); i++) {
            go = one(sk_X509_value(cas, i), "ca", fn, arg, &n);
        }
        sk_X509_pop_free(cas, X509_free);
    }
    ERR_clear_error();
    tl_tls_ctx_unref(ctx);
    return n;
}
