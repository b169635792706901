#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/peer.h"
#include "in/in.h"
#include "in/rate.h"
#include "parse/parse.h"

/* hostname_must_match_cert: the HOSTNAME a sender claims must be one of its certificate's
 * names, so an authenticated client cannot log in another host's name. */
static bool hostname_ok(struct tl_input *in, const struct tl_msg *m)
{
    const struct tl_peer_id *id = m->peer_id;
    if (id && m->hostname.len &&
        tl_peer_id_has_name(id, (const char *)tl_msg_at(m, m->hostname), m->hostname.len)) {
        return true;
    }
    atomic_fetch_add_explicit(&in->stats.rejected_hostname, 1, memory_order_relaxed);
    char peer[TL_ADDR_STRLEN];
    tl_addr_format(&m->peer, true, peer, sizeof(peer));
    int hl = m->hostname.len > 255 ? 255 : (int)m->hostname.len;
    tl_log_rl(&in->rl, 20, TL_LOG_WARNING,
              "input %s: %s: message rejected: HOSTNAME '%.*s' is not a name of the sender's "
              "certificate (%s) and hostname_must_match_cert is on",
              in->conf->name, peer, hl, (const char *)tl_msg_at(m, m->hostname),
              id && id->names ? id->names : "no certificate");
    return false;
}

/* This host's name, for messages from local sockets that carry none (as syslogd does). */
/* HOST_NAME_MAX is 64 on Linux; an IPv6 address as text is at most 45 bytes. */
#define HOST_ROOM 72
static char local_host[HOST_ROOM];
static pthread_once_t local_once = PTHREAD_ONCE_INIT;

static void read_local_host(void)
{
    if (gethostname(local_host, sizeof(local_host) - 1) != 0 || local_host[0] == '\0') {
        memcpy(local_host, "localhost", sizeof("localhost"));
    }
    local_host[sizeof(local_host) - 1] = '\0';
}

const char *tl_in_local_host(size_t *len)
{
    pthread_once(&local_once, read_local_host);
    *len = strlen(local_host);
    return local_host;
}

/* A message without HOSTNAME gets one, so every format and path template agrees on it:
 * this host for local sockets, else the sender's address (RFC 3164 §4.3.3 relay rule).
 * Room for it was reserved only where a message is expected to lack one; the others grow
 * (the message is still the caller's alone). Returns the message, perhaps moved. */
static struct tl_msg *fill_hostname(struct tl_msg *m)
{
    char ip[TL_ADDR_STRLEN];
    const char *name = ip;
    size_t n;
    if (m->peer.family == AF_UNIX || m->peer.family == 0) {
        name = tl_in_local_host(&n);
    } else {
        n = tl_addr_format(&m->peer, false, ip, sizeof(ip));
    }
    struct tl_msg *g = tl_msg_grow(m, n);
    if (g) {
        m = g;
        m->hostname = tl_msg_add(m, name, n);
    }
    return m;
}

void tl_in_deliver(struct tl_worker *w, struct tl_input *in, const struct tl_addr *peer,
                   struct tl_peer_id *id, const uint8_t *p, size_t len, bool truncated,
                   int64_t recv_sec, uint32_t recv_usec)
{
    /* Room after the raw bytes for a hostname the message may lack: local messages
     * (RFC 3164 from libc's syslog()) usually do; network ones usually carry one, and
     * the few that do not are grown. */
    bool local = !peer || peer->family == AF_UNIX || peer->family == 0;
    if (in->rate != NULL && !local) {
        /* rate_limit per peer address (unix inputs count per process, in_dgram.c) */
        struct tl_source_key k;
        tl_source_key_addr(&k, peer);
        if (!tl_in_rate_ok(w, in, &k)) {
            return;
        }
    }
    struct tl_msg *m = tl_msg_new_extra(p, len, local ? HOST_ROOM : 0);
    if (!m) {
        tl_error("input %s: out of memory: message of %zu bytes lost", in->conf->name, len);
        return;
    }
    m->recv_sec = recv_sec;
    m->recv_usec = recv_usec;
    m->input = (uint16_t)in->index;
    if (peer) {
        m->peer = *peer;
    }
    if (id) {
        tl_peer_id_ref(id);
        m->peer_id = id;
    }
    tl_parse(m);
    if (m->hostname.len == 0) {
        m = fill_hostname(m);
    }
    if (truncated) {
        m->flags |= TL_MSG_TRUNCATED;
    }
    if (m->flags & TL_MSG_MALFORMED) {
        atomic_fetch_add_explicit(&in->stats.malformed, 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&in->stats.received, 1, memory_order_relaxed);
    if (in->conf->hostname_must_match_cert && !hostname_ok(in, m)) {
        tl_msg_unref(m);
        return;
    }
    tl_worker_emit(w, in, m);
}
