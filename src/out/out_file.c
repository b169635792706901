/*
 * out_file.c: the file and stdout outputs. One thread per output pops batches from the
 * output's queue, formats each message straight into the write buffer of the file its
 * path template names, and writes buffers out when they fill, every flush_interval, on
 * SIGHUP (then closes, so logrotate's renamed files are let go) and at shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/pace.h"
#include "core/peer.h"
#include "daemon/server.h"
#include "parse/format.h"

#define POP_MAX 1024
#define N_BUCKETS 1024

enum ph {
    PH_LITERAL,
    PH_HOSTNAME,
    PH_APP,
    PH_YEAR,
    PH_MONTH,
    PH_DAY,
    PH_HOUR,
    PH_FACILITY,
    PH_SEVERITY,
    PH_INPUT,
    PH_PEER_IP,
    PH_PEER_NAME,
};

static const struct {
    const char *name;
    enum ph ph;
} placeholders[] = {
    {"hostname", PH_HOSTNAME}, {"app", PH_APP},           {"year", PH_YEAR},
    {"month", PH_MONTH},       {"day", PH_DAY},           {"hour", PH_HOUR},
    {"facility", PH_FACILITY}, {"severity", PH_SEVERITY}, {"input", PH_INPUT},
    {"peer_ip", PH_PEER_IP},   {"peer_name", PH_PEER_NAME},
};

struct seg {
    enum ph ph;
    const char *lit;
    size_t lit_len;
};

struct ofile {
    char *path;
    int fd;
    uint64_t hash;
    uint64_t last_use;
    struct tl_buf buf;
    struct ofile *hnext;
};

struct writer {
    struct tl_output *out;
    const struct tl_conf_output *conf;
    const struct tl_conf *gconf;
    struct seg *segs;
    size_t n_segs;
    bool constant;           /* no placeholders: one file */
    bool is_stdout;
    struct ofile *buckets[N_BUCKETS];
    size_t n_open;
    uint64_t use_clock;
    struct ofile *single;    /* constant path or stdout */
    struct tl_buf path;      /* rendering scratch */
    bool dirty;
};

static bool parse_template(struct writer *wr, const char *t)
{
    size_t cap = 8;
    wr->segs = calloc(cap, sizeof(*wr->segs));
    if (!wr->segs) {
        return false;
    }
    const char *p = t;
    while (*p) {
        if (wr->n_segs + 1 >= cap) {
            cap *= 2;
            struct seg *s = realloc(wr->segs, cap * sizeof(*s));
            if (!s) {
                return false;
            }
            wr->segs = s;
        }
        struct seg *s = &wr->segs[wr->n_segs];
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        if (close) {
            size_t n = (size_t)(close - p - 1);
            bool found = false;
            for (size_t i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++) {
                if (strlen(placeholders[i].name) == n &&
                    memcmp(placeholders[i].name, p + 1, n) == 0) {
                    s->ph = placeholders[i].ph;
                    found = true;
                }
            }
            if (found) {
                wr->n_segs++;
                p = close + 1;
                continue;
            }
        }
        /* A literal run up to the next '{'. (The config loader rejects unknown
         * placeholders, so a '{' here is literal text.) */
        const char *next = strchr(p + 1, '{');
        size_t n = next ? (size_t)(next - p) : strlen(p);
        s->ph = PH_LITERAL;
        s->lit = p;
        s->lit_len = n;
        wr->n_segs++;
        p += n;
    }
    wr->constant = true;
    for (size_t i = 0; i < wr->n_segs; i++) {
        if (wr->segs[i].ph != PH_LITERAL) {
            wr->constant = false;
        }
    }
    return true;
}

/* Appends a field value as one safe path component: no '/', no leading '.', no control
 * bytes, never empty. A sender must not be able to choose where we write. */
static void put_component(struct tl_buf *b, const uint8_t *p, size_t n)
{
    if (n == 0) {
        tl_buf_putc(b, '-');
        return;
    }
    if (n > 128) {
        n = 128;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '/' || c < 0x20 || c == 0x7f || (i == 0 && c == '.')) {
            c = '_';
        }
        tl_buf_putc(b, c);
    }
}

static void put_num(struct tl_buf *b, int v, int width)
{
    char tmp[16];
    int n = snprintf(tmp, sizeof(tmp), "%0*d", width, v);
    tl_buf_append(b, tmp, (size_t)n);
}

static const char *render_path(struct writer *wr, const struct tl_msg *m)
{
    struct tl_buf *b = &wr->path;
    tl_buf_reset(b);
    struct tm tm;
    bool have_tm = false;
    for (size_t i = 0; i < wr->n_segs; i++) {
        const struct seg *s = &wr->segs[i];
        switch (s->ph) {
        case PH_LITERAL:
            tl_buf_append(b, s->lit, s->lit_len);
            break;
        case PH_HOSTNAME:
            if (m->hostname.len) {
                put_component(b, tl_msg_at(m, m->hostname), m->hostname.len);
            } else {
                char ip[TL_ADDR_STRLEN];
                size_t n = tl_addr_format(&m->peer, false, ip, sizeof(ip));
                if (m->peer.family == AF_UNIX || m->peer.family == 0) {
                    tl_buf_puts(b, "localhost");
                } else {
                    put_component(b, (const uint8_t *)ip, n);
                }
            }
            break;
        case PH_APP:
            put_component(b, tl_msg_at(m, m->app_name), m->app_name.len);
            break;
        case PH_PEER_IP: {
            char ip[TL_ADDR_STRLEN];
            size_t n = tl_addr_format(&m->peer, false, ip, sizeof(ip));
            put_component(b, (const uint8_t *)ip, n);
            break;
        }
        case PH_PEER_NAME:
            /* The first name of the sender's TLS certificate: who proved to be sending. */
            if (m->peer_id && m->peer_id->name) {
                put_component(b, (const uint8_t *)m->peer_id->name, strlen(m->peer_id->name));
            } else {
                tl_buf_puts(b, "anonymous");
            }
            break;
        case PH_FACILITY:
            tl_buf_puts(b, tl_facility_name(m->facility));
            break;
        case PH_SEVERITY:
            tl_buf_puts(b, tl_severity_name(m->severity));
            break;
        case PH_INPUT:
            tl_buf_puts(b, wr->gconf->inputs[m->input].name);
            break;
        case PH_YEAR:
        case PH_MONTH:
        case PH_DAY:
        case PH_HOUR:
            /* Dates in paths come from the receive time (local), not from the sender's
             * clock: a sender with a wrong clock must not scatter files across years. */
            if (!have_tm) {
                time_t t = (time_t)m->recv_sec;
                localtime_r(&t, &tm);
                have_tm = true;
            }
            if (s->ph == PH_YEAR) {
                put_num(b, tm.tm_year + 1900, 4);
            } else if (s->ph == PH_MONTH) {
                put_num(b, tm.tm_mon + 1, 2);
            } else if (s->ph == PH_DAY) {
                put_num(b, tm.tm_mday, 2);
            } else {
                put_num(b, tm.tm_hour, 2);
            }
            break;
        default:
            break;
        }
    }
    tl_buf_putc(b, '\0');
    return (const char *)b->data;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) {
        h ^= (uint8_t)*s++;
        h *= 1099511628211ull;
    }
    return h;
}

/* "output NAME: cannot ACTION PATH: REASON", rate-limited per output. */
static void warn_rl(struct writer *wr, const char *action, const char *path, const char *reason)
{
    unsigned suppressed = 0;
    if (!tl_ratelimit_ok(&wr->out->rl, 10, &suppressed)) {
        return;
    }
    if (suppressed) {
        tl_error("output %s: %u similar lines suppressed", wr->conf->name, suppressed);
    }
    tl_error("output %s: cannot %s %s: %s", wr->conf->name, action, path, reason);
}

static bool write_all(struct writer *wr, struct ofile *f)
{
    size_t off = 0;
    while (off < f->buf.len) {
        ssize_t n = write(f->fd, f->buf.data + off, f->buf.len - off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            atomic_fetch_add(&wr->out->stats.write_errors, 1);
            warn_rl(wr, "write (data lost) to", f->path, strerror(errno));
            break;
        }
        off += (size_t)n;
    }
    tl_buf_reset(&f->buf);
    return off == f->buf.len;
}

static void flush_file(struct writer *wr, struct ofile *f)
{
    if (f->buf.len) {
        write_all(wr, f);
    }
}

static void sync_file(struct writer *wr, struct ofile *f)
{
    flush_file(wr, f);
    if (!wr->is_stdout && fdatasync(f->fd) < 0) {
        atomic_fetch_add(&wr->out->stats.write_errors, 1);
        warn_rl(wr, "fsync", f->path, strerror(errno));
    }
}

static void close_file(struct writer *wr, struct ofile *f)
{
    flush_file(wr, f);
    if (f->fd >= 0 && !wr->is_stdout) {
        close(f->fd);
    }
    tl_buf_fini(&f->buf);
    free(f->path);
    free(f);
}

/* mkdir -p for the directories of path. */
static bool make_parents(const char *path, unsigned mode)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return false;
    }
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST) {
            return false;
        }
        *p = '/';
    }
    return true;
}

static int open_path(struct writer *wr, const char *path)
{
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY;
    int fd = open(path, flags, wr->conf->file_mode);
    if (fd < 0 && errno == ENOENT) {
        if (!make_parents(path, wr->conf->dir_mode)) {
            warn_rl(wr, "create directories for", path, strerror(errno));
            return -1;
        }
        fd = open(path, flags, wr->conf->file_mode);
    }
    if (fd < 0) {
        warn_rl(wr, "open", path, strerror(errno));
    }
    return fd;
}

static struct ofile *new_ofile(struct writer *wr, const char *path, int fd)
{
    struct ofile *f = calloc(1, sizeof(*f));
    char *p = strdup(path);
    if (!f || !p) {
        free(f);
        free(p);
        return NULL;
    }
    f->path = p;
    f->fd = fd;
    /* The ceiling is far above buffer_size: one message may exceed it. */
    tl_buf_init(&f->buf, 0);
    tl_buf_reserve(&f->buf, wr->conf->buffer_size);
    return f;
}

static void evict_lru(struct writer *wr)
{
    struct ofile **victim = NULL;
    for (size_t b = 0; b < N_BUCKETS; b++) {
        for (struct ofile **pp = &wr->buckets[b]; *pp; pp = &(*pp)->hnext) {
            if (!victim || (*pp)->last_use < (*victim)->last_use) {
                victim = pp;
            }
        }
    }
    if (victim) {
        struct ofile *f = *victim;
        *victim = f->hnext;
        close_file(wr, f);
        wr->n_open--;
    }
}

static struct ofile *get_file(struct writer *wr, const struct tl_msg *m)
{
    if (wr->single) {
        return wr->single;
    }
    if (wr->is_stdout || wr->constant) {
        int fd = wr->is_stdout ? STDOUT_FILENO : open_path(wr, wr->conf->path);
        if (fd < 0) {
            return NULL;
        }
        wr->single = new_ofile(wr, wr->is_stdout ? "<stdout>" : wr->conf->path, fd);
        return wr->single;
    }
    const char *path = render_path(wr, m);
    uint64_t h = hash_str(path);
    struct ofile **bucket = &wr->buckets[h % N_BUCKETS];
    for (struct ofile *f = *bucket; f; f = f->hnext) {
        if (f->hash == h && strcmp(f->path, path) == 0) {
            f->last_use = ++wr->use_clock;
            return f;
        }
    }
    if (wr->n_open >= wr->conf->max_open_files) {
        evict_lru(wr);
    }
    int fd = open_path(wr, path);
    if (fd < 0) {
        return NULL;
    }
    struct ofile *f = new_ofile(wr, path, fd);
    if (!f) {
        close(fd);
        return NULL;
    }
    f->hash = h;
    f->last_use = ++wr->use_clock;
    f->hnext = *bucket;
    *bucket = f;
    wr->n_open++;
    return f;
}

static void for_each_file(struct writer *wr, void (*fn)(struct writer *, struct ofile *))
{
    if (wr->single) {
        fn(wr, wr->single);
    }
    for (size_t b = 0; b < N_BUCKETS; b++) {
        for (struct ofile *f = wr->buckets[b]; f; f = f->hnext) {
            fn(wr, f);
        }
    }
}

static void close_all(struct writer *wr)
{
    if (wr->single) {
        close_file(wr, wr->single);
        wr->single = NULL;
    }
    for (size_t b = 0; b < N_BUCKETS; b++) {
        while (wr->buckets[b]) {
            struct ofile *f = wr->buckets[b];
            wr->buckets[b] = f->hnext;
            close_file(wr, f);
        }
    }
    wr->n_open = 0;
}

static void write_msg(struct writer *wr, const struct tl_msg *m)
{
    struct ofile *f = get_file(wr, m);
    if (!f) {
        atomic_fetch_add_explicit(&wr->out->stats.dropped, 1, memory_order_relaxed);
        return;
    }
    size_t before = f->buf.len;
    if (!tl_format(m, wr->conf->format, true, &f->buf) || !tl_buf_putc(&f->buf, '\n')) {
        f->buf.len = before;
        atomic_fetch_add_explicit(&wr->out->stats.dropped, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&wr->out->stats.written, 1, memory_order_relaxed);
    wr->dirty = true;
    if (f->buf.len >= wr->conf->buffer_size) {
        write_all(wr, f);
    }
}

void *tl_out_file_main(void *arg)
{
    struct tl_output *out = arg;
    struct writer wr = {0};
    wr.out = out;
    wr.conf = out->conf;
    wr.gconf = out->gconf;
    wr.is_stdout = out->conf->type == TL_OUT_STDOUT;
    tl_buf_init(&wr.path, 8192);
    if (!wr.is_stdout && !parse_template(&wr, out->conf->path)) {
        tl_error("output %s: out of memory", out->conf->name);
    }
    struct tl_msg *batch[POP_MAX];
    uint64_t interval = out->conf->flush_interval_ms;
    int64_t next_flush = tl_now_ms() + (int64_t)interval;
    struct tl_pace pace = {.us = TL_PACE_US};
    size_t n = 0;
    for (;;) {
        int64_t timeout = -1;
        if (wr.dirty) {
            timeout = next_flush - tl_now_ms();
            if (timeout < 0) {
                timeout = 0;
            }
        }
        if (n < POP_MAX && timeout != 0) {
            tl_pace_wait(&pace); /* under load, take what arrives in one batch */
        }
        n = tl_mq_pop(&out->q, batch, POP_MAX, timeout);
        tl_pace_mark(&pace, n > 0, tl_now_us());
        if (atomic_exchange(&out->reopen, false)) {
            if (!wr.is_stdout) {
                close_all(&wr);
                tl_info("output %s: files reopened", out->conf->name);
            }
        }
        for (size_t i = 0; i < n; i++) {
            write_msg(&wr, batch[i]);
            tl_msg_unref(batch[i]);
        }
        bool fsync_batch = out->conf->sync == TL_QSYNC_ALWAYS;
        if (n && (fsync_batch || out->ack_after_write)) {
            /* A RELP input acknowledges only what is written (sync: always: and fsynced), so
             * the batch goes out now rather than at the next flush_interval. */
            for_each_file(&wr, fsync_batch ? sync_file : flush_file);
            wr.dirty = false;
            atomic_fetch_add_explicit(&out->synced, n, memory_order_release);
        }
        int64_t now = tl_now_ms();
        if (wr.dirty && (interval == 0 || now >= next_flush)) {
            for_each_file(&wr, flush_file);
            wr.dirty = false;
            next_flush = now + (int64_t)interval;
        } else if (!wr.dirty) {
            next_flush = now + (int64_t)interval;
        }
        if (n == 0 && tl_mq_drained(&out->q)) {
            break;
        }
    }
    close_all(&wr);
    tl_buf_fini(&wr.path);
    free(wr.segs);
    return NULL;
}
