/*
 * cli_common.c: target parsing, a bounded connect and deadline waits for `tlslog send` and
 * `tlslog probe` (see cli_common.h).
 */
#include "cli/cli_common.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/addr.h"
#include "core/log.h"

enum tl_rc tl_cli_target_parse(const char *text, uint16_t default_port,
                               struct tl_cli_target *t, struct tl_err *err)
{
    memset(t, 0, sizeof(*t));
    TL_TRY(tl_parse_listen(text, default_port, &t->host, &t->port, err));
    if (t->host == NULL) {
        TL_FAIL(err, TL_E_CONFIG, NULL, "the host is missing: write HOST:PORT");
    }
    if (t->port == 0) {
        tl_cli_target_fini(t);
        TL_FAIL(err, TL_E_CONFIG, NULL, "the port is missing or 0: write HOST:PORT");
    }
    snprintf(t->text, sizeof(t->text), strchr(t->host, ':') ? "[%s]:%u" : "%s:%u", t->host,
             (unsigned)t->port);
    return TL_OK;
}

void tl_cli_target_fini(struct tl_cli_target *t)
{
    free(t->host);
    t->host = NULL;
}

bool tl_cli_parse_timeout(const char *text, int64_t *ms)
{
    uint64_t v = 0;
    if (!tl_parse_duration_ms(text, &v) || v == 0 || v > 3600 * 1000) {
        return false;
    }
    *ms = (int64_t)v;
    return true;
}

int tl_cli_ms_left(int64_t deadline)
{
    if (deadline == TL_CLI_NO_DEADLINE) {
        return -1;
    }
    int64_t left = deadline - tl_now_ms();
    if (left <= 0) {
        return 0;
    }
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

short tl_cli_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
        int rc = poll(&p, 1, tl_cli_ms_left(deadline));
        if (rc > 0) {
            return p.revents;
        }
        if (rc == 0) {
            return 0;
        }
        if (errno != EINTR) {
            return POLLERR;
        }
    }
}

const char *tl_cli_duration_text(int64_t ms, char *out, size_t cap)
{
    if (ms >= 1000) {
        snprintf(out, cap, "%lld s", (long long)((ms + 500) / 1000));
    } else {
        snprintf(out, cap, "%lld ms", (long long)ms);
    }
    return out;
}

void tl_cli_excerpt(const unsigned char *b, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0) {
        return;
    }
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\' && b[i] != '"') {
            out[o++] = (char)b[i];
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", b[i]);
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
}

enum tl_cli_answer tl_cli_peek_tls(int fd, char *excerpt, size_t cap)
{
    unsigned char b[32];
    ssize_t n;
    do {
        n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) {
        return TL_CLI_ANSWER_CLOSED;
    }
    if (n < 0) {
        return TL_CLI_ANSWER_ERROR;
    }
    if (tl_cli_looks_tls(b, (size_t)n)) {
        return TL_CLI_ANSWER_TLS;
    }
    if (excerpt != NULL) {
        tl_cli_excerpt(b, (size_t)n, excerpt, cap);
    }
    return TL_CLI_ANSWER_NOT_TLS;
}

/* Explains a failed connect to t in the words the daemon's forward output uses. */
static void connect_failed(const struct tl_cli_target *t, int e, struct tl_err *err)
{
    switch (e) {
    case ECONNREFUSED:
        TL_ERR_SYS(err, TL_E_IO, e, NULL, "Connection refused: nothing listens on %s", t->text);
        break;
    case EHOSTUNREACH:
    case ENETUNREACH:
        TL_ERR_SYS(err, TL_E_IO, e, NULL, "%s: no route to %s (check the address and the "
                   "network)", strerror(e), t->host);
        break;
    default:
        TL_ERR_SYS(err, TL_E_IO, e, NULL, "%s", strerror(e));
        break;
    }
}

/* Starts a connect to one address; returns the fd or -1 with errno set. */
static int start_connect(const struct addrinfo *ai, int socktype)
{
    int fd = socket(ai->ai_family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Waits for a TCP connect in progress; returns 0 when connected, else an errno. */
static int finish_connect(int fd, int64_t deadline)
{
    short ev = tl_cli_wait(fd, POLLOUT, deadline);
    if (ev == 0) {
        return ETIMEDOUT;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        return errno;
    }
    return err;
}

int tl_cli_connect(const struct tl_cli_target *t, int socktype, int64_t deadline,
                   struct tl_addr *peer, struct tl_err *err)
{
    char port[8];
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    int64_t started = tl_now_ms();

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    snprintf(port, sizeof(port), "%u", (unsigned)t->port);
    int rc = getaddrinfo(t->host, port, &hints, &res);
    if (rc != 0) {
        TL_ERR(err, TL_E_CONFIG, NULL, "cannot resolve '%s': %s", t->host,
               rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    int last = EADDRNOTAVAIL;
    int fd = -1;
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = start_connect(ai, socktype);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int e = socktype == SOCK_STREAM ? finish_connect(fd, deadline) : 0;
        if (e == 0) {
            memset(peer, 0, sizeof(*peer));
            tl_addr_from_sockaddr(peer, ai->ai_addr, ai->ai_addrlen);
            break;
        }
        close(fd);
        fd = -1;
        last = e;
        if (e == ETIMEDOUT) {
            break;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        return fd;
    }
    if (last == ETIMEDOUT) {
        char d[32];
        TL_ERR_SYS(err, TL_E_IO, last, NULL,
                   "TCP connect timed out after %s: no answer from %s (the host is down, or a "
                   "firewall drops the packets)",
                   tl_cli_duration_text(tl_now_ms() - started, d, sizeof(d)), t->text);
    } else {
        connect_failed(t, last, err);
    }
    return -1;
}
