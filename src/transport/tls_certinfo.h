/*
 * tls_certinfo.h: the certificates an input or output uses, with their expiry, for the
 * metrics endpoint (tlslogd_tls_certificate_not_after_timestamp_seconds): its own chain
 * (tls.cert_file) and the CAs it trusts (tls.ca_file, unless "system"), read again from the
 * same files whenever the TLS context is (start-up, SIGHUP), so the figures follow the
 * certificates in use. A set is filled by the main thread and read by the metrics thread
 * under its lock.
 */
#ifndef TL_TRANSPORT_TLS_CERTINFO_H
#define TL_TRANSPORT_TLS_CERTINFO_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

struct tl_cert_expiry {
    const char *role;          /* "certificate" (cert_file: leaf, then chain) or "ca" */
    char subject[256];         /* RFC 2253: "CN=loghost.example.net,O=Example" */
    int64_t not_after;         /* seconds since the epoch; 0 when unreadable */
};

struct tl_cert_set {
    pthread_mutex_t lock;
    struct tl_cert_expiry *v;
    size_t n;
};

void tl_cert_set_init(struct tl_cert_set *s);
void tl_cert_set_fini(struct tl_cert_set *s);
/* Replaces the set with the certificates of t's cert_file and ca_file. Files that cannot be
 * read leave fewer entries (the TLS context reports those problems). */
void tl_cert_set_load(struct tl_cert_set *s, const struct tl_conf_tls *t);
/* Calls fn for each entry, under the set's lock. */
void tl_cert_set_each(struct tl_cert_set *s, void (*fn)(const struct tl_cert_expiry *, void *),
                      void *arg);

#endif
