#include "core/msg.h"

#include "core/peer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A home's return list: a lock-free stack that other threads push dead messages onto and
 * its thread takes whole (exchange with NULL), so there is no ABA. */
struct home {
    _Alignas(64) _Atomic(struct tl_msg *) returned; /* one cache line each */
};

static struct home homes[TL_MSG_HOMES];
static _Thread_local uint8_t my_home;   /* 1 + index into homes, 0: none */
static _Thread_local uint32_t made;     /* messages made since the last drain */

enum { DRAIN_EVERY = 256 };

static size_t free_chain(struct tl_msg *m)
{
    size_t n = 0;
    while (m) {
        struct tl_msg *next = m->dead_next;
        free(m);
        m = next;
        n++;
    }
    return n;
}

size_t tl_msg_home_drain(void)
{
    if (!my_home) {
        return 0;
    }
    made = 0;
    struct home *h = &homes[my_home - 1];
    if (!atomic_load_explicit(&h->returned, memory_order_relaxed)) {
        return 0;
    }
    return free_chain(atomic_exchange_explicit(&h->returned, NULL, memory_order_acquire));
}

void tl_msg_home_enter(size_t id)
{
    my_home = (uint8_t)(1 + id % TL_MSG_HOMES);
    made = 0;
}

void tl_msg_home_leave(void)
{
    tl_msg_home_drain();
    my_home = 0;
}

size_t tl_msg_homes_drain_all(void)
{
    size_t n = 0;
    for (size_t i = 0; i < TL_MSG_HOMES; i++) {
        n += free_chain(atomic_exchange_explicit(&homes[i].returned, NULL,
                                                 memory_order_acquire));
    }
    return n;
}

static void send_home(struct tl_msg *m)
{
    struct home *h = &homes[m->home - 1];
    struct tl_msg *head = atomic_load_explicit(&h->returned, memory_order_relaxed);
    do {
        m->dead_next = head;
    } while (!atomic_compare_exchange_weak_explicit(&h->returned, &head, m,
                                                    memory_order_release,
                                                    memory_order_relaxed));
}

struct tl_msg *tl_msg_new_extra(const void *data, size_t len, size_t extra)
{
    if (my_home && ++made >= DRAIN_EVERY) {
        tl_msg_home_drain();
    }
    if (len > UINT32_MAX / 2 || extra > 65536) {
        return NULL;
    }
    struct tl_msg *m = malloc(sizeof(*m) + len + extra);
    if (!m) {
        return NULL;
    }
    memset(m, 0, sizeof(*m));
    atomic_init(&m->refs, 1);
    m->facility = 1;
    m->severity = 5;
    m->home = my_home;
    m->raw_len = (uint32_t)len;
    m->raw_cap = (uint32_t)(len + extra);
    if (len) {
        memcpy(m->raw, data, len);
    }
    return m;
}

struct tl_msg *tl_msg_grow(struct tl_msg *m, size_t extra)
{
    size_t used = (size_t)m->raw_len + m->extra_len;
    if (m->raw_cap - used >= extra) {
        return m;
    }
    if (extra > 65536) {
        return NULL;
    }
    struct tl_msg *g = realloc(m, sizeof(*m) + used + extra);
    if (!g) {
        return NULL;
    }
    g->raw_cap = (uint32_t)(used + extra);
    return g;
}

struct tl_slice tl_msg_add(struct tl_msg *m, const void *p, size_t n)
{
    struct tl_slice s = {0, 0};
    size_t at = (size_t)m->raw_len + m->extra_len;
    if (n > m->raw_cap - at) {
        return s;
    }
    memcpy(m->raw + at, p, n);
    m->extra_len += (uint32_t)n;
    s.off = (uint32_t)at;
    s.len = (uint32_t)n;
    return s;
}

void tl_msg_unref(struct tl_msg *m)
{
    if (!m) {
        return;
    }
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        tl_peer_id_unref(m->peer_id);
        if (m->home && m->home != my_home) {
            send_home(m);
        } else {
            free(m);
        }
    }
}

static const char *const facilities[24] = {
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
};

static const char *const severities[8] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

const char *tl_facility_name(unsigned facility)
{
    return facility < 24 ? facilities[facility] : "?";
}

const char *tl_severity_name(unsigned severity)
{
    return severity < 8 ? severities[severity] : "?";
}

static int from_name(const char *name, const char *const *names, int n, int max)
{
    for (int i = 0; i < n; i++) {
        if (strcasecmp(name, names[i]) == 0) {
            return i;
        }
    }
    char *end = NULL;
    long v = strtol(name, &end, 10);
    if (*name && end && *end == '\0' && v >= 0 && v <= max) {
        return (int)v;
    }
    return -1;
}

int tl_facility_from_name(const char *name)
{
    return from_name(name, facilities, 24, 23);
}

int tl_severity_from_name(const char *name)
{
    if (strcasecmp(name, "warn") == 0) {
        return 4;
    }
    if (strcasecmp(name, "error") == 0) {
        return 3;
    }
    if (strcasecmp(name, "panic") == 0) {
        return 0;
    }
    return from_name(name, severities, 8, 7);
}
