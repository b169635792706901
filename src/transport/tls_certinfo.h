/*
 * tls_certinfo.h: the certificates a TLS input or output uses, with their expiry, for the
 * metrics endpoint (tlslogd_tls_certificate_not_after_timestamp_seconds): its own chain (what
 * it sends: tls.cert_file and the chain built from it) and the CAs it trusts (tls.ca_file,
 * unless "system": a whole system store says nothing about this deployment).
 *
 * They are read from the slot's current context (tl_tls_slot_get) when asked, not from the
 * files: after a SIGHUP reload they are the new context's, and after a failed reload still
 * the old one's, which is what connections use. Any thread.
 */
#ifndef TL_TRANSPORT_TLS_CERTINFO_H
#define TL_TRANSPORT_TLS_CERTINFO_H

#include <stdint.h>

#include "transport/tls.h"

struct tl_cert_expiry {
    const char *role;          /* "certificate" (our chain: leaf first) or "ca" */
    char subject[256];         /* RFC 2253: "CN=loghost.example.net,O=Example" */
    int64_t not_after;         /* seconds since the epoch */
};

/* Calls fn for each certificate of slot's current context; returns how many. False from fn
 * stops the walk (out of memory in the caller). */
size_t tl_tls_slot_each_cert(struct tl_tls_slot *slot,
                             bool (*fn)(const struct tl_cert_expiry *, void *), void *arg);

#endif
