/*
 * sock.c: the socket input kinds (tcp, tls, relp, udp, unix): binding listeners (TCP and UDP
 * with SO_REUSEPORT per worker, a unix datagram socket), handing them to the workers, and
 * their TLS context. The connections themselves are in_stream.c's, the datagrams
 * in_dgram.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "core/log.h"
#include "in/in.h"
#include "in/limits.h"
#include "in/rate.h"

static const char *in_kind(const struct tl_input *in)
{
    return tl_transport_name(in->conf->transport);
}

/* probe: a socket that only checks that nobody holds the address (see probe_port): no
 * SO_REUSEPORT, no listen. */
static int bind_one(struct tl_input *in, const struct sockaddr *sa, socklen_t salen, int type,
                    uint16_t port, bool probe)
{
    int fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    int zero = 0;
    /* TCP: SO_REUSEADDR only lets us bind over connections of an earlier run in TIME_WAIT,
     * never over a listener. UDP: it would let us share the port, so the probe goes
     * without it. */
    if (!probe || type == SOCK_STREAM) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (!probe) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    }
    if (sa->sa_family == AF_INET6) {
        /* "::" serves IPv4 too unless an IPv6 address was asked for explicitly. */
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        int v6only = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) ? 0 : 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only ? &one : &zero, sizeof(int));
    }
    if (type == SOCK_DGRAM && in->conf->recv_buffer && !probe) {
        int sz = (int)in->conf->recv_buffer;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    struct sockaddr_storage ss;
    memcpy(&ss, sa, salen);
    if (ss.ss_family == AF_INET) {
        ((struct sockaddr_in *)&ss)->sin_port = htons(port);
    } else {
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
    }
    if (bind(fd, (struct sockaddr *)&ss, salen) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (type == SOCK_STREAM && !probe && listen(fd, 1024) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        return 0;
    }
    if (ss.ss_family == AF_INET) {
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/*
 * Our per-worker sockets share their port with SO_REUSEPORT, and so would a second tlslogd
 * started with the same configuration: the kernel would split the connections and datagrams
 * between the two, silently. A socket bound without SO_REUSEPORT conflicts with every
 * socket already there (another program's, or another tlslogd's group), so binding one
 * first gives "address already in use" as for any other program; it is closed before our
 * own sockets are bound. Only two daemons starting within the same microseconds could both
 * pass. With port 0 the probe also picks the port: one nobody holds. Returns 0 or errno.
 */
static int probe_port(struct tl_input *in, const struct addrinfo *ai, int type, uint16_t *port)
{
    int fd = bind_one(in, ai->ai_addr, ai->ai_addrlen, type, *port, true);
    if (fd < 0) {
        return errno;
    }
    if (*port == 0) {
        *port = bound_port(fd);
    }
    close(fd);
    return 0;
}

static bool bind_inet(struct tl_input *in, size_t n_workers)
{
    const struct tl_conf_input *c = in->conf;
    int type = c->transport == TL_TR_UDP ? SOCK_DGRAM : SOCK_STREAM;
    struct addrinfo hints = {0};
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    hints.ai_socktype = type;
    hints.ai_family = AF_UNSPEC;
    struct addrinfo *res = NULL;
    struct addrinfo any6 = {0};
    struct sockaddr_in6 sin6 = {0};
    struct addrinfo any4 = {0};
    struct sockaddr_in sin4 = {0};
    struct addrinfo *list;
    if (c->host) {
        int rc = getaddrinfo(c->host, "0", &hints, &res);
        if (rc != 0) {
            tl_error("input %s: cannot resolve listen address '%s': %s (%s:%d)", c->name,
                     c->host, gai_strerror(rc), "config", c->line);
            return false;
        }
        list = res;
    } else {
        /* All addresses: [::] with IPv6-only off serves both families; fall back to 0.0.0.0
         * on hosts without IPv6. */
        sin6.sin6_family = AF_INET6;
        sin6.sin6_addr = in6addr_any;
        any6.ai_family = AF_INET6;
        any6.ai_addr = (struct sockaddr *)&sin6;
        any6.ai_addrlen = sizeof(sin6);
        sin4.sin_family = AF_INET;
        sin4.sin_addr.s_addr = htonl(INADDR_ANY);
        any4.ai_family = AF_INET;
        any4.ai_addr = (struct sockaddr *)&sin4;
        any4.ai_addrlen = sizeof(sin4);
        list = &any6;
    }
    size_t n_addrs = 0;
    for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        n_addrs++;
    }
    in->fds = calloc(n_addrs * n_workers, sizeof(int));
    if (!in->fds) {
        if (res) {
            freeaddrinfo(res);
        }
        return false;
    }
    uint16_t port = c->port;
    size_t used_addrs = 0;
    bool ok = true;
    for (struct addrinfo *ai = list; ai && ok; ai = ai->ai_next) {
        int e = probe_port(in, ai, type, &port);
        if (e && !c->host && ai == &any6 && (e == EAFNOSUPPORT || e == EADDRNOTAVAIL)) {
            /* No IPv6 on this host. */
            ai = &any4;
            e = probe_port(in, ai, type, &port);
        }
        for (size_t w = 0; w < n_workers; w++) {
            int fd = e ? -1 : bind_one(in, ai->ai_addr, ai->ai_addrlen, type, port, false);
            if (fd < 0) {
                e = e ? e : errno;
                tl_error("input %s: cannot listen on %s port %u (%s): %s%s", c->name,
                         c->host ? c->host : "*", port, in_kind(in), strerror(e),
                         e == EADDRINUSE ? "; another program (perhaps another tlslogd) uses "
                                           "that port: stop it or change 'listen'"
                         : e == EACCES ? "; ports below 1024 need root or "
                                         "CAP_NET_BIND_SERVICE"
                                       : "");
                ok = false;
                break;
            }
            if (port == 0) {
                port = bound_port(fd);
            }
            in->fds[in->n_fds++] = fd;
        }
        used_addrs++;
    }
    if (res) {
        freeaddrinfo(res);
    }
    in->fds_per_worker = used_addrs;
    in->port = port;
    if (ok) {
        tl_info("input %s: listening on %s%s%s port %u (%s)", c->name,
                c->host && strchr(c->host, ':') ? "[" : "", c->host ? c->host : "*",
                c->host && strchr(c->host, ':') ? "]" : "", port, in_kind(in));
    }
    return ok;
}

/* Whether a process serves the unix socket at path: 0 when a datagram connect reaches a
 * bound socket (EPROTOTYPE: a stream socket is bound), ECONNREFUSED when nothing is bound to
 * the file any more, another errno when it cannot be told. */
static int unix_served(const char *path)
{
    struct sockaddr_un sun = {0};
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    int e = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ? 0 : errno;
    close(fd);
    return e;
}

/*
 * systemd_socket: the datagram socket systemd passed for c->path (LISTEN_FDS, LISTEN_PID),
 * matched by its bound path as sd_listen_fds_with_names users do; libsystemd's sd_listen_fds
 * and sd_is_socket_unix. -1 after logging when there is none.
 */
static int inherited_unix(const struct tl_conf_input *c)
{
    int n = sd_listen_fds(0);
    for (int fd = SD_LISTEN_FDS_START; n > 0 && fd < SD_LISTEN_FDS_START + n; fd++) {
        if (sd_is_socket_unix(fd, SOCK_DGRAM, -1, c->path, 0) > 0) {
            int fl = fcntl(fd, F_GETFL);
            if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
                fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
                tl_error("input %s: cannot use the socket systemd passed for '%s': %s", c->name,
                         c->path, strerror(errno));
                return -1;
            }
            tl_info("input %s: using the socket systemd passed for %s (descriptor %d)", c->name,
                    c->path, fd);
            return fd;
        }
    }
    tl_error("input %s: systemd_socket is set but no datagram socket bound to '%s' was passed "
             "(%s); start tlslogd from a .socket unit with ListenDatagram=%s, or remove "
             "systemd_socket to create the socket itself", c->name, c->path,
             n < 0 ? strerror(-n) : n == 0 ? "LISTEN_FDS is not set for this process"
                                           : "the passed sockets are bound elsewhere",
             c->path);
    return -1;
}

/* The socket is ready: its receive buffer, SO_PASSCRED, and it becomes the input's one fd. */
static bool take_unix(struct tl_input *in, int fd)
{
    const struct tl_conf_input *c = in->conf;
    if (c->recv_buffer) {
        int sz = (int)c->recv_buffer;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    /* rate_limit counts per sending process: the kernel then attaches its credentials. */
    int on = 1;
    if (c->rate_limit && setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0) {
        tl_warn("input %s: SO_PASSCRED on '%s': %s; rate_limit then counts all senders as one",
                c->name, c->path, strerror(errno));
    }
    in->fds = calloc(1, sizeof(int));
    if (!in->fds) {
        close(fd);
        if (!c->systemd_socket) {
            unlink(c->path);
        }
        return false;
    }
    in->fds[0] = fd;
    in->n_fds = 1;
    in->fds_per_worker = 1;
    return true;
}

static bool bind_unix(struct tl_input *in)
{
    const struct tl_conf_input *c = in->conf;
    struct sockaddr_un sun = {0};
    if (c->systemd_socket) {
        int fd = inherited_unix(c);
        return fd >= 0 && take_unix(in, fd);
    }
    sun.sun_family = AF_UNIX;
    if (strlen(c->path) >= sizeof(sun.sun_path)) {
        tl_error("input %s: socket path '%s' is longer than %zu bytes", c->name, c->path,
                 sizeof(sun.sun_path) - 1);
        return false;
    }
    memcpy(sun.sun_path, c->path, strlen(c->path) + 1);
    struct stat st;
    if (lstat(c->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            tl_error("input %s: '%s' exists and is not a socket; remove it or change 'path'",
                     c->name, c->path);
            return false;
        }
        /* A socket file stays behind when its process dies. Replacing it is right then;
         * replacing the socket of a process that still serves it would leave that process
         * deaf (another tlslogd, or a syslog daemon on /dev/log), so ask first. */
        int e = unix_served(c->path);
        if (e == 0 || e == EPROTOTYPE) {
            tl_error("input %s: cannot bind unix socket '%s': socket in use by a running "
                     "process (another tlslogd, or a syslog daemon?); stop it or change "
                     "'path'", c->name, c->path);
            return false;
        }
        if (e != ECONNREFUSED) {
            tl_error("input %s: cannot bind unix socket '%s': cannot tell whether a running "
                     "process serves it (connect: %s); remove it if none does, or change "
                     "'path'", c->name, c->path, strerror(e));
            return false;
        }
        tl_info("input %s: replacing '%s', a socket no process serves any more", c->name,
                c->path);
        unlink(c->path);
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        tl_error("input %s: socket: %s", c->name, strerror(errno));
        return false;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        tl_error("input %s: cannot bind unix socket '%s': %s", c->name, c->path, strerror(errno));
        close(fd);
        return false;
    }
    if (chmod(c->path, c->socket_mode) < 0) {
        tl_warn("input %s: cannot set mode %04o on '%s': %s", c->name, c->socket_mode, c->path,
                strerror(errno));
    }
    if (!take_unix(in, fd)) {
        return false;
    }
    tl_info("input %s: listening on unix socket %s", c->name, c->path);
    return true;
}

/* ---- the socket input kinds ---------------------------------------------------------- */

/* tls, and relp with a tls: block: the input's TLS context (reloaded by SIGHUP). */
static bool stream_init(struct tl_input *in)
{
    if (in->conf->transport != TL_TR_TLS &&
        !(in->conf->transport == TL_TR_RELP && in->conf->relp_tls)) {
        return true;
    }
    char err[1024];
    char owner[96];
    struct tl_err e;
    snprintf(owner, sizeof(owner), "input %s", in->conf->name);
    if (tl_tls_slot_init(&in->tls, &in->conf->tls, TL_TLS_SERVER, owner, &e) != TL_OK) {
        tl_error("%s", tl_err_text(&e, err, sizeof(err)));
        return false;
    }
    in->has_tls = true;
    return true;
}

static void stream_fini(struct tl_input *in)
{
    if (in->has_tls) {
        tl_tls_slot_fini(&in->tls);
        in->has_tls = false;
    }
}

static bool no_init(struct tl_input *in)
{
    (void)in;
    return true;
}

static void no_fini(struct tl_input *in)
{
    (void)in;
}

static bool stream_bind(struct tl_input *in, size_t n_workers)
{
    in->lim = tl_in_limits_new(n_workers);
    if (!in->lim) {
        tl_error("input %s: out of memory at start-up", in->conf->name);
        return false;
    }
    return tl_in_rate_new(in, n_workers) && bind_inet(in, n_workers);
}

static bool udp_bind(struct tl_input *in, size_t n_workers)
{
    return tl_in_rate_new(in, n_workers) && bind_inet(in, n_workers);
}

static bool unix_bind(struct tl_input *in, size_t n_workers)
{
    return tl_in_rate_new(in, n_workers) && bind_unix(in);
}

/* Hands the sockets meant for worker idx to w: fds are laid out address by address, one per
 * worker within each (a unix socket, the only one, lives on the first worker). */
static bool attach_fds(struct tl_input *in, struct tl_worker *w, size_t idx,
                       bool (*attach_one)(struct tl_input *, struct tl_worker *, int))
{
    size_t n_workers = in->n_fds / in->fds_per_worker;
    if (!tl_in_rate_attach(in, w, idx)) {
        return false;
    }
    for (size_t i = 0; i < in->n_fds; i++) {
        if (i % n_workers != idx) {
            continue;
        }
        int fd = in->fds[i];
        in->fds[i] = -1; /* the worker owns it now */
        if (!attach_one(in, w, fd)) {
            return false;
        }
    }
    return true;
}

static bool stream_attach(struct tl_input *in, struct tl_worker *w, size_t idx)
{
    return attach_fds(in, w, idx, tl_in_stream_attach);
}

static bool dgram_attach(struct tl_input *in, struct tl_worker *w, size_t idx)
{
    return attach_fds(in, w, idx, tl_in_dgram_attach);
}

static void port_line(const struct tl_input *in, char *out, size_t cap)
{
    snprintf(out, cap, "%s %u", in->conf->name, in->port);
}

static void path_line(const struct tl_input *in, char *out, size_t cap)
{
    snprintf(out, cap, "%s %s", in->conf->name, in->conf->path);
}

static void unbind(struct tl_input *in)
{
    for (size_t i = 0; i < in->n_fds; i++) {
        if (in->fds[i] >= 0) {
            close(in->fds[i]);
        }
    }
    /* A unix socket file is ours to remove only when we bound it (fds is set then): not
     * the one of a running process that made our start fail, nor systemd's. */
    if (in->conf->transport == TL_TR_UNIX && in->conf->path && in->fds &&
        !in->conf->systemd_socket) {
        unlink(in->conf->path);
    }
    free(in->fds);
    in->fds = NULL;
    in->n_fds = 0;
    tl_in_limits_free(in->lim);
    in->lim = NULL;
    tl_in_rate_free(in);
}

const struct tl_input_ops tl_in_tcp_ops = {
    .name = "tcp", .init = stream_init, .bind = stream_bind, .attach = stream_attach,
    .port_line = port_line, .unbind = unbind, .fini = stream_fini};
const struct tl_input_ops tl_in_tls_ops = {
    .name = "tls", .init = stream_init, .bind = stream_bind, .attach = stream_attach,
    .port_line = port_line, .unbind = unbind, .fini = stream_fini};
const struct tl_input_ops tl_in_relp_ops = {
    .name = "relp", .caps = TL_IN_ACKS, .init = stream_init, .bind = stream_bind,
    .attach = stream_attach, .port_line = port_line, .unbind = unbind, .fini = stream_fini};
const struct tl_input_ops tl_in_udp_ops = {
    .name = "udp", .caps = TL_IN_CANNOT_PAUSE, .init = no_init, .bind = udp_bind,
    .attach = dgram_attach, .port_line = port_line, .unbind = unbind, .fini = no_fini};
const struct tl_input_ops tl_in_unix_ops = {
    .name = "unix", .init = no_init, .bind = unix_bind, .attach = dgram_attach,
    .port_line = path_line, .unbind = unbind, .fini = no_fini};
