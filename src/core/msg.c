#include "core/msg.h"

#include "core/peer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct tl_msg *tl_msg_new_extra(const void *data, size_t len, size_t extra)
{
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
        free(m);
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
