#include "core/peer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *dup_or_null(const char *s, bool *ok)
{
    if (!s) {
        return NULL;
    }
    char *d = strdup(s);
    if (!d) {
        *ok = false;
    }
    return d;
}

struct tl_peer_id *tl_peer_id_new(bool verified, const char *name, const char *subject,
                                  const char *names, const char *sha256,
                                  const char *const *dns, size_t n_dns)
{
    struct tl_peer_id *id = calloc(1, sizeof(*id));
    if (!id) {
        return NULL;
    }
    bool ok = true;
    atomic_init(&id->refs, 1);
    id->verified = verified;
    id->name = dup_or_null(name, &ok);
    id->subject = dup_or_null(subject, &ok);
    id->names = dup_or_null(names, &ok);
    id->sha256 = dup_or_null(sha256, &ok);
    if (n_dns) {
        id->dns = calloc(n_dns, sizeof(*id->dns));
        if (!id->dns) {
            ok = false;
        } else {
            id->n_dns = n_dns;
            for (size_t i = 0; i < n_dns; i++) {
                id->dns[i] = dup_or_null(dns[i], &ok);
            }
        }
    }
    if (!ok) {
        tl_peer_id_unref(id);
        return NULL;
    }
    return id;
}

void tl_peer_id_ref(struct tl_peer_id *id)
{
    atomic_fetch_add_explicit(&id->refs, 1, memory_order_relaxed);
}

void tl_peer_id_unref(struct tl_peer_id *id)
{
    if (!id || atomic_fetch_sub_explicit(&id->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    free(id->name);
    free(id->subject);
    free(id->names);
    free(id->sha256);
    for (size_t i = 0; i < id->n_dns; i++) {
        free(id->dns[i]);
    }
    free(id->dns);
    free(id);
}

bool tl_peer_id_has_name(const struct tl_peer_id *id, const char *host, size_t len)
{
    for (size_t i = 0; i < id->n_dns; i++) {
        const char *n = id->dns[i];
        if (n && strlen(n) == len && strncasecmp(n, host, len) == 0) {
            return true;
        }
    }
    return false;
}
