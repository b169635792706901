/*
 * stats.c: `tlslog stats [--url URL] [--watch [--interval T] [--count N]]`.
 *
 * Fetches the Prometheus exposition over plain HTTP/1.0 (the endpoint is meant for loopback
 * or a management network; see docs/configuration.md, Metrics), parses it (promtext.c) and
 * prints one row per input, per output and per certificate. --watch redraws like top(1),
 * with per-second rates from the previous fetch.
 */
#include "cli/stats.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "cli/promtext.h"
#include "core/buf.h"
#include "core/log.h"

#define PROG "tlslog stats"
#define DEFAULT_URL "http://127.0.0.1:9514/metrics"
#define MAX_BODY (16u << 20)

static const char usage_text[] =
    "usage: tlslog stats [--url URL] [--timeout SECONDS] [--watch [--interval SECONDS]\n"
    "                    [--count N]]\n"
    "\n"
    "Prints a running tlslogd's counters as a table: per input, per output, and the\n"
    "certificates in use with their expiry. They come from its metrics endpoint, which\n"
    "tlslogd serves with `metrics: {listen: \"127.0.0.1:9514\"}` in its configuration.\n"
    "\n"
    "  --url URL           the endpoint, default " DEFAULT_URL "\n"
    "                      (also HOST:PORT; plain http only)\n"
    "  --timeout SECONDS   bound on connecting and reading (default 5; also 500ms)\n"
    "  --watch             redraw every --interval, like top, with rates per second\n"
    "  --interval SECONDS  between redraws, default 2 (also 500ms)\n"
    "  --count N           with --watch: stop after N tables (default: until interrupted)\n";

struct opts {
    const char *url;
    int64_t timeout_ms;
    bool watch;
    int64_t interval_ms;
    unsigned long count;
};

struct url {
    struct tl_cli_target target;
    char path[512];
};

static bool parse_url(const char *text, struct url *u, char *why, size_t whylen)
{
    const char *s = text;
    if (strncmp(s, "https://", 8) == 0) {
        snprintf(why, whylen, "https is not supported: the metrics endpoint speaks plain http");
        return false;
    }
    if (strncmp(s, "http://", 7) == 0) {
        s += 7;
    }
    const char *slash = strchr(s, '/');
    size_t hostlen = slash ? (size_t)(slash - s) : strlen(s);
    char hostport[TL_CLI_TARGET_STRLEN];
    if (hostlen == 0 || hostlen >= sizeof(hostport)) {
        snprintf(why, whylen, "no host in the URL");
        return false;
    }
    memcpy(hostport, s, hostlen);
    hostport[hostlen] = '\0';
    snprintf(u->path, sizeof(u->path), "%s", slash && slash[1] ? slash : "/metrics");
    struct tl_err e;
    if (tl_cli_target_parse(hostport, 80, &u->target, &e) != TL_OK) {
        tl_err_text(&e, why, whylen);
        return false;
    }
    return true;
}

/* GET path; the body of a 200 answer in body. False with a sentence in why. */
static bool fetch(const struct url *u, int64_t timeout_ms, struct tl_buf *body, char *why,
                  size_t whylen)
{
    int64_t deadline = tl_now_ms() + timeout_ms;
    struct tl_addr peer;
    struct tl_err e;
    int fd = tl_cli_connect(&u->target, SOCK_STREAM, deadline, &peer, &e);
    if (fd < 0) {
        tl_err_text(&e, why, whylen);
        if (e.sys_errno == ECONNREFUSED) {
            size_t n = strlen(why);
            snprintf(why + n, whylen - n, "; is tlslogd running with metrics: {listen: \"%s\"}?",
                     u->target.text);
        }
        return false;
    }
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nAccept: text/plain\r\n"
                     "User-Agent: tlslog-stats/%s\r\n\r\n", u->path, u->target.text, TL_VERSION);
    size_t off = 0;
    struct tl_buf in;
    tl_buf_init(&in, MAX_BODY);
    bool ok = false;
    while (off < (size_t)n) {
        if (!(tl_cli_wait(fd, POLLOUT, deadline) & POLLOUT)) {
            snprintf(why, whylen, "%s: timed out sending the request", u->target.text);
            goto out;
        }
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(why, whylen, "%s: %s", u->target.text, strerror(errno));
            goto out;
        }
        off += w > 0 ? (size_t)w : 0;
    }
    for (;;) {
        short ev = tl_cli_wait(fd, POLLIN, deadline);
        if (ev == 0) {
            snprintf(why, whylen, "%s: timed out waiting for the answer", u->target.text);
            goto out;
        }
        char chunk[16384];
        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            snprintf(why, whylen, "%s: %s", u->target.text, strerror(errno));
            goto out;
        }
        if (!tl_buf_append(&in, chunk, (size_t)r)) {
            snprintf(why, whylen, "%s: the answer is larger than %u MiB", u->target.text,
                     MAX_BODY >> 20);
            goto out;
        }
    }
    const char *d = (const char *)in.data;
    const char *hdr_end = in.len ? memmem(d, in.len, "\r\n\r\n", 4) : NULL;
    int status = 0;
    if (in.len < 12 || strncmp(d, "HTTP/1.", 7) != 0 || hdr_end == NULL ||
        sscanf(d + 9, "%3d", &status) != 1) {
        snprintf(why, whylen, "%s: the answer is not HTTP; is this tlslogd's metrics "
                 "endpoint?", u->target.text);
        goto out;
    }
    if (status != 200) {
        snprintf(why, whylen, "http://%s%s answered %d%s", u->target.text, u->path, status,
                 status == 404 ? "; tlslogd serves its metrics at /metrics" : "");
        goto out;
    }
    size_t start = (size_t)(hdr_end + 4 - d);
    ok = tl_buf_append(body, d + start, in.len - start);
    if (!ok) {
        snprintf(why, whylen, "out of memory");
    }
out:
    tl_buf_fini(&in);
    close(fd);
    return ok;
}

/* ---- reading the samples ------------------------------------------------------------------- */

/* Sum of metric's samples whose label key is val (and, when k2 is set, whose k2 is v2). */
static double sum(const struct tl_prom_set *set, const char *metric, const char *key,
                  const char *val, const char *k2, const char *v2)
{
    double t = 0;
    for (size_t i = 0; i < set->n; i++) {
        const struct tl_prom_sample *s = &set->v[i];
        const char *l = tl_prom_label(s, key);
        if (strcmp(s->name, metric) != 0 || l == NULL || strcmp(l, val) != 0) {
            continue;
        }
        if (k2 != NULL) {
            const char *l2 = tl_prom_label(s, k2);
            if (l2 == NULL || strcmp(l2, v2) != 0) {
                continue;
            }
        }
        t += s->value;
    }
    return t;
}

static double one(const struct tl_prom_set *set, const char *metric)
{
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->v[i].name, metric) == 0) {
            return set->v[i].value;
        }
    }
    return NAN;
}

static const char *bytes_text(double v, char *out, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(out, cap, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return out;
}

/* The rate of metric for one instance since the previous table, or "-" without one. */
static const char *rate_text(const struct tl_prom_set *now, const struct tl_prom_set *prev,
                             double secs, const char *metric, const char *key, const char *val,
                             char *out, size_t cap)
{
    if (prev == NULL || secs <= 0) {
        snprintf(out, cap, "-");
        return out;
    }
    double d = sum(now, metric, key, val, NULL, NULL) - sum(prev, metric, key, val, NULL, NULL);
    snprintf(out, cap, "%.0f", d < 0 ? 0 : d / secs);
    return out;
}

static void print_inputs(const struct tl_prom_set *set, const struct tl_prom_set *prev,
                         double secs)
{
    /* REFUSED: at accept, by any limit; CLOSED: by idle_timeout or partial_frame_budget. */
    printf("%-16s %-9s %12s %9s %9s %9s %6s %9s %8s %7s %8s\n", "INPUT", "TRANSPORT",
           "RECEIVED", "RECV/s", "MALFORMED", "TRUNCATED", "OPEN", "CONNS", "REFUSED", "CLOSED",
           "HS_FAIL");
    for (size_t i = 0; i < set->n; i++) {
        const struct tl_prom_sample *s = &set->v[i];
        const char *in = tl_prom_label(s, "input");
        if (strcmp(s->name, "tlslogd_input_received_messages_total") != 0 || in == NULL) {
            continue;
        }
        const char *tr = tl_prom_label(s, "transport");
        char rate[32];
        printf("%-16s %-9s %12.0f %9s %9.0f %9.0f %6.0f %9.0f %8.0f %7.0f %8.0f\n", in,
               tr ? tr : "-", s->value,
               rate_text(set, prev, secs, s->name, "input", in, rate, sizeof(rate)),
               sum(set, "tlslogd_input_malformed_messages_total", "input", in, NULL, NULL),
               sum(set, "tlslogd_input_truncated_messages_total", "input", in, NULL, NULL),
               sum(set, "tlslogd_input_connections_open", "input", in, NULL, NULL),
               sum(set, "tlslogd_input_connections_total", "input", in, NULL, NULL),
               sum(set, "tlslogd_input_connections_refused_total", "input", in, NULL, NULL),
               sum(set, "tlslogd_input_connections_closed_total", "input", in, NULL, NULL),
               sum(set, "tlslogd_input_handshake_failures_total", "input", in, NULL, NULL));
    }
}

static void print_outputs(const struct tl_prom_set *set, const struct tl_prom_set *prev,
                          double secs)
{
    printf("\n%-16s %-8s %12s %9s %12s %8s %8s %9s %10s %9s %10s\n", "OUTPUT", "TYPE", "WRITTEN",
           "WRITE/s", "SETTLED", "RESENT", "DROPPED", "QUEUED", "QUEUE_MEM", "ON_DISK",
           "DISK_SIZE");
    for (size_t i = 0; i < set->n; i++) {
        const struct tl_prom_sample *s = &set->v[i];
        const char *out = tl_prom_label(s, "output");
        if (strcmp(s->name, "tlslogd_output_written_messages_total") != 0 || out == NULL) {
            continue;
        }
        const char *type = tl_prom_label(s, "type");
        char rate[32];
        char mem[32];
        char disk[32];
        printf("%-16s %-8s %12.0f %9s %12.0f %8.0f %8.0f %9.0f %10s %9.0f %10s\n", out,
               type ? type : "-", s->value,
               rate_text(set, prev, secs, s->name, "output", out, rate, sizeof(rate)),
               sum(set, "tlslogd_output_settled_messages_total", "output", out, NULL, NULL),
               sum(set, "tlslogd_output_resent_messages_total", "output", out, NULL, NULL),
               sum(set, "tlslogd_output_dropped_messages_total", "output", out, NULL, NULL),
               sum(set, "tlslogd_output_queue_messages", "output", out, "part", "memory"),
               bytes_text(sum(set, "tlslogd_output_queue_bytes", "output", out, "part",
                              "memory"), mem, sizeof(mem)),
               sum(set, "tlslogd_output_queue_messages", "output", out, "part", "disk"),
               bytes_text(sum(set, "tlslogd_output_queue_bytes", "output", out, "part", "disk"),
                          disk, sizeof(disk)));
    }
}

static void print_certs(const struct tl_prom_set *set)
{
    bool head = false;
    time_t now = time(NULL);
    for (size_t i = 0; i < set->n; i++) {
        const struct tl_prom_sample *s = &set->v[i];
        if (strcmp(s->name, "tlslogd_tls_certificate_not_after_timestamp_seconds") != 0) {
            continue;
        }
        if (!head) {
            printf("\n%-24s %-12s %-24s %s\n", "CERTIFICATE OF", "ROLE", "EXPIRES (UTC)",
                   "SUBJECT");
            head = true;
        }
        const char *in = tl_prom_label(s, "input");
        const char *out = tl_prom_label(s, "output");
        const char *role = tl_prom_label(s, "role");
        const char *subject = tl_prom_label(s, "subject");
        char who[64];
        char when[64] = "unreadable";
        snprintf(who, sizeof(who), "%s %s", in ? "input" : "output", in ? in : out ? out : "?");
        if (s->value > 0 && s->value < 253402300800.0) { /* before the year 10000 */
            time_t t = (time_t)s->value;
            struct tm tm;
            gmtime_r(&t, &tm);
            long days = (long)((t - now) / 86400);
            char date[32];
            strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
            snprintf(when, sizeof(when), t < now ? "%s EXPIRED" : "%s (%ldd)", date, days);
        }
        printf("%-24s %-12s %-24s %s\n", who, role ? role : "-", when, subject ? subject : "-");
    }
}

static void print_table(const struct url *u, const struct tl_prom_set *set,
                        const struct tl_prom_set *prev, double secs)
{
    double start = one(set, "process_start_time_seconds");
    double rss = one(set, "process_resident_memory_bytes");
    double cpu = one(set, "process_cpu_seconds_total");
    char mem[32];
    const char *version = NULL;
    for (size_t i = 0; i < set->n && version == NULL; i++) {
        if (strcmp(set->v[i].name, "tlslogd_build_info") == 0) {
            version = tl_prom_label(&set->v[i], "version");
        }
    }
    printf("tlslogd %s at http://%s%s", version ? version : "?", u->target.text, u->path);
    if (!isnan(start)) {
        long up = (long)(time(NULL) - (time_t)start);
        printf("  up %ldd %02ld:%02ld:%02ld", up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
    }
    if (!isnan(rss)) {
        printf("  rss %s", bytes_text(rss, mem, sizeof(mem)));
    }
    if (!isnan(cpu)) {
        printf("  cpu %.2f s", cpu);
    }
    printf("\n\n");
    print_inputs(set, prev, secs);
    print_outputs(set, prev, secs);
    print_certs(set);
}

static int parse_args(struct opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"timeout", required_argument, NULL, 't'},
        {"watch", no_argument, NULL, 'w'},
        {"interval", required_argument, NULL, 'i'},
        {"count", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            o->url = optarg;
            break;
        case 't':
            if (!tl_cli_parse_timeout(optarg, &o->timeout_ms)) {
                return tl_cli_usage_error(PROG, "--timeout takes seconds (5) or 500ms, 1m");
            }
            break;
        case 'w':
            o->watch = true;
            break;
        case 'i':
            if (!tl_cli_parse_timeout(optarg, &o->interval_ms)) {
                return tl_cli_usage_error(PROG, "--interval takes seconds (2) or 500ms, 1m");
            }
            break;
        case 'n':
            if (!tl_cli_parse_ulong(optarg, 1, 1000000000UL, &o->count)) {
                return tl_cli_usage_error(PROG, "--count takes a number from 1");
            }
            break;
        case 'h':
            fputs(usage_text, stdout);
            return TL_CLI_OK;
        default:
            return tl_cli_getopt_error(PROG, c, argv);
        }
    }
    if (optind < argc) {
        return tl_cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
    }
    if (o->count != 0 && !o->watch) {
        return tl_cli_usage_error(PROG, "--count goes with --watch");
    }
    return -1;
}

int tl_cli_stats_main(int argc, char **argv)
{
    struct opts o = {.url = DEFAULT_URL, .timeout_ms = 5000, .interval_ms = 2000};
    int rc = parse_args(&o, argc, argv);
    if (rc >= 0) {
        return rc;
    }
    struct url u;
    char why[1024];
    if (!parse_url(o.url, &u, why, sizeof(why))) {
        return tl_cli_usage_error(PROG, "--url '%s': %s", o.url, why);
    }
    struct tl_prom_set prev = {0};
    int64_t prev_at = 0;
    bool have_prev = false;
    rc = TL_CLI_OK;
    for (unsigned long shown = 0;; shown++) {
        struct tl_buf body;
        struct tl_prom_set set;
        tl_buf_init(&body, 0);
        int64_t at = tl_now_ms();
        if (!fetch(&u, o.timeout_ms, &body, why, sizeof(why))) {
            tl_buf_fini(&body);
            rc = tl_cli_fail("%s", why);
            break;
        }
        if (!tl_prom_parse((const char *)body.data, body.len, &set, why, sizeof(why))) {
            tl_buf_fini(&body);
            tl_prom_set_fini(&set);
            rc = tl_cli_fail("http://%s%s: not the Prometheus text format: %s", u.target.text,
                             u.path, why);
            break;
        }
        tl_buf_fini(&body);
        if (o.watch) {
            fputs("\033[H\033[2J", stdout); /* home, clear: redraw in place like top */
        }
        print_table(&u, &set, have_prev ? &prev : NULL, (double)(at - prev_at) / 1000.0);
        fflush(stdout);
        tl_prom_set_fini(&prev);
        prev = set;
        prev_at = at;
        have_prev = true;
        if (!o.watch || (o.count != 0 && shown + 1 >= o.count)) {
            break;
        }
        struct timespec ts = {.tv_sec = o.interval_ms / 1000,
                              .tv_nsec = (long)(o.interval_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    tl_prom_set_fini(&prev);
    tl_cli_target_fini(&u.target);
    return rc;
}
