/*
 * peer.h: the authenticated identity of a connection's peer, shared by every message the
 * connection carries (reference-counted, immutable once created, any thread may ref/unref).
 */
#ifndef TL_CORE_PEER_H
#define TL_CORE_PEER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct tl_peer_id {
    atomic_uint refs;
    bool verified;    /* the certificate passed the input's auth mode (not anon) */
    char *name;       /* the first dNSName (or IP SAN, or CN): {peer_name}; NULL = anonymous */
    char *subject;    /* RFC 2253 subject; NULL when no certificate */
    char *names;      /* "DNS:a, IP:b" as logged */
    char *sha256;     /* "SHA256:AB:..." */
    char **dns;       /* every name the certificate is matched by (for hostname policy) */
    size_t n_dns;
};

/* Takes copies of the strings (NULL allowed). dns/n_dns are copied too. NULL on OOM. */
struct tl_peer_id *tl_peer_id_new(bool verified, const char *name, const char *subject,
                                  const char *names, const char *sha256,
                                  const char *const *dns, size_t n_dns);
void tl_peer_id_ref(struct tl_peer_id *id);
void tl_peer_id_unref(struct tl_peer_id *id);

/* True when the hostname (len bytes, not NUL-terminated) equals one of the identity's names,
 * ASCII case-insensitively. */
bool tl_peer_id_has_name(const struct tl_peer_id *id, const char *host, size_t len);

#endif
