/* A cheap TLS connection maker for bench/run: non-blocking sockets, epoll, OpenSSL, TLS 1.2 at
 * most, no certificate verification, no session tickets or resumption (every handshake is a
 * full one). Each connection completes its handshake and sends one octet-counted RFC 5424
 * message. bench/run compiles it (cc -O2 ... -lssl -lcrypto).
 *
 *   tls_conns burst PORT N CONC   N connections, CONC in flight; each sends its message, then
 *                                 close_notify, waits for the server to close and closes.
 *                                 Prints "done OK ERRORS SECONDS CLIENT_CPU_S".
 *   tls_conns hold PORT CONC      reads commands on stdin: "open K" opens K more connections
 *                                 (CONC in flight) and holds them, printing "open TOTAL ERRORS"
 *                                 once all K are set up (message written); "close" sends
 *                                 close_notify on every held connection, closes them, prints
 *                                 "closed TOTAL CLIENT_CPU_S" and exits.
 *
 * A connection that is not done within 10 s counts as an error; so does any failure. Errors
 * are summed up on stderr by the stage they happened in, with the first error's reason.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { FREE, HANDSHAKE, WRITE, SHUTDOWN, DRAIN };

struct conn {
    int fd;
    SSL *ssl;
    enum state st;
    long id;
    double t0;
};

static SSL_CTX *ctx;
static struct sockaddr_in addr;
static int ep, conc, hold;
static struct conn *slots;
static long started, ok, errors, failed[DRAIN + 1], timeouts;
static char first_error[256];
static SSL **held;
static long n_held, cap_held;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void finish(struct conn *c, int good)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (good && hold) {
        if (n_held == cap_held) {
            cap_held = cap_held ? cap_held * 2 : 1024;
            held = realloc(held, (size_t)cap_held * sizeof(*held));
            if (!held) {
                perror("realloc");
                exit(1);
            }
        }
        held[n_held++] = c->ssl;
    } else {
        SSL_free(c->ssl);
        close(c->fd);
    }
    if (good) {
        ok++;
    } else {
        errors++;
        failed[c->st]++;
    }
    c->st = FREE;
}

/* Waits for what OpenSSL asked for; anything other than WANT_READ/WRITE ends the connection. */
static int want(struct conn *c, int r)
{
    int e = SSL_get_error(c->ssl, r);
    struct epoll_event ev = {.events = e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN,
                             .data.u32 = (uint32_t)(c - slots)};
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        if (!first_error[0] && c->st != DRAIN)
            snprintf(first_error, sizeof first_error, "SSL error %d, errno %d (%s), %s", e,
                     errno, strerror(errno), ERR_error_string(ERR_peek_error(), NULL));
        ERR_clear_error();
        return 0;
    }
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    return 1;
}

/* Advances a connection as far as it goes without waiting. */
static void step(struct conn *c)
{
    char buf[512];
    int r;
    switch (c->st) {
    case HANDSHAKE:
        if ((r = SSL_connect(c->ssl)) != 1) {
            if (!want(c, r))
                finish(c, 0);
            return;
        }
        c->st = WRITE;
        /* fall through */
    case WRITE: {
        char m[160];
        int n = snprintf(m, sizeof m, "<14>1 2026-01-01T00:00:00Z benchhost conns %d - - "
                         "connection %ld", (int)getpid(), c->id);
        int len = snprintf(buf, sizeof buf, "%d %s", n, m);
        if ((r = SSL_write(c->ssl, buf, len)) <= 0) {
            if (!want(c, r))
                finish(c, 0);
            return;
        }
        if (hold) {
            finish(c, 1);
            return;
        }
        c->st = SHUTDOWN;
    }
        /* fall through */
    case SHUTDOWN:
        if ((r = SSL_shutdown(c->ssl)) < 0) {
            if (!want(c, r))
                finish(c, 0);
            return;
        }
        c->st = DRAIN;
        /* fall through */
    case DRAIN: /* until the server's close_notify or its end of stream */
        while ((r = SSL_read(c->ssl, buf, sizeof buf)) > 0)
            ;
        if (!want(c, r))
            finish(c, 1);
        return;
    case FREE:
        return;
    }
}

static void start_one(struct conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    started++;
    if (fd < 0) {
        errors++;
        failed[FREE]++;
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        close(fd);
        errors++;
        failed[FREE]++;
        return;
    }
    c->fd = fd;
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, fd);
    c->st = HANDSHAKE;
    c->id = started;
    c->t0 = now();
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)(c - slots)};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Makes n more connections, conc at a time; returns when all are done or failed. */
static void run(long n)
{
    long target = started + n, in_flight = 0;
    struct epoll_event evs[64];
    for (;;) {
        in_flight = 0;
        for (int i = 0; i < conc; i++) {
            if (slots[i].st == FREE && started < target)
                start_one(&slots[i]);
            if (slots[i].st != FREE)
                in_flight++;
        }
        if (in_flight == 0 && started >= target)
            return;
        int k = epoll_wait(ep, evs, 64, 100);
        for (int i = 0; i < k; i++)
            step(&slots[evs[i].data.u32]);
        double t = now();
        for (int i = 0; i < conc; i++)
            if (slots[i].st != FREE && t - slots[i].t0 > 10) {
                timeouts++;
                finish(&slots[i], 0);
            }
    }
}

static void report_errors(void)
{
    if (errors)
        fprintf(stderr, "tls_conns: %ld failed: connect %ld, handshake %ld, write %ld, "
                "shutdown %ld, after shutdown %ld (timeouts %ld); first: %s\n", errors,
                failed[FREE], failed[HANDSHAKE], failed[WRITE], failed[SHUTDOWN], failed[DRAIN],
                timeouts, first_error);
}

int main(int argc, char **argv)
{
    if (argc != 5 && !(argc == 4 && !strcmp(argv[1], "hold"))) {
        fprintf(stderr, "usage: tls_conns burst PORT N CONC | tls_conns hold PORT CONC\n");
        return 2;
    }
    hold = !strcmp(argv[1], "hold");
    conc = atoi(argv[hold ? 3 : 4]);
    if (conc < 1 || conc > 1024)
        conc = 32;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[2]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    ep = epoll_create1(EPOLL_CLOEXEC);
    slots = calloc((size_t)conc, sizeof(*slots));
    if (!ctx || ep < 0 || !slots) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    double cpu0 = cpu_self();
    if (!hold) {
        double t0 = now();
        run(atol(argv[3]));
        printf("done %ld %ld %.6f %.3f\n", ok, errors, now() - t0, cpu_self() - cpu0);
        report_errors();
        return 0;
    }
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        long k;
        if (sscanf(line, "open %ld", &k) == 1) {
            run(k);
            printf("open %ld %ld\n", n_held, errors);
        } else if (!strncmp(line, "close", 5)) {
            break;
        }
    }
    for (long i = 0; i < n_held; i++) {
        int fd = SSL_get_fd(held[i]);
        SSL_shutdown(held[i]); /* close_notify, best effort: the socket has room for it */
        SSL_free(held[i]);
        close(fd);
    }
    printf("closed %ld %.3f\n", n_held, cpu_self() - cpu0);
    report_errors();
    return 0;
}
