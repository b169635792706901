/*
 * metrics.c: see metrics.h. Names follow the Prometheus conventions: the tlslogd_ prefix,
 * base units (bytes, seconds), _total on counters, one metric per meaning with labels for
 * the instance (input, output) and the reason.
 */
#include "daemon/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/opensslv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "daemon/server.h"
#include "in/in.h"
#include "out/out.h"
#include "transport/tls_certinfo.h"

struct tl_metrics {
    struct MHD_Daemon *httpd;
    struct tl_server *srv;
    int fd;
    uint16_t port;
};

/* ---- exposition ---------------------------------------------------------------------------- */

/* The exposition being written; failed once any append did not fit (out of memory). */
struct expo {
    struct tl_buf buf;
    bool failed;
};

static void xprintf(struct expo *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void xprintf(struct expo *b, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* Every line here is short; a longer one (a huge name) is cut rather than lost. */
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    b->failed |= !tl_buf_append(&b->buf, line, len);
}

static void xputs(struct expo *b, const char *s)
{
    b->failed |= !tl_buf_puts(&b->buf, s);
}

static void xputc(struct expo *b, char c)
{
    b->failed |= !tl_buf_putc(&b->buf, (uint8_t)c);
}

/* A label value: backslash, double quote and newline escaped (exposition format 0.0.4). */
static void put_label(struct expo *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            xputc(b, '\\');
            xputc(b, *s);
        } else if (*s == '\n') {
            xputs(b, "\\n");
        } else {
            xputc(b, *s);
        }
    }
}

static void family(struct expo *b, const char *name, const char *type, const char *help)
{
    xprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t ld(atomic_uint_fast64_t *v)
{
    return (uint64_t)atomic_load_explicit(v, memory_order_relaxed);
}

/* One sample of an input metric: name{input="x",transport="tls"[,extra]} v */
static void in_sample(struct expo *b, const char *name, const struct tl_input *in,
                      const char *extra, uint64_t v)
{
    xprintf(b, "%s{input=\"", name);
    put_label(b, in->conf->name);
    xprintf(b, "\",transport=\"%s\"%s%s} %llu\n", in->ops->name, extra ? "," : "",
            extra ? extra : "", (unsigned long long)v);
}

static void out_sample(struct expo *b, const char *name, const struct tl_output *out,
                       const char *extra, uint64_t v)
{
    xprintf(b, "%s{output=\"", name);
    put_label(b, out->conf->name);
    xprintf(b, "\",type=\"%s\"%s%s} %llu\n", out->ops->name, extra ? "," : "",
            extra ? extra : "", (unsigned long long)v);
}

/* Per input: name, type, help, and how to read the counter. */
struct in_metric {
    const char *name;
    const char *type;
    const char *help;
    size_t off;                /* offsetof(struct tl_input_stats, ...) */
    const char *extra;         /* a fixed label, or NULL */
};

#define IN_STAT(m) offsetof(struct tl_input_stats, m)
static const struct in_metric in_metrics[] = {
    {"tlslogd_input_received_messages_total", "counter", "Messages received.",
     IN_STAT(received), NULL},
    {"tlslogd_input_malformed_messages_total", "counter",
     "Messages that did not parse as RFC 5424 or RFC 3164 (kept whole).", IN_STAT(malformed),
     NULL},
    {"tlslogd_input_dropped_messages_total", "counter",
     "Datagrams dropped because an output queue was full.", IN_STAT(dropped_full),
     "reason=\"queue_full\""},
    {"tlslogd_input_rejected_hostname_messages_total", "counter",
     "Messages refused by hostname_must_match_cert.", IN_STAT(rejected_hostname), NULL},
    {"tlslogd_input_connections_open", "gauge", "Connections open now.", IN_STAT(conn_open),
     NULL},
    {"tlslogd_input_connections_total", "counter", "Connections accepted.",
     IN_STAT(conn_total), NULL},
    {"tlslogd_input_connection_errors_total", "counter",
     "Connections closed by an error (reset, broken framing, a TLS client on a plain input).",
     IN_STAT(conn_errors), NULL},
    {"tlslogd_input_tls_clients_refused_total", "counter",
     "TLS clients refused by a plain tcp or relp input (also connection errors).",
     IN_STAT(tls_on_plain), NULL},
    {"tlslogd_input_handshakes_dropped_total", "counter",
     "TLS connections dropped or refused at max_handshakes.", IN_STAT(handshakes_dropped),
     NULL},
    {"tlslogd_input_accept_pauses_total", "counter",
     "Times accepting paused because tlslogd ran out of file descriptors.",
     IN_STAT(accept_pauses), NULL},
};

/* Metrics whose samples are one counter per reason: the reasons are disjoint, so that sum()
 * over the label is the whole. `minus` is a counter the first one includes (truncated holds
 * truncated_eof) and the first sample shows without it; SIZE_MAX when none. */
struct in_reason {
    const char *metric;
    const char *help;
    const char *reason;
    size_t off;
    size_t minus;
};

static const struct in_reason in_reasons[] = {
    {"tlslogd_input_truncated_messages_total",
     "Messages kept but marked truncated, by reason: cut at max_message_size, or the "
     "connection ended in the middle of the message (eof).", "max_message_size",
     IN_STAT(truncated), IN_STAT(truncated_eof)},
    {"tlslogd_input_truncated_messages_total", NULL, "eof", IN_STAT(truncated_eof), SIZE_MAX},
    {"tlslogd_input_connections_refused_total",
     "Connections refused at accept, by limit.", "max_connections", IN_STAT(conn_rejected),
     SIZE_MAX},
    {"tlslogd_input_connections_refused_total", NULL, "max_connections_per_source",
     IN_STAT(refused_source), SIZE_MAX},
    {"tlslogd_input_connections_closed_total",
     "Connections closed by a connection limit, by limit (docs/tls.md, Hardening).",
     "idle_timeout", IN_STAT(closed_idle), SIZE_MAX},
    {"tlslogd_input_connections_closed_total", NULL, "partial_frame_budget",
     IN_STAT(closed_budget), SIZE_MAX},
};

static uint64_t in_stat(struct tl_input *in, size_t off)
{
    return ld((atomic_uint_fast64_t *)((char *)&in->stats + off));
}

static void render_inputs(struct tl_pipeline *pl, struct expo *b)
{
    for (size_t k = 0; k < sizeof(in_metrics) / sizeof(in_metrics[0]); k++) {
        const struct in_metric *m = &in_metrics[k];
        family(b, m->name, m->type, m->help);
        for (size_t i = 0; i < pl->n_inputs; i++) {
            in_sample(b, m->name, pl->inputs[i], m->extra, in_stat(pl->inputs[i], m->off));
        }
    }
    /* A metric's rows follow each other in in_reasons; the first one has the help. */
    for (size_t k = 0; k < sizeof(in_reasons) / sizeof(in_reasons[0]);) {
        const char *metric = in_reasons[k].metric;
        size_t end = k;
        while (end < sizeof(in_reasons) / sizeof(in_reasons[0]) &&
               strcmp(in_reasons[end].metric, metric) == 0) {
            end++;
        }
        family(b, metric, "counter", in_reasons[k].help);
        for (size_t i = 0; i < pl->n_inputs; i++) {
            struct tl_input *in = pl->inputs[i];
            for (size_t r = k; r < end; r++) {
                const struct in_reason *m = &in_reasons[r];
                uint64_t v = in_stat(in, m->off);
                uint64_t less = m->minus == SIZE_MAX ? 0 : in_stat(in, m->minus);
                char extra[64];
                snprintf(extra, sizeof(extra), "reason=\"%s\"", m->reason);
                in_sample(b, metric, in, extra, v > less ? v - less : 0);
            }
        }
        k = end;
    }
    /* Every reason of every TLS input, zeros included, so that rate() starts from 0. */
    family(b, "tlslogd_input_handshake_failures_total", "counter",
           "Failed TLS handshakes, by reason (docs/tls.md).");
    for (size_t i = 0; i < pl->n_inputs; i++) {
        struct tl_input *in = pl->inputs[i];
        if (!in->has_tls) {
            continue;
        }
        for (size_t r = 0; r < TL_HS_REASONS; r++) {
            char extra[64];
            snprintf(extra, sizeof(extra), "reason=\"%s\"",
                     tl_hs_reason_name((enum tl_hs_reason)r));
            in_sample(b, "tlslogd_input_handshake_failures_total", in, extra,
                      ld(&in->stats.hs_fail[r]));
        }
    }
}

static void render_outputs(struct tl_pipeline *pl, struct expo *b)
{
    static const struct {
        const char *name;
        const char *help;
        size_t off;
    } counters[] = {
        {"tlslogd_output_written_messages_total",
         "Messages written (file, stdout) or handed to the connection (forward).",
         offsetof(struct tl_output_stats, written)},
        {"tlslogd_output_acknowledged_messages_total",
         "Forward: messages the receiver has (TCP acknowledgement or RELP rsp).",
         offsetof(struct tl_output_stats, acked)},
        {"tlslogd_output_resent_messages_total",
         "Forward: messages sent again after a reconnect (possible duplicates).",
         offsetof(struct tl_output_stats, resent)},
        {"tlslogd_output_write_errors_total", "Failed writes (each retried).",
         offsetof(struct tl_output_stats, write_errors)},
    };
    for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
        family(b, counters[k].name, "counter", counters[k].help);
        for (size_t o = 0; o < pl->n_outputs; o++) {
            struct tl_output *out = pl->outputs[o];
            out_sample(b, counters[k].name, out, NULL,
                       ld((atomic_uint_fast64_t *)((char *)&out->stats + counters[k].off)));
        }
    }
    family(b, "tlslogd_output_settled_messages_total", "counter",
           "Messages settled: written (and fsynced with sync), on disk, acknowledged, or dropped "
           "and counted (docs/reliability.md).");
    for (size_t o = 0; o < pl->n_outputs; o++) {
        out_sample(b, "tlslogd_output_settled_messages_total", pl->outputs[o], NULL,
                   ld(&pl->outputs[o]->settled));
    }
    family(b, "tlslogd_output_dropped_messages_total", "counter",
           "Messages lost, by reason: queue_full (queue.full: drop), other (undeliverable at "
           "the end of drain_timeout, or refused).");
    for (size_t o = 0; o < pl->n_outputs; o++) {
        struct tl_output *out = pl->outputs[o];
        uint64_t all = ld(&out->stats.dropped);
        uint64_t full = ld(&out->stats.dropped_full);
        out_sample(b, "tlslogd_output_dropped_messages_total", out, "reason=\"queue_full\"", full);
        out_sample(b, "tlslogd_output_dropped_messages_total", out, "reason=\"other\"",
                   all > full ? all - full : 0);
    }
    family(b, "tlslogd_output_queue_messages", "gauge",
           "Messages waiting in the output's queue, in memory and (forward with queue.dir) on "
           "disk.");
    for (size_t o = 0; o < pl->n_outputs; o++) {
        struct tl_output *out = pl->outputs[o];
        out_sample(b, "tlslogd_output_queue_messages", out, "part=\"memory\"", tl_mq_len(&out->q));
        if (out->conf->queue_dir != NULL) {
            out_sample(b, "tlslogd_output_queue_messages", out, "part=\"disk\"",
                       ld(&out->stats.queued_disk));
        }
    }
    family(b, "tlslogd_output_queue_bytes", "gauge",
           "Bytes of the messages waiting, in memory and on disk.");
    for (size_t o = 0; o < pl->n_outputs; o++) {
        struct tl_output *out = pl->outputs[o];
        pthread_mutex_lock(&out->q.lock);
        size_t bytes = out->q.bytes; /* no accessor in mq.h: read under its lock */
        pthread_mutex_unlock(&out->q.lock);
        out_sample(b, "tlslogd_output_queue_bytes", out, "part=\"memory\"", bytes);
        if (out->conf->queue_dir != NULL) {
            out_sample(b, "tlslogd_output_queue_bytes", out, "part=\"disk\"",
                       ld(&out->stats.queued_disk_bytes));
        }
    }
    family(b, "tlslogd_output_queue_limit_messages", "gauge",
           "queue.memory_messages: at most this many messages in memory.");
    for (size_t o = 0; o < pl->n_outputs; o++) {
        out_sample(b, "tlslogd_output_queue_limit_messages", pl->outputs[o], "part=\"memory\"",
                   pl->outputs[o]->conf->queue_messages);
    }
    family(b, "tlslogd_output_queue_limit_bytes", "gauge",
           "queue.memory_bytes and (with queue.dir) queue.max_bytes.");
    for (size_t o = 0; o < pl->n_outputs; o++) {
        struct tl_output *out = pl->outputs[o];
        out_sample(b, "tlslogd_output_queue_limit_bytes", out, "part=\"memory\"",
                   out->conf->queue_memory_bytes);
        if (out->conf->queue_dir != NULL) {
            out_sample(b, "tlslogd_output_queue_limit_bytes", out, "part=\"disk\"",
                       out->conf->queue_max_bytes);
        }
    }
}

struct cert_ctx {
    struct expo *b;
    const char *kind;
    const char *name;
};

static bool cert_sample(const struct tl_cert_expiry *e, void *arg)
{
    struct cert_ctx *c = arg;
    xprintf(c->b, "tlslogd_tls_certificate_not_after_timestamp_seconds{%s=\"", c->kind);
    put_label(c->b, c->name);
    xprintf(c->b, "\",role=\"%s\",subject=\"", e->role);
    put_label(c->b, e->subject);
    xprintf(c->b, "\"} %lld\n", (long long)e->not_after);
    return !c->b->failed;
}

/* From each TLS slot's current context: after a SIGHUP the new certificates, after a failed
 * reload still the old ones, as connections use them. */
static void render_certs(struct tl_pipeline *pl, struct expo *b)
{
    family(b, "tlslogd_tls_certificate_not_after_timestamp_seconds", "gauge",
           "When each certificate in use expires (its own chain: role certificate; the CAs it "
           "trusts: role ca).");
    for (size_t i = 0; i < pl->n_inputs; i++) {
        struct tl_input *in = pl->inputs[i];
        struct cert_ctx c = {b, "input", in->conf->name};
        if (in->has_tls) {
            tl_tls_slot_each_cert(&in->tls, cert_sample, &c);
        }
    }
    for (size_t o = 0; o < pl->n_outputs; o++) {
        struct tl_output *out = pl->outputs[o];
        struct tl_tls_slot *slot = out->ops->tls_slot ? out->ops->tls_slot(out) : NULL;
        struct cert_ctx c = {b, "output", out->conf->name};
        if (slot != NULL) {
            tl_tls_slot_each_cert(slot, cert_sample, &c);
        }
    }
}

/* /proc/self/stat: utime, stime (ticks), starttime (ticks after boot), vsize, rss (pages). */
static bool proc_stat(unsigned long long f[5])
{
    char buf[1024];
    FILE *fp = fopen("/proc/self/stat", "r");
    if (fp == NULL) {
        return false;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL) {
        return false;
    }
    /* Fields are numbered from 1; p + 2 is field 3 (state). utime is 14, stime 15,
     * starttime 22, vsize 23, rss 24. */
    static const int want[5] = {14, 15, 22, 23, 24};
    const char *q = p + 2;
    int field = 3;
    size_t k = 0;
    while (k < 5 && *q != '\0') {
        char *end = NULL;
        unsigned long long v = strtoull(q, &end, 10);
        if (field == want[k]) {
            f[k++] = v;
        }
        q = strchr(q, ' ');
        if (q == NULL) {
            break;
        }
        q++;
        field++;
    }
    if (k < 5) {
        return false;
    }
    return true;
}

/* When the machine booted, in seconds since the epoch: the clocks' difference rather than
 * /proc/stat's btime, which the unit's ProcSubset=pid hides. */
static double boot_time(void)
{
    struct timespec real;
    struct timespec boot;
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    return (double)(real.tv_sec - boot.tv_sec) + (double)(real.tv_nsec - boot.tv_nsec) / 1e9;
}

static size_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    size_t n = 0;
    if (d == NULL) {
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the directory's own descriptor */
}

static void render_process(struct expo *b)
{
    unsigned long long f[5];
    double tick = (double)sysconf(_SC_CLK_TCK);
    if (proc_stat(f) && tick > 0) {
        family(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
        xprintf(b, "process_cpu_seconds_total %.2f\n", (double)(f[0] + f[1]) / tick);
        family(b, "process_start_time_seconds", "gauge",
               "Start time of the process since the epoch.");
        xprintf(b, "process_start_time_seconds %.2f\n",
                      boot_time() + (double)f[2] / tick);
        family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size.");
        xprintf(b, "process_virtual_memory_bytes %llu\n", f[3]);
        family(b, "process_resident_memory_bytes", "gauge", "Resident memory size.");
        xprintf(b, "process_resident_memory_bytes %llu\n",
                      f[4] * (unsigned long long)sysconf(_SC_PAGESIZE));
    }
    family(b, "process_open_fds", "gauge", "Open file descriptors.");
    xprintf(b, "process_open_fds %zu\n", open_fds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        family(b, "process_max_fds", "gauge", "Limit on open file descriptors.");
        xprintf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
}

static bool render(struct tl_server *srv, struct expo *b)
{
    family(b, "tlslogd_build_info", "gauge", "Version of tlslogd and of OpenSSL; always 1.");
    xputs(b, "tlslogd_build_info{version=\"");
    put_label(b, TL_VERSION);
    xputs(b, "\",openssl=\"");
    put_label(b, OPENSSL_VERSION_TEXT);
    xputs(b, "\"} 1\n");
    /* A reload changes the lists and frees what it took off them: read them under its lock
     * (a scrape takes a few hundred microseconds). */
    pthread_mutex_lock(&srv->list_lock);
    render_inputs(&srv->pl, b);
    render_outputs(&srv->pl, b);
    render_certs(&srv->pl, b);
    pthread_mutex_unlock(&srv->list_lock);
    render_process(b);
    xputc(b, '\0');
    return !b->failed;
}

bool tl_metrics_render(struct tl_server *srv, struct tl_buf *out)
{
    struct expo e = {.buf = *out, .failed = false};
    bool ok = render(srv, &e);
    *out = e.buf;
    if (ok) {
        out->len--; /* the terminator is there, not counted */
    }
    return ok;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, size_t len, bool must_free)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        if (must_free) {
            free(body);
        }
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **con_cls)
{
    struct tl_metrics *m = cls;
    static char not_found[] = "tlslogd: the metrics are at /metrics\n";
    static char not_allowed[] = "tlslogd: only GET and HEAD\n";
    (void)version;
    (void)upload_data;
    (void)upload_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
                     sizeof(not_allowed) - 1, false);
    }
    if (strcmp(url, "/metrics") != 0) {
        return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found, sizeof(not_found) - 1,
                     false);
    }
    struct tl_buf b;
    tl_buf_init(&b, 64u << 20);
    if (!tl_metrics_render(m->srv, &b)) {
        tl_buf_fini(&b);
        return MHD_NO;
    }
    return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", (char *)b.data,
                 b.len, true);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        line[--n] = '\0';
    }
    tl_warn("metrics endpoint: %s", line);
}

/* The listening socket, bound here (not by libmicrohttpd) so that its errors read like the
 * inputs' and port 0 can be read back. */
static int bind_listen(const struct tl_conf_metrics *mc, uint16_t *port, int *family_out,
                       struct tl_err *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%u", mc->port);
    int rc = getaddrinfo(mc->host, service, &hints, &res);
    if (rc != 0) {
        TL_ERR(err, TL_E_CONFIG, NULL, "metrics.listen %s: cannot resolve '%s': %s", mc->listen,
               mc->host ? mc->host : "*", gai_strerror(rc));
        return -1;
    }
    /* Without a host: one IPv6 socket that takes IPv4 too, like the inputs. */
    struct addrinfo *ai = res;
    for (struct addrinfo *a = res; mc->host == NULL && a != NULL; a = a->ai_next) {
        if (a->ai_family == AF_INET6) {
            ai = a;
            break;
        }
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    int zero = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6 && mc->host == NULL) {
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        }
    }
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        TL_ERR_SYS(err, TL_E_IO, e, NULL, "metrics.listen %s: cannot listen: %s%s", mc->listen,
                   strerror(e),
                   e == EADDRINUSE ? "; another program uses that port: choose another one"
                   : e == EACCES   ? "; ports below 1024 need root or CAP_NET_BIND_SERVICE"
                                   : "");
        if (fd >= 0) {
            close(fd);
        }
        freeaddrinfo(res);
        return -1;
    }
    *family_out = ai->ai_family;
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    *port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
}

struct tl_metrics *tl_metrics_start(struct tl_server *srv, struct tl_err *err)
{
    const struct tl_conf_metrics *mc = &srv->conf->metrics;
    struct tl_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "metrics: out of memory");
        return NULL;
    }
    m->srv = srv;
    int fam = AF_INET;
    m->fd = bind_listen(mc, &m->port, &fam, err);
    if (m->fd < 0) {
        free(m);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     (fam == AF_INET6 ? MHD_USE_IPv6 : 0);
    /* The logger first: libmicrohttpd uses it only for the options after it. */
    m->httpd = MHD_start_daemon(flags, 0, NULL, NULL, handle, m, MHD_OPTION_EXTERNAL_LOGGER,
                                mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, m->fd,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (m->httpd == NULL) {
        TL_ERR(err, TL_E_RESOURCE, NULL, "metrics.listen %s: libmicrohttpd could not start its "
               "thread", mc->listen);
        close(m->fd);
        free(m);
        return NULL;
    }
    tl_info("metrics: serving http://%s%s%s:%u/metrics", fam == AF_INET6 && mc->host ? "[" : "",
            mc->host ? mc->host : "*", fam == AF_INET6 && mc->host ? "]" : "", m->port);
    return m;
}

uint16_t tl_metrics_port(const struct tl_metrics *m)
{
    return m->port;
}

void tl_metrics_stop(struct tl_metrics *m)
{
    if (m == NULL) {
        return;
    }
    MHD_stop_daemon(m->httpd); /* closes the listening socket too */
    free(m);
}
