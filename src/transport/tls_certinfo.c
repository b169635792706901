/*
 * tls_certinfo.c: see tls_certinfo.h.
 */
#include "transport/tls_certinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "transport/tls_verify.h"

void tl_cert_set_init(struct tl_cert_set *s)
{
    pthread_mutex_init(&s->lock, NULL);
    s->v = NULL;
    s->n = 0;
}

void tl_cert_set_fini(struct tl_cert_set *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
    pthread_mutex_destroy(&s->lock);
}

/* Appends every certificate of the PEM file path to *v. */
static void read_pem(const char *path, const char *role, struct tl_cert_expiry **v, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    X509 *x;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        struct tl_peer_cert pc;
        char err[128];
        struct tl_cert_expiry *nv = realloc(*v, (*n + 1) * sizeof(*nv));
        if (nv != NULL && tl_peer_cert_from_x509(x, &pc, err, sizeof(err))) {
            *v = nv;
            nv[*n].role = role;
            snprintf(nv[*n].subject, sizeof(nv[*n].subject), "%s", pc.subject);
            nv[*n].not_after = (int64_t)pc.not_after_t;
            (*n)++;
            tl_peer_cert_fini(&pc);
        } else if (nv != NULL) {
            *v = nv;
        }
        X509_free(x);
    }
    fclose(f);
    ERR_clear_error(); /* the end of the file reads as an error */
}

void tl_cert_set_load(struct tl_cert_set *s, const struct tl_conf_tls *t)
{
    struct tl_cert_expiry *v = NULL;
    size_t n = 0;
    if (t->cert_file != NULL) {
        read_pem(t->cert_file, "certificate", &v, &n);
    }
    if (t->ca_file != NULL && strcmp(t->ca_file, "system") != 0) {
        read_pem(t->ca_file, "ca", &v, &n);
    }
    pthread_mutex_lock(&s->lock);
    struct tl_cert_expiry *old = s->v;
    s->v = v;
    s->n = n;
    pthread_mutex_unlock(&s->lock);
    free(old);
}

void tl_cert_set_each(struct tl_cert_set *s, void (*fn)(const struct tl_cert_expiry *, void *),
                      void *arg)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n; i++) {
        fn(&s->v[i], arg);
    }
    pthread_mutex_unlock(&s->lock);
}
